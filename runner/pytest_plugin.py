"""The pytest plugin (entry point `pytest11`, name `request_runner`): spec files as tests.

    pytest --runner-specs specs/            # or `runner_specs = specs` in the ini file
    pytest --runner-specs specs/ -n 4 --dist loadfile

Inactive unless `--runner-specs` or the `runner_specs` ini option is given. Each request
is an item, in file order; its spec file runs once, on the first of its items, through
the run object's RunContext (one per process: secrets resolved once per xdist worker),
with only the items pytest selected (-k, -m) sent. SKIP when told to or a needed capture
failed; FAIL, AUTH and ERROR fail the item with the runner's own masked text (expected
vs actual, the 401 diagnosis): no traceback, so `-l`/`--tb=long` have no locals to show
(HAZARDS 85). Request and spec tags are registered as markers (`--strict-markers` works);
a tag with `:` or `(` (which end a marker's name) is a `-k` keyword instead.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Iterator

import pytest

__all__ = ["pytest_addoption", "pytest_configure", "pytest_collect_file"]

_ROOTS = pytest.StashKey[list]()
_STATE = pytest.StashKey["_State"]()
# A tag that can be a pytest marker: registered by a `markers` ini line (which ends a name at
# `:` or `(` and strips spaces), made by `pytest.mark.NAME` (refuses a leading `_`) and named
# in `-m`. Any other tag is a `-k` keyword only.
_MARKER_NAME = re.compile(r"[A-Za-z0-9][\w.+-]*")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("request-runner", "request-runner spec files as tests")
    group.addoption("--runner-specs", action="append", default=[], metavar="PATH",
                    help="spec files or directories to collect (relative to the invocation directory)")
    group.addoption("--runner-env", metavar="NAME", help="environment from the runner config file (as `runner run --env`)")
    group.addoption("--runner-config", metavar="FILE", help="runner config file (default: ./runner.yaml when it exists)")
    parser.addini("runner_specs", type="args", default=[], help="request-runner spec files or directories to collect")
    parser.addini("runner_env", default=None, help="request-runner environment (as --runner-env)")


def pytest_configure(config: pytest.Config) -> None:
    given = config.getoption("runner_specs") or config.getini("runner_specs")
    if not given:
        return
    base = Path(config.invocation_params.dir)
    roots = []
    for raw in given:
        path = (base / raw).resolve()
        if not path.exists():
            raise pytest.UsageError(f"--runner-specs {raw}: no such file or directory")
        roots.append(path)
    config.stash[_ROOTS] = roots
    config.stash[_STATE] = _State(config)
    for path in roots:  # collected like any test path given on the command line
        if str(path) not in config.args:
            config.args.append(str(path))


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    roots = parent.config.stash.get(_ROOTS, None)
    if not roots or file_path.suffix not in (".yaml", ".yml") or file_path.name.startswith(("_", ".")):
        return None
    real = file_path.resolve()
    state = parent.config.stash[_STATE]
    if real == state.config_file or not any(real == r or r in real.parents for r in roots):
        return None
    if any(part.startswith("_") for part in real.relative_to(next(r for r in roots if real == r or r in real.parents)).parts[:-1]):
        return None  # fragments and data files live under `_` folders
    return SpecFile.from_parent(parent, path=file_path)


class _State:
    """What one pytest process shares: settings, and one RunContext made on first use."""

    def __init__(self, config: pytest.Config) -> None:
        from .session import RunSettings

        self.settings = RunSettings(env=config.getoption("runner_env") or config.getini("runner_env") or None,
                                    config=config.getoption("runner_config"))
        config_path = self.settings.config or ("runner.yaml" if os.path.isfile("runner.yaml") else None)
        self.config_file = Path(config_path).resolve() if config_path else None
        self.loaded: dict[str, Any] = {}  # spec path -> Loaded (one file each)
        self._context = None
        self._index: dict[str, int] = {}

    def load(self, path: str):
        from .session.loading import load_run

        loaded = load_run(_replace(self.settings, paths=(path,)), environ=os.environ)
        self.loaded[path] = loaded
        return loaded

    def context(self, path: str):
        """The process-wide RunContext over every file collected here, and this file's index in it."""
        if self._context is None:
            import dataclasses
            import threading

            from .redact import Redactor
            from .session.context import RunContext

            files = list(self.loaded.values())
            # one Loaded per file (each loaded alone, for its own collection error): merged here
            merged = dataclasses.replace(files[0], specs=tuple(f.specs[0] for f in files),
                                         contracts={k: v for f in files for k, v in f.contracts.items()})
            self._index = {p: i for i, p in enumerate(self.loaded)}
            self._context = RunContext(merged, self.settings, environ=dict(os.environ), redactor=Redactor(),
                                       stop=threading.Event())
        return self._context, self._index[path]


