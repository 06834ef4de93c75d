"""The command line end to end, as a user runs it, against the embedded demo API on 127.0.0.1."""

from __future__ import annotations

import base64
import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import quote

import jsonschema
import pytest

from tests.helpers import CANARY, run_cli, write
from runner.demo import DemoServer, spec_dir

ROOT = Path(__file__).resolve().parent.parent
CANARY_FORMS = [
    CANARY,
    quote(CANARY, safe=""),
    base64.b64encode(CANARY.encode()).decode().rstrip("="),
    base64.b64encode(f"user:{CANARY}".encode()).decode().rstrip("="),
]


@pytest.fixture(scope="module")
def demo():
    with DemoServer() as server:
        yield server








def spec(tmp: Path, name: str, body: str) -> Path:
    return write(tmp / name, body)


PASSING = """
    version: 1
    name: pass
    base_url: ${env:API}
    secrets:
      tok: {env: API_TOKEN}
    auth: {bearer: tok}
    requests:
      - name: health
        url: /health
        auth: none
        expect: {status: 200, json: {$.status: ok}}
      - name: list pets
        url: /pets
        query: {limit: 2}
        expect:
          status: 200
          json: {$.count: 2}
        capture: {first: "$.items[0].id"}
      - name: first pet
        url: /pets/${first}
        expect: {status: 200, json: {$.id: "${first}"}}
"""


def env_for(server, token=None, **extra):
    env = {"API": server.url, "API_TOKEN": token or server.mint_token(3600, scope="pets:read pets:create")}
    env.update(extra)
    return env


def test_version():
    code, out, _ = run_cli(["--version"])
    assert code == 0 and out.startswith("runner (request-runner) ")


def test_no_command_prints_help_and_exits_2():
    code, out, _ = run_cli([])
    assert code == 2 and "run" in out


@pytest.mark.parametrize("name", ["spec", "config", "report"])
def test_schema_command_prints_valid_schemas(name):
    code, out, _ = run_cli(["schema", name])
    assert code == 0
    jsonschema.Draft202012Validator.check_schema(json.loads(out))


def test_bad_flag_is_a_usage_error():
    code, _, err = run_cli(["run", "--jobs", "zero"])
    assert code == 2 and "--jobs" in err and "Traceback" not in err


def test_passing_run(demo, cwd):
    spec(cwd, "a.yaml", PASSING)
    code, out, err = run_cli(["run", "a.yaml"], env_for(demo))
    assert code == 0, out + err
    assert "3 passed, 0 failed, 0 auth, 0 errors, 0 skipped in" in out


def test_validate_the_demo_specs_needs_no_network_or_secrets():
    code, out, err = run_cli(["validate", str(spec_dir())])
    assert code == 0, err
    assert "valid" in out


def test_validate_reports_every_error_with_position_and_hint(cwd):
    spec(cwd, "bad.yaml", """
        version: 1
        name: bad
        requests:
          - name: one
            url: /x
            expcet: {status: 200}
          - name: two
            methd: GET
            url: /pets
    """)
    code, _, err = run_cli(["validate", "bad.yaml"])
    assert code == 2
    assert "bad.yaml:6:" in err and "did you mean 'expect'" in err
    assert "bad.yaml:8:" in err and "did you mean 'method'" in err
    assert "Traceback" not in err


def test_validate_reports_undefined_references(cwd):
    spec(cwd, "refs.yaml", """
        version: 1
        name: refs
        requests:
          - name: one
            url: /pets/${nowhere}
    """)
    code, _, err = run_cli(["validate", "refs.yaml"])
    assert code == 2
    assert "refs.yaml:5:" in err and "'nowhere' is not defined" in err


def test_failed_check_exits_1(demo, cwd):
    spec(cwd, "f.yaml", """
        version: 1
        name: f
        base_url: ${env:API}
        requests:
          - name: health
            url: /health
            expect: {status: 200, json: {$.status: broken}}
    """)
    code, out, _ = run_cli(["run", "f.yaml"], env_for(demo))
    assert code == 1
    assert "broken" in out and "0 passed, 1 failed" in out


