"""Positions in spec files and the one plain diagnostic text every output shares.

Positions are 1-based (line and column), as editors and `path:line:col` expect.
This module imports the standard library only.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

__all__ = ["Position", "Span", "Diagnostic", "format_diagnostic"]


@dataclass(frozen=True, slots=True, order=True)
class Position:
    """A 1-based line and column in a file."""

    line: int
    column: int


class Span(int):
    """A region of a file. `path` is the file as the user named it.

    Immutable, compared and hashed by value (path, start, end). A Span is one int: the
    four numbers packed together with the number of its path in a table of the paths
    seen (`_PATHS`). A 10,000-request spec holds tens of thousands of spans, and an
    object holding a path and a separate int cost twice as much. Not a dataclass: for
    another path, build a new one (`Span(path, span.start, span.end)`). Do not do
    arithmetic with it; it only behaves as an int where Python needs it to.
    """

    __slots__ = ()

    def __new__(cls, path: str, start: Position, end: Position) -> "Span":
        return cls.at(path, start.line, start.column, end.line, end.column)

    @classmethod
    def at(cls, path: str, line: int, column: int, end_line: int, end_column: int) -> "Span":
        """`Span(path, Position(line, column), Position(end_line, end_column))` without the Positions."""
        number = _PATH_NUMBERS.get(path)
        if number is None:
            number = _number_path(path)
        return int.__new__(cls, number << _FOUR | _pack(line, column, end_line, end_column))

    @classmethod
    def point(cls, path: str, line: int = 1, column: int = 1) -> "Span":
        return cls.at(path, line, column, line, column)

    def __reduce__(self) -> tuple:  # by path, not by the number: other processes number paths differently
        return (Span.at, (self.path, self.line, self.column, *self._end()))

    def __eq__(self, other: object) -> bool:
        if other.__class__ is Span:
            return int.__eq__(self, other)
        # A plain int is never a Span: False here, or Python would ask int's __eq__, which
        # compares the numbers (a subclass's method is asked first, from either side).
        return False if isinstance(other, int) else NotImplemented

    def __ne__(self, other: object) -> bool:
        result = self.__eq__(other)
        return result if result is NotImplemented else not result

    __hash__ = int.__hash__

    def __lt__(self, other: object) -> bool:  # spans are not ordered (sort by Diagnostic.sort_key)
        return NotImplemented

    __le__ = __gt__ = __ge__ = __lt__

    def __bool__(self) -> bool:
        return True

    def __repr__(self) -> str:
        return f"Span(path={self.path!r}, start={self.start!r}, end={self.end!r})"

    __str__ = __repr__

    @property
    def path(self) -> str:
        return _PATHS[int(self) >> _FOUR]

    @property
    def start(self) -> Position:
        return Position(self.line, self.column)

    @property
    def end(self) -> Position:
        return Position(*self._end())

    def _end(self) -> tuple[int, int]:
        packed = int(self) & _TWO_MASK
        return packed >> _BITS, packed & _MASK

    @property
    def line(self) -> int:
        return int(self) >> (_TWO + _BITS) & _MASK

    @property
    def column(self) -> int:
        return int(self) >> _TWO & _MASK

    def location(self) -> str:
        return f"{self.path}:{self.line}:{self.column}"


_BITS = 24  # a line or a column: a spec file is at most a few MB (larger numbers are clamped)
_MASK = (1 << _BITS) - 1
_TWO = 2 * _BITS
_TWO_MASK = (1 << _TWO) - 1
_FOUR = 4 * _BITS
_PATHS: list[str] = []
_PATH_NUMBERS: dict[str, int] = {}
_PATHS_LOCK = threading.Lock()


def _number_path(path: str) -> int:
    with _PATHS_LOCK:
        number = _PATH_NUMBERS.get(path)
        if number is None:
            if not isinstance(path, str):
                raise TypeError(f"a Span's path is a str, not {type(path).__name__}")
            number = _PATH_NUMBERS[path] = len(_PATHS)
            _PATHS.append(path)
        return number


def _pack(line: int, column: int, end_line: int, end_column: int) -> int:
    bits = line | column | end_line | end_column
    if bits < 0:
        raise ValueError(f"a position out of range: {line}:{column}-{end_line}:{end_column}")
    if bits > _MASK:
        line, column, end_line, end_column = (min(n, _MASK) for n in (line, column, end_line, end_column))
    return (line << _BITS | column) << _TWO | end_line << _BITS | end_column


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
