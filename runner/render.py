"""One renderer: spec + config + vars + captures + secrets -> the request that is sent.

    Shared.from_config(config, environment, cli_vars, secrets)   what a run adds to every file
    SpecRenderer(spec, shared, environ=, store=, redactor=)      one per spec file and run
        .plan(req) -> RequestPlan        what is constant about a request: computed once
        .render(plan) -> Rendered        the request to send; its URL is the one shown
        .value(v)                        an expectation operand, in the same scope
    check_config(shared, environ=) / check_spec(spec, shared, environ=) -> [Diagnostic]
                                         the same rules, statically (`runner validate`, and
                                         `runner run` before anything is sent)

Rules (the static check and the renderer share them):

- Variables come in layers: the config's `vars`, the environment's, the spec's, then
  `--var`; a higher layer wins, and captures of earlier requests win over all of them.
  A var is rendered on first use, in the scope of its layer: a spec var sees every
  layer (so `path: "/x?who=${user}"` sees `--var user=bob`), a config var sees the
  config's layers and `--var`. A var naming itself reads the layer below (`user:
  "${user}-x"` extends the config's `user`). `--var` values are literal.
- `base_url` (the spec's, else the environment's, else the config's) and the
  config's vars are rendered like spec vars; `defaults.headers` (config and spec)
  are rendered with each request, like its own headers. Query and form keys and
  `files:` paths are rendered too (a relative path is read from the spec's folder).
- A URL is absolute when it starts with `scheme://`; any other is joined to base_url.
  `query:` is appended to the query the URL already has, and the result is
  percent-encoded as requests sends it: the URL shown is the URL sent.
- `auth: none` sends no credential: the Authorization and Cookie headers, the spec's
  `header:` auth header and any header holding `${secret:...}` or named like a
  credential are dropped from the defaults (a request's own headers are kept).
- A captured or var `null` is an empty string inside text; alone it stays null.
- Statically: a name no layer or earlier capture defines, an undeclared secret, a
  malformed reference and a cycle between vars are errors; an unset `${env:NAME}`
  without a default is an error for `runner run` (nothing is sent) and a warning
  for `runner validate` (it reads no environment it is not given).
"""

from __future__ import annotations

import difflib
import json
import os
import re
import threading
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping, Sequence
from urllib.parse import quote, urlencode

from . import model as m
from ._build import LoadedConfig, LoadedSpec
from .authdiag import SKEW_S, jwt_expired, jwt_expiry
from .errors import SecretError
from .redact import SENSITIVE_KEY
from .source import Diagnostic, Span
from .template import Ref, Scope, TemplateError, as_text, iter_refs, render

if TYPE_CHECKING:
    from .tlsfiles import ClientCertificates, Material
    from ._yaml import SourceMap
    from .redact import Redactor
    from .secrets.store import SecretStore

__all__ = [
    "RenderError",
    "Rendered",
    "RequestPlan",
    "Shared",
    "SpecRenderer",
    "VarLayer",
    "check_config",
    "check_spec",
    "is_absolute",
    "refs_of",
    "IDEMPOTENT",
]

IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
_ABSOLUTE = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://")
_SPLIT_ORIGIN = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*://[^/?#]*)(.*)", re.S)
# What requests' requote_uri leaves alone; anything else is percent-encoded.
_URL_SAFE = "!#$%&'()*+,/:;=?@[]~"
_NEEDS_QUOTING = re.compile(r"[^A-Za-z0-9\-._~!#$%&'()*+,/:;=?@\[\]]")
_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})
_CONFIG, _SPEC, _CLI = "config", "spec", "cli"
_SEES = {_CONFIG: frozenset({_CONFIG, _CLI}), _SPEC: frozenset({_CONFIG, _SPEC, _CLI})}


class RenderError(Exception):
    """The request cannot be built (no base_url, an unreadable file, a value that is not text)."""


def is_absolute(url: str) -> bool:
    """`scheme://...`; `/r?to=ftp://x` is relative."""
    return _ABSOLUTE.match(url) is not None


def _text(value: Any) -> str:
    """A rendered value as sent in a URL, query, header or form field (null is empty)."""
    return value if isinstance(value, str) else as_text(value)


