"""Mask secret-looking values in source lines before an error message quotes them.

A token pasted into a spec next to a syntax error must not be printed: values of
keys such as `Authorization`, `token`, `password`, `api_key` are replaced by ***,
and any known secret value is masked by the Redactor.
"""

from __future__ import annotations

import os
import re

from .redact import MASK, SENSITIVE_KEY, Redactor

__all__ = ["mask_line", "masked_lines"]

_KEY_VALUE = re.compile(r"^(?P<head>\s*(?:-\s+)?[\"']?(?P<key>[^:#\"']+)[\"']?\s*:\s*)(?P<value>\S.*)$")
_BEARER = re.compile(r"(?i)\b(bearer|basic|token)\s+[A-Za-z0-9\-._~+/=]{8,}")
_MAX_READ = 5 * 1024 * 1024
# A long run of token characters with both letters and digits looks like a credential
# (API keys, JWTs, hex tokens); error snippets mask it even under an innocent key.
_TOKENISH = re.compile(r"[A-Za-z0-9\-_.~+/=]{16,}")


def _looks_like_token(word: str) -> bool:
    return any(c.isdigit() for c in word) and any(c.isalpha() for c in word) and not word.startswith("/")


# `{user: u, password: hunter2}`: a sensitive key inside a flow mapping on the line.
_FLOW_PAIR = re.compile(r"(?P<head>[{,]\s*[\"']?(?P<key>[\w.-]+)[\"']?\s*:\s*)(?P<value>[^,}\s][^,}]*)")


def _mask_flow_pair(m: re.Match) -> str:
    value = m.group("value")
    if SENSITIVE_KEY.search(m.group("key")) and not value.startswith(("${", "{", "[", '"${', "'${")):
        return m.group("head") + MASK
    return m.group(0)


def mask_line(line: str) -> str:
    m = _KEY_VALUE.match(line)
    if m and SENSITIVE_KEY.search(m.group("key")) and not m.group("value").startswith(("${", "{", "[", "|", ">", "#")):
        line = m.group("head") + MASK
    line = _FLOW_PAIR.sub(_mask_flow_pair, line)
    line = _BEARER.sub(lambda mm: f"{mm.group(1)} {MASK}", line)
    return _TOKENISH.sub(lambda mm: MASK if _looks_like_token(mm.group(0)) else mm.group(0), line)


def masked_lines(path: str, redactor: Redactor | None = None) -> list[str] | None:
    """The file's lines, masked; None when it cannot be read safely."""
    try:
        import stat

        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode) or st.st_size > _MAX_READ:
            return None
        with open(path, "rb") as fh:
            text = fh.read(_MAX_READ).decode("utf-8", errors="replace")
    except OSError:
        return None
    lines = [mask_line(line) for line in text.splitlines()]
    if redactor is not None:
        lines = [redactor.mask(line) for line in lines]
    return lines
