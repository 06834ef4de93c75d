"""What a run is asked to do: the command line's options (or the library call's arguments) as data."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from .reports import ReportFile

__all__ = ["RunSettings"]


@dataclass(frozen=True)
class RunSettings:
    """Everything `runner run` reads from its command line, minus the console.

    `vars` are already typed (`--var n=2` is the number 2); `secrets` are `--secret`
    overrides, kept out of repr() like every secret value.
    """

    paths: tuple[str, ...] = ()  # empty: ./specs
    env: str | None = None
    config: str | None = None  # None: ./runner.yaml when it exists
    vars: Mapping[str, Any] = field(default_factory=dict)
    secrets: Mapping[str, str] = field(default_factory=dict, repr=False)
    jobs: int = 1
    shard: tuple[int, int] | None = None  # (K, N), 1-based
    fail_fast: bool = False
    keyword: str | None = None  # -k
    tags: tuple[str, ...] = ()  # --tag
    timeout: float | None = None
    insecure: bool = False
    curl: bool = False
    compact_passes: bool = False  # passing requests without headers or body (runner run, unless -vv)
    tally_passes: bool = False  # ...and without checks or exchange either (runner run: app.tally_is_enough)
    reports: tuple[ReportFile, ...] = ()  # files kept up to date during the run
    step_summary: str | None = None  # a file the final Markdown summary is appended to ($GITHUB_STEP_SUMMARY)
