"""JSON Schema validation of spec and config data, with errors in plain words.

The schemas live in the top-level `schemas/` directory, shipped as the package
`runner.schemas`. Validators never fetch anything: they get an empty
`referencing.Registry()` (jsonschema's default registry would `urlopen` a remote
`$ref`), and `format` is checked.

Every error (`iter_errors`, not just the first) becomes a `Diagnostic` positioned
with the SourceMap. Messages name keys, types and allowed values from the schema;
they NEVER quote the value that was found (it may be a secret), so neither
`str(error)` nor `error.message` is ever used.
"""

from __future__ import annotations

import functools
import json
import os
import re
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

try:
    import jsonschema_rs
except ImportError:  # no wheel for this platform: jsonschema does all the work (slower, same verdicts)
    jsonschema_rs = None

from ._yaml import SourceMap
from .jsonvalue import json_type
from .redact import shown_url
from .source import Diagnostic

if TYPE_CHECKING:  # jsonschema is imported only when a document needs it (start-up time)
    from jsonschema import Draft202012Validator, ValidationError

__all__ = ["SCHEMA_NAMES", "schema_text", "load_validator", "validate", "check_body_schema"]

SCHEMA_NAMES = ("spec", "config", "report", "fragment")
_TEMPLATE_PATTERN = "\\$\\{"


@functools.lru_cache(maxsize=None)
def schema_text(name: str) -> str:
    """The JSON text of a packaged schema: spec, config, report or fragment."""
    if name not in SCHEMA_NAMES:
        raise ValueError(f"unknown schema '{name}'; known: {', '.join(SCHEMA_NAMES)}")
    filename = f"{name}.schema.json"
    try:
        resource = resources.files("runner.schemas").joinpath(filename)
        if resource.is_file():
            return resource.read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError, NotADirectoryError, OSError):
        pass
    # a checkout without install: schemas/ sits next to the runner package
    path = Path(__file__).resolve().parent.parent / "schemas" / filename
    return path.read_text(encoding="utf-8")


@functools.lru_cache(maxsize=None)
def load_validator(name: str) -> Draft202012Validator:
    """A validator for a packaged schema; built once per name (pure: same input, same validator)."""
    import referencing
    from jsonschema import Draft202012Validator, FormatChecker

    schema = json.loads(schema_text(name))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, registry=referencing.Registry(), format_checker=FormatChecker())


# ------------------------------------------------------------------------ wording

_YAML11_BOOLS = {"yes": True, "y": True, "on": True, "no": False, "n": False, "off": False}
_TYPE_WORDS = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "null": "null",
}


def _got(instance: Any) -> str:
    return _TYPE_WORDS.get(json_type(instance), "a value")


def _join_or(words: list[str]) -> str:
    words = list(dict.fromkeys(words))
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " or " + words[-1]


def _show(value: Any) -> str:
    """A value FROM THE SCHEMA (never from the instance), for enum/const messages."""
    if isinstance(value, str):
        return f"'{value}'"
    return json.dumps(value)


def _short(key: str) -> str:
    key = str(key)
    return key if len(key) <= 40 else key[:40] + "..."


def _is_template_branch(schema: Any) -> bool:
    if isinstance(schema, dict) and schema.get("$ref") == "#/$defs/template":
        return True
    return isinstance(schema, dict) and schema.get("pattern") == _TEMPLATE_PATTERN


def _value_hint(schema: dict, inst: Any) -> str | None:
    """Our schema's `x-hints`: [regex, hint] pairs; `{}` in the hint is the value, shown only
    when it matched the regex (a status like "200": never free text that could be a secret)."""
    if not isinstance(inst, str):
        return None
    for pattern, hint in schema.get("x-hints") or ():
        if re.fullmatch(pattern, inst):
            return hint.replace("{}", inst)
    return None


# --------------------------------------------------------------------- conversion


