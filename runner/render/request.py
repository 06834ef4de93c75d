"""Building one request: spec + config + vars + captures + secrets -> the request sent,
whose URL is the one shown in reports and `--curl`."""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Iterator, Mapping, Sequence
from urllib.parse import quote, urlencode

from .. import model as m
from ..authdiag import SKEW_S, jwt_expired, jwt_expiry
from ..errors import SecretError
from ..redact import SENSITIVE_KEY
from ..template import Scope, TemplateError, as_text, iter_refs, render
from .vars import CONFIG, SEES, SPEC, RequestVars, Shared, Vars, layers_of

if TYPE_CHECKING:
    from ..tlsfiles import ClientCertificates, Material
    from ..redact import Redactor
    from ..secrets.store import SecretStore

__all__ = ["IDEMPOTENT", "RenderError", "Rendered", "RequestPlan", "SpecRenderer", "is_absolute", "refs_of",
           "request_values", "tls_values"]

IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
_ABSOLUTE = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://")
_SPLIT_ORIGIN = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*://[^/?#]*)(.*)", re.S)
# What requests' requote_uri leaves alone; anything else is percent-encoded.
_URL_SAFE = "!#$%&'()*+,/:;=?@[]~"
_NEEDS_QUOTING = re.compile(r"[^A-Za-z0-9\-._~!#$%&'()*+,/:;=?@\[\]]")
_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})


class RenderError(Exception):
    """The request cannot be built (no base_url, an unreadable file, a value that is not text)."""


def is_absolute(url: str) -> bool:
    """`scheme://...`; `/r?to=ftp://x` is relative."""
    return _ABSOLUTE.match(url) is not None


def _text(value: Any) -> str:
    """A rendered value as sent in a URL, query, header or form field (null is empty)."""
    return value if isinstance(value, str) else as_text(value)



def refs_of(values: Sequence[Any]) -> tuple[set[str], set[str]]:
    """(var names, secret names) referenced by `values`; malformed references are ignored here."""
    var_refs: set[str] = set()
    secret_refs: set[str] = set()
    for value in values:
        if (isinstance(value, str) and "${" not in value) or value is None or value == []:
            continue  # nothing to find (the common case)
        try:
            for ref in iter_refs(value):
                if ref.kind == "var":
                    var_refs.add(ref.name)
                elif ref.kind == "secret":
                    secret_refs.add(ref.name)
        except TemplateError:
            pass
    return var_refs, secret_refs


def _wire_url(url: str) -> str:
    """The URL as requests puts it on the wire: characters a URL cannot hold are
    percent-encoded (requote_uri), the scheme and host are left as written."""
    if _NEEDS_QUOTING.search(url) is None and "%" not in url:
        return url
    m_ = _SPLIT_ORIGIN.match(url)
    origin, rest = (m_.group(1), m_.group(2)) if m_ else ("", url)
    safe = _URL_SAFE if _BAD_PERCENT.search(rest) is None else _URL_SAFE.replace("%", "")
    return origin + quote(rest, safe=safe)


def _with_query(url: str, params: list[tuple[str, str]]) -> str:
    """`params` appended to the query `url` already has (before any #fragment), as requests does."""
    if not params:
        return url
    base, hash_, fragment = url.partition("#")
    encoded = urlencode(params)
    if "?" not in base:
        base += "?" + encoded
    elif base.endswith("?"):
        base += encoded
    else:
        base += "&" + encoded
    return base + hash_ + fragment


@dataclass(slots=True)
class RequestPlan:
    """What is constant about one request for the whole run, computed once."""

    req: m.RequestDef
    var_refs: frozenset[str]
    secret_refs: frozenset[str]
    headers: list[tuple[str, Any, bool]]  # (name, value or template, needs render)
    secret_headers: frozenset[str]  # lower-case names dropped on a cross-origin redirect
    auth: m.Auth | None
    timeout: float
    follow: bool
    max_body: int
    verify: bool
    retry: m.Retry | None
    tls: m.TlsClient | None = None


