"""What is constant about one request for the whole run (`RequestPlan`, computed once per
request; the rows of a `for_each` share one), and the values of a request that hold references.

- Timeout: the request's own `timeout`, else `--timeout`, else the spec's then the config's
  `defaults.timeout`, else 30 s; the same field order for `follow_redirects`, `max_body`,
  `retry` (inherited only by idempotent methods) and `verify` (`--insecure` wins).
- `auth: none` drops every credential-looking header of the defaults.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Iterator, Sequence

from .. import model as m
from ..redact import SENSITIVE_KEY
from ..template import TemplateError, iter_refs

if TYPE_CHECKING:
    from .vars import Shared

IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})


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


@dataclass(slots=True)
class RequestPlan:
    """What is constant about one request for the whole run, computed once."""

    req: m.RequestDef
    var_refs: frozenset[str]
    secret_refs: frozenset[str]
    headers: tuple[tuple[str, Any, bool], ...]  # (name, value or template, needs render)
    secret_headers: frozenset[str]  # lower-case names dropped on a cross-origin redirect
    auth: m.Auth | None
    timeout: float
    follow: bool
    max_body: int
    verify: bool
    retry: m.Retry | None
    tls: m.TlsClient | None = None


def _first(*values: Any) -> Any:
    for v in values:
        if v is not None:
            return v
    return None


def _dynamic(value: Any) -> bool:
    """A header value that needs rendering (a template, or not text yet)."""
    return not isinstance(value, str) or "$" in value


def _is_credential(name: str, value: Any, auth_header: str | None, always_secret: frozenset[str]) -> bool:
    """`always_secret`: transport's ALWAYS_SECRET_HEADERS (Authorization, Proxy-Authorization, Cookie)."""
    lname = name.lower()
    if lname in always_secret or lname == auth_header or SENSITIVE_KEY.search(name):
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


class _Planner:
    """The plans of a SpecRenderer (a mixin: the renderer holds the caches)."""

    spec: m.Spec
    shared: "Shared"
    insecure: bool
    timeout: float | None
    _always_secret: frozenset[str]
    _plans: dict[int, RequestPlan]
    _row_plans: dict[int, RequestPlan]
    _defaults: tuple[dict[str, tuple[str, Any, bool]], frozenset[str], frozenset[str]] | None
    _same: dict | None = None  # the plans' sets and header tuples, one object per distinct value

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

    def _kept_once(self, value: Any) -> Any:
        """One object per distinct value (of texts only: equal numbers and booleans are equal
        keys): a plan lives as long as its renderer (every request of a file), and most
        requests have the same sets and headers (none, or the defaults)."""
        same = self._same
        if same is None:
            same = self._same = {}
        return same.setdefault(value, value)

    def forget(self, req: m.RequestDef) -> None:
        """Let go of `req`'s plan (a run sends each request once; `runner load` keeps them)."""
        self._plans.pop(req.index, None)

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
            always = self._always_secret
            headers = {k: h for k, h in headers.items() if not _is_credential(h[0], h[1], auth_header, always)}
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
            var_refs=self._kept_once(frozenset(var_refs)),
            secret_refs=self._kept_once(frozenset(secret_refs)),
            headers=self._kept_once(tuple(headers.values())) if all(type(h[1]) is str for h in headers.values())
            else tuple(headers.values()),  # 1, 1.0 and true are equal keys, but not the same header value
            secret_headers=self._kept_once(frozenset(secret_headers)),
            auth=auth,
            timeout=float(timeout),
            follow=bool(_first(req.follow_redirects, spec_d.follow_redirects, conf_d.follow_redirects, False)),
            max_body=int(_first(req.max_body, spec_d.max_body, conf_d.max_body, m.DEFAULT_MAX_BODY)),
            verify=verify,
            retry=retry,
            tls=_first(req.tls, spec_d.tls, conf_d.tls),
        )