class _Converter:
    def __init__(self, smap: SourceMap, root_schema: dict) -> None:
        self.smap = smap
        self.root = root_schema

    def value_span(self, path):
        return self.smap.value_span(tuple(path))

    def key_span(self, path):
        return self.smap.key_span(tuple(path))

    def where(self, path) -> str:
        """`in 'requests[0].expect'` style context for messages that point at a parent."""
        parts = []
        for p in path:
            if isinstance(p, int):
                parts.append(f"[{p}]")
            else:
                parts.append(("." if parts else "") + _short(p))
        return "".join(parts)

    def convert(self, error: ValidationError) -> list[Diagnostic]:
        path = tuple(error.absolute_path)
        v = error.validator
        schema = error.schema if isinstance(error.schema, dict) else {}
        inst = error.instance
        if "propertyNames" in error.schema_path and isinstance(inst, str):
            # the instance of a propertyNames error is a key of the mapping at `path`
            message = schema.get("x-message") or self.simple(error, schema)
            return [Diagnostic(f"key '{_short(inst)}': {message}", self.key_span(path + (inst,)))]
        if v == "additionalProperties" and isinstance(inst, dict):
            return self.unknown_keys(path, inst, schema)
        if v == "required":
            missing = [k for k in error.validator_value if isinstance(inst, dict) and k not in inst]
            return [Diagnostic(f"missing required key '{_short(k)}'", self.value_span(path)) for k in missing]
        if v == "dependentRequired" and isinstance(inst, dict):
            out = []
            for key, needed in error.validator_value.items():
                if key in inst:
                    for n in needed:
                        if n not in inst:
                            out.append(Diagnostic(f"'{_short(key)}' is only allowed together with '{n}'", self.key_span(path + (key,))))
            return out
        if v == "type":
            expected = error.validator_value if isinstance(error.validator_value, list) else [error.validator_value]
            return [Diagnostic(f"expected {_join_or([_TYPE_WORDS.get(t, t) for t in expected])}, got {_got(inst)}", self.value_span(path), self.type_hint(expected, inst))]
        if v in ("anyOf", "oneOf"):
            return self.alternatives(error, path)
        if v == "not":
            return [self.not_error(error, path)]
        if v == "enum":
            return [Diagnostic(f"expected one of {', '.join(_show(x) for x in error.validator_value)}", self.value_span(path))]
        if v == "const":
            return [Diagnostic(f"expected {_show(error.validator_value)}", self.value_span(path))]
        if v == "propertyNames":
            return [self.property_name(error, path)]
        return [Diagnostic(self.simple(error, schema), self.value_span(path), _value_hint(schema, inst))]

    def type_hint(self, expected: list[str], inst: Any) -> str | None:
        if isinstance(inst, str) and ("integer" in expected or "number" in expected):
            if re.fullmatch(r"[-+]?0[0-9]+", inst):
                return "a number with a leading zero is read as text; drop the zero"
            if re.fullmatch(r"[0-9]+:[0-9]+(:[0-9]+)?", inst):
                return "a value like 1:30 is text; write the number of seconds"
        if isinstance(inst, bool) and "string" in expected:
            return "quote the value to keep it as text"
        if isinstance(inst, str) and "boolean" in expected and inst.lower() in _YAML11_BOOLS:
            word = "true" if _YAML11_BOOLS[inst.lower()] else "false"
            return f"'{inst}' is text here (YAML 1.2); write {word}"
        return None

    def simple(self, error: ValidationError, schema: dict) -> str:
        v, val = error.validator, error.validator_value
        if v == "pattern":
            return schema.get("x-message") or f"does not have the expected form (pattern {val})"
        if v == "minimum":
            return f"must be at least {val}"
        if v == "maximum":
            return f"must be at most {val}"
        if v == "exclusiveMinimum":
            return f"must be greater than {val}"
        if v == "exclusiveMaximum":
            return f"must be less than {val}"
        if v == "minLength":
            return "must not be empty" if val == 1 else f"must be at least {val} characters long"
        if v == "maxLength":
            return f"must be at most {val} characters long"
        if v == "minItems":
            return "must not be empty" if val == 1 else f"must have at least {val} items"
        if v == "maxItems":
            return f"must have at most {val} items"
        if v == "minProperties":
            return "must not be empty" if val == 1 else f"must have at least {val} keys"
        if v == "maxProperties":
            keys = list(error.instance) if isinstance(error.instance, dict) else []
            shown = " and ".join(f"'{_short(k)}'" for k in keys[:3])
            return f"expected exactly one key, got {shown}" if val == 1 and shown else f"must have at most {val} keys"
        if v == "uniqueItems":
            return "items must be unique"
        if v == "format":
            return f"is not a valid {val}"
        if v == "multipleOf":
            return f"must be a multiple of {val}"
        if v == "false":
            return "no value is allowed here"
        return f"invalid value ({v})"

    def allowed_keys(self, schema: dict) -> list[str]:
        return sorted((schema.get("properties") or {}).keys())

    def unknown_keys(self, path, inst: dict, schema: dict) -> list[Diagnostic]:
        allowed = self.allowed_keys(schema)
        patterns = [re.compile(p) for p in (schema.get("patternProperties") or {})]
        out = []
        for key in inst:
            if key in allowed or any(p.search(key) for p in patterns):
                continue
            import difflib  # only a likely typo needs it

            close = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.6)
            if close:
                message = f"unknown key '{_short(key)}' (did you mean '{close[0]}'?)"
                hint = None
            else:
                message = f"unknown key '{_short(key)}'"
                hint = f"allowed: {', '.join(allowed)}" if allowed and len(allowed) <= 24 else None
            out.append(Diagnostic(message, self.key_span(path + (key,)), hint))
        return out

    def property_name(self, error: ValidationError, path) -> Diagnostic:
        # the error's instance is the key (a key is not a secret: keys name things)
        key = error.instance
        from jsonschema.exceptions import best_match

        sub = best_match(error.context) if error.context else None
        schema = error.validator_value if isinstance(error.validator_value, dict) else {}
        message = schema.get("x-message") or (self.simple(sub, sub.schema if isinstance(sub.schema, dict) else {}) if sub else "invalid key")
        span = self.key_span(path + (key,)) if isinstance(key, str) else self.value_span(path)
        return Diagnostic(f"key '{_short(key)}': {message}", span)

    def not_error(self, error: ValidationError, path) -> Diagnostic:
        schema = error.validator_value if isinstance(error.validator_value, dict) else {}
        inst = error.instance if isinstance(error.instance, dict) else {}
        keys: list[str] = []
        for branch in schema.get("anyOf", []):
            for k in branch.get("required", []):
                if k not in keys:
                    keys.append(k)
        if keys:  # the body-form exclusivity rule (see dependentSchemas in the request schema)
            keys = [k for k in ("json", "form", "body", "files") if k in keys or k in inst]
        present = [k for k in keys if k in inst]
        if keys:
            found = " and ".join(f"'{k}'" for k in present)
            return Diagnostic(f"only one body form may be given: {_join_or(keys)} (found {found})", self.value_span(path), "`form` may go together with `files`")
        return Diagnostic("this combination of keys is not allowed", self.value_span(path))

    def alternatives(self, error: ValidationError, path) -> list[Diagnostic]:
        branches = error.validator_value if isinstance(error.validator_value, list) else []
        inst = error.instance
        # "exactly one of these keys" (oneOf of {required: [k]} branches)
        req_keys = [b["required"][0] for b in branches if isinstance(b, dict) and set(b) == {"required"} and len(b["required"]) == 1]
        if branches and len(req_keys) == len(branches) and isinstance(inst, dict):
            present = [k for k in req_keys if k in inst]
            if not present:
                return [Diagnostic(f"expected exactly one of: {_join_or(req_keys)}; got none", self.value_span(path))]
            shown = " and ".join(f"'{k}'" for k in present)
            return [Diagnostic(f"expected exactly one of: {_join_or(req_keys)}; got {shown}", self.value_span(path))]
        if not error.context:
            return [Diagnostic("matches more than one allowed form", self.value_span(path))]
        # group sub-errors by branch
        by_branch: dict[int, list[ValidationError]] = {}
        for sub in error.context:
            by_branch.setdefault(sub.schema_path[0] if sub.schema_path else 0, []).append(sub)
        expected_types: list[str] = []
        viable: dict[int, list[ValidationError]] = {}
        for index, subs in by_branch.items():
            branch = branches[index] if index < len(branches) else {}
            shallow = [s for s in subs if tuple(s.absolute_path) == path]
            if _is_template_branch(self.resolve(branch)):
                expected_types.append("a '${...}' reference")
                continue
            mismatch = [s for s in shallow if s.validator in ("type", "const", "enum")]
            if mismatch and len(mismatch) == len(subs):
                for s in mismatch:
                    if s.validator == "type":
                        vv = s.validator_value if isinstance(s.validator_value, list) else [s.validator_value]
                        expected_types.extend(_TYPE_WORDS.get(t, t) for t in vv)
                    elif s.validator == "const":
                        expected_types.append(_show(s.validator_value))
                    else:
                        expected_types.append("one of " + ", ".join(_show(x) for x in s.validator_value))
                continue
            viable[index] = subs
        numeric = any(t in ("an integer", "a number") for t in expected_types)
        if numeric and isinstance(inst, str) and re.fullmatch(r"[-+]?0[0-9]+", inst):
            return [Diagnostic(f"expected {_join_or(expected_types)}, got a string", self.value_span(path), "a number with a leading zero is read as text; drop the zero")]
        if not viable:
            return [Diagnostic(f"expected {_join_or(expected_types) or 'another form'}, got {_got(inst)}", self.value_span(path))]
        if len(viable) == 1:
            (subs,) = viable.values()
            out: list[Diagnostic] = []
            for sub in subs:
                out.extend(self.convert(sub))
            return out
        # the branch that fits best: fewest errors about the value itself, then fewest errors
        def fit(item):
            index, subs = item
            shallow = sum(1 for s in subs if tuple(s.absolute_path) == path)
            return (shallow, len(subs), index)

        ranked = sorted(viable.items(), key=fit)
        best_subs = ranked[0][1]
        from jsonschema.exceptions import best_match, relevance

        best = best_match(best_subs, key=relevance)
        out = self.convert(best) if best is not None else []
        more = len(viable) - 1
        clear_fit = fit(ranked[0])[0] == 0 and fit(ranked[1])[0] > 0
        if out and more and not clear_fit:
            first = out[0]
            out[0] = Diagnostic(first.message + f" (+{more} more: the value matches none of the allowed forms)", first.span, first.hint)
        return out

    def resolve(self, schema: Any) -> Any:
        """Follow a local `#/$defs/x` reference inside our own schema."""
        if isinstance(schema, dict) and isinstance(schema.get("$ref"), str) and schema["$ref"].startswith("#/"):
            node: Any = self.root
            for part in schema["$ref"][2:].split("/"):
                if not isinstance(node, dict) or part not in node:
                    return schema
                node = node[part]
            return node
        return schema


