"""Every shipped spec (and the README's first spec) validates, and carries the editor modeline."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from runner.cli import main

ROOT = Path(__file__).resolve().parent.parent
ALL_YAML = sorted((ROOT / "specs").rglob("*.yaml"))
# under a `_` folder: fragments (`include:`) and data files, not specs
SPECS = [p for p in ALL_YAML if not any(part.startswith("_") for part in p.relative_to(ROOT).parts)]
FRAGMENTS = [p for p in ALL_YAML if p not in SPECS and p.parent.name == "_common"]


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


def test_there_are_fragments():
    assert FRAGMENTS


@pytest.mark.parametrize("path", FRAGMENTS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_shipped_fragment_has_the_fragment_modeline_and_is_included(path):
    first = path.read_text(encoding="utf-8").splitlines()[0]
    match = re.fullmatch(r"# yaml-language-server: \$schema=(\S+)", first)
    assert match and (path.parent / match.group(1)).resolve() == ROOT / "schemas" / "fragment.schema.json"
    includers = [s for s in SPECS if f"include: {path.parent.name}/{path.name}" in s.read_text(encoding="utf-8")]
    assert len(includers) >= 2  # shared: and validated through each spec that includes it
