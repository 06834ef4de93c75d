"""The command line: `runner run|validate|schema|demo|import`. A leaf: it wires the parts together.

`main(argv, stdout=, stderr=, environ=) -> int` never calls sys.exit (only
`__main__` and `entry_point` do), so tests run it exactly as a user does.
Heavy modules (rich, requests, jsonschema) are imported lazily so that
`runner --version` starts fast.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import traceback
from typing import Sequence, TextIO

from . import __version__
from .arguments import CleanExit, build_parser, command_in
from .errors import ExitCode, RunnerError, SpecError, UsageError

__all__ = ["main", "entry_point", "build_parser"]

BUG_REPORT = "this is a bug in request-runner; please report it with the output of --debug (secrets are masked)"


def main(
    argv: Sequence[str] | None = None,
    *,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    environ: dict[str, str] | None = None,
) -> int:
    stdout = stdout if stdout is not None else sys.stdout
    stderr = stderr if stderr is not None else sys.stderr
    environ = dict(os.environ if environ is None else environ)
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    redactor = None
    try:
        parser = build_parser(command_in(argv))
        try:
            args = parser.parse_args(argv)
        except CleanExit as done:  # --help
            return done.status
        if args.version:
            stdout.write(f"runner (request-runner) {__version__}\n")
            return ExitCode.OK
        if args.command is None:
            parser.print_help(stdout)
            return ExitCode.USAGE
        if args.command == "schema":
            from .load import schema_text

            stdout.write(schema_text(args.name).rstrip("\n") + "\n")
            return ExitCode.OK

        if args.command == "import":
            from .importers.command import run_import

            return run_import(args, stdout=stdout, stderr=stderr)
        if args.command == "load":
            loadtest = _import_load(args)  # first: gevent patches the process before requests is imported
            _check_report_targets(_load_report_targets(args))
            from .app import App

            args.no_color, args.verbose = True, 0  # App reads them; Locust's console is its own
            app = App(args, stdout=stdout, stderr=stderr, environ=environ)
            redactor = app.redactor
            return _load(loadtest, app, args, stdout, stderr, environ)

        if args.command in ("run", "demo"):
            _check_report_targets((("--junit", args.junit), ("--json", args.json_report),
                                   ("--summary", args.summary), ("--html", args.html)))
        from .app import App  # the wiring; imported lazily (pulls in requests, rich, ...)

        app = App(args, stdout=stdout, stderr=stderr, environ=environ)
        redactor = app.redactor
        if args.command == "validate":
            return app.validate()
        if args.command == "demo":
            return app.demo()
        return app.run()
    except SpecError as exc:
        _print_spec_error(exc, stderr, redactor)
        return exc.exit_code
    except RunnerError as exc:
        message = redactor.mask(exc.message) if redactor else exc.message
        _safe_write(stderr, f"error: {message}\n")
        return exc.exit_code
    except KeyboardInterrupt:
        _safe_write(stderr, "interrupted\n")
        return ExitCode.SIGINT
    except BrokenPipeError:
        _silence_stdout()
        return ExitCode.OK
    except Exception as exc:  # noqa: BLE001 - the one place that turns a bug into exit 70
        _safe_write(stderr, f"internal error: {type(exc).__name__}; {BUG_REPORT}\n")
        if debug:
            text = traceback.format_exc()
            _safe_write(stderr, redactor.mask(text) if redactor else text)
        else:
            _safe_write(stderr, "run again with --debug to see the traceback\n")
        return ExitCode.INTERNAL


def _import_load(args: argparse.Namespace):
    """runner/loadtest.py, which imports Locust (and gevent's patching): only `runner load` does."""
    import importlib
    import importlib.util

    if importlib.util.find_spec("locust") is None:
        raise UsageError("runner load needs Locust: pip install 'request-runner[load]'")
    if args.master and args.worker:
        raise UsageError("--master and --worker exclude each other")
    if args.worker and (args.html or args.csv_prefix):
        raise UsageError("--html and --csv are the master's: a worker sends its statistics to the master, which writes them")
    return importlib.import_module(".loadtest", __package__)


def _load(loadtest, app, args: argparse.Namespace, stdout: TextIO, stderr: TextIO, environ: dict[str, str]) -> int:
    import dataclasses

    from .app import settings_from_args

    load = loadtest.LoadSettings(
        users=args.users, spawn_rate=args.spawn_rate,
        run_time=loadtest.parse_duration(args.run_time) if args.run_time else None,
        master=args.master, worker=args.worker, expect_workers=args.expect_workers,
        expect_workers_max_wait=loadtest.parse_duration(args.expect_workers_max_wait, "--expect-workers-max-wait"),
        master_host=args.master_host, master_port=args.master_port,
        master_bind_host=args.master_bind_host, master_bind_port=args.master_bind_port,
        csv_prefix=args.csv_prefix, html=args.html, max_fail_ratio=args.max_fail_ratio, p95_ms=args.p95_ms,
        no_checks=args.no_checks,
    )
    settings = settings_from_args(args, None, app.cli_vars, app.cli_secrets, environ)
    settings = dataclasses.replace(settings, reports=(), step_summary=None)  # --html is Locust's here
    return loadtest.run_load(settings, load, redactor=app.redactor, environ=environ, stdout=stdout, stderr=stderr)


def _load_report_targets(args: argparse.Namespace) -> tuple[tuple[str, str | None], ...]:
    """Locust's HTML report, and the first of its CSV files (the others sit beside it).
    An empty --csv stays empty (refused as --html '' is): Locust would silently write nothing."""
    csv = args.csv_prefix + "_stats.csv" if args.csv_prefix else args.csv_prefix
    return (("--html", args.html), ("--csv", csv))


def _check_report_targets(targets: Sequence[tuple[str, str | None]]) -> None:
    """Refuse unwritable report paths before anything is sent (exit 2), not after the run."""
    seen: dict[str, str] = {}
    for flag, path in targets:
        if path is None:
            continue
        if path == "":
            raise UsageError(f"{flag}: empty file name; give a file name")
        if "\0" in path:
            raise UsageError(f"{flag} {path!r}: a file name cannot contain a NUL character")
        if os.path.isdir(path):
            raise UsageError(f"{flag} {path!r}: is a directory; give a file name")
        if os.path.exists(path) and not os.path.isfile(path):
            raise UsageError(f"{flag} {path}: not a regular file; cannot write a report there")
        if os.path.isfile(path) and path.endswith((".yaml", ".yml")):
            raise UsageError(f"{flag} {path}: is a YAML file (a spec?); a report would overwrite it")
        same = seen.setdefault(os.path.realpath(path), flag)
        if same != flag:
            raise UsageError(f"{flag} and {same} name the same file {path}; give each report its own")
        parent = os.path.dirname(os.path.abspath(path))
        while not os.path.exists(parent):  # missing folders are created at write time
            parent = os.path.dirname(parent)
        if not os.path.isdir(parent) or not _can_create_in(parent):
            raise UsageError(f"{flag} {path}: cannot write there (cannot create files in {parent})")


def _can_create_in(folder: str) -> bool:
    import tempfile

    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".runner-probe-"):
            return True
    except OSError:
        return False


