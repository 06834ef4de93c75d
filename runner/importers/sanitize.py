"""The one check every importer's output goes through before it is rendered.

Input files and pasted commands are hostile: a header value with a control character,
a lone surrogate (a JSON `\\ud800` escape, or invalid UTF-8 on argv or stdin), a method
that is not a word. Any of them would make a spec that does not load; here they become
a clear usage error (exit 2) naming the request and the field, never quoting the value
(it may be a credential).
"""

from __future__ import annotations

import re
from typing import Any

from ..errors import UsageError
from .httpmsg import is_header_name, is_method
from .specdata import ImportedSpec

__all__ = ["check_spec", "has_control", "has_surrogate"]

_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # what a header value cannot hold (a tab it can)
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def has_control(text: str) -> bool:
    return _CONTROL.search(text) is not None


def has_surrogate(text: str) -> bool:
    """A lone surrogate: not text (invalid UTF-8 read with surrogateescape, or a JSON escape)."""
    return _SURROGATE.search(text) is not None


def _where(index: int, data: dict[str, Any]) -> str:
    name = data.get("name")
    if isinstance(name, str) and not has_surrogate(name) and not has_control(name):
        return f"request {index} ({name!r})"
    return f"request {index}"


def _surrogate_path(value: Any, path: str) -> str | None:
    """The first field (dotted path) holding a lone surrogate, in a key or a value."""
    if isinstance(value, str):
        return path if has_surrogate(value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and has_surrogate(key):
                return f"{path}.<a key>" if path else "<a key>"
            # a key with a surrogate is not quoted (handled above); a clean one names the field
            found = _surrogate_path(item, f"{path}.{key}" if path else str(key))
            if found:
                return found
    if isinstance(value, list):
        for n, item in enumerate(value):
            found = _surrogate_path(item, f"{path}[{n}]")
            if found:
                return found
    return None


def _not_text(where: str, field: str) -> UsageError:
    return UsageError(f"{where}: `{field}` is not valid text (invalid UTF-8 or a lone surrogate escape); "
                      "fix the input and import again")


def check_spec(spec: ImportedSpec) -> None:
    """Raise UsageError (exit 2) for anything a spec file cannot hold; values are never quoted."""
    head = {"name": spec.name, "base_url": spec.base_url, "openapi": spec.openapi, "secrets": spec.secrets,
            "auth": spec.auth, "defaults.headers": spec.headers, "vars": spec.vars,
            "notes": spec.notes, "todo": spec.todo}
    found = _surrogate_path(head, "")
    if found:
        raise _not_text("the imported spec", found)
    for index, request in enumerate(spec.requests, start=1):
        data = request.data
        where = _where(index, data)
        found = _surrogate_path(data, "") or _surrogate_path(request.todo, "todo")
        if found:
            raise _not_text(where, found)
        method = data.get("method")
        if isinstance(method, str) and not is_method(method):
            raise UsageError(f"{where}: the method is not an HTTP method (a word such as GET or POST)")
        headers = data.get("headers")
        for name, value in (headers.items() if isinstance(headers, dict) else ()):
            if not is_header_name(name):
                raise UsageError(f"{where}: a header name is not valid (letters, digits and !#$%&'*+.^_`|~- only)")
            if isinstance(value, str) and has_control(value):
                raise UsageError(f"{where}: the value of header {name!r} has a control character "
                                 "(a newline, or a byte below 0x20); fix the input and import again")
