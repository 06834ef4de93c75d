"""The console report, built on rich (the only `rich` importer in runner/report).

Two modes, chosen by the caller's `is_tty`:

* TTY: a live progress line with counts while requests run, a table per spec file
  when it finishes (name, method, URL folded when long, status, time, outcome), then
  the details of every request that did not pass and the summary.
* not a TTY (CI logs, pipes): plain, stable lines, no colour unless FORCE_COLOR says
  so, never wrapped. One line per request, fields separated by two spaces::

      OUTCOME  METHOD  URL  STATUS  TIME  NAME[  NOTE]

  OUTCOME is padded to 5 (PASS, FAIL, AUTH, ERROR, SKIP), METHOD to 6; STATUS and
  TIME are ``-`` when there is none; TIME is whole milliseconds (``12 ms``). NOTE is
  ``!! <why>`` for AUTH (the secret, its source, the server's error and the token
  notes), ``-- <first failure> (+N more)`` for FAIL and ERROR, ``-- <reason>`` for
  SKIP, and ``(token refreshed)``/``(N attempts)``/``-> <Location>`` for PASS::

      PASS   GET     http://127.0.0.1:8000/pets  200  12 ms  list pets
      AUTH   GET     http://127.0.0.1:8000/pets  401  5 ms  list pets  !! token 'pets_token' from env PETS_API_TOKEN rejected: invalid_token (The access token expired)

  A line ``== <spec path>`` precedes the requests of a spec file (again whenever
  another file's requests interleave, with --jobs), and ``== <spec path>: <counts> in
  T s`` follows it.

Both modes end with the details, the AUTH summary grouped by secret, the warnings,
and the last line ``N passed, N failed, N auth, N errors, N skipped in T s``.

Every string shown comes from a result, goes through `sanitize.scrub` (control
characters stripped, the Redactor's mask, `::` neutralised) and reaches rich as a
`rich.text.Text`, never as markup.

rich is imported only when something is drawn with it (a TTY, colour, a table, a tab to
expand): plain lines in a CI log are written as they are, and importing rich would be
a fifth of a one-request run's start-up.
"""

from __future__ import annotations

import functools
import os
import threading
from typing import IO, TYPE_CHECKING, Iterable, Mapping, Sequence

from ..redact import Redactor
from ..results import Outcome, RunResult, SpecResult, StepResult
from . import (
    auth_reason,
    body_excerpt,
    counts_text,
    curl_of,
    failure_lines,
    format_ms,
    group_auth,
    is_secret_failure,
    outcome_label,
    pluralise,
    summary_line,
)
from .sanitize import scrub

if TYPE_CHECKING:
    from rich.console import Console
    from rich.live import Live
    from rich.table import Table
    from rich.text import Text
    from rich.theme import Theme

__all__ = ["TerminalReporter", "Line", "theme", "color_enabled", "step_line"]

_STYLES = {
    "runner.pass": "bold green",
    "runner.fail": "bold red",
    "runner.auth": "bold white on magenta",
    "runner.auth.text": "bold magenta",
    "runner.error": "bold yellow",
    "runner.skip": "dim",
    "runner.warning": "bold yellow",
    "runner.header": "bold",
    "runner.muted": "dim",
    "runner.section": "bold underline",
}
_STYLE = {
    Outcome.PASS: "runner.pass",
    Outcome.FAIL: "runner.fail",
    Outcome.AUTH: "runner.auth",
    Outcome.ERROR: "runner.error",
    Outcome.SKIP: "runner.skip",
}
_NAME_LIMIT = 120
_NOTE_LIMIT = 300
_URL_LIMIT = 2000


@functools.lru_cache(maxsize=None)
def theme() -> Theme:
    """The console's named styles (runner.pass, runner.auth, ...) as a rich Theme."""
    from rich.theme import Theme

    return Theme(_STYLES)


