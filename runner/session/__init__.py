"""The run object and its parts, split where a reader would look:

    settings.py  RunSettings: what a run is asked to do (the command line as data)
    loading.py   config and --env, which spec files (discovery, --shard), loading them all
    context.py   RunContext: secrets resolved once, engine options, one spec file run
    run.py       Run: workers, file order, stop, the events consumers read
    reports.py   report files kept up to date (atomic, paced, "in progress" until the end)
    signals.py   SIGINT/SIGTERM, loading included

Consumers: the console (app.py), the library API (api.py), the pytest plugin.
"""

from .reports import ReportFile, ReportWriter, write_atomic
from .run import ReportFailed, Run, RunDone, RunEvent, RunStarted, SpecDone, StepDone
from .settings import RunSettings

__all__ = [
    "ReportFailed",
    "ReportFile",
    "ReportWriter",
    "Run",
    "RunDone",
    "RunEvent",
    "RunSettings",
    "RunStarted",
    "SpecDone",
    "StepDone",
    "write_atomic",
]
