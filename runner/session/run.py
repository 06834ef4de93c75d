"""The run object: load, then run every spec file over worker threads, and yield what happens.

    run = Run(settings, environ=os.environ)
    for event in run.events():      # RunStarted, StepDone..., SpecDone, ..., RunDone
        ...

Events come in file order whatever `jobs` is (a file's steps as they finish, then its
SpecDone), so every consumer (the console, the library API, the pytest plugin) sees one
stable story. The run object owns what must happen whoever consumes it: signals (when
asked), secrets resolved once, report files kept up to date, and a final RunResult even
after a stop or a bug. It prints nothing.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable, Iterator, Mapping, Union

from .. import __version__
from ..errors import ExitCode
from ..redact import Redactor
from ..results import NOT_PASSING, RunResult, SpecResult, StepResult
from .context import NOT_FINISHED, RunContext, unfinished
from .loading import load_run
from .reports import ReportFiles
from .settings import RunSettings
from .signals import SignalHandling, StopLoading

__all__ = ["Run", "RunEvent", "RunStarted", "StepDone", "SpecDone", "ReportFailed", "RunDone"]

STOP_GRACE_S = 0.5  # after a stop, how long requests in flight may still finish
PACE_S = 0.02  # after a batch of results, how long the driving thread lets the next ones gather
CRASHED = "not run: the run stopped on an internal error"


@dataclass(frozen=True)
class RunStarted:
    """Every file loaded; nothing sent yet."""

    paths: tuple[str, ...]
    environment: str | None
    warnings: tuple[str, ...]
    notes: tuple[str, ...]  # one-line remarks for the console (an overridden --env base_url)


@dataclass(frozen=True)
class StepDone:
    """A request finished (in file order)."""

    step: StepResult


@dataclass(frozen=True)
class SpecDone:
    """A spec file finished."""

    spec: SpecResult


@dataclass(frozen=True)
class ReportFailed:
    """A report file could not be written (said once per file; the run goes on)."""

    path: str
    reason: str


@dataclass(frozen=True)
class RunDone:
    """The run ended: its result and the exit code."""

    result: RunResult
    exit_code: int  # the result's, or 2 when a report file could not be written at the end


RunEvent = Union[RunStarted, StepDone, SpecDone, ReportFailed, RunDone]


class Run:
    def __init__(
        self,
        settings: RunSettings,
        *,
        environ: Mapping[str, str] | None = None,
        redactor: Redactor | None = None,
        handle_signals: bool = False,
        on_secret_resolved: Callable[[str], None] | None = None,
    ) -> None:
        self.settings = settings
        self.environ = dict(os.environ if environ is None else environ)
        self.redactor = redactor if redactor is not None else Redactor()
        for value in settings.secrets.values():
            self.redactor.add(value)
        self.handle_signals = handle_signals
        self.on_secret_resolved = on_secret_resolved
        self.result: RunResult | None = None
        self.exit_code: int | None = None

    def __repr__(self) -> str:
        return f"Run(paths={self.settings.paths!r}, env={self.settings.env!r})"

    def events(self) -> Iterator[RunEvent]:
        """Load and run; raises SpecError/UsageError before anything is sent (exit 2)."""
        started = time.monotonic()
        started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        stop = threading.Event()
        signals = SignalHandling(stop)
        reports = ReportFiles(self.settings.reports, self.redactor, self.settings.step_summary)
        try:
            if self.handle_signals:  # before loading: a signal while a large tree loads still writes reports
                signals.install()
            try:
                loaded = load_run(self.settings, environ=self.environ)
                signals.loading = False
            except StopLoading:
                signals.loading = False
                result = RunResult(specs=(), duration_s=time.monotonic() - started, version=__version__,
                                   environment=self.settings.env, interrupted=signals.received, started_at=started_at)
                reports.write(result)
                yield from self._done(result, reports, 0)
                return
            ctx = RunContext(loaded, self.settings, environ=self.environ, redactor=self.redactor, stop=stop,
                             on_secret_resolved=self.on_secret_resolved)
            try:
                note = ctx.base_url_note(self.settings.env)
                yield RunStarted(tuple(s.path for s in ctx.specs), self.settings.env, tuple(ctx.warnings),
                                 (note,) if note else ())
                drive = _Drive(ctx, self.settings, signals, reports, started, started_at)
                for event in drive.events():
                    if isinstance(event, RunDone):
                        self.result, self.exit_code = event.result, event.exit_code
                    yield event
            finally:
                ctx.close()
        finally:
            stop.set()  # a consumer that stops early stops the workers too
            signals.restore()

    def _done(self, result: RunResult, reports: ReportFiles, reported: int) -> Iterator[RunEvent]:
        for path, reason in reports.failures[reported:]:
            yield ReportFailed(path, reason)
        code = result.exit_code
        if reports.final_failed and code not in (ExitCode.SIGINT, ExitCode.SIGTERM):
            code = ExitCode.USAGE
        self.result, self.exit_code = result, int(code)
        yield RunDone(result, int(code))


class _Progress:
    """One spec file while the run goes on (touched by the driving thread only)."""

    __slots__ = ("steps", "result", "started", "emitted")

    def __init__(self) -> None:
        self.steps: list[StepResult] = []
        self.result: SpecResult | None = None
        self.started = False
        self.emitted = 0  # steps already yielded


class _Drive:
    """Workers post what happens on a queue; the driving thread keeps the books, yields
    events in file order and keeps the reports current. Workers never wait for it."""

    def __init__(self, ctx: RunContext, settings: RunSettings, signals: SignalHandling, reports: ReportFiles,
                 started: float, started_at: str) -> None:
        self.ctx = ctx
        self.settings = settings
        self.signals = signals
        self.reports = reports
        self.started = started
        self.started_at = started_at
        self.progress = [_Progress() for _ in ctx.specs]
        self.queue: queue.SimpleQueue = queue.SimpleQueue()  # no task counting or size limit: the cheap one
        self.failed_fast = threading.Event()
        self.file_done = threading.Event()  # set by a worker as a file ends: ends the pause at once
        self.remaining = len(ctx.specs)
        self.crash: BaseException | None = None
        self._next = 0  # the first file not fully yielded
        self._reported = 0  # report failures already yielded

    # -- workers (any thread)
    def work(self, index: int) -> None:
        post = self.queue.put
        try:
            if self.ctx.stop.is_set() or self.failed_fast.is_set():
                post(("done", index, None))
                return
            post(("start", index, None))
            result = self.ctx.run_spec(index, on_step=lambda step: post(("step", index, step)))
            if self.settings.fail_fast and any(s.outcome in NOT_PASSING for s in result.steps):
                self.failed_fast.set()
            post(("done", index, result))
        except BaseException as exc:  # noqa: BLE001 - carried to the driving thread, re-raised there
            post(("crash", index, exc))
        self.file_done.set()

    # -- the driving thread
    def events(self) -> Iterator[RunEvent]:
        stop = self.ctx.stop
        if self.reports.files:  # before anything is sent: a killed run leaves "in progress" reports
            self.reports.write(self.snapshot(final=False))
            yield from self._report_failures()
        _start_workers(self.work, len(self.ctx.specs), self.settings.jobs)
        while self.remaining and self.crash is None:
            # Everything already posted is taken at once: requests and files that finish
            # together cost one rewrite of the reports, not one each.
            batch = _drain(self.queue, timeout=self.reports.wait_s())
            self._apply(batch)
            if self.crash is not None:
                stop.set()  # the other workers stop at their next request
                break
            yield from self._ready()
            if batch:
                self.reports.changed(lambda: self.snapshot(final=False))
            else:
                self.reports.due(lambda: self.snapshot(final=False))
            yield from self._report_failures()
            if batch and self.remaining and not stop.is_set():
                # Let the next results gather: waking for each request (two threads trading
                # the GIL) cost as much CPU as a quick request itself. The console lags by at
                # most PACE_S; a file's end (and so a one-request run) is seen at once.
                self.file_done.wait(PACE_S)
                self.file_done.clear()
            if stop.is_set():
                # Give the requests in flight a moment to finish, then stop waiting for them.
                deadline = time.monotonic() + STOP_GRACE_S
                while self.remaining and time.monotonic() < deadline:
                    self._apply(_drain(self.queue, timeout=0.05))
                break
        self._apply(_drain(self.queue, timeout=0))
        result = self.snapshot(final=True)
        yield from self._ready()
        for index in range(self._next, len(self.progress)):  # files not yielded yet (a stop)
            yield from self._emit_file(self.progress[index], result.specs[index])
        self.reports.write(result)
        yield from self._report_failures()
        if self.crash is not None:
            raise self.crash  # after the reports: the caller turns it into "internal error", exit 70
        code = result.exit_code
        if self.reports.final_failed and code not in (ExitCode.SIGINT, ExitCode.SIGTERM):
            code = ExitCode.USAGE
        yield RunDone(result, int(code))

    def _apply(self, batch: list[tuple]) -> None:
        for kind, index, payload in batch:
            p = self.progress[index]
            if kind == "step":
                p.steps.append(payload)
            elif kind == "start":
                p.started = True
            elif kind == "done":
                self.remaining -= 1
                if payload is None:  # not started: a stop or --fail-fast came first
                    why = "interrupted" if self.signals.received or self.ctx.stop.is_set() else "--fail-fast"
                    payload = unfinished(self.ctx.specs[index], p.steps, self.ctx.selected[index],
                                         self.ctx.redactor, in_flight=False, reason=why)
                p.result = payload
            elif kind == "crash" and self.crash is None:
                self.crash = payload

    def _ready(self) -> Iterator[RunEvent]:
        """What can be yielded in file order."""
        while self._next < len(self.progress):
            p = self.progress[self._next]
            while p.emitted < len(p.steps):
                p.emitted += 1
                yield StepDone(p.steps[p.emitted - 1])
            if p.result is None:
                return
            yield from self._emit_file(p, p.result)

    def _emit_file(self, p: _Progress, result: SpecResult) -> Iterator[RunEvent]:
        while p.emitted < len(result.steps):
            p.emitted += 1
            yield StepDone(result.steps[p.emitted - 1])
        self._next += 1
        yield SpecDone(result)

    def _report_failures(self) -> Iterator[RunEvent]:
        while self._reported < len(self.reports.failures):
            path, reason = self.reports.failures[self._reported]
            self._reported += 1
            yield ReportFailed(path, reason)

    def snapshot(self, *, final: bool) -> RunResult:
        received = self.signals.received
        if self.crash is not None:
            reason = CRASHED
        elif received:
            reason = "interrupted"
        else:
            reason = NOT_FINISHED
        specs = []
        for index, p in enumerate(self.progress):
            if p.result is not None:
                specs.append(p.result)
            else:
                specs.append(unfinished(self.ctx.specs[index], p.steps, self.ctx.selected[index], self.ctx.redactor,
                                        in_flight=bool(received) and p.started and final, reason=reason))
        return RunResult(
            specs=tuple(specs),
            duration_s=time.monotonic() - self.started,
            version=__version__,
            environment=self.settings.env,
            warnings=tuple(self.ctx.warnings),
            interrupted=received,
            started_at=self.started_at,
            in_progress=not final,
            internal_error=type(self.crash).__name__ if self.crash is not None else None,
        )


def _drain(events: queue.SimpleQueue, *, timeout: float) -> list[tuple]:
    """The workers' events: the first one waited for (up to `timeout`), then all already queued."""
    try:
        batch = [events.get(timeout=timeout)] if timeout > 0 else [events.get_nowait()]
    except queue.Empty:
        return []
    while True:
        try:
            batch.append(events.get_nowait())
        except queue.Empty:
            return batch


def _start_workers(work: Callable[[int], None], count: int, jobs: int) -> list[threading.Thread]:
    """Spec files run in daemon threads so that a stop never waits on a request in flight."""
    next_index = iter(range(count))
    lock = threading.Lock()

    def loop() -> None:
        while True:
            with lock:
                index = next(next_index, None)
            if index is None:
                return
            work(index)

    threads = [threading.Thread(target=loop, name=f"runner-worker-{i}", daemon=True)
               for i in range(max(1, min(jobs, count)))]
    for t in threads:
        t.start()
    return threads
