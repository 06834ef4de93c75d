"""Positions in spec files and the one plain diagnostic text every output shares.

Positions are 1-based (line and column), as editors and `path:line:col` expect.
This module imports the standard library only.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Position", "Span", "Diagnostic", "format_diagnostic"]


@dataclass(frozen=True, slots=True, order=True)
class Position:
    """A 1-based line and column in a file."""

    line: int
    column: int


class Span:
    """A region of a file. `path` is the file as the user named it.

    Immutable, compared and hashed by value, like a frozen dataclass of `path`, `start`
    and `end`. The four numbers are kept packed in one int and the Positions are made
    when asked for: a 10,000-request spec holds tens of thousands of spans, and a Span
    with two Position objects cost twice as much. Not a dataclass: for another path,
    build a new one (`Span(path, span.start, span.end)`), not `dataclasses.replace`.
    """

    __slots__ = ("path", "_packed")

    path: str
    _packed: int

    def __init__(self, path: str, start: Position, end: Position) -> None:
        object.__setattr__(self, "path", path)
        object.__setattr__(self, "_packed", _pack(start.line, start.column, end.line, end.column))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"cannot assign to field '{name}'")  # as a frozen dataclass

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete field '{name}'")

    def __reduce__(self) -> tuple:
        return (Span, (self.path, self.start, self.end))

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not Span:
            return NotImplemented
        return self.path == other.path and self._packed == other._packed  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((self.path, self._packed))

    def __repr__(self) -> str:
        return f"Span(path={self.path!r}, start={self.start!r}, end={self.end!r})"

    @property
    def start(self) -> Position:
        packed = self._packed >> _TWO
        return Position(packed >> _BITS, packed & _MASK)

    @property
    def end(self) -> Position:
        packed = self._packed & _TWO_MASK
        return Position(packed >> _BITS, packed & _MASK)

    @property
    def line(self) -> int:
        return self._packed >> (_TWO + _BITS)

    @property
    def column(self) -> int:
        return self._packed >> _TWO & _MASK

    def location(self) -> str:
        return f"{self.path}:{self.line}:{self.column}"

    @classmethod
    def point(cls, path: str, line: int = 1, column: int = 1) -> "Span":
        pos = Position(line, column)
        return cls(path, pos, pos)

    @classmethod
    def at(cls, path: str, line: int, column: int, end_line: int, end_column: int) -> "Span":
        """`Span(path, Position(line, column), Position(end_line, end_column))` without the Positions."""
        span = object.__new__(cls)
        object.__setattr__(span, "path", path)
        object.__setattr__(span, "_packed", _pack(line, column, end_line, end_column))
        return span


_BITS = 32  # a line or a column: below 2**32 (a spec file is at most a few MB)
_MASK = (1 << _BITS) - 1
_TWO = 2 * _BITS
_TWO_MASK = (1 << _TWO) - 1


def _pack(line: int, column: int, end_line: int, end_column: int) -> int:
    if min(line, column, end_line, end_column) < 0 or (line | column | end_line | end_column) > _MASK:
        raise ValueError(f"a position out of range: {line}:{column}-{end_line}:{end_column}")
    return ((line << _BITS | column) << _TWO) | end_line << _BITS | end_column


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One problem in an input file: a title, a message and where it is."""

    message: str
    span: Span | None = None
    hint: str | None = None
    title: str = "error"

    def one_line(self) -> str:
        """`path:line:col: message (hint)`: the form editors and CI logs understand."""
        where = f"{self.span.location()}: " if self.span else ""
        hint = f" ({self.hint})" if self.hint else ""
        return f"{where}{self.message}{hint}"

    def sort_key(self) -> tuple:
        if self.span is None:
            return ("", 0, 0, self.message)
        return (self.span.path, self.span.start.line, self.span.start.column, self.message)


def format_diagnostic(diagnostic: Diagnostic, source_lines: list[str] | None = None) -> str:
    """Render the Hurl/pytest-style block. `source_lines` must already be masked."""
    out = [diagnostic.one_line()]
    span = diagnostic.span
    if span is not None and source_lines and 0 < span.line <= len(source_lines):
        text = source_lines[span.line - 1].rstrip("\r\n").expandtabs(1)
        gutter = str(span.line)
        pad = " " * len(gutter)
        width = 1
        if span.end.line == span.line and span.end.column > span.column:
            width = span.end.column - span.column
        out.append(f"{gutter} | {text}")
        out.append(f"{pad} | {' ' * (span.column - 1)}{'^' * width}")
    return "\n".join(out)
