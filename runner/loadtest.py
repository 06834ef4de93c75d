"""`runner load`: the same spec files as Locust users (the only module that imports locust/gevent).

Importing locust monkey-patches the process with gevent, so only `cli.py`'s `load` command
imports this module, first thing, before requests is imported; `runner run` never does.

- One Locust User class per spec file (its `weight:` spreads users over files). A user runs
  its file in order, again and again, through the engine `runner run` uses (render, secrets,
  transport, expectations): each pass has its own session, variables and captures.
- Secrets live in one RunContext per process, so its users share them (one login per worker,
  single-flight refresh). A secret that cannot be had stops the run: exit 3.
- Every finished request is one Locust request event named by the spec's request name; an
  unexpected 401 fails as `AUTH 401: ...`, its own row in Locust's failure statistics.
- Every text Locust shows or writes (console, CSV, HTML) is built from masked results, and
  the console's log records pass through the redactor once more.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()  # before requests/urllib3 are imported (Locust does the same on import)

import dataclasses  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from typing import Any, TextIO  # noqa: E402

import gevent  # noqa: E402
import locust.log  # noqa: E402
from locust import User, constant  # noqa: E402
from locust.env import Environment  # noqa: E402
from locust.rpc import Message  # noqa: E402
from locust.runners import MasterRunner, WorkerRunner  # noqa: E402
from locust.stats import (  # noqa: E402
    PERCENTILES_TO_REPORT,
    StatsCSVFileWriter,
    print_error_report,
    print_percentile_stats,
    print_stats,
    stats_history,
    stats_printer,
)

from .errors import ExitCode, SecretError, UsageError  # noqa: E402
from .model import Expect, Spec  # noqa: E402
from .redact import Redactor, shown_url  # noqa: E402
from .results import FailureKind, Outcome, StepResult  # noqa: E402

__all__ = ["LoadSettings", "run_load", "parse_duration"]

STOP_TIMEOUT_S = 10.0  # at the end, how long a user may take to finish its pass through its file


@dataclass(frozen=True)
class LoadSettings:
    users: int = 1
    spawn_rate: float = 1.0
    run_time: float | None = None  # seconds; None: until Ctrl-C (or the master says stop)
    master: bool = False
    worker: bool = False
    expect_workers: int = 1
    expect_workers_max_wait: float = 60.0  # seconds; then the master gives up: exit 4
    master_host: str = "127.0.0.1"
    master_port: int = 5557
    master_bind_host: str = "*"
    master_bind_port: int = 5557
    csv_prefix: str | None = None
    html: str | None = None
    max_fail_ratio: float | None = None
    p95_ms: float | None = None
    no_checks: bool = False


def parse_duration(text: str, flag: str = "--run-time") -> float:
    """Locust's run-time form: `90`, `30s`, `2m`, `1h30m`."""
    from locust.util.timespan import parse_timespan

    try:
        seconds = parse_timespan(text)
    except (ValueError, TypeError):
        raise UsageError(f"{flag}: expected a duration like 30s, 2m or 1h30m, got '{text}'") from None
    if seconds <= 0:
        raise UsageError(f"{flag}: must be longer than 0 s")
    return float(seconds)