def _has_ref(value: Any) -> bool:
    if isinstance(value, str):
        return "$" in value
    return value is not None and not isinstance(value, (bool, int, float))


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


# --------------------------------------------------------------------------- inputs


@dataclass(frozen=True, slots=True)
class VarLayer:
    """One `vars:` mapping and where it was written (for positions in messages)."""

    origin: str  # "config", "environment NAME", "spec", "--var"
    level: str  # config, spec or cli: which layers its values see
    values: Mapping[str, Any]
    path: tuple = ()  # the mapping's place in its file
    source_map: "SourceMap | None" = None
    file: str | None = None

    def span(self, name: str | None = None) -> Span | None:
        if self.source_map is not None:
            return self.source_map.value_span(self.path + ((name,) if name is not None else ()))
        return Span.point(self.file) if self.file else None


@dataclass(frozen=True, slots=True)
class Shared:
    """What the config file, `--env` and `--var` add to every spec file of a run."""

    var_layers: tuple[VarLayer, ...] = ()  # the config's vars, then the environment's
    cli_vars: Mapping[str, Any] = field(default_factory=dict)
    base_url: str | None = None  # the environment's, else the config's (rendered at config level)
    base_url_path: tuple = ("base_url",)
    defaults: m.Defaults = field(default_factory=m.Defaults)
    secrets: Mapping[str, m.SecretDecl] = field(default_factory=dict)
    source_map: "SourceMap | None" = None  # the config file's
    config_path: str | None = None

    @classmethod
    def from_config(cls, config: m.Config | None, environment: m.Environment | None,
                    cli_vars: Mapping[str, Any], secrets: Mapping[str, m.SecretDecl]) -> "Shared":
        config = config or m.Config()
        smap = config.source_map if isinstance(config, LoadedConfig) else None
        layers = []
        if config.vars:
            layers.append(VarLayer("config", _CONFIG, config.vars, ("vars",), smap, config.path))
        if environment is not None and environment.vars:
            layers.append(VarLayer(f"environment {environment.name}", _CONFIG, environment.vars,
                                   ("environments", environment.name, "vars"), smap, config.path))
        if environment is not None and environment.base_url:
            base, base_path = environment.base_url, ("environments", environment.name, "base_url")
        else:
            base, base_path = config.base_url, ("base_url",)
        defaults = config.defaults
        if environment is not None and environment.tls is not None:
            defaults = replace(defaults, tls=environment.tls)  # the environment's client certificate
        return cls(tuple(layers), dict(cli_vars), base, base_path, defaults, dict(secrets), smap, config.path)

    @classmethod
    def plain(cls, *, config_vars: Mapping[str, Any] | None = None, cli_vars: Mapping[str, Any] | None = None,
              base_url: str | None = None, defaults: m.Defaults | None = None,
              secrets: Mapping[str, m.SecretDecl] | None = None) -> "Shared":
        """Without a config file's positions (the library and the engine's tests)."""
        layers = (VarLayer("config", _CONFIG, dict(config_vars)),) if config_vars else ()
        return cls(layers, dict(cli_vars or {}), base_url, ("base_url",), defaults or m.Defaults(), dict(secrets or {}))

    def span(self, path: tuple) -> Span | None:
        if self.source_map is not None:
            return self.source_map.value_span(path)
        return Span.point(self.config_path) if self.config_path else None

    def variables(self, environ: Mapping[str, str], secret: Callable[[str], str]) -> Mapping[str, Any]:
        """The variables a secret source's options see (`${client}` in an oauth2 source): the
        config's vars, rendered, and --var. Sources are shared by every file: no spec vars."""
        layers = list(self.var_layers) + ([VarLayer("--var", _CLI, self.cli_vars)] if self.cli_vars else [])
        return Vars(layers, environ, secret).view(_SEES[_CONFIG])


# ----------------------------------------------------------------------- variables


