"""JSON type names for Python values, shared by the loader's messages and the expectations."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["json_type"]


def json_type(value: Any) -> str:
    """null, boolean, integer, number, string, array or object (else the Python type's name)."""
    if value is None:
        return "null"
    if isinstance(value, bool):  # before int: bool is an int subclass
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    return type(value).__name__
