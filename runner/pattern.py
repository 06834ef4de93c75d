"""`matches` patterns: Python's `re`, with `$` anchored at the true end of the text.

    compile_pattern("^[0-9]+$") -> re.Pattern       "123\\n" does not match
    end_anchored("^a$|b$") -> "^a\\Z|b\\Z"

Outside multiline mode Python's `$` also matches just before a trailing newline, so
`^[0-9]+$` accepts "123\\n". JSON Schema `pattern`, JavaScript and Hurl anchor `$` at the
end of the text only, and users write their patterns for those. `end_anchored` rewrites
every `$` that is an anchor (not escaped, not inside a character class, not in a
`(?x)` comment) to `\\Z` where multiline mode is off (`(?m)` at the start, or a
`(?m:...)` group, keeps `$` at every line end, as in JavaScript's `m` flag). The
rewrite is lexical and only swaps one zero-width anchor for another, so a pattern
compiles after it exactly when it compiled before, and matches the same texts except
those that end in a newline.
"""

from __future__ import annotations

import re

__all__ = ["compile_pattern", "end_anchored"]

_FLAGS = set("aiLmsux")


def compile_pattern(pattern: str) -> re.Pattern[str]:
    """re.compile with `$` meaning the end of the text (raises re.error as re.compile does)."""
    return re.compile(end_anchored(pattern))


def _inline_flags(pattern: str, i: int) -> tuple[str, str, str, int] | None:
    """At `(?` (i is the index of `(`): (flags on, flags off, ")" or ":", index after) or None."""
    j = i + 2
    on = off = ""
    while j < len(pattern) and pattern[j] in _FLAGS:
        on += pattern[j]
        j += 1
    if j < len(pattern) and pattern[j] == "-":
        j += 1
        while j < len(pattern) and pattern[j] in _FLAGS:
            off += pattern[j]
            j += 1
    if j < len(pattern) and pattern[j] in "):" and (on or off):
        return on, off, pattern[j], j + 1
    return None


def end_anchored(pattern: str) -> str:
    out: list[str] = []
    multiline = verbose = False
    stack: list[tuple[bool, bool]] = []  # the modes to restore at each group's `)`
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "\\":
            out.append(pattern[i : i + 2])
            i += 2
        elif ch == "[":
            j = i + 1
            if j < n and pattern[j] == "^":
                j += 1
            if j < n and pattern[j] == "]":  # a `]` first in a class is a literal
                j += 1
            while j < n and pattern[j] != "]":
                j += 2 if pattern[j] == "\\" else 1
            out.append(pattern[i : j + 1])
            i = j + 1
        elif ch == "#" and verbose:
            j = pattern.find("\n", i)
            j = n if j < 0 else j
            out.append(pattern[i:j])
            i = j
        elif ch == "(" and pattern.startswith("(?#", i):
            j = pattern.find(")", i)
            j = n - 1 if j < 0 else j
            out.append(pattern[i : j + 1])
            i = j + 1
        elif ch == "(":
            flags = _inline_flags(pattern, i) if pattern.startswith("(?", i) else None
            if flags is None:
                stack.append((multiline, verbose))
                out.append(ch)
                i += 1
                continue
            on, off, end, after = flags
            if end == ":":  # a scoped group: the modes change inside it only
                stack.append((multiline, verbose))
            multiline = ("m" in on or multiline) and "m" not in off
            verbose = ("x" in on or verbose) and "x" not in off
            out.append(pattern[i:after])
            i = after
        elif ch == ")":
            if stack:
                multiline, verbose = stack.pop()
            out.append(ch)
            i += 1
        elif ch == "$" and not multiline:
            out.append(r"\Z")
            i += 1
        else:
            out.append(ch)
            i += 1
    return "".join(out)