# ------------------------------------------------------------------ the fast check
#
# Nearly every document is valid, and jsonschema spends most of a load proving it.
# jsonschema-rs (draft 2020-12, compiled) answers "is this valid?" in microseconds;
# jsonschema still writes every message, and runs only when that answer is not a
# plain yes. The documents come from our YAML/JSON loaders (dict, list, str, int,
# float, bool, None only; a tuple would pass as an array here). Only a yes is trusted: a no, an error, or no wheel for this platform
# hands the document to jsonschema, which decides.

@functools.lru_cache(maxsize=None)
def _fast_check(name: str, definition: str | None = None):
    """jsonschema-rs's `is_valid` for a packaged schema, or for one of its `$defs` (a spec's
    `request`: the streamed loader checks each request on its own); None when it is not at hand."""
    if jsonschema_rs is None:
        return None
    schema = json.loads(schema_text(name))
    if definition is not None:
        schema = {key: schema[key] for key in ("$schema", "$id", "$defs") if key in schema}
        schema["$ref"] = f"#/$defs/{definition}"
    try:
        return jsonschema_rs.Draft202012Validator(schema, validate_formats=True).is_valid
    except Exception:  # noqa: BLE001 - a schema it cannot compile: jsonschema decides
        return None


def is_surely_valid(data: Any, name: str, definition: str | None = None) -> bool:
    """True only when jsonschema-rs says `data` is valid against packaged schema `name`
    ("spec" or "config"), or against its `$defs/definition`; False means "let `validate`
    decide" (it may still be valid)."""
    check = _fast_check(name, definition) if name in ("spec", "config") else None
    if check is None:
        return False
    try:
        return check(data) is True
    except Exception:  # noqa: BLE001 - a value it cannot take (a non-string key): jsonschema decides
        return False


