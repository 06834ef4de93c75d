"""GitHub Actions workflow commands: `::error` annotations and `::add-mask::`.

    ::error file=<spec path>,line=<line>,title=<OUTCOME: request name>::<message>

one per FAIL, AUTH and ERROR request (without file/line when the request has no span),
and one per spec file that could not run. The message is masked and sanitised, then
escaped as the runner requires: in data `%` -> `%25`, CR -> `%0D`, LF -> `%0A`; in
property values also `:` -> `%3A` and `,` -> `%2C`. A multi-line message stays one
command line (its newlines are escaped), so server text cannot start a command of its own.
"""

from __future__ import annotations

from ..redact import Redactor
from ..results import NOT_PASSING, Outcome, RunResult, StepResult
from . import auth_reason, outcome_label
from .sanitize import scrub

__all__ = ["annotations", "add_mask", "escape_data", "escape_property"]

_MESSAGE_LIMIT = 4000


def escape_data(value: str) -> str:
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(value: str) -> str:
    return escape_data(value).replace(":", "%3A").replace(",", "%2C")


def add_mask(value: str) -> str:
    """The one line that carries a secret's value, to the runner (which never displays it)."""
    return "::add-mask::" + escape_data(value)


def _message(step: StepResult) -> str:
    if step.outcome is Outcome.AUTH:
        lines = [auth_reason(step)]
        if step.auth is not None and step.auth.hint:
            lines.append(f"hint: {step.auth.hint}")
        return "\n".join(lines)
    lines = []
    for f in step.failures:
        lines.append(f.message)
        if f.hint:
            lines.append(f"hint: {f.hint}")
    return "\n".join(lines) or f"{step.outcome.value}: {step.method} {step.url}"


def _command(props: list[tuple[str, str]], message: str) -> str:
    head = ",".join(f"{k}={escape_property(v)}" for k, v in props if v)
    return f"::error {head}::{escape_data(message)}" if head else f"::error::{escape_data(message)}"


def annotations(run: RunResult, *, redactor: Redactor | None = None) -> list[str]:
    out: list[str] = []
    for spec in run.specs:
        if spec.error:
            out.append(_command(
                [("file", scrub(spec.path, redactor, oneline=True, limit=1000)),
                 ("title", scrub(f"ERROR: {spec.name or spec.path} could not run", redactor, oneline=True, limit=200))],
                scrub(spec.error, redactor, limit=_MESSAGE_LIMIT),
            ))
        for step in spec.steps:
            if step.outcome not in NOT_PASSING:
                continue
            label = outcome_label(step)
            props: list[tuple[str, str]] = []
            if step.span is not None:
                props.append(("file", scrub(step.span.path, redactor, oneline=True, limit=1000)))
                props.append(("line", str(step.span.line)))
            props.append(("title", scrub(f"{label}: {step.name}", redactor, oneline=True, limit=200)))
            out.append(_command(props, scrub(_message(step), redactor, limit=_MESSAGE_LIMIT)))
    return out