def _shown(path: Path) -> str:
    """A spec path as results and messages show it: relative to where pytest was started."""
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)


def _replace(settings, **changes):
    import dataclasses

    return dataclasses.replace(settings, **changes)


class SpecLoadError(Exception):
    """A spec file that does not load: its diagnostics, shown as `path:line:col: message`."""


class RequestFailed(Exception):
    """An item whose request did not pass; carries the (masked) StepResult, never a value."""

    def __init__(self, step: Any) -> None:
        super().__init__(step.name)
        self.step = step


class SpecFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        from .errors import SpecError, UsageError

        state: _State = self.config.stash[_STATE]
        try:
            loaded = state.load(_shown(self.path))
        except SpecError as exc:
            raise SpecLoadError("\n".join(d.one_line() for d in exc.diagnostics)) from None
        except UsageError as exc:
            raise SpecLoadError(exc.message) from None
        spec = loaded.specs[0]
        self.spec = spec
        self._results: dict[int, Any] | None = None
        seen: dict[str, int] = {}
        for req in spec.requests:
            name = req.name
            if name in seen:
                name = f"{name}[{req.index}]"  # node ids must tell two requests apart
            seen[name] = req.index
            item = RequestItem.from_parent(self, name=name, index=req.index)
            item.extra_keyword_matches.add(spec.name)
            for tag in (*spec.tags, *req.tags):
                if not _MARKER_NAME.fullmatch(tag):  # e.g. `team:pets`, `_private`, ` spaced`: `-k` only
                    item.extra_keyword_matches.add(tag)
                    continue
                self.config.addinivalue_line("markers", f"{tag}: request-runner tag")
                item.add_marker(tag)
            yield item

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style=None):  # type: ignore[override]
        if isinstance(excinfo.value, SpecLoadError):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def results(self) -> dict[int, Any]:
        """Run this file once (the items pytest kept, in order): request index -> StepResult."""
        if self._results is None:
            state: _State = self.config.stash[_STATE]
            context, index = state.context(_shown(self.path))
            kept = frozenset(item.index for item in self.session.items
                             if isinstance(item, RequestItem) and item.parent is self)
            result = context.run_spec(index, only=kept)
            self._results = {step.index: step for step in result.steps}
            if result.error:
                self._error = result.error
        return self._results


class RequestItem(pytest.Item):
    def __init__(self, *, index: int, **kw: Any) -> None:
        super().__init__(**kw)
        self.index = index

    def runtest(self) -> None:
        from .results import Outcome

        parent: SpecFile = self.parent  # type: ignore[assignment]
        step = parent.results().get(self.index)
        if step is None:
            raise SpecLoadError(getattr(parent, "_error", None) or "the spec file could not run")
        if step.outcome is Outcome.SKIP:
            pytest.skip(step.skip_reason or "skipped")
        if step.outcome is not Outcome.PASS:
            raise RequestFailed(step)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style=None):  # type: ignore[override]
        value = excinfo.value
        if isinstance(value, RequestFailed):
            from .report import failure_lines, outcome_label

            step = value.step
            return "\n".join([f"{outcome_label(step)}: {step.name}", *failure_lines(step)])
        if isinstance(value, SpecLoadError):
            return str(value)
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Path, int, str]:
        req = self.parent.spec.requests[self.index]  # type: ignore[attr-defined]
        line = req.span.line - 1 if req.span is not None else 0
        return self.path, line, f"{self.parent.spec.name}: {req.name}"  # type: ignore[attr-defined]
