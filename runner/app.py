"""Wiring for the command line: find and load spec files, resolve config, run, report.

The engine returns results; this module orders them for the console, keeps the
report files up to date (atomically), and turns SIGINT/SIGTERM into a clean stop.
"""

from __future__ import annotations

import contextlib
import errno
import gc
import os
import queue
import signal
import stat
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Sequence, TextIO

from . import __version__
from .errors import ExitCode, SpecError, UsageError
from .model import Config, SecretDecl, Spec
from .redact import Redactor
from .results import NOT_PASSING, Failure, FailureKind, Outcome, RunResult, SpecResult, StepResult
from .source import Diagnostic, Span

__all__ = ["App", "discover", "shard", "parse_assignments"]

REPORT_INTERVAL_S = 0.25  # report files are rewritten after a finished request, at most this often
NOT_FINISHED = "not run: the run did not finish"  # what an in-progress report says of a pending request
SPEC_SUFFIXES = (".yaml", ".yml")


def discover(paths: list[str], *, skip: Sequence[str] = ()) -> list[str]:
    """Spec files named, or found under directories (*.yaml, *.yml, sorted), in the order given.

    A file named twice (relative and absolute, or through a symlink) runs once, where it
    first appears; `skip` holds files never to run (the config file in use).
    """
    found: list[str] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            inside: list[str] = []
            for root, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(files):
                    if name.endswith(SPEC_SUFFIXES) and not name.startswith("."):
                        inside.append(os.path.join(root, name))
            found.extend(sorted(inside, key=lambda p: Path(p).as_posix()))
        elif path.exists() or path.is_symlink():
            found.append(raw)
        else:
            raise UsageError(f"{raw}: no such file or directory")
    seen = {os.path.realpath(p) for p in skip}
    unique = []
    for p in found:
        key = os.path.realpath(p)
        if key not in seen:
            seen.add(key)
            unique.append(p)
    return unique


def shard(files: list[str], k: int, n: int) -> list[str]:
    """The K-th (1-based) of N slices; every file lands in exactly one slice."""
    return [f for i, f in enumerate(files) if i % n == k - 1]


def _typed(name: str, text: str) -> Any:
    """`--var` text typed as the same text in a `vars:` entry (YAML 1.2 core, as the loader
    types it): `n=2` the number 2, `zip=02134` the text 02134, `'n="5"'` the text 5."""
    from ._yaml import scalar

    try:
        return scalar(text)
    except ValueError as exc:
        raise UsageError(f"--var {name}: {exc}") from None


def _request_filter(args) -> Callable[[Spec], Callable[[Any], bool] | None]:
    """spec -> "is this request kept by -k / --tag" (None: all are): an unset env var only
    matters where it is rendered."""
    name_filter, tags = getattr(args, "name_filter", None), tuple(getattr(args, "tag", None) or ())
    if not name_filter and not tags:
        return lambda spec: None
    from .engine import RunOptions, select_requests

    options = RunOptions(name_filter=name_filter, tags=tags)

    def for_spec(spec: Spec) -> Callable[[Any], bool]:
        kept = {req.index for req in select_requests(spec, options)}
        return lambda req: req.index in kept

    return for_spec


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


@dataclass
class _Progress:
    """Per-spec bookkeeping while the run goes on."""

    spec: Spec
    started: bool = False
    steps: list[StepResult] = field(default_factory=list)
    result: SpecResult | None = None
    reported_steps: int = 0


