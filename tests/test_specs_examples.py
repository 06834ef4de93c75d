"""Every shipped spec (and the README's first spec) validates, and carries the editor modeline."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from runner.cli import main

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted((ROOT / "specs").rglob("*.yaml"))


def test_there_are_specs():
    assert len(SPECS) >= 5


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_shipped_spec_validates_and_has_the_modeline(path):
    first = path.read_text(encoding="utf-8").splitlines()[0]
    match = re.fullmatch(r"# yaml-language-server: \$schema=(\S+)", first)
    assert match, f"{path} lacks the yaml-language-server modeline"
    assert (path.parent / match.group(1)).resolve() == ROOT / "schemas" / "spec.schema.json"
    out, err = io.StringIO(), io.StringIO()
    assert main(["validate", str(path)], stdout=out, stderr=err, environ={}) == 0, err.getvalue()


def test_the_readme_first_spec_validates(tmp_path):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    first_spec = re.search(r"```yaml\n(.*?)```", readme, re.S).group(1)
    path = tmp_path / "first.yaml"
    path.write_text(first_spec, encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    assert main(["validate", str(path)], stdout=out, stderr=err, environ={}) == 0, err.getvalue()
