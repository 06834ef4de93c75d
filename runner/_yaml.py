"""Safe YAML reading: text -> plain JSON-like data plus a SourceMap of positions.

The only module that imports `yaml`. Nothing is ever constructed by PyYAML: the
document is composed into nodes (`yaml.compose` with a `SafeLoader` subclass) and
the nodes are turned into dict/list/str/int/float/bool/None here, with our own
rules, which are the YAML 1.2 core schema's, made a little stricter:

- booleans are `true`/`false` only (also `True`, `TRUE`...); `yes`, `no`, `on`,
  `off`, `y`, `n` stay strings;
- a double-quoted escape of a UTF-16 surrogate (`"\\ud800"`) is an error: it is not
  a character, and no request could encode it;
- null is `null`, `Null`, `NULL`, `~` or nothing;
- integers are decimal (`-12`), `0x1F` or `0o17`. A decimal with a leading zero
  (`0200`, `08`) stays a STRING: YAML 1.1 reads it as octal, YAML 1.2 as decimal,
  and the two disagree, so we take neither guess (a schema error then says
  "expected an integer, got a string" where a number was meant);
- floats are `1.5`, `.5`, `1e3`, `1.0e+3`; `.inf` and `.nan` are errors (JSON
  cannot hold them), and so is a number too large for a float;
- everything else is a string: `1:30` (no sexagesimal), `2024-01-01` (no
  timestamps), `=`, `1_000`;
- explicit tags: `!!str`, `!!int`, `!!float`, `!!bool`, `!!null`, `!!map`,
  `!!seq`; any other tag (`!!binary`, `!!set`, `!!python/...`, `!custom`) is an error;
- mapping keys must be strings (`200:` is an error: quote it), except the merge
  key `<<`; duplicate keys are errors; aliases and merge keys work, but aliases may
  add at most MAX_NODES values to the document and recursive aliases are refused
  (the size of the file itself is capped by MAX_TEXT, not by a node count);
- nesting deeper than MAX_DEPTH is refused BEFORE composing, by counting
  `yaml.parse` events (the composers recurse: the C one crashes the process on
  very deep input, the Python one raises RecursionError).

Plain documents (no anchors, aliases, merge keys or explicit tags) take a fast
path: one pass over libyaml's parse events straight to data, with an explicit
stack that gives up past MAX_DEPTH. Anything else, and every error, goes the
careful way (depth pre-scan, compose, walk) so messages and positions are one.

Every error is a `SpecError` of `Diagnostic`s positioned `path:line:col` (1-based).
Messages never quote a value from the document.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, field
from typing import Any, Iterator

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from .errors import SpecError
from .source import Diagnostic, Position, Span

__all__ = [
    "MAX_DEPTH",
    "MAX_NODES",
    "MAX_TEXT",
    "SourceMap",
    "YamlPath",
    "decode",
    "dump",
    "scalar",
    "parse",
    "parse_plain",
]

MAX_DEPTH = 64
MAX_NODES = 100_000
MAX_TEXT = 5 * 1024 * 1024  # characters (the file reader caps bytes at the same size)

YamlPath = tuple  # keys (str) and indices (int) from the root

_TAG = "tag:yaml.org,2002:"
_PLAIN = "tag:request-runner:plain"  # an untagged plain scalar: resolved by our rules
_TAB_HINT = "YAML forbids tabs for indentation; indent with spaces"


class SourceMap:
    """Where each value of a document came from.

    A tree shaped like the data: a collection's node is `[entry, children]`, its
    children a dict (mapping) or a list (sequence) of their nodes; a scalar's node is
    its entry alone. An entry packs the parser's 0-based positions of the key and the
    value in one int (`_entry`); the key positions are None for the root and for list
    items. A tree rather than a table keyed by path: recording a value is one store,
    with no path tuple per value, and letting go of a request's positions (`release`)
    is one store too. `Span`s are made only when asked for. Lookups fall back to the
    nearest ancestor, so a path that is not recorded (a value built later) still gets a
    sensible position.
    """

    __slots__ = ("path", "root", "text")

    def __init__(self, path: str, root: list | None = None, text: str | None = None) -> None:
        self.path = path
        self.root = root  # the document's node, or None: nothing recorded
        self.text = text  # the document: released positions are found again by reading it again

    def release(self, path: YamlPath) -> None:
        """Let go of the positions under `path` (its model is built: a large spec's loader
        holds only the positions of the requests still to build). Asked for later (an error
        found by a later check), they are found by reading the text again."""
        if self.text is None or not path:
            return
        node = self.root
        for step in path[:-1]:
            node = _child(node, step)
            if node is None:
                return
        if type(node) is list:
            children = node[1]
            step = path[-1]
            if type(children) is dict and step in children or type(children) is list and type(step) is int and 0 <= step < len(children):
                children[step] = None

    def forget(self) -> None:
        """Let go of every position (and of the text): this map is no longer asked."""
        self.root = None
        self.text = None

    def only(self, *prefixes: YamlPath) -> "SourceMap":
        """The positions of the root and of what lies under `prefixes`: what is still asked
        for once a file is loaded and checked (a spec's `vars:`), without the rest."""
        if self.root is None:
            return SourceMap(self.path)
        root: list = [self.root[0], {} if type(self.root[1]) is dict else []]
        for prefix in prefixes:
            source, copy = self.root, root
            for i, step in enumerate(prefix):
                child = _child(source, step)
                if child is None or type(copy[1]) is not dict:  # only mapping keys are kept
                    break
                if i == len(prefix) - 1 or type(child) is int:
                    copy[1][step] = child
                    break
                copy = copy[1].setdefault(step, [child[0], {} if type(child[1]) is dict else []])
                source = child
        return SourceMap(self.path, root)

    def paths(self) -> Iterator[YamlPath]:
        """Every path with a recorded position (tests compare the two parsing paths with it)."""
        if self.root is None:
            return
        stack: list = [((), self.root)]
        while stack:
            here, node = stack.pop()
            yield here
            if type(node) is list:
                children = node[1]
                items = children.items() if type(children) is dict else enumerate(children)
                stack.extend((here + (k,), child) for k, child in items if child is not None)

    def _nearest(self, path: YamlPath) -> tuple | None:
        node = self.root
        if node is None:
            return None
        best = node[0]
        for step in path:
            if type(node) is not list:
                break  # below a scalar: the scalar's position
            children = node[1]
            if type(children) is dict:
                if step not in children:
                    break
                child = children[step]
            elif type(step) is int and 0 <= step < len(children):
                child = children[step]
            else:
                break
            if child is None:  # released: read the text again (rare: an error found after the build)
                if self.text is None:
                    break
                _data, again = parse(self.text, filename=self.path, require_mapping=False)
                self.root = again.root
                return self._nearest(path)
            node = child
            best = child if type(child) is int else child[0]
        return _unpack(best) if best is not None else None

    def value_span(self, path: YamlPath) -> Span:
        entry = self._nearest(path)
        return _mark_span(self.path, entry[2], entry[3]) if entry else Span.point(self.path)

    def key_span(self, path: YamlPath) -> Span:
        """The key's span when `path` names a mapping entry; else the value's."""
        entry = self._nearest(path)
        if entry is None:
            return Span.point(self.path)
        if entry[0] is not None:
            return _mark_span(self.path, entry[0], entry[1])
        return _mark_span(self.path, entry[2], entry[3])


def _child(node: Any, step: Any) -> Any:
    """The node under `node` at `step`, or None (not recorded, released, or `node` is a scalar's)."""
    if type(node) is not list:
        return None
    children = node[1]
    if type(children) is dict:
        return children.get(step)
    if type(step) is int and 0 <= step < len(children):
        return children[step]
    return None


_COLUMN_BITS = 23  # a column below 2**23 (MAX_TEXT is 5 Mi characters)
_COLUMN_MASK = (1 << _COLUMN_BITS) - 1


def _pos(mark) -> int:
    """A parser mark's 0-based line and column, packed in one int."""
    return (mark.line << _COLUMN_BITS) | mark.column


_POS_BITS = 2 * _COLUMN_BITS  # lines are below 2**23 too (MAX_TEXT)
_POS_MASK = (1 << _POS_BITS) - 1
_TWO_POS_BITS = 2 * _POS_BITS


def _entry(key_start: int | None, key_end: int | None, value_start: int, value_end: int) -> int:
    """A SourceMap entry: four packed positions in one int; the low bit says whether there is a key.
    (`_fast_parse` writes this out in its loop: change both together.)"""
    value = value_start | value_end << _POS_BITS
    if key_start is None:
        return value << 1
    return (value | (key_start | key_end << _POS_BITS) << _TWO_POS_BITS) << 1 | 1


def _unpack(entry: int) -> tuple:
    """`_entry`'s four positions: (key_start, key_end, value_start, value_end); no key: None, None."""
    bits = entry >> 1
    value_start, value_end = bits & _POS_MASK, bits >> _POS_BITS & _POS_MASK
    if not entry & 1:
        return None, None, value_start, value_end
    return bits >> 2 * _POS_BITS & _POS_MASK, bits >> 3 * _POS_BITS, value_start, value_end


def _mark_span(filename: str, start: int, end: int | None) -> Span:
    """0-based packed positions -> a 1-based Span; a block collection ends at the start
    of the next token, so a span that would cross lines stays on its first line."""
    line, column = start >> _COLUMN_BITS, start & _COLUMN_MASK
    if end is None or end >> _COLUMN_BITS != line or end & _COLUMN_MASK == column:
        return Span.at(filename, line + 1, column + 1, line + 1, column + 1)
    return Span.at(filename, line + 1, column + 1, line + 1, (end & _COLUMN_MASK) + 1)


# ----------------------------------------------------------------- the loader class


class _Loader(yaml.SafeLoader):
    """SafeLoader whose implicit resolution leaves plain scalars for us to type.

    Only `resolve` changes; nothing is ever constructed (we only compose).
    """

    def resolve(self, kind, value, implicit):  # type: ignore[override]
        if kind is ScalarNode and implicit[0]:
            return _PLAIN
        return super().resolve(kind, value, implicit)


if hasattr(yaml, "CSafeLoader"):

    class _FastLoader(yaml.CSafeLoader):  # type: ignore[misc,name-defined]
        """libyaml's parser and composer (about 20x faster), with our resolution.

        Used only after the depth pre-scan bounded the nesting: the C composer
        recurses and would crash the process on very deep input. Its parser is an
        iterative state machine, so the pre-scan itself is safe with it.
        """

        def resolve(self, kind, value, implicit):  # type: ignore[override]
            if kind is ScalarNode and implicit[0]:
                return _PLAIN
            return super().resolve(kind, value, implicit)

else:  # PyYAML built without libyaml
    _FastLoader = _Loader


# -------------------------------------------------------------------------- errors


class _Abort(Exception):
    def __init__(self, diagnostic: Diagnostic) -> None:
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


def _span(filename: str, node_or_mark_start, end=None) -> Span:
    start = node_or_mark_start
    end = end or start
    return Span(
        filename,
        Position(start.line + 1, start.column + 1),
        Position(end.line + 1, end.column + 1),
    )


def _node_span(filename: str, node: Node) -> Span:
    return _mark_span(filename, _pos(node.start_mark), _pos(node.end_mark))


def _pos_span(filename: str, text: str, index: int) -> Span:
    line = text.count("\n", 0, index) + 1
    col = index - (text.rfind("\n", 0, index) + 1) + 1
    return Span.point(filename, line, col)


_QUOTED = re.compile(r"'([^']*)'")


def _clean_problem(problem: str) -> str:
    """PyYAML's problem text, without long quoted fragments of the document."""

    def shorten(m: re.Match) -> str:
        inner = m.group(1)
        if len(inner) > 12 and not inner.startswith("<"):
            return "'...'"
        return m.group(0)

    return _QUOTED.sub(shorten, problem or "invalid YAML")


def _syntax_diagnostic(exc: yaml.MarkedYAMLError, filename: str, text: str) -> Diagnostic:
    mark = exc.problem_mark or exc.context_mark
    span = _span(filename, mark) if mark is not None else Span.point(filename)
    problem = _clean_problem(exc.problem or exc.context or "")
    message = f"YAML syntax error: {problem}"
    if exc.context and exc.problem:
        message += f" ({_clean_problem(exc.context)}"
        if exc.context_mark is not None and exc.context_mark is not mark:
            message += f" started at line {exc.context_mark.line + 1}"
        message += ")"
    hint = None
    if "\\t" in problem or "'\t'" in problem or _line_has_tab_indent(text, span.line):
        hint = _TAB_HINT
    return Diagnostic(message, span, hint, title="YAML syntax error")


def _line_has_tab_indent(text: str, line: int) -> bool:
    lines = text.splitlines()
    if not 0 < line <= len(lines):
        return False
    s = lines[line - 1]
    indent = s[: len(s) - len(s.lstrip(" \t"))]
    return "\t" in indent


# ------------------------------------------------------------------------ decoding


def decode(data: bytes, filename: str) -> str:
    """Bytes of a file -> text. UTF-8 (with or without BOM) or UTF-16/32 with a BOM.

    Raises SpecError for invalid UTF-8 and NUL bytes; never UnicodeDecodeError.
    """
    for bom, codec in (
        (codecs.BOM_UTF32_LE, "utf-32-le"),
        (codecs.BOM_UTF32_BE, "utf-32-be"),
        (codecs.BOM_UTF8, "utf-8"),
        (codecs.BOM_UTF16_LE, "utf-16-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be"),
    ):
        if data.startswith(bom):
            body = data[len(bom) :]
            try:
                return body.decode(codec)
            except UnicodeDecodeError as exc:
                raise SpecError([Diagnostic(f"the file starts with a {codec.upper()[:6]} byte order mark but is not valid {codec.upper()[:6]} (byte offset {exc.start + len(bom)})", Span.point(filename), "save it as UTF-8", title="encoding error")]) from None
    nul = data.find(b"\x00")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if 0 <= nul < exc.start:
            raise _nul_error(filename, data[:nul].decode("utf-8", "replace")) from None
        before = data[: exc.start].decode("utf-8", "replace")
        span = _pos_span(filename, before, len(before))
        raise SpecError([Diagnostic(f"the file is not valid UTF-8 (byte offset {exc.start})", span, "save it as UTF-8", title="encoding error")]) from None
    if nul >= 0:
        raise _nul_error(filename, text[: text.find("\x00")])
    return text


def _nul_error(filename: str, before: str) -> SpecError:
    span = _pos_span(filename, before, len(before))
    return SpecError([Diagnostic("the file contains a NUL byte; it is binary or UTF-16 without a byte order mark", span, "save it as UTF-8", title="encoding error")])


# YAML's printable set (1.2 §5.1), plus NEL; anything else is refused with a position.
_NOT_PRINTABLE = re.compile("[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _check_text(text: str, filename: str) -> None:
    if len(text) > MAX_TEXT:
        raise SpecError([Diagnostic(f"the file is too large ({len(text)} characters; the limit is {MAX_TEXT})", Span.point(filename))])
    m = _NOT_PRINTABLE.search(text)
    if m:
        ch = m.group(0)
        if ch == "\x00":
            raise _nul_error(filename, text[: m.start()])
        span = _pos_span(filename, text, m.start())
        raise SpecError([Diagnostic(f"control character U+{ord(ch):04X} is not allowed in YAML", span, "remove it, or write it as an escape inside a double-quoted string", title="YAML syntax error")])


# ------------------------------------------------------------------ depth pre-scan


def _prescan(text: str, filename: str, loader: type = _Loader) -> tuple[int, int]:
    """Count nesting, documents and values over parse events (no composing).

    Returns (documents, values written in the text): aliases may add MAX_NODES more."""
    if loader is _FastLoader and _CParser is not None:
        events = iter(_CParser(text).get_event, None)  # libyaml's parser, without the loader's wrapping
    else:
        events = yaml.parse(text, Loader=loader)
    deltas = _DEPTH_DELTA
    depth = 0
    documents = 0
    values = 0
    for event in events:
        delta = deltas.get(type(event))
        if delta is None:
            values += type(event) is yaml.ScalarEvent
            continue
        if delta == 1:
            values += 1
            depth += 1
            if depth > MAX_DEPTH:
                raise _Abort(Diagnostic(f"nesting is deeper than {MAX_DEPTH} levels", _span(filename, event.start_mark), title="YAML too deep"))
        elif delta == -1:
            depth -= 1
        else:
            documents += 1
            if documents > 1:
                raise _Abort(Diagnostic("the file holds several YAML documents (---); it must hold one", _span(filename, event.start_mark), title="YAML error"))
    return documents, values


_DEPTH_DELTA = {
    yaml.MappingStartEvent: 1,
    yaml.SequenceStartEvent: 1,
    yaml.MappingEndEvent: -1,
    yaml.SequenceEndEvent: -1,
    yaml.DocumentStartEvent: 0,
}

try:
    from yaml._yaml import CParser as _CParser
except ImportError:  # PyYAML built without libyaml
    _CParser = None


# ---------------------------------------------------------------- scalar typing

_INT_DEC = re.compile(r"[-+]?(0|[1-9][0-9]*)")
_INT_LEADING_ZERO = re.compile(r"[-+]?0[0-9]+")
_INT_HEX = re.compile(r"0x[0-9a-fA-F]+")
_INT_OCT = re.compile(r"0o[0-7]+")
_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_INF_NAN = re.compile(r"[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN)")
_MAX_DIGITS = 4000  # below CPython's int/str conversion limit
# only an escape in a double-quoted scalar can make one (the text itself is checked)
_SURROGATE = re.compile("[\ud800-\udfff]")


def _short_tag(tag: str) -> str:
    if tag.startswith(_TAG):
        return "!!" + tag[len(_TAG) :]
    return tag if len(tag) <= 40 else tag[:40] + "..."


@dataclass(slots=True)
class _Walker:
    """Turns composed YAML nodes into data, with the SourceMap and the alias budget."""

    filename: str
    smap: SourceMap
    count: int = 0
    limit: int = MAX_NODES  # values the walk may produce: the text's own plus MAX_NODES through aliases
    active: set = field(default_factory=set)

    def fail(self, message: str, node: Node, hint: str | None = None) -> _Abort:
        return _Abort(Diagnostic(message, _node_span(self.filename, node), hint))

    # ---- scalars
    def scalar(self, node: ScalarNode) -> Any:
        tag = node.tag
        value = node.value
        if node.style == '"' and _SURROGATE.search(value):
            raise self.fail("an escape names a UTF-16 surrogate (U+D800 to U+DFFF), which is not a character", node, "write the character itself, or \\U followed by its 8-digit code point")
        if tag == _PLAIN:
            return self.plain(node, value)
        if tag == _TAG + "str":
            return value
        if tag == _TAG + "null":
            if value in ("", "~", "null", "Null", "NULL"):
                return None
            raise self.fail("!!null value must be null or empty", node)
        if tag == _TAG + "bool":
            if value.lower() in ("true", "false"):
                return value.lower() == "true"
            raise self.fail("!!bool value must be true or false", node)
        if tag == _TAG + "int":
            result = self.number(node, value)
            if isinstance(result, int) and not isinstance(result, bool):
                return result
            raise self.fail("!!int value is not an integer", node)
        if tag == _TAG + "float":
            result = self.number(node, value)
            if isinstance(result, (int, float)) and not isinstance(result, bool):
                return float(result)
            raise self.fail("!!float value is not a number", node)
        raise self.fail(f"unsupported tag '{_short_tag(tag)}'", node, "only plain YAML data is allowed: mappings, lists, strings, numbers, true/false, null")

    def plain(self, node: ScalarNode, value: str) -> Any:
        if value in ("", "~", "null", "Null", "NULL"):
            return None
        if value in ("true", "True", "TRUE"):
            return True
        if value in ("false", "False", "FALSE"):
            return False
        first = value[0]
        if first.isdigit() or first in "+-.":
            result = self.number(node, value)
            if result is not None:
                return result
        return value

    def number(self, node: ScalarNode, value: str) -> int | float | None:
        """int/float by the core schema, None when `value` is not a number."""
        if _INF_NAN.fullmatch(value):
            raise self.fail("infinity and NaN are not allowed (JSON cannot hold them)", node, "quote the value to keep it as text")
        if _INT_LEADING_ZERO.fullmatch(value):
            return None  # see the module docstring: stays a string
        if _INT_DEC.fullmatch(value) or _INT_HEX.fullmatch(value) or _INT_OCT.fullmatch(value):
            if len(value) > _MAX_DIGITS:
                raise self.fail(f"number has more than {_MAX_DIGITS} digits", node, "quote it to keep it as text")
            return int(value, 0) if value[:2] in ("0x", "0o") else int(value)
        if _FLOAT.fullmatch(value):
            if len(value) > _MAX_DIGITS:
                raise self.fail(f"number has more than {_MAX_DIGITS} digits", node, "quote it to keep it as text")
            result = float(value)
            if result in (float("inf"), float("-inf")):
                raise self.fail("number is too large for a float (JSON cannot hold infinity)", node, "quote it to keep it as text")
            return result
        return None

    # ---- structure
    def walk(self, node: Node, key_node: Node | None, depth: int) -> tuple[Any, Any]:
        """(the data of `node`, its SourceMap node)."""
        self.count += 1
        if self.count > self.limit:
            raise self.fail(f"aliases expand the document by more than {MAX_NODES} values (repeated too often?)", node, "aliases (*name) are expanded; a chain of aliases can blow up")
        if depth > MAX_DEPTH:
            raise self.fail(f"nesting is deeper than {MAX_DEPTH} levels (through aliases)", node)
        if key_node is None:
            entry = _entry(None, None, _pos(node.start_mark), _pos(node.end_mark))
        else:
            entry = _entry(_pos(key_node.start_mark), _pos(key_node.end_mark), _pos(node.start_mark), _pos(node.end_mark))
        if isinstance(node, ScalarNode):
            return self.scalar(node), entry
        if id(node) in self.active:
            raise self.fail("recursive alias: a node contains itself", node)
        self.active.add(id(node))
        try:
            if isinstance(node, SequenceNode):
                if node.tag not in (_TAG + "seq",):
                    raise self.fail(f"unsupported tag '{_short_tag(node.tag)}'", node, "only plain YAML data is allowed: mappings, lists, strings, numbers, true/false, null")
                pairs = [self.walk(item, None, depth + 1) for item in node.value]
                return [value for value, _ in pairs], [entry, [where for _, where in pairs]]
            if isinstance(node, MappingNode):
                if node.tag not in (_TAG + "map",):
                    raise self.fail(f"unsupported tag '{_short_tag(node.tag)}'", node, "only plain YAML data is allowed: mappings, lists, strings, numbers, true/false, null")
                result, children = self.mapping(node, depth)
                return result, [entry, children]
            raise self.fail("unsupported YAML node", node)
        finally:
            self.active.discard(id(node))

    def key(self, node: Node) -> str:
        if not isinstance(node, ScalarNode):
            raise self.fail("a mapping key must be a string, not a list or mapping", node)
        value = self.scalar(node)
        if not isinstance(value, str):
            kind = "null" if value is None else "true/false" if isinstance(value, bool) else "a number"
            raise self.fail(f"a mapping key must be a string, not {kind}", node, "quote the key")
        return value

    def mapping(self, node: MappingNode, depth: int) -> tuple[dict, dict]:
        """(the mapping's data, its children's SourceMap nodes)."""
        result: dict[str, Any] = {}
        children: dict[str, Any] = {}
        first_seen: dict[str, Node] = {}
        merges: list[Node] = []
        for key_node, value_node in node.value:
            if isinstance(key_node, ScalarNode) and key_node.tag in (_PLAIN, _TAG + "merge") and key_node.value == "<<":
                merges.append(value_node)
                continue
            key = self.key(key_node)
            if key in first_seen:
                shown = key if len(key) <= 40 else key[:40] + "..."
                raise self.fail(f"duplicate key '{shown}' (first at line {first_seen[key].start_mark.line + 1})", key_node, "a key may appear once per mapping")
            first_seen[key] = key_node
            result[key], children[key] = self.walk(value_node, key_node, depth + 1)
        # merge keys: explicit keys win; among merged mappings the first wins
        for merge in merges:
            for key_node, value_node in self.merge_pairs(merge):
                key = self.key(key_node)
                if key not in result:
                    result[key], children[key] = self.walk(value_node, key_node, depth + 1)
        return result, children

    def merge_pairs(self, merge: Node) -> list:
        """The (key, value) nodes a `<<` brings in, in priority order (nested merges flattened)."""
        sources = merge.value if isinstance(merge, SequenceNode) else [merge]
        pairs: list = []
        for source in sources:
            if not isinstance(source, MappingNode) or source.tag != _TAG + "map":
                raise self.fail("a merge key (<<) takes a mapping or a list of mappings", source)
            if id(source) in self.active:
                raise self.fail("recursive alias: a node contains itself", source)
            self.count += 1
            if self.count > self.limit:
                raise self.fail(f"aliases expand the document by more than {MAX_NODES} values (repeated too often?)", source)
            self.active.add(id(source))
            try:
                nested = []
                for key_node, value_node in source.value:
                    if isinstance(key_node, ScalarNode) and key_node.tag in (_PLAIN, _TAG + "merge") and key_node.value == "<<":
                        nested.append(value_node)
                    else:
                        pairs.append((key_node, value_node))
                for inner in nested:
                    pairs.extend(self.merge_pairs(inner))
            finally:
                self.active.discard(id(source))
        return pairs


# ------------------------------------------------------------- the fast path

_FALLBACK = object()  # "this document needs the careful path"
_SHARED_LEN = 64  # texts up to this long are kept once per document (keys, short values)
# what `_Walker.plain` gives for these plain scalars; any other plain scalar not
# starting like a number is a string as it stands (the same tests as `plain`)
_PLAIN_WORDS = {"": None, "~": None, "null": None, "Null": None, "NULL": None, "true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_SCALAR = yaml.ScalarEvent
_MAP_START = yaml.MappingStartEvent
_SEQ_START = yaml.SequenceStartEvent
_MAP_END = yaml.MappingEndEvent
_SEQ_END = yaml.SequenceEndEvent
_DOC_START = yaml.DocumentStartEvent
_STREAM_END = yaml.StreamEndEvent
_QUIET = (yaml.StreamStartEvent, yaml.DocumentEndEvent)


def _fast_parse(text: str, walker: _Walker, stream: tuple[str, Any] | None = None) -> Any:
    """One pass over libyaml's parse events straight to data and positions.

    Handles the plain documents almost every spec is: one document, a mapping at
    the top, no anchors, aliases, merge keys or explicit tags, nesting within
    MAX_DEPTH, and no error of any kind (no node cap: without aliases the number
    of values is bounded by the text, which MAX_TEXT caps). For anything
    else it returns _FALLBACK, and `parse` takes the careful path (depth pre-scan,
    compose, walk), which gives every refusal its message and position. It
    recurses nowhere (an explicit stack), so deep input cannot hurt it, and it
    gives up as soon as the stack passes MAX_DEPTH.

    `stream` is (key, take): each item of the root mapping's list under `key` is handed
    to `take(index, item, smap)` as soon as it is read, and left out of the data (None
    in its place) when `take` returns True (`parse_plain`).
    """
    if _CParser is None:
        return _FALLBACK
    stream_key, take = stream if stream is not None else (None, None)
    smap = walker.smap
    plain = walker.plain
    get = _CParser(text).get_event
    # one object per distinct short text: a large spec repeats its keys and many values
    # (`url: /pets` ten thousand times), and every event brings a new copy
    shared: dict[str, str] = {}
    share = shared.setdefault
    numbers: dict[str, Any] = {}  # plain scalars that start like a number -> what `plain` made of them
    # a frame: [container, its SourceMap children, is_mapping, start, key, key_half, its
    # SourceMap node, own_key_half, streamed] (key and key_half, the key's positions as
    # `_entry` packs them, are a mapping's pending key; own_key_half the one the collection
    # is under; streamed: this is the list whose items go to `take`)
    stack: list = []
    root: Any = _FALLBACK
    root_node: list | None = None
    documents = 0
    count = 0
    try:
        while True:
            event = get()
            kind = type(event)
            if kind is _SCALAR:
                if event.anchor is not None:
                    return _FALLBACK
                tag = event.tag
                if tag is not None and tag != "!":
                    return _FALLBACK
                count += 1
                value = event.value
                if event.style == '"' and _SURROGATE.search(value):
                    return _FALLBACK
                if len(value) <= _SHARED_LEN:
                    value = share(value, value)
                if event.implicit[0]:
                    if value in _PLAIN_WORDS:
                        value = _PLAIN_WORDS[value]
                    elif value == "<<":
                        return _FALLBACK  # merge key (or a plain '<<' value: rare, careful path)
                    elif value[0] in "+-." or value[0].isdigit():
                        number = numbers.get(value, _FALLBACK)  # `status: 200` ten thousand times: typed once
                        if number is _FALLBACK:
                            number = plain(event, value)
                            if len(value) <= _SHARED_LEN:
                                numbers[value] = number
                        value = number
                if not stack:
                    return _FALLBACK  # a scalar document
                frame = stack[-1]
                if frame[2]:
                    if frame[4] is None:  # a key
                        if type(value) is not str or value in frame[0]:
                            return _FALLBACK  # not a string, or a duplicate
                        frame[4] = value
                        start, end = event.start_mark, event.end_mark
                        # the key's half of `_entry`, written out (the loop's hottest lines)
                        frame[5] = (start.line << _COLUMN_BITS | start.column) | (end.line << _COLUMN_BITS | end.column) << _POS_BITS
                        continue
                    key = frame[4]
                    frame[0][key] = value
                    start, end = event.start_mark, event.end_mark
                    frame[1][key] = ((start.line << _COLUMN_BITS | start.column) | (end.line << _COLUMN_BITS | end.column) << _POS_BITS
                                     | frame[5] << _TWO_POS_BITS) << 1 | 1
                    frame[4] = None
                else:
                    frame[0].append(value)
                    start, end = event.start_mark, event.end_mark
                    frame[1].append(((start.line << _COLUMN_BITS | start.column) | (end.line << _COLUMN_BITS | end.column) << _POS_BITS) << 1)
                    if frame[8] and take(len(frame[0]) - 1, value, smap):
                        frame[0][-1] = None
            elif kind is _MAP_START or kind is _SEQ_START:
                if event.anchor is not None:
                    return _FALLBACK
                tag = event.tag
                if tag is not None and tag != "!":
                    return _FALLBACK
                count += 1
                if len(stack) >= MAX_DEPTH:
                    return _FALLBACK
                is_mapping = kind is _MAP_START
                container: Any = {} if is_mapping else []
                node = [None, {} if is_mapping else []]
                key_half = None
                streamed = False
                if not stack:
                    if not is_mapping:
                        return _FALLBACK
                    root, root_node = container, node
                    smap.root = node  # a streamed item's positions are asked for while the rest is read
                else:
                    frame = stack[-1]
                    if frame[2]:
                        key = frame[4]
                        if key is None:
                            return _FALLBACK  # a collection as a key
                        frame[0][key] = container
                        frame[1][key] = node
                        key_half = frame[5]
                        frame[4] = None
                        streamed = key == stream_key and len(stack) == 1 and not is_mapping
                    else:
                        frame[0].append(container)
                        frame[1].append(node)
                stack.append([container, node[1], is_mapping, _pos(event.start_mark), None, None, node, key_half, streamed])
            elif kind is _MAP_END or kind is _SEQ_END:
                frame = stack.pop()
                value_half = frame[3] | _pos(event.end_mark) << _POS_BITS
                frame[6][0] = value_half << 1 if frame[7] is None else (value_half | frame[7] << _TWO_POS_BITS) << 1 | 1
                if stack and stack[-1][8]:  # an item of the streamed list is complete
                    items = stack[-1][0]
                    if take(len(items) - 1, items[-1], smap):
                        items[-1] = None
            elif kind is _DOC_START:
                documents += 1
                if documents > 1:
                    return _FALLBACK
            elif kind is _STREAM_END:
                break
            elif kind in _QUIET:
                continue
            else:  # an alias, or anything unexpected
                return _FALLBACK
    except (yaml.YAMLError, _Abort):
        return _FALLBACK
    walker.smap.root = root_node
    walker.count = count
    return root


# ----------------------------------------------------------------------- parsing


def parse(text: str, *, filename: str, what: str = "spec", require_mapping: bool = True) -> tuple[Any, SourceMap]:
    """YAML text -> (data, SourceMap). Raises SpecError with a positioned Diagnostic.

    `what` names the document in messages ("spec is empty"). With
    `require_mapping`, the top level must be a mapping.
    """
    if text.startswith("\ufeff"):
        text = text[1:]
    _check_text(text, filename)
    smap = SourceMap(filename, text=text)
    data = _fast_parse(text, _Walker(filename, smap))
    if data is not _FALLBACK:
        return data, smap
    smap.root = None
    try:
        try:
            documents, values = _prescan(text, filename, _FastLoader)
            node = yaml.compose(text, Loader=_FastLoader) if documents else None
        except yaml.YAMLError:
            # Errors are rare: redo with the pure-Python parser, whose messages and
            # positions are the ones our diagnostics (and their tests) are written for.
            documents, values = _prescan(text, filename)
            node = yaml.compose(text, Loader=_Loader) if documents else None
        if node is None or (isinstance(node, ScalarNode) and node.tag == _PLAIN and node.value == "" and not node.style):
            raise _Abort(Diagnostic(f"{what} is empty", Span.point(filename), title="YAML error"))
        if require_mapping and not isinstance(node, MappingNode):
            got = "a list" if isinstance(node, SequenceNode) else "a single value"
            raise _Abort(Diagnostic(f"expected a mapping (key: value lines) at the top of the {what}, got {got}", _node_span(filename, node), title="YAML error"))
        walker = _Walker(filename, smap, limit=values + MAX_NODES)
        data, smap.root = walker.walk(node, None, 0)
    except _Abort as exc:
        raise SpecError([exc.diagnostic]) from None
    except yaml.MarkedYAMLError as exc:
        raise SpecError([_syntax_diagnostic(exc, filename, text)]) from None
    except yaml.reader.ReaderError as exc:  # control characters are caught earlier; kept as a net
        raise SpecError([Diagnostic(f"YAML reader error: {exc.reason}", _pos_span(filename, text, min(exc.position, len(text))), title="YAML syntax error")]) from None
    except yaml.YAMLError:
        raise SpecError([Diagnostic("YAML error: the file could not be read as YAML", Span.point(filename), title="YAML error")]) from None
    except RecursionError:  # defensive: the depth pre-scan should make this unreachable
        raise SpecError([Diagnostic(f"nesting is too deep (limit {MAX_DEPTH})", Span.point(filename), title="YAML too deep")]) from None
    return data, smap


def parse_plain(text: str, *, filename: str, stream: tuple[str, Any]) -> tuple[Any, SourceMap] | None:
    """`parse` of a plain document (see `_fast_parse`) whose list under the root key
    `stream[0]` is handed to `stream[1]` item by item, as it is read: None when the text
    needs the careful path (`parse` then gives the data, or the error, in full).
    Raises SpecError only for what `_check_text` refuses."""
    if text.startswith("\ufeff"):
        text = text[1:]
    _check_text(text, filename)
    smap = SourceMap(filename, text=text)
    data = _fast_parse(text, _Walker(filename, smap), stream)
    if data is _FALLBACK:
        return None
    return data, smap


def scalar(text: str, *, what: str = "--var") -> Any:
    """`text` typed as the same text written as a value in a YAML file (`vars:` entries):
    `2` an int, `1.5` a float, `true` a bool, `null` None, `02134` and `1:30` strings;
    `"..."` and `'...'` are YAML quoted strings (`"5"` is the text 5). An empty text
    stays an empty string. A number whose text would change when rendered (`1.10`,
    `1e3`, `0x1F`) stays text, so a command-line value is sent as typed. Raises ValueError (no value quoted) for what the loader refuses.
    """
    if text[:1] in ("'", '"'):
        try:
            data, _ = parse("v: " + text, filename=what)
        except SpecError:
            raise ValueError("a quoted value must be one YAML quoted string ('...' or \"...\")") from None
        if not isinstance(data.get("v"), str):
            raise ValueError("a quoted value must be one YAML quoted string ('...' or \"...\")")
        return data["v"]
    if text == "" or text != text.strip() or "\n" in text:
        return text
    mark = yaml.Mark(what, 0, 0, 0, None, None)
    walker = _Walker(what, SourceMap(what))
    try:
        value = walker.plain(ScalarNode(_PLAIN, text, mark, mark), text)
    except _Abort as exc:
        hint = f" ({exc.diagnostic.hint})" if exc.diagnostic.hint else ""
        raise ValueError(exc.diagnostic.message + hint) from None
    # What is typed on a command line is what is sent: a number that would be written
    # back differently (1.10 -> 1.1, 1e3 -> 1000.0, 0x1F -> 31) stays the text typed.
    if isinstance(value, (int, float)) and not isinstance(value, bool) and str(value) != text:
        return text
    return value


def dump(data: Any) -> str:
    """Plain data -> block-style YAML text, keys in the order given (the importers' writer).

    PyYAML quotes what YAML 1.1 would read as another type (`no`, `on`, `1:30`), so
    the text reads back as the same strings under our YAML 1.2 rules too.
    """
    return yaml.dump(data, Dumper=_BlockDumper, sort_keys=False, allow_unicode=True, default_flow_style=False, width=100)


class _BlockDumper(yaml.SafeDumper):
    """SafeDumper that writes multi-line text as a `|` block (readable bodies)."""


def _represent_str(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    if "\n" in text.rstrip("\n") and not any(c in text for c in "\r\t") and text == text.rstrip(" "):
        return dumper.represent_scalar("tag:yaml.org,2002:str", text, style="|")
    return dumper.represent_str(text)


_BlockDumper.add_representer(str, _represent_str)