class App:
    def __init__(self, args, *, stdout: TextIO, stderr: TextIO, environ: dict[str, str]) -> None:
        self.args = args
        self.stdout = stdout
        self.stderr = stderr
        self.environ = environ
        self.redactor = Redactor()
        self._out_lock = threading.Lock()
        self._stdout_closed = False
        self._report_errors: dict[str, str] = {}
        self._final_report_error = False
        self.cli_secrets = parse_assignments(getattr(args, "secret", []), "--secret", typed=False)
        for value in self.cli_secrets.values():
            self.redactor.add(value)
        self.cli_vars = parse_assignments(getattr(args, "var", []), "--var", typed=True)
        self.load_warnings: list[Diagnostic] = []

    # ----- loading -------------------------------------------------------------------

    def _config(self) -> tuple[Config, str | None]:
        from .load import load_config_file

        path = self.args.config
        if path is None and os.path.isfile("runner.yaml"):
            path = "runner.yaml"
        if path is None:
            return Config(), None
        if not os.path.exists(path):
            raise UsageError(f"config file {path}: no such file")
        return load_config_file(path), path

    def _environment(self, config: Config):
        name = self.args.env
        if name is None:
            return None
        env = config.environments.get(name)
        if env is None and config.path is None:
            raise UsageError(f"unknown environment '{name}': no config file (./runner.yaml or --config FILE) defines `environments:`")
        if env is None:
            known = ", ".join(sorted(config.environments)) or "none (no `environments:` in the config)"
            where = f" in {config.path}" if config.path else ""
            raise UsageError(f"unknown environment '{name}'{where}; known: {known}")
        return env

    def _load(self, paths: list[str], *, env_unset: str = "error"):
        """Load config and every spec file; every error of every file at once (exit 2).

        The static checks are render.py's rules: what `runner run` could not render is
        reported here, before anything is sent. An unset `${env:...}` is an error for a
        run and a warning (`env_unset="warning"`, kept in self.load_warnings) for validate.
        """
        from .load import load_spec_file
        from .render import Shared, check_config, check_spec

        config, config_path = self._config()
        env = self._environment(config)
        base_url = (env.base_url if env and env.base_url else None) or config.base_url
        config_vars = {**config.vars, **(env.vars if env else {})}
        secrets: dict[str, SecretDecl] = {**config.secrets, **(env.secrets if env else {})}
        for name in self.cli_secrets:
            if name not in secrets:
                secrets[name] = SecretDecl(name, "cli", {}, Span.point("<command line>"), os.getcwd())

        skip = [config_path] if config_path else []
        files = discover(paths or ["specs"], skip=skip) if (paths or os.path.isdir("specs")) else None
        if files is None:
            raise UsageError("no spec files given and ./specs does not exist; pass spec files or directories")
        if getattr(self.args, "shard", None):
            k, n = self.args.shard
            files = shard(files, k, n)
        elif not files:
            raise UsageError(f"no spec files (*.yaml, *.yml) found in {' '.join(paths or ['specs'])}")

        specs: list[Spec] = []
        shared = Shared.from_config(config, env, self.cli_vars, secrets)
        found = check_config(shared, environ=self.environ, env_title=env_unset)
        selected = _request_filter(self.args)
        diagnostics: list[Diagnostic] = []
        for path in files:
            try:
                spec = load_spec_file(path)
            except SpecError as exc:
                diagnostics.extend(exc.diagnostics)
                if isinstance(exc.partial, Spec):  # semantic errors: still check its references
                    found += check_spec(exc.partial, shared, environ=self.environ, env_title=env_unset,
                                        selected=selected(exc.partial))
                continue
            found += check_spec(spec, shared, environ=self.environ, env_title=env_unset, selected=selected(spec))
            specs.append(spec)
        seen: set[Diagnostic] = set()
        for d in found:  # the config's defaults are checked with each spec: said once
            if d not in seen:
                seen.add(d)
                (self.load_warnings if d.title == "warning" else diagnostics).append(d)
        if diagnostics:
            raise SpecError(diagnostics)
        return config, env, base_url, config_vars, secrets, specs

    # ----- commands ------------------------------------------------------------------

    def validate(self) -> int:
        *_, specs = self._load(self.args.paths, env_unset="warning")
        for warning in self.load_warnings:
            self.stderr.write(self.redactor.mask(f"warning: {warning.one_line()}") + "\n")
        for spec in specs:
            n = len(spec.requests)
            self._write(f"ok  {spec.path} ({n} request{'s' if n != 1 else ''})\n")
        self._write(f"{len(specs)} spec file{'s' if len(specs) != 1 else ''} valid\n")
        return ExitCode.OK

    def demo(self) -> int:
        from .demo import DemoServer, demo_environ, demo_spec_paths

        paths = [str(p) for p in demo_spec_paths(include_auth_failure=self.args.show_auth_failure)]
        with DemoServer() as server:
            self.environ = {**self.environ, **demo_environ(server)}
            self._write(f"demo API listening on {server.url}\n")
            code = self.run(paths)
            # what the shared secret sources cost: one login for every file that uses it
            self._write(f"demo API: {server.logins} login{'s' if server.logins != 1 else ''} (POST /auth/login), "
                        f"{server.tokens_issued} token{'s' if server.tokens_issued != 1 else ''} issued (POST /oauth/token)\n")
            return code

    def run(self, paths: list[str] | None = None) -> int:
        with _gc_frozen(), contextlib.ExitStack() as cleanup:
            return self._run(paths, cleanup)

    def _run(self, paths: list[str] | None, cleanup: contextlib.ExitStack) -> int:
        started = time.monotonic()
        started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        stop = threading.Event()
        interrupted: list[str] = []
        loading = [True]

        def on_signal(signum, _frame) -> None:
            if not interrupted:
                interrupted.append("SIGINT" if signum == signal.SIGINT else "SIGTERM")
            stop.set()
            if loading[0]:  # nothing runs yet: stop loading now, the reports are still written
                raise _StopLoading()

        # Installed before loading: a signal while a large tree loads still leaves the reports asked for.
        previous = _install_signals(on_signal)
        cleanup.callback(_restore_signals, previous)
        try:
            config, env, base_url, config_vars, secrets, specs = self._load(
                self.args.paths if paths is None else paths
            )
            loading[0] = False
        except _StopLoading:
            loading[0] = False
            run = RunResult(specs=(), duration_s=time.monotonic() - started, version=__version__,
                            environment=self.args.env, interrupted=interrupted[0], started_at=started_at)
            self._write_reports(run, self._report_targets(), final=True)
            return run.exit_code()
        from . import engine
        from .report.terminal import TerminalReporter
        from .secrets import SecretStore, SourceContext
        from .render import Shared
        from .template import Scope, render
        from .transport import post_form, send_once

        warnings: list[str] = []
        if self.args.insecure:
            warnings.append("TLS certificate verification is DISABLED (--insecure)")
        if config.defaults.verify is False and not self.args.insecure:
            where = config.path or "the config file"
            warnings.append(f"TLS certificate verification is DISABLED by {where} (defaults.verify: false)")
        for spec in specs:
            if spec.defaults.verify is False:
                warnings.append(f"TLS certificate verification is DISABLED for {spec.path} (defaults.verify: false)")

        github = self.environ.get("GITHUB_ACTIONS") == "true"
        on_resolved = self._add_mask if github else None
        all_decls = {**{n: d for s in specs for n, d in s.secrets.items()}, **secrets}
        store: SecretStore

        def secret(name: str) -> str:
            decl = all_decls.get(name)
            if decl is None:
                raise UsageError(f"secret '{name}' is not declared")
            return store.get(decl)

        source_vars = Shared.from_config(config, env, self.cli_vars, secrets).variables(self.environ, secret)

        def resolve_ref(value: Any) -> Any:
            """`${secret:X}` / `${env:X}` / `${var}` inside a source's options (oauth2 client_secret)."""
            return render(value, Scope(variables=source_vars, environ=self.environ, secret=secret))

        ctx = SourceContext(
            environ=self.environ,
            resolve_ref=resolve_ref,
            post_form=lambda *a, **kw: post_form(*a, environ=self.environ, **kw),
            send_request=lambda prepared: send_once(prepared, environ=self.environ, stop=stop),
            verify_tls=not self.args.insecure,
            stop=stop,
        )
        store = SecretStore(ctx, self.redactor, overrides=self.cli_secrets, on_resolved=on_resolved,
                            on_warning=warnings.append)

        from .tlsfiles import ClientCertificates

        client_certs = ClientCertificates()  # PEM from secrets, decrypted keys: removed when the run ends
        cleanup.callback(client_certs.close)
        options = engine.RunOptions(
            config_vars=config_vars,
            cli_vars=self.cli_vars,
            environ=self.environ,
            base_url=base_url,
            defaults=config.defaults,
            secrets=secrets,
            timeout=self.args.timeout,
            insecure=self.args.insecure,
            fail_fast=self.args.fail_fast,
            name_filter=self.args.name_filter,
            tags=tuple(self.args.tag),
            curl=self.args.curl,
            stop=stop,
            config=config,
            environment=env,
            client_certs=client_certs,
        )
        selected = [engine.select_requests(spec, options) for spec in specs]
        if not any(selected) and (self.args.name_filter or self.args.tag):
            raise UsageError("no request matches the -k / --tag filters; nothing to run")

        is_tty = _isatty(self.stdout) and self.environ.get("TERM") != "dumb"
        reporter = TerminalReporter(
            self.stdout,
            is_tty=is_tty,
            color=False if self.args.no_color else None,
            verbosity=self.args.verbose,
            width=None,
            redactor=self.redactor,
            environ=self.environ,
        )
        # A run that ends in an exception still stops the live progress line (and shows the cursor again).
        cleanup.callback(self._guard, reporter.close)
        environment = self.args.env
        self._guard(reporter.start, __version__, [s.path for s in specs], environment, tuple(warnings))
        note = _base_url_note(environment, env, specs)
        if note:
            self._write(note + "\n")

        progress = [_Progress(spec) for spec in specs]
        # Workers post only "done" and "crash"; the main thread waits for those (and polls
        # for signals and the periodic report rewrite), so it does not wake up per request.
        events: queue.Queue = queue.Queue()
        failed_fast = threading.Event()
        console = _FileOrderConsole(
            progress,
            lambda step: self._guard(reporter.step, step),
            lambda result: self._guard(reporter.spec_done, result),
        )
        state = console.lock  # also guards `progress` while workers run

        def finished(index: int, result: SpecResult | None) -> None:
            with state:
                p = progress[index]
                if result is not None:
                    p.result = result
                elif console.open:
                    p.result = self._unfinished(
                        p, selected[index], bool(interrupted), True,
                        reason="interrupted" if interrupted else "--fail-fast",
                    )
                console.pump()
            events.put(("done", index, None))

        def work(index: int) -> None:
            try:
                if stop.is_set() or failed_fast.is_set():
                    finished(index, None)
                    return
                with state:
                    progress[index].started = True
                steps = progress[index].steps

                def on_step(step: StepResult) -> None:
                    with state:
                        steps.append(step)
                        console.pump()
                    events.put(("step", index, None))

                result = engine.run_spec(specs[index], options=options, secrets=store, redactor=self.redactor,
                                         on_step=on_step)
                if self.args.fail_fast and any(s.outcome in NOT_PASSING for s in result.steps):
                    failed_fast.set()
                finished(index, result)
            except BaseException as exc:  # noqa: BLE001 - carried to the main thread, re-raised there
                events.put(("crash", index, exc))

        report_targets = self._report_targets()

        def snapshot(final: bool, crash: BaseException | None = None) -> RunResult:
            reason = "not run: the run stopped on an internal error" if crash is not None else None
            with state:
                spec_results = []
                for p, sel in zip(progress, selected):
                    if p.result is not None:
                        spec_results.append(p.result)
                    else:
                        spec_results.append(self._unfinished(p, sel, bool(interrupted), final, reason=reason))
            return RunResult(
                specs=tuple(spec_results),
                duration_s=time.monotonic() - started,
                version=__version__,
                environment=environment,
                warnings=tuple(warnings),
                interrupted=interrupted[0] if interrupted else None,
                started_at=started_at,
                in_progress=not final,
                internal_error=type(crash).__name__ if crash is not None else None,
            )

        # The first write comes before anything is sent: a run killed from here on leaves
        # reports that say "in progress", never a missing file or a stale green one.
        writer = _ReportPacer(lambda: self._write_reports(snapshot(final=False), report_targets, final=False))
        if report_targets:
            writer.write()
        threads = _start_workers(work, len(specs), self.args.jobs)
        remaining = len(specs)
        crash: BaseException | None = None
        try:
            while remaining:
                # Everything already posted is taken at once: requests and files that finish
                # together cost one rewrite of the reports, not one each.
                batch = _drain(events, timeout=writer.wait_s())
                crash = next((payload for kind, _i, payload in batch if kind == "crash"), None)
                if crash is not None:
                    stop.set()  # the other workers stop at their next request
                    break
                remaining -= sum(1 for kind, _index, _payload in batch if kind == "done")
                if report_targets:
                    writer.changed(bool(batch))
                if stop.is_set():
                    # Give the requests in flight a moment to finish, then stop waiting for them.
                    deadline = time.monotonic() + 0.5
                    while remaining and time.monotonic() < deadline:
                        remaining -= sum(1 for kind, *_ in _drain(events, timeout=0.05) if kind == "done")
                    break
        finally:
            _restore_signals(previous)

        console.close()
        run = snapshot(final=True, crash=crash)
        console.print_rest(run.specs)  # files not printed yet (a stop): the console matches the reports
        self._write_reports(run, report_targets, final=True)
        if crash is not None:
            raise crash  # cli turns it into "internal error" and exit 70, after the reports are written
        if github:
            from .report.github import annotations

            for line in annotations(run, redactor=self.redactor):
                self._write(line + "\n")  # masked by _write
        self._guard(reporter.finish, run)
        del threads  # daemon threads; any still blocked in a request end with the process
        if self._final_report_error and run.exit_code() not in (ExitCode.SIGINT, ExitCode.SIGTERM):
            return ExitCode.USAGE
        return run.exit_code()

    # ----- helpers -------------------------------------------------------------------

    def _unfinished(self, p: _Progress, selected, interrupted: bool, final: bool, reason: str | None = None) -> SpecResult:
        """A spec file that did not finish: what ran, then the rest marked (interrupted or skipped)."""
        steps = list(p.steps)
        done = {s.index for s in steps}
        reason = reason or ("interrupted" if interrupted else NOT_FINISHED)
        first = True
        for req in selected:
            if req.index in done:
                continue
            url = self.redactor.mask(str(req.url))
            if interrupted and p.started and first and final:
                steps.append(
                    StepResult(
                        spec_path=p.spec.path, name=req.name, index=req.index, outcome=Outcome.ERROR,
                        method=req.method, url=url, span=req.span, tags=req.tags,
                        failures=(Failure(FailureKind.INTERRUPTED, "interrupted while this request was in flight", span=req.span),),
                    )
                )
            else:
                steps.append(
                    StepResult(
                        spec_path=p.spec.path, name=req.name, index=req.index, outcome=Outcome.SKIP,
                        method=req.method, url=url, skip_reason=reason, span=req.span, tags=req.tags,
                    )
                )
            first = False
        return SpecResult(path=p.spec.path, name=p.spec.name, steps=tuple(steps), tags=p.spec.tags)

    def _report_targets(self) -> list[tuple[str, Callable[..., str]]]:
        """(path, render) of every report file asked for on the command line."""
        from .report import html, json_report, junit, markdown

        wanted = ((self.args.junit, junit.render), (self.args.json_report, json_report.render),
                  (self.args.summary, markdown.render), (self.args.html, html.render))
        return [(path, render) for path, render in wanted if path]

    def _write_reports(self, run: RunResult, targets: list[tuple[str, Callable[..., str]]], *, final: bool) -> None:
        from .report import markdown

        for path, render in targets:
            try:
                write_atomic(path, self.redactor.mask(render(run, redactor=self.redactor)))
            except OSError as exc:
                self._report_failed(path, exc, final)
        step_summary = self.environ.get("GITHUB_STEP_SUMMARY")
        if final and step_summary:
            try:
                with open(step_summary, "a", encoding="utf-8") as fh:
                    fh.write(self.redactor.mask(markdown.render(run, redactor=self.redactor)) + "\n")
            except OSError as exc:
                self._report_failed(step_summary, exc, final)

    def _report_failed(self, path: str, exc: OSError, final: bool) -> None:
        """A report that cannot be written (disk full, folder removed): say so once, clearly.

        The run goes on; a report missing at the end makes the exit code 2, since CI
        would otherwise read stale or no results.
        """
        reason = exc.strerror or type(exc).__name__
        if path not in self._report_errors:
            self._report_errors[path] = reason
            try:
                self.stderr.write(f"error: cannot write report {path}: {reason}\n")
                self.stderr.flush()
            except (OSError, ValueError):
                pass
        if final:
            self._final_report_error = True

    def _add_mask(self, value: str) -> None:
        from .report.github import add_mask

        self._write(add_mask(value) + "\n", mask=False)

    def _write(self, text: str, *, mask: bool = True) -> None:
        if self._stdout_closed:
            return
        with self._out_lock:
            try:
                self.stdout.write(self.redactor.mask(text) if mask else text)
                self.stdout.flush()
            except BrokenPipeError:
                self._stdout_closed = True

    def _guard(self, fn, *args) -> None:
        """Console output that survives a closed pipe (`runner run | head -1`)."""
        if self._stdout_closed:
            return
        try:
            with self._out_lock:
                fn(*args)
        except BrokenPipeError:
            self._stdout_closed = True  # cli.entry_point silences stdout before the process exits