def test_unexpected_401_is_auth_with_diagnosis_and_no_leak(demo, cwd):
    spec(cwd, "a.yaml", PASSING)
    junit, report = cwd / "out" / "junit.xml", cwd / "out" / "report.json"
    summary = cwd / "out" / "summary.md"
    code, out, err = run_cli(
        ["run", "a.yaml", "-vv", "--curl", "--junit", str(junit), "--json", str(report), "--summary", str(summary)],
        env_for(demo, token=CANARY),
    )
    assert code == 3, out + err
    assert "AUTH" in out and "tok" in out and "env API_TOKEN" in out
    assert "invalid_token" in out
    assert "sha256:" in out
    for text in (out, err, junit.read_text(), report.read_text(), summary.read_text()):
        for form in CANARY_FORMS:
            assert form not in text
    ET.parse(junit)
    schema = json.loads(run_cli(["schema", "report"])[1])
    jsonschema.validate(json.loads(report.read_text()), schema)


def test_expired_jwt_is_explained(demo, cwd):
    spec(cwd, "a.yaml", PASSING)
    expired = demo.mint_token(-(2 * 3600 + 14 * 60), scope="pets:read")
    code, out, _ = run_cli(["run", "a.yaml"], env_for(demo, token=expired))
    assert code == 3
    assert "expired" in out and "2 h 14 min" in out
    assert expired not in out


def test_unresolved_secret_sends_nothing(demo, cwd):
    spec(cwd, "a.yaml", PASSING)
    demo.clear_requests()
    env = env_for(demo)
    del env["API_TOKEN"]
    code, out, _ = run_cli(["run", "a.yaml"], env)
    assert code == 3
    assert "API_TOKEN" in out and "not set" in out
    assert all(r.path.split("?")[0] != "/pets" for r in demo.requests), "a request was sent without its credential"


def test_secret_override_on_the_command_line(demo, cwd):
    spec(cwd, "a.yaml", PASSING)
    env = env_for(demo)
    token = env.pop("API_TOKEN")
    code, out, _ = run_cli(["run", "a.yaml", "--secret", f"tok={token}"], env)
    assert code == 0, out
    assert token not in out


@pytest.mark.parametrize("arg", ["rr-pasted-token-value-7c1d", "=rr-pasted-token-value-7c1d"])
def test_a_secret_flag_without_a_name_never_echoes_the_value(cwd, arg):
    spec(cwd, "a.yaml", PASSING)
    code, out, err = run_cli(["run", "a.yaml", "--secret", arg])
    assert code == 2
    assert "--secret expects NAME=VALUE" in err
    assert "rr-pasted-token-value-7c1d" not in out + err


@pytest.mark.parametrize("path, message", [
    ("", "--json: empty file name"),
    ("r\0.json", "a file name cannot contain a NUL character"),
])
def test_an_impossible_report_path_is_a_usage_error(cwd, path, message):
    spec(cwd, "a.yaml", PASSING)
    code, out, err = run_cli(["run", "a.yaml", "--json", path])
    assert code == 2, out + err
    assert message in err and "internal error" not in err
    assert out == ""  # refused before anything was sent


def test_connection_refused_is_transport_error(cwd):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    spec(cwd, "r.yaml", f"""
        version: 1
        name: refused
        base_url: http://127.0.0.1:{port}
        requests:
          - name: nothing listens
            url: /
    """)
    code, out, _ = run_cli(["run", "r.yaml"])
    assert code == 4
    assert f"127.0.0.1:{port}" in out
    assert "Traceback" not in out


def test_exit_code_precedence_auth_over_transport_over_fail(demo, cwd):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    spec(cwd, "1.yaml", """
        version: 1
        name: fails
        base_url: ${env:API}
        requests:
          - {name: h, url: /health, expect: {status: 500}}
    """)
    spec(cwd, "2.yaml", f"""
        version: 1
        name: refused
        requests:
          - {{name: r, url: "http://127.0.0.1:{port}/"}}
    """)
    assert run_cli(["run", "1.yaml", "2.yaml"], env_for(demo))[0] == 4
    spec(cwd, "3.yaml", PASSING)
    assert run_cli(["run", "1.yaml", "2.yaml", "3.yaml"], env_for(demo, token=CANARY))[0] == 3


def test_unknown_environment_lists_known_ones(cwd):
    write(cwd / "runner.yaml", """
        environments:
          staging: {base_url: "http://127.0.0.1:1"}
          prod: {base_url: "http://127.0.0.1:2"}
    """)
    spec(cwd, "a.yaml", PASSING)
    code, _, err = run_cli(["run", "a.yaml", "--env", "qa"])
    assert code == 2
    assert "qa" in err and "prod" in err and "staging" in err


