"""docs/ci.md's `runner run` commands, run as written (sharded), against the embedded demo API."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from runner.demo import DemoServer, demo_environ, spec_dir

DOC = Path(__file__).resolve().parent.parent / "docs" / "ci.md"


def _block(lang_marker: str) -> str:
    text = DOC.read_text(encoding="utf-8")
    blocks = re.findall(r"```yaml\n(.*?)```", text, re.S)
    return next(b for b in blocks if lang_marker in b)


def github_command(shard: int) -> str:
    block = _block(".github/workflows")
    folded = re.search(r"run: >-\n((?:\s{10}.*\n)+)", block).group(1)
    command = " ".join(line.strip() for line in folded.splitlines())
    return command.replace("${{ matrix.shard }}", str(shard))


def gitlab_command(index: int, total: int) -> str:
    block = _block(".gitlab-ci.yml")
    line = next(l.strip()[2:] for l in block.splitlines() if l.strip().startswith("- runner run"))
    return line.replace("${CI_NODE_INDEX}", str(index)).replace("${CI_NODE_TOTAL}", str(total))


@pytest.fixture()
def project(tmp_path):
    shutil.copytree(spec_dir(), tmp_path / "specs", ignore=shutil.ignore_patterns("9?-*"))  # the 9x- showcases fail on purpose
    return tmp_path


def _env(server, **extra):
    env = {k: v for k, v in os.environ.items() if "PROXY" not in k.upper()}
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env.update(demo_environ(server), **extra)
    return env


def test_github_matrix_commands_cover_every_spec_and_write_reports(project, tmp_path):
    summary = tmp_path / "step_summary.md"
    summary.write_text("")
    names = []
    with DemoServer() as server:
        for shard in (1, 2, 3):
            command = github_command(shard)
            assert command.startswith("exec runner run specs/ --shard")
            proc = subprocess.run(
                ["bash", "-c", command], cwd=project, capture_output=True, text=True, timeout=120,
                env=_env(server, GITHUB_ACTIONS="true", GITHUB_STEP_SUMMARY=str(summary), CI="true"),
            )
            assert proc.returncode == 0, proc.stdout + proc.stderr
            ET.parse(project / "reports" / f"junit-{shard}.xml")
            report = json.loads((project / "reports" / f"report-{shard}.json").read_text())
            names += [s["path"] for s in report["specs"]]
            assert (project / "reports" / f"summary-{shard}.md").read_text().strip()
    expected = sorted(p.name for p in (project / "specs").glob("*.yaml"))
    assert sorted(Path(n).name for n in names) == expected
    assert summary.read_text().strip()


def test_gitlab_command(project):
    with DemoServer() as server:
        proc = subprocess.run(
            ["bash", "-c", gitlab_command(1, 1)], cwd=project, capture_output=True, text=True, timeout=120,
            env=_env(server, CI="true"),
        )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    root = ET.parse(project / "reports" / "junit.xml").getroot()
    assert int(root.get("tests") or sum(int(s.get("tests")) for s in root.iter("testsuite"))) > 0
