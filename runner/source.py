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


@dataclass(frozen=True, slots=True)
class Span:
    """A region of a file. `path` is the file as the user named it."""

    path: str
    start: Position
    end: Position

    @property
    def line(self) -> int:
        return self.start.line

    @property
    def column(self) -> int:
        return self.start.column

    def location(self) -> str:
        return f"{self.path}:{self.start.line}:{self.start.column}"

    @classmethod
    def point(cls, path: str, line: int = 1, column: int = 1) -> "Span":
        pos = Position(line, column)
        return cls(path, pos, pos)


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