def test_config_environment_supplies_base_url_and_vars(demo, cwd):
    write(cwd / "runner.yaml", f"""
        vars: {{expected: ok}}
        environments:
          local:
            base_url: {demo.url}
    """)
    spec(cwd, "c.yaml", """
        version: 1
        name: from config
        requests:
          - name: health
            url: /health
            expect: {json: {$.status: "${expected}"}}
    """)
    code, out, _ = run_cli(["run", "c.yaml", "--env", "local"])
    assert code == 0, out


def test_shards_cover_every_file_once(demo, cwd):
    for i in range(7):
        spec(cwd, f"s{i}.yaml", f"""
            version: 1
            name: shard file {i}
            base_url: ${{env:API}}
            requests:
              - {{name: "h{i}", url: /health, auth: none}}
        """)
    seen = []
    for k in (1, 2, 3):
        report = cwd / f"r{k}.json"
        code, out, _ = run_cli(["run", ".", "--shard", f"{k}/3", "--json", str(report)], env_for(demo))
        assert code == 0, out
        seen += [s["path"] for s in json.loads(report.read_text())["specs"]]
    assert sorted(seen) == sorted({*seen}) and len(seen) == 7


def _comparable(report: dict) -> list:
    return [
        (s["path"], [(st["name"], st["outcome"], st["status"]) for st in s["steps"]]) for s in report["specs"]
    ]


def test_parallel_jobs_give_the_same_report_and_order(demo, cwd):
    for i in range(4):
        spec(cwd, f"p{i}.yaml", PASSING.replace("name: pass", f"name: pass {i}"))
    serial, parallel = cwd / "serial.json", cwd / "parallel.json"
    c1, out1, _ = run_cli(["run", ".", "--json", str(serial)], env_for(demo))
    c2, out2, _ = run_cli(["run", ".", "--jobs", "3", "--json", str(parallel)], env_for(demo))
    assert c1 == c2 == 0
    assert _comparable(json.loads(serial.read_text())) == _comparable(json.loads(parallel.read_text()))
    strip = lambda text: [line.split()[0:3] for line in text.splitlines() if line.startswith(("PASS", "FAIL"))]
    assert strip(out1) == strip(out2)


def test_filters_select_requests_and_empty_selection_is_an_error(demo, cwd):
    spec(cwd, "a.yaml", PASSING)
    code, out, _ = run_cli(["run", "a.yaml", "-k", "health"], env_for(demo))
    assert code == 0 and "1 passed" in out
    code, _, err = run_cli(["run", "a.yaml", "-k", "no-such-request"], env_for(demo))
    assert code == 2 and "nothing to run" in err


def test_github_actions_masks_and_annotates(demo, cwd):
    spec(cwd, "a.yaml", PASSING)
    summary = cwd / "step-summary.md"
    summary.write_text("")
    env = env_for(demo, token=CANARY, GITHUB_ACTIONS="true", GITHUB_STEP_SUMMARY=str(summary))
    code, out, _ = run_cli(["run", "a.yaml"], env)
    assert code == 3
    lines = out.splitlines()
    assert lines.count(f"::add-mask::{CANARY}") == 1
    assert any(line.startswith("::error file=a.yaml,line=") for line in lines)
    others = [line for line in lines if not line.startswith("::add-mask::")]
    assert not any(CANARY in line for line in others)
    assert "list pets" in summary.read_text() and CANARY not in summary.read_text()


# ----- the real entry point, in a subprocess ---------------------------------------------


def _subprocess_env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.endswith("_PROXY") and not k.endswith("_proxy")}
    env.update(extra)
    return env


