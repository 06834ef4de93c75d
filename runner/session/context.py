"""One run's shared state: the loaded specs, the secret store (each secret resolved once
for the whole run), the engine's options, and running one spec file with them.

The run object drives this over worker threads; the pytest plugin drives it file by file,
one context per worker process (so secrets are resolved once per process).
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Sequence

from ..errors import UsageError
from ..model import RequestDef, Spec
from ..redact import Redactor
from ..results import Failure, FailureKind, Outcome, SpecResult, StepResult
from .loading import Loaded
from .settings import RunSettings

__all__ = ["RunContext", "unfinished", "NOT_FINISHED"]

NOT_FINISHED = "not run: the run did not finish"  # what an in-progress report says of a pending request


class RunContext:
    def __init__(
        self,
        loaded: Loaded,
        settings: RunSettings,
        *,
        environ: dict[str, str],
        redactor: Redactor,
        stop: threading.Event,
        on_secret_resolved: Callable[[str], None] | None = None,
    ) -> None:
        from .. import engine
        from ..render import Shared
        from ..secrets import SecretStore, SourceContext
        from ..template import Scope, render
        from ..transport import post_form, send_once

        self.loaded = loaded
        self.specs: tuple[Spec, ...] = loaded.specs
        self.redactor = redactor
        self.stop = stop
        self.warnings: list[str] = list(tls_warnings(loaded, settings))  # sources add theirs as they resolve
        all_decls = {**{n: d for s in loaded.specs for n, d in s.secrets.items()}, **loaded.secrets}
        cli_vars = dict(settings.vars)

        def secret(name: str) -> str:
            decl = all_decls.get(name)
            if decl is None:
                raise UsageError(f"secret '{name}' is not declared")
            return self.store.get(decl)

        shared = Shared.from_config(loaded.config, loaded.env, cli_vars, loaded.secrets)
        source_vars = shared.variables(environ, secret)

        def resolve_ref(value: Any) -> Any:
            """`${secret:X}` / `${env:X}` / `${var}` inside a source's options (oauth2 client_secret)."""
            return render(value, Scope(variables=source_vars, environ=environ, secret=secret))

        from ..tlsfiles import ClientCertificates

        self.client_certs = ClientCertificates()  # PEM from secrets, decrypted keys: removed by close()
        ctx = SourceContext(
            environ=environ,
            resolve_ref=resolve_ref,
            post_form=lambda *a, **kw: post_form(*a, environ=environ, **kw),
            send_request=lambda prepared: send_once(prepared, environ=environ, stop=stop),
            verify_tls=not settings.insecure,
            # a login or token request the config declares uses the config's TLS (--env's tls first)
            default_tls=shared.defaults.tls,
            default_verify=shared.defaults.verify,
            client_certs=self.client_certs,
            stop=stop,
        )
        self.store = SecretStore(ctx, redactor, overrides=dict(settings.secrets), on_resolved=on_secret_resolved,
                                 on_warning=self.warnings.append)
        self.options = engine.RunOptions(
            config_vars=loaded.config_vars,
            cli_vars=cli_vars,
            environ=environ,
            base_url=loaded.base_url,
            defaults=loaded.config.defaults,
            secrets=loaded.secrets,
            timeout=settings.timeout,
            insecure=settings.insecure,
            fail_fast=settings.fail_fast,
            name_filter=settings.keyword,
            tags=tuple(settings.tags),
            curl=settings.curl,
            compact_passes=settings.compact_passes,
            tally_passes=settings.tally_passes,
            stop=stop,
            config=loaded.config,
            environment=loaded.env,
            client_certs=self.client_certs,
            contracts=loaded.contracts,
        )
        self.selected: list[list[RequestDef]] = [engine.select_requests(spec, self.options) for spec in loaded.specs]
        if not any(self.selected) and (settings.keyword or settings.tags):
            raise UsageError("no request matches the -k / --tag filters; nothing to run")

    def close(self) -> None:
        """What the run leaves on disk (client certificate files) is removed."""
        self.client_certs.close()

    def run_spec(self, index: int, on_step: Callable[[StepResult], None] | None = None,
                 only: frozenset[int] | None = None, kept: Any = None) -> SpecResult:
        """Run one spec file; `only`: the request indexes to run (the others count as not selected);
        `kept`: from `kept()`, for a caller that runs the file again and again (`runner load`'s users)."""
        import dataclasses

        from .. import engine

        options = self.options if only is None else dataclasses.replace(self.options, only=only)
        return engine.run_spec(self.specs[index], options=options, secrets=self.store, redactor=self.redactor,
                               on_step=on_step, kept=kept)

    def kept(self) -> Any:
        """What a caller keeps across runs of one file (engine.Kept: connections, compiled
        checks, plans), with this run's environment and stop event. One per caller and file."""
        from ..engine import Kept
        from ..transport import Transport

        return Kept(Transport(environ=self.options.environ, stop=self.stop))

    def base_url_note(self, environment: str | None) -> str | None:
        """One line when `--env NAME`'s base_url is not used by some files (their own wins)."""
        env = self.loaded.env
        if not environment or env is None or not env.base_url:
            return None
        own = [s.path for s in self.specs if s.base_url is not None]
        if not own:
            return None
        from ..redact import shown_url

        listed = ", ".join(own[:3]) + (f" and {len(own) - 3} more" if len(own) > 3 else "")
        return (f"note: environment '{environment}' sets base_url {shown_url(str(env.base_url))}, "
                f"but {listed} {'sets its' if len(own) == 1 else 'set their'} own base_url, which wins")


def tls_warnings(loaded: Loaded, settings: RunSettings) -> tuple[str, ...]:
    warnings: list[str] = []
    if settings.insecure:
        warnings.append("TLS certificate verification is DISABLED (--insecure)")
    if loaded.config.defaults.verify is False and not settings.insecure:
        where = loaded.config.path or "the config file"
        warnings.append(f"TLS certificate verification is DISABLED by {where} (defaults.verify: false)")
    for spec in loaded.specs:
        if spec.defaults.verify is False:
            warnings.append(f"TLS certificate verification is DISABLED for {spec.path} (defaults.verify: false)")
    return tuple(warnings)


def unfinished(
    spec: Spec,
    steps: Sequence[StepResult],
    selected: Sequence[RequestDef],
    redactor: Redactor,
    *,
    in_flight: bool,
    reason: str,
) -> SpecResult:
    """A spec file that did not finish: what ran, then the rest marked skipped with `reason`.

    `in_flight`: the run was interrupted while this file was running, so its first
    pending request was on the wire: an ERROR "interrupted", not a skip.
    """
    out = list(steps)
    done = {s.index for s in steps}
    first = True
    for req in selected:
        if req.index in done:
            continue
        url = redactor.mask(str(req.url))
        if in_flight and first:
            out.append(StepResult(
                spec_path=spec.path, name=req.name, index=req.index, outcome=Outcome.ERROR,
                method=req.method, url=url, span=req.span, tags=req.tags,
                failures=(Failure(FailureKind.INTERRUPTED, "interrupted while this request was in flight", span=req.span),),
            ))
        else:
            out.append(StepResult(
                spec_path=spec.path, name=req.name, index=req.index, outcome=Outcome.SKIP,
                method=req.method, url=url, skip_reason=reason, span=req.span, tags=req.tags,
            ))
        first = False
    return SpecResult(path=spec.path, name=spec.name, steps=tuple(out), tags=spec.tags)
