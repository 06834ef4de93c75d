"""Helpers shared by the test modules: the canary token and running the CLI as a user does."""

from __future__ import annotations

import io
import os
import textwrap
from pathlib import Path

from runner.cli import main

# A unique fake token fed through every secret source; tests grep every output for it.
CANARY = "rr-CANARY-9f8e7d6c5b4a"


def run_cli(args, env=None, stdout=None) -> tuple[int, str, str]:
    """`runner ARGS` in-process with a clean environment (PATH plus `env`): (exit code, stdout, stderr)."""
    out, err = stdout or io.StringIO(), io.StringIO()
    environ = {"PATH": os.environ.get("PATH", ""), **(env or {})}
    code = main(list(args), stdout=out, stderr=err, environ=environ)
    return code, out.getvalue(), err.getvalue()


def write(path: Path, text: str | bytes) -> Path:
    """Write dedented text (or bytes as they are) and return the path."""
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path
