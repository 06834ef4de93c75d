"""The JSON report: every result, valid against schemas/report.schema.json (version 1).

It holds what the run produced and nothing about where secrets came from beyond their
names and source descriptions (`env PETS_API_TOKEN`): never environment variables,
never a secret value, never a whole body (a bounded, masked, sanitised excerpt and the
sha256 of the stored body). Every string goes through `sanitize.scrub` with the
Redactor; numbers that are not finite become null (the document is dumped with
allow_nan=False, so it is strict JSON).
"""

from __future__ import annotations

import json
import uuid
from typing import Any, Iterable, Iterator

from ..redact import Redactor
from ..results import (
    AuthDiagnosis,
    CheckResult,
    Failure,
    Outcome,
    RequestSnapshot,
    ResponseSnapshot,
    RunResult,
    SpecResult,
    StepResult,
)
from . import body_excerpt, body_is_binary, body_sha256, curl_of, finite
from .sanitize import scrub

__all__ = ["FORMAT", "VERSION", "chunks", "render", "to_dict"]

FORMAT = "request-runner-report"
VERSION = 1
_EXCERPT = 2000
_EXCERPT_LINES = 50
_SHORT = 1000
_LONG = 20_000


class _Builder:
    def __init__(self, redactor: Redactor | None) -> None:
        self.redactor = redactor

    def s(self, value: object, limit: int = _SHORT) -> str:
        return scrub(value, self.redactor, limit=limit)

    def opt(self, value: object, limit: int = _SHORT) -> str | None:
        return None if value is None else self.s(value, limit)

    def headers(self, pairs) -> list[dict[str, str]]:
        return [{"name": self.s(k, 200), "value": self.s(v, 4000)} for k, v in pairs]

    def check(self, c: CheckResult) -> dict[str, Any]:
        return {
            "subject": self.s(c.subject),
            "passed": bool(c.passed),
            "checked": bool(c.checked),
            "expected": self.s(c.expected, _LONG),
            "actual": self.s(c.actual, _LONG),
            "line": c.span.line if c.span is not None else None,
        }

    def failure(self, f: Failure) -> dict[str, Any]:
        return {
            "kind": f.kind.value,
            "message": self.s(f.message, _LONG),
            "expected": self.opt(f.expected, _LONG),
            "actual": self.opt(f.actual, _LONG),
            "hint": self.opt(f.hint),
            "line": f.span.line if f.span is not None else None,
        }

    def request(self, r: RequestSnapshot | None) -> dict[str, Any] | None:
        if r is None:
            return None
        return {
            "method": self.s(r.method, 32),
            "url": self.s(r.url, 8000),
            "headers": self.headers(r.headers),
            "body_excerpt": self.opt(r.body_excerpt, _EXCERPT),
        }

    def response(self, r: ResponseSnapshot | None) -> dict[str, Any] | None:
        if r is None:
            return None
        return {
            "status": int(r.status),
            "reason": self.s(r.reason, 200),
            "headers": self.headers(r.headers),
            "size": int(r.size or len(r.body)),
            "truncated": bool(r.truncated),
            "binary": body_is_binary(r) if r.body else False,
            "body_excerpt": body_excerpt(r, self.redactor, limit=_EXCERPT, max_lines=_EXCERPT_LINES),
            "body_sha256": body_sha256(r) if r.body else None,
        }

    def auth(self, a: AuthDiagnosis | None) -> dict[str, Any] | None:
        if a is None:
            return None
        return {
            "secret": self.opt(a.secret, 200),
            "source": self.opt(a.source, 500),
            "fingerprint": self.opt(a.fingerprint, 100),
            "challenges": [
                {"scheme": self.s(c.scheme, 100), "params": {self.s(k, 100): self.s(v, 2000) for k, v in c.params}}
                for c in a.challenges
            ],
            "notes": [self.s(n) for n in a.token_notes],
            "hint": self.opt(a.hint),
            "refreshed": bool(a.refreshed),
            "declared_at": a.declared_at.location() if a.declared_at is not None else None,
        }

    def step(self, st: StepResult) -> dict[str, Any]:
        return {
            "name": self.s(st.name, 500),
            "index": int(st.index),
            "outcome": st.outcome.value,
            "method": self.s(st.method, 32),
            "url": self.s(st.url, 8000),
            "status": st.status,
            "elapsed_ms": finite(st.elapsed_ms),
            "attempts": int(st.attempts),
            "token_refreshed": bool(st.token_refreshed),
            "skip_reason": self.opt(st.skip_reason),
            "location": self.opt(st.location, 8000),
            "line": st.span.line if st.span is not None else None,
            "column": st.span.column if st.span is not None else None,
            "tags": [self.s(t, 200) for t in st.tags],
            "checks": [self.check(c) for c in st.checks],
            "failures": [self.failure(f) for f in st.failures],
            "request": self.request(st.request),
            "response": self.response(st.response),
            "auth": self.auth(st.auth),
            "curl": self.opt(curl_of(st), _LONG),
            **self.included(st),
        }

    def included(self, st: StepResult) -> dict[str, Any]:
        """A request spliced in by `include:`: the fragment its line is in, and the includes."""
        if not st.included_from or st.span is None:
            return {}
        return {"file": self.s(st.span.path, 4000), "included_from": [self.s(i, 4000) for i in st.included_from]}

    def spec(self, sp: SpecResult, steps: Any = None) -> dict[str, Any]:
        """`steps` stands in for the list of steps when given (a placeholder the stream fills)."""
        return {
            "path": self.s(sp.path, 4000),
            "name": self.s(sp.name, 500),
            "duration_s": finite(sp.duration_s) or 0.0,
            "error": self.opt(sp.error, _LONG),
            "tags": [self.s(t, 200) for t in sp.tags],
            "steps": [self.step(st) for st in sp.steps] if steps is None else steps,
        }

    def run(self, run: RunResult, specs: Any = None) -> dict[str, Any]:
        """`specs` stands in for the list of spec files when given (a placeholder the stream fills)."""
        c = run.counts()
        summary: dict[str, Any] = {
            "passed": c[Outcome.PASS],
            "failed": c[Outcome.FAIL],
            "auth": c[Outcome.AUTH],
            "errors": c[Outcome.ERROR],
            "skipped": c[Outcome.SKIP],
            "total": sum(c.values()),
        }
        if not run.in_progress:  # no exit code until there is one: a killed run never reads as green
            summary["exit_code"] = int(run.exit_code)
        return {
            "format": FORMAT,
            "version": VERSION,
            "tool": {"name": "request-runner", "version": self.s(run.version, 100)},
            "started_at": self.s(run.started_at, 64) or None,
            "duration_s": finite(run.duration_s) or 0.0,
            "environment": self.opt(run.environment, 200),
            "interrupted": self.opt(run.interrupted, 20),
            "in_progress": bool(run.in_progress),
            "warnings": [self.s(w) for w in run.warnings],
            "summary": summary,
            "specs": [self.spec(sp) for sp in run.specs] if specs is None else specs,
        }


