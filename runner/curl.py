"""`--curl`: a request as a runnable curl command, secrets written as `${PLACEHOLDERS}`.

Every argument is double-quoted. The redactor first finds each secret in the argument
(before any escaping: an escaped `Xy7\\$k` would no longer be found as `Xy7$k`); only
the text around the secrets is then escaped (`\\`, `"`, `` ` `` and `$`). A secret seen
as is becomes `${LABEL}` (its environment variable, or the secret's name in upper case,
made a valid shell name), which the shell expands inside the double quotes; an encoded
form or an unlabelled secret becomes `***`. Secrets of any length are found (the runner
built this text from them). Basic credentials are written as `-u "user:${PASSWORD}"`
so the command stays runnable.
"""

from __future__ import annotations

import re
from typing import Sequence

from .redact import MASK, Redactor

__all__ = ["to_curl"]


def _dq(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("`", "\\`").replace("$", "\\$")


def _placeholder(label: str | None) -> str:
    if not label:
        return MASK
    name = re.sub(r"[^A-Za-z0-9_]", "_", label)
    return "${" + ("_" + name if name[0].isdigit() else name) + "}"


def to_curl(
    method: str,
    url: str,
    headers: Sequence[tuple[str, str]],
    *,
    redactor: Redactor,
    body: bytes | str | None = None,
    form: Sequence[tuple[str, str]] | None = None,
    files: Sequence[tuple[str, str]] | None = None,
    basic: tuple[str, str] | None = None,
    digest: tuple[str, str] | None = None,
    timeout: float | None = None,
    follow_redirects: bool = False,
    insecure: bool = False,
) -> str:
    """`files` are (field, description) pairs, e.g. ("upload", "@/path/to/file;type=text/plain")."""

    def arg(text: str) -> str:
        return '"' + redactor.substitute(text, plain=_dq, secret=_placeholder) + '"'

    parts = ["curl"]
    if method.upper() != "GET" or body is not None or form or files:
        parts += ["-X", arg(method.upper())]
    parts.append(arg(url))
    if basic is not None:
        parts += ["-u", arg(f"{basic[0]}:{basic[1]}")]
    elif digest is not None:
        parts += ["--digest", "-u", arg(f"{digest[0]}:{digest[1]}")]
    for name, value in headers:
        if basic is not None and name.lower() == "authorization":
            continue
        parts += ["-H", arg(f"{name}: {value}")]
    if body is not None:
        text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
        parts += ["--data-raw", arg(text)]
    for name, value in form or ():
        parts += ["--data-urlencode", arg(f"{name}={value}")]
    for name, desc in files or ():
        parts += ["-F", arg(f"{name}={desc}")]
    if timeout is not None:
        parts += ["--max-time", f"{timeout:g}"]
    if follow_redirects:
        parts.append("-L")
    if insecure:
        parts.append("-k")
    return " ".join(parts)
