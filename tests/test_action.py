"""action.yml: its `run:` steps executed in bash as a GitHub runner would (GITHUB_* set,
inputs only through `env:`), installing request-runner from this checkout into a fresh
virtual environment, against a real server on 127.0.0.1."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import sysconfig
import venv
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from tests.helpers import write

ROOT = Path(__file__).resolve().parent.parent
ACTION = yaml.safe_load((ROOT / "action.yml").read_text())
_EXPR = re.compile(r"\$\{\{\s*(inputs\.[\w-]+|github\.action_path)\s*\}\}")


def test_inputs_reach_the_shell_only_through_env():
    assert ACTION["runs"]["using"] == "composite"
    assert set(ACTION["inputs"]) == {"paths", "args", "env", "python-version", "version"}
    for step in ACTION["runs"]["steps"]:
        assert "${{" not in step.get("run", ""), step.get("name")  # HAZARDS 86


@pytest.fixture(scope="module")
def action_python(tmp_path_factory) -> Path:
    """A fresh venv whose interpreter also sees this venv's packages (the dependencies), so the
    action's install step builds and installs request-runner from the checkout for real."""
    home = tmp_path_factory.mktemp("action-venv")
    venv.EnvBuilder(with_pip=True).create(home)
    site = subprocess.run([str(home / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    Path(site, "_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return home / "bin"


def run_action(workspace: Path, bin_dir: Path, inputs: dict[str, str], extra_env: dict[str, str] | None = None):
    """Every `run:` step in order, as `bash --noprofile --norc -eo pipefail`, like the runner."""
    values = {name: spec.get("default", "") for name, spec in ACTION["inputs"].items()}
    values.update(inputs)
    output, summary = workspace / "github_output", workspace / "step_summary.md"
    output.write_text("")
    summary.write_text("")
    base = {k: v for k, v in os.environ.items() if not k.upper().endswith("_PROXY")}
    base.update({
        "PATH": f"{bin_dir}{os.pathsep}{base.get('PATH', '')}",
        "GITHUB_ACTIONS": "true", "CI": "true", "GITHUB_WORKSPACE": str(workspace),
        "GITHUB_OUTPUT": str(output), "GITHUB_STEP_SUMMARY": str(summary), "GITHUB_ACTION_PATH": str(ROOT),
        "RUNNER_TEMP": str(workspace), **(extra_env or {}),
    })
    base.pop("PYTHONPATH", None)
    results = []
    for step in ACTION["runs"]["steps"]:
        if "run" not in step:
            continue  # `uses:` steps (setup-python) are GitHub's
        env = dict(base)
        for name, value in (step.get("env") or {}).items():
            env[name] = _EXPR.sub(lambda m: values[m.group(1)[len("inputs."):]] if m.group(1).startswith("inputs.")
                                  else str(ROOT), str(value))
        proc = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]], cwd=workspace,
                              env=env, capture_output=True, text=True, timeout=600)
        results.append(proc)
        if proc.returncode != 0:
            break
    outputs = dict(line.split("=", 1) for line in output.read_text().splitlines() if "=" in line)
    return results, outputs, summary.read_text()


def test_the_action_installs_runs_and_leaves_junit_summary_and_annotations(tmp_path, http_server, action_python):
    (tmp_path / "specs").mkdir()
    write(tmp_path / "specs" / "api.yaml", f"""
        version: 1
        name: api
        base_url: {http_server.url}
        requests:
          - {{name: up, url: /ok}}
          - {{name: broken, url: /ok, expect: {{status: 201}}}}
    """)
    steps, outputs, step_summary = run_action(tmp_path, action_python, {"paths": "specs/", "args": "--jobs 2"})
    install, run = steps
    assert install.returncode == 0, install.stderr
    assert run.returncode == 1, run.stdout + run.stderr
    assert outputs["exit-code"] == "1"
    assert outputs["junit"] == str(tmp_path / "runner-junit.xml")
    suite = ET.parse(outputs["junit"]).getroot().find("testsuite")
    assert (suite.get("tests"), suite.get("failures")) == ("2", "1")
    assert "exit code **1**" in Path(outputs["summary"]).read_text()
    assert "exit code **1**" in step_summary  # the job's summary page
    assert "::error file=specs/api.yaml,line=6" in run.stdout  # the annotation on the failing request
    assert str(ROOT) not in subprocess.run([str(action_python / "python"), "-c", "import runner; print(runner.__file__)"],
                                           capture_output=True, text=True, cwd=tmp_path).stdout  # installed, not the checkout


def test_an_input_holding_a_command_runs_nothing(tmp_path, action_python):
    hostile = '"; touch pwned #'
    steps, outputs, _ = run_action(tmp_path, action_python,
                                   {"paths": hostile, "args": "$(touch pwned2) `touch pwned3`", "env": hostile,
                                    "version": ""})
    assert not list(tmp_path.glob("pwned*"))
    assert steps[-1].returncode == 2  # runner refused the words as paths: a usage error, nothing sent
    assert outputs["exit-code"] == "2"
