"""The renderer's rules, statically: every reference that could not be rendered, at its
path:line:col (`runner validate`, and `runner run` before anything is sent).

- A name no layer or earlier capture defines, an undeclared secret, a malformed reference
  and a cycle between vars are errors; an unset `${env:NAME}` without a default is an
  error for `runner run` (nothing is sent) and a warning for `runner validate`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping

from .. import model as m
from .._build import LoadedSpec
from ..source import Diagnostic, Span
from ..template import Ref, Scope, TemplateError, iter_refs, render
from .plan import request_values, tls_values
from .vars import CLI, CONFIG, SEES, SPEC, Shared, VarLayer, Vars, layers_of

if TYPE_CHECKING:
    from .._yaml import SourceMap

__all__ = ["check_config", "check_spec"]


def _placeholder_secrets(declared: set[str]) -> Callable[[str], str]:
    """A secret lookup for static checks: a placeholder for a declared secret, else an error."""

    def secret(name: str) -> str:
        if name not in declared:
            raise TemplateError(f"secret '{name}' is not declared", Ref("secret", name))
        return "<secret>"

    return secret


class _Checker:
    """Collects diagnostics; renders what can be rendered without the network or secrets."""

    def __init__(self, shared: Shared, spec: m.Spec | None, environ: Mapping[str, str] | None,
                 env_title: str) -> None:
        self.shared = shared
        self.spec = spec
        self.environ = environ
        self.env_title = env_title
        self.diagnostics: list[Diagnostic] = []
        self.secrets = set(shared.secrets) | set(spec.secrets if spec is not None else ())
        layers = layers_of(spec, shared) if spec is not None else list(shared.var_layers) + (
            [VarLayer("--var", CLI, shared.cli_vars)] if shared.cli_vars else [])
        self.secret = _placeholder_secrets(self.secrets)  # not a bound method: no cycle through self.vars
        self.vars = Vars(layers, _AnyEnviron(environ), self.secret)
        self.captured_at: dict[str, list[m.RequestDef]] = {}
        for req in spec.requests if spec is not None else ():
            for cap in req.captures:
                self.captured_at.setdefault(cap.name, []).append(req)
        self.reported_vars: set[tuple[int, str]] = set()
        self.env_matters = True  # False for the requests -k / --tag leave out: never rendered

    def add(self, message: str, span: Span | None, hint: str | None = None, title: str = "error") -> None:
        self.diagnostics.append(Diagnostic(message, span, hint, title))

    def secret_name(self, name: str, span: Span | None) -> None:
        if name not in self.secrets:
            import difflib  # only a likely typo needs it

            close = difflib.get_close_matches(name, sorted(self.secrets), n=1)
            self.add(f"secret '{name}' is not declared", span,
                     f"did you mean '{close[0]}'?" if close else "declare it under `secrets:` in the spec or the config")

    def env(self, ref: Ref, span: Span | None) -> None:
        if self.environ is None or not self.env_matters or ref.default is not None or ref.name in self.environ:
            return
        self.add(f"environment variable {ref.name} is not set", span,
                 f"set it, or give a default: ${{env:{ref.name}:-...}}", title=self.env_title)

    def template_error(self, exc: TemplateError, span: Span | None, req: m.RequestDef | None,
                       known: set[str]) -> None:
        ref = exc.ref
        if ref is not None and ref.kind == "var":
            self.diagnostics.append(_undefined(ref.name, span, req, known, self.captured_at))
        elif ref is not None and ref.kind == "secret":
            self.secret_name(ref.name, span)
        elif ref is not None and ref.kind == "env":
            self.env(ref, span)
        elif "cycle" in str(exc):
            self.add(str(exc), span, "give one of them a literal value")
        else:
            self.add(str(exc)[:200], span, "write $${ for a literal ${")

    # -- vars and base_url: rendered for real (only secrets stand in)
    def varlayers_of(self, which: Callable[[VarLayer], bool]) -> None:
        for i, layer in enumerate(self.vars.layers):
            if not which(layer):
                continue
            for name in layer.values:
                try:
                    self.vars.value_at(i, name)
                except TemplateError as exc:
                    origin = getattr(exc, "var", (i, name))
                    bad = self.vars.layers[origin[0]]
                    if origin in self.reported_vars or not which(bad):
                        continue  # said once, by the check of the file it is written in
                    self.reported_vars.add(origin)
                    known = set(self.vars) if bad.level == SPEC else {
                        n for n in self.vars if self.vars.find(n, len(self.vars.layers), SEES[CONFIG]) is not None}
                    self.template_error(exc, bad.span(origin[1]), None, known)

    def base_url(self, value: str | None, level: str, span: Span | None) -> None:
        if value is None or "$" not in value:
            return
        try:
            render(value, Scope(self.vars.view(SEES[level]), _AnyEnviron(self.environ), self.secret))
        except TemplateError as exc:
            if getattr(exc, "var", None) is not None:
                return  # a var's own problem, reported at the var
            self.template_error(exc, span, None, set(self.vars.view(SEES[level])))

    # -- values rendered with each request: every reference must be satisfiable
    def value(self, value: Any, path: tuple, span_of: Callable[[tuple, bool], Span | None],
              known: set[str], req: m.RequestDef | None) -> None:
        for sub_path, is_key, text in _walk(value, path):
            if "${" not in text:
                continue
            where = span_of(sub_path, is_key)
            try:
                refs = list(iter_refs(text))
            except TemplateError as exc:
                self.add(str(exc)[:200], where, "write $${ for a literal ${")
                continue
            for ref in refs:
                if ref.kind == "secret":
                    self.secret_name(ref.name, where)
                elif ref.kind == "env":
                    self.env(ref, where)
                elif ref.name not in known and _top_field(ref.name) not in known:
                    self.diagnostics.append(_undefined(ref.name, where, req, known, self.captured_at))


class _AnyEnviron(Mapping):
    """The environment for a static check: the real one, or (when none is given)
    one in which every variable is set, so only references are checked."""

    def __init__(self, environ: Mapping[str, str] | None) -> None:
        self._environ = environ

    def get(self, name: str, default: Any = None) -> Any:
        if self._environ is None:
            return "<env>"
        return self._environ.get(name, default)

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def __contains__(self, name: object) -> bool:
        return self._environ is None or name in self._environ

    def __iter__(self) -> Iterator[str]:
        return iter(self._environ or ())

    def __len__(self) -> int:
        return len(self._environ or ())


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


def check_config(shared: Shared, *, environ: Mapping[str, str] | None = None,
                 env_title: str = "error") -> list[Diagnostic]:
    """What the config adds, checked once per run: its vars (top level and the
    environment's), its base_url. Its `defaults.headers` are checked with each spec."""
    c = _Checker(shared, None, environ, env_title)
    c.varlayers_of(lambda layer: layer.level == CONFIG)
    c.base_url(shared.base_url, CONFIG, shared.span(shared.base_url_path))
    return sorted(set(c.diagnostics), key=Diagnostic.sort_key)


def check_spec(spec: m.Spec, shared: Shared | None = None, *, environ: Mapping[str, str] | None = None,
               env_title: str = "error", selected: Callable[[m.RequestDef], bool] | None = None) -> list[Diagnostic]:
    """Every reference of a spec that could not be rendered, at its path:line:col.

    `${name}` must be a var of some layer or a capture of an EARLIER request;
    `${secret:X}` and the secrets named by `auth` must be declared in the spec or
    the shared secrets; with `environ`, `${env:X}` without a default must be set,
    in the requests `selected` keeps (-k, --tag) and in a file where it keeps any.
    """
    shared = shared or Shared()
    smap: SourceMap | None = spec.source_map if isinstance(spec, LoadedSpec) else None
    fallback = spec.span or Span.point(spec.path)
    c = _Checker(shared, spec, environ, env_title)
    keep = selected or (lambda req: True)
    c.env_matters = any(keep(req) for req in spec.requests) or not spec.requests

    def spec_span(path: tuple, is_key: bool = False, default: Span | None = None) -> Span:
        if smap is not None:
            return smap.key_span(path) if is_key else smap.value_span(path)
        return default or fallback

    def config_span(path: tuple, is_key: bool = False) -> Span | None:
        return shared.span(path) or fallback

    def check_auth(auth: m.Auth | None) -> None:
        if isinstance(auth, (m.BearerAuth, m.HeaderAuth)):
            c.secret_name(auth.secret, auth.span or fallback)
        elif isinstance(auth, (m.BasicAuth, m.DigestAuth)):
            c.secret_name(auth.password_secret, auth.span or fallback)

    # file-level values: no captures exist yet
    c.varlayers_of(lambda layer: layer.level == SPEC)
    known = set(c.vars)
    c.base_url(spec.base_url, SPEC, spec_span(("base_url",)))
    for k, v in spec.defaults.headers:
        c.value(v, ("defaults", "headers", k), spec_span, known, None)
        if "${" in k:
            c.add("header names are not rendered: write the name as is", spec_span(("defaults", "headers", k), True))
    for k, v in shared.defaults.headers:
        c.value(v, ("defaults", "headers", k), config_span, known, None)
    for path, v in tls_values(spec.defaults.tls, ("defaults", "tls")):
        c.value(v, path, spec_span, known, None)
    config_tls = shared.defaults.tls  # the config's defaults.tls, or the environment's tls
    for path, v in tls_values(config_tls, ("defaults", "tls")):
        c.value(v, path, lambda p, k, t=config_tls: t.span or fallback, known, None)
    # A secret source's options: a source is shared by every file (no spec vars), and an
    # unset ${env:...} in them is a secret that cannot be resolved (AUTH when it is used).
    config_known = set(c.vars.view(SEES[CONFIG]))
    env_matters, c.env_matters = c.env_matters, False
    for name, decl in spec.secrets.items():
        c.value(dict(decl.options), ("secrets", name), lambda p, k, d=decl.span: spec_span(p, k, d), config_known, None)
    c.env_matters = env_matters
    check_auth(spec.auth)

    available = set(known)
    spec_env_matters = c.env_matters
    for req in spec.requests:
        if req.row is not None and req.row.index > 0:
            continue  # the rows of a for_each share one request: checked once, with every row
        req_path = req.where
        c.env_matters = spec_env_matters and keep(req)
        inc = req.included
        req_map = inc.source_map if inc is not None else smap
        first = len(c.diagnostics)

        def req_span(path: tuple, is_key: bool = False, default: Span | None = req.span, req_map=req_map) -> Span:
            if req_map is not None:
                return req_map.key_span(path) if is_key else req_map.value_span(path)
            return default or fallback

        req_known = set(available)
        if inc is not None:
            req_known |= set(inc.vars)
        if req.row is not None:
            req_known |= {"item", "index"} | {f"item.{f}" for f in _fields_in_every_row(req.row.of)}
        for rel, value in request_values(req):
            c.value(value, req_path + rel, req_span, req_known, req)
        for k, _v in req.headers:
            if "${" in k:
                c.add("header names are not rendered: write the name as is", req_span(req_path + ("headers", k), True))
        check_auth(req.auth)
        if inc is not None:  # point at the fragment, and say which includes brought it in
            c.diagnostics[first:] = [_with_chain(d, inc) for d in c.diagnostics[first:]]
        available |= {cap.name for cap in req.captures}
    return sorted(set(c.diagnostics), key=Diagnostic.sort_key)


def _top_field(name: str) -> str:
    """`item.a.b` -> `item.a` (a row field is checked, what it holds is data)."""
    return ".".join(name.split(".")[:2]) if name.startswith("item.") else name


def _fields_in_every_row(each: m.ForEach) -> set[str]:
    fields: set[str] | None = None
    for item in each.items:
        keys = set(item) if isinstance(item, Mapping) else set()
        fields = keys if fields is None else fields & keys
    return fields or set()


def _row_problem(name: str, each: m.ForEach) -> str:
    """Why `${item.FIELD}` cannot be rendered for some row of a for_each."""
    field_ = name[5:].split(".")[0]
    where = "" if each.source == "inline" else f" of {each.source}"
    for i, item in enumerate(each.items):
        if not isinstance(item, Mapping):
            return f"'{name}': row {i}{where} is not a mapping (it has no fields)"
        if field_ not in item:
            return f"'{name}': row {i}{where} has no field '{field_}'"
    return f"'{name}' is not defined"


def _with_chain(diag: Diagnostic, inc: m.Included) -> Diagnostic:
    chain = ", ".join(f"included from {s.location()}" for s in reversed(inc.chain))
    return Diagnostic(f"{diag.message} ({chain})", diag.span, diag.hint, diag.title)


def _undefined(name: str, where: Span | None, req: m.RequestDef | None, known: set[str],
               captured_at: dict) -> Diagnostic:
    if req is not None and req.row is not None and name.startswith("item."):
        problem = _row_problem(name, req.row.of)
        if "is not a mapping" in problem and req.row.of.span is not None:
            where = req.row.of.span  # the rows themselves are wrong: point at the for_each
        return Diagnostic(problem, where,
                          "every row must have the field (a CSV header names the fields)")
    later = [r for r in captured_at.get(name, []) if req is None or r.index >= req.index]
    if later:
        other = later[0]
        line = f" (line {other.span.line})" if other.span else ""
        if req is not None and other.index == req.index:
            return Diagnostic(f"'{name}' is captured by this same request{line}; only later requests can use it", where)
        if req is None:
            return Diagnostic(f"'{name}' is a capture (of request '{other.name}'{line}); it cannot be used outside requests", where)
        return Diagnostic(f"'{name}' is captured later, by request '{other.name}'{line}", where,
                          "a request can only use captures of earlier requests")
    import difflib  # only a likely typo needs it

    close = difflib.get_close_matches(name, sorted(known), n=1)
    hint = f"did you mean '{close[0]}'?" if close else (
        f"define it under `vars:`, in the config's vars, with --var {name}=VALUE, or capture it in an earlier request")
    return Diagnostic(f"'{name}' is not defined", where, hint)
