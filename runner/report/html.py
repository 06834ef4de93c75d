"""The HTML report (`--html FILE`): one self-contained page that opens offline from a CI artifact.

    <head>    a strict Content-Security-Policy (nothing is fetched; the one <style> and the
              one <script> are allowed by their sha256 only), the inline CSS
    <header>  the state (in progress, or the exit code), counts by outcome, environment,
              version, start time, duration; warnings; AUTH failures grouped by secret;
              the spec files with their counts (and why a file could not run)
    <main>    one <details> per request, failures first: the summary line (outcome, method,
              name, URL, status, time as a bar on the run's shared time axis) and inside it
              the spec file:line, the 401 diagnosis card, failures with expected vs actual,
              every expectation, masked request and response headers, body excerpts, curl
    <script>  filter by outcome, search by name or URL, failures first or file order

Readable without JavaScript: everything is in the markup; the script only hides and
reorders rows. Every text from a server or a spec goes through `scrub` (controls and bidi
overrides dropped, secrets masked) and then `html.escape`, and only ever lands in element
text or a quoted attribute: never a link, a style or a script. The page carries no inline
data: the only <script> is the static asset beside this module, so nothing a server
sends can close it, and the CSP hash would refuse any other script even if it did.

Size stays bounded at 10,000 requests: bodies, headers and curl commands share one
character budget, spent in page order (failures first); past it they are left out with a
note (the JSON report keeps them).
"""

from __future__ import annotations

import base64
import hashlib
import html
from importlib import resources
from typing import Iterable, Iterator

from ..errors import ExitCode
from ..redact import Redactor
from ..results import NOT_PASSING, CheckResult, Failure, Outcome, RunResult, SpecResult, StepResult
from . import (
    OUTCOME_ORDER,
    auth_reason,
    body_excerpt,
    counts_text,
    curl_of,
    diagnosis_lines,
    finite,
    format_ms,
    group_auth,
    is_secret_failure,
    location_of,
    not_checked_text,
    outcome_label,
    pluralise,
    summary_line,
)
from .sanitize import scrub

__all__ = ["BULK_BUDGET", "chunks", "content_security_policy", "render"]

# Characters of bodies, headers and curl commands in one page: most for the requests that
# did not pass (shown first), a smaller share for the others.
BULK_BUDGET = 6_000_000
BULK_BUDGET_PASSING = 1_000_000
_EXCERPT = 2000
_EXCERPT_LINES = 40
_SHORT = 500
_LONG = 4000
_URL = 2000
_WORDS = {
    Outcome.PASS: "passed", Outcome.FAIL: "failed", Outcome.AUTH: "auth",
    Outcome.ERROR: "errors", Outcome.SKIP: "skipped",
}
_EXIT_MEANING = {
    ExitCode.OK: "every request passed",
    ExitCode.CHECK_FAILED: "a check failed",
    ExitCode.CREDENTIALS: "credentials: a secret could not be resolved or a token was refused",
    ExitCode.TRANSPORT: "transport: a request could not complete",
    ExitCode.INTERNAL: "an internal error, a bug in request-runner",
    ExitCode.SIGINT: "interrupted (SIGINT)",
    ExitCode.SIGTERM: "interrupted (SIGTERM)",
}
# Bar widths as classes: a style attribute would need 'unsafe-inline' in the CSP.
_WIDTHS = "".join(f".w{i}::before{{width:{i}%}}" for i in range(101))


def _asset(name: str) -> str:
    return resources.files(__package__).joinpath("assets", name).read_text(encoding="utf-8")


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode() + "'"


def content_security_policy(style: str, script: str) -> str:
    """No network at all; only this exact style sheet and script may apply or run."""
    return (f"default-src 'none'; style-src {_sha256(style)}; script-src {_sha256(script)}; "
            "img-src 'none'; base-uri 'none'; form-action 'none'")