class _Masking(logging.Filter):
    """The last gate before Locust's console: a record's text passes through the redactor."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if record.exc_info:  # a traceback may quote a value: show its type only
            text += f" ({record.exc_info[0].__name__ if record.exc_info[0] else 'error'})"
            record.exc_info = None
            record.exc_text = None
        record.msg = self.redactor.mask(text)
        record.args = ()
        return True


class _Stopper:
    """Why the run stopped early (a secret that cannot be had: exit 3), said once."""

    def __init__(self) -> None:
        self.credential_error: str | None = None
        self.environment: Environment | None = None

    def credentials(self, message: str) -> None:
        if self.credential_error is None:
            self.credential_error = message
            env = self.environment
            if env is not None and env.runner is not None:
                gevent.spawn(env.runner.quit)


def _status_only(spec: Spec) -> Spec:
    """--no-checks: each request keeps its status expectation (and captures) only."""
    requests = tuple(dataclasses.replace(r, expect=Expect(status=r.expect.status)) for r in spec.requests)
    return dataclasses.replace(spec, requests=requests)


def _failure_text(step: StepResult) -> str:
    unauthorized = next((f for f in step.failures if f.kind is FailureKind.UNAUTHORIZED), None)
    if unauthorized is not None:
        headline = step.auth.headline() if step.auth is not None else ""
        return f"AUTH 401: {headline}" if headline else f"AUTH {unauthorized.message}"
    if step.failures:
        return f"{step.outcome.value.upper()}: {step.failures[0].message}"
    return step.outcome.value.upper()


class RequestFailed(Exception):
    """What Locust records as a failure: one masked line (its repr is what Locust shows)."""

    def __repr__(self) -> str:
        return str(self.args[0]) if self.args else "failed"


def row_names(specs: tuple[Spec, ...]) -> list[dict[str, str]]:
    """Per file, the Locust row name of each request name used by more than one file:
    `STEM: name` (the file's name without .yaml), or `PATH: name` when two such files share a
    stem. Other names are their own row name: a row is never shared by two files (a file with
    `weight: 0` runs no user: it shares nothing)."""
    files_of: dict[str, set[int]] = {}
    for i, spec in enumerate(specs):
        for req in spec.requests if spec.weight else ():
            files_of.setdefault(req.name, set()).add(i)
    clashing = {name for name, files in files_of.items() if len(files) > 1}
    stems = [os.path.splitext(os.path.basename(spec.path))[0] for spec in specs]
    out: list[dict[str, str]] = []
    for i, spec in enumerate(specs):
        label = stems[i] if stems.count(stems[i]) == 1 else spec.path
        out.append({req.name: f"{label}: {req.name}" for req in spec.requests if req.name in clashing})
    return out


def _user_class(index: int, spec: Spec, context: Any, stopper: _Stopper, names: dict[str, str]) -> type[User]:
    def report(user: User, step: StepResult) -> None:
        if step.outcome is Outcome.SKIP:
            return
        if any(f.kind is FailureKind.SECRET for f in step.failures):
            stopper.credentials(step.failures[0].message)
            return
        response = step.response
        user.environment.events.request.fire(
            request_type=step.method,
            name=names.get(step.name, step.name),
            response_time=step.elapsed_ms or 0.0,
            response_length=(response.size or len(response.body)) if response is not None else 0,
            exception=None if step.outcome is Outcome.PASS else RequestFailed(_failure_text(step)),
            context={},
        )

    def run_file(user: Any) -> None:
        if user.kept is None:
            user.kept = context.kept()
        try:
            context.run_spec(index, on_step=lambda step: report(user, step), kept=user.kept)
        except SecretError as exc:
            stopper.credentials(context.redactor.mask(exc.message))
        except gevent.GreenletExit:
            raise
        except Exception as exc:  # noqa: BLE001 - a user must not print a traceback (it may quote a value)
            user.environment.events.request.fire(
                request_type="ERROR", name=spec.name, response_time=0.0, response_length=0,
                exception=RequestFailed(f"internal error: {type(exc).__name__}"), context={},
            )

    def on_stop(user: Any) -> None:
        if user.kept is not None:
            user.kept.close()
            user.kept = None

    attrs = {
        # kept across passes: connections, compiled checks, the requests' plans (not cookies,
        # vars or captures: each pass starts afresh)
        "kept": None,
        "on_stop": on_stop,
        "weight": spec.weight,
        "wait_time": constant(0),
        "tasks": [run_file],
        "__module__": __name__,
    }
    # Master and workers match user classes by name: the file's position, the same on both.
    return type(f"spec{index}", (User,), attrs)


def run_load(settings: Any, load: LoadSettings, *, redactor: Redactor, environ: dict[str, str],
             stdout: TextIO, stderr: TextIO) -> int:
    """Load, run the Locust runner for this process's role, apply the thresholds; the exit code."""
    from .session.context import RunContext
    from .session.loading import load_run

    loaded = load_run(settings, environ=environ)  # every file checked before any user starts: exit 2
    for warning in loaded.warnings:
        stderr.write(redactor.mask(f"warning: {warning.one_line()}\n"))
    specs = loaded.specs
    if load.no_checks:
        specs = tuple(_status_only(s) for s in specs)
        loaded = dataclasses.replace(loaded, specs=specs)
    if specs and not any(s.weight for s in specs):
        raise UsageError("every spec file has weight: 0; no user would run")
    stop = threading.Event()
    context = RunContext(loaded, settings, environ=environ, redactor=redactor, stop=stop)
    stopper = _Stopper()
    try:
        names = row_names(specs)
        user_classes = [_user_class(i, spec, context, stopper, names[i]) for i, spec in enumerate(specs)]
        _logging(redactor, stderr)
        host = shown_url(loaded.base_url) if loaded.base_url else "(the specs' base_url)"
        # stop_timeout: a stopped user finishes its pass through the file (the server saw what Locust counts)
        env = Environment(user_classes=user_classes, host=redactor.mask(host), catch_exceptions=True,
                          stop_timeout=STOP_TIMEOUT_S)
        stopper.environment = env
        if load.master:
            runner = env.create_master_runner(master_bind_host=load.master_bind_host,
                                              master_bind_port=load.master_bind_port)
        elif load.worker:
            runner = env.create_worker_runner(master_host=load.master_host, master_port=load.master_port)
        else:
            runner = env.create_local_runner()
        greenlets = []
        if not load.worker:
            greenlets.append(gevent.spawn(stats_printer(runner.stats)))
            greenlets.append(gevent.spawn(stats_history, runner))
        csv_writer = None
        if load.csv_prefix and not load.worker:
            _make_folder(load.csv_prefix)
            csv_writer = StatsCSVFileWriter(env, PERCENTILES_TO_REPORT, load.csv_prefix, full_history=False)
            greenlets.append(gevent.spawn(csv_writer.stats_writer))
        try:
            if not load.worker:
                missing = _start(env, runner, load)
                if missing is not None:
                    runner.quit()  # the workers that came are told to stop
                    stderr.write(f"error: {missing}; nothing was run\n")
                    return ExitCode.TRANSPORT
            runner.greenlet.join()
            if load.worker:
                _tell_master_we_quit(runner)
        except KeyboardInterrupt:
            runner.quit()
        finally:
            stop.set()
            for g in greenlets:
                g.kill(block=False)
        if stopper.credential_error is not None:
            stderr.write(redactor.mask(f"error: {stopper.credential_error}\n"))
            return ExitCode.CREDENTIALS
        if load.worker:
            return ExitCode.OK
        print_stats(runner.stats, current=False)
        print_percentile_stats(runner.stats)
        print_error_report(runner.stats)
        if csv_writer is not None:
            _final_csv(csv_writer, load.csv_prefix or "")
        if load.html:
            _write_html(env, load.html)
        return _verdict(runner.stats.total, load, stdout)
    finally:
        context.close()


def _start(env: Environment, runner: Any, load: LoadSettings) -> str | None:
    """Start the users (a master: once its workers are there); what is missing if they never came."""
    if isinstance(runner, MasterRunner):
        deadline = time.monotonic() + load.expect_workers_max_wait
        while len(runner.clients.ready) < load.expect_workers:
            if time.monotonic() >= deadline:
                came = len(runner.clients.ready)
                return (f"{came} of the {load.expect_workers} workers expected (--expect-workers) connected within "
                        f"{load.expect_workers_max_wait:g} s (--expect-workers-max-wait)")
            gevent.sleep(0.1)
    gevent.spawn(runner.start, load.users, load.spawn_rate)
    if load.run_time is not None:
        if isinstance(runner, MasterRunner):
            gevent.spawn_later(load.run_time, _quit_master, runner)
        else:
            gevent.spawn_later(load.run_time, runner.quit)
    return None


def _quit_master(runner: MasterRunner) -> None:
    """End a distributed run with every worker's last report counted.

    Locust's MasterRunner.quit gives its workers 0.5 s after "quit"; a worker first lets
    its users finish their pass (stop_timeout) and only then sends its last stats, so on a
    busy machine that report came too late and the master's totals missed the requests
    of the last seconds. Here the master waits, at most STOP_TIMEOUT_S and a little, until
    each worker has said it quit: a worker sends that after its last stats, on the same
    connection, so they have been counted.
    """
    runner.stop(send_stop_to_client=False)
    for client in list(runner.clients.all):
        runner.server.send_to_client(Message("quit", None, client.id))
    deadline = time.monotonic() + STOP_TIMEOUT_S + 5
    while len(runner.clients) and time.monotonic() < deadline:
        gevent.sleep(0.05)
    runner.greenlet.kill(block=True)


def _tell_master_we_quit(runner: WorkerRunner) -> None:
    """After its last stats: what `_quit_master` waits for (Locust's own CLI sends it on exit)."""
    try:
        runner.client.send(Message("quit", None, runner.client_id))
    except Exception:  # noqa: BLE001 - the master may be gone already: nothing to tell
        pass


def _final_csv(writer: StatsCSVFileWriter, prefix: str) -> None:
    """Locust's writer rewrites its files every second; the last second's counts are added here."""
    import csv

    writer.close_files()
    for suffix, write in (("_stats.csv", writer.requests_csv), ("_failures.csv", writer.failures_csv),
                          ("_exceptions.csv", writer.exceptions_csv)):
        with open(prefix + suffix, "w", newline="", encoding="utf-8") as fh:
            write(csv.writer(fh))


def _make_folder(path: str) -> None:
    folder = os.path.dirname(path)
    if folder:
        os.makedirs(folder, exist_ok=True)


def _write_html(env: Environment, path: str) -> None:
    from locust.html import get_html_report

    text = get_html_report(env, show_download_link=False)
    _make_folder(path)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)