class Vars(Mapping):
    """Every variable of a spec file, each rendered on first use in its layer's scope."""

    def __init__(self, layers: Sequence[VarLayer], environ: Mapping[str, str], secret: Callable[[str], str]) -> None:
        self.layers = tuple(layers)
        self._environ = environ
        self._secret = secret
        self._top: dict[str, int] = {}
        for i, layer in enumerate(self.layers):
            for name in layer.values:
                self._top[name] = i
        self._done: dict[tuple[int, str], Any] = {}
        # The vars being rendered, per thread (the secret sources' view is shared by the
        # --jobs workers): a var met again on the same stack is a cycle.
        self._local = threading.local()

    def __getitem__(self, name: str) -> Any:
        i = self._top.get(name)
        if i is None:
            raise KeyError(name)
        return self.value_at(i, name)

    def __contains__(self, name: object) -> bool:
        return name in self._top

    def __iter__(self) -> Iterator[str]:
        return iter(self._top)

    def __len__(self) -> int:
        return len(self._top)

    def find(self, name: str, below: int, levels: frozenset[str]) -> int | None:
        for i in range(min(below, len(self.layers)) - 1, -1, -1):
            layer = self.layers[i]
            if layer.level in levels and name in layer.values:
                return i
        return None

    def view(self, levels: frozenset[str]) -> "_View":
        """The variables a value of a given level sees (base_url: spec or config level)."""
        return _View(self, levels, None, len(self.layers))

    def value_at(self, i: int, name: str) -> Any:
        key = (i, name)
        done = self._done
        if key in done:
            return done[key]
        layer = self.layers[i]
        raw = layer.values[name]
        if layer.level == _CLI or not _has_ref(raw):
            done[key] = raw
            return raw
        active = getattr(self._local, "active", None)
        if active is None:
            active = self._local.active = []
        if key in active:
            chain = " -> ".join(n for _, n in active[active.index(key):]) + f" -> {name}"
            raise TemplateError(f"vars refer to each other in a cycle ({chain})")
        active.append(key)
        try:
            value = render(raw, Scope(_View(self, _SEES[layer.level], name, i), self._environ, self._secret))
        except TemplateError as exc:
            if getattr(exc, "var", None) is None:
                exc.var = key  # type: ignore[attr-defined]  # where to point: the innermost var
            raise
        finally:
            active.pop()
        done[key] = value
        return value


class _View(Mapping):
    """A scope's variables: `own` (a var being rendered) reads the layers below its own."""

    __slots__ = ("_vars", "_levels", "_own", "_own_layer")

    def __init__(self, variables: Vars, levels: frozenset[str], own: str | None, own_layer: int) -> None:
        self._vars = variables
        self._levels = levels
        self._own = own
        self._own_layer = own_layer

    def _index(self, name: str) -> int | None:
        below = self._own_layer if name == self._own else len(self._vars.layers)
        return self._vars.find(name, below, self._levels)

    def __getitem__(self, name: str) -> Any:
        i = self._index(name)
        if i is None:
            raise KeyError(name)
        return self._vars.value_at(i, name)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._index(name) is not None

    def __iter__(self) -> Iterator[str]:
        return (n for n in self._vars if n in self)

    def __len__(self) -> int:
        return sum(1 for _ in self)


class _RequestVars(Mapping):
    """A request's variables: captures of earlier requests first, then every var."""

    __slots__ = ("captures", "vars")

    def __init__(self, captures: dict[str, Any], variables: Vars) -> None:
        self.captures = captures
        self.vars = variables

    def __getitem__(self, name: str) -> Any:
        captures = self.captures
        if name in captures:
            return captures[name]
        return self.vars[name]

    def __contains__(self, name: object) -> bool:
        return name in self.captures or name in self.vars

    def __iter__(self) -> Iterator[str]:
        yield from self.captures
        yield from (n for n in self.vars if n not in self.captures)

    def __len__(self) -> int:
        return len(set(self.captures) | set(self.vars))


def _layers(spec: m.Spec, shared: Shared) -> list[VarLayer]:
    smap = spec.source_map if isinstance(spec, LoadedSpec) else None
    layers = list(shared.var_layers)
    if spec.vars:
        layers.append(VarLayer("spec", _SPEC, spec.vars, ("vars",), smap, spec.path))
    if shared.cli_vars:
        layers.append(VarLayer("--var", _CLI, shared.cli_vars))
    return layers


# ------------------------------------------------------------------------- requests


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


def _request_values(req: m.RequestDef) -> Iterator[tuple[tuple, Any]]:
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
    yield from _tls_values(req.tls, ("tls",))
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


