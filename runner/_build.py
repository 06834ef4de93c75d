"""Validated spec/config data -> the frozen `runner.model` objects, plus semantic checks.

Runs after the schema accepted the data, so shapes are known; what the schema
cannot see is checked here and reported as Diagnostics, all at once: regular
expressions in `matches` compile, JSONPaths parse (python-jsonpath is imported
here for syntax checks only; `expectations.py` evaluates them), and an
`expect.schema` file exists, parses and is a JSON Schema (read at load time,
relative to the spec's directory).

`LoadedSpec` is a `Spec` that also carries the SourceMap of its file, so that
`render.check_spec` can point at the exact value holding an undefined `${name}`.
"""

from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import dataclass, field, replace
from collections.abc import Mapping
from typing import Any

import jsonpath

from . import model as m
from ._schema import check_body_schema, is_surely_valid
from ._yaml import MAX_TEXT, SourceMap
from .pattern import compile_pattern
from ._yaml import decode as _decode
from ._yaml import parse as _parse_yaml
from .errors import SpecError
from .source import Diagnostic, Span
from .template import as_text

__all__ = ["LoadedConfig", "LoadedSpec", "build_spec", "build_config", "build_fragment", "SECRET_KINDS"]

SECRET_KINDS = ("env", "file", "dotenv", "command", "keyring", "oauth2", "http")
# oauth2 grant -> the options it needs; option -> its grant
_GRANT_NEEDS = {"client_credentials": ("client_secret",), "password": ("username", "password"), "refresh_token": ("refresh_token",)}
_GRANT_OF = {"username": "password", "password": "password", "refresh_token": "refresh_token"}


@dataclass(frozen=True, slots=True)
class LoadedSpec(m.Spec):
    """A Spec read from a file: also holds the file's SourceMap (positions of every value)."""

    source_map: SourceMap | None = field(default=None, compare=False, repr=False)

    def settled(self) -> "LoadedSpec":
        """This spec once loaded and checked: its model holds the spans reports print, and the
        positions of its `vars:` stay for rendering errors at run time; the rest of the file's
        positions (most of a large file's memory) are let go. Use the spec it returns: this
        one keeps no positions."""
        if self.source_map is None:
            return self
        settled = replace(self, source_map=self.source_map.only(("vars",)))
        # This spec's map is emptied now, not when its last holder lets go of this spec.
        self.source_map.forget()
        return settled


@dataclass(frozen=True, slots=True)
class LoadedConfig(m.Config):
    """A Config read from a file, with its SourceMap (positions of its vars and defaults)."""

    source_map: SourceMap | None = field(default=None, compare=False, repr=False)


MAX_INCLUDE_DEPTH = 8
_PLAIN_OPERANDS = (str, int, float, bool, type(None))
_NO_EXPECT = m.Expect()
_REF = re.compile(r"\$\{([^}]*)\}")


