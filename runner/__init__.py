"""request-runner: a declarative, YAML-driven HTTP request runner.

`run(paths, ...) -> RunResult` and `validate(paths) -> list[Diagnostic]` are the library
API (docs/api.md). The public API is re-exported here lazily (PEP 562), so that `runner --version`
does not pay for importing requests, rich and jsonschema.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    "Config": "model",
    "Diagnostic": "source",
    "ExitCode": "errors",
    "Outcome": "results",
    "Redactor": "redact",
    "RunOptions": "engine",
    "RunResult": "results",
    "RunnerError": "errors",
    "SecretError": "errors",
    "SecretStore": "secrets",
    "Spec": "model",
    "SpecError": "errors",
    "SpecResult": "results",
    "StepResult": "results",
    "TransportError": "errors",
    "UsageError": "errors",
    "load_config_file": "load",
    "load_spec": "load",
    "load_spec_file": "load",
    "main": "cli",
    "run": "api",
    "run_spec": "engine",
    "validate": "api",
}

__all__ = sorted([*_EXPORTS, "__version__"])


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'runner' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
