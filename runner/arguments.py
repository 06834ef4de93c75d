"""The command line's grammar: every subcommand and its options, and their value types.

`build_parser(command)` fills in only the subcommand asked for (the rest are listed
for help and errors): argparse's per-option work is a noticeable part of start-up.
"""

from __future__ import annotations

import argparse
from typing import Sequence

from .errors import UsageError

__all__ = ["build_parser", "command_in", "CleanExit"]

MAX_TIMEOUT_S = 86400


class _ArgumentParser(argparse.ArgumentParser):
    """argparse that raises UsageError (exit 2) instead of exiting the process."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{message}\n{self.format_usage().strip()}")

    def exit(self, status: int = 0, message: str | None = None) -> None:  # type: ignore[override]
        if message:
            raise UsageError(message.strip())
        raise CleanExit(status)


class CleanExit(Exception):
    """argparse was asked to stop without an error (--help): the exit status to return."""

    def __init__(self, status: int) -> None:
        self.status = status


def _add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--env", metavar="NAME", help="environment from the config file's `environments`")
    p.add_argument("--config", metavar="FILE", help="config file (default: ./runner.yaml when it exists)")
    p.add_argument("--var", metavar="K=V", action="append", default=[], help="set a variable (repeatable)")
    p.add_argument("--secret", metavar="K=V", action="append", default=[], help="override a secret's value (local use)")
    p.add_argument("--jobs", "-j", metavar="N", type=_positive_int, default=1, help="spec files run in parallel")
    p.add_argument("--shard", metavar="K/N", type=_shard, help="run the K-th of N deterministic slices of the spec files")
    p.add_argument("--fail-fast", "-x", action="store_true", help="stop after the first request that does not pass")
    p.add_argument("-k", metavar="SUBSTRING", dest="name_filter", help="only requests whose (or whose spec's) name contains this")
    p.add_argument("--tag", metavar="TAG", action="append", default=[], help="only requests tagged so (request or spec tags)")
    p.add_argument("--timeout", metavar="S", type=_positive_float, help="default deadline per request in seconds (30)")
    p.add_argument("--insecure", action="store_true", help="do not verify TLS certificates (warned about in every report)")
    p.add_argument("--junit", metavar="FILE", help="write a JUnit XML report")
    p.add_argument("--json", metavar="FILE", dest="json_report", help="write a JSON report")
    p.add_argument("--summary", metavar="FILE", help="write a Markdown summary")
    p.add_argument("--html", metavar="FILE", help="write a self-contained HTML report")
    p.add_argument("-v", "--verbose", action="count", default=0, help="-v: show exchanges of failures; -vv: of every request")
    p.add_argument("--curl", action="store_true", help="print each request as a curl command (secrets as $PLACEHOLDERS)")
    p.add_argument("--no-color", action="store_true", help="no colours (also NO_COLOR)")
    p.add_argument("--debug", action="store_true", help="show tracebacks of internal errors (secrets masked)")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The whole command line; with `command`, only that subcommand gets its options.

    The others are still listed (`runner --help`, "invalid choice"): building every
    option of every subcommand is a noticeable part of a one-request run's start-up.
    """
    parser = _ArgumentParser(
        prog="runner",
        description="Declarative, YAML-driven HTTP request runner for smoke-testing APIs.",
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", parser_class=_ArgumentParser, metavar="COMMAND")
    for name, (help_text, add_options) in _COMMANDS.items():
        p = sub.add_parser(name, help=help_text)
        if command is None or command == name:
            add_options(p)
    return parser


def command_in(argv: Sequence[str]) -> str | None:
    """The subcommand `argv` names (its first word that is not an option), if it is one."""
    word = next((a for a in argv if not a.startswith("-")), None)
    return word if word in _COMMANDS else None


def _add_run_parser(run: argparse.ArgumentParser) -> None:
    run.add_argument("paths", nargs="*", metavar="PATH", help="spec files or directories (default: specs/)")
    _add_run_options(run)


def _add_validate_parser(validate: argparse.ArgumentParser) -> None:
    validate.add_argument("paths", nargs="*", metavar="PATH", help="spec files or directories (default: specs/)")
    validate.add_argument("--env", metavar="NAME")
    validate.add_argument("--config", metavar="FILE")
    validate.add_argument("--var", metavar="K=V", action="append", default=[])
    validate.add_argument("--secret", metavar="K=V", action="append", default=[])
    validate.add_argument("--debug", action="store_true")


def _add_schema_parser(schema: argparse.ArgumentParser) -> None:
    schema.add_argument("name", nargs="?", default="spec", choices=["spec", "config", "report", "fragment"])


def _add_demo_parser(demo: argparse.ArgumentParser) -> None:
    demo.add_argument(
        "--show-auth-failure",
        action="store_true",
        help="also run the spec whose token has expired, to see an AUTH report (exits 3)",
    )
    demo.add_argument(
        "--show-contract-failure",
        action="store_true",
        help="also run the spec whose response breaks the API's OpenAPI document, to see a contract FAIL (exits 1)",
    )
    _add_run_options(demo)


def _add_import_parser(imp: argparse.ArgumentParser) -> None:
    kinds = imp.add_subparsers(dest="kind", parser_class=_ArgumentParser, metavar="KIND", required=True)
    out_help = "a folder, or a .yaml file when one spec results (default: print one spec on stdout)"
    curl = kinds.add_parser("curl", help="a curl command (browser \"Copy as cURL\"): after --, or on stdin")
    curl.add_argument("-o", "--output", metavar="PATH", help=out_help)
    curl.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    curl.add_argument("curl_args", nargs=argparse.REMAINDER, metavar="-- curl ARGS", help="the command (or stdin)")
    for kind, what in (("har", "a browser's HAR export"), ("postman", "a Postman collection (v2.1 or v2.0)"),
                       ("openapi", "an OpenAPI 3 document (JSON or YAML)")):
        p = kinds.add_parser(kind, help=what)
        p.add_argument("file", metavar="FILE", help=what)
        p.add_argument("-o", "--output", metavar="PATH", help=out_help)
        p.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")


def _add_load_parser(load: argparse.ArgumentParser) -> None:
    load.add_argument("paths", nargs="*", metavar="PATH", help="spec files or directories (default: specs/)")
    load.add_argument("--users", "-u", metavar="N", type=_positive_int, default=1, help="simulated users (1)")
    load.add_argument("--spawn-rate", "-r", metavar="N", type=_positive_number, default=1.0, help="users started per second (1)")
    load.add_argument("--run-time", "-t", metavar="TIME", help="stop after this long: 30s, 2m, 1h30m (default: until Ctrl-C)")
    load.add_argument("--master", action="store_true", help="distributed: be the master (workers run the users)")
    load.add_argument("--expect-workers", metavar="N", type=_positive_int, default=1, help="master: start when N workers are connected (1)")
    load.add_argument("--expect-workers-max-wait", metavar="TIME", default="60s", help="master: exit 4 if they are not all there by then (60s)")
    load.add_argument("--master-bind-host", metavar="HOST", default="*", help="master: interface to listen on (all)")
    load.add_argument("--master-bind-port", metavar="PORT", type=_port, default=5557, help="master: port to listen on (5557)")
    load.add_argument("--worker", action="store_true", help="distributed: be a worker of --master-host")
    load.add_argument("--master-host", metavar="HOST", default="127.0.0.1", help="worker: the master's address (127.0.0.1)")
    load.add_argument("--master-port", metavar="PORT", type=_port, default=5557, help="worker: the master's port (5557)")
    load.add_argument("--env", metavar="NAME", help="environment from the config file's `environments`")
    load.add_argument("--config", metavar="FILE", help="config file (default: ./runner.yaml when it exists)")
    load.add_argument("--var", metavar="K=V", action="append", default=[], help="set a variable (repeatable)")
    load.add_argument("--secret", metavar="K=V", action="append", default=[], help="override a secret's value (local use)")
    load.add_argument("--timeout", metavar="S", type=_positive_float, help="default deadline per request in seconds (30)")
    load.add_argument("--insecure", action="store_true", help="do not verify TLS certificates")
    load.add_argument("--csv", metavar="PREFIX", dest="csv_prefix", help="Locust's CSV files PREFIX_stats.csv, ...")
    load.add_argument("--html", metavar="FILE", help="Locust's HTML report")
    load.add_argument("--max-fail-ratio", metavar="R", type=_ratio, help="exit 1 when more than this share of requests fail (0.01)")
    load.add_argument("--p95-ms", metavar="MS", type=_positive_number, help="exit 1 when the 95th percentile is above this")
    load.add_argument("--no-checks", action="store_true", help="check only each request's status, not its other expectations")
    load.add_argument("--debug", action="store_true", help="show tracebacks of internal errors (secrets masked)")


# name -> (help, the function that adds its options), in the order `runner --help` lists them
_COMMANDS = {
    "run": ("run spec files", _add_run_parser),
    "validate": ("check spec files without sending anything", _add_validate_parser),
    "schema": ("print a JSON Schema (spec, config, report or fragment)", _add_schema_parser),
    "load": ("load the API with the spec files as Locust users (extra: request-runner[load])", _add_load_parser),
    "demo": ("start the embedded demo API and run the demo specs against it", _add_demo_parser),
    "import": ("write spec files from a curl command, a HAR file, a Postman collection or an OpenAPI document",
               _add_import_parser),
}


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port number 1-65535, got '{text}'")
    return value


def _ratio(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"expected a ratio between 0 and 1 (0.01 is 1%), got '{text}'")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got '{text}'") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got '{text}'") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError("must be a positive number of seconds")
    if value > MAX_TIMEOUT_S:  # the spec schema's limit too; larger ones overflow socket timeouts
        raise argparse.ArgumentTypeError(f"must be at most {MAX_TIMEOUT_S} seconds (a day)")
    return value


def _positive_number(text: str) -> float:
    """A finite number above 0, of no unit (milliseconds, users per second): no cap in seconds."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got '{text}'") from None
    if not 0 < value < float("inf"):  # also refuses nan
        raise argparse.ArgumentTypeError(f"must be a positive number, got '{text}'")
    return value


def _shard(text: str) -> tuple[int, int]:
    k, sep, n = text.partition("/")
    try:
        ki, ni = int(k), int(n)
    except ValueError:
        ki = ni = 0
    if not sep or ni < 1 or not 1 <= ki <= ni:
        raise argparse.ArgumentTypeError(f"expected K/N with 1 <= K <= N, got '{text}'")
    return ki, ni
