"""Reporters: turn a RunResult into what people and CI systems read.

    terminal.py     rich console output (the only `rich` user in this package)
    junit.py        JUnit XML (Jenkins/Ant style) for CI test reporters
    json_report.py  the versioned JSON report (schemas/report.schema.json)
    markdown.py     the Markdown summary ($GITHUB_STEP_SUMMARY)
    html.py         the self-contained HTML page (CSS and script from assets/)
    github.py       GitHub Actions `::error` annotations and `::add-mask::`
    sanitize.py     the text pipeline every reporter uses (controls, masking, `::`)

Reporters import only `runner.results`, `runner.model`, `runner.source` and
`runner.redact`. The meaning of a result (its Outcome, its FailureKind) is decided by
the engine; this package only chooses how it looks. The helpers below hold the plain
wording that several outputs share, so the terminal, JUnit, JSON and Markdown say the
same thing in the same words.
"""

from __future__ import annotations

import hashlib
import importlib
import math
import re
from typing import Callable, Iterable

from ..redact import Redactor
from ..results import AuthDiagnosis, Challenge, FailureKind, Outcome, ResponseSnapshot, RunResult, StepResult
from .sanitize import scrub

__all__ = [
    "OUTCOME_ORDER",
    "auth_reason",
    "body_excerpt",
    "body_is_binary",
    "body_sha256",
    "challenge_text",
    "counts_text",
    "curl_of",
    "diagnosis_lines",
    "failure_lines",
    "finite",
    "format_ms",
    "group_auth",
    "is_contract_failure",
    "is_interrupted",
    "is_secret_failure",
    "location_of",
    "not_checked",
    "not_checked_text",
    "outcome_label",
    "pluralise",
    "summary_line",
    "writer",
    "WRITERS",
]

# Report file formats: name -> module whose `chunks(run, *, redactor) -> Iterator[str]` writes
# it piece by piece (a large run's report is never one string in memory), and whose
# `render(run, *, redactor) -> str` joins them. A new format is one module with those
# functions and one line here.
WRITERS = {"junit": "junit", "json": "json_report", "summary": "markdown", "html": "html"}


def writer(name: str) -> Callable[..., Iterable[str]]:
    """The `chunks(run, *, redactor=None) -> Iterator[str]` of a report format (imported on first use)."""
    return importlib.import_module(f".{WRITERS[name]}", __name__).chunks


OUTCOME_ORDER = (Outcome.PASS, Outcome.FAIL, Outcome.AUTH, Outcome.ERROR, Outcome.SKIP)
# What a text body does not hold: replacement characters (bytes that were not UTF-8) and
# C0 controls other than tab, newline and carriage return. A regex: reports call this per body.
_NOT_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffd]")
_BINARY_TYPES = ("image/", "audio/", "video/", "application/octet-stream", "application/pdf", "application/zip",
                 "application/gzip", "font/")


def finite(value: float | None) -> float | None:
    """None for None, NaN and infinities (JSON reports use allow_nan=False)."""
    if value is None:
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def format_ms(ms: float | None) -> str:
    f = finite(ms)
    return "-" if f is None else f"{round(f)} ms"


def counts_text(steps: Iterable[StepResult], duration_s: float | None) -> str:
    """`N passed, N failed, N auth, N errors, N skipped in T s` (T with 2 decimals): the
    wording of the last line, of each file's line in the console and of the Markdown."""
    c = {o: 0 for o in Outcome}
    for step in steps:
        c[step.outcome] += 1
    secs = finite(duration_s) or 0.0
    return (
        f"{c[Outcome.PASS]} passed, {c[Outcome.FAIL]} failed, {c[Outcome.AUTH]} auth, "
        f"{c[Outcome.ERROR]} errors, {c[Outcome.SKIP]} skipped in {secs:.2f} s"
    )


def summary_line(run: RunResult) -> str:
    """The last line of a run: `counts_text` of every request."""
    return counts_text(run.steps, run.duration_s)


def outcome_label(step: StepResult) -> str:
    """The outcome's word, with the status for an unexpected 401 (`AUTH 401`); a FAIL whose
    every failure is the API breaking its OpenAPI document reads `FAIL contract`."""
    if step.outcome is Outcome.AUTH and step.status is not None:
        return f"AUTH {step.status}"
    if step.outcome is Outcome.FAIL and is_contract_failure(step):
        return "FAIL contract"
    return step.outcome.value