def to_dict(run: RunResult, *, redactor: Redactor | None = None) -> dict[str, Any]:
    return _Builder(redactor).run(run)


def render(run: RunResult, *, redactor: Redactor | None = None) -> str:
    """The report as strict JSON text (UTF-8, indented, a trailing newline)."""
    return "".join(chunks(run, redactor=redactor))


def chunks(run: RunResult, *, redactor: Redactor | None = None) -> Iterator[str]:
    """The text of `render`, a step at a time: a 10,000-request report is never one dict
    tree or one string in memory (each step's dict is dumped and dropped)."""
    b = _Builder(redactor)
    hole = "\x00" + uuid.uuid4().hex  # stands for a list; scrubbed text holds no NUL, so no value equals it
    hole_text = json.dumps(hole)
    before, after = _dump(b.run(run, specs=hole), 0).split(hole_text)
    yield before
    yield from _list((_spec_chunks(b, sp, hole, hole_text) for sp in run.specs), 1)
    yield after + "\n"


def _spec_chunks(b: _Builder, sp: SpecResult, hole: str, hole_text: str) -> Iterator[str]:
    before, after = _dump(b.spec(sp, steps=hole), 2).split(hole_text)
    yield before
    yield from _list(((_dump(b.step(st), 4),) for st in sp.steps), 3)
    yield after


def _dump(value: Any, depth: int) -> str:
    """`value` as json.dumps(indent=2) writes it `depth` levels deep in the document (JSON
    text holds no raw newline inside a string, so shifting every line is exact)."""
    text = json.dumps(value, indent=2, ensure_ascii=False, allow_nan=False)
    return text.replace("\n", "\n" + "  " * depth) if depth else text


def _list(items: Iterable[Iterable[str]], depth: int) -> Iterator[str]:
    """A JSON list `depth` levels deep whose items (each a run of text pieces) come one by one."""
    empty = True
    for item in items:
        yield ("[\n" if empty else ",\n") + "  " * (depth + 1)
        yield from item
        empty = False
    yield "[]" if empty else "\n" + "  " * depth + "]"