def _verdict(total: Any, load: LoadSettings, stdout: TextIO) -> int:
    """Exit 1 when a threshold is exceeded (each one said), else 0."""
    exceeded = []
    if (load.max_fail_ratio is not None or load.p95_ms is not None) and not total.num_requests:
        exceeded.append("no request finished, so the thresholds cannot be met")
    ratio = total.fail_ratio
    if load.max_fail_ratio is not None and ratio > load.max_fail_ratio:
        exceeded.append(f"failure ratio {ratio:.4f} > --max-fail-ratio {load.max_fail_ratio:g}")
    if load.p95_ms is not None and total.num_requests:
        p95 = total.get_response_time_percentile(0.95)
        if p95 > load.p95_ms:
            exceeded.append(f"95th percentile {p95:g} ms > --p95-ms {load.p95_ms:g}")
    for line in exceeded:
        stdout.write(f"threshold exceeded: {line}\n")
    stdout.write(f"{total.num_requests} requests, {total.num_failures} failed\n")
    return ExitCode.CHECK_FAILED if exceeded else ExitCode.OK


def _logging(redactor: Redactor, stderr: TextIO) -> None:
    locust.log.setup_logging("INFO")
    masking = _Masking(redactor)
    for name in ("", "locust", "locust.stats_logger"):
        for handler in logging.getLogger(name).handlers:
            handler.addFilter(masking)
