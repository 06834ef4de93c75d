"""Before anything is sent: the config file and `--env`, which spec files, and every one loaded.

Every error of every file is reported at once (a SpecError, exit 2); a run never starts
with one file broken.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from ..errors import SpecError, UsageError
from ..model import Config, Environment, SecretDecl, Spec
from ..source import Diagnostic, Span
from .settings import RunSettings

__all__ = ["Loaded", "discover", "load_run", "shard", "SPEC_SUFFIXES"]

SPEC_SUFFIXES = (".yaml", ".yml")
DEFAULT_CONFIG = "runner.yaml"
DEFAULT_SPECS = "specs"


@dataclass(frozen=True)
class Loaded:
    """The config (merged with the chosen environment) and every spec file, loaded and checked."""

    config: Config
    env: Environment | None
    base_url: str | None  # the environment's, else the config's; a spec's own wins
    config_vars: dict[str, Any]
    secrets: dict[str, SecretDecl]  # config + environment (+ `--secret` names nothing declares)
    specs: tuple[Spec, ...]
    warnings: tuple[Diagnostic, ...] = ()  # static findings that do not stop a run (validate: unset env vars)
    contracts: Mapping[str, Any] = field(default_factory=dict)  # spec path -> openapi.Contract (`openapi:`)
    fragments: tuple[str, ...] = ()  # fragment files named on the command line: checked, not run


def discover(paths: Sequence[str], *, skip: Sequence[str] = ()) -> list[str]:
    """Spec files named, or found under directories (*.yaml, *.yml, sorted), in the order given.

    A file named twice (relative and absolute, or through a symlink) runs once, where it
    first appears; `skip` holds files never to run (the config file in use). Files and
    folders whose name starts with `.` or `_` are not looked into: `_` is where fragments
    (`include:`) and data files (`for_each`) live. A file named on the command line runs.
    """
    found: list[str] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            inside: list[str] = []
            for root, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith((".", "_")))
                for name in sorted(files):
                    if name.endswith(SPEC_SUFFIXES) and not name.startswith((".", "_")):
                        inside.append(os.path.join(root, name))
            found.extend(sorted(inside, key=lambda p: Path(p).as_posix()))
        elif path.exists() or path.is_symlink():
            found.append(raw)
        else:
            raise UsageError(f"{raw}: no such file or directory")
    seen = {os.path.realpath(p) for p in skip}
    unique = []
    for p in found:
        key = os.path.realpath(p)
        if key not in seen:
            seen.add(key)
            unique.append(p)
    return unique


def shard(files: list[str], k: int, n: int) -> list[str]:
    """The K-th (1-based) of N slices; every file lands in exactly one slice."""
    return [f for i, f in enumerate(files) if i % n == k - 1]


def load_config(path: str | None) -> Config:
    """`--config FILE`, else ./runner.yaml when it exists, else an empty config."""
    from ..load import load_config_file

    if path is None and os.path.isfile(DEFAULT_CONFIG):
        path = DEFAULT_CONFIG
    if path is None:
        return Config()
    if not os.path.exists(path):
        raise UsageError(f"config file {path}: no such file")
    return load_config_file(path)


def environment(config: Config, name: str | None) -> Environment | None:
    if name is None:
        return None
    env = config.environments.get(name)
    if env is None and config.path is None:
        raise UsageError(f"unknown environment '{name}': no config file (./runner.yaml or --config FILE) defines `environments:`")
    if env is None:
        known = ", ".join(sorted(config.environments)) or "none (no `environments:` in the config)"
        raise UsageError(f"unknown environment '{name}' in {config.path}; known: {known}")
    return env


def spec_files(settings: RunSettings, config: Config) -> list[str]:
    paths = list(settings.paths)
    if not paths and not os.path.isdir(DEFAULT_SPECS):
        raise UsageError("no spec files given and ./specs does not exist; pass spec files or directories")
    files = discover(paths or [DEFAULT_SPECS], skip=[config.path] if config.path else [])
    if settings.shard:
        return shard(files, *settings.shard)
    if not files:
        raise UsageError(f"no spec files (*.yaml, *.yml) found in {' '.join(paths or [DEFAULT_SPECS])}")
    return files


def _request_filter(settings: RunSettings) -> Callable[[Spec], Callable[[Any], bool] | None]:
    """spec -> "is this request kept by -k / --tag" (None: all are): an unset env var only
    matters where it is rendered."""
    if not settings.keyword and not settings.tags:
        return lambda spec: None
    from ..engine import RunOptions, select_requests

    options = RunOptions(name_filter=settings.keyword, tags=tuple(settings.tags))

    def for_spec(spec: Spec) -> Callable[[Any], bool]:
        kept = {req.index for req in select_requests(spec, options)}
        return lambda req: req.index in kept

    return for_spec


def load_run(settings: RunSettings, *, environ: Mapping[str, str], env_unset: str = "error") -> Loaded:
    """Load config and every spec file; every error of every file at once (SpecError, exit 2).

    The static checks are render.py's rules: what `runner run` could not render is
    reported here, before anything is sent. An unset `${env:...}` is an error for a run
    and a warning (`env_unset="warning"`, in Loaded.warnings) for validate.
    """
    from .._build import LoadedSpec
    from ..load import is_fragment_path, load_fragment_file, load_spec_file
    from ..render import Shared, check_config, check_spec

    config = load_config(settings.config)
    env = environment(config, settings.env)
    base_url = (env.base_url if env and env.base_url else None) or config.base_url
    config_vars = {**config.vars, **(env.vars if env else {})}
    secrets: dict[str, SecretDecl] = {**config.secrets, **(env.secrets if env else {})}
    for name in settings.secrets:
        if name not in secrets:
            secrets[name] = SecretDecl(name, "cli", {}, Span.point("<command line>"), os.getcwd())

    files = spec_files(settings, config)
    specs: list[Spec] = []
    shared = Shared.from_config(config, env, dict(settings.vars), secrets)
    found = check_config(shared, environ=environ, env_title=env_unset)
    selected = _request_filter(settings)
    diagnostics: list[Diagnostic] = []
    fragments: list[str] = []
    for path in files:
        if is_fragment_path(path):  # named on the command line (a pre-commit hook): checked, never run
            if path.endswith(SPEC_SUFFIXES):
                try:
                    load_fragment_file(path)
                except SpecError as exc:
                    diagnostics.extend(exc.diagnostics)
                fragments.append(path)
            continue
        try:
            spec = load_spec_file(path)
        except SpecError as exc:
            diagnostics.extend(exc.diagnostics)
            if isinstance(exc.partial, Spec):  # semantic errors: still check its references
                found += check_spec(exc.partial, shared, environ=environ, env_title=env_unset,
                                    selected=selected(exc.partial))
            continue
        found += check_spec(spec, shared, environ=environ, env_title=env_unset, selected=selected(spec))
        specs.append(spec)
    warnings: list[Diagnostic] = []
    seen: set[Diagnostic] = set()
    for d in found:  # the config's defaults are checked with each spec: said once
        if d not in seen:
            seen.add(d)
            (warnings if d.title == "warning" else diagnostics).append(d)
    contracts: dict[str, Any] = {}
    default_openapi = (env.openapi if env and env.openapi else None) or config.openapi
    if default_openapi is not None or any(s.openapi for s in specs):
        from ..openapi.static import load_contracts  # each document read once; requests checked against it

        contracts, problems = load_contracts(specs, default_openapi)
        diagnostics.extend(problems)
    if diagnostics:
        raise SpecError(diagnostics)
    # Every static check is done: only what run time asks for stays (flat memory at 10,000 requests).
    specs = [spec.settled() if isinstance(spec, LoadedSpec) else spec for spec in specs]
    return Loaded(config, env, base_url, config_vars, secrets, tuple(specs), tuple(warnings), contracts,
                  tuple(fragments))