class Line:
    """A line of styled pieces: what the reporter prints, without importing rich.

    `plain` is the text as a plain console shows it; `rich_text` builds the rich Text
    only when rich draws the line (TTY, colour, tabs to expand).
    """

    __slots__ = ("parts",)

    def __init__(self, text: str = "", style: str = "") -> None:
        self.parts: list[tuple[str, str]] = [(text, style)] if text else []

    def append(self, text: str, style: str = "") -> Line:
        self.parts.append((text, style))
        return self

    @property
    def plain(self) -> str:
        return "".join(text for text, _style in self.parts)

    def rich_text(self) -> Text:
        from rich.text import Text

        t = Text()
        for text, style in self.parts:
            t.append(text, style=style)
        return t


def color_enabled(environ: Mapping[str, str], is_tty: bool) -> bool:
    """Colour or not, from the environment (https://no-color.org, force-color.org).

    NO_COLOR (non-empty) always wins; then FORCE_COLOR (non-empty, and not "0" or
    "false") turns colour on even without a TTY; TERM=dumb turns it off; otherwise
    colour follows the TTY.
    """
    if environ.get("NO_COLOR", ""):
        return False
    force = environ.get("FORCE_COLOR", "")
    if force and force.strip().lower() not in ("0", "false", "no"):
        return True
    if environ.get("TERM", "") == "dumb":
        return False
    return is_tty


def _console_environ(environ: Mapping[str, str]) -> dict[str, str]:
    """The environment rich reads (COLUMNS, LINES, TERM, ...): the one this run was given.

    COLUMNS and LINES are kept only as plain positive whole numbers: rich takes `0`
    literally (a zero-wide console prints nothing) and fails on digits `int()` refuses
    (`²`); without them it asks the terminal, or uses 80x25.
    """
    return {k: v for k, v in environ.items()
            if k not in ("COLUMNS", "LINES") or (v.isascii() and v.isdigit() and int(v) > 0)}


def _label(step: StepResult) -> str:
    if step.outcome is Outcome.AUTH and step.status is None:
        return "AUTH secret" if is_secret_failure(step) else "AUTH"
    return outcome_label(step)


def _note(step: StepResult, redactor: Redactor | None) -> tuple[str, str]:
    """(text, style) of the NOTE column of a plain line."""
    if step.outcome is Outcome.AUTH:
        return "!! " + scrub(auth_reason(step), redactor, oneline=True, limit=_NOTE_LIMIT), "runner.auth.text"
    if step.outcome is Outcome.SKIP:
        return "-- " + scrub(step.skip_reason or "skipped", redactor, oneline=True, limit=_NOTE_LIMIT), "runner.skip"
    if step.outcome in (Outcome.FAIL, Outcome.ERROR):
        if not step.failures:
            return "", ""
        first = scrub(step.failures[0].message, redactor, oneline=True, limit=_NOTE_LIMIT)
        more = len(step.failures) - 1
        if more:
            first += f" (+{more} more)"
        return "-- " + first, _STYLE[step.outcome]
    notes = []
    if step.token_refreshed:
        notes.append("(token refreshed)")
    if step.attempts > 1:
        notes.append(f"({step.attempts} attempts)")
    if step.location:
        notes.append("-> " + scrub(step.location, redactor, oneline=True, limit=_URL_LIMIT))
    return " ".join(notes), "runner.muted"


def _step_parts(step: StepResult, redactor: Redactor | None) -> list[tuple[str, str]]:
    """(text, style) pieces of the plain line of a request; joined, they are the line."""
    status = "-" if step.status is None else str(step.status)
    parts = [
        (f"{step.outcome.value:<5}", _STYLE[step.outcome]),
        ("  " + f"{scrub(step.method, redactor, oneline=True, limit=16):<6}" + "  "
         + scrub(step.url, redactor, oneline=True, limit=_URL_LIMIT) + "  ", ""),
        (status, "runner.auth" if step.outcome is Outcome.AUTH and step.status else ""),
        ("  " + format_ms(step.elapsed_ms) + "  " + scrub(step.name, redactor, oneline=True, limit=_NAME_LIMIT), ""),
    ]
    note, style = _note(step, redactor)
    if note:
        parts.append(("  ", ""))
        parts.append((note, style))
    return parts


def step_line(step: StepResult, redactor: Redactor | None = None) -> Line:
    """The one stable plain line of a request (see the module docstring)."""
    line = Line()
    line.parts = _step_parts(step, redactor)
    return line


