"""Report files are streamed a request at a time (issue 13, flat memory): each format's
`chunks` is its `render` in pieces, one piece per request at most, and the file the run
writes from the pieces is the same text, masked."""

from __future__ import annotations

import dataclasses
import json

import pytest
from results_factory import CANARY, canary_redactor, canary_run, full_run

from runner.report import html, json_report, junit, writer
from runner.results import RunResult
from runner.session.reports import ReportFile, ReportFiles


@pytest.mark.parametrize("module", [json_report, junit, html])
@pytest.mark.parametrize("make", [full_run, canary_run, lambda: RunResult(specs=(), duration_s=0.0, version="1")])
def test_the_pieces_are_the_report(module, make):
    run = make()
    redactor = canary_redactor()
    pieces = list(module.chunks(run, redactor=redactor))
    assert "".join(pieces) == module.render(run, redactor=redactor)
    # one piece holds at most one request: the text is never the whole report at once
    steps = len(run.steps)
    if steps > 1:
        assert len(pieces) > steps
        assert max(len(p) for p in pieces) < len("".join(pieces))


def test_the_run_writes_the_pieces_masked(tmp_path):
    run = dataclasses.replace(canary_run(), in_progress=False)
    redactor = canary_redactor()
    files = [ReportFile(str(tmp_path / "r.json"), writer("json")), ReportFile(str(tmp_path / "r.xml"), writer("junit")),
             ReportFile(str(tmp_path / "r.html"), writer("html"))]
    ReportFiles(files, redactor).write(run)
    for f in files:
        text = (tmp_path / f.path).read_text(encoding="utf-8")
        assert CANARY not in text
    assert json.loads((tmp_path / "r.json").read_text(encoding="utf-8")) == json_report.to_dict(run, redactor=redactor)
    assert (tmp_path / "r.xml").read_text(encoding="utf-8") == junit.render(run, redactor=redactor)
