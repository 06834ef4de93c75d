"""An OpenAPI 3.0/3.1 document, read safely, with every `$ref` checked and every value positioned.

    load_document(path) -> Document      raises SpecError (every problem, positioned)

The files are read by the project's YAML loader (`_yaml.parse`: safe, positions, caps on
size, depth and nodes); JSON is read by the same loader, so it is positioned too.

`$ref`s are checked once, here, and never fetched over the network:

- `#/components/...` and `other.yaml#/Pet` are followed; `other.yaml` must sit under the
  folder of the document (its real path: a symlink out of it is refused too);
- `https://...`, `urn:...`, `file:...` and anything absolute is refused, naming the ref;
- a pointer that names nothing, and a chain of `$ref`s that loops back on itself without a
  schema in between, are errors; a recursive schema (a Node whose children are Nodes) is
  fine: nothing is ever expanded.

A `Loc` is (file, path) of a value, so that a schema's place can be shown as
`openapi.yaml:41:17` (`Document.span`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping
from urllib.parse import unquote, urlsplit

from .._yaml import SourceMap, parse
from ..errors import SpecError
from ..redact import shown_url
from ..source import Diagnostic, Span

__all__ = ["Document", "Loc", "load_document", "MAX_FILES", "split_ref"]

MAX_FILES = 200  # files one document may pull in through $refs
_MAX_CHAIN = 32  # $ref -> $ref -> ... hops before it is called a loop
# Values that are examples or literal data, not document structure: a "$ref" key in them is data.
_DATA_KEYS = frozenset({"example", "default", "const", "enum", "value"})


@dataclass(frozen=True, slots=True)
class Loc:
    """Where a value sits: a file of the document (its real path) and the keys from that file's root."""

    file: str
    path: tuple = ()

    def child(self, *keys: Any) -> "Loc":
        return Loc(self.file, self.path + keys)


@dataclass(slots=True)
class _File:
    data: Any
    smap: SourceMap
    shown: str  # the name used in messages


@dataclass(slots=True)
class Document:
    root_file: str  # real path of the document
    shown: str  # as named for the user
    version: str  # "3.0" or "3.1"
    files: dict[str, _File] = field(default_factory=dict)
    _ids: dict[int, Loc] = field(default_factory=dict, repr=False)

    @property
    def root(self) -> Any:
        return self.files[self.root_file].data

    @property
    def folder(self) -> str:
        return os.path.dirname(self.root_file)

    def contents(self) -> Mapping[str, Any]:
        """file -> parsed data (the same objects the positions index)."""
        return {name: f.data for name, f in self.files.items()}

    def span(self, loc: Loc, key: bool = False) -> Span:
        f = self.files[loc.file]
        return f.smap.key_span(loc.path) if key else f.smap.value_span(loc.path)

    def where(self, loc: Loc) -> str:
        """`openapi.yaml:41:17` of a value (of its key when it has one)."""
        return self.span(loc, key=True).location()

    def loc_of(self, node: Any) -> Loc | None:
        """The place of a dict or list that belongs to the document (None for any other object)."""
        return self._ids.get(id(node))

    def at(self, loc: Loc) -> Any:
        node = self.files[loc.file].data
        for key in loc.path:
            node = node[key]
        return node

    def resolve(self, node: Any, loc: Loc) -> tuple[Any, Loc]:
        """Follow `$ref`s (checked at load, so they resolve) to the value they name."""
        for _ in range(_MAX_CHAIN):
            if not (isinstance(node, dict) and isinstance(node.get("$ref"), str)):
                return node, loc
            loc = self.target(node["$ref"], loc.file)
            node = self.at(loc)
        return node, loc

    def target(self, ref: str, from_file: str) -> Loc:
        file_part, pointer = split_ref(ref)
        file = from_file if not file_part else os.path.realpath(os.path.join(os.path.dirname(from_file), file_part))
        keys: list[Any] = []
        node = self.files[file].data if file in self.files else None
        for key in pointer or ():  # list indices as ints, as the positions are recorded
            if isinstance(node, list) and isinstance(key, str) and key.isdigit():
                key = int(key)
            keys.append(key)
            node = node[key] if isinstance(node, (dict, list)) and _has(node, key) else None
        return Loc(file, tuple(keys))

    def uri(self, file: str) -> str:
        return "file://" + file


