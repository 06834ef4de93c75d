"""The one module that talks to the JSON Schema libraries for OpenAPI documents.

- `document_problems(doc)`: the document against the official OpenAPI 3.0 / 3.1 schema
  (the one openapi-spec-validator ships), each problem with its place.
- `BodySchema(doc, loc)`: a response body against the schema at `loc`, with the
  OpenAPI dialects of openapi-schema-validator: 3.0 (`nullable`, `readOnly`/`writeOnly`
  read as a response is read: a required writeOnly property may be absent, a writeOnly
  one must not be sent) and 3.1 (JSON Schema 2020-12). Every file of the document is in
  a `referencing.Registry` built from what the loader read; anything else (`https://`,
  an `$id` elsewhere) is unresolvable, never fetched. Refs are looked up lazily, so a
  recursive schema is fine.

Problems carry the JSON pointer in the body and the schema's `file:line:col`.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any

import referencing
import referencing.exceptions
from jsonschema.exceptions import best_match
from referencing.jsonschema import DRAFT4, DRAFT202012

from ..jsonvalue import json_type
from ..redact import shown_url
from .document import Document, Loc

__all__ = ["BodySchema", "Problem", "document_problems", "MAX_PROBLEMS"]

MAX_PROBLEMS = 5
_VALUE_WIDTH = 60


@dataclass(frozen=True, slots=True)
class Problem:
    pointer: str  # RFC 6901 pointer into the body ("" is the whole body)
    message: str
    schema_at: str | None  # `openapi.yaml:41:17`: the keyword that failed


@functools.lru_cache(maxsize=None)
def _meta_validator(version: str) -> Any:
    """jsonschema's validator of the OpenAPI schema itself. Not the library's own choice:
    with jsonschema-rs installed (the runner's fast check) it would pick that backend,
    whose errors quote the document's values and lack the fields our messages read."""
    from openapi_spec_validator.schemas import schema_v30, schema_v31
    from openapi_spec_validator.schemas.backend.jsonschema import create_validator

    return create_validator(dict(schema_v31 if version == "3.1" else schema_v30))


def document_problems(doc: Document, limit: int = 20) -> list[tuple[tuple, str]]:
    """(path in the root file, message) for each way the document breaks the OpenAPI schema."""
    validator = _meta_validator("3.1" if doc.version == "3.1" else "3.0")
    out = []
    for error in validator.iter_errors(doc.root):
        deepest = best_match([error]) if error.context else error
        out.append((tuple(deepest.absolute_path), _meta_message(deepest)))
        if len(out) >= limit:
            break
    return out


def _meta_message(error: Any) -> str:
    kind = error.validator
    if kind == "type":
        return f"expected {_names(error.validator_value)}, got {json_type(error.instance)}"
    if kind in ("enum", "const"):
        allowed = error.validator_value if kind == "enum" else [error.validator_value]
        return "must be one of " + ", ".join(repr(v) for v in list(allowed)[:8])
    if kind in ("oneOf", "anyOf"):
        return "does not match any of the forms this field may take"
    return _cut(error.message, 160)


def _names(value: Any) -> str:
    return " or ".join(value) if isinstance(value, list) else str(value)


def _refuse(uri: str) -> referencing.Resource:
    raise referencing.exceptions.NoSuchResource(ref=uri)


class BodySchema:
    """The documented schema of one response media type, compiled once and applied to bodies."""

    def __init__(self, doc: Document, loc: Loc, registry: Any) -> None:
        from openapi_schema_validator import OAS30ReadValidator, OAS31Validator

        self.doc = doc
        self.loc = loc
        cls = OAS31Validator if doc.version == "3.1" else OAS30ReadValidator
        pointer = "".join("/" + str(k).replace("~", "~0").replace("/", "~1") for k in loc.path)
        self._validator = cls({"$ref": f"{doc.uri(loc.file)}#{pointer}"}, registry=registry,
                              format_checker=cls.FORMAT_CHECKER)

    @staticmethod
    def registry(doc: Document) -> Any:
        """Every file of the document as a resource (the objects the positions index), nothing else."""
        spec = DRAFT202012 if doc.version == "3.1" else DRAFT4
        resources = [(doc.uri(name), referencing.Resource(contents=data, specification=spec))
                     for name, data in doc.contents().items()]
        return referencing.Registry(retrieve=_refuse).with_resources(resources)  # type: ignore[call-arg]

    def problems(self, instance: Any, limit: int = MAX_PROBLEMS) -> list[Problem]:
        try:
            found = sorted(self._validator.iter_errors(instance), key=lambda e: [str(p) for p in e.absolute_path])
        except RecursionError:
            return [Problem("", "the body or the schema is nested too deeply", self.doc.where(self.loc))]
        except Exception as exc:  # an unresolvable $ref (an `$id` elsewhere): jsonschema wraps referencing's error
            ref = getattr(exc, "ref", None) or getattr(getattr(exc, "_wrapped", None), "ref", None)
            if ref is not None:
                return [Problem("", f"cannot resolve $ref {shown_url(str(ref))} (never fetched)", self.doc.where(self.loc))]
            return [Problem("", f"the schema cannot be applied ({type(exc).__name__})", self.doc.where(self.loc))]
        # OAS 3.0: a null where `nullable` is not set fails twice ("for not nullable", "is not of type"): say it once
        typed = {tuple(e.absolute_path) for e in found if "is not of type" in e.message}
        found = [e for e in found if not (e.message.endswith("for not nullable") and tuple(e.absolute_path) in typed)]
        out = [self._problem(e) for e in found[:limit]]
        if len(found) > limit:
            out.append(Problem("", f"+{len(found) - limit} more schema errors", None))
        return out

    def _problem(self, error: Any) -> Problem:
        pointer = "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in error.absolute_path)
        message = _message(error)
        if error.context and error.validator in ("oneOf", "anyOf"):
            closest = _closest(error.context)
            sub = "".join("/" + str(p) for p in closest.absolute_path)
            message += f" (closest: {(sub or '/') + ': ' if sub != pointer else ''}{_message(closest)})"
        loc = self.doc.loc_of(error.schema)
        at = self.doc.where(loc.child(error.validator)) if loc is not None else self.doc.where(self.loc)
        return Problem(pointer, message, at)


def _closest(context: list) -> Any:
    """The first error of the branch that failed least (the one the body was most likely meant to be)."""
    branches: dict[Any, list] = {}
    for e in context:
        branches.setdefault(e.relative_schema_path[0] if e.relative_schema_path else None, []).append(e)
    fewest = min(branches.values(), key=len)
    return best_match(fewest)


def _message(error: Any) -> str:
    """jsonschema's message, with the value written as JSON (null, not None) and cut short."""
    message = error.message
    full = repr(error.instance)
    if full in message:
        try:
            shown = json.dumps(error.instance, ensure_ascii=False)
        except (TypeError, ValueError, RecursionError):
            shown = full
        message = message.replace(full, _cut(shown, _VALUE_WIDTH), 1)
    return _cut(message, 200)


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."
