"""Run one spec file: requests in file order over one Transport, results as data.

    run_spec(spec, *, options, secrets, redactor, on_step=None) -> SpecResult
    select_requests(spec, options) -> [RequestDef]     after -k / --tag

Decisions (see also docs):

- The request is built by render.py (vars, captures, secrets, URL, headers, auth,
  body; what is constant per request is planned once). Variables: config vars <
  spec vars < --var; captures of earlier requests win last.
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

import threading
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from .authdiag import diagnose
from .curl import to_curl
from .errors import SecretError, TransportError
from .expectations import Body, CaptureError, Evaluator
from .model import Config, Defaults, Environment, NoAuth, RequestDef, SecretDecl, Spec
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
from .render import IDEMPOTENT, RenderError, Rendered, RequestPlan, Shared, SpecRenderer, refs_of
from .template import TemplateError
from .transport import ALWAYS_SECRET_HEADERS, Transport

__all__ = ["RunOptions", "run_spec", "select_requests", "RESPONSE_KEEP", "IDEMPOTENT"]

RESPONSE_KEEP = 64 * 1024  # bytes of (masked) response body kept in a result
_MASK_MARGIN = 8 * 1024  # masked before cutting, so no secret is cut in half at the edge
_EXCERPT = 4 * 1024  # request body excerpt


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
    # The config file and --env as loaded (positions for messages); without them the
    # fields above (config_vars, base_url, defaults, secrets) describe the config.
    config: Config | None = None
    environment: Environment | None = None
    # tlsfiles.ClientCertificates shared by every file of the run (its temporary files are
    # removed when the run ends); None: each file prepares its own.
    client_certs: Any = None
    only: frozenset[int] | None = None  # request indexes to run, if not all (the pytest plugin's -k/-m selection)
    # A passing request keeps a compact record (no headers, no body): memory stays flat as
    # a file grows. `runner run` keeps them only under -vv, which prints them.
    compact_passes: bool = False

    def shared(self) -> Shared:
        if self.config is not None:
            return Shared.from_config(self.config, self.environment, self.cli_vars, self.secrets)
        return Shared.plain(config_vars=self.config_vars, cli_vars=self.cli_vars, base_url=self.base_url,
                            defaults=self.defaults, secrets=self.secrets)
    contracts: Mapping[str, Any] = field(default_factory=dict)  # spec path -> openapi.Contract


def select_requests(spec: Spec, options: RunOptions) -> list[RequestDef]:
    """The requests -k and --tag keep (the others are not in the results at all)."""
    return [r for r in spec.requests if _selected(spec, r, options)]


def _selected(spec: Spec, req: RequestDef, options: RunOptions) -> bool:
    if options.only is not None and req.index not in options.only:
        return False
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
    transport: Transport | None = None,
) -> SpecResult:
    """`transport`: one the caller keeps open across runs of the file (`runner load`: a user's
    connections; its cookies are the caller's to reset); None: one for this run, closed after."""
    return _SpecRun(spec, options, secrets, redactor, on_step, clock, sleep, transport).run()


# --------------------------------------------------------------------------- internals


_BuildError = RenderError  # the request cannot be built: an ERROR step
_Plan = RequestPlan
_Built = Rendered


class _SpecRun:
    def __init__(self, spec, options, store, redactor, on_step, clock, sleep, transport=None) -> None:
        self.given_transport: Transport | None = transport
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
        self.renderer = SpecRenderer(spec, options.shared(), environ=options.environ, store=store,
                                     redactor=redactor, insecure=options.insecure, timeout=options.timeout,
                                     client_certs=options.client_certs)
        self.decls: dict[str, SecretDecl] = self.renderer.decls
        self.vars = self.renderer.captures  # captures of earlier requests (vars are in the renderer)
        self.failed_captures: dict[str, tuple[str, str]] = {}  # capture -> (request, why)
        self.capture_owner: dict[str, str] = {}
        self._credential_names: frozenset[str] | None = None
        self.contract = options.contracts.get(spec.path)

    def _plan(self, req: RequestDef) -> RequestPlan:
        return self.renderer.plan(req)

    # -- the run
    def run(self) -> SpecResult:
        started = self.clock()
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
        given = self.given_transport
        with Transport(environ=self.options.environ, stop=stop) if given is None else nullcontext(given) as transport:
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
            if name in self.capture_owner and name not in self.renderer.scope.variables:
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
            included_from=tuple(site.location() for site in reversed(req.included.chain)) if req.included else (),
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

    # -- building the request (render.py)
    def _build(self, req: RequestDef, plan: RequestPlan) -> Rendered:
        return self.renderer.render(plan)

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
        masked = self.redactor.mask_built("\n".join(lines)).split("\n") if lines else []
        headers = tuple((name, structural.get(i, masked[i])) for i, (name, _v) in enumerate(p.headers))
        excerpt = None
        if built.body_text is not None:
            text = built.body_text[: _EXCERPT + _MASK_MARGIN]
            excerpt = self.redactor.mask_built(text)[:_EXCERPT]
        return RequestSnapshot(p.method, self._shown_url(built), headers, excerpt)

    def _shown_url(self, built: _Built) -> str:
        """The URL sent, as every report shows it: the runner built it, so any secret in it is
        masked whatever its length (a short one too)."""
        return self.redactor.mask_built(built.display_url)

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
            url=self.redactor.mask_built(resp.url),  # the URL the runner asked for
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
            digest=p.digest,
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
        refreshed = built.refreshed_before_send  # an expired JWT renewed before sending: no second refresh
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
                        return self._secret_step(req, exc, self._shown_url(built))
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
                if self.contract is not None and req.openapi:
                    checks, failures = self._conformance(built, resp, body, checks, failures, req)
                if not failures and req.captures:
                    failures = self._capture(req, resp, body)
            except SecretError as exc:
                return self._secret_step(req, exc, self._shown_url(built))
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

    def _conformance(self, built: _Built, resp: ResponseSnapshot, body: Body, checks, failures, req: RequestDef):
        """The response against the API's OpenAPI document: a FAIL of its own kind (contract)."""
        contract = self.contract
        found = contract.check(built.prepared.method, built.prepared.url, self.renderer.base_url(), resp.status, resp.headers,
                               body, resp.truncated)
        shown = contract.doc.shown
        check = CheckResult("openapi", not found, f"conforms to {shown}",
                            found[0].message if found else f"conforms to {shown}")
        extra = [Failure(FailureKind.CONTRACT, f"contract: {v.message}" + (f" ({v.at})" if v.at else ""),
                         span=req.span, hint=v.hint) for v in found]
        return [*checks, check], [*failures, *extra]

    def _render_operand(self, value: Any) -> Any:
        return self.renderer.value(value)

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
            names = self._credential_names = frozenset(refs_of(values)[0])
        return names

    def _finish(self, req, built: _Built, outcome: Outcome, attempts: int, *, resp=None, checks=(), failures=(),
                refreshed=False, location=None, auth=None, masked=None) -> StepResult:
        checks_t, failures_t = self._mask_checks(list(checks), list(failures))
        if outcome is Outcome.PASS and self.options.compact_passes:
            return self._compact_pass(req, built, resp, checks_t, attempts, refreshed, location)
        if masked is None and resp is not None:
            masked = self._response_snapshot(resp)
        return self._base_step(
            req,
            outcome=outcome,
            url=self._shown_url(built),
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

    def _compact_pass(self, req, built: _Built, resp, checks, attempts: int, refreshed: bool, location) -> StepResult:
        """A passing request's record without headers or body: status, size and timing stay."""
        p = built.prepared
        response = None
        if resp is not None:
            response = ResponseSnapshot(status=resp.status, reason=self.redactor.mask(resp.reason), headers=(), body=b"",
                                        elapsed_ms=resp.elapsed_ms, url=self.redactor.mask_built(resp.url),
                                        truncated=False, size=resp.size or len(resp.body))
        return self._base_step(
            req,
            outcome=Outcome.PASS,
            url=self._shown_url(built),
            status=resp.status if resp is not None else None,
            elapsed_ms=resp.elapsed_ms if resp is not None else None,
            checks=checks,
            request=RequestSnapshot(p.method, self._shown_url(built)),
            response=response,
            attempts=attempts,
            token_refreshed=refreshed,
            location=self.redactor.mask(location) if location is not None else None,
            curl=self._curl(built),
        )

    def _sent_scheme(self, built: _Built) -> str | None:
        """The credential that went out: the auth form's, else a hand-written header's, else None."""
        if built.scheme is not None:
            return built.scheme if built.scheme in ("Bearer", "Basic", "Digest") else "Bearer"
        for name, value in built.prepared.headers:
            if name.lower() == "authorization":
                word, sep, _rest = value.strip().partition(" ")
                return word if sep and word.isalpha() else "Bearer"  # the scheme word, never the value
        names = {name.lower() for name, _ in built.prepared.headers}
        return "Bearer" if names & built.prepared.secret_header_names else None

    def _diagnosis(self, req: RequestDef, built: _Built, masked: ResponseSnapshot, refreshed: bool) -> AuthDiagnosis:
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
            sent_scheme=self._sent_scheme(built),
            now=time.time(),
            refreshed=refreshed,
            expired_when_sent=built.expired_when_sent,
            auth_none=isinstance(self.renderer.plan(req).auth, NoAuth),
        )

    def _auth_step(self, req, built: _Built, resp: ResponseSnapshot, attempts: int, refreshed: bool) -> StepResult:
        masked = self._response_snapshot(resp)
        diag = self._diagnosis(req, built, masked, refreshed)
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
        diag = self._diagnosis(req, built, masked, refreshed)
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
