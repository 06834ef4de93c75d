"""Load spec and config files: YAML -> schema -> model, and the static reference checks.

    load_spec(text, *, filename, base_dir) -> Spec           pure: no file, env, secret or network I/O
    load_spec_file(path) -> Spec                              checks the file type and size first
    load_config(text, *, filename, base_dir) -> Config
    load_config_file(path) -> Config
    check_references(spec, *, var_names, secret_names) -> list[Diagnostic]
    schema_text(name) -> str                                  "spec", "config" or "report"

Every problem of a file is reported at once, as a SpecError of Diagnostics
(`path:line:col: message`). Reading an `expect.schema` file is the one exception
to purity: it is a local file named by the spec, read at load time.
"""

from __future__ import annotations

import difflib
import os
import stat
from typing import Any, Iterator

from . import model as m
from ._build import LoadedSpec, build_config, build_spec
from ._schema import load_validator, validate
from ._schema import schema_text as _schema_text
from ._yaml import SourceMap, decode, parse
from .errors import SpecError
from .source import Diagnostic, Span
from .template import TemplateError, iter_refs

__all__ = [
    "MAX_FILE_BYTES",
    "load_spec",
    "load_spec_file",
    "load_config",
    "load_config_file",
    "check_references",
    "schema_text",
    "read_text_file",
]

MAX_FILE_BYTES = 5 * 1024 * 1024


def schema_text(name: str) -> str:
    """The JSON text of the spec, config or report schema."""
    return _schema_text(name)


def _load(text: str, *, filename: str, name: str, validator=None) -> tuple[Any, SourceMap]:
    data, smap = parse(text, filename=filename, what=name)
    problems = validate(data, validator or load_validator(name), smap)
    if problems:
        raise SpecError(problems)
    return data, smap


def load_spec(text: str, *, filename: str, base_dir: str, validator=None) -> m.Spec:
    """Spec text -> Spec (a LoadedSpec, which also carries its SourceMap). Raises SpecError."""
    data, smap = _load(text, filename=filename, name="spec", validator=validator)
    return build_spec(data, smap, filename=filename, base_dir=base_dir)


def load_config(text: str, *, filename: str, base_dir: str, validator=None) -> m.Config:
    """Config text -> Config. Raises SpecError."""
    data, smap = _load(text, filename=filename, name="config", validator=validator)
    return build_config(data, smap, filename=filename, base_dir=base_dir)