class TerminalReporter:
    """Console output for one run. Thread-safe: `step` may be called from --jobs workers."""

    def __init__(
        self,
        stream: IO[str],
        *,
        is_tty: bool,
        color: bool | None,
        verbosity: int = 0,
        width: int | None = None,
        redactor: Redactor,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        """`color=None` decides from `environ` (default os.environ) with `color_enabled`."""
        self.is_tty = bool(is_tty)
        env = os.environ if environ is None else environ
        self.color = color_enabled(env, self.is_tty) if color is None else bool(color)
        self.verbosity = verbosity
        self.redactor = redactor
        self._width = width
        self._environ = env
        self._console: Console | None = None
        # Plain mode without colour: lines are written as they are (already scrubbed and
        # masked), without rich's per-line rendering; rich keeps the TTY and colour modes.
        self._stream = stream
        self._fast = not self.is_tty and not self.color
        self._lock = threading.RLock()
        self._live: Live | None = None
        self._counts = {o: 0 for o in Outcome}
        self._last_spec: str | None = None
        self._last_step: str = ""
        self._warnings: list[str] = []

    @property
    def console(self) -> Console:
        """The rich Console, made on first use (a plain, colourless log never needs it)."""
        if self._console is None:
            from rich.console import Console

            self._console = Console(
                file=self._stream,
                force_terminal=self.is_tty or self.color,
                force_interactive=self.is_tty,
                no_color=not self.color,
                color_system="standard" if self.color else None,
                width=self._width,
                highlight=False,
                soft_wrap=False,
                markup=False,
                emoji=False,
                theme=theme(),
                log_path=False,
                _environ=_console_environ(self._environ),
            )
        return self._console

    # -- helpers ------------------------------------------------------------------
    def _s(self, text: object, **kw) -> str:
        return scrub(text, self.redactor, **kw)

    def _write_plain(self, text: str) -> None:
        """One plain line as rich would print it (no wrap, no colour): the text and a newline."""
        self._stream.write(text + "\n")
        self._stream.flush()

    def _print(self, *renderables) -> None:
        # Plain mode never wraps: one request, one line, however long (CI logs).
        if self._fast and len(renderables) == 1 and type(renderables[0]) is Line:
            plain = renderables[0].plain
            if "\t" not in plain:  # rich expands tabs; leave that to it
                self._write_plain(plain)
                return
        renderables = tuple(r.rich_text() if type(r) is Line else r for r in renderables)
        if self.is_tty:
            self.console.print(*renderables)
        else:
            self.console.print(*renderables, soft_wrap=True, crop=False, overflow="ignore")

    def _add_warnings(self, warnings: Iterable[str]) -> list[str]:
        new = []
        for w in warnings or ():
            text = self._s(w, oneline=True, limit=500)
            if text and text not in self._warnings:
                self._warnings.append(text)
                new.append(text)
        return new

    def _warning_text(self, text: str) -> Line:
        t = Line()
        t.append("WARNING", style="bold white on red" if self.color else "runner.warning")
        t.append(": ")
        t.append(text, style="runner.warning")
        return t

    # -- events --------------------------------------------------------------------
    def start(self, version: str, paths: Sequence[object], environment: str | None, warnings: Iterable[str]) -> None:
        with self._lock:
            n = len(paths)
            head = Line()
            head.append(f"request-runner {self._s(version, oneline=True, limit=40)}", style="runner.header")
            head.append(f" | {pluralise(n, 'spec file')}")
            if environment:
                head.append(f" | environment: {self._s(environment, oneline=True, limit=80)}")
            self._print(head)
            for w in self._add_warnings(warnings):
                self._print(self._warning_text(w))

    def step(self, result: StepResult) -> None:
        with self._lock:
            self._counts[result.outcome] += 1
            if self.is_tty:
                self._last_step = f"{self._s(result.method, oneline=True, limit=16)} " \
                                  f"{self._s(result.name, oneline=True, limit=60)}"
                self._update_live()
            else:
                if result.spec_path != self._last_spec:
                    self._last_spec = result.spec_path
                    self._print(Line("== " + self._s(result.spec_path, oneline=True, limit=500), style="runner.header"))
                self._print(step_line(result, self.redactor))
            curl = curl_of(result)
            if curl:
                self._print(Line("  $ " + self._s(curl, limit=20000).replace("\n", "\n    "), style="runner.muted"))
            if self.verbosity >= 2:
                for line in self._exchange_lines(result):
                    self._print(line)

    def spec_done(self, spec: SpecResult) -> None:
        with self._lock:
            if self.is_tty:
                self._print(self._table(spec))
                return
            path = self._s(spec.path, oneline=True, limit=500)
            if spec.error:
                t = Line()
                t.append("ERROR", style="runner.error")
                t.append(f"  {path}: {self._s(spec.error, oneline=True, limit=_NOTE_LIMIT)}")
                self._print(t)
                self._last_spec = None
                return
            self._print(Line(f"== {path}: {counts_text(spec.steps, spec.duration_s)}", style="runner.muted"))
            self._last_spec = None

    def close(self) -> None:
        """Stop the live progress line (idempotent). `finish` calls it; call it on error paths."""
        with self._lock:
            if self._live is not None:
                live, self._live = self._live, None
                live.stop()

    def finish(self, run: RunResult) -> None:
        with self._lock:
            self.close()
            self._add_warnings(run.warnings)
            details = [s for s in run.steps if s.outcome is not Outcome.PASS]
            errors = [s for s in run.specs if s.error]
            if details or errors:
                self._print(Line(""))
                self._print(Line("Details", style="runner.section"))
                for spec in errors:
                    self._print(self._spec_error(spec))
                for step in details:
                    self._print(Line(""))
                    for line in self._detail_lines(step):
                        self._print(line)
            groups = group_auth(run.steps)
            if groups:
                self._print(Line(""))
                self._print(Line("Authentication failures", style="runner.section"))
                for text, _members in groups:
                    t = Line("  ")
                    t.append("AUTH", style="runner.auth")
                    t.append(" " + self._s(text, oneline=True, limit=1000), style="runner.auth.text")
                    self._print(t)
            if self._warnings:
                self._print(Line(""))
                for w in self._warnings:
                    self._print(self._warning_text(w))
            if run.interrupted:
                self._print(Line(""))
                self._print(Line(f"Interrupted by {self._s(run.interrupted, oneline=True, limit=20)}: "
                                 "the report holds the requests that finished.", style="runner.warning"))
            self._print(Line(""))
            self._print(self._summary(run))

    # -- pieces --------------------------------------------------------------------
    def _summary(self, run: RunResult) -> Line:
        line = summary_line(run)
        c = run.counts()
        if c[Outcome.AUTH]:
            style = "runner.auth"
        elif c[Outcome.FAIL] or c[Outcome.ERROR] or any(s.error for s in run.specs):
            style = "runner.fail"
        else:
            style = "runner.pass"
        return Line(line, style=style)

    def _update_live(self) -> None:
        from rich.live import Live
        from rich.text import Text

        c = self._counts
        t = Text()
        t.append(f"running: {sum(c.values())} done  ")
        t.append(f"{c[Outcome.PASS]} passed", style="runner.pass")
        t.append(", ")
        t.append(f"{c[Outcome.FAIL]} failed", style="runner.fail" if c[Outcome.FAIL] else "")
        t.append(", ")
        t.append(f"{c[Outcome.AUTH]} auth", style="runner.auth" if c[Outcome.AUTH] else "")
        t.append(", ")
        t.append(f"{c[Outcome.ERROR]} errors", style="runner.error" if c[Outcome.ERROR] else "")
        t.append(f", {c[Outcome.SKIP]} skipped  ")
        t.append(self._last_step, style="runner.muted")
        t.no_wrap = True
        t.overflow = "ellipsis"
        if self._live is None:
            self._live = Live(t, console=self.console, auto_refresh=False, transient=True,
                              redirect_stdout=False, redirect_stderr=False)
            self._live.start(refresh=True)
        else:
            self._live.update(t, refresh=True)

    def _table(self, spec: SpecResult) -> Table:
        from rich.table import Table
        from rich.text import Text

        title = Text()
        title.append(self._s(spec.name, oneline=True, limit=200), style="runner.header")
        title.append(f"  {self._s(spec.path, oneline=True, limit=300)}", style="runner.muted")
        table = Table(title=title, title_justify="left", expand=False, show_edge=False, pad_edge=False)
        table.add_column("Request", overflow="fold", ratio=2)
        table.add_column("Method", no_wrap=True)
        table.add_column("URL", overflow="fold", ratio=3)
        table.add_column("Status", justify="right", no_wrap=True)
        table.add_column("Time", justify="right", no_wrap=True)
        table.add_column("Outcome", no_wrap=True)
        for s in spec.steps:
            row_style = "runner.auth.text" if s.outcome is Outcome.AUTH else None
            table.add_row(
                Text(self._s(s.name, oneline=True, limit=_NAME_LIMIT)),
                Text(self._s(s.method, oneline=True, limit=16)),
                Text(self._s(s.url, oneline=True, limit=_URL_LIMIT)),
                Text("-" if s.status is None else str(s.status)),
                Text(format_ms(s.elapsed_ms)),
                Text(f" {_label(s)} ", style=_STYLE[s.outcome]),
                style=row_style,
            )
        if spec.error:
            table.add_row(Text(self._s(spec.error, oneline=True, limit=_NOTE_LIMIT)), "", "", "", "",
                          Text(" ERROR ", style="runner.error"))
        table.caption = Text(counts_text(spec.steps, spec.duration_s), style="runner.muted")
        table.caption_justify = "left"
        return table

    def _spec_error(self, spec: SpecResult) -> Line:
        t = Line()
        t.append("ERROR", style="runner.error")
        t.append("  " + self._s(spec.path, oneline=True, limit=500) + ": ")
        t.append(self._s(spec.error, limit=2000))
        return t

    def _detail_lines(self, step: StepResult) -> list[Line]:
        head = Line()
        head.append(f" {_label(step)} " if self.color else _label(step), style=_STYLE[step.outcome])
        head.append("  " + self._s(step.name, oneline=True, limit=_NAME_LIMIT), style="runner.header")
        out = [head]
        reason = auth_reason(step) if step.outcome is Outcome.AUTH else None
        for entry in failure_lines(step):
            style = "runner.auth.text" if reason is not None and entry == reason else ""
            text = self._s(entry, limit=4000)
            out.append(Line("\n".join("  " + line for line in text.split("\n")), style=style))
        verbose = self.verbosity >= 1
        if step.response is not None and self.verbosity < 2:
            if verbose:
                out.extend(self._exchange_lines(step, with_body=False))
            excerpt = body_excerpt(step.response, self.redactor, limit=2000 if verbose else 300,
                                   max_lines=40 if verbose else 6)
            if excerpt:
                out.append(Line("  body: " + excerpt.replace("\n", "\n        "), style="runner.muted"))
        return out

    def _exchange_lines(self, step: StepResult, *, with_body: bool = True) -> list[Line]:
        """-v / -vv: request and response headers (masked) and a bounded body excerpt."""
        out: list[Line] = []
        req = step.request
        if req is not None:
            out.append(Line(f"  > {self._s(req.method, oneline=True, limit=16)} "
                            f"{self._s(req.url, oneline=True, limit=_URL_LIMIT)}", style="runner.muted"))
            for k, v in req.headers:
                out.append(Line(f"  > {self._s(k, oneline=True, limit=200)}: {self._s(v, oneline=True, limit=1000)}",
                                style="runner.muted"))
            if with_body and req.body_excerpt:
                out.append(Line("  > " + self._s(req.body_excerpt, limit=2000, max_lines=40).replace("\n", "\n  > "),
                                style="runner.muted"))
        resp = step.response
        if resp is not None:
            out.append(Line(f"  < {resp.status} {self._s(resp.reason, oneline=True, limit=200)}", style="runner.muted"))
            for k, v in resp.headers:
                out.append(Line(f"  < {self._s(k, oneline=True, limit=200)}: {self._s(v, oneline=True, limit=1000)}",
                                style="runner.muted"))
            if with_body:
                excerpt = body_excerpt(resp, self.redactor, limit=2000, max_lines=40)
                if excerpt:
                    out.append(Line("  < " + excerpt.replace("\n", "\n  < "), style="runner.muted"))
        return out
