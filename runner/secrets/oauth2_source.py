"""`oauth2: {...}`: an access token from a token endpoint (RFC 6749): the client
credentials (4.4), resource owner password (4.3) or refresh token (6) grant.

    secrets:
      api_token:
        oauth2:
          token_url: https://auth.example.com/oauth/token
          grant: client_credentials               # default; or password, refresh_token
          client_id: ${env:CLIENT_ID}
          client_secret: ${env:CLIENT_SECRET}     # or ${secret:NAME}; optional for public clients
          username: ci-bot                        # grant: password
          password: ${secret:bot_password}        # grant: password
          refresh_token: ${secret:refresh}        # grant: refresh_token
          scope: "pets:read pets:write"           # or a list, joined with spaces
          audience: https://api.example.com       # sent as a form parameter
          extra: {resource: https://api.example.com}
          auth_method: client_secret_basic        # default (or basic); client_secret_post (or post)
          timeout: 10                             # seconds for one token request (default 30)

- A refresh token in an answer replaces the one used before (servers rotate them): the
  next renewal in the run uses it, and it is masked like the token. With the password
  grant, a renewal tries the refresh token first and logs in again if it is refused.
- The request is `application/x-www-form-urlencoded` with grant_type=client_credentials,
  `scope`, `audience` and each `extra` entry. Every option value may be a `${...}`
  reference; `client_secret` should be one (`${env:...}` or `${secret:...}`).
- Client authentication is HTTP Basic by default (RFC 6749 2.3.1: client_id and
  client_secret are form-urlencoded, then base64-encoded); `client_secret_post` puts them
  in the body instead, for servers that want that.
- The token is cached by SecretStore until shortly before `expires_in` runs out
  (60 s before, or half the lifetime for short-lived tokens); without `expires_in` it is
  kept for the run and renewed only after a 401. Refreshable.
- 429/503 are retried at most twice, waiting `Retry-After` (at most 10 s; a longer
  wait is an error). Redirects are never followed.
- TLS: that of where the secret is declared (login_tls.py): the declaring spec's
  `defaults.tls` / `defaults.verify`, else the config's (the --env environment's `tls`
  first); a CA bundle and a client certificate (mTLS) apply to the token request too.
- Errors show the HTTP status and the RFC 6749 5.2 `error` / `error_description`
  (client secret, password and refresh tokens masked, at most 200 characters), never
  the response body.
"""

from __future__ import annotations

import base64
import email.utils
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import quote_plus, urlsplit

from ..errors import SecretError, TransportError
from ..model import SecretDecl
from ..template import TemplateError
from .base import SecretValue, SourceContext, check_value, clean_text, lifetime_seconds, seconds_option, url_without_query
from .base import json_or_none, redirect_words, resolve_option
from .login_tls import LoginTls, login_tls, tls_failure

__all__ = ["OAuth2Source", "build", "DEFAULT_TIMEOUT_S", "MAX_RETRIES", "MAX_RETRY_AFTER_S", "reads_relative_path"]

DEFAULT_TIMEOUT_S = 30.0
MAX_RETRIES = 2  # extra attempts after a 429/503
MAX_RETRY_AFTER_S = 10.0  # a longer Retry-After is an error, not a wait
DEFAULT_RETRY_WAIT_S = 1.0  # 429/503 without Retry-After
AUTH_METHODS = ("client_secret_basic", "client_secret_post")
# 0.1's names, and the short forms DESIGN.md writes (`basic`, `post`).
AUTH_METHOD_NAMES = {
    "client_secret_basic": "client_secret_basic",
    "client_secret_post": "client_secret_post",
    "basic": "client_secret_basic",
    "post": "client_secret_post",
}
GRANTS = ("client_credentials", "password", "refresh_token")
_RESERVED = {"grant_type", "client_id", "client_secret", "username", "password", "refresh_token"}


def _retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdecimal():  # not isdigit: '²' is a digit that float() refuses
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - now)