@dataclass(slots=True)
class Rendered:
    """The request to send, and what the report needs to know about its credentials."""

    prepared: Any  # transport.PreparedRequest
    display_url: str  # the URL sent (unmasked: mask before showing)
    auth_decl: m.SecretDecl | None
    auth_secret: str | None
    token: str | None
    scheme: str | None  # "Bearer", "Basic", header name, or None (no credentials)
    basic: tuple[str, str] | None
    body_text: str | None
    used_secrets: list[str]
    # JWT pre-check: the token's `exp` had passed, so a refreshable source was asked for a
    # new one before sending (no wasted 401); or it could not be, and it was sent expired.
    refreshed_before_send: bool = False
    expired_when_sent: bool = False


_UNSEEN: Any = object()


def _first(*values: Any) -> Any:
    for v in values:
        if v is not None:
            return v
    return None


def _dynamic(value: Any) -> bool:
    """A header value that needs rendering (a template, or not text yet)."""
    return not isinstance(value, str) or "$" in value


def _is_credential(name: str, value: Any, auth_header: str | None) -> bool:
    lname = name.lower()
    if lname in _CREDENTIAL_HEADERS or lname == auth_header or SENSITIVE_KEY.search(name):
        return True
    return isinstance(value, str) and "${secret:" in value


def request_values(req: m.RequestDef) -> Iterator[tuple[tuple, Any]]:
    """Every value of a request the renderer or the evaluator renders, with its YAML path
    (relative to the request); keys that are rendered are yielded as `{key: None}`."""
    yield ("url",), req.url
    for k, v in req.query:
        yield ("query",), {k: None}
        yield ("query", k), v
    for k, v in req.headers:
        yield ("headers", k), v
    auth = req.auth
    if isinstance(auth, m.BasicAuth):
        yield ("auth", "basic", "username"), auth.username
    elif isinstance(auth, m.DigestAuth):
        yield ("auth", "digest", "username"), auth.username
    yield from tls_values(req.tls, ("tls",))
    body = req.body
    if isinstance(body, m.JsonBody):
        yield ("json",), body.value
    elif isinstance(body, m.FormBody):
        for k, v in body.fields:
            yield ("form",), {k: None}
            yield ("form", k), v
    elif isinstance(body, m.RawBody):
        yield ("body",), body.text
    elif isinstance(body, m.FilesBody):
        for part in body.files:
            yield ("files", part.field), [part.path, part.content, part.filename]
        for k, v in body.fields:
            yield ("form",), {k: None}
            yield ("form", k), v
    for check in req.expect.headers:
        for p in check.predicates:
            yield _pred_path(("expect", "headers", check.name), check.predicates, p), p.operand
    for check in req.expect.json:
        yield ("expect", "json"), {check.path: None}  # the path itself (a key)
        for p in check.predicates:
            yield _pred_path(("expect", "json", check.path), check.predicates, p), p.operand
    for p in req.expect.body:
        yield _pred_path(("expect", "body"), req.expect.body, p), p.operand
    for cap in req.captures:
        yield ("capture", cap.name), cap.jsonpath or cap.header


def tls_values(tls: m.TlsClient | None, path: tuple) -> Iterator[tuple[tuple, Any]]:
    """The values of a `tls:` block that may hold ${...} (paths, PEM from a secret, passwords)."""
    if tls is None:
        return
    for key in ("cert", "key", "password", "ca"):
        value = getattr(tls, key)
        if value is not None:
            yield path + (key,), value
    if tls.pkcs12 is not None:
        yield path + ("pkcs12", "file"), tls.pkcs12
    if tls.pkcs12_password is not None:
        yield path + ("pkcs12", "password"), tls.pkcs12_password