def test_python_dash_m_runner_works_from_another_directory(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "runner", "schema", "spec"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0 and '"$schema"' in proc.stdout


def test_closed_stdout_is_not_an_error(demo, tmp_path):
    for i in range(3):
        spec(tmp_path, f"a{i}.yaml", PASSING)
    proc = subprocess.run(
        f"{sys.executable} -m runner run . | head -1",
        shell=True, cwd=tmp_path, capture_output=True, text=True, timeout=60,
        env=_subprocess_env(**env_for(demo)),
    )
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr
    assert proc.stdout.count("\n") == 1


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupt_writes_valid_reports(demo, silent_server, tmp_path, sig, code):
    spec(tmp_path, "a.yaml", """
        version: 1
        name: slow
        base_url: ${env:API}
        requests:
          - {name: fast, url: /health}
          - {name: hangs, url: "${env:HOLE}/wait", timeout: 60}
          - {name: never sent, url: /health}
    """)
    junit, report = tmp_path / "j.xml", tmp_path / "r.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "runner", "run", "a.yaml", "--junit", str(junit), "--json", str(report)],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=_subprocess_env(**env_for(demo), HOLE=silent_server),
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not (report.exists() and "fast" in report.read_text()):
        time.sleep(0.1)
    time.sleep(0.3)
    started = time.monotonic()
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=20)
    assert time.monotonic() - started < 5
    assert proc.returncode == code, out + err
    assert "Traceback" not in err
    data = json.loads(report.read_text())
    outcomes = {s["name"]: s["outcome"] for s in data["specs"][0]["steps"]}
    assert outcomes == {"fast": "PASS", "hangs": "ERROR", "never sent": "SKIP"}
    assert data["interrupted"] in ("SIGINT", "SIGTERM")
    ET.parse(junit)


def test_demo_passes_and_shows_a_token_refresh(cwd):
    code, out, err = run_cli(["demo"])
    assert code == 0, out + err
    assert "(token refreshed)" in out
    assert "0 failed, 0 auth, 0 errors" in out
    assert "03-login-read.yaml" in out and "04-login-write.yaml" in out
    assert "demo API: 1 login (POST /auth/login)" in out  # two files, one login


def test_demo_auth_failure_showcase_exits_3_with_the_diagnosis(cwd):
    code, out, _ = run_cli(["demo", "--show-auth-failure"])
    assert code == 3
    assert "expired 2 h 14 min ago" in out and "invalid_token" in out


def test_a_report_that_cannot_be_written_is_a_clear_error_not_a_crash(demo, cwd):
    (cwd / "out").mkdir()
    # The secret command replaces the report folder with a file while the run goes on.
    spec(cwd, "a.yaml", """
        version: 1
        name: report folder vanishes
        base_url: ${env:API}
        secrets:
          tok: {command: [sh, -c, "rm -rf out && touch out && echo token-value-123"]}
        auth: {bearer: tok}
        requests:
          - {name: health, url: /health}
    """)
    code, out, err = run_cli(["run", "a.yaml", "--json", "out/r.json"], env_for(demo))
    assert code == 2, out + err
    assert "cannot write report out/r.json" in err
    assert "Traceback" not in err and "internal error" not in err
    assert "1 passed" in out


def test_a_report_path_turned_into_a_folder_mid_run_is_a_clear_error_not_an_abort(demo, cwd):
    # The secret command puts a folder where the report goes (its first, in-progress
    # version is already there), after the run has started.
    spec(cwd, "a.yaml", """
        version: 1
        name: report path becomes a folder
        base_url: ${env:API}
        secrets:
          tok: {command: [sh, -c, "rm -f r.json && mkdir r.json && echo token-value-123"]}
        auth: {bearer: tok}
        requests:
          - {name: health, url: /health}
    """)
    code, out, err = run_cli(["run", "a.yaml", "--json", "r.json"], env_for(demo))
    assert code == 2, out + err
    assert err.count("cannot write report r.json: not a regular file") == 1, err
    assert "1 passed, 0 failed" in out  # the run went on to its summary line


def test_tls_verification_turned_off_in_the_config_is_announced(demo, cwd):
    write(cwd / "runner.yaml", "defaults: {verify: false}\n")
    spec(cwd, "a.yaml", PASSING)
    code, out, _ = run_cli(["run", "a.yaml", "--json", "r.json"], env_for(demo))
    assert code == 0, out
    assert "TLS certificate verification is DISABLED by runner.yaml" in out
    assert any("DISABLED" in w for w in json.loads((cwd / "r.json").read_text())["warnings"])


def test_semantic_and_reference_errors_are_reported_together(cwd):
    spec(cwd, "two.yaml", """
        version: 1
        name: two problems
        requests:
          - name: bad regex
            url: /x
            expect: {body: {matches: "([unclosed"}}
          - name: undefined variable
            url: /pets/${nowhere}
    """)
    code, _, err = run_cli(["validate", "two.yaml"])
    assert code == 2
    assert "two.yaml:6:" in err and "regular expression" in err
    assert "two.yaml:8:" in err and "'nowhere' is not defined" in err
    assert "2 errors; nothing was sent" in err


