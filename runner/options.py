"""What a run asks of the engine, and which requests of a file it runs (-k, --tag, the plugin's selection).

    RunOptions                          the command line and config, as the engine reads them
    select_requests(spec, options)      the requests -k / --tag keep
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Mapping

from .model import Config, Defaults, Environment, RequestDef, SecretDecl, Spec
from .render import Shared

__all__ = ["RunOptions", "select_requests"]


@dataclass(frozen=True, slots=True)
class RunOptions:
    """What a spec file runs with beyond itself: the config, the environment, --var and the environ."""

    config_vars: Mapping[str, Any] = field(default_factory=dict)
    cli_vars: Mapping[str, Any] = field(default_factory=dict)
    environ: Mapping[str, str] = field(default_factory=dict)
    base_url: str | None = None  # from the config / environment; the spec's own wins
    defaults: Defaults = field(default_factory=Defaults)  # the config's defaults
    secrets: Mapping[str, SecretDecl] = field(default_factory=dict)  # config + environment; the spec's win
    timeout: float | None = None  # --timeout: overrides the defaults, not a request's own timeout
    insecure: bool = False
    fail_fast: bool = False
    name_filter: str | None = None  # -k
    tags: tuple[str, ...] = ()  # --tag
    curl: bool = False
    stop: threading.Event | None = None
    # The config file and --env as loaded (positions for messages); without them the
    # fields above (config_vars, base_url, defaults, secrets) describe the config.
    config: Config | None = None
    environment: Environment | None = None
    # tlsfiles.ClientCertificates shared by every file of the run (its temporary files are
    # removed when the run ends); None: each file prepares its own.
    client_certs: Any = None
    only: frozenset[int] | None = None  # request indexes to run, if not all (the pytest plugin's -k/-m selection)
    # A passing request keeps a compact record (no headers, no body): memory stays flat as
    # a file grows. `runner run` keeps them only under -vv, which prints them.
    compact_passes: bool = False
    tally_passes: bool = False  # with compact_passes: no checks, request or response kept either

    def shared(self) -> Shared:
        if self.config is not None:
            return Shared.from_config(self.config, self.environment, self.cli_vars, self.secrets)
        return Shared.plain(config_vars=self.config_vars, cli_vars=self.cli_vars, base_url=self.base_url,
                            defaults=self.defaults, secrets=self.secrets)
    contracts: Mapping[str, Any] = field(default_factory=dict)  # spec path -> openapi.Contract


def select_requests(spec: Spec, options: RunOptions) -> list[RequestDef]:
    """The requests -k and --tag keep (the others are not in the results at all)."""
    return [r for r in spec.requests if _selected(spec, r, options)]


def _selected(spec: Spec, req: RequestDef, options: RunOptions) -> bool:
    if options.only is not None and req.index not in options.only:
        return False
    if options.name_filter:
        needle = options.name_filter.lower()
        if needle not in req.name.lower() and needle not in spec.name.lower():
            return False
    if options.tags:
        tags = set(req.tags) | set(spec.tags)
        if not tags.intersection(options.tags):
            return False
    return True