def _tls_values(tls: m.TlsClient | None, path: tuple) -> Iterator[tuple[tuple, Any]]:
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
        from .transport import ALWAYS_SECRET_HEADERS, PreparedRequest, basic_header

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
        self.vars = Vars(_layers(spec, shared), environ, self._secret)
        self.captures: dict[str, Any] = {}
        self.scope = Scope(_RequestVars(self.captures, self.vars), environ, self._secret)
        self._used: list[str] = []
        self._basic_seen: set[tuple[str, str]] = set()
        self._base: tuple[str | None] | None = None
        self._spec_dir = os.path.dirname(os.path.abspath(spec.path))
        self._plans: dict[int, RequestPlan] = {}
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
                value = render(spec_base, Scope(self.vars.view(_SEES[_SPEC]), self.environ, self._secret))
            elif self.shared.base_url is not None:
                value = render(self.shared.base_url, Scope(self.vars.view(_SEES[_CONFIG]), self.environ, self._secret))
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
            plan = self._plans[req.index] = self._make_plan(req)
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
        values = [v for _, v in _request_values(req)]
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

    def _render(self, plan: RequestPlan) -> Rendered:
        req = plan.req
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
        from .tlsfiles import ClientCertificates, TlsMaterialError, is_pem

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


# ------------------------------------------------------------------- static checks


class _Checker:
    """Collects diagnostics; renders what can be rendered without the network or secrets."""

    def __init__(self, shared: Shared, spec: m.Spec | None, environ: Mapping[str, str] | None,
                 env_title: str) -> None:
        self.shared = shared
        self.spec = spec
        self.environ = environ
        self.env_title = env_title
        self.diagnostics: list[Diagnostic] = []
        self.secrets = set(shared.secrets) | set(spec.secrets if spec is not None else ())
        layers = _layers(spec, shared) if spec is not None else list(shared.var_layers) + (
            [VarLayer("--var", _CLI, shared.cli_vars)] if shared.cli_vars else [])
        self.vars = Vars(layers, _AnyEnviron(environ), self._secret)
        self.captured_at: dict[str, list[m.RequestDef]] = {}
        for req in spec.requests if spec is not None else ():
            for cap in req.captures:
                self.captured_at.setdefault(cap.name, []).append(req)
        self.reported_vars: set[tuple[int, str]] = set()
        self.env_matters = True  # False for the requests -k / --tag leave out: never rendered

    def _secret(self, name: str) -> str:
        if name not in self.secrets:
            raise TemplateError(f"secret '{name}' is not declared", Ref("secret", name))
        return "<secret>"

    def add(self, message: str, span: Span | None, hint: str | None = None, title: str = "error") -> None:
        self.diagnostics.append(Diagnostic(message, span, hint, title))

    def secret_name(self, name: str, span: Span | None) -> None:
        if name not in self.secrets:
            close = difflib.get_close_matches(name, sorted(self.secrets), n=1)
            self.add(f"secret '{name}' is not declared", span,
                     f"did you mean '{close[0]}'?" if close else "declare it under `secrets:` in the spec or the config")

    def env(self, ref: Ref, span: Span | None) -> None:
        if self.environ is None or not self.env_matters or ref.default is not None or ref.name in self.environ:
            return
        self.add(f"environment variable {ref.name} is not set", span,
                 f"set it, or give a default: ${{env:{ref.name}:-...}}", title=self.env_title)

    def template_error(self, exc: TemplateError, span: Span | None, req: m.RequestDef | None,
                       known: set[str]) -> None:
        ref = exc.ref
        if ref is not None and ref.kind == "var":
            self.diagnostics.append(_undefined(ref.name, span, req, known, self.captured_at))
        elif ref is not None and ref.kind == "secret":
            self.secret_name(ref.name, span)
        elif ref is not None and ref.kind == "env":
            self.env(ref, span)
        elif "cycle" in str(exc):
            self.add(str(exc), span, "give one of them a literal value")
        else:
            self.add(str(exc)[:200], span, "write $${ for a literal ${")

    # -- vars and base_url: rendered for real (only secrets stand in)
    def var_layers(self, which: Callable[[VarLayer], bool]) -> None:
        for i, layer in enumerate(self.vars.layers):
            if not which(layer):
                continue
            for name in layer.values:
                try:
                    self.vars.value_at(i, name)
                except TemplateError as exc:
                    origin = getattr(exc, "var", (i, name))
                    bad = self.vars.layers[origin[0]]
                    if origin in self.reported_vars or not which(bad):
                        continue  # said once, by the check of the file it is written in
                    self.reported_vars.add(origin)
                    known = set(self.vars) if bad.level == _SPEC else {
                        n for n in self.vars if self.vars.find(n, len(self.vars.layers), _SEES[_CONFIG]) is not None}
                    self.template_error(exc, bad.span(origin[1]), None, known)

    def base_url(self, value: str | None, level: str, span: Span | None) -> None:
        if value is None or "$" not in value:
            return
        try:
            render(value, Scope(self.vars.view(_SEES[level]), _AnyEnviron(self.environ), self._secret))
        except TemplateError as exc:
            if getattr(exc, "var", None) is not None:
                return  # a var's own problem, reported at the var
            self.template_error(exc, span, None, set(self.vars.view(_SEES[level])))

    # -- values rendered with each request: every reference must be satisfiable
    def value(self, value: Any, path: tuple, span_of: Callable[[tuple, bool], Span | None],
              known: set[str], req: m.RequestDef | None) -> None:
        for sub_path, is_key, text in _walk(value, path):
            if "${" not in text:
                continue
            where = span_of(sub_path, is_key)
            try:
                refs = list(iter_refs(text))
            except TemplateError as exc:
                self.add(str(exc)[:200], where, "write $${ for a literal ${")
                continue
            for ref in refs:
                if ref.kind == "secret":
                    self.secret_name(ref.name, where)
                elif ref.kind == "env":
                    self.env(ref, where)
                elif ref.name not in known:
                    self.diagnostics.append(_undefined(ref.name, where, req, known, self.captured_at))