@pytest.mark.parametrize("debug", [False, True])
def test_a_bug_is_exit_70_with_a_one_line_message_and_no_secret(demo, cwd, monkeypatch, debug):
    """HAZARDS A12: a forced internal error with the token in a local variable."""
    from runner.report import junit

    real_chunks = junit.chunks

    def broken_chunks(run, **kw):
        if run.in_progress:  # the early writes come before the token is resolved
            return real_chunks(run, **kw)
        token = CANARY  # noqa: F841 - a secret in the frame's locals
        raise RuntimeError(f"reporter bug while holding {CANARY}")

    monkeypatch.setattr(junit, "chunks", broken_chunks)
    spec(cwd, "a.yaml", PASSING)
    args = ["run", "a.yaml", "--junit", "j.xml"] + (["--debug"] if debug else [])
    code, out, err = run_cli(args, env_for(demo, token=CANARY))
    assert code == 70
    assert "internal error: RuntimeError" in err and "report" in err
    assert ("Traceback" in err) == debug
    assert CANARY not in out + err


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_bug_mid_run_on_a_terminal_gives_the_cursor_back(demo, cwd, monkeypatch):
    from runner.report import junit

    real_chunks = junit.chunks

    def broken_chunks(run, **kw):
        if run.in_progress:
            return real_chunks(run, **kw)
        raise RuntimeError("reporter bug")

    monkeypatch.setattr(junit, "chunks", broken_chunks)
    spec(cwd, "a.yaml", PASSING)
    code, out, err = run_cli(["run", "a.yaml", "--junit", "j.xml"], env_for(demo, token=CANARY, TERM="xterm"),
                             stdout=_Terminal())
    assert code == 70, out + err
    assert "\x1b[?25l" in out  # the live progress line hid the cursor...
    assert out.rindex("\x1b[?25h") > out.rindex("\x1b[?25l")  # ...and it is shown again


@pytest.mark.parametrize(
    "args, message",
    [
        (["--timeout", "1e308"], "at most 86400 seconds"),
        (["--json", "a.yaml"], "a report would overwrite it"),
        (["--json", "r.out", "--junit", "./r.out"], "name the same file"),
    ],
)
def test_bad_run_options_are_refused_before_anything_is_sent(cwd, args, message):
    spec(cwd, "a.yaml", PASSING)
    code, _, err = run_cli(["run", "a.yaml", *args])
    assert code == 2 and message in err
    assert "pass" in (cwd / "a.yaml").read_text()


def test_a_run_leaves_the_garbage_collector_as_it_found_it(demo, cwd):
    """The console keeps the collector off while loading, freezes what is loaded and makes
    full collections rarer during a run (app._QuietGc): afterwards the collector is on,
    nothing stays frozen and the thresholds are Python's again."""
    import gc

    before = gc.get_threshold()
    spec(cwd, "a.yaml", PASSING)
    code, out, err = run_cli(["run", "a.yaml"], env_for(demo))
    assert code == 0, out + err
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == before
    # a spec that fails to load ends the run while the collector is still off
    spec(cwd, "bad.yaml", "version: 1\nrequests:\n  - url: [\n")
    code, out, err = run_cli(["run", "bad.yaml"], env_for(demo))
    assert code == 2, out + err
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == before


def test_the_process_exits_with_its_output_and_reports_complete(demo, tmp_path):
    """`runner run` as a process (cli.entry_point, which leaves the last garbage collection
    to the OS): every line reaches a pipe, the reports are whole, the exit code is the run's."""
    spec(tmp_path, "a.yaml", PASSING)
    junit, report = tmp_path / "j.xml", tmp_path / "r.json"
    proc = subprocess.run(
        [sys.executable, "-m", "runner", "run", "a.yaml", "--junit", str(junit), "--json", str(report)],
        cwd=tmp_path, capture_output=True, text=True, env=_subprocess_env(**env_for(demo)), timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "3 passed, 0 failed, 0 auth, 0 errors, 0 skipped in" in proc.stdout.rstrip().splitlines()[-1]
    assert len(ET.parse(junit).getroot().findall(".//testcase")) == 3
    assert json.loads(report.read_text())["summary"]["passed"] == 3