def split_ref(ref: str) -> tuple[str, list[str | int] | None]:
    """`other.yaml#/a/b~1c` -> ("other.yaml", ["a", "b/c"]); the pointer is None for an anchor (`#name`)."""
    file_part, _, fragment = ref.partition("#")
    fragment = unquote(fragment)
    if fragment and not fragment.startswith("/"):
        return unquote(file_part), None
    keys: list[str | int] = [p.replace("~1", "/").replace("~0", "~") for p in fragment.split("/")[1:]]
    return unquote(file_part), keys


def _has(node: Any, key: Any) -> bool:
    if isinstance(node, dict):
        return key in node
    return isinstance(key, int) and key < len(node)


def _shown(path: str) -> str:
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


def load_document(path: str, shown: str | None = None) -> Document:
    """Read the document at `path` and every file its `$ref`s name. Raises SpecError."""
    real = os.path.realpath(path)
    doc = Document(root_file=real, shown=shown or _shown(path), version="")
    problems: list[Diagnostic] = []
    _read(doc, real, doc.shown)
    root = doc.root
    version = root.get("openapi") if isinstance(root, dict) else None
    if not isinstance(version, str) or not version.startswith(("3.0", "3.1")):
        if isinstance(root, dict) and "swagger" in root:
            msg = "Swagger 2.0 documents are not supported; convert it to OpenAPI 3 (e.g. with swagger2openapi)"
            raise SpecError([Diagnostic(msg, doc.span(Loc(real, ("swagger",)), key=True))])
        where = doc.span(Loc(real, ("openapi",))) if isinstance(root, dict) and "openapi" in root else Span.point(doc.shown)
        raise SpecError([Diagnostic("not an OpenAPI 3.0 or 3.1 document (`openapi: 3.0.x` or `3.1.x` expected)", where)])
    doc.version = version[:3]
    pending = [real]
    checked: set[str] = set()
    while pending:
        file = pending.pop()
        if file in checked:
            continue
        checked.add(file)
        for ref, loc in _refs(doc.files[file].data, Loc(file)):
            problem, target = _check_ref(doc, ref, loc)
            if problem:
                problems.append(Diagnostic(problem, doc.span(loc.child("$ref")), _ref_hint(ref)))
                continue
            if target is not None and target not in doc.files:
                if len(doc.files) >= MAX_FILES:
                    problems.append(Diagnostic(f"too many files pulled in by $ref (limit {MAX_FILES})", doc.span(loc.child("$ref"))))
                    break
                try:
                    _read(doc, target, os.path.normpath(os.path.join(os.path.dirname(doc.shown), os.path.relpath(target, doc.folder))))
                except SpecError as exc:
                    problems.extend(exc.diagnostics)
                    doc.files.pop(target, None)
                    continue
            if target is not None:
                pending.append(target)
    if not problems:
        problems.extend(_check_targets(doc))
    if problems:
        raise SpecError(problems)
    for name, f in doc.files.items():
        _index(f.data, Loc(name), doc._ids)
    return doc


def _read(doc: Document, real: str, shown: str) -> None:
    from ..load import read_text_file

    try:
        text = read_text_file(real, what="OpenAPI document")
    except SpecError as exc:  # its messages name `real`: say it as the user would read it
        raise SpecError([Diagnostic(d.message.replace(real, shown, 1), d.span, d.hint, d.title) for d in exc.diagnostics]) from None
    if real.endswith(".json"):
        text = text.replace("\t", " ")  # JSON whitespace; a tab inside a JSON string is invalid anyway
    data, smap = parse(text, filename=shown, what="OpenAPI document", require_mapping=False)
    doc.files[real] = _File(data, smap, shown)