class _FileOrderConsole:
    """Console output grouped per spec file and in file order, whatever --jobs is.

    Whichever thread has something printable prints it, under `lock`; at the end the
    main thread closes it and prints what is left itself.
    """

    def __init__(self, progress: list[_Progress], print_step, print_spec) -> None:
        self.progress = progress
        self._print_step = print_step
        self._print_spec = print_spec
        self.lock = threading.RLock()
        self.open = True
        self._next = 0  # the first file not fully printed

    def pump(self) -> None:
        """Print what can be printed in file order (call with `lock` held)."""
        if not self.open:
            return
        while self._next < len(self.progress):
            p = self.progress[self._next]
            self._print_steps(p, p.steps)
            if p.result is None:
                return
            self._print_file(p, p.result)

    def close(self) -> None:
        with self.lock:
            self.open = False

    def print_rest(self, results: Sequence[SpecResult]) -> None:
        for result in results[self._next:]:
            self._print_file(self.progress[self._next], result)

    def _print_steps(self, p: _Progress, steps: Sequence[StepResult]) -> None:
        while p.reported_steps < len(steps):
            self._print_step(steps[p.reported_steps])
            p.reported_steps += 1

    def _print_file(self, p: _Progress, result: SpecResult) -> None:
        self._print_steps(p, result.steps)
        self._print_spec(result)
        self._next += 1


