"""The console reporter: plain non-TTY lines pinned by a golden file, the TTY AUTH style,
NO_COLOR/FORCE_COLOR, hostile text, verbosity, curl and the canary."""

from __future__ import annotations

import dataclasses
import io
import re

import pytest

from results_factory import (
    CANARY_FORMS,
    HOSTILE_SPEC,
    canary_redactor,
    canary_run,
    check_golden,
    full_run,
    interrupted_run,
    passing_run,
)
from runner.redact import Redactor
from runner.report.terminal import TerminalReporter, color_enabled, step_line
from runner.results import Outcome, RunResult, StepResult

LAST_LINE = re.compile(r"^\d+ passed, \d+ failed, \d+ auth, \d+ errors, \d+ skipped in \d+\.\d\d s$")


def render(run: RunResult, *, is_tty: bool = False, color: bool | None = False, verbosity: int = 0,
           width: int = 100, redactor: Redactor | None = None) -> str:
    buf = io.StringIO()
    rep = TerminalReporter(buf, is_tty=is_tty, color=color, verbosity=verbosity, width=width,
                           redactor=redactor or Redactor())
    rep.start(run.version, [s.path for s in run.specs], run.environment, run.warnings)
    for spec in run.specs:
        for step in spec.steps:
            rep.step(step)
        rep.spec_done(spec)
    rep.finish(run)
    return buf.getvalue()


def with_curl(step: StepResult, curl: str) -> StepResult:
    """StepResult may or may not have a `curl` field yet (another part adds it)."""
    if "curl" in {f.name for f in dataclasses.fields(StepResult)}:
        return dataclasses.replace(step, curl=curl)

    @dataclasses.dataclass(frozen=True)
    class CurlStep(StepResult):
        curl: str | None = None

    values = {f.name: getattr(step, f.name) for f in dataclasses.fields(StepResult)}
    return CurlStep(**values, curl=curl)


# -- colour decision -------------------------------------------------------------------
@pytest.mark.parametrize(
    "environ, is_tty, expected",
    [
        ({}, True, True),
        ({}, False, False),
        ({"NO_COLOR": "1"}, True, False),
        ({"NO_COLOR": ""}, True, True),  # empty means unset (no-color.org)
        ({"FORCE_COLOR": "1"}, False, True),
        ({"FORCE_COLOR": "0"}, False, False),
        ({"FORCE_COLOR": ""}, False, False),
        ({"NO_COLOR": "1", "FORCE_COLOR": "1"}, False, False),  # NO_COLOR wins
        ({"TERM": "dumb"}, True, False),
        ({"TERM": "dumb", "FORCE_COLOR": "true"}, True, True),
    ],
)
def test_color_enabled(environ, is_tty, expected):
    assert color_enabled(environ, is_tty) is expected


