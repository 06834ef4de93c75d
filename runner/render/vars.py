"""Variables in layers: the config's, the environment's, the spec's, then `--var`
(a higher layer wins); each var rendered on first use in its layer's scope."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping, Sequence

from .. import model as m
from .._build import LoadedConfig, LoadedSpec
from ..source import Span
from ..template import Scope, TemplateError, render

if TYPE_CHECKING:
    from .._yaml import SourceMap

__all__ = ["CLI", "CONFIG", "SEES", "SPEC", "RequestVars", "Shared", "VarLayer", "Vars", "layers_of"]

CONFIG, SPEC, CLI = "config", "spec", "cli"
# which layers a value of each level sees
SEES = {CONFIG: frozenset({CONFIG, CLI}), SPEC: frozenset({CONFIG, SPEC, CLI})}


def _has_ref(value: Any) -> bool:
    if isinstance(value, str):
        return "$" in value
    return value is not None and not isinstance(value, (bool, int, float))


@dataclass(frozen=True, slots=True)
class VarLayer:
    """One `vars:` mapping and where it was written (for positions in messages)."""

    origin: str  # "config", "environment NAME", "spec", "--var"
    level: str  # config, spec or cli: which layers its values see
    values: Mapping[str, Any]
    path: tuple = ()  # the mapping's place in its file
    source_map: "SourceMap | None" = None
    file: str | None = None

    def span(self, name: str | None = None) -> Span | None:
        if self.source_map is not None:
            return self.source_map.value_span(self.path + ((name,) if name is not None else ()))
        return Span.point(self.file) if self.file else None


@dataclass(frozen=True, slots=True)
class Shared:
    """What the config file, `--env` and `--var` add to every spec file of a run."""

    var_layers: tuple[VarLayer, ...] = ()  # the config's vars, then the environment's
    cli_vars: Mapping[str, Any] = field(default_factory=dict)
    base_url: str | None = None  # the environment's, else the config's (rendered at config level)
    base_url_path: tuple = ("base_url",)
    defaults: m.Defaults = field(default_factory=m.Defaults)
    secrets: Mapping[str, m.SecretDecl] = field(default_factory=dict)
    source_map: "SourceMap | None" = None  # the config file's
    config_path: str | None = None

    @classmethod
    def from_config(cls, config: m.Config | None, environment: m.Environment | None,
                    cli_vars: Mapping[str, Any], secrets: Mapping[str, m.SecretDecl]) -> "Shared":
        config = config or m.Config()
        smap = config.source_map if isinstance(config, LoadedConfig) else None
        layers = []
        if config.vars:
            layers.append(VarLayer("config", CONFIG, config.vars, ("vars",), smap, config.path))
        if environment is not None and environment.vars:
            layers.append(VarLayer(f"environment {environment.name}", CONFIG, environment.vars,
                                   ("environments", environment.name, "vars"), smap, config.path))
        if environment is not None and environment.base_url:
            base, base_path = environment.base_url, ("environments", environment.name, "base_url")
        else:
            base, base_path = config.base_url, ("base_url",)
        defaults = config.defaults
        if environment is not None and environment.tls is not None:
            defaults = replace(defaults, tls=environment.tls)  # the environment's client certificate
        return cls(tuple(layers), dict(cli_vars), base, base_path, defaults, dict(secrets), smap, config.path)

    @classmethod
    def plain(cls, *, config_vars: Mapping[str, Any] | None = None, cli_vars: Mapping[str, Any] | None = None,
              base_url: str | None = None, defaults: m.Defaults | None = None,
              secrets: Mapping[str, m.SecretDecl] | None = None) -> "Shared":
        """Without a config file's positions (the library and the engine's tests)."""
        layers = (VarLayer("config", CONFIG, dict(config_vars)),) if config_vars else ()
        return cls(layers, dict(cli_vars or {}), base_url, ("base_url",), defaults or m.Defaults(), dict(secrets or {}))

    def span(self, path: tuple) -> Span | None:
        if self.source_map is not None:
            return self.source_map.value_span(path)
        return Span.point(self.config_path) if self.config_path else None

    def variables(self, environ: Mapping[str, str], secret: Callable[[str], str]) -> Mapping[str, Any]:
        """The variables a secret source's options see (`${client}` in an oauth2 source): the
        config's vars, rendered, and --var. Sources are shared by every file: no spec vars."""
        layers = list(self.var_layers) + ([VarLayer("--var", CLI, self.cli_vars)] if self.cli_vars else [])
        return Vars(layers, environ, secret).view(SEES[CONFIG])