class _Builder:
    stack: tuple[str, ...] = ()  # the real paths of the spec and the fragments being built
    stack_names: tuple[str, ...] = ()
    consume = False  # let go of each request's data and positions once its model is built

    def __init__(self, smap: SourceMap, filename: str, base_dir: str) -> None:
        self.smap = smap
        self.filename = filename
        self.base_dir = base_dir
        self.diagnostics: list[Diagnostic] = []
        # syntax checks done once per distinct text of this file (a spec repeats its
        # JSONPaths and patterns): text -> the problem's message, or None
        self._jsonpath_problems: dict[str, str | None] = {}
        self._codes: dict[int, tuple[int]] = {}
        self._regex_problems: dict[str, str | None] = {}
        self._plain_eq: dict[tuple, tuple[m.Predicate]] = {}  # (type, value) -> the one spanless `eq` predicate

    def span(self, path) -> Span:
        return self.smap.value_span(tuple(path))

    def key_span(self, path) -> Span:
        return self.smap.key_span(tuple(path))

    def release(self, entries: list, pos: int, path: tuple) -> None:
        """A large spec is never held three times at once (data, positions, model): each
        request's data and positions go as soon as its model is built."""
        self.smap.release(path)
        entries[pos] = None

    def error(self, message: str, span: Span, hint: str | None = None) -> None:
        self.diagnostics.append(Diagnostic(message, span, hint))

    # ---------------------------------------------------------------- small pieces
    def pairs(self, value: Mapping | None) -> m.Pairs:
        return tuple((str(k), v) for k, v in (value or {}).items())

    def headers(self, value: Mapping | None, path: tuple) -> m.Pairs:
        """Header pairs; a literal value with a control character is an error here, not at send time."""
        for name, v in (value or {}).items():
            if not isinstance(v, str):
                continue
            bad = next((i for i, c in enumerate(v) if (c < " " and c != "\t") or c == "\x7f"), None)
            if bad is not None:
                hint = None
                if v.endswith("\n") and bad == len(v.rstrip("\r\n")):
                    hint = "a `|` or `>` block ends with a line break; write `|-` / `>-` or a plain string"
                self.error(f"header '{name}': the value has a control character (U+{ord(v[bad]):04X}) at position {bad}",
                           self.span(path + (name,)), hint)
        return self.pairs(value)

    def retry(self, value: Mapping | None) -> m.Retry | None:
        if value is None:
            return None
        return m.Retry(attempts=int(value["attempts"]), delay=float(value.get("delay", 1.0)))

    def defaults(self, value: Mapping | None) -> m.Defaults:
        value = value or {}
        return m.Defaults(
            timeout=float(value["timeout"]) if "timeout" in value else None,
            headers=self.headers(value.get("headers"), ("defaults", "headers")),
            follow_redirects=value.get("follow_redirects"),
            max_body=int(value["max_body"]) if "max_body" in value else None,
            retry=self.retry(value.get("retry")),
            verify=value.get("verify"),
            tls=self.tls(value.get("tls"), ("defaults", "tls")),
        )

    def tls(self, value: Mapping | None, path: tuple) -> m.TlsClient | None:
        """`tls: {cert, key, password, ca, pkcs12: {file, password}}`; literal paths made absolute."""
        if value is None:
            return None
        p12 = value.get("pkcs12") or {}
        for key, raw in (("cert", value.get("cert")), ("key", value.get("key")), ("ca", value.get("ca")),
                         ("pkcs12", p12.get("file"))):
            if _has_nul(raw):
                self.error(f"tls {key}: the path holds a NUL character", self.span(path + (key,)), "remove the \\0 escape")

        def where(raw: Any) -> str | None:
            return self.resolve(raw) if isinstance(raw, str) and not _has_nul(raw) else None

        return m.TlsClient(
            cert=where(value.get("cert")),
            key=where(value.get("key")),
            password=value.get("password"),
            ca=where(value.get("ca")),
            pkcs12=where(p12.get("file")),
            pkcs12_password=p12.get("password"),
            base_dir=self.base_dir,
            span=self.span(path),
        )

    def secrets(self, value: Mapping | None, path: tuple) -> Mapping[str, m.SecretDecl]:
        out: dict[str, m.SecretDecl] = {}
        for name, options in (value or {}).items():
            here = path + (name,)
            kinds = [k for k in SECRET_KINDS if k in options]
            if len(kinds) != 1:
                got = " and ".join(f"'{k}'" for k in kinds) or "none"
                self.error(f"secret '{name}' needs exactly one source kind ({', '.join(SECRET_KINDS)}); got {got}", self.key_span(here))
                continue
            for option, v in options.items():
                if _has_nul(v):  # a path, command or name: the OS refuses it (ValueError) at resolve time
                    self.error(f"secret '{name}': '{option}' holds a NUL character", self.span(here + (option,)), "remove the \\0 escape")
            if kinds[0] == "http" and isinstance(options.get("http"), Mapping):
                self.http_source(options["http"], here + ("http",))
            if kinds[0] == "oauth2" and isinstance(options.get("oauth2"), Mapping):
                self.oauth2_source(options["oauth2"], here + ("oauth2",))
            out[name] = m.SecretDecl(name=name, kind=kinds[0], options=dict(options), span=self.key_span(here), base_dir=self.base_dir)
        return out

    def http_source(self, login: Mapping, path: tuple) -> None:
        """The JSONPaths of an `http` login source parse (`token`, `expires_in`)."""
        for key in ("token", "expires_in"):
            value = login.get(key)
            if isinstance(value, str):
                self.check_jsonpath(value.strip(), self.span(path + (key,)))

    def oauth2_source(self, grant: Mapping, path: tuple) -> None:
        """What each grant needs: client_credentials a client_secret, password a username and
        password, refresh_token a refresh_token; the options of one grant are not another's."""
        kind = grant.get("grant", "client_credentials")
        needs = _GRANT_NEEDS.get(kind)
        if needs is None:
            return  # not a grant name: the schema said so
        missing = [k for k in needs if k not in grant]
        if missing:
            names = " and ".join(f"'{k}'" for k in missing)
            self.error(f"oauth2 grant '{kind}' needs {names}", self.key_span(path))
        for key in ("username", "password", "refresh_token"):
            if key in grant and key not in needs:
                self.error(f"'{key}' is only used by the {_GRANT_OF[key]} grant (this one is '{kind}')", self.key_span(path + (key,)),
                           f"add `grant: {_GRANT_OF[key]}`")

    def auth(self, value: Any, path: tuple) -> m.Auth | None:
        if value is None:
            return None
        span = self.span(path)
        if value == "none" or (isinstance(value, Mapping) and value.get("none") is True):
            return m.NoAuth(span)
        if "bearer" in value:
            return m.BearerAuth(value["bearer"], self.span(path + ("bearer",)))
        if "header" in value:
            h = value["header"]
            return m.HeaderAuth(h["name"], h["secret"], self.span(path + ("header",)))
        if "digest" in value:
            d = value["digest"]
            return m.DigestAuth(d["username"], d["password"], self.span(path + ("digest",)))
        b = value["basic"]
        return m.BasicAuth(b["username"], b["password"], self.span(path + ("basic",)))

    def check_jsonpath(self, text: str, span: Span) -> None:
        if "${" in text:
            return  # rendered at run time; checked then
        problems = self._jsonpath_problems
        if text not in problems:
            problems[text] = _jsonpath_problem(text)
        problem = problems[text]
        if problem is not None:
            self.error(problem, span)

    def check_regex(self, pattern: Any, span: Span) -> None:
        if not isinstance(pattern, str) or "${" in pattern:
            return
        problems = self._regex_problems
        if pattern not in problems:
            problems[pattern] = _regex_problem(pattern)
        problem = problems[pattern]
        if problem is not None:
            self.error(problem, span)

    def predicates(self, value: Any, path: tuple, *, under_key: bool = False) -> tuple[m.Predicate, ...]:
        if isinstance(value, Mapping):
            out = []
            for op, operand in value.items():
                span = self.span(path + (op,))
                if op == "matches":
                    self.check_regex(operand, span)
                out.append(m.Predicate(op, operand, span))
            return tuple(out)
        if under_key and type(value) in _PLAIN_OPERANDS:
            # `$.count: 2` under a check's key: the check's own span serves (expectations.py
            # reports `pred.span or check.span`), so one spanless predicate serves every
            # request that expects the same value: 10,000 requests, one `eq 2`.
            shared = self._plain_eq.get((type(value), value))
            if shared is None:
                shared = self._plain_eq[(type(value), value)] = (m.Predicate("eq", value),)
            return shared
        return (m.Predicate("eq", value, self.span(path)),)

    # ---------------------------------------------------------------- the request
    def status(self, value: Any, path: tuple) -> m.StatusExpect | None:
        if value is None:
            return None
        if type(value) is int:  # the common case: one code
            codes = self._codes.get(value)
            if codes is None:
                codes = self._codes[value] = (value,)  # one (200,) for every request expecting 200
            return m.StatusExpect(codes, (), self.span(path))
        items = value if isinstance(value, list) else [value]
        # JSON Schema counts 200.0 as an integer, so the model must keep it too.
        codes = tuple(int(v) for v in items if isinstance(v, (int, float)) and not isinstance(v, bool))
        classes = tuple(int(v[0]) for v in items if isinstance(v, str))
        return m.StatusExpect(codes, classes, self.span(path))

    def schema_check(self, value: Any, path: tuple) -> m.SchemaCheck | None:
        if value is None:
            return None
        span = self.span(path)
        if not isinstance(value, str):
            problem = check_body_schema(value)
            if problem:
                self.error(f"expect.schema: {problem}", span)
            return m.SchemaCheck(value, "inline", span)
        full = os.path.normpath(os.path.join(self.base_dir, value))
        try:
            if not os.path.isfile(full):
                what = "is a directory" if os.path.isdir(full) else "does not exist"
                self.error(f"schema file '{value}' {what}", span, f"paths are relative to the spec's directory ({self.base_dir})")
                return None
            if os.path.getsize(full) > MAX_TEXT:
                self.error(f"schema file '{value}' is too large", span)
                return None
            with open(full, "rb") as fh:
                data = fh.read(MAX_TEXT + 1)
        except OSError as exc:
            self.error(f"cannot read schema file '{value}': {exc.strerror or 'error'}", span)
            return None
        try:
            if full.endswith((".yaml", ".yml")):
                document, _ = _parse_yaml(_decode(data, full), filename=full, what="schema file", require_mapping=False)
            else:
                document = json.loads(_decode(data, full), parse_constant=_no_constant)
        except SpecError as exc:
            first = exc.diagnostics[0]
            where = f" (line {first.span.line})" if first.span else ""
            self.error(f"schema file '{value}' is not valid YAML: {first.message}{where}", span)
            return None
        except json.JSONDecodeError as exc:
            self.error(f"schema file '{value}' is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})", span)
            return None
        except (ValueError, RecursionError):
            self.error(f"schema file '{value}' is not valid JSON (NaN, Infinity or too deep)", span)
            return None
        problem = check_body_schema(document, base_dir=os.path.dirname(full))
        if problem:
            self.error(f"schema file '{value}': {problem}", span)
        return m.SchemaCheck(document, full, span, written=value)

    def expect(self, value: Mapping | None, path: tuple) -> m.Expect:
        if not value:
            return _NO_EXPECT  # frozen: one for every request without expectations
        header_checks = value.get("headers")
        headers = (
            tuple(
                m.HeaderCheck(str(name), self.predicates(v, path + ("headers", name), under_key=True),
                              self.key_span(path + ("headers", name)))
                for name, v in header_checks.items()
            )
            if header_checks
            else ()
        )
        checks = []
        for jp, v in (value.get("json") or {}).items():
            key_span = self.key_span(path + ("json", jp))
            self.check_jsonpath(jp, key_span)
            checks.append(m.JsonCheck(jp, self.predicates(v, path + ("json", jp), under_key=True), key_span))
        body = value.get("body")
        body_preds: tuple[m.Predicate, ...] = ()
        if body is not None:
            body_preds = self.predicates(body, path + ("body",))
        return m.Expect(
            status=self.status(value.get("status"), path + ("status",)),
            headers=headers,
            json=tuple(checks),
            schema=self.schema_check(value.get("schema"), path + ("schema",)),
            body=body_preds,
            max_ms=float(value["max_ms"]) if "max_ms" in value else None,
        )

    def captures(self, value: Mapping | None, path: tuple) -> tuple[m.Capture, ...]:
        out = []
        for name, source in (value or {}).items():
            here = path + (name,)
            span = self.key_span(here)
            if isinstance(source, str):
                self.check_jsonpath(source.strip(), self.span(here))
                out.append(m.Capture(name, jsonpath=source.strip(), span=span))
            elif "json" in source:
                self.check_jsonpath(source["json"].strip(), self.span(here + ("json",)))
                out.append(m.Capture(name, jsonpath=source["json"].strip(), span=span))
            else:
                out.append(m.Capture(name, header=source["header"], span=span))
        return tuple(out)

    def body(self, value: Mapping, path: tuple) -> m.Body | None:
        if "json" in value:
            return m.JsonBody(value["json"])
        if "files" in value:
            parts = []
            for fieldname, part in value["files"].items():
                file_path = part if isinstance(part, str) else part.get("path")
                if _has_nul(file_path):  # open() would raise ValueError at send time
                    where = path + ("files", fieldname) + (() if isinstance(part, str) else ("path",))
                    self.error(f"file '{fieldname}': the path holds a NUL character", self.span(where), "remove the \\0 escape")
                if isinstance(part, str):
                    parts.append(m.FilePart(fieldname, self.resolve(part), None))
                else:
                    parts.append(
                        m.FilePart(
                            fieldname,
                            self.resolve(part["path"]) if "path" in part else None,
                            part.get("content"),
                            part.get("filename"),
                            part.get("content_type"),
                        )
                    )
            return m.FilesBody(tuple(parts), self.pairs(value.get("form")))
        if "form" in value:
            return m.FormBody(self.pairs(value["form"]))
        if "body" in value:
            raw = value["body"]
            if isinstance(raw, str):
                return m.RawBody(raw)
            return m.RawBody(raw["text"], raw.get("content_type"))
        return None

    def openapi(self, value: Any, path: tuple) -> m.OpenAPIRef | bool | None:
        """`openapi: FILE` (relative to this file) or `false`; the document itself is read later, once per run."""
        if value is None or value is False:
            return value
        if "${" in value:
            self.error("openapi: the document's path is read before anything is rendered; ${...} is not allowed here",
                       self.span(path), "write the path relative to this file (per environment: the config's environments)")
        return m.OpenAPIRef(os.path.normpath(os.path.join(self.base_dir, value)), value, self.span(path))

    def resolve(self, path: str) -> str:
        if "${" in path:
            return path  # rendered at run time
        return os.path.normpath(os.path.join(self.base_dir, os.path.expanduser(path)))

    def request(self, value: Mapping, index: int, path: tuple | None = None) -> m.RequestDef:
        path = path or ("requests", index)
        method = sys.intern(str(value.get("method") or "GET").upper())  # one "GET" for ten thousand requests
        url = value["url"]
        skip = value.get("skip")
        if skip is True:
            skip = "skipped"
        elif skip is False:
            skip = None
        return m.RequestDef(
            name=value.get("name") or f"{method} {url}",
            index=index,
            method=method,
            url=url,
            query=self.pairs(value.get("query")),
            headers=self.headers(value.get("headers"), path + ("headers",)),
            auth=self.auth(value.get("auth"), path + ("auth",)),
            body=self.body(value, path),
            timeout=float(value["timeout"]) if "timeout" in value else None,
            follow_redirects=value.get("follow_redirects"),
            max_body=int(value["max_body"]) if "max_body" in value else None,
            retry=self.retry(value.get("retry")),
            tls=self.tls(value.get("tls"), path + ("tls",)),
            expect=self.expect(value.get("expect"), path + ("expect",)),
            captures=self.captures(value.get("capture"), path + ("capture",)),
            skip=skip,
            tags=tuple(value.get("tags") or ()),
            span=self.span(path),
            openapi=value.get("openapi", True) is not False,
            yaml_path=() if path == ("requests", index) else path,  # the default `where`: no tuple per request
        )

    # ------------------------------------------------------- for_each and include
    def request_list(self, entries: Any, prefix: tuple) -> list[m.RequestDef]:
        """The requests of a `requests:` list, with includes spliced in and every
        `for_each` made into one request per row (indexes are set by the caller)."""
        out: list[m.RequestDef] = []
        for pos, entry in enumerate(entries or ()):
            out.extend(self.request_entry(entry, prefix + (pos,)))
            if self.consume:
                self.release(entries, pos, prefix + (pos,))
        return out

    def request_entry(self, entry: Any, path: tuple) -> list[m.RequestDef]:
        """One entry of a `requests:` list: a request, its `for_each` rows, or what an `include:` brings."""
        if not isinstance(entry, Mapping):
            return []
        if "include" in entry:
            return self.include(entry, path)
        if "vars" in entry:
            self.error("`vars` belongs to an `include:` entry; a request uses the spec's vars",
                       self.key_span(path + ("vars",)))
        req = self.request(entry, path[-1], path)
        if "for_each" in entry:
            return self.for_each(entry, req, path)
        return [req]

    def for_each(self, entry: Mapping, req: m.RequestDef, path: tuple) -> list[m.RequestDef]:
        here = path + ("for_each",)
        span = self.key_span(here)
        if req.captures:
            self.error("`capture` is not allowed in a `for_each` request: every row would capture the same "
                       "name and only one could win", self.key_span(path + ("capture",)),
                       "capture in a request before the for_each, or give each case its own request")
        raw = entry["for_each"]
        if isinstance(raw, Mapping):
            written = str(raw["file"])
            from .datafile import RowsError, read_rows

            try:
                items = read_rows(self.resolve_plain(written), written)
            except RowsError as exc:
                self.error(str(exc), span)
                return []
            source = written
        else:
            items, source = list(raw), "inline"
        each = m.ForEach(tuple(items), source, span)
        names = [_row_name(req.name, item, i) for i, item in enumerate(items)]
        repeated = len(set(names)) < len(names)
        return [replace(req, name=f"{name} [{i}]" if repeated else name, row=m.Row(item, i, each))
                for i, (item, name) in enumerate(zip(items, names))]

    def resolve_plain(self, path: str) -> str:
        return os.path.normpath(os.path.join(self.base_dir, os.path.expanduser(path)))

    def include(self, entry: Mapping, path: tuple) -> list[m.RequestDef]:
        written = str(entry["include"])
        site = self.span(path + ("include",))
        full = self.resolve_plain(written)
        shown = os.path.normpath(os.path.join(os.path.dirname(self.filename), written))
        stack = self.stack + (os.path.realpath(full),)
        if stack[-1] in self.stack:
            chain = " -> ".join(self.stack_names + (shown,))
            self.error(f"include cycle: {chain}", site, "a fragment cannot include itself, directly or through others")
            return []
        if len(self.stack) > MAX_INCLUDE_DEPTH:
            self.error(f"includes are nested more than {MAX_INCLUDE_DEPTH} deep ({' -> '.join(self.stack_names + (shown,))})",
                       site)
            return []
        from ._schema import load_validator, validate
        from .textfile import read_text_file

        try:
            text = read_text_file(full, what="fragment")
            data, smap = _parse_yaml(text, filename=shown, what="fragment")
        except SpecError as exc:
            for diag in exc.diagnostics:
                message = diag.message.replace(full, shown, 1)
                self.diagnostics.append(Diagnostic(message, diag.span or site, diag.hint, diag.title))
            return []
        problems = validate(data, load_validator("fragment"), smap)
        if problems:
            self.diagnostics.extend(_included_from(d, site) for d in problems)
            return []
        sub = _Builder(smap, shown, os.path.dirname(full))
        sub.stack, sub.stack_names = stack, self.stack_names + (shown,)
        requests = sub.request_list(data.get("requests"), ("requests",))
        self.diagnostics.extend(_included_from(d, site) for d in sub.diagnostics)
        own_vars = {**dict(data.get("vars") or {}), **dict(entry.get("vars") or {})}
        out = []
        for req in requests:
            inc = req.included
            if inc is None:
                inc = m.Included(written, shown, (site,), own_vars, smap)
                name = f"{req.name} (from {written})"
            else:  # from a nested fragment: this include is one more step out
                inc = replace(inc, chain=(site,) + inc.chain, vars={**own_vars, **inc.vars})
                name = req.name
            out.append(replace(req, name=name, included=inc))
        return out


