"""The Markdown summary: golden, escaping of server text, fences, canary."""

from __future__ import annotations

import dataclasses

from results_factory import CANARY_FORMS, canary_redactor, canary_run, check_golden, full_run, passing_run
from runner.report import markdown


def test_golden():
    check_golden("summary_full.md", markdown.render(full_run()))


def test_structure():
    md = markdown.render(full_run())
    lines = md.splitlines()
    assert lines[0] == "## request-runner: 3 passed, 4 failed, 3 auth, 2 errors, 1 skipped in 1.23 s"
    assert "### Pets API smoke test (specs/pets.yaml)" in lines
    assert "| Outcome | Method | URL | Status | Time | Request |" in lines
    assert "| \U0001f510 AUTH 401 | POST | http://127.0.0.1:8000/pets | 401 | 5 ms | create a pet |" in lines
    assert "### Authentication failures" in lines
    assert "### Failures" in lines
    assert any("TLS verification is disabled" in line and line.startswith("> ") for line in lines)
    # every table row has the same number of unescaped pipes
    rows = [line for line in lines if line.startswith("| ")]
    assert {line.replace("\\|", "").count("|") for line in rows} == {7}


def test_passing_run_has_no_failure_section():
    md = markdown.render(passing_run())
    assert "### Failures" not in md and "exit code **0**" in md


def test_pipes_backticks_and_markup_escaped():
    run = full_run()
    spec = run.specs[0]
    step = dataclasses.replace(spec.steps[2], name="a | b `code` [link](http://evil) <img src=x> *em*",
                               url="http://h/x|y")
    run = dataclasses.replace(run, specs=(dataclasses.replace(spec, steps=(step,)),))
    md = markdown.render(run)
    row = next(line for line in md.splitlines() if line.startswith("| \u274c FAIL"))
    assert "a \\| b \\`code\\` \\[link\\](http://evil) \\<img src=x\\> \\*em\\*" in row
    assert "http://h/x\\|y" in row
    assert row.replace("\\|", "").count("|") == 7


def test_fence_outgrows_backticks_in_body():
    run = full_run()
    spec = run.specs[0]
    step = spec.steps[2]
    failure = dataclasses.replace(step.failures[0], actual="````` escape ``` attempt")
    step = dataclasses.replace(step, failures=(failure,))
    md = markdown.render(dataclasses.replace(run, specs=(dataclasses.replace(spec, steps=(step,)),)))
    assert "``````text\n" in md  # six backticks: longer than the five inside


def test_hostile_text():
    md = markdown.render(full_run())
    for bad in ("\x00", "\x12", "\x1b", "\x9b", "\u202e"):
        assert bad not in md
    for line in md.splitlines():
        assert not line.lstrip().startswith("::")
    assert "### Hostile \\[bold\\]server\\[/\\] (specs/hostile.yaml)" in md


def test_canary_absent():
    md = markdown.render(canary_run(), redactor=canary_redactor())
    for form in CANARY_FORMS:
        assert form not in md
    assert "***" in md
