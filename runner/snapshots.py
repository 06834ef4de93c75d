"""What a step shows of the request sent and the response received: masked snapshots, the
`--curl` line. Every text is masked by the redactor; secret-bearing request headers are shown
as "Bearer ***" whatever the redactor knows. A mixin of the engine's per-file run."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .curl import to_curl
from .redact import MASK, Redactor
from .render import Rendered as _Built
from .results import CheckResult, Failure, RequestSnapshot, ResponseSnapshot

if TYPE_CHECKING:
    from .options import RunOptions

__all__ = ["RESPONSE_KEEP"]

RESPONSE_KEEP = 64 * 1024  # bytes of (masked) response body kept in a result
_MASK_MARGIN = 8 * 1024  # masked before cutting, so no secret is cut in half at the edge
_EXCERPT = 4 * 1024  # request body excerpt


class _MaskedSnapshots:
    redactor: Redactor
    options: "RunOptions"

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
