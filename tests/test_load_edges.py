"""`runner load` at its edges, for real (subprocesses, the 127.0.0.1 test server): a master
whose workers do not all come, a worker given the master's report flags, and the same
request name in two files."""

from __future__ import annotations

import socket

from tests.helpers import write
from tests.test_load import load, needs_locust, rows, runner


def _free_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return str(s.getsockname()[1])


def _ok_spec(folder, http_server, name: str = "ok.yaml", request: str = "ok") -> None:
    folder.mkdir(exist_ok=True)
    write(folder / name, f"""
        base_url: {http_server.url}
        requests:
          - name: {request}
            url: /ok
        """)


@needs_locust
def test_a_master_gives_up_when_its_workers_do_not_all_come(tmp_path, http_server):
    _ok_spec(tmp_path, http_server)
    port = _free_port()
    master = runner(["load", "ok.yaml", "--master", "--expect-workers", "2", "--expect-workers-max-wait", "3s",
                     "--master-bind-host", "127.0.0.1", "--master-bind-port", port, "--run-time", "5s"], tmp_path)
    worker = runner(["load", "ok.yaml", "--worker", "--master-host", "127.0.0.1", "--master-port", port], tmp_path)
    try:
        m_out, m_err = master.communicate(timeout=60)
        w_out, w_err = worker.communicate(timeout=30)  # the master told the one that came to stop
    finally:
        for proc in (master, worker):
            if proc.poll() is None:
                proc.kill()
    assert master.returncode == 4, m_err
    assert ("error: 1 of the 2 workers expected (--expect-workers) connected within 3 s "
            "(--expect-workers-max-wait); nothing was run") in m_err
    assert "Traceback" not in m_err + w_err
    assert worker.returncode == 0, w_err
    assert http_server.received == []


@needs_locust
def test_expect_workers_max_wait_must_be_a_duration(tmp_path, http_server):
    _ok_spec(tmp_path, http_server)
    code, out, err = load(["ok.yaml", "--master", "--expect-workers-max-wait", "soon"], tmp_path)
    assert code == 2
    assert "--expect-workers-max-wait: expected a duration like 30s, 2m or 1h30m, got 'soon'" in err


@needs_locust
def test_a_worker_refuses_the_masters_report_flags(tmp_path, http_server):
    _ok_spec(tmp_path, http_server)
    for flags in (["--csv", "out/run"], ["--html", "out/report.html"]):
        code, out, err = load(["ok.yaml", "--worker", "--master-port", _free_port(), *flags], tmp_path)
        assert code == 2, err
        assert "error: --html and --csv are the master's: a worker sends its statistics to the master" in err
        assert "Traceback" not in err
    assert not (tmp_path / "out").exists()
    assert http_server.received == []


@needs_locust
def test_the_same_request_name_in_two_files_gets_a_row_per_file(tmp_path, http_server):
    _ok_spec(tmp_path, http_server, "pets.yaml", "list")
    _ok_spec(tmp_path, http_server, "owners.yaml", "list")
    write(tmp_path / "health.yaml", f"""
        base_url: {http_server.url}
        requests:
          - name: ping
            url: /ok
        """)
    write(tmp_path / "off.yaml", f"""
        base_url: {http_server.url}
        weight: 0
        requests:
          - name: ping
            url: /ok
        """)
    code, out, err = load(["pets.yaml", "owners.yaml", "health.yaml", "off.yaml", "--users", "3", "--spawn-rate", "30",
                           "--run-time", "2s", "--csv", "out/run"], tmp_path)
    assert code == 0, err
    stats = rows(tmp_path / "out/run_stats.csv")
    # a name in one file stays as is (off.yaml, weight 0, runs no user: its 'ping' is no other row)
    assert set(stats) == {"pets: list", "owners: list", "ping", "Aggregated"}
    assert all(int(stats[name]["Request Count"]) > 0 for name in ("pets: list", "owners: list", "ping"))


@needs_locust
def test_files_with_the_same_stem_are_told_apart_by_their_path(tmp_path, http_server):
    _ok_spec(tmp_path / "v1", http_server, "pets.yaml", "list")
    _ok_spec(tmp_path / "v2", http_server, "pets.yaml", "list")
    code, out, err = load(["v1", "v2", "--users", "2", "--spawn-rate", "20", "--run-time", "2s", "--csv", "out/run"],
                          tmp_path)
    assert code == 0, err
    assert set(rows(tmp_path / "out/run_stats.csv")) == {"v1/pets.yaml: list", "v2/pets.yaml: list", "Aggregated"}


@needs_locust
def test_p95_ms_and_spawn_rate_are_plain_positive_numbers_not_capped_seconds(tmp_path, http_server):
    """--p95-ms is milliseconds and --spawn-rate users per second: the cap of a day in seconds
    (--timeout's) refused --p95-ms 100000, with a message about seconds."""
    _ok_spec(tmp_path, http_server)
    code, out, err = load(["ok.yaml", "--run-time", "1s", "--spawn-rate", "100000", "--p95-ms", "100000"], tmp_path)
    assert code == 0, err
    assert "threshold exceeded" not in out
    for flag, value, message in (("--p95-ms", "0", "must be a positive number, got '0'"),
                                 ("--p95-ms", "nan", "must be a positive number, got 'nan'"),
                                 ("--spawn-rate", "fast", "expected a positive number, got 'fast'")):
        code, out, err = load(["ok.yaml", "--run-time", "1s", flag, value], tmp_path)
        assert code == 2 and message in err and "seconds" not in err, err
