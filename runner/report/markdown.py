"""The Markdown summary (`--summary FILE`, appended to $GITHUB_STEP_SUMMARY when set).

    ## request-runner: N passed, N failed, N auth, N errors, N skipped in T s
    a status line (exit code, environment, start time), warnings as a quote
    ### <spec name> (<path>)     a table: outcome (emoji and word), method, URL, status, time, request
    ### Authentication failures  grouped by secret
    ### Failures                 one block per request that did not pass, with the plain
                                 diagnosis (the same text as the terminal and JUnit) in a code fence

Text in tables and headings is masked, sanitised, folded to one line and escaped (pipes,
backticks, brackets, emphasis and HTML characters get a backslash) so server text cannot
add links, images, HTML or break the table. Multi-line details go in a fenced block
whose fence is longer than any run of backticks inside it.
"""

from __future__ import annotations

import re
from typing import Iterator

from ..redact import Redactor
from ..results import NOT_PASSING, Outcome, RunResult, SpecResult, StepResult
from . import body_excerpt, counts_text, failure_lines, format_ms, group_auth, outcome_label, summary_line
from .sanitize import scrub

__all__ = ["chunks", "render", "escape", "EMOJI"]

EMOJI = {
    Outcome.PASS: "\u2705",  # white heavy check mark
    Outcome.FAIL: "\u274c",  # cross mark
    Outcome.AUTH: "\U0001f510",  # closed lock with key
    Outcome.ERROR: "\U0001f4a5",  # collision
    Outcome.SKIP: "\u23ed\ufe0f",  # next track
}
IN_PROGRESS = "\u23f3"  # hourglass with flowing sand
_SPECIAL = re.compile(r"([\\`*_{}\[\]<>|~#!])")
_BACKTICKS = re.compile(r"`+")


def escape(text: str) -> str:
    """Backslash-escape what Markdown (GFM) would interpret inside a line or a table cell."""
    return _SPECIAL.sub(r"\\\1", text)


def _fence(body: str) -> str:
    longest = max((len(m.group(0)) for m in _BACKTICKS.finditer(body)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{body}\n{fence}"


class _Writer:
    def __init__(self, redactor: Redactor | None) -> None:
        self.redactor = redactor

    def cell(self, value: object, limit: int = 300) -> str:
        return escape(scrub(value, self.redactor, oneline=True, limit=limit)) or " "

    def outcome(self, step: StepResult) -> str:
        return f"{EMOJI[step.outcome]} {outcome_label(step)}"

    def table(self, spec: SpecResult) -> list[str]:
        out = [f"### {self.cell(spec.name, 200)} ({self.cell(spec.path, 500)})", ""]
        if spec.error:
            out += [f"{EMOJI[Outcome.ERROR]} **could not run:** {self.cell(spec.error, 1000)}", ""]
        if spec.steps:
            out += ["| Outcome | Method | URL | Status | Time | Request |", "|---|---|---|---:|---:|---|"]
            for s in spec.steps:
                status = "-" if s.status is None else str(s.status)
                out.append(
                    f"| {self.outcome(s)} | {self.cell(s.method, 16)} | {self.cell(s.url, 500)} | {status} "
                    f"| {format_ms(s.elapsed_ms)} | {self.cell(s.name, 200)} |"
                )
            out.append("")
        out.append(f"_{counts_text(spec.steps, spec.duration_s)}_")
        out.append("")
        return out

    def details(self, step: StepResult) -> list[str]:
        lines = failure_lines(step)
        excerpt = body_excerpt(step.response, self.redactor, limit=500, max_lines=10)
        if excerpt:
            lines.append("response body (excerpt):")
            lines.append(excerpt)
        body = scrub("\n".join(lines), self.redactor, limit=8000)
        return [f"#### {self.outcome(step)}: {self.cell(step.name, 200)}", "", _fence(body), ""]

    def render(self, run: RunResult) -> str:
        if run.in_progress:
            status = [f"{IN_PROGRESS} **in progress**"]
        else:
            code = int(run.exit_code)
            icon = EMOJI[Outcome.PASS] if code == 0 else (EMOJI[Outcome.AUTH] if code == 3 else EMOJI[Outcome.FAIL])
            status = [f"{icon} exit code **{code}**"]
        if run.environment:
            status.append(f"environment **{self.cell(run.environment, 100)}**")
        if run.started_at:
            status.append(f"started {self.cell(run.started_at, 40)}")
        out = [f"## request-runner: {escape(summary_line(run))}", "", " \u00b7 ".join(status), ""]
        if run.in_progress:
            out += [f"> {IN_PROGRESS} **The run has not finished**: this summary was written while it was going "
                    "(or the run was killed); requests not finished are listed as skipped.", ""]
        if run.interrupted:
            out += [f"> **Interrupted by {self.cell(run.interrupted, 20)}**: only the requests that finished "
                    "are reported.", ""]
        for w in run.warnings:
            out += [f"> \u26a0\ufe0f **Warning:** {self.cell(w, 1000)}", ""]
        for spec in run.specs:
            out += self.table(spec)
        groups = group_auth(run.steps)
        if groups:
            out += ["### Authentication failures", ""]
            for text, _members in groups:
                out.append(f"- {EMOJI[Outcome.AUTH]} {self.cell(text, 1000)}")
            out.append("")
        bad = [s for s in run.steps if s.outcome in NOT_PASSING]
        if bad:
            out += ["### Failures", ""]
            for step in bad:
                out += self.details(step)
        return "\n".join(out).rstrip("\n") + "\n"


def render(run: RunResult, *, redactor: Redactor | None = None) -> str:
    return _Writer(redactor).render(run)


def chunks(run: RunResult, *, redactor: Redactor | None = None) -> Iterator[str]:
    """`render` as the one piece of text it is (a summary lists failures, not every request)."""
    yield render(run, redactor=redactor)
