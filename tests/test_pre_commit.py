""".pre-commit-hooks.yaml with the real pre-commit tool, in a throw-away git repository: the
hook installs request-runner from this checkout (language: python) and validates the spec
files of a commit."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import write

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="pre-commit needs git")


def _run(args, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def test_runner_validate_hook_checks_the_changed_spec_files(tmp_path):
    repo = tmp_path / "repo"
    (repo / "specs" / "_common").mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if not k.upper().endswith("_PROXY") and not k.startswith("GIT_")}
    env.update({"PRE_COMMIT_HOME": str(tmp_path / "cache"), "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
                "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid"})
    env.pop("PYTHONPATH", None)
    assert _run(["git", "init", "-q"], repo, env).returncode == 0
    write(repo / "specs" / "good.yaml", "version: 1\nrequests:\n  - {url: 'http://127.0.0.1:1/'}\n")
    write(repo / "specs" / "bad.yaml", "version: 1\nrequests:\n  - url: /x\n    expcet: {status: 200}\n")
    write(repo / "specs" / "_common" / "fragment.yaml", "not: a spec\n")  # fragments are not specs
    write(repo / "notes.yaml", "not: a spec either\n")  # outside specs/
    assert _run(["git", "add", "-A"], repo, env).returncode == 0

    pre_commit = [sys.executable, "-m", "pre_commit", "try-repo", str(ROOT), "runner-validate"]
    proc = _run([*pre_commit, "--files", "specs/good.yaml", "specs/_common/fragment.yaml", "notes.yaml"], repo, env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "runner validate" in proc.stdout and "Passed" in proc.stdout

    proc = _run([*pre_commit, "--all-files"], repo, env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "specs/bad.yaml:4:5: unknown key 'expcet'" in proc.stdout
    assert "fragment.yaml" not in proc.stdout and "notes.yaml" not in proc.stdout