def validate(data: Any, schema: str | Draft202012Validator, smap: SourceMap) -> list[Diagnostic]:
    """Every schema error of `data`, in plain words, positioned, sorted and de-duplicated.

    `schema` is a packaged schema's name (then a valid document costs no jsonschema
    import at all) or a validator."""
    if isinstance(schema, str):
        if is_surely_valid(data, schema):
            return []
        validator = load_validator(schema)
    else:
        validator = schema
    converter = _Converter(smap, validator.schema if isinstance(validator.schema, dict) else {})
    found: dict[tuple, Diagnostic] = {}
    for error in validator.iter_errors(data):
        for diag in converter.convert(error):
            key = (diag.span.line if diag.span else 0, diag.span.column if diag.span else 0, diag.message)
            found.setdefault(key, diag)
    return sorted(found.values(), key=Diagnostic.sort_key)


_REF_KEYWORDS = ("$ref", "$dynamicRef", "$recursiveRef")
_DATA_KEYWORDS = ("const", "enum", "default", "examples")  # their values are data, not schemas


def _refs_and_ids(schema: Any) -> tuple[list[str], set[str]]:
    """Every `$ref`-like string of a schema document, and every `$id`/`id` it declares."""
    refs: list[str] = []
    ids: set[str] = set()
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                if key in _DATA_KEYWORDS:
                    continue
                if isinstance(value, str):
                    if key in _REF_KEYWORDS:
                        refs.append(value)
                    elif key in ("$id", "id"):
                        ids.add(value.split("#", 1)[0])
                else:
                    stack.append(value)
        elif isinstance(node, list):
            stack.extend(node)
    return refs, ids


