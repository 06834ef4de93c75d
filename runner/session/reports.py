"""Report files kept up to date while a run goes: written atomically, first right after
loading, then after finished requests at most every REPORT_INTERVAL_S, last at the end.

A report writer is one function, `chunks(run, *, redactor) -> Iterable[str]` (see
`runner.report.writer`): the text in pieces, each masked and written as it comes, so a
10,000-request report is never one string in memory. A `ReportFile` pairs it with a
path. Adding a format is adding a writer: the run object does the rest (pacing, atomic
writes, "in progress" snapshots, failures reported once).
"""

from __future__ import annotations

import errno
import os
import stat
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Protocol, Sequence

from ..redact import Redactor
from ..results import RunResult

__all__ = ["ReportFile", "ReportFiles", "ReportWriter", "REPORT_INTERVAL_S", "write_atomic"]

REPORT_INTERVAL_S = 0.25  # report files are rewritten after a finished request, at most this often


class ReportWriter(Protocol):
    def __call__(self, run: RunResult, *, redactor: Redactor | None = None) -> Iterable[str]: ...


@dataclass(frozen=True)
class ReportFile:
    """A report file asked for, and the function that renders it."""

    path: str
    render: ReportWriter


class ReportFiles:
    """Writes the report files of one run and remembers which could not be written.

    `failures` collects `(path, reason)` once per path, for the console to show; the
    run goes on, and a file missing at the end makes the exit code 2 (CI would
    otherwise read stale or no results).
    """

    def __init__(self, files: Sequence[ReportFile], redactor: Redactor, step_summary: str | None = None) -> None:
        self.files = tuple(files)
        self.redactor = redactor
        self.step_summary = step_summary
        self.failures: list[tuple[str, str]] = []
        self.final_failed = False
        self._failed_paths: set[str] = set()
        self._dirty = False
        self._last = 0.0
        self._interval = REPORT_INTERVAL_S

    def write(self, run: RunResult) -> None:
        final = not run.in_progress
        began = time.monotonic()
        for report in self.files:
            try:
                write_atomic(report.path, map(self.redactor.mask, report.render(run, redactor=self.redactor)))
            except OSError as exc:
                self._failed(report.path, exc, final)
        if final and self.step_summary:
            from ..report import markdown

            try:
                with open(self.step_summary, "a", encoding="utf-8") as fh:
                    fh.write(self.redactor.mask(markdown.render(run, redactor=self.redactor)) + "\n")
            except OSError as exc:
                self._failed(self.step_summary, exc, final)
        self._last = time.monotonic()
        # A rewrite that costs more (a huge run) spaces the next ones out: keeping the
        # reports current never takes more than about a fifth of the run's time.
        self._interval = max(REPORT_INTERVAL_S, 4 * (self._last - began))
        self._dirty = False

    def changed(self, snapshot: Callable[[], RunResult]) -> None:
        """Something finished: rewrite now if the last write is old enough, else soon."""
        if not self.files:
            return
        self._dirty = True
        if time.monotonic() - self._last >= self._interval:
            self.write(snapshot())

    def due(self, snapshot: Callable[[], RunResult]) -> None:
        if self._dirty and time.monotonic() - self._last >= self._interval:
            self.write(snapshot())

    def wait_s(self) -> float:
        """How long the run may wait for news before a pending rewrite is due."""
        if not self._dirty:
            return 0.2
        return max(0.0, self._last + self._interval - time.monotonic())

    def _failed(self, path: str, exc: OSError, final: bool) -> None:
        if path not in self._failed_paths:
            self._failed_paths.add(path)
            self.failures.append((path, exc.strerror or type(exc).__name__))
        if final:
            self.final_failed = True


def write_atomic(path: str, text: str | Iterable[str]) -> None:
    """Write to a temporary file beside `path`, then rename: readers never see half a report.
    `text` is a string or its pieces, written as they come."""
    target = Path(path)
    if target.parent and not target.parent.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists() and not stat.S_ISREG(target.stat().st_mode):
        # an OSError, like any other failed write: the run goes on and says so once (exit 2)
        raise OSError(errno.EISDIR if target.is_dir() else errno.EINVAL, "not a regular file")
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            if isinstance(text, str):
                fh.write(text)
            else:
                fh.writelines(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)  # never leave a half-written temporary file behind
        raise