@dataclass(slots=True)
class OAuth2Source:
    decl: SecretDecl
    options: Mapping[str, Any]
    ctx: SourceContext
    refreshable: bool = True
    sleep: Callable[[float], None] = time.sleep
    # The newest refresh token the server issued (it may rotate it on every use): the next
    # renewal uses it. Only touched under SecretStore's per-source lock.
    rotated_refresh: str | None = field(default=None, repr=False)

    # ---- description -------------------------------------------------------------
    def _client_id_text(self) -> str:
        return str(self.options.get("client_id", ""))

    def describe(self) -> str:
        url = url_without_query(str(self.options.get("token_url", "")))
        return f"oauth2 {clean_text(self.grant(), 40)} at {url} (client {clean_text(self._client_id_text(), 80)})"

    def env_name(self) -> str | None:
        return None

    def _fail(self, reason: str, mask: tuple[str, ...] = ()) -> SecretError:
        if mask:
            reason = clean_text(reason, 1000, mask=mask)
        return SecretError(self.decl.name, self.describe(), reason, self.decl.span)

    # ---- option rendering ---------------------------------------------------------
    def _render(self, key: str, value: Any) -> Any:
        return resolve_option(self.ctx, key, value, self._fail)

    def _text_option(self, key: str, required: bool = False) -> str | None:
        raw = self.options.get(key)
        if raw is None or raw == "":
            if required:
                raise self._fail(f"'{key}' is required")
            return None
        value = self._render(key, raw)
        if isinstance(value, (list, tuple)) and key == "scope":
            value = " ".join(str(v) for v in value)
        if value is None or isinstance(value, (Mapping, list, tuple)):
            raise self._fail(f"'{key}' must be text")
        text = value if isinstance(value, str) else str(value)
        if text == "" and required:
            raise self._fail(f"'{key}' is empty")
        return text

    # ---- the request --------------------------------------------------------------
    def grant(self) -> str:
        return str(self.options.get("grant") or "client_credentials")

    def _auth_method(self) -> str:
        raw = str(self.options.get("auth_method") or "client_secret_basic")
        method = AUTH_METHOD_NAMES.get(raw)
        if method is None:
            names = ", ".join(AUTH_METHOD_NAMES)
            raise self._fail(f"'auth_method' must be one of {names}, not {clean_text(raw, 40)!r}")
        return method

    def fetch(self) -> SecretValue:
        if self.ctx.post_form is None:
            raise self._fail("no HTTP transport is configured for token requests (internal error)")
        for key in ("client_secret", "password", "refresh_token"):
            if self.decl.name in _secret_refs(self.options.get(key)):
                raise self._fail(f"'{key}' refers to this same secret")
        grant = self.grant()
        if grant not in GRANTS:
            raise self._fail(f"'grant' must be one of {', '.join(GRANTS)}, not {clean_text(grant, 40)!r}")
        url = self._text_option("token_url", required=True) or ""
        try:
            scheme = urlsplit(url).scheme
        except ValueError as exc:  # "Invalid IPv6 URL"
            raise self._fail(f"'token_url' is not a valid URL ({exc})") from None
        if scheme not in ("http", "https"):
            raise self._fail("'token_url' must be an http:// or https:// URL")
        client_id = self._text_option("client_id", required=True) or ""
        client_secret = self._text_option("client_secret") or ""
        method = self._auth_method()
        fields, auth, mask = self._client_fields(client_id, client_secret, method)
        for key in ("scope", "audience"):
            value = self._text_option(key)
            if value:
                fields[key] = value
        fields.update(self._extra())
        tls = login_tls(self.decl, self.ctx, self._fail)  # checked here: before anything is sent
        mask += tls.mask

        if grant == "password" and self.rotated_refresh:
            # A refresh token from the last login: renew with it, log in again if it is refused.
            refreshed = self._post(url, {**fields, "grant_type": "refresh_token", "refresh_token": self.rotated_refresh},
                                   auth, mask + (self.rotated_refresh,), tls)
            if 200 <= refreshed[0].status < 300:
                return self._token(*refreshed, method, client_secret, mask + (self.rotated_refresh,))
            self.rotated_refresh = None
        if grant == "password":
            password = self._text_option("password", required=True) or ""
            fields.update(grant_type="password", username=self._text_option("username", required=True) or "",
                          password=password)
            mask += (password,)
        elif grant == "refresh_token":
            current = self.rotated_refresh or self._text_option("refresh_token", required=True) or ""
            fields.update(grant_type="refresh_token", refresh_token=current)
            mask += (current,)
        else:
            fields["grant_type"] = "client_credentials"
        resp, attempt = self._post(url, fields, auth, mask, tls)
        return self._token(resp, attempt, method, client_secret, mask)

    def _client_fields(self, client_id: str, client_secret: str, method: str):
        """The form fields and Basic credentials that authenticate the client, and what to mask."""
        fields: dict[str, str] = {}
        if not client_secret:
            fields["client_id"] = client_id  # a public client: identify it in the body
            return fields, None, ()
        if method == "client_secret_basic":
            # RFC 6749 2.3.1: form-urlencode each part, then Basic (base64 of "id:secret").
            auth = (quote_plus(client_id), quote_plus(client_secret))
            basic = base64.b64encode(f"{auth[0]}:{auth[1]}".encode("utf-8")).decode("ascii")
            return fields, auth, (client_secret, auth[1], basic)
        fields["client_id"] = client_id
        fields["client_secret"] = client_secret
        return fields, None, (client_secret,)

    def _extra(self) -> dict[str, str]:
        extra = self.options.get("extra") or {}
        if not isinstance(extra, Mapping):
            raise self._fail("'extra' must be a mapping of form parameter names to values")
        fields: dict[str, str] = {}
        for key, raw in extra.items():
            if str(key) in _RESERVED:
                raise self._fail(f"'extra' may not set {key}; use the option of that name")
            value = self._render(f"extra.{key}", raw)
            if isinstance(value, str):
                fields[str(key)] = value
            elif isinstance(value, (bool, Mapping, list, tuple)) or value is None:
                fields[str(key)] = json.dumps(value)  # true / false / null, as YAML wrote them
            else:
                fields[str(key)] = str(value)
        return fields

    def _post(self, url: str, fields: dict[str, str], auth, mask: tuple[str, ...], tls: LoginTls) -> tuple[Any, int]:
        """POST the form; 429/503 retried at most MAX_RETRIES times. (response, retries used)."""
        timeout = seconds_option(self.options.get("timeout"), DEFAULT_TIMEOUT_S)
        attempt = 0
        while True:
            try:
                resp = self.ctx.post_form(url, fields, timeout=timeout, auth=auth, **tls.request_options())
            except TransportError as exc:
                said = tls_failure(self.decl, exc) if exc.kind == "tls" else exc.message
                raise self._fail(f"token endpoint {url_without_query(url)} could not be reached: {said}",
                                 mask) from None
            if resp.status in (429, 503) and attempt < MAX_RETRIES:
                wait = _retry_after(resp.header("Retry-After"), time.time())
                if wait is None:
                    wait = DEFAULT_RETRY_WAIT_S
                if wait <= MAX_RETRY_AFTER_S:
                    attempt += 1
                    stop = self.ctx.stop
                    if stop is not None and hasattr(stop, "wait"):
                        if stop.wait(wait):
                            raise self._fail("interrupted while waiting to retry the token request")
                    else:
                        self.sleep(wait)
                    continue
            return resp, attempt

    def _token(self, resp: Any, retries: int, method: str, client_secret: str, mask: tuple[str, ...]) -> SecretValue:
        status = resp.status
        ctype = (resp.header("Content-Type") or "").split(";", 1)[0].strip().lower() or "none"
        ctype = clean_text(ctype, 60)
        if 300 <= status < 400:
            raise self._fail(
                f"token endpoint answered HTTP {status} ({redirect_words(resp.header('Location'))}); "
                "token requests never follow redirects: use the final URL as token_url",
                mask,
            )
        doc = json_or_none(resp.body)
        if not 200 <= status < 300:
            reason = f"token endpoint refused the request (HTTP {status})"
            if isinstance(doc, Mapping) and isinstance(doc.get("error"), str):
                reason += f": {clean_text(doc['error'], 60, mask=mask)}"
                desc = doc.get("error_description")
                if isinstance(desc, str) and desc.strip():
                    reason += f" ({clean_text(desc, 200, mask=mask)})"
                if doc["error"] == "invalid_client" and client_secret:
                    how = "HTTP Basic" if method == "client_secret_basic" else "client_secret_post"
                    other = "client_secret_post" if method == "client_secret_basic" else "client_secret_basic"
                    reason += f"; check client_id and client_secret (sent with {how}; try auth_method: {other} if the server expects that)"
            else:
                reason += f", content-type {ctype}"
            if status in (429, 503):
                after = clean_text(resp.header("Retry-After") or "", 40)
                reason += f"; gave up after {retries + 1} attempts" + (f" (Retry-After: {after})" if after else "")
            raise self._fail(reason, mask)
        if doc is None:
            raise self._fail(f"token endpoint returned non-JSON (content-type {ctype}, HTTP {status})", mask)
        if not isinstance(doc, Mapping):
            raise self._fail(f"token endpoint returned JSON that is not an object (HTTP {status})", mask)
        token = doc.get("access_token")
        if token is None or token == "":
            keys = ", ".join(sorted(clean_text(str(k), 40) for k in doc)[:20]) or "none"
            raise self._fail(f"token endpoint response has no access_token (fields present: {keys})", mask)
        if not isinstance(token, str):
            raise self._fail(f"token endpoint's access_token is a {type(token).__name__}, not a string", mask)
        token_type = doc.get("token_type")
        if token_type is not None and (not isinstance(token_type, str) or token_type.lower() != "bearer"):
            shown = clean_text(str(token_type), 40, mask=(token,) + mask)
            raise self._fail(f"token endpoint issued a {shown!r} token; only Bearer tokens are supported")
        value = check_value(self.decl, self.describe(), token)
        lifetime = lifetime_seconds(doc.get("expires_in"))
        expires_at = self.ctx.clock() + lifetime if lifetime is not None else None
        issued = doc.get("refresh_token")
        if isinstance(issued, str) and issued.strip():
            self.rotated_refresh = issued  # a rotated refresh token replaces the old one
            mask += (issued,)
        return SecretValue(value, expires_at=expires_at, also_mask=tuple(m for m in mask if m))


def _secret_refs(value: Any) -> list[str]:
    from ..template import iter_refs

    try:
        return [r.name for r in iter_refs(value) if r.kind == "secret"]
    except TemplateError:
        return []


def reads_relative_path(decl: SecretDecl) -> bool:
    """A token endpoint and client are the same from every folder: see base.source_identity."""
    return False


def build(decl: SecretDecl, ctx: SourceContext) -> OAuth2Source:
    options = decl.options.get("oauth2") or {}
    if not isinstance(options, Mapping):
        options = {}
    return OAuth2Source(decl, options, ctx)
