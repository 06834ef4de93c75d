"""`runner load` on Locust, for real: subprocesses (gevent's patching stays out of this
process) against the 127.0.0.1 test server, short runs, few users."""

from __future__ import annotations

import csv
import importlib.util
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import CANARY, run_cli, write

ROOT = Path(__file__).resolve().parent.parent
needs_locust = pytest.mark.skipif(importlib.util.find_spec("locust") is None,
                                  reason="Locust not installed (pip install 'request-runner[load]')")


def runner(args: list[str], cwd: Path, env: dict[str, str] | None = None, **kw) -> subprocess.Popen:
    environ = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.Popen([sys.executable, "-m", "runner", *args], cwd=cwd, env=environ, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


def load(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    proc = runner(["load", *args], cwd, env)
    out, err = proc.communicate(timeout=90)
    return proc.returncode, out, err


def rows(path: Path) -> dict[str, dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return {row["Name"]: row for row in csv.DictReader(fh)}


@pytest.fixture
def specs(tmp_path, http_server):
    """Two files: an authenticated one (weight 2; its token from a command that notes each run
    in calls.txt) and one whose second request has no token (a 401)."""
    write(tmp_path / "authed.yaml", f"""
        name: authed
        base_url: {http_server.url}
        weight: 2
        secrets:
          token:
            command: [sh, -c, 'test -n "$API_TOKEN" || exit 1; echo run >> calls.txt; echo "$API_TOKEN"']
        auth:
          bearer: token
        defaults:
          headers: {{X-Worker: "${{worker}}"}}
        vars:
          worker: local
        requests:
          - name: list items
            url: /items
            expect: {{status: 200, json: {{"$.count": 2}}}}
            capture: {{first: "$.items[0].id"}}
          - name: protected
            url: /protected
            expect: {{json: {{"$.user": alice}}}}
        """)
    write(tmp_path / "anonymous.yaml", f"""
        name: anonymous
        base_url: {http_server.url}
        requests:
          - name: ok
            url: /ok
          - name: protected without token
            url: /protected
            auth: none
        """)
    return tmp_path


def _no_canary(*texts: str, folder: Path) -> None:
    for text in texts:
        assert CANARY not in text
    for path in folder.rglob("*"):
        if path.is_file():
            assert CANARY not in path.read_text(encoding="utf-8", errors="replace"), path


@needs_locust
def test_headless_run_names_requests_counts_auth_apart_and_leaks_no_secret(specs, http_server):
    code, out, err = load(["authed.yaml", "anonymous.yaml", "--users", "3", "--spawn-rate", "10",
                           "--run-time", "3s", "--csv", "out/run", "--html", "out/report.html"],
                          specs, {"API_TOKEN": CANARY})
    assert code == 0, err
    stats = rows(specs / "out/run_stats.csv")
    assert {"list items", "protected", "ok", "protected without token", "Aggregated"} <= set(stats)
    assert stats["protected"]["Failure Count"] == "0"  # the token was sent and accepted
    assert stats["list items"]["Failure Count"] == "0"
    anon = stats["protected without token"]
    assert int(anon["Request Count"]) > 0 and anon["Failure Count"] == anon["Request Count"]
    failures = rows(specs / "out/run_failures.csv")
    assert failures["protected without token"]["Error"].startswith("AUTH 401")
    assert set(failures) == {"protected without token"}
    # users finish their pass through the file: the server saw exactly what Locust counted
    assert int(stats["Aggregated"]["Request Count"]) == len(http_server.received)
    assert "protected without token" in (specs / "out/report.html").read_text(encoding="utf-8")
    _no_canary(out, err, folder=specs / "out")
    # the users of a process share its secrets: the command ran once for 2 users of authed.yaml
    assert (specs / "calls.txt").read_text().splitlines() == ["run"]


@needs_locust
def test_thresholds_exceeded_exit_1(specs):
    code, out, err = load(["anonymous.yaml", "--users", "2", "--spawn-rate", "10", "--run-time", "2s",
                           "--max-fail-ratio", "0.01", "--p95-ms", "0.001"], specs)
    assert code == 1, err
    assert "threshold exceeded: failure ratio" in out
    assert "threshold exceeded: 95th percentile" in out


@needs_locust
def test_a_threshold_with_no_request_finished_is_not_met(tmp_path):
    write(tmp_path / "nothing.yaml", """
        base_url: http://127.0.0.1:9
        weight: 1
        requests:
          - name: skipped
            url: /
            skip: not today
        """)
    code, out, err = load(["nothing.yaml", "--run-time", "1s", "--p95-ms", "300"], tmp_path)
    assert code == 1, err
    assert "threshold exceeded: no request finished" in out


@needs_locust
def test_no_checks_keeps_only_the_status(tmp_path, http_server):
    write(tmp_path / "wrong.yaml", f"""
        base_url: {http_server.url}
        requests:
          - name: items
            url: /items
            expect: {{status: 200, json: {{"$.count": 99}}}}
        """)
    code, out, err = load(["wrong.yaml", "--run-time", "2s", "--max-fail-ratio", "0", "--no-checks"], tmp_path)
    assert code == 0, err + out
    assert http_server.requests_to("/items")


@needs_locust
def test_statistics_count_the_size_of_passing_responses(tmp_path, http_server):
    """No report of ours here (no --html): a passing request still brings its response size to Locust."""
    write(tmp_path / "sizes.yaml", f"""
        base_url: {http_server.url}
        requests:
          - name: items
            url: /items
            expect: {{status: 200}}
        """)
    code, out, err = load(["sizes.yaml", "--users", "1", "--run-time", "2s", "--csv", "out/run"], tmp_path)
    assert code == 0, err + out
    items = rows(tmp_path / "out/run_stats.csv")["items"]
    assert int(items["Request Count"]) > 0 and items["Failure Count"] == "0"
    assert float(items["Average Content Size"]) > 0


@needs_locust
def test_bad_spec_exits_2_before_any_user_starts(tmp_path, http_server):
    write(tmp_path / "bad.yaml", f"""
        base_url: {http_server.url}
        requests:
          - name: x
            url: /ok
            bogus: 1
        """)
    code, out, err = load(["bad.yaml", "--run-time", "2s"], tmp_path)
    assert code == 2
    assert "bad.yaml:5:5: unknown key 'bogus'" in err
    assert "Traceback" not in err
    assert http_server.received == []


@needs_locust
def test_missing_secret_exits_3(specs):
    code, out, err = load(["authed.yaml", "--run-time", "5s"], specs)
    assert code == 3
    assert "token" in err and "exited with status 1" in err
    assert "Traceback" not in err


@needs_locust
def test_a_master_and_two_workers_on_127_0_0_1(specs, http_server):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = str(s.getsockname()[1])
    env = {"API_TOKEN": CANARY}
    master = runner(["load", "authed.yaml", "--master", "--expect-workers", "2", "--master-bind-host", "127.0.0.1",
                     "--master-bind-port", port, "--users", "4", "--spawn-rate", "20", "--run-time", "3s",
                     "--csv", "out/dist"], specs, env)
    workers = [runner(["load", "authed.yaml", "--worker", "--master-host", "127.0.0.1", "--master-port", port,
                       "--var", f"worker={name}"], specs, env) for name in ("w1", "w2")]
    try:
        m_out, m_err = master.communicate(timeout=90)
        outputs = [w.communicate(timeout=30) for w in workers]
    finally:
        for proc in (master, *workers):
            if proc.poll() is None:
                proc.kill()
    assert master.returncode == 0, m_err
    assert [w.returncode for w in workers] == [0, 0], outputs
    total = int(rows(specs / "out/dist_stats.csv")["Aggregated"]["Request Count"])
    by_worker = {name: sum(1 for r in http_server.received if r.header("X-Worker") == name) for name in ("w1", "w2")}
    assert by_worker["w1"] > 0 and by_worker["w2"] > 0  # each worker's users reached the server
    assert total == len(http_server.received) == by_worker["w1"] + by_worker["w2"]  # the master's total is their sum
    assert (specs / "calls.txt").read_text().splitlines() == ["run", "run"]  # one login per worker
    _no_canary(m_out, m_err, *(text for pair in outputs for text in pair), folder=specs / "out")


def test_without_locust_load_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "locust", None)  # what find_spec sees when it is not installed
    code, out, err = run_cli(["load", str(tmp_path)])
    assert code == 2
    assert "pip install 'request-runner[load]'" in err


def test_run_never_imports_gevent_or_locust(tmp_path, http_server):
    spec = write(tmp_path / "s.yaml", f"""
        base_url: {http_server.url}
        requests:
          - name: ok
            url: /ok
        """)
    probe = ("import sys\nfrom runner.cli import main\ncode = main(['run', sys.argv[1]])\n"
             "print(code, sorted(m for m in sys.modules if m.split('.')[0] in ('gevent', 'locust')))")
    proc = subprocess.run([sys.executable, "-c", probe, str(spec)], cwd=tmp_path, capture_output=True, text=True,
                          env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT)}, timeout=60)
    assert proc.stdout.strip().splitlines()[-1] == "0 []", proc.stderr
