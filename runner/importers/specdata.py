"""What an importer produces: spec data plus the notes the writer turns into comments."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ImportedRequest", "ImportedSpec", "ImportResult", "as_dict", "as_list", "literal", "slug"]


@dataclass
class ImportedRequest:
    data: dict[str, Any]                       # the request's fields, as the spec schema names them
    todo: list[str] = field(default_factory=list)  # written as `# TODO: ...` above the request


@dataclass
class ImportedSpec:
    stem: str                                  # the file name without .yaml
    name: str
    base_url: str | None = None
    openapi: str | None = None
    secrets: dict[str, dict[str, Any]] = field(default_factory=dict)
    auth: Any = None
    headers: dict[str, str] = field(default_factory=dict)  # defaults.headers
    vars: dict[str, Any] = field(default_factory=dict)
    requests: list[ImportedRequest] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # plain comment lines in the file's header
    todo: list[str] = field(default_factory=list)   # `# TODO:` lines in the file's header


@dataclass
class ImportResult:
    specs: list[ImportedSpec]
    env_vars: dict[str, str] = field(default_factory=dict)  # variable -> what to put in it
    warnings: list[str] = field(default_factory=list)       # printed on stderr


def as_list(value: Any) -> list[Any]:
    """A field of an input file that should be a list: anything else (a hand-edited file) counts as empty."""
    return value if isinstance(value, list) else []


def as_dict(value: Any) -> dict[str, Any]:
    """A field of an input file that should be a mapping: anything else counts as empty."""
    return value if isinstance(value, dict) else {}


def literal(text: str) -> str:
    """Text taken as it is from the input: `${` would be read as a reference, so escape it."""
    return text.replace("${", "$${")


def literal_value(value: Any) -> Any:
    """`literal` through a JSON value (bodies)."""
    if isinstance(value, str):
        return literal(value)
    if isinstance(value, list):
        return [literal_value(v) for v in value]
    if isinstance(value, dict):
        return {k: literal_value(v) for k, v in value.items()}
    return value


def slug(text: str, *, default: str = "imported") -> str:
    """A file-name-safe, lower-case stem: `Pet Store/Admin` -> `pet-store-admin`."""
    words = re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()
    return words[:60].strip("-") or default
