"""A passing request keeps a compact record (no headers, no body) unless -vv; a failure keeps its excerpts."""

from __future__ import annotations

import json

import pytest

from tests.helpers import run_cli, write


def _pass_and_fail(tmp_path, http_server):
    """A spec of two requests with a header each: the first passes, the second fails."""
    return write(tmp_path / "s.yaml", f"""
        version: 1
        name: compact
        base_url: {http_server.url}
        requests:
          - {{name: passes, url: /ok, headers: {{X-Trace: t1}}, expect: {{status: 200}}}}
          - {{name: fails, url: /ok, headers: {{X-Trace: t2}}, expect: {{status: 201}}}}
    """)


@pytest.mark.parametrize("verbose", [False, True])
def test_passing_requests_keep_no_headers_or_body_unless_vv(tmp_path, http_server, verbose):
    spec = _pass_and_fail(tmp_path, http_server)
    report = tmp_path / "r.json"
    code, _, err = run_cli(["run", str(spec), "--no-color", "--json", str(report)] + (["-vv"] if verbose else []))
    assert code == 1, err
    passed, failed = json.loads(report.read_text())["specs"][0]["steps"]
    assert passed["outcome"] == "PASS" and failed["outcome"] == "FAIL"
    assert passed["status"] == 200 and passed["response"]["status"] == 200 and passed["response"]["size"] > 0
    if verbose:
        assert passed["response"]["headers"] and passed["response"]["body_excerpt"]
        assert passed["request"]["headers"]
    else:
        assert passed["response"]["headers"] == [] and passed["response"]["body_excerpt"] is None
        assert passed["request"]["headers"] == []
    # the failure keeps what explains it, with or without -vv
    assert failed["response"]["headers"] and failed["response"]["body_excerpt"]
    assert failed["request"]["headers"]


@pytest.mark.parametrize("verbose", [0, 2])
def test_the_library_keeps_a_compact_record_of_a_passing_request_unless_verbose_2(tmp_path, http_server, verbose):
    """runner.run as `runner run`: a passing request holds no headers and no body in the
    result (10,000 of them stay in memory until the end); verbose=2 (-vv) keeps them; a
    request that did not pass keeps its headers and body whatever the verbosity."""
    import runner

    spec = _pass_and_fail(tmp_path, http_server)
    seen = []
    result = runner.run([str(spec)], verbose=verbose, on_step=seen.append)
    passed, failed = result.steps
    assert [s.outcome for s in seen] == [runner.Outcome.PASS, runner.Outcome.FAIL]
    assert passed.response is not None and passed.response.status == 200 and passed.response.size > 0
    assert [c.passed for c in passed.checks] == [True]
    if verbose:
        assert passed.response.headers and passed.response.body and passed.request.headers
    else:
        assert passed.response.headers == () and passed.response.body == b""
        assert passed.request is not None and passed.request.headers == () and passed.request.body_excerpt is None
    assert failed.response.headers and failed.response.body and failed.request.headers
    assert failed.failures and failed.failures[0].expected is not None


@pytest.mark.parametrize(
    "argv, environ, tally",
    [
        ([], {}, True),  # nothing reads a passing request again once its line is printed
        (["-v"], {}, True),  # -v details the requests that did not pass
        (["-vv"], {}, False),
        (["--json", "r.json"], {}, False),
        (["--junit", "r.xml"], {}, False),
        (["--html", "r.html"], {}, False),
        (["--summary", "r.md"], {}, False),
        ([], {"GITHUB_STEP_SUMMARY": "s.md"}, False),
    ],
)
def test_runner_run_keeps_a_tally_of_passing_requests_only_when_nothing_reads_them_again(argv, environ, tally):
    from runner.app import settings_from_args, tally_is_enough
    from runner.arguments import build_parser

    args = build_parser("run").parse_args(["run", "s.yaml", *argv])
    settings = settings_from_args(args, None, {}, {}, environ)
    assert tally_is_enough(settings) is tally


def test_a_tally_keeps_what_the_console_prints_and_counts(tmp_path, http_server):
    import dataclasses

    from runner.session.run import Run
    from runner.session.settings import RunSettings

    spec = _pass_and_fail(tmp_path, http_server)
    base = RunSettings(paths=(str(spec),), compact_passes=True)
    for settings, kept in ((base, True), (dataclasses.replace(base, tally_passes=True), False)):
        run = Run(settings, environ={})
        for _event in run.events():
            pass
        passed, failed = run.result.steps
        assert (passed.name, passed.status, passed.outcome.name) == ("passes", 200, "PASS")
        assert passed.elapsed_ms is not None and passed.span is not None and passed.url.endswith("/ok")
        assert bool(passed.checks) is kept and (passed.response is not None) is kept and (passed.request is not None) is kept
        # a request that did not pass keeps everything either way
        assert failed.checks and failed.response is not None and failed.failures
    code, out, err = run_cli(["run", str(spec), "--no-color"])
    assert code == 1 and "1 passed" in out and "1 failed" in out, out + err
