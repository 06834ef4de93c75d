"""`dotenv: path` + `key: NAME`: one key of a .env file, read as python-dotenv reads it.

Interpolation is off (`${X}` stays literal: python-dotenv would expand an undefined
variable to an empty string). A BOM, `export KEY=...`, quotes and CRLF line endings are
accepted. A missing key lists the key *names* the file has, never a value. When `key`
is omitted the secret's own name is looked up.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass

from ..errors import SecretError
from ..model import SecretDecl
from .base import SecretValue, SourceContext, check_value
from .file_source import read_small_file, resolve_path

__all__ = ["DotenvSource", "build", "reads_relative_path"]

_MAX_NAMES = 20


class _Collect(logging.Handler):
    """python-dotenv logs unparsable lines ("could not parse statement starting at line N")."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        args = record.args if isinstance(record.args, tuple) else ()
        self.lines.extend(str(a) for a in args if isinstance(a, int))


@dataclass(slots=True)
class DotenvSource:
    decl: SecretDecl
    path: str  # as written in the spec
    key: str
    ctx: SourceContext
    refreshable: bool = False

    def describe(self) -> str:
        return f"dotenv {self.path} key {self.key}"

    def env_name(self) -> str | None:
        return self.key

    def _fail(self, reason: str) -> SecretError:
        return SecretError(self.decl.name, self.describe(), reason, self.decl.span)

    def fetch(self) -> SecretValue:
        from dotenv import dotenv_values

        path = resolve_path(self.decl, self.path)
        text = read_small_file(self.decl, self.describe(), path, what=".env file")
        logger = logging.getLogger("dotenv.main")
        collect = _Collect()
        propagate = logger.propagate
        logger.addHandler(collect)
        logger.propagate = False  # keep python-dotenv's own warnings off stderr
        try:
            values = dotenv_values(stream=io.StringIO(text), interpolate=False)
        finally:
            logger.removeHandler(collect)
            logger.propagate = propagate
        if self.key not in values:
            names = sorted(values)
            if not names:
                reason = f"{path} defines no keys"
            else:
                shown = ", ".join(names[:_MAX_NAMES]) + (f" (+{len(names) - _MAX_NAMES} more)" if len(names) > _MAX_NAMES else "")
                reason = f"key {self.key} is not in {path}; keys present: {shown}"
                import difflib  # only a likely typo needs it

                close = difflib.get_close_matches(self.key, names, n=1)
                if close:
                    reason += f" (did you mean {close[0]}?)"
            if collect.lines:
                reason += f"; lines python-dotenv could not parse: {', '.join(collect.lines[:10])}"
            raise self._fail(reason)
        value = values[self.key]
        if value is None:
            raise self._fail(f"key {self.key} in {path} has no value (a bare '{self.key}' line without '=')")
        if value == "":
            raise self._fail(f"key {self.key} in {path} is empty")
        return SecretValue(check_value(self.decl, self.describe(), value))


def reads_relative_path(decl: SecretDecl) -> bool:
    """The path is relative to the declaring file: see base.source_identity."""
    return True


def build(decl: SecretDecl, ctx: SourceContext) -> DotenvSource:
    key = decl.options.get("key") or decl.name
    return DotenvSource(decl, str(decl.options["dotenv"]), str(key), ctx)
