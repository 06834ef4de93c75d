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

Where things live: this module runs a file (order, SKIP, --fail-fast, stop) and one
request (retries, the refresh on 401, expectations, captures); `options.py` is
`RunOptions` and the -k/--tag selection; `steps.py` makes the StepResult of each way a
request ends (the 401/403 diagnosis included); `snapshots.py` the masked request and
response snapshots and the `--curl` line.
"""

from __future__ import annotations

import time
from contextlib import nullcontext
from typing import Any, Callable

from .errors import SecretError, TransportError
from .expectations import Body, CaptureError, Evaluator
from .model import RequestDef, SecretDecl, Spec
from .options import RunOptions, _selected, select_requests
from .redact import SENSITIVE_KEY, Redactor
from .results import NOT_PASSING, CheckResult, Failure, FailureKind, Outcome, ResponseSnapshot, SpecResult, StepResult
from .secrets.store import SecretStore
from .render import IDEMPOTENT, RenderError, Rendered, RequestPlan, SpecRenderer, refs_of
from .snapshots import RESPONSE_KEEP
from .steps import _StepResults
from .template import TemplateError
from .transport import ALWAYS_SECRET_HEADERS, Transport

__all__ = ["Kept", "RunOptions", "run_spec", "select_requests", "RESPONSE_KEEP", "IDEMPOTENT"]


def run_spec(
    spec: Spec,
    *,
    options: RunOptions,
    secrets: SecretStore,
    redactor: Redactor,
    on_step: Callable[[StepResult], None] | None = None,
    clock: Callable[[], float] = time.perf_counter,
    sleep: Callable[[float], Any] | None = None,
    kept: "Kept | None" = None,
) -> SpecResult:
    """`kept`: what a caller that runs this file again and again keeps across its runs
    (`runner load`'s users); None: everything is made for this run (its connections closed after)."""
    return _SpecRun(spec, options, secrets, redactor, on_step, clock, sleep, kept).run()


class Kept:
    """What one caller keeps across runs of one spec file (a `runner load` user's passes):
    its connections, its compiled JSONPaths, regexes and schemas, and its requests' plans.
    Each run still starts afresh: no cookies or Digest state, vars rendered anew, no captures."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        self.evaluator = Evaluator()
        self.renderer: SpecRenderer | None = None  # made by the first run, started again by the next

    def close(self) -> None:
        self.transport.close()


# --------------------------------------------------------------------------- internals


class _SpecRun(_StepResults):
    def __init__(self, spec, options, store, redactor, on_step, clock, sleep, kept: Kept | None = None) -> None:
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
        self.kept = kept
        renderer = kept.renderer if kept is not None else None
        if renderer is None:
            renderer = SpecRenderer(spec, options.shared(), environ=options.environ, store=store,
                                    redactor=redactor, insecure=options.insecure, timeout=options.timeout,
                                    client_certs=options.client_certs)
            if kept is not None:
                kept.renderer = renderer
        else:
            renderer.new_pass()
        self.renderer = renderer
        self.evaluator = kept.evaluator if kept is not None else Evaluator()
        self.decls: dict[str, SecretDecl] = self.renderer.decls
        self.vars = self.renderer.captures  # captures of earlier requests (vars are in the renderer)
        self.failed_captures: dict[str, tuple[str, str]] = {}  # capture -> (request, why)
        self.capture_owner: dict[str, str] = {}
        self._credential_names: frozenset[str] | None = None
        self.contract = options.contracts.get(spec.path)

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
        kept = self.kept
        if kept is not None:
            kept.transport.new_pass()
        with Transport(environ=self.options.environ, stop=stop) if kept is None else nullcontext(kept.transport) as transport:
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
                    plan = self.renderer.plan(req)
                    reason = self._missing_capture(plan)
                    step = self._skip(req, reason) if reason else self._execute(req, plan)
                if req.captures and step.outcome is not Outcome.PASS:
                    why = "was skipped" if step.outcome is Outcome.SKIP else "failed"
                    for cap in req.captures:
                        self.failed_captures[cap.name] = (req.name, why)
                if self.options.fail_fast and step.outcome in NOT_PASSING:
                    failed_fast = True
                steps.append(step)
                if kept is None:
                    self.renderer.forget(req)  # sent once: its plan is not needed again (flat memory)
                if self.on_step is not None:
                    self.on_step(step)
        return SpecResult(self.spec.path, self.spec.name, tuple(steps), self.clock() - started, tags=self.spec.tags)

    def _missing_capture(self, plan: RequestPlan) -> str | None:
        for name in sorted(plan.var_refs):
            hit = self.failed_captures.get(name)
            if hit is not None:
                return f"needs '{name}', captured by '{hit[0]}' which {hit[1]}"
            if name in self.capture_owner and name not in self.renderer.scope.variables:
                return f"needs '{name}', captured by '{self.capture_owner[name]}' which did not run"
        return None

    # -- one request, with retry and a refresh on 401
    def _execute(self, req: RequestDef, plan: RequestPlan) -> StepResult:
        try:
            built = self.renderer.render(plan)
        except SecretError as exc:
            return self._secret_step(req, exc)
        except (TemplateError, RenderError) as exc:
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
                        built = self.renderer.render(plan)
                    except SecretError as exc:
                        return self._secret_step(req, exc, self._shown_url(built))
                    except (TemplateError, RenderError) as exc:
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

    def _conformance(self, built: Rendered, resp: ResponseSnapshot, body: Body, checks, failures, req: RequestDef):
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
