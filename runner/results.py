"""What a run produced: plain, immutable data that reporters read.

The engine decides meaning here (an Outcome, a FailureKind); reporters only
choose how it looks. Everything stored here is already redacted: no secret
value ever enters a result.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from .errors import ExitCode
from .source import Span

__all__ = [
    "NOT_PASSING",
    "Outcome",
    "FailureKind",
    "Failure",
    "CheckResult",
    "RequestSnapshot",
    "ResponseSnapshot",
    "Challenge",
    "AuthDiagnosis",
    "StepResult",
    "SpecResult",
    "RunResult",
    "exit_code_for",
]


class Outcome(str, enum.Enum):
    PASS = "PASS"
    FAIL = "FAIL"
    AUTH = "AUTH"
    ERROR = "ERROR"
    SKIP = "SKIP"


# Outcomes that make a run fail (what --fail-fast stops on and annotations report).
NOT_PASSING = (Outcome.FAIL, Outcome.AUTH, Outcome.ERROR)


class FailureKind(str, enum.Enum):
    ASSERTION = "assertion"  # an expectation failed
    UNAUTHORIZED = "unauthorized"  # unexpected 401
    FORBIDDEN = "forbidden"  # 403 not expected: token accepted, lacks permission
    SECRET = "secret"  # a secret could not be resolved
    TRANSPORT = "transport"  # the exchange could not complete
    INTERRUPTED = "interrupted"  # Ctrl-C / SIGTERM during the request
    CONTRACT = "contract"  # the response breaks the API's OpenAPI document (not the spec's expectation)


@dataclass(frozen=True, slots=True)
class Failure:
    """Why a request did not pass: one check's failure, or an error, in plain words."""

    kind: FailureKind
    message: str  # one plain line, e.g. "status: expected 200, got 404"
    expected: str | None = None
    actual: str | None = None
    span: Span | None = None
    hint: str | None = None


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The verdict of one expectation: `subject` like "status", "$.count", "header Content-Type"."""

    subject: str
    passed: bool
    expected: str
    actual: str
    span: Span | None = None
    checked: bool = True  # False when not evaluated (e.g. behind an AUTH outcome)


@dataclass(frozen=True, slots=True)
class RequestSnapshot:
    """What was sent, as reports may show it: secrets already masked."""

    method: str
    url: str  # secrets masked
    headers: tuple[tuple[str, str], ...] = ()  # secrets masked ("Bearer ***")
    body_excerpt: str | None = None  # masked, bounded


@dataclass(frozen=True, slots=True)
class ResponseSnapshot:
    """A response as the transport read it. `body` is the raw bytes (capped)."""

    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    elapsed_ms: float
    url: str
    truncated: bool = False
    size: int = 0

    def header(self, name: str) -> str | None:
        lname = name.lower()
        for k, v in self.headers:
            if k.lower() == lname:
                return v
        return None

    def header_all(self, name: str) -> list[str]:
        lname = name.lower()
        return [v for k, v in self.headers if k.lower() == lname]

    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


@dataclass(frozen=True, slots=True)
class Challenge:
    """One parsed WWW-Authenticate challenge (RFC 7235, RFC 6750)."""

    scheme: str
    params: tuple[tuple[str, str], ...] = ()

    def param(self, name: str) -> str | None:
        for k, v in self.params:
            if k.lower() == name.lower():
                return v
        return None


@dataclass(frozen=True, slots=True)
class AuthDiagnosis:
    """Why a credential was refused or could not be had, in plain words. Never the value."""

    secret: str | None  # the secret's name
    source: str | None  # "env PETS_API_TOKEN"
    fingerprint: str | None = None  # "sha256:1a2b3c4d"
    challenges: tuple[Challenge, ...] = ()
    token_notes: tuple[str, ...] = ()  # e.g. "JWT expired 2 h 14 min ago (unverified)"
    hint: str | None = None
    refreshed: bool = False  # a new token was fetched and the request resent
    declared_at: Span | None = None

    def headline(self) -> str:
        parts = []
        if self.secret:
            src = f" from {self.source}" if self.source else ""
            parts.append(f"token '{self.secret}'{src}")
        for c in self.challenges:
            err = c.param("error")
            desc = c.param("error_description")
            if err or desc:
                parts.append(": ".join(x for x in (err, desc) if x))
                break
        parts.extend(self.token_notes)
        return "; ".join(parts)


@dataclass(frozen=True, slots=True)
class StepResult:
    """The outcome of one request (one step of a spec file), masked and ready to report."""

    spec_path: str
    name: str
    index: int
    outcome: Outcome
    method: str
    url: str  # masked
    status: int | None = None
    elapsed_ms: float | None = None
    checks: tuple[CheckResult, ...] = ()
    failures: tuple[Failure, ...] = ()
    request: RequestSnapshot | None = None
    response: ResponseSnapshot | None = None  # body already masked
    auth: AuthDiagnosis | None = None
    skip_reason: str | None = None
    attempts: int = 1
    token_refreshed: bool = False
    span: Span | None = None
    tags: tuple[str, ...] = ()
    location: str | None = None  # the Location header of an unfollowed 3xx
    curl: str | None = None  # the request as a curl command (--curl), secrets as $PLACEHOLDERS
    included_from: tuple[str, ...] = ()  # `include:` sites that led to the request (innermost first)


@dataclass(frozen=True, slots=True)
class SpecResult:
    """The steps of one spec file, or why the file could not run."""

    path: str
    name: str
    steps: tuple[StepResult, ...]
    duration_s: float = 0.0
    error: str | None = None  # the file could not run at all
    tags: tuple[str, ...] = ()

    def count(self, outcome: Outcome) -> int:
        return sum(1 for s in self.steps if s.outcome is outcome)


@dataclass(frozen=True, slots=True)
class RunResult:
    """Everything one run did: the spec files' results, warnings, and how it ended."""

    specs: tuple[SpecResult, ...]
    duration_s: float = 0.0
    version: str = ""
    environment: str | None = None
    warnings: tuple[str, ...] = ()  # e.g. TLS verification disabled
    interrupted: str | None = None  # "SIGINT" / "SIGTERM"
    started_at: str = ""  # ISO 8601 UTC
    in_progress: bool = False  # a report written during the run: requests not finished are not verdicts
    internal_error: str | None = None  # the run stopped on a bug (exit 70): the exception's type name

    @property
    def steps(self) -> tuple[StepResult, ...]:
        return tuple(s for spec in self.specs for s in spec.steps)

    def counts(self) -> dict[Outcome, int]:
        counts = {o: 0 for o in Outcome}
        for step in self.steps:
            counts[step.outcome] += 1
        return counts

    @property
    def exit_code(self) -> ExitCode:
        """The exit code `runner run` gives for this run (an int)."""
        return exit_code_for(self)


def exit_code_for(run: RunResult) -> ExitCode:
    """Precedence: interruption, an internal error (70), then 3 (credentials), 4 (transport), 1 (checks)."""
    if run.interrupted == "SIGINT":
        return ExitCode.SIGINT
    if run.interrupted == "SIGTERM":
        return ExitCode.SIGTERM
    if run.internal_error is not None:
        return ExitCode.INTERNAL
    outcomes = {s.outcome for s in run.steps}
    if Outcome.AUTH in outcomes:
        return ExitCode.CREDENTIALS
    if Outcome.ERROR in outcomes or any(s.error for s in run.specs):
        return ExitCode.TRANSPORT
    if Outcome.FAIL in outcomes:
        return ExitCode.CHECK_FAILED
    return ExitCode.OK