def _escape(text: str) -> str:
    """`html.escape`, and the line and paragraph separators as references (they break lines
    in some viewers and, pasted into a script, end a string in older engines)."""
    out = html.escape(text, quote=True)
    if not out.isprintable():
        out = out.replace("\u2028", "&#x2028;").replace("\u2029", "&#x2029;")
    return out


def _cls(outcome: Outcome) -> str:
    return outcome.value.lower()


def _failures_first(steps: Iterable[StepResult]) -> list[tuple[int, StepResult]]:
    """(file order, step): requests that did not pass first, then the others, each in file order."""
    numbered = list(enumerate(steps))
    return [p for p in numbered if p[1].outcome in NOT_PASSING] + [p for p in numbered
                                                                    if p[1].outcome not in NOT_PASSING]


class _Page:
    def __init__(self, run: RunResult, redactor: Redactor | None) -> None:
        self.run = run
        self.redactor = redactor
        self.budgets = {True: BULK_BUDGET, False: BULK_BUDGET_PASSING}  # keyed by "did not pass"
        self.failing = True
        self.left_out = False  # something of the current row did not fit the budget
        self.scale = max((finite(s.elapsed_ms) or 0.0 for s in run.steps), default=0.0)

    # ----- text --------------------------------------------------------------------------

    def e(self, value: object, limit: int | None = _SHORT, *, oneline: bool = False) -> str:
        """Untrusted text, made safe for HTML element text and quoted attributes."""
        return _escape(scrub(value, self.redactor, limit=limit, oneline=oneline))

    def bulk(self, text: str | None) -> str | None:
        """Spend the page's budget on a bulky text; None once it is spent."""
        if text is None:
            return None
        left = self.budgets[self.failing]
        if len(text) > left:
            self.budgets[self.failing] = 0
            self.left_out = True
            return None
        self.budgets[self.failing] = left - len(text)
        return text

    # ----- page --------------------------------------------------------------------------

    def render(self) -> Iterator[str]:
        """The page in pieces, a request at a time (never the whole page in one string)."""
        run = self.run
        style = _asset("report.css") + _WIDTHS
        script = _asset("report.js")
        title = ("in progress: " if run.in_progress else "") + summary_line(run)
        yield "".join([
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n",
            f'<meta http-equiv="Content-Security-Policy" content="{content_security_policy(style, script)}">\n',
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n',
            '<meta name="referrer" content="no-referrer">\n<meta name="color-scheme" content="light dark">\n',
            f"<title>request-runner: {self.e(title, 300, oneline=True)}</title>\n",
            f"<style>{style}</style>\n</head>\n<body>\n",
            self.header(),
        ])
        yield from self.requests()
        yield (f'<footer>request-runner {self.e(run.version, 100, oneline=True)}</footer>\n'
               f"<script>{script}</script>\n</body>\n</html>\n")

    def header(self) -> str:
        run = self.run
        counts = run.counts()
        out = ["<header>\n<h1>request-runner report</h1>\n", self.state(), '<ul class="counts">']
        for o in OUTCOME_ORDER:
            out.append(f'<li class="o-{_cls(o)}"><b>{counts[o]}</b>{_WORDS[o]}</li>')
        out.append("</ul>\n<p class=\"meta\">")
        meta = [("environment", self.e(run.environment or "(none)", 200, oneline=True)),
                ("version", self.e(run.version or "?", 100, oneline=True)),
                ("started", self.e(run.started_at or "?", 64, oneline=True)),
                ("duration", f"{finite(run.duration_s) or 0.0:.2f} s"),
                ("requests", str(sum(counts.values()))),
                ("spec files", str(len(run.specs)))]
        out.extend(f"<span>{label} <b>{value}</b></span>" for label, value in meta)
        out.append("</p>\n")
        for warning in run.warnings:
            out.append(f'<p class="note">Warning: {self.e(warning, _LONG)}</p>\n')
        groups = group_auth(run.steps)
        if groups:
            out.append('<div class="note auth"><b>Authentication failures</b>')
            out.extend(f"<p>{self.e(text, _LONG)}</p>" for text, _members in groups)
            out.append("</div>\n")
        out.append(self.files())
        out.append("</header>\n")
        return "".join(out)

    def state(self) -> str:
        run = self.run
        if run.in_progress:
            return ('<p class="state running">In progress: the run has not finished (or was killed). This page '
                    "is rewritten as requests finish; reload it to see more. Requests not finished are listed "
                    "as skipped.</p>\n")
        code = run.exit_code
        meaning = _EXIT_MEANING.get(code, "")
        kind = "ok" if code is ExitCode.OK else ("authbad" if code is ExitCode.CREDENTIALS else "bad")
        text = f"Finished: exit code {int(code)}" + (f" ({meaning})" if meaning else "")
        if run.internal_error:
            text += f": {scrub(run.internal_error, self.redactor, limit=200, oneline=True)}"
        if run.interrupted:
            text += ". Only the requests that finished are reported"
        return f'<p class="state {kind}">{html.escape(text)}</p>\n'

    def files(self) -> str:
        run = self.run
        out = ['<h2>Spec files</h2>\n<table class="files"><thead><tr><th>File</th><th>Name</th>'
               "<th>Results</th><th>Time</th></tr></thead><tbody>\n"]
        for spec in run.specs:
            results = self.e(counts_text(spec.steps, spec.duration_s), 200)
            if spec.error:
                results = f'<span class="o-error">could not run: {self.e(spec.error, _LONG)}</span>'
            out.append(f'<tr><td class="mono">{self.e(spec.path, _LONG)}</td><td>{self.e(spec.name, _SHORT)}</td>'
                       f"<td>{results}</td><td class=\"n\">{finite(spec.duration_s) or 0.0:.2f} s</td></tr>\n")
        out.append("</tbody></table>\n")
        return "".join(out)

    # ----- the list of requests ------------------------------------------------------------

    def requests(self) -> Iterator[str]:
        run = self.run
        counts = run.counts()
        out = ["<main>\n<h2>Requests</h2>\n", '<div id="controls" class="controls" hidden>',
               '<div role="group" aria-label="Filter by outcome">']
        for o in OUTCOME_ORDER:
            disabled = "" if counts[o] else " disabled"
            out.append(f'<button type="button" class="chip {_cls(o)}" data-o="{o.value}" aria-pressed="true"'
                       f"{disabled}>{o.value} {counts[o]}</button> ")
        out.append('</div><input id="q" type="search" placeholder="Search by name or URL" '
                   'aria-label="Search by name or URL" autocomplete="off">'
                   '<label>Order <select id="order"><option value="failures">failures first</option>'
                   '<option value="file">file order</option></select></label>'
                   '<span id="shown" class="muted" aria-live="polite"></span></div>\n')
        half = format_ms(self.scale / 2) if self.scale else ""
        out.append('<div class="head" aria-hidden="true"><span></span><span>Outcome</span><span>Method</span>'
                   "<span>Request</span><span>URL</span><span>Status</span>"
                   f'<span class="axis"><span>0</span><span>{half}</span><span>{format_ms(self.scale)}</span></span>'
                   "</div>\n<div id=\"list\">\n")
        yield "".join(out)
        out = []
        specs = {spec.path: spec for spec in run.specs}
        for number, step in _failures_first(run.steps):
            yield self.row(number, step, specs.get(step.spec_path))
        out.append("</div>\n")
        if not run.steps:
            out.append('<p class="empty">No request has finished.</p>\n')
        out.append('<p id="none-shown" class="empty" hidden>No request matches the filter.</p>\n</main>\n')
        yield "".join(out)

    def row(self, number: int, step: StepResult, spec: SpecResult | None) -> str:
        c = _cls(step.outcome)
        status = "-" if step.status is None else str(int(step.status))
        ms = finite(step.elapsed_ms)
        width = 0 if not ms or not self.scale else max(1, round(100 * ms / self.scale))
        return (
            f'<details class="r {c}" id="r{number}" data-o="{step.outcome.value}"><summary>'
            f"<b>{html.escape(outcome_label(step))}</b>"
            f'<span class="m">{self.e(step.method, 16, oneline=True)}</span>'
            f'<span class="n">{self.e(step.name, _SHORT, oneline=True)}</span>'
            f'<span class="u">{self.e(step.url, _URL, oneline=True)}</span>'
            f'<span class="s">{status}</span>'
            f'<span class="t"><i class="w{width}"></i><em>{format_ms(ms)}</em></span>'
            f"</summary>\n{self.details(step, spec)}</details>\n"
        )

    def details(self, step: StepResult, spec: SpecResult | None) -> str:
        self.failing = step.outcome in NOT_PASSING
        self.left_out = False
        out = ['<div class="d">', self.where(step, spec)]
        if step.outcome is Outcome.SKIP:
            out.append(f'<p class="o-skip">Skipped: {self.e(step.skip_reason or "no reason given", _LONG)}</p>')
        if step.auth is not None or step.outcome is Outcome.AUTH:
            out.append(self.auth_card(step))
        if step.outcome is not Outcome.AUTH and step.failures:
            out.append(self.failures(step.failures, step))
        if step.location:
            out.append(f'<p>Redirect not followed: Location <span class="mono">{self.e(step.location, _URL)}</span></p>')
        if step.checks:
            out.append(self.checks(step.checks, step.span.line if step.span is not None else None))
        out.append(self.exchange(step))
        curl = self.bulk(self.e(curl_of(step), 20_000)) if curl_of(step) else None
        if curl:
            out.append(f"<h4>curl</h4><pre>{curl}</pre>")
        if self.left_out:
            out.append('<p class="muted">Some headers and bodies are left out: this page is at its size budget '
                       "(the JSON report keeps them).</p>")
        out.append("</div>\n")
        return "".join(out)

    def where(self, step: StepResult, spec: SpecResult | None) -> str:
        parts = [f'<span class="mono">{self.e(location_of(step) or step.spec_path, _LONG)}</span>']
        if step.span is not None and step.span.path != step.spec_path:
            parts.append(f'in <span class="mono">{self.e(step.spec_path, _LONG)}</span>')
        if spec is not None and spec.name:
            parts.append(self.e(spec.name, _SHORT))
        if step.tags:
            parts.append("tags " + ", ".join(self.e(t, 100) for t in step.tags))
        if step.attempts > 1:
            parts.append(f"{int(step.attempts)} attempts")
        if step.token_refreshed:
            parts.append("token refreshed")
        return '<p class="muted">' + " \u00b7 ".join(parts) + "</p>"

    def auth_card(self, step: StepResult) -> str:
        is_auth = step.outcome is Outcome.AUTH
        if not is_auth:
            title = "Credential"
        elif is_secret_failure(step):
            title = "Credential not resolved: nothing was sent"
        else:
            title = f"{step.status or 401} diagnosis"
        out = [f'<div class="card{" auth" if is_auth else ""}"><h4>{html.escape(title)}</h4>']
        if is_auth:
            out.append(f'<p class="why">{self.e(auth_reason(step), _LONG)}</p>')
        rows = diagnosis_lines(step)
        if rows:
            out.append("<dl>" + "".join(f"<dt>{html.escape(label)}</dt><dd>{self.e(value, _LONG)}</dd>"
                                        for label, value in rows) + "</dl>")
        unchecked = not_checked_text(step)
        if unchecked:
            out.append(f'<p class="muted">Not checked: {html.escape(unchecked)}</p>')
        out.append("</div>")
        return "".join(out)

    def failures(self, failures: Iterable[Failure], step: StepResult) -> str:
        kind = "error" if step.outcome is Outcome.ERROR else "fail"
        out = [f'<div class="card {kind}">']
        for f in failures:
            out.append(f'<p class="why">{self.e(f.message, _LONG)}</p><dl>')
            if f.expected is not None:
                out.append(f'<dt>expected</dt><dd class="v">{self.e(f.expected, _LONG)}</dd>')
            if f.actual is not None:
                out.append(f'<dt>actual</dt><dd class="v">{self.e(f.actual, _LONG)}</dd>')
            if f.span is not None and f.span != step.span:
                out.append(f'<dt>at</dt><dd class="mono">{self.e(f.span.location(), _LONG)}</dd>')
            if f.hint:
                out.append(f"<dt>hint</dt><dd>{self.e(f.hint, _LONG)}</dd>")
            out.append("</dl>")
        out.append("</div>")
        return "".join(out)

    def checks(self, checks: tuple[CheckResult, ...], step_line: int | None) -> str:
        if all(c.checked and c.passed for c in checks):
            # A list, not a table: most rows of a big run pass, and every element costs load time.
            items = "".join(f"<li>{self.e(c.subject)}: {self.e(c.expected, _LONG)}"
                            + ("" if c.actual == c.expected else f" (got {self.e(c.actual, _LONG)})") + "</li>"
                            for c in checks)
            return f'<h4>Expectations</h4><ul class="passed">{items}</ul>'
        out = ['<h4>Expectations</h4><table class="checks"><tr><th></th><th>Expectation</th>'
               "<th>Expected</th><th>Actual</th></tr>"]
        for c in checks:
            actual = c.actual
            if not c.checked:
                cls, mark, actual = "nc", "\u2013", c.actual or "(not checked)"
            elif c.passed:
                cls, mark = "ok", "\u2713"
            else:
                cls, mark = "bad", "\u2717"
            line = (f' <span class="muted">line {int(c.span.line)}</span>'
                    if c.span is not None and c.span.line != step_line else "")
            out.append(f'<tr class="{cls}"><td>{mark}</td><td>{self.e(c.subject)}{line}</td>'
                       f"<td>{self.e(c.expected, _LONG)}</td><td>{self.e(actual, _LONG)}</td></tr>")
        out.append("</table>")
        return "".join(out)

    def headers(self, pairs: tuple[tuple[str, str], ...]) -> str:
        if not self.budgets[self.failing]:
            self.left_out = self.left_out or bool(pairs)
            return ""
        rows = "".join(f"<tr><th>{self.e(k, 200)}</th><td>{self.e(v, _LONG)}</td></tr>" for k, v in pairs)
        if not rows:
            return ""
        return self.bulk(f'<table class="hdrs">{rows}</table>') or ""

    def exchange(self, step: StepResult) -> str:
        out = []
        req = step.request
        if req is not None:
            shown = "" if (req.method, req.url) == (step.method, step.url) else (
                f'<p class="mono">{self.e(req.method, 16)} {self.e(req.url, _URL)}</p>')
            shown += self.headers(req.headers)
            if req.body_excerpt:
                body = self.bulk(self.e(req.body_excerpt, _EXCERPT))
                shown += f"<pre>{body}</pre>" if body is not None else ""
            if shown:
                out.append(f"<h4>Request</h4>{shown}")
        res = step.response
        if res is not None:
            size = res.size or len(res.body)
            facts = [f"{pluralise(size, 'byte')}"] + (["truncated"] if res.truncated else [])
            out.append(f"<h4>Response</h4><p>{int(res.status)} {self.e(res.reason, 200, oneline=True)} \u00b7 "
                       f'{format_ms(res.elapsed_ms)} \u00b7 {", ".join(facts)}</p>')
            out.append(self.headers(res.headers))
            excerpt = None
            if res.body and not self.budgets[self.failing]:
                self.left_out = True
            else:
                excerpt = body_excerpt(res, self.redactor, limit=_EXCERPT, max_lines=_EXCERPT_LINES)
            if excerpt:
                body = self.bulk(_escape(excerpt))
                out.append(f"<pre>{body}</pre>" if body is not None else "")
        return "".join(out)


def render(run: RunResult, *, redactor: Redactor | None = None) -> str:
    """The report as one HTML document (UTF-8 text)."""
    return "".join(_Page(run, redactor).render())


def chunks(run: RunResult, *, redactor: Redactor | None = None) -> Iterator[str]:
    """The text of `render`, a request at a time."""
    return _Page(run, redactor).render()