def _refs(node: Any, loc: Loc) -> Iterator[tuple[str, Loc]]:
    """Every `$ref: STRING` of a file with the place of the object holding it (iteratively: no depth limit)."""
    stack = [(node, loc.path)]
    while stack:
        value, path = stack.pop()
        if isinstance(value, dict):
            ref = value.get("$ref")
            if isinstance(ref, str):
                yield ref, Loc(loc.file, path)
            for k, v in value.items():
                if k not in _DATA_KEYS and isinstance(v, (dict, list)):
                    stack.append((v, path + (k,)))
        elif isinstance(value, list):
            for i, v in enumerate(value):
                if isinstance(v, (dict, list)):
                    stack.append((v, path + (i,)))


def _check_ref(doc: Document, ref: str, loc: Loc) -> tuple[str | None, str | None]:
    """(problem, file to read) for one `$ref`."""
    parts = urlsplit(ref)
    if parts.scheme or parts.netloc or ref.startswith("//"):
        return f"remote $ref '{shown_url(ref, 100)}' is never fetched: only files under the document's folder are read", None
    file_part, _pointer = split_ref(ref)
    if not file_part:
        return None, None
    if os.path.isabs(file_part):
        return f"$ref '{_cut(ref)}' is an absolute path: only files under the document's folder are read", None
    target = os.path.realpath(os.path.join(os.path.dirname(loc.file), file_part))
    folder = doc.folder
    if os.path.commonpath([target, folder]) != folder:
        return f"$ref '{_cut(ref)}' points outside the document's folder ({_shown(folder)}): refused", None
    if not os.path.isfile(target):
        return f"$ref '{_cut(ref)}': no such file", None
    return None, target


def _check_targets(doc: Document) -> list[Diagnostic]:
    """Every pointer names something, and no chain of bare $refs loops."""
    problems = []
    for name, f in doc.files.items():
        for ref, loc in _refs(f.data, Loc(name)):
            target = doc.target(ref, name)
            if split_ref(ref)[1] is None:
                continue  # an anchor ($anchor / $dynamicAnchor): resolved by the validator
            missing = _missing(doc, target)
            if missing is not None:
                problems.append(Diagnostic(f"$ref '{_cut(ref)}' points to nothing ({missing})", doc.span(loc.child("$ref"))))
                continue
            seen = {(loc.file, loc.path)}
            node = doc.at(target)
            hops = 0
            while isinstance(node, dict) and isinstance(node.get("$ref"), str) and split_ref(node["$ref"])[1] is not None:
                key = (target.file, target.path)
                if key in seen or hops > _MAX_CHAIN:
                    problems.append(Diagnostic(f"$ref '{_cut(ref)}' loops back to itself through $refs alone", doc.span(loc.child("$ref"))))
                    break
                seen.add(key)
                target = doc.target(node["$ref"], target.file)
                if _missing(doc, target) is not None:
                    break  # reported at its own $ref
                node = doc.at(target)
                hops += 1
    return problems


def _missing(doc: Document, loc: Loc) -> str | None:
    if loc.file not in doc.files:
        return "the file could not be read"
    node = doc.files[loc.file].data
    for key in loc.path:
        if isinstance(node, (dict, list)) and _has(node, key):
            node = node[key]
        else:
            return f"no '{_cut(str(key), 40)}' in {doc.files[loc.file].shown}"
    return None


def _index(node: Any, loc: Loc, ids: dict[int, Loc]) -> None:
    stack = [(node, loc.path)]
    while stack:
        value, path = stack.pop()
        if isinstance(value, dict):
            ids[id(value)] = Loc(loc.file, path)
            stack.extend((v, path + (k,)) for k, v in value.items() if isinstance(v, (dict, list)))
        elif isinstance(value, list):
            ids[id(value)] = Loc(loc.file, path)
            stack.extend((v, path + (i,)) for i, v in enumerate(value) if isinstance(v, (dict, list)))


def _ref_hint(ref: str) -> str | None:
    if ref.startswith(("http://", "https://")):
        return "download the file next to the document and point the $ref at it"
    return None


def _cut(text: str, width: int = 100) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."
