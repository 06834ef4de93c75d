"""Make untrusted text (server bodies, headers, reason phrases, error descriptions) safe
to show in a terminal, a CI log, XML, JSON or Markdown.

Every reporter sends each string it emits through `scrub`, which applies, in order:

1. `strip_controls`: ANSI/VT escape sequences are removed whole; then every other C0
   control except ``\\n`` and ``\\t`` (so ``\\r``, NUL, ESC, ``\\x12``), DEL, the C1 range,
   Unicode bidi overrides (the "Trojan Source" characters), lone surrogates and the
   non-characters U+FFFE/U+FFFF are dropped. This also makes the text XML 1.0 safe.
2. the Redactor's `mask` (after stripping, so a secret split by a NUL or an escape
   sequence is joined again and then masked);
3. `neutralise_commands`: a line that starts (after blanks) with ``::`` (a GitHub
   Actions workflow command such as ``::stop-commands::`` or ``::add-mask::``) or with
   the legacy ``##[`` form gets a space inside the marker (``: :``, ``# #[``), so a CI
   runner reading the log never executes it while a human still reads it;
4. optional folding to one line and truncation with an ellipsis.

Only the standard library and `runner.redact` are used here.
"""

from __future__ import annotations

import re

from ..redact import Redactor

__all__ = [
    "ELLIPSIS",
    "strip_controls",
    "neutralise_commands",
    "truncate",
    "truncate_lines",
    "one_line",
    "xml_safe",
    "scrub",
]

ELLIPSIS = "\u2026"

# Whole escape sequences first, so that "ESC [ 3 1 m" does not leave "[31m" behind.
_ESCAPES = re.compile(
    r"""
    \x1b\[[0-?]*[ -/]*[@-~]              # CSI: colours, cursor moves
  | \x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?   # OSC: window titles, hyperlinks
  | \x1b[PX^_][^\x1b]*(?:\x1b\\)?        # DCS, SOS, PM, APC strings
  | \x1b[ -/]*[0-~]                      # two-byte and nF escapes
  | \x9b[0-?]*[ -/]*[@-~]                # C1 CSI
    """,
    re.VERBOSE,
)
# C0 except \t and \n; DEL; C1; bidi embeddings/overrides/isolates; surrogates; U+FFFE/F.
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff\ufffe\uffff]")
_COMMAND = re.compile(r"^([^\S\n]*)(::|##\[)", re.MULTILINE)
# What XML 1.0 forbids (pytest's bin_xml_escape set), for text that skipped `scrub`.
_XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_NEWLINES = re.compile(r"[^\S\n]*\n\s*")


def strip_controls(text: str) -> str:
    """Drop escape sequences and control characters; keep ``\\n`` and ``\\t``."""
    if not text:
        return ""
    return _CONTROLS.sub("", _ESCAPES.sub("", text))


def neutralise_commands(text: str) -> str:
    """``::cmd::`` -> ``: :cmd::`` and ``##[cmd]`` -> ``# #[cmd]`` at the start of any line."""

    def repl(m: re.Match[str]) -> str:
        marker = m.group(2)
        return m.group(1) + (": :" if marker == "::" else "# #[")

    return _COMMAND.sub(repl, text)


def truncate(text: str, limit: int | None) -> str:
    """At most `limit` characters, the last one an ellipsis when something was cut."""
    if limit is None or len(text) <= limit:
        return text
    if limit <= 1:
        return ELLIPSIS[:limit]
    return text[: limit - 1] + ELLIPSIS


def truncate_lines(text: str, max_lines: int | None) -> str:
    if max_lines is None:
        return text
    lines = text.split("\n")
    if len(lines) <= max_lines:
        return text
    return "\n".join(lines[:max_lines]) + "\n" + ELLIPSIS


def one_line(text: str) -> str:
    """Fold newlines (and the blanks around them) and tabs into single spaces."""
    return _NEWLINES.sub(" ", text).replace("\t", " ")


def xml_safe(text: str) -> str:
    """Remove the characters XML 1.0 cannot carry at all."""
    return _XML_FORBIDDEN.sub("", text)


def scrub(
    text: object,
    redactor: Redactor | None = None,
    *,
    limit: int | None = None,
    max_lines: int | None = None,
    oneline: bool = False,
) -> str:
    """The one pipeline every emitted string goes through (see the module docstring)."""
    if text is None:
        return ""
    s = text if isinstance(text, str) else str(text)
    if s.isprintable():
        # The common case, cheaply: no control, escape, bidi, surrogate or non-character
        # (all are "not printable"), no newline, no tab, no whitespace but ASCII spaces.
        if redactor is not None:
            s = redactor.mask(s)
        if oneline:
            s = s.strip()
        if s.lstrip(" ").startswith(("::", "##[")):
            s = neutralise_commands(s)
        return truncate(s, limit)
    s = strip_controls(s)
    if redactor is not None:
        s = redactor.mask(s)
    if oneline:
        s = one_line(s).strip()
    s = neutralise_commands(s)
    s = truncate_lines(s, max_lines)
    return truncate(s, limit)
