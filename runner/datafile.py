"""The rows of a `for_each: {file: PATH}`: CSV (a header row; every value a string),
JSON or YAML (a list). Read at load time with the caps of a spec file.

    read_rows(path, written) -> list      raises RowsError (a message naming the file and row)

YAML goes through the project's safe loader (`_yaml.parse`, YAML 1.2 rules), JSON through
`json` (no NaN or Infinity). At most MAX_ROWS rows: a `for_each` is a list of cases, not a
data set to stream.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from ._yaml import parse
from .errors import SpecError
from .jsonvalue import json_type
from .textfile import read_text_file

__all__ = ["MAX_ROWS", "DATA_EXTENSIONS", "RowsError", "read_rows"]

MAX_ROWS = 10_000
DATA_EXTENSIONS = (".csv", ".json", ".yaml", ".yml")


class RowsError(Exception):
    """A data file that cannot give rows; the message names the file (and the row)."""


def read_rows(path: str, written: str) -> list[Any]:
    """The rows of the data file at `path` (`written` is how the spec names it)."""
    lower = path.lower()
    if not lower.endswith(DATA_EXTENSIONS):
        raise RowsError(f"data file {written}: unknown type; use .csv, .json, .yaml or .yml")
    try:
        text = read_text_file(path, what="data")
    except SpecError as exc:
        raise RowsError(exc.diagnostics[0].message.replace(path, written, 1)) from None
    if text.startswith("\ufeff"):
        text = text[1:]  # a BOM some spreadsheet programs write
    if lower.endswith(".csv"):
        rows = _csv_rows(text, written)
    elif lower.endswith(".json"):
        try:
            rows = json.loads(text, parse_constant=_no_constant)
        except (ValueError, RecursionError) as exc:
            raise RowsError(f"data file {written} is not valid JSON ({str(exc)[:120]})") from None
    else:
        try:
            rows, _smap = parse(text, filename=written, what="data file", require_mapping=False)
        except SpecError as exc:
            first = exc.diagnostics[0]
            where = first.span.location() if first.span else written
            raise RowsError(f"data file {where}: {first.message}") from None
    if not isinstance(rows, list):
        kind = json_type(rows)
        raise RowsError(f"data file {written} must hold a list of rows, not {'an' if kind[0] in 'aeio' else 'a'} {kind}")
    if not rows:
        raise RowsError(f"data file {written} has no rows")
    if len(rows) > MAX_ROWS:
        raise RowsError(f"data file {written} has {len(rows)} rows; at most {MAX_ROWS} are allowed")
    return rows


def _csv_rows(text: str, written: str) -> list[dict[str, str]]:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
        if header is None or not any(h.strip() for h in header):
            raise RowsError(f"data file {written} has no header row (the first row names the fields)")
        names = [h.strip() for h in header]
        if "" in names:
            raise RowsError(f"data file {written}: header column {names.index('') + 1} has no name")
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise RowsError(f"data file {written}: the header names '{dupes[0]}' twice")
        rows: list[dict[str, str]] = []
        for values in reader:
            if not values:
                continue  # a blank line
            number = len(rows) + 1
            if len(rows) >= MAX_ROWS:
                raise RowsError(f"data file {written} has more than {MAX_ROWS} rows")
            if len(values) > len(names):
                raise RowsError(f"data file {written}, row {number} (line {reader.line_num}): "
                                f"{len(values)} values, but the header names {len(names)} fields")
            if len(values) < len(names):
                raise RowsError(f"data file {written}, row {number} (line {reader.line_num}): "
                                f"no value for field '{names[len(values)]}' ({len(values)} of {len(names)} values)")
            rows.append(dict(zip(names, values)))
    except csv.Error as exc:
        raise RowsError(f"data file {written}, line {reader.line_num}: not valid CSV ({exc})") from None
    if not rows:
        raise RowsError(f"data file {written} has a header row but no rows")
    return rows


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")