def test_force_color_without_tty_gives_ansi(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("FORCE_COLOR", "1")
    out = render(full_run(), is_tty=False, color=None)
    assert "\x1b[" in out
    # still the plain line format, one line per request
    assert any(line.startswith("\x1b[") and "create a pet" in line for line in out.splitlines())


def test_environ_parameter_overrides_process_environment(monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    buf = io.StringIO()
    rep = TerminalReporter(buf, is_tty=False, color=None, width=100, redactor=Redactor(),
                           environ={"FORCE_COLOR": "1"})
    rep.finish(full_run())
    assert "\x1b[" in buf.getvalue()


@pytest.mark.parametrize("columns", ["0", "\u00b2", "-3", "abc", ""])
@pytest.mark.parametrize("tty", [False, True])
def test_unusable_columns_or_lines_fall_back_to_a_sane_width(monkeypatch, columns, tty):
    monkeypatch.setenv("COLUMNS", columns)  # the process environment is not what counts
    monkeypatch.setenv("LINES", columns)
    buf = io.StringIO()
    rep = TerminalReporter(buf, is_tty=tty, color=False, redactor=Redactor(),
                           environ={"COLUMNS": columns, "LINES": columns})
    assert rep.console.width > 0
    rep.start("0.1.0", ["specs/pets.yaml"], None, ())
    rep.finish(passing_run())
    assert LAST_LINE.match(buf.getvalue().splitlines()[-1])


def test_columns_come_from_the_environ_parameter(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    rep = TerminalReporter(io.StringIO(), is_tty=True, color=False, redactor=Redactor(), environ={"COLUMNS": "42"})
    assert rep.console.width == 42


def test_no_color_env_gives_no_ansi(monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("FORCE_COLOR", "1")
    out = render(full_run(), is_tty=False, color=None)
    assert "\x1b" not in out


# -- plain (non-TTY) output ------------------------------------------------------------
def test_plain_output_golden():
    check_golden("terminal_plain.txt", render(full_run()))


def test_plain_verbose_golden():
    check_golden("terminal_plain_vv.txt", render(full_run(), verbosity=2))


def test_plain_output_is_colourless_and_unwrapped():
    out = render(full_run(), width=40)
    assert "\x1b" not in out
    lines = out.splitlines()
    # one line per request, however narrow the console
    auth = [line for line in lines if line.startswith("AUTH ") and "  !! " in line]
    assert len(auth) == 3
    assert any(len(line) > 40 for line in lines)


def test_plain_step_line_format():
    run = full_run()
    lines = [step_line(s).plain for s in run.steps]
    assert lines[0] == "PASS   GET     http://127.0.0.1:8000/pets?limit=2  200  12 ms  list pets"
    assert lines[1].endswith("list pets after a refresh  (token refreshed) (2 attempts)")
    assert lines[2] == ("FAIL   GET     http://127.0.0.1:8000/pets/1  404  8 ms  fetch the first pet  "
                        "-- status: expected 200, got 404 (+2 more)")
    assert lines[3].startswith("AUTH   POST    http://127.0.0.1:8000/pets  401  5 ms  create a pet  "
                               "!! token 'pets_token' from env PETS_API_TOKEN rejected: invalid_token "
                               "(The access token expired); JWT expired 2 h 14 min ago")
    assert lines[5].startswith("SKIP   GET ") and "  -  -  fetch the created pet  -- needs capture" in lines[5]
    orders = [step_line(s).plain for s in run.specs[1].steps]
    assert orders[0].startswith("AUTH   GET     http://127.0.0.1:8000/orders  -  -  list orders  !! secret "
                                "'orders_token' from env ORDERS_TOKEN")
    assert orders[1].startswith("ERROR  GET     http://127.0.0.1:9/health  -  2 ms  health check  -- connection")


def test_last_line_is_the_summary():
    for run in (full_run(), passing_run(), interrupted_run()):
        for tty in (False, True):
            last = render(run, is_tty=tty).rstrip("\n").splitlines()[-1]
            assert LAST_LINE.match(last), last
    assert render(full_run()).rstrip("\n").splitlines()[-1] == \
        "3 passed, 4 failed, 3 auth, 2 errors, 1 skipped in 1.23 s"


def test_header_and_warning_are_loud():
    out = render(full_run())
    first, second = out.splitlines()[:2]
    assert first == "request-runner 0.1.0 | 4 spec files | environment: staging"
    assert second.startswith("WARNING: TLS verification is disabled")
    # repeated at the end, once
    assert out.count("WARNING: TLS verification is disabled") == 2


def test_auth_details_and_group_summary():
    out = render(full_run())
    assert "    fingerprint: sha256:1a2b3c4d" in out
    assert '    challenge: Bearer realm="pets", error="invalid_token", error_description="The access token expired"' in out
    assert "    token: JWT expired 2 h 14 min ago (2024-05-01T09:46:00Z, unverified)" in out
    assert "  not checked: 3 expectations (the response was an auth error)" in out
    assert "  not checked: 1 expectation (nothing was sent: the secret could not be resolved)" in out
    assert "  AUTH 2 requests rejected: token 'pets_token' from env PETS_API_TOKEN, JWT expired 2 h 14 min ago" in out
    assert "  AUTH 1 request not sent: token 'orders_token' from env ORDERS_TOKEN could not be resolved" in out


def test_interrupted_is_said():
    out = render(interrupted_run())
    assert "Interrupted by SIGINT" in out


# -- TTY ---------------------------------------------------------------------------------
def test_tty_table_and_auth_style():
    out = render(full_run(), is_tty=True, color=True)
    rows = [line for line in out.splitlines() if "create a pet" in line and "401" in line]
    assert rows, out
    row = rows[0]
    # the AUTH cell: bold white on magenta (SGR 1, 37, 45), and the AUTH row is coloured too
    assert re.search(r"\x1b\[[0-9;]*1;37;45m AUTH 401 ", row), repr(row)
    assert re.search(r"\x1b\[[0-9;]*35m", row), repr(row)
    # a passing row carries no magenta
    pass_rows = [line for line in out.splitlines() if " PASS " in line]
    assert pass_rows
    assert not any("45m" in row or "35m" in row for row in pass_rows)


def test_tty_without_colour_has_table_but_no_sgr():
    out = render(full_run(), is_tty=True, color=False)
    assert "Pets API smoke test" in out and "Outcome" in out
    assert not re.search(r"\x1b\[[0-9;]*m", out)


def test_tty_folds_long_urls():
    run = full_run()
    spec = run.specs[0]
    long = dataclasses.replace(spec.steps[0], url="http://127.0.0.1:8000/" + "a" * 300)
    run = dataclasses.replace(run, specs=(dataclasses.replace(spec, steps=(long,)),))
    out = render(run, is_tty=True, color=False, width=100)
    assert "a" * 300 not in out  # folded across lines, not cut
    assert out.count("a" * 20) >= 5


# -- hostile text --------------------------------------------------------------------------
@pytest.mark.parametrize("tty", [False, True])
def test_hostile_text_is_inert(tty):
    run = full_run()
    out = render(run, is_tty=tty, color=tty, verbosity=2)
    assert "[bold]PASS[/] all good [/]" in out  # shown literally, not parsed as markup
    assert "Hostile [bold]server[/]" in out or not tty
    assert "\x00" not in out and "\x12" not in out and "\x9b" not in out
    assert "\x1b]0;owned" not in out and "\x1b[2J" not in out
    if not tty:
        assert "\x1b" not in out
    for line in out.splitlines():
        stripped = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", line).lstrip()
        assert not stripped.startswith("::"), line
        assert not stripped.startswith("##["), line
    assert ": :stop-commands::pwned" in out


# -- verbosity and curl ------------------------------------------------------------------
def test_verbosity_one_shows_headers_of_failures_only():
    out = render(full_run(), verbosity=1)
    assert "  > Authorization: Bearer ***" in out
    assert "  < WWW-Authenticate: Bearer realm=" in out
    # the passing request's exchange is not dumped at -v
    assert "  < 200 OK" in out  # the binary-body FAIL had a 200
    assert out.count("> GET http://127.0.0.1:8000/pets?limit=2") == 0


def test_verbosity_two_dumps_every_request():
    out = render(full_run(), verbosity=2)
    assert "> GET http://127.0.0.1:8000/pets?limit=2" in out
    assert '< {"count": 2, "items"' in out


def test_curl_is_printed_when_present():
    run = full_run()
    spec = run.specs[0]
    step = with_curl(spec.steps[0], "curl -H 'Authorization: Bearer $PETS_API_TOKEN' http://127.0.0.1:8000/pets")
    run = dataclasses.replace(run, specs=(dataclasses.replace(spec, steps=(step,)),))
    out = render(run)
    assert "  $ curl -H 'Authorization: Bearer $PETS_API_TOKEN' http://127.0.0.1:8000/pets" in out


# -- the canary ------------------------------------------------------------------------------
@pytest.mark.parametrize("tty, verbosity", [(False, 0), (False, 2), (True, 2), (True, 0)])
@pytest.mark.parametrize("width", [40, 100])
def test_canary_never_printed(tty, verbosity, width):
    run = canary_run()
    step = with_curl(run.specs[0].steps[1], "curl -H 'Authorization: Bearer rr-CANARY-9f8e7d6c5b4a' x")
    run = dataclasses.replace(run, specs=(dataclasses.replace(run.specs[0], steps=run.specs[0].steps + (step,)),
                                          run.specs[1]))
    out = render(run, is_tty=tty, color=tty, verbosity=verbosity, width=width, redactor=canary_redactor())
    flat = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]|\s", "", out)  # also across wrapped lines
    for form in CANARY_FORMS:
        assert form not in out
        assert form not in flat
    assert "***" in out


def test_every_outcome_has_a_plain_label():
    labels = {step_line(s).plain.split()[0] for s in full_run().steps}
    assert labels == {o.value for o in Outcome}


def test_spec_path_header_in_plain_mode():
    out = render(full_run())
    assert f"== {HOSTILE_SPEC}\n" in out
    assert "== specs/pets.yaml: 2 passed, 1 failed, 2 auth, 0 errors, 1 skipped in 0.08 s" in out
    assert "ERROR  specs/broken.yaml: could not read specs/broken.yaml: permission denied" in out


# -- the plain fast path writes what rich would have printed ---------------------------------
@pytest.mark.parametrize("verbosity", [0, 1, 2])
@pytest.mark.parametrize("make_run", [full_run, passing_run, interrupted_run, canary_run])
def test_plain_fast_path_matches_rich_rendering(make_run, verbosity):
    run = make_run()

    def out(fast: bool) -> str:
        buf = io.StringIO()
        rep = TerminalReporter(buf, is_tty=False, color=False, verbosity=verbosity, width=40,
                               redactor=canary_redactor())
        assert rep._fast
        rep._fast = fast
        rep.start(run.version, [s.path for s in run.specs], run.environment, run.warnings)
        for spec in run.specs:
            for step in spec.steps:
                rep.step(step)
            rep.spec_done(spec)
        rep.finish(run)
        return buf.getvalue()

    assert out(True) == out(False)
