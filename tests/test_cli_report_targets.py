"""`runner load --html/--csv` refuse a path they cannot write before any user starts, like
`runner run`'s report flags (exit 2, a clear message), instead of an internal error after the run
(or a spec file overwritten by Locust's report)."""

from __future__ import annotations

import importlib.util
import textwrap
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import write

ROOT = Path(__file__).resolve().parent.parent
SPEC = """
    base_url: http://127.0.0.1:9
    requests:
      - name: a
        url: /x
    """


@pytest.mark.skipif(importlib.util.find_spec("locust") is None,
                    reason="Locust not installed (pip install 'request-runner[load]')")
@pytest.mark.parametrize("flag, target, message", [
    ("--html", "d", "--html 'd': is a directory"),
    ("--html", "api.yaml", "--html api.yaml: is a YAML file (a spec?)"),
    ("--csv", "f/p", "--csv f/p_stats.csv: cannot write there"),
    ("--html", "", "--html: empty file name"),
    ("--csv", "", "--csv: empty file name"),  # was let through: Locust then wrote no CSV, silently
])
def test_load_refuses_an_unwritable_report_before_it_starts(tmp_path, flag, target, message):
    spec = write(tmp_path / "api.yaml", SPEC)
    (tmp_path / "d").mkdir()
    (tmp_path / "f").write_text("a file, not a folder\n")
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT)}  # a subprocess: gevent patches it
    proc = subprocess.run([sys.executable, "-m", "runner", "load", "--run-time", "1s", flag, target, "api.yaml"],
                          cwd=tmp_path, env=env, text=True, capture_output=True, timeout=90)
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert "internal error" not in proc.stderr and "Locust" not in proc.stdout
    assert spec.read_text(encoding="utf-8") == textwrap.dedent(SPEC).lstrip()