def _print_spec_error(exc: SpecError, stderr: TextIO, redactor) -> None:
    from .source import format_diagnostic
    from .srcmask import masked_lines

    cache: dict[str, list[str] | None] = {}
    blocks = []
    for diag in exc.diagnostics:
        lines = None
        if diag.span is not None:
            if diag.span.path not in cache:
                cache[diag.span.path] = masked_lines(diag.span.path, redactor)
            lines = cache[diag.span.path]
        text = format_diagnostic(diag, lines)
        blocks.append(redactor.mask(text) if redactor else text)
    count = len(exc.diagnostics)
    summary = f"{count} error{'s' if count != 1 else ''}; nothing was sent"
    _safe_write(stderr, "\n".join(f"error: {b}" for b in blocks) + f"\n{summary}\n")


def _safe_write(stream: TextIO, text: str) -> None:
    try:
        stream.write(text)
        stream.flush()
    except (BrokenPipeError, ValueError, OSError):
        pass


def _silence_stdout() -> None:
    """After a closed pipe (`runner run | head -1`) keep Python from failing at exit."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


def entry_point() -> None:
    code = main()
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _silence_stdout()
    # The process ends here. Its last garbage collection would walk, and free one by one,
    # what the run kept (the loaded specs and their plans: a quarter of a second after
    # 10,000 requests), which the OS takes back at once. Frozen objects are left to it;
    # atexit handlers (temporary certificate files) and the flushing of streams still run.
    gc.freeze()
    sys.exit(int(code))
