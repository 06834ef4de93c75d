"""`${...}` references in spec values: find them (static checks) and render them.

    ${name}                  a var, a --var, or a capture of an earlier request
    ${env:NAME}              the environment; an unset variable is an error
    ${env:NAME:-default}     ... with a default when unset or empty
    ${secret:NAME}           a named secret's value
    $${                      a literal "${"

A value that is exactly one reference keeps the type of what it names (a var or a
capture: number, object); inside a longer string it is formatted as text (JSON for
a list or an object, and null as an empty string, as when it is a whole header or
query value).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping

__all__ = ["Ref", "TemplateError", "as_text", "iter_refs", "render", "Scope"]

_TOKEN = re.compile(r"\$\$\{|\$\{([^}]*)\}")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*\Z")


@dataclass(frozen=True, slots=True)
class Ref:
    """One `${...}` reference in a template: a var, an env variable or a secret."""

    kind: str  # "var", "env", "secret"
    name: str
    default: str | None = None
    text: str = ""  # the reference as written


class TemplateError(Exception):
    """A reference that is malformed, or that names nothing at render time."""

    def __init__(self, message: str, ref: Ref | None = None) -> None:
        super().__init__(message)
        self.ref = ref


def _parse(inner: str, text: str) -> Ref:
    """The reference `text` (`${inner}`). Messages never quote it: it is a document
    value, and an env default may be a credential."""
    inner = inner.strip()
    if inner.startswith("env:"):
        rest = inner[4:]
        name, sep, default = rest.partition(":-")
        if not _NAME.match(name):
            raise TemplateError("malformed reference: expected ${env:NAME} or ${env:NAME:-default}")
        return Ref("env", name, default if sep else None, text)
    if inner.startswith("secret:"):
        name = inner[7:]
        if not _NAME.match(name):
            raise TemplateError("malformed reference: expected ${secret:NAME}")
        return Ref("secret", name, None, text)
    if not _NAME.match(inner):
        raise TemplateError("malformed reference: expected ${name}, ${env:NAME} or ${secret:NAME}")
    return Ref("var", inner, None, text)


def iter_refs(value: Any) -> Iterator[Ref]:
    """Every reference in a value (strings inside lists and mappings too)."""
    if isinstance(value, str):
        if "${" not in value:
            return
        for m in _TOKEN.finditer(value):
            if m.group(0) == "$${":
                continue
            yield _parse(m.group(1), m.group(0))
    elif isinstance(value, Mapping):
        for k, v in value.items():
            yield from iter_refs(k)
            yield from iter_refs(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from iter_refs(v)


@dataclass(slots=True)
class Scope:
    """Where references are looked up at run time."""

    variables: Mapping[str, Any]
    environ: Mapping[str, str]
    secret: Callable[[str], str]  # resolves a secret by name; raises to signal failure


def as_text(value: Any) -> str:
    """A value as it reads inside a longer string: JSON for containers, empty for None."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _lookup(ref: Ref, scope: Scope) -> Any:
    if ref.kind == "env":
        val = scope.environ.get(ref.name)
        if val is None or (val == "" and ref.default is not None):
            if ref.default is not None:
                return ref.default
            raise TemplateError(f"environment variable {ref.name} is not set", ref)
        return val
    if ref.kind == "secret":
        return scope.secret(ref.name)
    if ref.name not in scope.variables:
        raise TemplateError(f"'{ref.name}' is not defined", ref)
    return scope.variables[ref.name]


def render(value: Any, scope: Scope) -> Any:
    """Replace every reference; strings that are exactly one reference keep its type."""
    if isinstance(value, str):
        if "$" not in value:
            return value
        m = _TOKEN.fullmatch(value)
        if m and m.group(0) != "$${":
            return _lookup(_parse(m.group(1), m.group(0)), scope)

        def sub(match: re.Match) -> str:
            if match.group(0) == "$${":
                return "${"
            return as_text(_lookup(_parse(match.group(1), match.group(0)), scope))

        return _TOKEN.sub(sub, value)
    if isinstance(value, Mapping):
        return {render(k, scope) if isinstance(k, str) else k: render(v, scope) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [render(v, scope) for v in value]
    return value