class _AnyEnviron(Mapping):
    """The environment for a static check: the real one, or (when none is given)
    one in which every variable is set, so only references are checked."""

    def __init__(self, environ: Mapping[str, str] | None) -> None:
        self._environ = environ

    def get(self, name: str, default: Any = None) -> Any:
        if self._environ is None:
            return "<env>"
        return self._environ.get(name, default)

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def __contains__(self, name: object) -> bool:
        return self._environ is None or name in self._environ

    def __iter__(self) -> Iterator[str]:
        return iter(self._environ or ())

    def __len__(self) -> int:
        return len(self._environ or ())


def _walk(value: Any, path: tuple) -> Iterator[tuple[tuple, bool, str]]:
    """(path, is_key, text) for every string in a JSON-like value, keys included."""
    if isinstance(value, str):
        yield path, False, value
    elif isinstance(value, dict):
        for k, v in value.items():
            if isinstance(k, str):
                yield path + (k,), True, k
            yield from _walk(v, path + (k,))
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            yield from _walk(v, path + (i,))


def check_config(shared: Shared, *, environ: Mapping[str, str] | None = None,
                 env_title: str = "error") -> list[Diagnostic]:
    """What the config adds, checked once per run: its vars (top level and the
    environment's), its base_url. Its `defaults.headers` are checked with each spec."""
    c = _Checker(shared, None, environ, env_title)
    c.var_layers(lambda layer: layer.level == _CONFIG)
    c.base_url(shared.base_url, _CONFIG, shared.span(shared.base_url_path))
    return sorted(set(c.diagnostics), key=Diagnostic.sort_key)