def _row_name(name: str, item: Any, index: int) -> str:
    """A for_each request's name for one row: `${item}`, `${item.F}` and `${index}` filled in
    (other references stay as written: names are not rendered)."""
    if "${" not in name:
        return name

    def sub(match: re.Match) -> str:
        ref = match.group(1).strip()
        if ref == "index":
            return str(index)
        if ref == "item":
            return as_text(item)
        if ref.startswith("item.") and isinstance(item, Mapping):
            value: Any = item
            for part in ref[5:].split("."):
                if not isinstance(value, Mapping) or part not in value:
                    return match.group(0)
                value = value[part]
            return as_text(value)
        return match.group(0)

    return _REF.sub(sub, name)


def _included_from(diag: Diagnostic, site: Span) -> Diagnostic:
    """A problem inside a fragment, with the include that brought it in (outermost last)."""
    where = f"included from {site.location()}"
    message = diag.message
    if message.endswith(")") and " (included from " in message:
        message = message[:-1] + f", {where})"
    else:
        message = f"{message} ({where})"
    return Diagnostic(message, diag.span or site, diag.hint, diag.title)


def _jsonpath_problem(text: str) -> str | None:
    try:
        jsonpath.compile(text)  # the library's default environment: the one the Evaluator uses
    except jsonpath.JSONPathError as exc:
        reason = str(exc.args[0]) if exc.args else "syntax error"
        return f"invalid JSONPath: {reason.splitlines()[0][:120]}"
    except (RecursionError, ValueError, TypeError):
        return "invalid JSONPath"
    return None


