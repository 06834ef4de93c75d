"""The exception tree. Exceptions mean "cannot continue"; a failed check or a 401
is a result (see results.py), never an exception.

    RunnerError                 exit_code: the ExitCode it maps to
    ├── UsageError              bad flag or argument (2)
    ├── SpecError               invalid spec or config file (2); holds .diagnostics
    ├── SecretError             a secret could not be resolved (3); never holds the value
    └── TransportError          the exchange could not complete (4): refused, DNS, TLS,
                                timeout, reset, redirect loop, body too large
"""

from __future__ import annotations

import enum
from typing import Sequence

from .source import Diagnostic, Span

__all__ = [
    "ExitCode",
    "RunnerError",
    "UsageError",
    "SpecError",
    "SecretError",
    "TransportError",
]


class ExitCode(enum.IntEnum):
    OK = 0
    CHECK_FAILED = 1
    USAGE = 2
    CREDENTIALS = 3
    TRANSPORT = 4
    INTERNAL = 70
    SIGINT = 130
    SIGTERM = 143


class RunnerError(Exception):
    exit_code: ExitCode = ExitCode.INTERNAL

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UsageError(RunnerError):
    exit_code = ExitCode.USAGE


class SpecError(RunnerError):
    """Every problem found in one or more input files, all at once."""

    exit_code = ExitCode.USAGE

    def __init__(self, diagnostics: Sequence[Diagnostic], partial: object = None) -> None:
        self.diagnostics = tuple(sorted(diagnostics, key=Diagnostic.sort_key))
        # A spec that was built despite semantic errors (a bad regex, say), so that its
        # references can still be checked and every error reported in one pass.
        self.partial = partial
        super().__init__("\n".join(d.one_line() for d in self.diagnostics))


class SecretError(RunnerError):
    """A secret could not be resolved. `message` must never contain the value."""

    exit_code = ExitCode.CREDENTIALS

    def __init__(self, secret: str, source: str, message: str, span: Span | None = None) -> None:
        self.secret = secret
        self.source = source
        self.span = span
        where = f" (declared at {span.location()})" if span else ""
        super().__init__(f"secret '{secret}' from {source}: {message}{where}")
        self.reason = message


class TransportError(RunnerError):
    """`kind` is one of: connect, dns, tls, timeout, reset, redirect, too_large, invalid_url, proxy, other.

    A TLS failure may say what is needed (`wants`: "client_cert" or "ca") and add a `hint` to
    its message naming a request's `tls:`; a caller whose settings are written elsewhere (a
    login) says `fact` with a hint of its own instead."""

    exit_code = ExitCode.TRANSPORT

    def __init__(self, kind: str, message: str, *, hint: str = "", wants: str | None = None) -> None:
        self.kind = kind
        self.fact = message
        self.hint = hint
        self.wants = wants
        super().__init__(message + hint)