def non_local_ref(schema: Any, *, base_dir: str | None) -> str | None:
    """The first `$ref` of an `expect.schema` that can never be resolved, or None.

    Refs are never fetched over the network: an absolute URI (http, https, file with
    a host, urn...) is refused unless the document itself declares it as an `$id`;
    `file:` URIs and relative refs name files beside a schema file, so an inline
    schema (`base_dir` None) may only use refs inside itself (`#...`), and a schema
    file only files inside its own directory (`base_dir`), as `bodyschema` reads them.
    """
    refs, ids = _refs_and_ids(schema)
    for ref in refs:
        base = ref.split("#", 1)[0]
        if not base or base in ids:
            continue
        if ids:
            continue  # relative to an `$id`: resolved (and refused if remote) when applied
        # split by hand (the loader imports nothing from urllib): scheme, //host, path
        found = re.match(r"(?:([A-Za-z][A-Za-z0-9+.\-]*):)?(?://([^/]*))?(.*)", base, re.S)
        scheme, host, rel = (found.group(1) or "").lower(), found.group(2) or "", found.group(3)
        if scheme not in ("", "file") or host not in ("", "localhost") or base_dir is None:
            return ref
        real = os.path.realpath(rel if os.path.isabs(rel) else os.path.join(base_dir, rel))
        root = os.path.realpath(base_dir)
        if os.path.commonpath([real, root]) != root or not os.path.isfile(real):
            return ref
    return None


def check_body_schema(schema: Any, *, base_dir: str | None = None) -> str | None:
    """Why `schema` (an `expect.schema` document) is not a valid JSON Schema, or None."""
    if isinstance(schema, bool):
        return None
    if not isinstance(schema, dict):
        return "a JSON Schema must be a mapping or true/false"
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import best_match
    from jsonschema.validators import validator_for

    try:
        cls = validator_for(schema, default=Draft202012Validator)
    except Exception:  # an unknown $schema URI  # noqa: BLE001
        return "its $schema names an unknown JSON Schema draft"
    errors: Iterable[ValidationError] = cls(cls.META_SCHEMA).iter_errors(schema)
    best = best_match(errors)
    if best is None:
        ref = non_local_ref(schema, base_dir=base_dir)
        if ref is None:
            return None
        where = "to local files in the schema file's directory" if base_dir else "inside an inline schema (#...)"
        return f"$ref '{shown_url(ref)}' is unresolvable: refs are never fetched over the network; only refs {where} are read"
    where = "/".join(str(p) for p in best.absolute_path) or "the top level"
    return f"not a valid JSON Schema: '{best.validator}' check failed at {where}"
