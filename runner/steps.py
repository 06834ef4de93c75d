"""One StepResult per way a request ends: SKIP, ERROR, AUTH (a secret that cannot be had, an
unexpected 401 with its diagnosis), FAIL (an unexpected 403), and the finished exchange (PASS or
FAIL, compact when passing under `compact_passes`). A mixin of the engine's per-file run."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from .authdiag import diagnose
from .errors import SecretError
from .model import NoAuth, RequestDef
from .render import Rendered as _Built
from .results import (
    AuthDiagnosis,
    CheckResult,
    Failure,
    FailureKind,
    Outcome,
    RequestSnapshot,
    ResponseSnapshot,
    StepResult,
)
from .snapshots import _MaskedSnapshots

if TYPE_CHECKING:
    from .expectations import Evaluator
    from .model import SecretDecl, Spec
    from .render import SpecRenderer
    from .secrets.store import SecretStore


class _StepResults(_MaskedSnapshots):
    spec: "Spec"
    store: "SecretStore"
    evaluator: "Evaluator"
    renderer: "SpecRenderer"
    decls: "dict[str, SecretDecl]"
    _last_compact_request: RequestSnapshot | None = None
    _texts: dict[str, str] | None = None  # `_once`'s table: one file's run

    def _once(self, text: str) -> str:
        """`text` kept once for this file's run when it is short ("GET", "200 OK", "2", a URL a
        file sends again and again): ten thousand passing records share it. A table per run,
        not sys.intern: interned strings are never freed on Python 3.12."""
        if len(text) > _ONCE_LEN:
            return text
        if self._texts is None:
            self._texts = {}
        return self._texts.setdefault(text, text)

    def _base_step(self, req: RequestDef, **kw: Any) -> StepResult:
        if "url" not in kw:
            kw["url"] = self.redactor.mask(str(req.url))
        return StepResult(
            spec_path=self.spec.path,
            name=req.name,
            index=req.index,
            method=self._once(req.method.upper()),
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

    def _finish(self, req, built: _Built, outcome: Outcome, attempts: int, *, resp=None, checks=(), failures=(),
                refreshed=False, location=None, auth=None, masked=None) -> StepResult:
        if outcome is Outcome.PASS and self.options.compact_passes:
            return self._compact_pass(req, built, resp, checks, attempts, refreshed, location)
        checks_t, failures_t = self._mask_checks(list(checks), list(failures))
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
        """A passing request's record without headers or body: status, size and timing stay.
        Ten thousand of them stay in memory until the end: one URL text serves the step, its
        request and its response, and short texts every step repeats are kept once. Under
        `tally_passes` not even its checks or exchange: nothing reads them again."""
        shown = self._once(self._shown_url(built))
        common = dict(
            outcome=Outcome.PASS,
            url=shown,
            status=resp.status if resp is not None else None,
            elapsed_ms=resp.elapsed_ms if resp is not None else None,
            attempts=attempts,
            token_refreshed=refreshed,
            location=self.redactor.mask(location) if location is not None else None,
            curl=self._curl(built),
        )
        if self.options.tally_passes:
            return self._base_step(req, **common)
        response = None
        if resp is not None:
            url = shown if resp.url == built.display_url else self.redactor.mask_built(resp.url)
            response = ResponseSnapshot(status=resp.status, reason=self._once(self.redactor.mask(resp.reason)), headers=(),
                                        body=b"", elapsed_ms=resp.elapsed_ms, url=url,
                                        truncated=False, size=resp.size or len(resp.body))
        masked, _ = self._mask_checks(list(checks), [])
        return self._base_step(
            req,
            checks=tuple(self._compact_check(c) for c in masked),
            request=self._compact_request(self._once(built.prepared.method), shown),
            response=response,
            **common,
        )

    def _compact_check(self, c: CheckResult) -> CheckResult:
        expected, actual = self._once(c.expected), self._once(c.actual)
        if expected is c.expected and actual is c.actual:
            return c
        return CheckResult(c.subject, c.passed, expected, actual, c.span, c.checked)

    def _compact_request(self, method: str, url: str) -> RequestSnapshot:
        """A passing request's snapshot (method and URL only), shared with the previous
        passing request when they are the same (polling, a repeated call)."""
        last = self._last_compact_request
        if last is None or last.method != method or last.url != url:
            last = self._last_compact_request = RequestSnapshot(method, url)
        return last

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


_ONCE_LEN = 200  # texts up to this long that passing steps repeat ("200 OK", "2", a URL) are kept once