def is_contract_failure(step: StepResult) -> bool:
    """Every failure of the step is the response breaking the OpenAPI document (not an expectation)."""
    return bool(step.failures) and all(f.kind is FailureKind.CONTRACT for f in step.failures)


def location_of(step: StepResult) -> str | None:
    """Where the request is written; in a fragment, with the includes that led there."""
    if step.span is None:
        return None
    where = step.span.location()
    if step.included_from:
        where += " (" + ", ".join(f"included from {site}" for site in step.included_from) + ")"
    return where


def curl_of(step: StepResult) -> str | None:
    """The `curl` field another part may add to StepResult (None when absent)."""
    value = getattr(step, "curl", None)
    return value if isinstance(value, str) and value else None


def is_secret_failure(step: StepResult) -> bool:
    """An AUTH outcome because the secret could not be resolved (nothing was sent)."""
    return any(f.kind is FailureKind.SECRET for f in step.failures)


def is_interrupted(step: StepResult) -> bool:
    return any(f.kind is FailureKind.INTERRUPTED for f in step.failures)


def not_checked(step: StepResult) -> int:
    return sum(1 for c in step.checks if not c.checked)


def not_checked_text(step: StepResult) -> str | None:
    """`2 expectations (nothing was sent: ...)` for an AUTH step that left some unchecked, else None."""
    n = not_checked(step)
    if step.outcome is not Outcome.AUTH or not n:
        return None
    why = ("nothing was sent: the secret could not be resolved" if is_secret_failure(step)
           else "the response was an auth error")
    return f"{pluralise(n, 'expectation')} ({why})"


def challenge_text(challenge: Challenge) -> str:
    """`Bearer realm="pets", error="invalid_token"` (values quoted, quotes escaped)."""
    params = ", ".join(f'{k}="{_q(v)}"' for k, v in challenge.params)
    return f"{challenge.scheme} {params}".strip()