class _StopLoading(BaseException):
    """Raised by the signal handler while spec files load (nothing is running yet)."""


class _ReportPacer:
    """When to rewrite the report files: after a change, at most every REPORT_INTERVAL_S.

    A rewrite that costs more (a huge run) spaces the next ones out, so keeping the
    reports current never takes more than about a fifth of the run's time.
    """

    def __init__(self, write: Callable[[], None]) -> None:
        self._write = write
        self._dirty = False
        self._last = 0.0
        self._interval = REPORT_INTERVAL_S

    def write(self) -> None:
        began = time.monotonic()
        self._write()
        self._last = time.monotonic()
        self._interval = max(REPORT_INTERVAL_S, 4 * (self._last - began))
        self._dirty = False

    def changed(self, changed: bool) -> None:
        self._dirty = self._dirty or changed
        if self._dirty and time.monotonic() - self._last >= self._interval:
            self.write()

    def wait_s(self) -> float:
        """How long the main thread may sleep before the next write is due."""
        if not self._dirty:
            return 0.2
        return max(0.0, self._last + self._interval - time.monotonic())


def _base_url_note(environment: str | None, env, specs: Sequence[Spec]) -> str | None:
    """One line when `--env NAME`'s base_url is not used by some files (their own wins)."""
    if not environment or env is None or not env.base_url:
        return None
    own = [s.path for s in specs if s.base_url is not None]
    if not own:
        return None
    from .redact import shown_url

    listed = ", ".join(own[:3]) + (f" and {len(own) - 3} more" if len(own) > 3 else "")
    return (f"note: environment '{environment}' sets base_url {shown_url(str(env.base_url))}, "
            f"but {listed} {'sets its' if len(own) == 1 else 'set their'} own base_url, which wins")


