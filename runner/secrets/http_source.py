"""`http: {...}`: a token from a login request (log in once, for every file).

    secrets:
      api_token:
        http:
          url: ${env:API_URL}/auth/login
          method: POST                          # the default
          json: {username: ci-bot, password: "${secret:bot_password}"}   # or form:, headers:
          token: $.access_token                 # JSONPath to the token; or {header: X-Auth-Token}
          expires_in: $.expires_in              # optional: JSONPath or a number of seconds
          timeout: 10                           # seconds for the login request (default 30)
          follow_redirects: false               # the default

- Every option may hold `${secret:...}`, `${env:...}` or a config variable; the login's
  inputs (a password, a client key) come from other secrets.
- Sent once per run and shared by every spec file and every --jobs worker (SecretStore
  makes it single-flight), renewed shortly before `expires_in` runs out, fetched again
  once after an unexpected 401 (refreshable).
- The request goes through `transport.send_once`: the run's deadline, proxies, and
  redirect rules (not followed unless asked; when followed, no secret header or body
  crosses origins). Its TLS is that of where the secret is declared (login_tls.py):
  `defaults.tls` (CA bundle, client certificate) and `defaults.verify` of the declaring
  spec, else the config's (the --env environment's `tls` first); `--insecure` wins.
- Every failure is a SecretError (AUTH, exit 3) naming the secret, the status and the
  server's `error` / `message` / `error_description` (masked, cut short), never the
  body: login endpoints echo what they were sent (HAZARDS 76). Only a non-empty string
  is a token; anything else names the path, never the value (HAZARDS 77).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ..errors import SecretError, TransportError
from ..jsonvalue import json_type
from ..model import SecretDecl
from ..redact import SENSITIVE_KEY
from .base import SecretValue, SourceContext, check_value, clean_text, lifetime_seconds, seconds_option, url_without_query
from .base import json_or_none, redirect_words, resolve_option
from .login_tls import login_tls, tls_failure

__all__ = ["HttpSource", "build", "DEFAULT_TIMEOUT_S", "ERROR_FIELDS", "reads_relative_path"]

DEFAULT_TIMEOUT_S = 30.0
LOGIN_MAX_BODY = 1024 * 1024
# The fields of an error document that say why, in the order they are shown.
ERROR_FIELDS = ("error", "message", "error_description")
_METHODS = ("GET", "POST", "PUT", "PATCH")


@dataclass(slots=True)
class HttpSource:
    decl: SecretDecl
    options: Mapping[str, Any]
    ctx: SourceContext
    refreshable: bool = True

    # ---- description -------------------------------------------------------------
    def _method(self) -> str:
        return str(self.options.get("method") or "POST").upper()

    def describe(self) -> str:
        url = clean_text(url_without_query(str(self.options.get("url", ""))), 120)
        return f"http login {self._method()} {url}"

    def env_name(self) -> str | None:
        return None

    def _fail(self, reason: str, mask: tuple[str, ...] = ()) -> SecretError:
        return SecretError(self.decl.name, self.describe(), clean_text(reason, 1000, mask=mask), self.decl.span)

    # ---- options -------------------------------------------------------------------
    def _render(self, key: str, value: Any) -> Any:
        return resolve_option(self.ctx, key, value, self._fail)

    def _request(self) -> tuple[Any, tuple[str, ...]]:
        """The login request, and the sensitive strings it carries (masked in every message)."""
        from ..transport import PreparedRequest

        method = self._method()
        if method not in _METHODS:
            raise self._fail(f"'method' must be one of {', '.join(_METHODS)}")
        url = self._render("url", self.options.get("url"))
        if not isinstance(url, str) or not url:
            raise self._fail("'url' must be a non-empty string")
        try:
            scheme = urlsplit(url).scheme
        except ValueError as exc:
            raise self._fail(f"'url' is not a valid URL ({exc})") from None
        if scheme not in ("http", "https"):
            raise self._fail("'url' must be an http:// or https:// URL")

        sensitive: list[str] = []
        headers: list[tuple[str, str]] = [("Accept", "application/json")]
        raw_headers = self.options.get("headers") or {}
        if not isinstance(raw_headers, Mapping):
            raise self._fail("'headers' must be a mapping of header names to values")
        secret_headers = set()
        for name, raw in raw_headers.items():
            value = self._render(f"headers.{name}", raw)
            if isinstance(value, (Mapping, list, tuple)) or value is None:
                raise self._fail(f"header '{name}' must be text")
            text = value if isinstance(value, str) else json.dumps(value)
            headers.append((str(name), text))
            if "${secret:" in str(raw) or SENSITIVE_KEY.search(str(name)):
                secret_headers.add(str(name).lower())
                sensitive.append(text)

        data: Any = None
        if "json" in self.options and "form" in self.options:
            raise self._fail("give 'json' or 'form', not both")
        if "json" in self.options:
            payload = self._render("json", self.options["json"])
            sensitive.extend(_sensitive_values(payload))
            try:
                data = json.dumps(payload, ensure_ascii=False, allow_nan=False).encode("utf-8")
            except (TypeError, ValueError) as exc:
                raise self._fail(f"'json' cannot be encoded ({exc})") from None
            headers.append(("Content-Type", "application/json"))
        elif "form" in self.options:
            form = self._render("form", self.options["form"])
            if not isinstance(form, Mapping):
                raise self._fail("'form' must be a mapping of field names to values")
            data = [(str(k), v if isinstance(v, str) else json.dumps(v)) for k, v in form.items()]
            sensitive.extend(_sensitive_values(form))

        follow = self.options.get("follow_redirects") is True
        timeout = seconds_option(self.options.get("timeout"), DEFAULT_TIMEOUT_S)
        tls = login_tls(self.decl, self.ctx, self._fail)  # checked here: before anything is sent
        sensitive.extend(tls.mask)
        prepared = PreparedRequest(
            method=method,
            url=url,
            headers=headers,
            data=data,
            timeout=timeout,
            follow_redirects=follow,
            max_body=LOGIN_MAX_BODY,
            secret_header_names=frozenset(secret_headers),
            **tls.request_options(),
        )
        return prepared, tuple(s for s in sensitive if s)

    # ---- the login -------------------------------------------------------------------
    def fetch(self) -> SecretValue:
        send = self.ctx.send_request
        if send is None:  # a context built without one (a library caller): the same transport
            from ..transport import send_once

            def send(prepared: Any) -> Any:
                return send_once(prepared, environ=self.ctx.environ, stop=self.ctx.stop)

        prepared, mask = self._request()
        where = url_without_query(prepared.url)
        try:
            resp = send(prepared)
        except TransportError as exc:
            said = tls_failure(self.decl, exc) if exc.kind == "tls" else exc.message
            raise self._fail(f"login request to {where} could not complete: {said}", mask) from None
        return self._token(resp, mask)

    def _token(self, resp: Any, mask: tuple[str, ...]) -> SecretValue:
        status = resp.status
        if 300 <= status < 400:
            raise self._fail(
                f"login answered HTTP {status} ({redirect_words(resp.header('Location'))}); "
                "use the final URL, or set follow_redirects: true",
                mask,
            )
        doc = json_or_none(resp.body)
        if not 200 <= status < 300:
            reason = f"login refused (HTTP {status})"
            why = _server_reason(doc)
            if why:
                reason += f": {why}"
            raise self._fail(reason, mask)

        spec = self.options.get("token")
        if isinstance(spec, Mapping) and "header" in spec:
            name = str(spec["header"])
            values = resp.header_all(name)
            if not values or not values[0].strip():
                raise self._fail(f"login answered HTTP {status} without a {clean_text(name, 60)} header", mask)
            token = values[0].strip()
            if token.lower().startswith("bearer "):
                token = token[7:].strip()
        else:
            path = str(spec or "")
            if not path:
                raise self._fail("'token' is required: a JSONPath such as $.access_token, or {header: NAME}")
            if doc is None:
                ctype = clean_text((resp.header("Content-Type") or "none").split(";", 1)[0].strip(), 60)
                raise self._fail(f"login answered HTTP {status} with a body that is not JSON (content-type {ctype})", mask)
            token = self._select_token(path, doc, mask)
        value = check_value(self.decl, self.describe(), token)
        lifetime = self._lifetime(doc, mask)
        expires_at = self.ctx.clock() + lifetime if lifetime is not None else None
        return SecretValue(value, expires_at=expires_at, also_mask=mask + _response_secrets(doc))

    def _select_token(self, path: str, doc: Any, mask: tuple[str, ...]) -> str:
        found = _select(path, doc)
        if isinstance(found, _Problem):
            raise self._fail(f"'token' {found.text}", mask)
        if found is _NOTHING:
            raise self._fail(f"token path {clean_text(path, 80)} selects nothing in the login answer", mask)
        if isinstance(found, _Several):
            raise self._fail(f"token path {clean_text(path, 80)} selects {found.count} values, not one string", mask)
        if not isinstance(found, str):
            raise self._fail(f"token path {clean_text(path, 80)} selects {_a(json_type(found))}, not a string", mask)
        if not found.strip():
            raise self._fail(f"token path {clean_text(path, 80)} selects an empty string", mask)
        return found

    def _lifetime(self, doc: Any, mask: tuple[str, ...]) -> float | None:
        spec = self.options.get("expires_in")
        if spec is None:
            return None
        if isinstance(spec, (int, float)) and not isinstance(spec, bool):
            return lifetime_seconds(spec)
        path = str(spec)
        found = _select(path, doc) if doc is not None else _NOTHING
        if isinstance(found, _Problem):
            raise self._fail(f"'expires_in' {found.text}", mask)
        seconds = lifetime_seconds(found) if not isinstance(found, _Several) and found is not _NOTHING else None
        if seconds is None:
            what = "nothing" if found is _NOTHING else "no positive number of seconds"
            raise self._fail(f"expires_in path {clean_text(path, 80)} selects {what} in the login answer", mask)
        return seconds


class _Several:
    def __init__(self, count: int) -> None:
        self.count = count


class _Problem:
    def __init__(self, text: str) -> None:
        self.text = text


_NOTHING = object()


def _select(path: str, doc: Any) -> Any:
    """The one value at `path`; _NOTHING, _Several or a _Problem otherwise."""
    from ..expectations import CaptureError, Evaluator

    try:  # the nodes themselves: `$..access_token` finding one string is that string
        found = Evaluator().nodes(path, doc)
    except CaptureError as exc:
        return _Problem(str(exc))
    if not found:
        return _NOTHING
    if len(found) > 1:
        return _Several(len(found))
    return found[0]


def _a(type_name: str) -> str:
    return ("an " if type_name[:1] in "aeiou" else "a ") + type_name


def _server_reason(doc: Any) -> str:
    """The server's own words: `error`, `message`, `error_description` (strings only, cut short)."""
    if not isinstance(doc, Mapping):
        return ""
    parts = []
    for key in ERROR_FIELDS:
        value = doc.get(key)
        if isinstance(value, Mapping):  # {"error": {"message": "..."}}
            value = value.get("message")
        if isinstance(value, str) and value.strip():
            text = clean_text(value, 120)
            if text not in parts:
                parts.append(text)
    return "; ".join(parts)


def _sensitive_values(payload: Any, key: str = "") -> list[str]:
    """Strings under keys like `password` or `client_secret` in a login body: masked in messages."""
    out: list[str] = []
    if isinstance(payload, Mapping):
        for k, v in payload.items():
            out.extend(_sensitive_values(v, str(k)))
    elif isinstance(payload, (list, tuple)):
        for v in payload:
            out.extend(_sensitive_values(v, key))
    elif isinstance(payload, str) and key and SENSITIVE_KEY.search(key):
        out.append(payload)
    return out


def _response_secrets(doc: Any) -> tuple[str, ...]:
    """Other credentials a login answer carries (a refresh token, an id token): masked too."""
    if not isinstance(doc, Mapping):
        return ()
    return tuple(
        v for k, v in doc.items() if isinstance(v, str) and len(v) >= 8 and SENSITIVE_KEY.search(str(k))
    )


def build(decl: SecretDecl, ctx: SourceContext) -> HttpSource:
    options = decl.options.get("http") or {}
    if not isinstance(options, Mapping):
        options = {}
    return HttpSource(decl, options, ctx)


def reads_relative_path(decl: SecretDecl) -> bool:
    """A login reads no file: the same login declared in two folders is one source."""
    return False