def _regex_problem(pattern: str) -> str | None:
    try:
        re.compile(pattern)  # the position in the message is the user's, before `$` is rewritten
        compile_pattern(pattern)
    except re.error as exc:
        return f"invalid regular expression: {exc.msg} (at position {exc.pos})"
    except (RecursionError, OverflowError):
        return "invalid regular expression: too complex"
    return None


def _has_nul(value: Any) -> bool:
    """A NUL character in a string of `value` (a path, a command or its arguments)."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, Mapping):
        return any(_has_nul(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _stem(filename: str) -> str:
    base = os.path.basename(filename)
    for ext in (".yaml", ".yml"):
        if base.endswith(ext):
            return base[: -len(ext)]
    return base or filename


class RequestStream:
    """A spec's requests built one by one while the parser reads the file (`load_spec`,
    through `_yaml.parse_plain`): a large file is never held whole as data, only as its
    model. Each item is first checked against the schema's `request` (jsonschema-rs);
    one that is not surely valid stops the stream, and the loader then loads the file the
    careful way, which writes every message."""

    def __init__(self, filename: str, base_dir: str) -> None:
        self.filename = filename
        self.base_dir = base_dir
        self.builder: _Builder | None = None
        self.requests: list[m.RequestDef] = []
        self.first: Any = None  # the first item's data: the rest of the document is checked with it
        self.ok = True

    def take(self, index: int, item: Any, smap: SourceMap) -> bool:
        """Build the request at `requests[index]`; True: its data and positions may go."""
        if not self.ok or not is_surely_valid(item, "spec", "request"):
            self.ok = False
            return False
        if self.builder is None:
            self.builder = _spec_builder(smap, self.filename, self.base_dir)
        if index == 0:
            self.first = item
        path = ("requests", index)
        self.requests.extend(self.builder.request_entry(item, path))
        smap.release(path)
        return True


def _spec_builder(smap: SourceMap, filename: str, base_dir: str) -> _Builder:
    b = _Builder(smap, filename, base_dir)
    b.stack, b.stack_names = (os.path.realpath(filename),), (filename,)
    return b


def build_spec(data: Mapping, smap: SourceMap, *, filename: str, base_dir: str,
               stream: RequestStream | None = None) -> LoadedSpec:
    """Schema-valid spec data -> LoadedSpec. Raises SpecError with every semantic problem.

    Consumes `data`: each request's data (and its positions in `smap`, found again from
    the text if a later check asks) is let go once its model is built. With `stream`,
    the requests are already built (`RequestStream`) and `data` holds None in their place."""
    if stream is not None:
        b = stream.builder or _spec_builder(smap, filename, base_dir)
        built = stream.requests
    else:
        b = _spec_builder(smap, filename, base_dir)
        b.consume = isinstance(data.get("requests"), list)
        built = b.request_list(data.get("requests"), ("requests",))
    # Most requests already hold their index (no include or for_each before them): a copy
    # of each would be a tenth of a large file's load time.
    requests = tuple(r if r.index == i else replace(r, index=i, yaml_path=r.where) for i, r in enumerate(built))
    declared = b.secrets(data.get("secrets"), ("secrets",))
    auth = b.auth(data.get("auth"), ("auth",))
    defaults = b.defaults(data.get("defaults"))
    # A login or token request uses the TLS of the file that declares its secret.
    secrets = {name: replace(decl, tls=defaults.tls, verify=defaults.verify) for name, decl in declared.items()}
    spec = LoadedSpec(
        path=filename,
        name=data.get("name") or _stem(filename),
        requests=requests,
        version=int(data.get("version", 1)),
        base_url=data.get("base_url"),
        tags=tuple(data.get("tags") or ()),
        secrets=secrets,
        auth=auth,
        defaults=defaults,
        vars=dict(data.get("vars") or {}),
        span=smap.value_span(()),
        weight=int(data.get("weight", 1)),
        source_map=smap,
        openapi=b.openapi(data.get("openapi"), ("openapi",)),
    )
    if b.diagnostics:
        raise SpecError(b.diagnostics, partial=spec)
    return spec


def build_fragment(data: Mapping, smap: SourceMap, *, filename: str, base_dir: str) -> tuple[m.RequestDef, ...]:
    """A schema-valid fragment, on its own (a file named to `runner validate`): its requests,
    its includes and data files. Its references are checked where it is included."""
    b = _Builder(smap, filename, base_dir)
    b.stack, b.stack_names = (os.path.realpath(filename),), (filename,)
    requests = tuple(b.request_list(data.get("requests"), ("requests",)))
    if b.diagnostics:
        raise SpecError(b.diagnostics)
    return requests


def build_config(data: Mapping, smap: SourceMap, *, filename: str, base_dir: str) -> m.Config:
    """Schema-valid config data -> Config. Raises SpecError with every semantic problem."""
    b = _Builder(smap, filename, base_dir)
    environments = {}
    for name, env in (data.get("environments") or {}).items():
        here = ("environments", name)
        environments[name] = m.Environment(
            name=name,
            base_url=env.get("base_url"),
            vars=dict(env.get("vars") or {}),
            secrets=b.secrets(env.get("secrets"), here + ("secrets",)),
            tls=b.tls(env.get("tls"), here + ("tls",)),
            span=b.key_span(here),
            openapi=b.openapi(env.get("openapi"), here + ("openapi",)),
        )
    config = LoadedConfig(
        path=filename,
        base_url=data.get("base_url"),
        vars=dict(data.get("vars") or {}),
        secrets=b.secrets(data.get("secrets"), ("secrets",)),
        defaults=b.defaults(data.get("defaults")),
        environments=environments,
        source_map=smap,
        openapi=b.openapi(data.get("openapi"), ("openapi",)),
    )
    if b.diagnostics:
        raise SpecError(b.diagnostics)
    return config
