"""The console: `runner run`, `validate` and `demo` as a user sees them.

The run object (runner/session/) loads, runs, keeps the report files and handles signals;
this module turns its events into the console's lines (in file order, whatever --jobs
is), GitHub annotations and the exit code. A closed stdout (`runner run | head -1`)
silences the console without stopping the run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import threading
from typing import Any, Callable, TextIO

from . import __version__
from .errors import ExitCode, UsageError
from .redact import Redactor
from .session import ReportFailed, ReportFile, Run, RunDone, RunSettings, RunStarted, SpecDone, StepDone

__all__ = ["App", "parse_assignments", "settings_from_args"]

FULL_GC_EVERY = 100  # middle-generation collections between two full ones during a run (Python's: 10)


def _typed(name: str, text: str) -> Any:
    """`--var` text typed as the same text in a `vars:` entry (YAML 1.2 core, as the loader
    types it): `n=2` the number 2, `zip=02134` the text 02134, `'n="5"'` the text 5."""
    from ._yaml import scalar

    try:
        return scalar(text)
    except ValueError as exc:
        raise UsageError(f"--var {name}: {exc}") from None


def parse_assignments(items: list[str], flag: str, typed: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not name:
            if flag == "--secret":  # `--secret $TOKEN` would otherwise print the token
                raise UsageError("--secret expects NAME=VALUE, got an argument without NAME= "
                                 "(not shown: it may be the secret itself)")
            raise UsageError(f"{flag} expects NAME=VALUE, got '{item}'")
        out[name] = _typed(name, value) if typed else value
    return out


def settings_from_args(args, paths: list[str] | None, cli_vars: dict[str, Any], cli_secrets: dict[str, str],
                       environ: dict[str, str]) -> RunSettings:
    from .report import writer

    wanted = (("junit", getattr(args, "junit", None)), ("json", getattr(args, "json_report", None)),
              ("summary", getattr(args, "summary", None)), ("html", getattr(args, "html", None)))
    return RunSettings(
        paths=tuple(args.paths if paths is None else paths),
        env=args.env,
        config=args.config,
        vars=cli_vars,
        secrets=cli_secrets,
        jobs=getattr(args, "jobs", 1),
        shard=getattr(args, "shard", None),
        fail_fast=getattr(args, "fail_fast", False),
        keyword=getattr(args, "name_filter", None),
        tags=tuple(getattr(args, "tag", ())),
        timeout=getattr(args, "timeout", None),
        insecure=getattr(args, "insecure", False),
        curl=getattr(args, "curl", False),
        compact_passes=getattr(args, "verbose", 0) < 2,
        reports=tuple(ReportFile(path, writer(name)) for name, path in wanted if path),
        step_summary=environ.get("GITHUB_STEP_SUMMARY") or None,
    )


def tally_is_enough(settings: RunSettings) -> bool:
    """For the console of `runner run`: nothing reads a passing request again once its line
    is printed when there is no report file, no step summary and no -vv (the console's
    details are for the requests that did not pass), so a tally of it is enough."""
    return settings.compact_passes and not settings.reports and settings.step_summary is None


class App:
    def __init__(self, args, *, stdout: TextIO, stderr: TextIO, environ: dict[str, str]) -> None:
        self.args = args
        self.stdout = stdout
        self.stderr = stderr
        self.environ = environ
        self.redactor = Redactor()
        self._out_lock = threading.Lock()
        self._stdout_closed = False
        self.cli_secrets = parse_assignments(getattr(args, "secret", []), "--secret", typed=False)
        for value in self.cli_secrets.values():
            self.redactor.add(value)
        self.cli_vars = parse_assignments(getattr(args, "var", []), "--var", typed=True)

    # ----- commands ------------------------------------------------------------------

    def validate(self) -> int:
        from .report import pluralise
        from .session.loading import load_run

        loaded = load_run(self._settings(None), environ=self.environ, env_unset="warning")
        for warning in loaded.warnings:
            self._error(f"warning: {warning.one_line()}\n")
        specs = loaded.specs
        for spec in specs:
            self._write(f"ok  {spec.path} ({pluralise(len(spec.requests), 'request')})\n")
        for path in loaded.fragments:
            self._write(f"ok  {path} (fragment)\n")
        self._write(f"{pluralise(len(specs), 'spec file')} valid\n")
        return ExitCode.OK

    def demo(self) -> int:
        from .demo import DemoServer, demo_environ, demo_spec_paths
        from .report import pluralise

        paths = [str(p) for p in demo_spec_paths(include_auth_failure=self.args.show_auth_failure,
                                                  include_contract_failure=getattr(self.args, "show_contract_failure", False))]
        with DemoServer() as server:
            self.environ = {**self.environ, **demo_environ(server)}
            self._write(f"demo API listening on {server.url}\n")
            code = self.run(paths)
            # what the shared secret sources cost: one login for every file that uses it
            self._write(f"demo API: {pluralise(server.logins, 'login')} (POST /auth/login), "
                        f"{pluralise(server.tokens_issued, 'token')} issued (POST /oauth/token)\n")
            return code

    def run(self, paths: list[str] | None = None) -> int:
        github = self.environ.get("GITHUB_ACTIONS") == "true"
        settings = self._settings(paths)
        if tally_is_enough(settings):
            settings = dataclasses.replace(settings, tally_passes=True)
        run = Run(settings, environ=self.environ, redactor=self.redactor, handle_signals=True,
                  on_secret_resolved=self._add_mask if github else None)
        with _QuietGc() as quiet_gc, contextlib.ExitStack() as cleanup:
            reporter = None
            for event in run.events():
                if isinstance(event, StepDone):
                    self._guard(reporter.step, event.step)
                elif isinstance(event, SpecDone):
                    self._guard(reporter.spec_done, event.spec)
                elif isinstance(event, RunStarted):
                    quiet_gc.loaded()
                    reporter = self._reporter()
                    # A run that ends in an exception still stops the live progress line (and shows the cursor again).
                    cleanup.callback(self._guard, reporter.close)
                    self._guard(reporter.start, __version__, event.paths, event.environment, event.warnings)
                    for note in event.notes:
                        self._write(note + "\n")
                elif isinstance(event, ReportFailed):
                    self._error(f"error: cannot write report {event.path}: {event.reason}\n")
                elif isinstance(event, RunDone):
                    if reporter is None:  # stopped while loading: nothing ran
                        self._error(f"interrupted ({event.result.interrupted}) while loading spec files; nothing was sent\n")
                        return event.exit_code
                    if github:
                        from .report.github import annotations

                        for line in annotations(event.result, redactor=self.redactor):
                            self._write(line + "\n")  # masked by _write
                    self._guard(reporter.finish, event.result)
                    return event.exit_code
        raise AssertionError("the run ended without RunDone")  # pragma: no cover - Run always ends with it

    # ----- helpers -------------------------------------------------------------------

    def _settings(self, paths: list[str] | None) -> RunSettings:
        return settings_from_args(self.args, paths, self.cli_vars, self.cli_secrets, self.environ)

    def _reporter(self):
        from .report.terminal import TerminalReporter

        return TerminalReporter(
            self.stdout,
            is_tty=_isatty(self.stdout) and self.environ.get("TERM") != "dumb",
            color=False if self.args.no_color else None,
            verbosity=self.args.verbose,
            width=None,
            redactor=self.redactor,
            environ=self.environ,
        )

    def _add_mask(self, value: str) -> None:
        from .report.github import add_mask

        self._write(add_mask(value) + "\n", mask=False)

    def _error(self, text: str) -> None:
        try:
            self.stderr.write(self.redactor.mask(text))
            self.stderr.flush()
        except (OSError, ValueError):
            pass

    def _write(self, text: str, *, mask: bool = True) -> None:
        if self._stdout_closed:
            return
        with self._out_lock:
            try:
                self.stdout.write(self.redactor.mask(text) if mask else text)
                self.stdout.flush()
            except BrokenPipeError:
                self._stdout_closed = True

    def _guard(self, fn: Callable[..., None], *args: Any) -> None:
        """Console output that survives a closed pipe (`runner run | head -1`)."""
        if self._stdout_closed:
            return
        try:
            with self._out_lock:
                fn(*args)
        except BrokenPipeError:
            self._stdout_closed = True  # cli.entry_point silences stdout before the process exits


class _QuietGc:
    """Keep garbage collection out of the way while a run loads and sends.

    - Loading builds objects that live as long as the run and leaves no cyclic
      garbage: collections while loading were a sixth of a large file's load time and
      freed nothing, so the collector is off until the specs are loaded (`loaded()`).
    - A full collection walks every tracked object, the imported modules included.
      `gc.freeze()` moves what exists (imports; then, once loaded, the specs) out of
      the collector's sight, so collections during the run only walk what it creates.
    - During a run, full collections find nothing to free (every result is kept until
      the end) but walk all of the results: six of them were 35 us per request of a
      10,000-request run. They come after FULL_GC_EVERY middle-generation collections
      instead of 10; the young ones, which free the run's garbage, are unchanged.

    At the end the collector's state and thresholds are restored and `unfreeze` hands
    everything back, so nothing is kept alive longer than without it. (The console's
    choice for one process and one run: the library API leaves gc alone.)
    """

    def __enter__(self) -> "_QuietGc":
        self._enabled = gc.isenabled()
        self._thresholds = gc.get_threshold()
        gc.freeze()
        gc.disable()
        t0, t1, t2 = self._thresholds
        gc.set_threshold(t0, t1, max(t2, FULL_GC_EVERY))
        return self

    def loaded(self) -> None:
        gc.freeze()
        if self._enabled:
            gc.enable()

    def __exit__(self, *exc: object) -> None:
        gc.set_threshold(*self._thresholds)
        if self._enabled:
            gc.enable()
        gc.unfreeze()


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