def _q(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def _challenge_error(diag: AuthDiagnosis) -> str | None:
    for c in diag.challenges:
        err = c.param("error")
        desc = c.param("error_description")
        if err and desc:
            return f"{err} ({desc})"
        if err or desc:
            return err or desc
    return None


def auth_reason(step: StepResult) -> str:
    """One plain line saying why an AUTH step failed.

    `token 'pets_token' from env PETS_API_TOKEN rejected: invalid_token (The access
    token expired); JWT expired 2 h 14 min ago (unverified)`, or for a secret that
    could not be resolved, the engine's own message (it names secret and source).
    """
    diag = step.auth
    if is_secret_failure(step):
        msg = next(f.message for f in step.failures if f.kind is FailureKind.SECRET)
        return msg
    parts: list[str] = []
    if diag is not None and diag.secret:
        src = f" from {diag.source}" if diag.source else ""
        head = f"token '{diag.secret}'{src} rejected"
    elif diag is not None and diag.source:
        head = f"credential from {diag.source} rejected"
    else:
        head = "request rejected"
    err = _challenge_error(diag) if diag is not None else None
    if err:
        head += f": {err}"
    elif diag is not None and not diag.challenges and step.status == 401:
        head += " (no WWW-Authenticate challenge)"
    parts.append(head)
    if diag is not None:
        parts.extend(diag.token_notes)
    if diag is None or (not err and not diag.token_notes):
        # fall back on the engine's failure text when the diagnosis says little
        for f in step.failures:
            if f.kind is FailureKind.UNAUTHORIZED and f.message and f.message not in parts:
                parts.append(f.message)
                break
    return "; ".join(parts)


def diagnosis_lines(step: StepResult) -> list[tuple[str, str]]:
    """(label, value) rows describing an AuthDiagnosis, in display order."""
    diag = step.auth
    rows: list[tuple[str, str]] = []
    if diag is None:
        return rows
    if diag.secret or diag.source:
        value = diag.secret or "?"
        extra = [x for x in (diag.source,) if x]
        if diag.declared_at is not None:
            extra.append(f"declared at {diag.declared_at.location()}")
        if extra:
            value += f" ({', '.join(extra)})"
        rows.append(("secret", value))
    if diag.fingerprint:
        rows.append(("fingerprint", diag.fingerprint))
    for c in diag.challenges:
        rows.append(("challenge", challenge_text(c)))
    if step.status == 401 and not diag.challenges and not is_secret_failure(step):
        rows.append(("challenge", "none (the 401 carried no WWW-Authenticate header)"))
    for note in diag.token_notes:
        rows.append(("token", note))
    if diag.refreshed:
        rows.append(("refreshed", "a new token was fetched and the request resent"))
    if diag.hint:
        rows.append(("hint", diag.hint))
    return rows


def failure_lines(step: StepResult) -> list[str]:
    """The plain diagnosis of a non-passing step: one block shared by JUnit and Markdown."""
    out: list[str] = []
    loc = location_of(step)
    if loc:
        out.append(f"--> {loc}")
    if step.outcome is Outcome.SKIP:
        out.append(f"skipped: {step.skip_reason or 'no reason given'}")
        return out
    req = f"{step.method} {step.url}"
    if step.status is not None:
        reason = step.response.reason if step.response is not None else ""
        req += f" -> {step.status}{(' ' + reason) if reason else ''}"
    if finite(step.elapsed_ms) is not None:
        req += f" ({format_ms(step.elapsed_ms)})"
    out.append(req)
    if step.location:
        out.append(f"Location: {step.location}")
    if step.outcome is Outcome.AUTH:
        out.append(auth_reason(step))
        for label, value in diagnosis_lines(step):
            out.append(f"  {label}: {value}")
        unchecked = not_checked_text(step)
        if unchecked:
            out.append(f"not checked: {unchecked}")
        return out
    for f in step.failures:
        out.append(_indent(f.message, 2))
        if f.expected is not None:
            out.append(f"  expected: {_indent(f.expected, 4)}")
        if f.actual is not None:
            out.append(f"  actual:   {_indent(f.actual, 4)}")
        if f.span is not None and f.span != step.span:
            out.append(f"  at: {f.span.location()}")
        if f.hint:
            out.append(f"  hint: {f.hint}")
    if step.attempts > 1:
        out.append(f"attempts: {step.attempts}")
    return out


def _indent(text: str, n: int) -> str:
    """Indent the continuation lines of a multi-line value so a block stays readable."""
    return text.replace("\n", "\n" + " " * n) if text else text


def body_is_binary(response: ResponseSnapshot) -> bool:
    ctype = (response.header("content-type") or "").lower()
    if any(ctype.startswith(t) for t in _BINARY_TYPES):
        return True
    sample = response.body[:4096]
    if not sample:
        return False
    text = sample.decode("utf-8", errors="replace")
    bad = len(_NOT_TEXT.findall(text))
    return bad > max(1, len(text) // 10)


def body_sha256(response: ResponseSnapshot) -> str:
    return "sha256:" + hashlib.sha256(response.body).hexdigest()


def body_excerpt(
    response: ResponseSnapshot | None,
    redactor: Redactor | None,
    *,
    limit: int = 300,
    max_lines: int | None = 6,
) -> str | None:
    """A short, masked, sanitised excerpt of a response body, or a note for binary data."""
    if response is None or not response.body:
        return None
    size = response.size or len(response.body)
    if body_is_binary(response):
        ctype = scrub(response.header("content-type") or "unknown type", redactor, limit=60, oneline=True)
        return f"<binary body: {size} bytes, {ctype}>"
    text = response.body[: limit * 4 + 16].decode("utf-8", errors="replace")
    out = scrub(text, redactor, limit=limit, max_lines=max_lines).strip("\n")
    if response.truncated and not out.endswith("\u2026"):
        out += "\u2026"
    return out


def pluralise(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def group_auth(steps: Iterable[StepResult]) -> list[tuple[str, list[StepResult]]]:
    """AUTH steps grouped by secret and source, in first-seen order."""
    groups: dict[tuple, list[StepResult]] = {}
    for s in steps:
        if s.outcome is not Outcome.AUTH:
            continue
        d = s.auth
        key = (d.secret if d else None, d.source if d else None, is_secret_failure(s))
        groups.setdefault(key, []).append(s)
    out = []
    for (secret, source, unresolved), members in groups.items():
        who = f"token '{secret}'" if secret else "the credential"
        if source:
            who += f" from {source}"
        if unresolved:
            text = f"{pluralise(len(members), 'request')} not sent: {who} could not be resolved"
        else:
            notes: list[str] = []
            for m in members:
                for n in (m.auth.token_notes if m.auth else ()):
                    if n not in notes:
                        notes.append(n)
            errs: list[str] = []
            for m in members:
                e = _challenge_error(m.auth) if m.auth else None
                if e and e not in errs:
                    errs.append(e)
            text = f"{pluralise(len(members), 'request')} rejected: {who}"
            if notes or errs:
                text += ", " + ", ".join(notes + errs)
        out.append((text, members))
    return out