def read_text_file(path: str | os.PathLike, *, what: str = "spec") -> str:
    """A spec/config file's text. Refuses directories, FIFOs, devices and files over
    MAX_FILE_BYTES before reading; decodes UTF-8 (BOM or not) or UTF-16/32 with a BOM."""
    name = os.fspath(path)

    def fail(message: str) -> SpecError:
        return SpecError([Diagnostic(f"{name}: {message}", None, title="file error")])

    try:
        st = os.stat(name)
    except FileNotFoundError:
        raise fail(f"no such {what} file") from None
    except OSError as exc:
        raise fail(f"cannot read the {what} file: {exc.strerror or 'error'}") from None
    if stat.S_ISDIR(st.st_mode):
        raise fail(f"is a directory, not a {what} file")
    if not stat.S_ISREG(st.st_mode):
        kind = "a FIFO" if stat.S_ISFIFO(st.st_mode) else "a device" if (stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)) else "a socket" if stat.S_ISSOCK(st.st_mode) else "not a regular file"
        raise fail(f"is {kind}, not a {what} file")
    if st.st_size > MAX_FILE_BYTES:
        raise fail(f"the {what} file is too large ({st.st_size} bytes; the limit is {MAX_FILE_BYTES})")
    try:
        with open(name, "rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise fail(f"cannot read the {what} file: {exc.strerror or 'error'}") from None
    if len(data) > MAX_FILE_BYTES:
        raise fail(f"the {what} file is too large (the limit is {MAX_FILE_BYTES} bytes)")
    return decode(data, name)


def load_spec_file(path: str | os.PathLike, *, validator=None) -> m.Spec:
    name = os.fspath(path)
    text = read_text_file(name, what="spec")
    return load_spec(text, filename=name, base_dir=os.path.dirname(os.path.abspath(name)), validator=validator)


def load_config_file(path: str | os.PathLike, *, validator=None) -> m.Config:
    name = os.fspath(path)
    text = read_text_file(name, what="config")
    return load_config(text, filename=name, base_dir=os.path.dirname(os.path.abspath(name)), validator=validator)


# ------------------------------------------------------------------ references


def _walk(value: Any, path: tuple) -> Iterator[tuple[tuple, bool, str]]:
    """(path, is_key, text) for every string in a JSON-like value, keys included."""
    if isinstance(value, str):
        yield path, False, value
    elif isinstance(value, dict):
        for k, v in value.items():
            if isinstance(k, str):
                yield path + (k,), True, k
            yield from _walk(v, path + (k,))
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            yield from _walk(v, path + (i,))


def _predicate_values(preds: tuple[m.Predicate, ...], path: tuple) -> Iterator[tuple[tuple, Any]]:
    for p in preds:
        yield (path + (p.op,) if not (len(preds) == 1 and p.op == "eq") else path), p.operand


def _request_values(req: m.RequestDef) -> Iterator[tuple[tuple, Any]]:
    """Every value of a request that may hold references, with its YAML path (relative)."""
    yield ("url",), req.url
    for k, v in req.query:
        yield ("query", k), v
    for k, v in req.headers:
        yield ("headers", k), v
    auth = req.auth
    if isinstance(auth, m.BasicAuth):
        yield ("auth", "basic", "username"), auth.username
    body = req.body
    if isinstance(body, m.JsonBody):
        yield ("json",), body.value
    elif isinstance(body, m.FormBody):
        for k, v in body.fields:
            yield ("form", k), v
    elif isinstance(body, m.RawBody):
        yield ("body",), body.text
    elif isinstance(body, m.FilesBody):
        for part in body.files:
            yield ("files", part.field), [part.path, part.content, part.filename]
        for k, v in body.fields:
            yield ("form", k), v
    for check in req.expect.headers:
        yield from _predicate_values(check.predicates, ("expect", "headers", check.name))
    for check in req.expect.json:
        yield ("expect", "json"), {check.path: None}  # the path itself (a key)
        yield from _predicate_values(check.predicates, ("expect", "json", check.path))
    if req.expect.body:
        yield from _predicate_values(req.expect.body, ("expect", "body"))
    for cap in req.captures:
        yield ("capture", cap.name), cap.jsonpath or cap.header


def _known_secret_hint(name: str, known: set[str]) -> str | None:
    close = difflib.get_close_matches(name, sorted(known), n=1)
    return f"did you mean '{close[0]}'?" if close else None


def check_references(spec: m.Spec, *, var_names: set[str], secret_names: set[str]) -> list[Diagnostic]:
    """Every `${...}` reference and named secret of a spec that can never be satisfied.

    `${name}` must be a spec var, one of `var_names` (config vars, --var) or a
    capture of an EARLIER request; `${secret:X}` and the secrets named by `auth`
    must be declared in the spec or in `secret_names`. Malformed references too.
    """
    smap: SourceMap | None = spec.source_map if isinstance(spec, LoadedSpec) else None
    fallback = spec.span or Span.point(spec.path)
    diagnostics: list[Diagnostic] = []
    base_vars = set(spec.vars) | set(var_names)
    secrets = set(spec.secrets) | set(secret_names)
    captured_at: dict[str, list[m.RequestDef]] = {}
    for req in spec.requests:
        for cap in req.captures:
            captured_at.setdefault(cap.name, []).append(req)

    def span_of(path: tuple, is_key: bool, default: Span | None) -> Span:
        if smap is not None:
            return smap.key_span(path) if is_key else smap.value_span(path)
        return default or fallback

    def check_secret_name(name: str, span: Span | None) -> None:
        if name not in secrets:
            diagnostics.append(Diagnostic(f"secret '{name}' is not declared", span or fallback, _known_secret_hint(name, secrets) or "declare it under `secrets:` in the spec or the config"))

    def check_value(value: Any, path: tuple, default: Span | None, known_vars: set[str], req: m.RequestDef | None) -> None:
        for sub_path, is_key, text in _walk(value, path):
            if "${" not in text:
                continue
            where = span_of(sub_path, is_key, default)
            try:
                refs = list(iter_refs(text))
            except TemplateError as exc:
                diagnostics.append(Diagnostic(str(exc)[:200], where, "write $${ for a literal ${"))
                continue
            for ref in refs:
                if ref.kind == "secret":
                    check_secret_name(ref.name, where)
                elif ref.kind == "var" and ref.name not in known_vars:
                    diagnostics.append(_undefined(ref.name, where, req, known_vars, captured_at))

    def check_auth(auth: m.Auth | None) -> None:
        if isinstance(auth, (m.BearerAuth, m.HeaderAuth)):
            check_secret_name(auth.secret, auth.span)
        elif isinstance(auth, m.BasicAuth):
            check_secret_name(auth.password_secret, auth.span)

    # file-level values: no captures exist yet
    check_value(spec.base_url, ("base_url",), None, base_vars, None)
    for k, v in spec.defaults.headers:
        check_value(v, ("defaults", "headers", k), None, base_vars, None)
    check_value(dict(spec.vars), ("vars",), None, base_vars, None)
    for name, decl in spec.secrets.items():
        check_value(dict(decl.options), ("secrets", name), decl.span, base_vars, None)
    check_auth(spec.auth)

    available = set(base_vars)
    for req in spec.requests:
        req_path = ("requests", req.index)
        for rel, value in _request_values(req):
            check_value(value, req_path + rel, req.span, available, req)
        check_auth(req.auth)
        available |= {c.name for c in req.captures}
    return sorted(diagnostics, key=Diagnostic.sort_key)


def _undefined(name: str, where: Span, req: m.RequestDef | None, known: set[str], captured_at: dict) -> Diagnostic:
    later = [r for r in captured_at.get(name, []) if req is None or r.index >= req.index]
    if later:
        other = later[0]
        line = f" (line {other.span.line})" if other.span else ""
        if req is not None and other.index == req.index:
            return Diagnostic(f"'{name}' is captured by this same request{line}; only later requests can use it", where)
        if req is None:
            return Diagnostic(f"'{name}' is a capture (of request '{other.name}'{line}); it cannot be used outside requests", where)
        return Diagnostic(f"'{name}' is captured later, by request '{other.name}'{line}", where, "a request can only use captures of earlier requests")
    close = difflib.get_close_matches(name, sorted(known), n=1)
    hint = f"did you mean '{close[0]}'?" if close else f"define it under `vars:`, in the config's vars, with --var {name}=VALUE, or capture it in an earlier request"
    return Diagnostic(f"'{name}' is not defined", where, hint)
