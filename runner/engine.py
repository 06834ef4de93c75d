"""Run one spec file: requests in file order over one Transport, results as data.

    run_spec(spec, *, options, secrets, redactor, on_step=None) -> SpecResult
    select_requests(spec, options) -> [RequestDef]     after -k / --tag

Decisions (see also docs):

- Variables: config vars < spec vars < --var; captures of earlier requests win last.
- Timeout: the request's own `timeout`, else `--timeout`, else the spec's then the
  config's `defaults.timeout`, else 30 s. The same field order (request, spec
  defaults, config defaults) for `follow_redirects`, `max_body`, `retry`, `verify`.
  `--insecure` turns TLS verification off everywhere.
- No `expect.status`: any 2xx passes (a 3xx, 4xx or 5xx is reported).
- `retry` given on the request applies to any method; a retry inherited from
  `defaults` applies to idempotent methods only (GET HEAD OPTIONS PUT DELETE).
- Secrets are resolved before anything is sent; a SecretError is an AUTH outcome
  and nothing goes on the wire.
- An unexpected 401 is AUTH: its other expectations are not evaluated (checked=False).
  A 401 that `status` names by code, class ("4xx") or list is expected: checked as usual.
  A refreshable source is refreshed once and the request resent once. An unexpected
  403 is FAIL (forbidden), resent under `retry` like any failed expectation (a 401 is
  not: the same credential would be refused again). Captures are taken only when a
  request passes.
- Every text stored in a result is masked by the redactor; secret-bearing request
  headers are shown as "Bearer ***" whatever the redactor knows.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence
from urllib.parse import urlencode

from .authdiag import diagnose
from .curl import to_curl
from .errors import SecretError, TransportError
from .expectations import Body, CaptureError, Evaluator
from .model import (
    DEFAULT_MAX_BODY,
    DEFAULT_TIMEOUT,
    BasicAuth,
    BearerAuth,
    Defaults,
    FilesBody,
    FormBody,
    HeaderAuth,
    JsonBody,
    RawBody,
    RequestDef,
    Retry,
    SecretDecl,
    Spec,
)
from .redact import MASK, SENSITIVE_KEY, Redactor
from .results import (
    NOT_PASSING,
    AuthDiagnosis,
    CheckResult,
    Failure,
    FailureKind,
    Outcome,
    RequestSnapshot,
    ResponseSnapshot,
    SpecResult,
    StepResult,
)
from .secrets.store import SecretStore
from .template import Scope, TemplateError, as_text, iter_refs, render
from .transport import ALWAYS_SECRET_HEADERS, PreparedRequest, Transport, basic_header

__all__ = ["RunOptions", "run_spec", "select_requests", "RESPONSE_KEEP", "IDEMPOTENT"]

RESPONSE_KEEP = 64 * 1024  # bytes of (masked) response body kept in a result
_MASK_MARGIN = 8 * 1024  # masked before cutting, so no secret is cut in half at the edge
_EXCERPT = 4 * 1024  # request body excerpt
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})


@dataclass(frozen=True, slots=True)
class RunOptions:
    config_vars: Mapping[str, Any] = field(default_factory=dict)
    cli_vars: Mapping[str, Any] = field(default_factory=dict)
    environ: Mapping[str, str] = field(default_factory=dict)
    base_url: str | None = None  # from the config / environment; the spec's own wins
    defaults: Defaults = field(default_factory=Defaults)  # the config's defaults
    secrets: Mapping[str, SecretDecl] = field(default_factory=dict)  # config + environment; the spec's win
    timeout: float | None = None  # --timeout: overrides the defaults, not a request's own timeout
    insecure: bool = False
    fail_fast: bool = False
    name_filter: str | None = None  # -k
    tags: tuple[str, ...] = ()  # --tag
    curl: bool = False
    stop: threading.Event | None = None


def select_requests(spec: Spec, options: RunOptions) -> list[RequestDef]:
    """The requests -k and --tag keep (the others are not in the results at all)."""
    return [r for r in spec.requests if _selected(spec, r, options)]


def _selected(spec: Spec, req: RequestDef, options: RunOptions) -> bool:
    if options.name_filter:
        needle = options.name_filter.lower()
        if needle not in req.name.lower() and needle not in spec.name.lower():
            return False
    if options.tags:
        tags = set(req.tags) | set(spec.tags)
        if not tags.intersection(options.tags):
            return False
    return True


def run_spec(
    spec: Spec,
    *,
    options: RunOptions,
    secrets: SecretStore,
    redactor: Redactor,
    on_step: Callable[[StepResult], None] | None = None,
    clock: Callable[[], float] = time.perf_counter,
    sleep: Callable[[float], Any] | None = None,
) -> SpecResult:
    return _SpecRun(spec, options, secrets, redactor, on_step, clock, sleep).run()


# --------------------------------------------------------------------------- internals


class _BuildError(Exception):
    pass


@dataclass(slots=True)
class _Plan:
    """What is constant about one request for the whole run, computed once."""

    var_refs: frozenset[str]
    secret_refs: frozenset[str]
    headers: list[tuple[str, Any, bool]]  # (name, value or template, needs render)
    timeout: float
    follow: bool
    max_body: int
    verify: bool
    retry: Retry | None


@dataclass(slots=True)
class _Built:
    prepared: PreparedRequest
    display_url: str
    auth_decl: SecretDecl | None
    auth_secret: str | None
    token: str | None
    scheme: str | None  # "Bearer", "Basic", header name, or None (no credentials)
    basic: tuple[str, str] | None
    body_text: str | None
    used_secrets: list[str]


def _text(value: Any) -> str:
    """A rendered value as sent in a URL, query, header or form field (an absent value is empty)."""
    return "" if value is None else as_text(value)


def _refs(values: Sequence[Any]) -> tuple[set[str], set[str]]:
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


def _dynamic(value: Any) -> bool:
    """A header value that needs rendering (a template, or not text yet)."""
    return not isinstance(value, str) or "$" in value


def _first(*values: Any) -> Any:
    for v in values:
        if v is not None:
            return v
    return None


class _SpecRun:
    def __init__(self, spec, options, store, redactor, on_step, clock, sleep) -> None:
        self.spec: Spec = spec
        self.options: RunOptions = options
        self.store: SecretStore = store
        self.redactor: Redactor = redactor
        self.on_step = on_step
        self.clock = clock
        stop = options.stop
        if sleep is None:
            sleep = stop.wait if stop is not None else time.sleep
        self.sleep = sleep
        self.evaluator = Evaluator()
        self.decls: dict[str, SecretDecl] = {**options.secrets, **spec.secrets}
        self.vars: dict[str, Any] = {}
        self.failed_captures: dict[str, tuple[str, str]] = {}  # capture -> (request, why)
        self.capture_owner: dict[str, str] = {}
        self._basic_seen: set[tuple[str, str]] = set()
        self._used: list[str] = []
        self.scope = Scope(variables=self.vars, environ=options.environ, secret=self._secret)
        self.base_url: str | None = None
        self._credential_names: frozenset[str] | None = None
        self._defaults_plan: tuple[dict[str, tuple[str, Any, bool]], frozenset[str], frozenset[str]] | None = None

    # -- secrets
    def _decl(self, name: str) -> SecretDecl:
        decl = self.decls.get(name)
        if decl is None:
            raise SecretError(name, "nowhere", "it is not declared in the spec's or the config's secrets")
        return decl

    def _secret(self, name: str) -> str:
        value = self.store.get(self._decl(name))
        self._used.append(name)
        return value

    # -- set-up
    def _setup(self) -> str | None:
        """Variables and base URL; a problem here stops the whole file (returned as text)."""
        self.vars.update(self.options.config_vars)
        try:
            for name, value in self.spec.vars.items():
                self.vars[name] = render(value, self.scope)
        except (TemplateError, SecretError) as exc:
            return self.redactor.mask(f"vars: {exc}")
        self.vars.update(self.options.cli_vars)
        base = self.spec.base_url if self.spec.base_url is not None else self.options.base_url
        if base is not None:
            try:
                base = _text(render(base, self.scope))
            except (TemplateError, SecretError) as exc:
                return self.redactor.mask(f"base_url: {exc}")
        self.base_url = base
        return None

    def _plan_defaults(self) -> tuple[dict[str, tuple[str, Any, bool]], frozenset[str], frozenset[str]]:
        """The headers of the config's and the spec's defaults, and their references: once per run."""
        cached = self._defaults_plan
        if cached is None:
            spec_d, conf_d = self.spec.defaults, self.options.defaults
            headers: dict[str, tuple[str, Any, bool]] = {}
            for name, value in (*conf_d.headers, *spec_d.headers):
                headers[name.lower()] = (name, value, _dynamic(value))
            var_refs, secret_refs = _refs([v for _, v in spec_d.headers] + [v for _, v in conf_d.headers])
            cached = self._defaults_plan = (headers, frozenset(var_refs), frozenset(secret_refs))
        return cached

    def _plan(self, req: RequestDef) -> _Plan:
        spec_d, conf_d, opts = self.spec.defaults, self.options.defaults, self.options
        default_headers, default_vars, default_secrets = self._plan_defaults()
        headers = dict(default_headers)
        for name, value in req.headers:
            headers[name.lower()] = (name, value, _dynamic(value))
        values: list[Any] = [req.url, [v for _, v in req.query], [v for _, v in req.headers]]
        body = req.body
        if isinstance(body, JsonBody):
            values.append(body.value)
        elif isinstance(body, FormBody):
            values.append([v for _, v in body.fields])
        elif isinstance(body, RawBody):
            values.append(body.text)
        elif isinstance(body, FilesBody):
            values.append([v for _, v in body.fields] + [p.content for p in body.files if p.content])
        auth = self._auth_for(req)
        if isinstance(auth, BasicAuth):
            values.append(auth.username)
        exp = req.expect
        for hc in exp.headers:
            values += [p.operand for p in hc.predicates]
        for jc in exp.json:
            values.append(jc.path)
            values += [p.operand for p in jc.predicates]
        values += [p.operand for p in exp.body]
        values += [c.jsonpath for c in req.captures if c.jsonpath]
        var_refs, secret_refs = _refs(values)
        var_refs.update(default_vars)
        secret_refs.update(default_secrets)
        timeout = _first(req.timeout, opts.timeout, spec_d.timeout, conf_d.timeout, DEFAULT_TIMEOUT)
        retry = req.retry
        if retry is None:
            inherited = _first(spec_d.retry, conf_d.retry)
            if inherited is not None and req.method.upper() in IDEMPOTENT:
                retry = inherited
        verify = False if opts.insecure else bool(_first(spec_d.verify, conf_d.verify, True))
        return _Plan(
            var_refs=frozenset(var_refs),
            secret_refs=frozenset(secret_refs),
            headers=list(headers.values()),
            timeout=float(timeout),
            follow=bool(_first(req.follow_redirects, spec_d.follow_redirects, conf_d.follow_redirects, False)),
            max_body=int(_first(req.max_body, spec_d.max_body, conf_d.max_body, DEFAULT_MAX_BODY)),
            verify=verify,
            retry=retry,
        )

    # -- the run
    def run(self) -> SpecResult:
        started = self.clock()
        problem = self._setup()
        if problem is not None:
            return SpecResult(self.spec.path, self.spec.name, (), self.clock() - started, error=problem, tags=self.spec.tags)
        selected = []
        for req in self.spec.requests:
            for cap in req.captures:
                self.capture_owner[cap.name] = req.name
            if _selected(self.spec, req, self.options):
                selected.append(req)
            else:
                for cap in req.captures:
                    self.failed_captures[cap.name] = (req.name, "was not selected")
        steps: list[StepResult] = []
        failed_fast = False
        stop = self.options.stop
        with Transport(environ=self.options.environ, stop=stop) as transport:
            self.transport = transport
            for user, password in transport.proxy_credentials():
                self.redactor.add_basic(user, password)  # Proxy-Authorization, echoed or in an error
            for req in selected:
                if stop is not None and stop.is_set():
                    step = self._skip(req, "interrupted")
                elif failed_fast:
                    step = self._skip(req, "--fail-fast")
                elif req.skip is not None:
                    step = self._skip(req, req.skip or "skip")
                else:
                    plan = self._plan(req)
                    reason = self._missing_capture(plan)
                    step = self._skip(req, reason) if reason else self._execute(req, plan)
                if req.captures and step.outcome is not Outcome.PASS:
                    why = "was skipped" if step.outcome is Outcome.SKIP else "failed"
                    for cap in req.captures:
                        self.failed_captures[cap.name] = (req.name, why)
                if self.options.fail_fast and step.outcome in NOT_PASSING:
                    failed_fast = True
                steps.append(step)
                if self.on_step is not None:
                    self.on_step(step)
        return SpecResult(self.spec.path, self.spec.name, tuple(steps), self.clock() - started, tags=self.spec.tags)

    def _missing_capture(self, plan: _Plan) -> str | None:
        for name in sorted(plan.var_refs):
            hit = self.failed_captures.get(name)
            if hit is not None:
                return f"needs '{name}', captured by '{hit[0]}' which {hit[1]}"
            if name not in self.vars and name in self.capture_owner:
                return f"needs '{name}', captured by '{self.capture_owner[name]}' which did not run"
        return None

    # -- steps
    def _base_step(self, req: RequestDef, **kw: Any) -> StepResult:
        if "url" not in kw:
            kw["url"] = self.redactor.mask(str(req.url))
        return StepResult(
            spec_path=self.spec.path,
            name=req.name,
            index=req.index,
            method=req.method.upper(),
            span=req.span,
            tags=req.tags,
            **kw,
        )

    def _skip(self, req: RequestDef, reason: str) -> StepResult:
        return self._base_step(req, outcome=Outcome.SKIP, skip_reason=self.redactor.mask(reason))

    def _secret_step(self, req: RequestDef, exc: SecretError, display_url: str | None = None) -> StepResult:
        decl = self.decls.get(exc.secret)
        reason = self.redactor.mask(exc.reason)
        diag = AuthDiagnosis(
            secret=exc.secret,
            source=self.redactor.mask(exc.source),
            hint=reason,
            declared_at=exc.span or (decl.span if decl else None),
        )
        failure = Failure(FailureKind.SECRET, self.redactor.mask(exc.message), span=req.span, hint=reason)
        kw = {"url": display_url} if display_url else {}
        checks = tuple(CheckResult(s, False, "", "", None, checked=False) for s in self.evaluator.subjects(req.expect))
        return self._base_step(req, outcome=Outcome.AUTH, failures=(failure,), auth=diag, checks=checks, **kw)

    def _error_step(self, req: RequestDef, message: str, kind=FailureKind.TRANSPORT, **kw: Any) -> StepResult:
        failure = Failure(kind, self.redactor.mask(message), span=req.span)
        return self._base_step(req, outcome=Outcome.ERROR, failures=(failure,), **kw)

    # -- building the request
    def _render(self, value: Any) -> Any:
        if isinstance(value, str) and "$" not in value:
            return value
        return render(value, self.scope)

    def _auth_for(self, req: RequestDef):
        return req.auth if req.auth is not None else self.spec.auth

    def _build(self, req: RequestDef, plan: _Plan) -> _Built:
        try:
            return self._assemble(req, plan)
        except UnicodeEncodeError as exc:  # a captured JSON string with a lone surrogate ("\udc00")
            char = f"U+{ord(exc.object[exc.start]):04X}" if isinstance(exc.object, str) else "a character"
            raise _BuildError(f"a value is not valid Unicode text ({char} cannot be encoded)") from None

    def _assemble(self, req: RequestDef, plan: _Plan) -> _Built:
        self._used = []
        url = _text(self._render(req.url))
        if "://" not in url[:12]:
            if not self.base_url:
                raise _BuildError(f"relative URL {url[:80]!r} and no base_url (spec, config or environment)")
            url = self.base_url.rstrip("/") + "/" + url.lstrip("/")
        params: list[tuple[str, str]] = []
        for name, value in req.query:
            value = self._render(value)
            if isinstance(value, (list, tuple)):
                params.extend((name, _text(v)) for v in value)
            else:
                params.append((name, _text(value)))
        headers: list[tuple[str, str]] = []
        for name, value, dynamic in plan.headers:
            headers.append((name, _text(self._render(value)) if dynamic else value))
        secret_names = set(ALWAYS_SECRET_HEADERS)
        if plan.secret_refs:
            for name, value, dynamic in plan.headers:
                if dynamic and isinstance(value, str) and "${secret:" in value:
                    secret_names.add(name.lower())

        # auth
        auth = self._auth_for(req)
        decl = token = scheme = None
        basic = None
        auth_secret = None
        if isinstance(auth, BearerAuth):
            auth_secret = auth.secret
            decl = self._decl(auth.secret)
            token = self.store.get(decl)
            scheme = "Bearer"
            headers = [h for h in headers if h[0].lower() != "authorization"]
            headers.append(("Authorization", "Bearer " + token))
        elif isinstance(auth, HeaderAuth):
            auth_secret = auth.secret
            decl = self._decl(auth.secret)
            token = self.store.get(decl)
            scheme = auth.name
            headers = [h for h in headers if h[0].lower() != auth.name.lower()]
            headers.append((auth.name, token))
            secret_names.add(auth.name.lower())
        elif isinstance(auth, BasicAuth):
            auth_secret = auth.password_secret
            decl = self._decl(auth.password_secret)
            token = self.store.get(decl)
            user = _text(self._render(auth.username))
            if (user, token) not in self._basic_seen:
                self.redactor.add_basic(user, token)
                self._basic_seen.add((user, token))
            scheme = "Basic"
            basic = (user, token)
            try:
                value = basic_header(user, token)
            except UnicodeEncodeError:
                raise _BuildError("basic auth: the username is not latin-1 text") from None
            headers = [h for h in headers if h[0].lower() != "authorization"]
            headers.append(("Authorization", value))

        # body
        data: Any = None
        files = None
        body_text: str | None = None
        body = req.body
        lower = {h[0].lower() for h in headers}
        if isinstance(body, JsonBody):
            value = self._render(body.value) if body.value is not None else None
            try:
                body_text = json.dumps(value, ensure_ascii=False, allow_nan=False)
            except (TypeError, ValueError) as exc:
                raise _BuildError(f"json body cannot be encoded ({exc})") from None
            data = body_text.encode("utf-8")
            if "content-type" not in lower:
                headers.append(("Content-Type", "application/json"))
        elif isinstance(body, FormBody):
            data = [(k, _text(self._render(v))) for k, v in body.fields]
            body_text = urlencode(data)
        elif isinstance(body, RawBody):
            body_text = _text(self._render(body.text))
            data = body_text.encode("utf-8")
            if body.content_type and "content-type" not in lower:
                headers.append(("Content-Type", body.content_type))
        elif isinstance(body, FilesBody):
            data = [(k, _text(self._render(v))) for k, v in body.fields] or None
            files = []
            shown = []
            for part in body.files:
                if part.path is not None:
                    try:
                        with open(part.path, "rb") as fh:
                            content = fh.read()
                    except OSError as exc:
                        raise _BuildError(f"file {part.path}: {exc.strerror or 'cannot be read'}") from None
                    filename = part.filename or os.path.basename(part.path)
                else:
                    content = _text(self._render(part.content)).encode("utf-8")
                    filename = part.filename or part.field
                files.append((part.field, (filename, content, part.content_type)))
                shown.append(f"{part.field}={filename} ({len(content)} bytes)")
            body_text = "multipart: " + ", ".join(shown)

        display_url = url + ("?" + urlencode(params) if params else "")
        prepared = PreparedRequest(
            method=req.method.upper(),
            url=url,
            params=params,
            headers=headers,
            data=data,
            files=files,
            timeout=plan.timeout,
            follow_redirects=plan.follow,
            verify=plan.verify,
            max_body=plan.max_body,
            secret_header_names=frozenset(secret_names),
        )
        return _Built(prepared, display_url, decl, auth_secret, token, scheme, basic, body_text, self._used)

    # -- presenting (masked)
    def _request_snapshot(self, built: _Built) -> RequestSnapshot:
        p = built.prepared
        lines = []
        structural: dict[int, str] = {}
        for i, (name, value) in enumerate(p.headers):
            lname = name.lower()
            if lname in p.secret_header_names:
                head, sep, _rest = value.partition(" ")
                structural[i] = f"{head} {MASK}" if sep and lname in ("authorization", "proxy-authorization") else MASK
                lines.append("")
            else:
                lines.append(value.replace("\n", " "))
        masked = self.redactor.mask("\n".join(lines)).split("\n") if lines else []
        headers = tuple((name, structural.get(i, masked[i])) for i, (name, _v) in enumerate(p.headers))
        excerpt = None
        if built.body_text is not None:
            text = built.body_text[: _EXCERPT + _MASK_MARGIN]
            excerpt = self.redactor.mask(text)[:_EXCERPT]
        return RequestSnapshot(p.method, self.redactor.mask(built.display_url), headers, excerpt)

    def _response_snapshot(self, resp: ResponseSnapshot) -> ResponseSnapshot:
        mask = self.redactor.mask
        hs = resp.headers
        if hs:
            joined = mask("\n".join(v.replace("\n", " ") for _, v in hs)).split("\n")
            headers = tuple((k, joined[i]) for i, (k, _v) in enumerate(hs))
        else:
            headers = ()
        raw = resp.body
        truncated = resp.truncated
        if len(raw) > RESPONSE_KEEP:
            raw = raw[: RESPONSE_KEEP + _MASK_MARGIN]
            truncated = True
        body = self.redactor.mask_bytes(raw) if raw else raw
        if len(body) > RESPONSE_KEEP:
            body = body[:RESPONSE_KEEP]
            truncated = True
        return ResponseSnapshot(
            status=resp.status,
            reason=mask(resp.reason),
            headers=headers,
            body=body,
            elapsed_ms=resp.elapsed_ms,
            url=mask(resp.url),
            truncated=truncated,
            size=resp.size or len(resp.body),
        )

    def _mask_checks(self, checks: list[CheckResult], failures: list[Failure]):
        mask = self.redactor.mask
        if not self.redactor.values:  # nothing to mask yet: skip the copies
            return tuple(checks), tuple(failures)
        out_c = tuple(
            CheckResult(c.subject, c.passed, mask(c.expected), mask(c.actual), c.span, c.checked) for c in checks
        )
        out_f = tuple(
            Failure(f.kind, mask(f.message), f.expected and mask(f.expected), f.actual and mask(f.actual), f.span,
                    f.hint and mask(f.hint))
            for f in failures
        )
        return out_c, out_f

    def _curl(self, built: _Built) -> str | None:
        if not self.options.curl:
            return None
        p = built.prepared
        body = form = files = None
        if isinstance(p.data, bytes):
            body = p.data
        elif isinstance(p.data, list) and not p.files:
            form = p.data
        if p.files:
            files = [(f, f"@{fn};type={ct}" if ct else f"@{fn}") for f, (fn, _c, ct) in p.files]
            form = None
            files += [(k, v) for k, v in (p.data or [])]
        return to_curl(
            p.method,
            built.display_url,
            p.headers,
            redactor=self.redactor,
            body=body,
            form=form,
            files=files,
            basic=built.basic,
            timeout=p.timeout,
            follow_redirects=p.follow_redirects,
            insecure=not p.verify,
        )

    # -- one request, with retry and a refresh on 401
    def _execute(self, req: RequestDef, plan: _Plan) -> StepResult:
        try:
            built = self._build(req, plan)
        except SecretError as exc:
            return self._secret_step(req, exc)
        except (TemplateError, _BuildError) as exc:
            return self._error_step(req, f"cannot build the request: {exc}")

        attempts = max(1, plan.retry.attempts) if plan.retry else 1
        delay = plan.retry.delay if plan.retry else 0.0
        refreshed = False
        attempt = 0
        stop = self.options.stop
        expect = req.expect
        st = expect.status
        while True:
            attempt += 1
            try:
                resp = self.transport.send(built.prepared)
            except TransportError as exc:
                if exc.kind == "interrupted":
                    return self._finish(req, built, Outcome.ERROR, attempt, failures=(
                        Failure(FailureKind.INTERRUPTED, "interrupted while this request was in flight", span=req.span),))
                if attempt < attempts and not (stop is not None and stop.is_set()):
                    self.sleep(delay)
                    continue
                return self._finish(req, built, Outcome.ERROR, attempt,
                                    failures=(Failure(FailureKind.TRANSPORT, self.redactor.mask(exc.message), span=req.span),))

            status = resp.status
            if status == 401 and not (st is not None and st.matches(401)):
                if not refreshed and built.auth_decl is not None and self.store.refreshable(built.auth_decl):
                    refreshed = True
                    try:
                        self.store.refresh(built.auth_decl, built.token or "")
                        built = self._build(req, plan)
                    except SecretError as exc:
                        return self._secret_step(req, exc, self.redactor.mask(built.display_url))
                    except (TemplateError, _BuildError) as exc:
                        return self._error_step(req, f"cannot build the request: {exc}")
                    attempt -= 1  # the resend after a refresh is not a retry
                    continue
                return self._auth_step(req, built, resp, attempt, refreshed)

            body = Body(resp.body)
            if status == 403 and not (st is not None and st.matches(403)):
                # a failed expectation like any other: poll while a permission propagates
                if attempt < attempts and not (stop is not None and stop.is_set()):
                    self.sleep(delay)
                    continue
                return self._forbidden_step(req, built, resp, attempt, refreshed)

            try:  # operands and paths may hold ${env:...} / ${secret:...}: resolved only now
                checks, failures = self.evaluator.evaluate(expect, resp, body, render=self._render_operand)
                if not failures and req.captures:
                    failures = self._capture(req, resp, body)
            except SecretError as exc:
                return self._secret_step(req, exc, self.redactor.mask(built.display_url))
            except TemplateError as exc:
                failure = Failure(FailureKind.TRANSPORT, f"cannot evaluate the expectations: {exc}", span=req.span)
                return self._finish(req, built, Outcome.ERROR, attempt, resp=resp, failures=(failure,),
                                    refreshed=refreshed)
            if failures and attempt < attempts and not (stop is not None and stop.is_set()):
                self.sleep(delay)
                continue
            outcome = Outcome.FAIL if failures else Outcome.PASS
            location = resp.header("Location") if 300 <= status < 400 else None
            return self._finish(req, built, outcome, attempt, resp=resp, checks=checks, failures=failures,
                                refreshed=refreshed, location=location)

    def _render_operand(self, value: Any) -> Any:
        return render(value, self.scope)

    def _capture(self, req: RequestDef, resp: ResponseSnapshot, body: Body) -> list[Failure]:
        values = {}
        for cap in req.captures:
            try:
                values[cap.name] = self.evaluator.capture(cap, resp, body, render=self._render_operand)
            except CaptureError as exc:
                return [Failure(FailureKind.ASSERTION, exc.message, span=cap.span)]
            except TemplateError as exc:
                return [Failure(FailureKind.ASSERTION, f"capture '{cap.name}': {exc}", span=cap.span)]
        for name, value in values.items():
            if isinstance(value, str) and (SENSITIVE_KEY.search(name) or name in self._credential_vars()):
                # A token from a login response: masked in every output from now on
                # (this step's own response included: it is masked after the capture).
                self.redactor.add(value)
        self.vars.update(values)
        return []

    def _credential_vars(self) -> frozenset[str]:
        """Variables used in a credential-bearing header (Authorization, Cookie, X-Api-Key...)."""
        names = self._credential_names
        if names is None:
            headers = [*self.options.defaults.headers, *self.spec.defaults.headers]
            for req in self.spec.requests:
                headers += req.headers
            values = [v for k, v in headers if k.lower() in ALWAYS_SECRET_HEADERS or SENSITIVE_KEY.search(k)]
            names = self._credential_names = frozenset(_refs(values)[0])
        return names

    def _finish(self, req, built: _Built, outcome: Outcome, attempts: int, *, resp=None, checks=(), failures=(),
                refreshed=False, location=None, auth=None, masked=None) -> StepResult:
        checks_t, failures_t = self._mask_checks(list(checks), list(failures))
        if masked is None and resp is not None:
            masked = self._response_snapshot(resp)
        return self._base_step(
            req,
            outcome=outcome,
            url=self.redactor.mask(built.display_url),
            status=resp.status if resp is not None else None,
            elapsed_ms=resp.elapsed_ms if resp is not None else None,
            checks=checks_t,
            failures=failures_t,
            request=self._request_snapshot(built),
            response=masked,
            auth=auth,
            attempts=attempts,
            token_refreshed=refreshed,
            location=self.redactor.mask(location) if location is not None else None,
            curl=self._curl(built),
        )

    def _diagnosis(self, built: _Built, masked: ResponseSnapshot, refreshed: bool) -> AuthDiagnosis:
        decl = built.auth_decl
        secret = built.auth_secret or (built.used_secrets[0] if built.used_secrets else None)
        if decl is None and secret is not None:
            decl = self.decls.get(secret)
        token = built.token
        if token is None and decl is not None and secret is not None:
            try:
                token = self.store.get(decl)
            except SecretError:
                token = None
        return diagnose(
            status=masked.status,
            www_authenticate=masked.header_all("WWW-Authenticate"),
            token=token,
            secret=secret,
            source=self.redactor.mask(self.store.describe(decl)) if decl is not None else None,
            declared_at=decl.span if decl is not None else None,
            sent_scheme=built.scheme if built.scheme in ("Bearer", "Basic") else ("Bearer" if built.scheme else None),
            now=time.time(),
            refreshed=refreshed,
        )

    def _auth_step(self, req, built: _Built, resp: ResponseSnapshot, attempts: int, refreshed: bool) -> StepResult:
        masked = self._response_snapshot(resp)
        diag = self._diagnosis(built, masked, refreshed)
        subjects = self.evaluator.subjects(req.expect)
        checks = [CheckResult(s, False, "", "", None, checked=False) for s in subjects]
        others = [s for s in subjects if s != "status"]
        headline = diag.headline()
        message = f"401 {resp.reason or 'Unauthorized'}" + (f": {headline}" if headline else "")
        if refreshed:
            message += " (after a token refresh)"
        if others:
            message += f"; not checked: {', '.join(others)}"
        failure = Failure(
            FailureKind.UNAUTHORIZED,
            self.redactor.mask(message),
            expected=req.expect.status.describe() if req.expect.status else "2xx (default)",
            actual="401",
            span=req.span,
            hint=diag.hint,
        )
        return self._finish(req, built, Outcome.AUTH, attempts, resp=resp, masked=masked, checks=checks,
                            failures=(failure,), auth=diag, refreshed=refreshed)

    def _forbidden_step(self, req, built: _Built, resp: ResponseSnapshot, attempts: int, refreshed: bool) -> StepResult:
        masked = self._response_snapshot(resp)
        diag = self._diagnosis(built, masked, refreshed)
        hint = diag.hint or "token accepted but lacks permission"
        subjects = self.evaluator.subjects(req.expect)
        checks = [CheckResult("status", False, req.expect.status.describe() if req.expect.status else "2xx (default)",
                              f"403 {resp.reason}".rstrip(), req.expect.status.span if req.expect.status else None)]
        checks += [CheckResult(s, False, "", "", None, checked=False) for s in subjects if s != "status"]
        failure = Failure(
            FailureKind.FORBIDDEN,
            self.redactor.mask(f"403 {resp.reason or 'Forbidden'}: {hint}"),
            expected=checks[0].expected,
            actual="403",
            span=req.span,
            hint=self.redactor.mask(hint),
        )
        return self._finish(req, built, Outcome.FAIL, attempts, resp=resp, masked=masked, checks=checks,
                            failures=(failure,), auth=diag, refreshed=refreshed)