def write_atomic(path: str, text: str) -> None:
    """Write to a temporary file beside `path`, then rename: readers never see half a report."""
    target = Path(path)
    if target.parent and not target.parent.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists() and not stat.S_ISREG(target.stat().st_mode):
        # an OSError, like any other failed write: the run goes on and says so once (exit 2)
        raise OSError(errno.EISDIR if target.is_dir() else errno.EINVAL, "not a regular file")
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)  # never leave a half-written temporary file behind
        raise


@contextlib.contextmanager
def _gc_frozen():
    """Keep full garbage collections cheap while a run loads and sends.

    A full collection walks every tracked object, the imported modules and classes
    included: one triggered while a spec file loads costs tens of milliseconds.
    `gc.freeze()` moves what exists now (mostly imports) out of the collector's sight,
    so collections during the run only walk what the run creates; `unfreeze` at the end
    hands everything back, so nothing is kept alive longer than without it.
    """
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _drain(events: queue.Queue, *, timeout: float) -> list[tuple]:
    """The workers' events: the first one waited for (up to `timeout`), then all already queued."""
    try:
        batch = [events.get(timeout=timeout)]
    except queue.Empty:
        return []
    while True:
        try:
            batch.append(events.get_nowait())
        except queue.Empty:
            return batch


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _install_signals(handler) -> dict:
    previous = {}
    if threading.current_thread() is not threading.main_thread():
        return previous
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            previous[sig] = signal.signal(sig, handler)
        except (ValueError, OSError):
            pass
    return previous


def _restore_signals(previous: dict) -> None:
    for sig, old in previous.items():
        try:
            signal.signal(sig, old)
        except (ValueError, OSError, TypeError):
            pass


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

    threads = [threading.Thread(target=loop, name=f"runner-worker-{i}", daemon=True) for i in range(max(1, min(jobs, count)))]
    for t in threads:
        t.start()
    return threads
