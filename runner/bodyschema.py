"""The `expect.schema` check: a JSON Schema for the response body.

`CompiledSchema(check)` is built once per SchemaCheck (the Evaluator caches it per
spec run): draft 2020-12 unless the schema's `$schema` names another draft, formats
checked (`format_checker`), and a `referencing.Registry` whose retrieve function
never touches the network:

- `#...` refs inside the document resolve as usual;
- relative refs (`other.json`, `defs/pet.json#/$defs/x`) and `file:` URIs are read from
  the local disk, relative to the schema file's directory and only inside it (no `..`
  escape), JSON only, at most 1 MB each; an inline schema may not use them;
- anything else (http, https, urn that is not in the document ...) is refused as
  "unresolvable".

Errors are short plain lines, `$.items[0].id: 'x' is not of type 'integer'`, with
values truncated; the engine masks them before they enter a result.
"""

from __future__ import annotations

import json
import os
from typing import Any
from urllib.parse import unquote, urlsplit

import jsonschema
import referencing
import referencing.exceptions
from referencing.jsonschema import specification_with

from .model import SchemaCheck
from .redact import shown_url

__all__ = ["CompiledSchema", "MAX_ERRORS", "MAX_REF_FILE"]

MAX_ERRORS = 5
MAX_REF_FILE = 1024 * 1024
_VALUE_WIDTH = 60


def _short_repr(value: Any) -> str:
    text = repr(value)
    if len(text) > _VALUE_WIDTH:
        text = text[: _VALUE_WIDTH - 3] + "..."
    return text


class CompiledSchema:
    def __init__(self, check: SchemaCheck) -> None:
        self.source = check.source
        self.problem: str | None = None
        self._validator: Any = None
        schema = check.schema
        base_dir: str | None = None
        if check.source and check.source != "inline":
            base_dir = os.path.dirname(os.path.abspath(check.source))
        self._base_dir = base_dir
        try:
            cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
            cls.check_schema(schema)
        except jsonschema.exceptions.SchemaError as exc:
            where = exc.json_path if hasattr(exc, "json_path") else "$"
            self.problem = f"the schema itself is invalid at {where} ({exc.validator})"
            return
        except Exception as exc:  # e.g. an unknown $schema
            self.problem = f"the schema cannot be used ({type(exc).__name__})"
            return
        try:
            self._default_spec = specification_with(cls.META_SCHEMA.get("$schema", ""))
        except Exception:
            self._default_spec = referencing.jsonschema.DRAFT202012
        registry: referencing.Registry = referencing.Registry(retrieve=self._retrieve)  # type: ignore[call-arg]
        self._validator = cls(schema, registry=registry, format_checker=cls.FORMAT_CHECKER)

    # Never the network: local files next to the schema file, or nothing.
    def _retrieve(self, uri: str) -> referencing.Resource:
        parts = urlsplit(uri)
        if parts.scheme not in ("", "file") or parts.netloc not in ("", "localhost"):
            raise referencing.exceptions.NoSuchResource(ref=uri)
        if self._base_dir is None:
            raise referencing.exceptions.NoSuchResource(ref=uri)
        rel = unquote(parts.path)
        path = rel if os.path.isabs(rel) else os.path.join(self._base_dir, rel)
        real = os.path.realpath(path)
        base = os.path.realpath(self._base_dir)
        if os.path.commonpath([real, base]) != base or not os.path.isfile(real):
            raise referencing.exceptions.NoSuchResource(ref=uri)
        if os.path.getsize(real) > MAX_REF_FILE:
            raise referencing.exceptions.NoSuchResource(ref=uri)
        with open(real, encoding="utf-8") as fh:
            contents = json.load(fh)
        return referencing.Resource.from_contents(contents, default_specification=self._default_spec)

    def errors(self, instance: Any, limit: int = MAX_ERRORS) -> list[str]:
        """Every violation as a short line (at most `limit`, then "+N more")."""
        if self.problem is not None:
            return [self.problem]
        try:
            found = sorted(self._validator.iter_errors(instance), key=_sort_key)
        except referencing.exceptions.Unresolvable as exc:
            return [f"cannot resolve $ref {shown_url(str(getattr(exc, 'ref', '')))} (unresolvable: only local refs are read)"]
        except RecursionError:
            return ["the document or the schema is nested too deeply"]
        except Exception as exc:  # jsonschema wraps referencing errors in its own type
            ref = getattr(exc, "ref", None) or getattr(getattr(exc, "_wrapped", None), "ref", None)
            if ref is not None:
                return [f"cannot resolve $ref {shown_url(str(ref))} (unresolvable: only local refs are read)"]
            return [f"the schema cannot be applied ({type(exc).__name__})"]
        lines = [_line(e) for e in found[:limit]]
        if len(found) > limit:
            lines.append(f"+{len(found) - limit} more schema errors")
        return lines


def _sort_key(error: Any) -> tuple:
    return (len(error.absolute_path), [str(p) for p in error.absolute_path], error.message[:40])


def _line(error: Any) -> str:
    message = error.message
    full = repr(error.instance)
    if len(full) > _VALUE_WIDTH and full in message:
        message = message.replace(full, _short_repr(error.instance), 1)
    if len(message) > 200:
        message = message[:197] + "..."
    return f"{error.json_path}: {message}"