class Vars(Mapping):
    """Every variable of a spec file, each rendered on first use in its layer's scope."""

    def __init__(self, layers: Sequence[VarLayer], environ: Mapping[str, str], secret: Callable[[str], str]) -> None:
        self.layers = tuple(layers)
        self._environ = environ
        self._secret = secret
        self._top: dict[str, int] = {}
        for i, layer in enumerate(self.layers):
            for name in layer.values:
                self._top[name] = i
        self._done: dict[tuple[int, str], Any] = {}
        # The vars being rendered, per thread (the secret sources' view is shared by the
        # --jobs workers): a var met again on the same stack is a cycle. A dict by thread id,
        # not a threading.local: under gevent (`runner load`) making one of those costs more
        # than rendering a pass's vars.
        self._active: dict[int, list[tuple[int, str]]] = {}

    def __getitem__(self, name: str) -> Any:
        i = self._top.get(name)
        if i is None:
            raise KeyError(name)
        return self.value_at(i, name)

    def __contains__(self, name: object) -> bool:
        return name in self._top

    def __iter__(self) -> Iterator[str]:
        return iter(self._top)

    def __len__(self) -> int:
        return len(self._top)

    def find(self, name: str, below: int, levels: frozenset[str]) -> int | None:
        for i in range(min(below, len(self.layers)) - 1, -1, -1):
            layer = self.layers[i]
            if layer.level in levels and name in layer.values:
                return i
        return None

    def view(self, levels: frozenset[str]) -> "_View":
        """The variables a value of a given level sees (base_url: spec or config level)."""
        return _View(self, levels, None, len(self.layers))

    def value_at(self, i: int, name: str) -> Any:
        key = (i, name)
        done = self._done
        if key in done:
            return done[key]
        layer = self.layers[i]
        raw = layer.values[name]
        if layer.level == CLI or not _has_ref(raw):
            done[key] = raw
            return raw
        thread = threading.get_ident()
        active = self._active.setdefault(thread, [])
        if key in active:
            chain = " -> ".join(n for _, n in active[active.index(key):]) + f" -> {name}"
            raise TemplateError(f"vars refer to each other in a cycle ({chain})")
        active.append(key)
        try:
            value = render(raw, Scope(_View(self, SEES[layer.level], name, i), self._environ, self._secret))
        except TemplateError as exc:
            if getattr(exc, "var", None) is None:
                exc.var = key  # type: ignore[attr-defined]  # where to point: the innermost var
            raise
        finally:
            active.pop()
            if not active:
                del self._active[thread]
        done[key] = value
        return value


class _View(Mapping):
    """A scope's variables: `own` (a var being rendered) reads the layers below its own."""

    __slots__ = ("_vars", "_levels", "_own", "_own_layer")

    def __init__(self, variables: Vars, levels: frozenset[str], own: str | None, own_layer: int) -> None:
        self._vars = variables
        self._levels = levels
        self._own = own
        self._own_layer = own_layer

    def _index(self, name: str) -> int | None:
        below = self._own_layer if name == self._own else len(self._vars.layers)
        return self._vars.find(name, below, self._levels)

    def __getitem__(self, name: str) -> Any:
        i = self._index(name)
        if i is None:
            raise KeyError(name)
        return self._vars.value_at(i, name)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._index(name) is not None

    def __iter__(self) -> Iterator[str]:
        return (n for n in self._vars if n in self)

    def __len__(self) -> int:
        return sum(1 for _ in self)


class RequestVars(Mapping):
    """A request's variables: captures of earlier requests first, then (in a `for_each`)
    `item`, `item.FIELD` and `index`, then (in an included request) the fragment's vars,
    then every var."""

    __slots__ = ("captures", "vars", "row", "local", "render_local")

    def __init__(self, captures: dict[str, Any], variables: Vars) -> None:
        self.captures = captures
        self.vars = variables
        self.row: m.Row | None = None
        self.local: Mapping[str, Any] = {}  # an included request's vars (raw)
        self.render_local: Callable[[Any], Any] = lambda v: v

    def _row_value(self, name: str) -> Any:
        """The row's part `name` names, or _MISSING. A row value is data: never rendered."""
        row = self.row
        if name == "index":
            return row.index
        if name == "item":
            return row.item
        if name.startswith("item."):
            value = row.item
            for part in name[5:].split("."):
                if not isinstance(value, Mapping) or part not in value:
                    return _MISSING
                value = value[part]
            return value
        return _MISSING

    def __getitem__(self, name: str) -> Any:
        captures = self.captures
        if name in captures:
            return captures[name]
        if self.row is not None:
            value = self._row_value(name)
            if value is not _MISSING:
                return value
        if name in self.local:
            return self.render_local(self.local[name])
        return self.vars[name]

    def __contains__(self, name: object) -> bool:
        if name in self.captures or name in self.local or name in self.vars:
            return True
        return self.row is not None and isinstance(name, str) and self._row_value(name) is not _MISSING

    def __iter__(self) -> Iterator[str]:
        seen = set(self.captures)
        yield from self.captures
        if self.row is not None:
            yield from (n for n in ("item", "index") if n not in seen)
            seen |= {"item", "index"}
        yield from (n for n in self.local if n not in seen)
        seen |= set(self.local)
        yield from (n for n in self.vars if n not in seen)

    def __len__(self) -> int:
        return sum(1 for _ in self)


_MISSING: Any = object()


def layers_of(spec: m.Spec, shared: Shared) -> list[VarLayer]:
    smap = spec.source_map if isinstance(spec, LoadedSpec) else None
    layers = list(shared.var_layers)
    if spec.vars:
        layers.append(VarLayer("spec", SPEC, spec.vars, ("vars",), smap, spec.path))
    if shared.cli_vars:
        layers.append(VarLayer("--var", CLI, shared.cli_vars))
    return layers