def _pred_path(path: tuple, preds: tuple[m.Predicate, ...], p: m.Predicate) -> tuple:
    return path if (len(preds) == 1 and p.op == "eq") else path + (p.op,)


class SpecRenderer:
    """Renders the requests of one spec file for one run (captures accumulate in it)."""

    def __init__(self, spec: m.Spec, shared: Shared, *, environ: Mapping[str, str], store: "SecretStore",
                 redactor: "Redactor", insecure: bool = False, timeout: float | None = None,
                 client_certs: "ClientCertificates | None" = None) -> None:
        from ..transport import ALWAYS_SECRET_HEADERS, PreparedRequest, basic_header

        self._prepared_type = PreparedRequest
        self._basic_header = basic_header
        self._always_secret = ALWAYS_SECRET_HEADERS
        self.spec = spec
        self.shared = shared
        self.store = store
        self.redactor = redactor
        self.insecure = insecure
        self.timeout = timeout
        self.decls: dict[str, m.SecretDecl] = {**shared.secrets, **spec.secrets}
        self.environ = environ
        self.vars = Vars(layers_of(spec, shared), environ, self._secret)
        self.captures: dict[str, Any] = {}
        self._request_vars = RequestVars(self.captures, self.vars)
        self.scope = Scope(self._request_vars, environ, self._secret)
        # an included request's own vars are rendered where the include is: spec vars and captures
        outer = Scope(RequestVars(self.captures, self.vars), environ, self._secret)
        self._request_vars.render_local = lambda raw: render(raw, outer)
        self._used: list[str] = []
        self._basic_seen: set[tuple[str, str]] = set()
        self._base: tuple[str | None] | None = None
        self._spec_dir = os.path.dirname(os.path.abspath(spec.path))
        self._plans: dict[int, RequestPlan] = {}
        self._row_plans: dict[int, RequestPlan] = {}  # id(ForEach) -> the plan of its first row
        self._defaults: tuple[dict[str, tuple[str, Any, bool]], frozenset[str], frozenset[str]] | None = None
        self._client_certs = client_certs  # shared by the run (temporary files removed at its end)
        self._expiry: dict[str, float | None] = {}  # token -> its JWT exp (None: not a JWT)

    # -- secrets
    def decl(self, name: str) -> m.SecretDecl:
        decl = self.decls.get(name)
        if decl is None:
            raise SecretError(name, "nowhere", "it is not declared in the spec's or the config's secrets")
        return decl

    def _secret(self, name: str) -> str:
        value = self.store.get(self.decl(name))
        self._used.append(name)
        return value

    # -- values
    def value(self, value: Any) -> Any:
        """A value rendered in the scope of the next request (expectation operands, JSONPaths)."""
        if isinstance(value, str) and "$" not in value:
            return value
        return render(value, self.scope)

    def base_url(self) -> str | None:
        """The spec's base_url, else the environment's or the config's: rendered once."""
        if self._base is None:
            spec_base = self.spec.base_url
            if spec_base is not None:
                value = render(spec_base, Scope(self.vars.view(SEES[SPEC]), self.environ, self._secret))
            elif self.shared.base_url is not None:
                value = render(self.shared.base_url, Scope(self.vars.view(SEES[CONFIG]), self.environ, self._secret))
            else:
                value = None
            self._base = (None if value is None else _text(value),)
        return self._base[0]

    # -- plans
    def _default_headers(self):
        cached = self._defaults
        if cached is None:
            spec_d, conf_d = self.spec.defaults, self.shared.defaults
            headers: dict[str, tuple[str, Any, bool]] = {}
            for name, value in (*conf_d.headers, *spec_d.headers):
                headers[name.lower()] = (name, value, _dynamic(value))
            var_refs, secret_refs = refs_of([v for _, v in (*conf_d.headers, *spec_d.headers)])
            cached = self._defaults = (headers, frozenset(var_refs), frozenset(secret_refs))
        return cached

    def plan(self, req: m.RequestDef) -> RequestPlan:
        plan = self._plans.get(req.index)
        if plan is None:
            if req.row is not None:  # the rows of a for_each are one request: one plan, shared
                shared = self._row_plans.get(id(req.row.of))
                if shared is None:
                    shared = self._row_plans[id(req.row.of)] = self._make_plan(req)
                plan = replace(shared, req=req)
            else:
                plan = self._make_plan(req)
            self._plans[req.index] = plan
        return plan

    def _make_plan(self, req: m.RequestDef) -> RequestPlan:
        spec_d, conf_d = self.spec.defaults, self.shared.defaults
        default_headers, default_vars, default_secrets = self._default_headers()
        auth = req.auth if req.auth is not None else self.spec.auth
        headers = dict(default_headers)
        if isinstance(auth, m.NoAuth):
            spec_auth = self.spec.auth
            auth_header = spec_auth.name.lower() if isinstance(spec_auth, m.HeaderAuth) else None
            headers = {k: h for k, h in headers.items() if not _is_credential(h[0], h[1], auth_header)}
        for name, value in req.headers:
            headers[name.lower()] = (name, value, _dynamic(value))
        values = [v for _, v in request_values(req)]
        var_refs, secret_refs = refs_of(values + [h[1] for h in headers.values()])
        secret_headers = set(self._always_secret)
        for name, value, dynamic in headers.values():
            if dynamic and isinstance(value, str) and "${secret:" in value:
                secret_headers.add(name.lower())
        if isinstance(auth, m.HeaderAuth):
            secret_headers.add(auth.name.lower())
        timeout = _first(req.timeout, self.timeout, spec_d.timeout, conf_d.timeout, m.DEFAULT_TIMEOUT)
        retry = req.retry
        if retry is None:
            inherited = _first(spec_d.retry, conf_d.retry)
            if inherited is not None and req.method.upper() in IDEMPOTENT:
                retry = inherited
        verify = False if self.insecure else bool(_first(spec_d.verify, conf_d.verify, True))
        return RequestPlan(
            req=req,
            var_refs=frozenset(var_refs),
            secret_refs=frozenset(secret_refs),
            headers=list(headers.values()),
            secret_headers=frozenset(secret_headers),
            auth=auth,
            timeout=float(timeout),
            follow=bool(_first(req.follow_redirects, spec_d.follow_redirects, conf_d.follow_redirects, False)),
            max_body=int(_first(req.max_body, spec_d.max_body, conf_d.max_body, m.DEFAULT_MAX_BODY)),
            verify=verify,
            retry=retry,
            tls=_first(req.tls, spec_d.tls, conf_d.tls),
        )

    # -- rendering
    def render(self, plan: RequestPlan) -> Rendered:
        """The request to send. Raises SecretError, TemplateError or RenderError."""
        try:
            return self._render(plan)
        except UnicodeEncodeError as exc:  # a captured JSON string with a lone surrogate ("\udc00")
            char = f"U+{ord(exc.object[exc.start]):04X}" if isinstance(exc.object, str) else "a character"
            raise RenderError(f"a value is not valid Unicode text ({char} cannot be encoded)") from None

    def enter(self, req: m.RequestDef) -> None:
        """Values rendered from now on (the request, then its expectations) see this
        request's row (`for_each`) and fragment vars (`include`)."""
        rv = self._request_vars
        rv.row = req.row
        rv.local = req.included.vars if req.included is not None else {}

    def _render(self, plan: RequestPlan) -> Rendered:
        req = plan.req
        self.enter(req)
        self._used = []
        val = self.value
        url = _text(val(req.url))
        if not is_absolute(url):
            base = self.base_url()
            if not base:
                raise RenderError(f"relative URL {url[:80]!r} and no base_url (spec, config or environment)")
            url = base.rstrip("/") + "/" + url.lstrip("/")
        params: list[tuple[str, str]] = []
        for name, value in req.query:
            name = _text(val(name))
            value = val(value)
            if isinstance(value, (list, tuple)):
                params.extend((name, _text(v)) for v in value)
            else:
                params.append((name, _text(value)))
        url = _wire_url(_with_query(url, params))
        headers: list[tuple[str, str]] = [
            (name, _text(val(value)) if dynamic else value) for name, value, dynamic in plan.headers
        ]

        # auth
        auth = plan.auth
        decl = token = scheme = None
        basic = digest = None
        auth_secret = None
        fresh: tuple[bool, bool] = (False, False)
        if isinstance(auth, m.BearerAuth):
            auth_secret = auth.secret
            decl = self.decl(auth.secret)
            token, fresh = self._unexpired(decl)
            scheme = "Bearer"
            headers = [h for h in headers if h[0].lower() != "authorization"]
            headers.append(("Authorization", "Bearer " + token))
        elif isinstance(auth, m.HeaderAuth):
            auth_secret = auth.secret
            decl = self.decl(auth.secret)
            token, fresh = self._unexpired(decl)
            scheme = auth.name
            headers = [h for h in headers if h[0].lower() != auth.name.lower()]
            headers.append((auth.name, token))
        elif isinstance(auth, m.BasicAuth):
            auth_secret = auth.password_secret
            decl = self.decl(auth.password_secret)
            token = self.store.get(decl)
            user = _text(val(auth.username))
            if (user, token) not in self._basic_seen:
                self.redactor.add_basic(user, token)
                self._basic_seen.add((user, token))
            scheme = "Basic"
            basic = (user, token)
            try:
                value = self._basic_header(user, token)
            except UnicodeEncodeError:
                raise RenderError("basic auth: the username is not latin-1 text") from None
            headers = [h for h in headers if h[0].lower() != "authorization"]
            headers.append(("Authorization", value))
        elif isinstance(auth, m.DigestAuth):
            auth_secret = auth.password_secret
            decl = self.decl(auth.password_secret)
            token = self.store.get(decl)
            user = _text(val(auth.username))
            scheme = "Digest"
            digest = (user, token)
            headers = [h for h in headers if h[0].lower() != "authorization"]

        material = self._tls(plan.tls) if plan.tls is not None else None
        data, files, body_text = self._body(req.body, headers)
        prepared = self._prepared_type(
            method=req.method.upper(),
            url=url,
            headers=headers,
            data=data,
            files=files,
            timeout=plan.timeout,
            follow_redirects=plan.follow,
            verify=plan.verify,
            max_body=plan.max_body,
            secret_header_names=plan.secret_headers,
            cert=material.cert if material is not None else None,
            ca_file=material.ca_file if material is not None else None,
            digest=digest,
        )
        return Rendered(prepared, url, decl, auth_secret, token, scheme, basic, body_text, self._used, *fresh)

    def _unexpired(self, decl: m.SecretDecl) -> tuple[str, tuple[bool, bool]]:
        """The token, refreshed first when it is a JWT whose `exp` has passed (60 s leeway)
        and its source can give a new one. (token, (refreshed_before_send, expired_when_sent))."""
        token = self.store.get(decl)
        exp = self._expiry.get(token, _UNSEEN)
        if exp is _UNSEEN:
            exp = self._expiry[token] = jwt_expiry(token)  # decoded once per token, not per request
        if exp is None or time.time() < exp - SKEW_S:
            return token, (False, False)
        # "expired when sent" is said only of an exp that has really passed (no leeway)
        if not self.store.refreshable(decl):
            return token, (False, time.time() >= exp)
        token = self.store.refresh(decl, token)  # single-flight; never more than once per value
        return token, (True, jwt_expired(token, time.time(), leeway=0.0))

    def _tls(self, tls: m.TlsClient) -> "Material":
        """The client certificate and CA files for a `tls:` block, checked before sending.
        A problem is a SecretError (AUTH, exit 3): the credential cannot be used."""
        from ..tlsfiles import ClientCertificates, TlsMaterialError, is_pem

        if self._client_certs is None:
            self._client_certs = ClientCertificates()  # a library caller without a run: removed at exit
        values: dict[str, str | None] = {}
        secret_of: dict[str, str] = {}
        for key in ("cert", "key", "password", "ca", "pkcs12", "pkcs12_password"):
            raw = getattr(tls, key)
            if raw is None:
                values[key] = None
                continue
            if "${secret:" in raw:
                secret_of[key] = raw[raw.index("${secret:") + 9:].split("}", 1)[0]
            value = _text(self.value(raw)) if "$" in raw else raw
            if key in ("cert", "key", "ca", "pkcs12") and not is_pem(value):
                value = os.path.join(tls.base_dir, os.path.expanduser(value))
            elif key == "key" and is_pem(value):
                for line in value.splitlines():  # a key's lines, should one ever be quoted alone
                    if len(line) >= 16 and not line.startswith("-----"):
                        self.redactor.add(line)
            values[key] = value
        try:
            return self._client_certs.prepare(**values)
        except TlsMaterialError as exc:
            what = exc.what.replace("tls.pkcs12_password", "tls.pkcs12.password")
            secret = secret_of.get(what.split(".", 1)[-1], what)
            where = tls.pkcs12 or tls.cert or "a secret"
            source = "client certificate " + (where if "${secret:" not in where else "from a secret")
            raise SecretError(secret, source, exc.message, tls.span) from None

    def _body(self, body: m.Body | None, headers: list[tuple[str, str]]):
        val = self.value
        data: Any = None
        files = None
        body_text: str | None = None
        if body is None:
            return data, files, body_text
        lower = {h[0].lower() for h in headers}
        if isinstance(body, m.JsonBody):
            value = val(body.value) if body.value is not None else None
            try:
                body_text = json.dumps(value, ensure_ascii=False, allow_nan=False)
            except (TypeError, ValueError) as exc:
                raise RenderError(f"json body cannot be encoded ({exc})") from None
            data = body_text.encode("utf-8")
            if "content-type" not in lower:
                headers.append(("Content-Type", "application/json"))
        elif isinstance(body, m.FormBody):
            data = [(_text(val(k)), _text(val(v))) for k, v in body.fields]
            body_text = urlencode(data)
        elif isinstance(body, m.RawBody):
            body_text = _text(val(body.text))
            data = body_text.encode("utf-8")
            if body.content_type and "content-type" not in lower:
                headers.append(("Content-Type", body.content_type))
        elif isinstance(body, m.FilesBody):
            data = [(_text(val(k)), _text(val(v))) for k, v in body.fields] or None
            files = []
            shown = []
            for part in body.files:
                if part.path is not None:
                    path = self._file_path(part.path)
                    try:
                        with open(path, "rb") as fh:
                            content = fh.read()
                    except (OSError, ValueError) as exc:
                        reason = getattr(exc, "strerror", None) or "cannot be read"
                        raise RenderError(f"file {path}: {reason}") from None
                    filename = _text(val(part.filename)) if part.filename else os.path.basename(path)
                else:
                    content = _text(val(part.content)).encode("utf-8")
                    filename = _text(val(part.filename)) if part.filename else part.field
                files.append((part.field, (filename, content, part.content_type)))
                shown.append(f"{part.field}={filename} ({len(content)} bytes)")
            body_text = "multipart: " + ", ".join(shown)
        return data, files, body_text

    def _file_path(self, path: str) -> str:
        """A `files:` path: the loader made literal paths absolute; a templated one is
        rendered now and, when relative, read from the spec's folder."""
        if "$" not in path:
            return path
        rendered = os.path.expanduser(_text(self.value(path)))
        return os.path.normpath(os.path.join(self._spec_dir, rendered))
