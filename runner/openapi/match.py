"""Which operation of a document a request is: method + path template.

    Operations(doc).locate(method, path, base_path) -> Located     a response, at run time
    Operations(doc).check_static(method, url) -> str | None        `runner validate`: None when it matches

- A path is matched relative to a base path: the path of the request's `base_url`, or of
  one of the document's `servers` (its `{variables}` stand for any text), or none.
- Path templates (`/pets/{id}`, `/files/{name}.{ext}`) match one segment per variable.
  Where several match, the concrete one wins (`/pets/mine` before `/pets/{id}`: the
  leftmost literal segment decides), as the OpenAPI specification says.
- A trailing slash is ignored on both sides; the request path is percent-decoded.
- Statically, each `${...}` of a request URL stands for one segment (or part of one).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from .document import Document, Loc

__all__ = ["METHODS", "Operation", "Operations", "Located", "describe", "path_of"]

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_VAR = re.compile(r"\{[^{}/]*\}")
_TEMPLATE_REF = re.compile(r"\$\{[^}]*\}")
_HOLE = "\x00"  # a `${...}` of a request URL, while matching statically


@dataclass(frozen=True, slots=True)
class Operation:
    method: str  # upper case
    template: str  # "/pets/{id}"
    node: dict  # the Operation Object
    loc: Loc


@dataclass(frozen=True, slots=True)
class Located:
    """The outcome of matching a request: the operation, or why none."""

    operation: Operation | None
    path: str  # the path relative to the base that was used
    template: str | None = None  # the template that matched the path, when only the method is wrong
    methods: tuple[str, ...] = ()  # the methods that template has


@dataclass(slots=True)
class _Template:
    text: str
    regex: re.Pattern
    rank: tuple  # 0 for a literal segment, 1 for a templated one: smaller is more concrete
    segments: tuple[str, ...]
    operations: dict  # METHOD -> Operation


def path_of(url: str) -> str:
    """The path of a URL (absolute or not), without query and fragment."""
    return urlsplit(url).path if "://" in url[:12] else url.split("?", 1)[0].split("#", 1)[0]


def _strip(path: str) -> str:
    path = "/" + path.lstrip("/")
    return path.rstrip("/") or "/"


def _segment_regex(segment: str) -> str:
    out, last = [], 0
    for m in _VAR.finditer(segment):
        out.append(re.escape(segment[last:m.start()]))
        out.append("[^/]+")
        last = m.end()
    out.append(re.escape(segment[last:]))
    return "".join(out)


class Operations:
    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.templates: list[_Template] = []
        root = doc.root
        paths = root.get("paths") if isinstance(root, dict) else None
        for text, item in (paths or {}).items():
            if not isinstance(text, str) or not text.startswith("/"):
                continue
            item, item_loc = doc.resolve(item, Loc(doc.root_file, ("paths", text)))
            if not isinstance(item, dict):
                continue
            ops = {}
            for method in METHODS:
                node = item.get(method)
                if isinstance(node, dict):
                    ops[method.upper()] = Operation(method.upper(), text, node, item_loc.child(method))
            norm = _strip(text)
            segments = tuple(norm.split("/")[1:]) if norm != "/" else ()
            regex = re.compile("/" + "/".join(_segment_regex(s) for s in segments) if norm != "/" else "/")
            rank = tuple(1 if _VAR.search(s) else 0 for s in segments)
            self.templates.append(_Template(text, regex, rank, segments, ops))
        self.templates.sort(key=lambda t: t.rank)
        self.server_bases = [b for b in (_server_base(s) for s in (root.get("servers") or []) if isinstance(s, dict)) if b]

    # ---------------------------------------------------------------- run time
    def locate(self, method: str, url: str, base_url: str | None = None) -> Located:
        path = unquote(path_of(url))
        first: Located | None = None
        for rel in self._candidates(path, base_url):
            found = self.match(method, rel)
            if found.operation is not None:
                return found
            if first is None or (found.template and not first.template):
                first = found
        return first or Located(None, path)

    def match(self, method: str, path: str) -> Located:
        path = _strip(path)
        hits = [t for t in self.templates if t.regex.fullmatch(path)]
        for t in hits:  # concrete first (sorted by rank)
            op = t.operations.get(method.upper())
            if op is not None:
                return Located(op, path)
        if hits:
            return Located(None, path, hits[0].text, tuple(hits[0].operations))
        return Located(None, path)

    def _candidates(self, path: str, base_url: str | None) -> list[str]:
        out = []
        if base_url:
            base = _strip(unquote(path_of(base_url)))
            if base != "/" and (path == base or path.startswith(base + "/")):
                out.append(path[len(base):] or "/")
        for regex in self.server_bases:
            m = regex.match(path)
            if m and (m.end() == len(path) or path[m.end()] == "/"):
                out.append(path[m.end():] or "/")
        out.append(path)
        return list(dict.fromkeys(out))

    # ---------------------------------------------------------------- static
    def check_static(self, method: str, url: str) -> tuple[str, str | None] | None:
        """None when `method url` (with ${...} holes) may be an operation; else (problem, hint)."""
        path = _TEMPLATE_REF.sub(_HOLE, path_of(url))
        path = _strip(path)
        candidates = [path] + [path[m.end():] or "/" for r in self.server_bases
                               if (m := r.match(path)) and (m.end() == len(path) or path[m.end()] == "/")]
        other_methods: tuple[str, ...] = ()
        template = None
        for rel in candidates:
            segs = tuple(_strip(rel).split("/")[1:]) if rel != "/" else ()
            hits = [t for t in self.templates if _static_fits(segs, t)]
            for t in hits:
                if method.upper() in t.operations:
                    return None
            if hits and not other_methods:  # the least concrete: a `${...}` may be any value
                template, other_methods = hits[-1].text, tuple(hits[-1].operations)
        shown = path_of(url) or "/"
        problem = f"{method.upper()} {shown} is not in {self.doc.shown}"
        if template is not None:
            return f"{problem} ({template} has {', '.join(other_methods) or 'no operation'})", None
        return problem, self._suggest(method.upper(), path) or "add `openapi: false` to a request that is not part of this API"

    def _suggest(self, method: str, path: str) -> str | None:
        wanted = path.replace(_HOLE, "{}")
        shapes = {_VAR.sub("{}", t.text): t for t in self.templates if method in t.operations}
        close = difflib.get_close_matches(wanted, list(shapes), n=1, cutoff=0.6)
        if close:
            return f"did you mean {method} {shapes[close[0]].text}?"
        shapes = {_VAR.sub("{}", t.text): t for t in self.templates}
        close = difflib.get_close_matches(wanted, list(shapes), n=1, cutoff=0.6)
        if close:
            t = shapes[close[0]]
            return f"did you mean {next(iter(t.operations), method)} {t.text}?"
        return None


def _static_fits(segments: tuple[str, ...], t: _Template) -> bool:
    if len(segments) != len(t.segments):
        return False
    for seg, tseg in zip(segments, t.segments):
        if _HOLE in seg:
            if seg == _HOLE or _VAR.search(tseg):
                continue
            pattern = ".+".join(re.escape(p) for p in seg.split(_HOLE))
            if not re.fullmatch(pattern, tseg):
                return False
        elif not re.fullmatch(_segment_regex(tseg), unquote(seg)):
            return False
    return True


def _server_base(server: dict) -> re.Pattern | None:
    """The path of a server URL as a prefix pattern (its `{variables}` stand for any text); None for no path."""
    url = server.get("url")
    if not isinstance(url, str):
        return None
    filled = _VAR.sub("\x01", url)
    if "://" in filled:  # the scheme or host may be a variable: take what follows the authority
        rest = filled.split("://", 1)[1]
        path = rest[rest.index("/"):] if "/" in rest else ""
    else:
        path = filled
    path = path.rstrip("/")
    if not path or path == "/":
        return None
    path = "/" + path.lstrip("/")
    return re.compile("".join("[^/]*" if c == "\x01" else re.escape(c) for c in path))


def describe(located: Located, method: str, doc_name: str) -> str:
    """One line for a request that matched no operation."""
    if located.template is not None:
        return (f"{method.upper()} {located.path} is not in {doc_name} "
                f"({located.template} has {', '.join(located.methods) or 'no operation'})")
    return f"{method.upper()} {located.path} is not in {doc_name}"
