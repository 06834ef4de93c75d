"""A run from start to end, as a user runs it: which files run and in what order, reports
written while it goes (and left by a kill), signals and bugs at any moment.

Issue 14 items 16, 17, 18 and 21.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest

from runner.load import schema_text
from tests.helpers import run_cli, write

ROOT = Path(__file__).resolve().parent.parent
NOT_FINISHED = "not run: the run did not finish"


def sub_env(**extra) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.upper().endswith("_PROXY")}
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra)
    return env


def _json_or_none(path: Path):
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return None


def _wait_for(predicate, what: str, seconds: float = 30):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"gave up waiting for {what}")


def _runner(cwd: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "runner", "run", *args], cwd=cwd, env=sub_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


# ------------------------------------------------------------------ 16. reports left by SIGKILL say "in progress"


def test_a_report_left_by_sigkill_says_the_run_did_not_finish(cwd, http_server, silent_server):
    write(cwd / "a.yaml", f"""
        version: 1
        name: killed
        base_url: {http_server.url}
        requests:
          - {{name: fast, url: /ok}}
          - {{name: hangs, url: "{silent_server}/x", timeout: 60}}
          - {{name: never sent, url: /ok}}
    """)
    proc = _runner(cwd, "a.yaml", "--json", "r.json", "--junit", "j.xml", "--summary", "s.md")
    try:
        def fast_passed():
            report = _json_or_none(cwd / "r.json")
            return report and report["specs"][0]["steps"][0]["outcome"] == "PASS"

        _wait_for(fast_passed, "a report where 'fast' passed")
    finally:
        proc.kill()
        proc.communicate(timeout=20)
    assert proc.returncode == -signal.SIGKILL

    report = json.loads((cwd / "r.json").read_text())
    jsonschema.validate(report, json.loads(schema_text("report")))
    assert report["in_progress"] is True
    assert "exit_code" not in report["summary"]  # nothing a CI step could read as 0
    steps = report["specs"][0]["steps"]
    assert [(s["name"], s["outcome"], s["skip_reason"]) for s in steps] == [
        ("fast", "PASS", None), ("hangs", "SKIP", NOT_FINISHED), ("never sent", "SKIP", NOT_FINISHED)]

    cases = {c.get("name"): c for c in ET.parse(cwd / "j.xml").getroot().iter("testcase")}
    assert cases["fast"].find("skipped") is None
    for name in ("hangs", "never sent"):
        assert cases[name].find("skipped").get("message") == NOT_FINISHED
    markdown = (cwd / "s.md").read_text()
    assert "The run has not finished" in markdown
    assert "exit code" not in markdown


def test_reports_are_written_before_the_first_request_is_answered(cwd, silent_server):
    write(cwd / "a.yaml", f"""
        version: 1
        name: first request hangs
        requests:
          - {{name: hangs, url: "{silent_server}/x", timeout: 60}}
    """)
    proc = _runner(cwd, "a.yaml", "--json", "r.json", "--junit", "j.xml")
    try:
        report = _wait_for(lambda: _json_or_none(cwd / "r.json"), "the first report")
        assert (cwd / "j.xml").exists()
    finally:
        proc.kill()
        proc.communicate(timeout=20)
    assert report["in_progress"] is True and "exit_code" not in report["summary"]
    assert [(s["name"], s["outcome"], s["skip_reason"]) for s in report["specs"][0]["steps"]] == [
        ("hangs", "SKIP", NOT_FINISHED)]


def test_a_finished_run_has_its_exit_code_and_is_not_in_progress(cwd, http_server):
    write(cwd / "a.yaml", f"""
        version: 1
        base_url: {http_server.url}
        requests:
          - {{name: fails, url: /ok, expect: {{status: 500}}}}
    """)
    code, _, _ = run_cli(["run", "a.yaml", "--json", "r.json", "--summary", "s.md"])
    assert code == 1
    report = json.loads((cwd / "r.json").read_text())
    jsonschema.validate(report, json.loads(schema_text("report")))
    assert report["in_progress"] is False and report["summary"]["exit_code"] == 1
    assert "The run has not finished" not in (cwd / "s.md").read_text()


def test_the_report_schema_refuses_an_exit_code_while_in_progress():
    schema = json.loads(schema_text("report"))
    doc = {"format": "request-runner-report", "version": 1, "tool": {"name": "request-runner", "version": "x"},
           "started_at": None, "duration_s": 0, "environment": None, "interrupted": None, "in_progress": True,
           "warnings": [], "specs": [],
           "summary": {"passed": 0, "failed": 0, "auth": 0, "errors": 0, "skipped": 0, "total": 0, "exit_code": 0}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, schema)
    del doc["summary"]["exit_code"]
    jsonschema.validate(doc, schema)
    doc["in_progress"] = False
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, schema)


# ------------------------------------------------------------------ 17. which files run, once each, in the order given


def test_run_dot_at_a_project_root_skips_the_config_file(cwd, http_server):
    write(cwd / "runner.yaml", f"base_url: {http_server.url}\nvars: {{who: config}}\n")
    (cwd / "specs").mkdir()
    write(cwd / "specs" / "a.yaml", """
        version: 1
        requests:
          - {name: one, url: "/ok?who=${who}"}
    """)
    code, out, err = run_cli(["run", "."])
    assert code == 0, out + err
    assert "runner.yaml" not in out
    assert [r.path for r in http_server.received] == ["/ok?who=config"]


def test_an_explicit_config_file_inside_the_walked_folder_is_skipped(cwd, http_server):
    (cwd / "conf").mkdir()
    write(cwd / "conf" / "shared.yaml", f"base_url: {http_server.url}\n")
    write(cwd / "conf" / "a.yaml", "version: 1\nrequests:\n  - {name: one, url: /ok}\n")
    code, out, err = run_cli(["run", "conf", "--config", "./conf/../conf/shared.yaml"])
    assert code == 0, out + err
    assert len(http_server.received) == 1


def test_the_same_file_named_twice_runs_once(cwd, http_server):
    write(cwd / "a.yaml", f"version: 1\nbase_url: {http_server.url}\nrequests:\n  - {{name: one, url: /ok}}\n")
    os.symlink(cwd / "a.yaml", cwd / "link.yaml")
    code, out, err = run_cli(["run", "a.yaml", str(cwd / "a.yaml"), "link.yaml", "./a.yaml", "."])
    assert code == 0, out + err
    assert "| 1 spec file" in out
    assert len(http_server.received) == 1


def test_explicit_files_run_in_the_order_given(cwd, http_server):
    for name in ("a", "b", "c"):
        write(cwd / f"{name}.yaml",
              f"version: 1\nname: {name}\nbase_url: {http_server.url}\nrequests:\n  - {{name: {name}, url: /ok?{name}}}\n")
    code, out, err = run_cli(["run", "c.yaml", "a.yaml", "b.yaml", "--json", "r.json"])
    assert code == 0, out + err
    assert [r.path for r in http_server.received] == ["/ok?c", "/ok?a", "/ok?b"]
    assert out.index("== c.yaml") < out.index("== a.yaml") < out.index("== b.yaml")
    assert [s["path"] for s in json.loads((cwd / "r.json").read_text())["specs"]] == ["c.yaml", "a.yaml", "b.yaml"]


def test_a_folder_is_still_walked_in_sorted_order(cwd, http_server):
    (cwd / "d" / "sub").mkdir(parents=True)
    for rel in ("d/z.yaml", "d/sub/m.yaml", "d/a.yaml"):
        write(cwd / rel, f"version: 1\nbase_url: {http_server.url}\nrequests:\n  - {{url: /ok?{Path(rel).stem}}}\n")
    code, _, _ = run_cli(["run", "d"])
    assert code == 0
    assert [r.path for r in http_server.received] == ["/ok?a", "/ok?m", "/ok?z"]


# ------------------------------------------------------------------ 18. --env base_url overridden by a spec's own


def test_an_environment_base_url_that_a_spec_overrides_is_mentioned_once(cwd, http_server):
    write(cwd / "runner.yaml", """
        environments:
          staging: {base_url: "http://user:pw@127.0.0.1:1/api?key=k"}
    """)
    for name in ("a", "b"):
        write(cwd / f"{name}.yaml", f"version: 1\nbase_url: {http_server.url}\nrequests:\n  - {{url: /ok}}\n")
    write(cwd / "c.yaml", "version: 1\nrequests:\n  - {url: /ok, skip: uses the environment}\n")
    code, out, err = run_cli(["run", "a.yaml", "b.yaml", "c.yaml", "--env", "staging"])
    assert code == 0, out + err
    assert out.count("note: environment 'staging' sets base_url") == 1
    line = next(x for x in out.splitlines() if x.startswith("note:"))
    assert "a.yaml, b.yaml set their own base_url" in line and "c.yaml" not in line
    assert "pw" not in line and "key=k" not in line  # shown as the redaction layer shows URLs


def test_no_note_when_the_environment_base_url_is_used(cwd, http_server):
    write(cwd / "runner.yaml", f"environments:\n  local: {{base_url: '{http_server.url}'}}\n")
    write(cwd / "a.yaml", "version: 1\nrequests:\n  - {url: /ok}\n")
    code, out, _ = run_cli(["run", "a.yaml", "--env", "local"])
    assert code == 0
    assert "note:" not in out


# ------------------------------------------------------------------ 21. signals during loading, a worker crash


def _catches_sigterm(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as fh:
            caught = next(line for line in fh if line.startswith("SigCgt:"))
    except (FileNotFoundError, StopIteration):
        return False
    return bool(int(caught.split()[1], 16) & (1 << (signal.SIGTERM - 1)))


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the signal mask from /proc")
def test_sigterm_while_loading_still_writes_the_reports(cwd, http_server):
    # Enough files that loading takes a while; the handler is in place before the first one.
    for f in range(8):
        lines = ["version: 1", f"name: big {f}", f"base_url: {http_server.url}", "requests:"]
        lines += [f"  - {{name: r{i}, url: /ok/{i}}}" for i in range(3000)]
        (cwd / f"big{f}.yaml").write_text("\n".join(lines) + "\n")
    proc = _runner(cwd, ".", "--json", "r.json", "--junit", "j.xml", "--summary", "s.md")
    try:
        _wait_for(lambda: _catches_sigterm(proc.pid) or proc.poll() is not None, "the SIGTERM handler")
        assert not (cwd / "r.json").exists(), "loading finished before the signal could be sent"
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 143, out + err
    assert "Traceback" not in err
    report = json.loads((cwd / "r.json").read_text())
    jsonschema.validate(report, json.loads(schema_text("report")))
    assert report["interrupted"] == "SIGTERM" and report["in_progress"] is False
    assert report["specs"] == [] and report["summary"]["exit_code"] == 143
    assert ET.parse(cwd / "j.xml").getroot().get("tests") == "0"
    assert "Interrupted by SIGTERM" in (cwd / "s.md").read_text()
    assert http_server.received == []


def test_a_worker_crash_still_writes_the_reports(cwd, http_server, monkeypatch):
    """A bug in a worker (exit 70): the reports say what finished and that the run stopped on it."""
    from runner import engine

    real_run_spec = engine.run_spec

    def run_spec(spec, **kw):
        if spec.name == "second":
            raise RuntimeError("a bug in the engine")
        return real_run_spec(spec, **kw)

    monkeypatch.setattr(engine, "run_spec", run_spec)
    for name in ("first", "second"):
        write(cwd / f"{name}.yaml",
              f"version: 1\nname: {name}\nbase_url: {http_server.url}\nrequests:\n  - {{name: {name} request, url: /ok}}\n")
    code, out, err = run_cli(["run", "first.yaml", "second.yaml", "--json", "r.json", "--junit", "j.xml"])
    assert code == 70
    assert "internal error: RuntimeError" in err
    report = json.loads((cwd / "r.json").read_text())
    jsonschema.validate(report, json.loads(schema_text("report")))
    assert report["summary"]["exit_code"] == 70 and report["in_progress"] is False
    first, second = report["specs"]
    assert [s["outcome"] for s in first["steps"]] == ["PASS"]
    assert [(s["outcome"], s["skip_reason"]) for s in second["steps"]] == [
        ("SKIP", "not run: the run stopped on an internal error")]
    ET.parse(cwd / "j.xml")
