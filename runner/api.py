"""The library API: `runner.run(...)` and `runner.validate(...)`, what the CLI does without printing.

    import runner

    result = runner.run(["specs/"], env="staging", vars={"limit": 2})
    if result.exit_code:            # the same code `runner run` would exit with
        for step in result.steps:
            print(step.outcome.value, step.name)

Both are consumers of the run object (`runner.session.Run`): nothing is printed, no
report file is written, no signal handler is installed and no global state is kept, so
two calls in one process, or from two threads, do not meet. Results are masked like
every output: no secret value is in them, nor in their repr().
"""

from __future__ import annotations

import os
from typing import Any, Callable, Iterable, Mapping, Sequence

from .errors import SpecError, UsageError
from .results import RunResult, StepResult
from .session import Run, RunDone, RunSettings, StepDone
from .source import Diagnostic

__all__ = ["run", "validate"]

PathLike = str | os.PathLike


def run(
    paths: Sequence[PathLike] | PathLike = (),
    *,
    env: str | None = None,
    config: PathLike | None = None,
    vars: Mapping[str, Any] | None = None,
    secrets: Mapping[str, str] | None = None,
    jobs: int = 1,
    keyword: str | None = None,
    tags: Iterable[str] = (),
    on_step: Callable[[StepResult], None] | None = None,
    environ: Mapping[str, str] | None = None,
    verbose: int = 0,
) -> RunResult:
    """Run spec files as `runner run PATHS` does and return what happened.

    `paths`: spec files or directories (default ./specs); `env`, `config`: as `--env`,
    `--config`; `vars`: values as they are (no typing from text); `secrets`: overrides as
    `--secret` (masked everywhere); `keyword`, `tags`: as `-k`, `--tag`; `on_step` is called
    with each finished request, in file order; `environ` is what `${env:...}` reads
    (default: os.environ); `verbose=2`, as `-vv`, keeps every passing request's headers and
    body too (by default a passing request keeps a compact record: memory stays flat). Raises `SpecError` (with every diagnostic) or `UsageError`
    for bad input, before anything is sent, where the CLI exits 2.
    """
    if jobs < 1:
        raise UsageError("jobs must be at least 1")
    settings = RunSettings(
        paths=_paths(paths),
        env=env,
        config=os.fspath(config) if config is not None else None,
        vars=dict(vars or {}),
        secrets=dict(secrets or {}),
        jobs=jobs,
        keyword=keyword,
        tags=tuple(tags),
        compact_passes=verbose < 2,
    )
    the_run = Run(settings, environ=environ)
    for event in the_run.events():
        if isinstance(event, StepDone) and on_step is not None:
            on_step(event.step)
        elif isinstance(event, RunDone):
            return event.result
    raise AssertionError("the run ended without RunDone")  # pragma: no cover - Run always ends with it


def validate(
    paths: Sequence[PathLike] | PathLike = (),
    *,
    env: str | None = None,
    config: PathLike | None = None,
    vars: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> list[Diagnostic]:
    """What `runner validate PATHS` reports, as a list (empty: every file is valid, nothing to say).

    Schema and static checks only: no network, no secrets. Errors come first; then
    warnings (`title == "warning"`: an unset `${env:...}` a run would refuse), which do
    not make a file invalid. A path that does not exist or a bad `env`/`config` is one
    Diagnostic without a position.
    """
    from .session.loading import load_run

    settings = RunSettings(paths=_paths(paths), env=env, config=os.fspath(config) if config is not None else None,
                           vars=dict(vars or {}))
    try:
        loaded = load_run(settings, environ=os.environ if environ is None else environ, env_unset="warning")
    except SpecError as exc:
        return list(exc.diagnostics)
    except UsageError as exc:
        return [Diagnostic(exc.message, None, title="usage error")]
    return list(loaded.warnings)


def _paths(paths: Sequence[PathLike] | PathLike) -> tuple[str, ...]:
    if isinstance(paths, (str, os.PathLike)):
        return (os.fspath(paths),)
    return tuple(os.fspath(p) for p in paths)