def check_spec(spec: m.Spec, shared: Shared | None = None, *, environ: Mapping[str, str] | None = None,
               env_title: str = "error", selected: Callable[[m.RequestDef], bool] | None = None) -> list[Diagnostic]:
    """Every reference of a spec that could not be rendered, at its path:line:col.

    `${name}` must be a var of some layer or a capture of an EARLIER request;
    `${secret:X}` and the secrets named by `auth` must be declared in the spec or
    the shared secrets; with `environ`, `${env:X}` without a default must be set,
    in the requests `selected` keeps (-k, --tag) and in a file where it keeps any.
    """
    shared = shared or Shared()
    smap: SourceMap | None = spec.source_map if isinstance(spec, LoadedSpec) else None
    fallback = spec.span or Span.point(spec.path)
    c = _Checker(shared, spec, environ, env_title)
    keep = selected or (lambda req: True)
    c.env_matters = any(keep(req) for req in spec.requests) or not spec.requests

    def spec_span(path: tuple, is_key: bool = False, default: Span | None = None) -> Span:
        if smap is not None:
            return smap.key_span(path) if is_key else smap.value_span(path)
        return default or fallback

    def config_span(path: tuple, is_key: bool = False) -> Span | None:
        return shared.span(path) or fallback

    def check_auth(auth: m.Auth | None) -> None:
        if isinstance(auth, (m.BearerAuth, m.HeaderAuth)):
            c.secret_name(auth.secret, auth.span or fallback)
        elif isinstance(auth, (m.BasicAuth, m.DigestAuth)):
            c.secret_name(auth.password_secret, auth.span or fallback)

    # file-level values: no captures exist yet
    c.var_layers(lambda layer: layer.level == _SPEC)
    known = set(c.vars)
    c.base_url(spec.base_url, _SPEC, spec_span(("base_url",)))
    for k, v in spec.defaults.headers:
        c.value(v, ("defaults", "headers", k), spec_span, known, None)
        if "${" in k:
            c.add("header names are not rendered: write the name as is", spec_span(("defaults", "headers", k), True))
    for k, v in shared.defaults.headers:
        c.value(v, ("defaults", "headers", k), config_span, known, None)
    for path, v in _tls_values(spec.defaults.tls, ("defaults", "tls")):
        c.value(v, path, spec_span, known, None)
    config_tls = shared.defaults.tls  # the config's defaults.tls, or the environment's tls
    for path, v in _tls_values(config_tls, ("defaults", "tls")):
        c.value(v, path, lambda p, k, t=config_tls: t.span or fallback, known, None)
    # A secret source's options: a source is shared by every file (no spec vars), and an
    # unset ${env:...} in them is a secret that cannot be resolved (AUTH when it is used).
    config_known = set(c.vars.view(_SEES[_CONFIG]))
    env_matters, c.env_matters = c.env_matters, False
    for name, decl in spec.secrets.items():
        c.value(dict(decl.options), ("secrets", name), lambda p, k, d=decl.span: spec_span(p, k, d), config_known, None)
    c.env_matters = env_matters
    check_auth(spec.auth)

    available = set(known)
    spec_env_matters = c.env_matters
    for req in spec.requests:
        req_path = ("requests", req.index)
        c.env_matters = spec_env_matters and keep(req)

        def req_span(path: tuple, is_key: bool, default: Span | None = req.span) -> Span:
            return spec_span(path, is_key, default)

        for rel, value in _request_values(req):
            c.value(value, req_path + rel, req_span, available, req)
        for k, _v in req.headers:
            if "${" in k:
                c.add("header names are not rendered: write the name as is", req_span(req_path + ("headers", k), True))
        check_auth(req.auth)
        available |= {cap.name for cap in req.captures}
    return sorted(set(c.diagnostics), key=Diagnostic.sort_key)


def _undefined(name: str, where: Span | None, req: m.RequestDef | None, known: set[str],
               captured_at: dict) -> Diagnostic:
    later = [r for r in captured_at.get(name, []) if req is None or r.index >= req.index]
    if later:
        other = later[0]
        line = f" (line {other.span.line})" if other.span else ""
        if req is not None and other.index == req.index:
            return Diagnostic(f"'{name}' is captured by this same request{line}; only later requests can use it", where)
        if req is None:
            return Diagnostic(f"'{name}' is a capture (of request '{other.name}'{line}); it cannot be used outside requests", where)
        return Diagnostic(f"'{name}' is captured later, by request '{other.name}'{line}", where,
                          "a request can only use captures of earlier requests")
    close = difflib.get_close_matches(name, sorted(known), n=1)
    hint = f"did you mean '{close[0]}'?" if close else (
        f"define it under `vars:`, in the config's vars, with --var {name}=VALUE, or capture it in an earlier request")
    return Diagnostic(f"'{name}' is not defined", where, hint)
