"""The pytest plugin as a Python team runs it: `pytest --runner-specs specs/` in a project
of its own (a real pytest in a subprocess), against a real server on 127.0.0.1."""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.helpers import CANARY, write

ROOT = Path(__file__).resolve().parent.parent


def pytest_in(project: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if not k.upper().endswith("_PROXY")
               and k not in ("PYTEST_ADDOPTS", "PYTEST_XDIST_WORKER", "PYTEST_CURRENT_TEST")}
    environ["PYTHONPATH"] = str(ROOT)
    environ.update(env or {})
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args], cwd=project,
                          env=environ, capture_output=True, text=True, timeout=120)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "specs").mkdir()
    return tmp_path


def _pets(project: Path, url: str) -> None:
    write(project / "specs" / "pets.yaml", f"""
        version: 1
        name: pets
        base_url: {url}
        tags: [api]
        secrets:
          tok: {{env: API_TOKEN}}
        requests:
          - name: list
            url: /items
            auth: none
            tags: [smoke]
            capture: {{first: "$.items[0].id"}}
          - name: wrong count
            url: /items
            auth: none
            expect: {{json: {{$.count: 99}}}}
          - name: fetch first
            url: /ok?id=${{first}}
            auth: none
          - name: protected
            url: /protected
            auth: {{bearer: tok}}
          - name: told to skip
            url: /ok
            skip: not today
    """)


def test_each_request_is_an_item_in_file_order_with_the_runner_verdicts(project, http_server):
    _pets(project, http_server.url)
    proc = pytest_in(project, "--runner-specs", "specs", "-v", env={"API_TOKEN": "wrong-token-1234"})
    out = proc.stdout
    assert proc.returncode == 1, out + proc.stderr
    lines = [line for line in out.splitlines() if "specs/pets.yaml::" in line and "%]" in line]
    assert [line.split("::")[1].split()[0:2] for line in lines] == [
        ["list", "PASSED"], ["wrong", "count"], ["fetch", "first"], ["protected", "FAILED"], ["told", "to"]]
    assert "wrong count FAILED" in out and "fetch first PASSED" in out and "told to skip SKIPPED" in out
    assert "expected: 99" in out and "actual:   2" in out  # FAIL: expected vs actual
    assert "AUTH 401: protected" in out and "token 'tok' from env API_TOKEN rejected" in out  # the 401 diagnosis
    assert "Traceback" not in out and "runner/pytest_plugin.py" not in out
    assert "2 failed, 2 passed, 1 skipped" in out


def test_a_failed_capture_skips_the_request_that_needs_it(project, http_server):
    write(project / "specs" / "a.yaml", f"""
        version: 1
        base_url: {http_server.url}
        requests:
          - {{name: create, url: /ok, expect: {{status: 201}}, capture: {{id: "$.id"}}}}
          - {{name: fetch, url: "/ok?id=${{id}}"}}
    """)
    proc = pytest_in(project, "--runner-specs", "specs", "-rs")
    assert proc.returncode == 1
    assert "needs 'id', captured by 'create' which failed" in proc.stdout
    assert "1 failed, 1 skipped" in proc.stdout


def test_k_and_m_select_and_only_the_selected_requests_are_sent(project, http_server):
    _pets(project, http_server.url)
    proc = pytest_in(project, "--runner-specs", "specs", "-m", "smoke", "--strict-markers")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 passed, 4 deselected" in proc.stdout
    assert [r.path for r in http_server.received] == ["/items"]
    http_server.reset()
    proc = pytest_in(project, "--runner-specs", "specs", "-k", "fetch")
    assert "1 skipped, 4 deselected" in proc.stdout  # its capture's request was not selected
    assert http_server.received == []
    proc = pytest_in(project, "--runner-specs", "specs", "-k", "pets and list", "-m", "api")
    assert "1 passed, 4 deselected" in proc.stdout


def test_junitxml_and_the_ini_option(project, http_server):
    _pets(project, http_server.url)
    (project / "pytest.ini").write_text("[pytest]\nrunner_specs = specs\n")
    proc = pytest_in(project, "--junitxml", "out.xml", env={"API_TOKEN": "wrong-token-1234"})
    assert proc.returncode == 1
    suite = ET.parse(project / "out.xml").getroot().find("testsuite")
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("5", "2", "1")
    failure = next(c for c in suite.iter("testcase") if c.get("name") == "protected").find("failure")
    assert "rejected" in failure.text


def test_xdist_loadfile_keeps_each_file_in_order_on_one_worker_and_resolves_secrets_once_per_worker(
        project, http_server):
    counter = project / "resolved"
    for n in range(4):
        write(project / "specs" / f"f{n}.yaml", f"""
            version: 1
            base_url: {http_server.url}
            secrets:
              tok: {{command: [sh, -c, "echo x >> {counter}; echo {CANARY}"]}}
            auth: {{bearer: tok}}
            requests:
              - {{name: first, url: /items, capture: {{id: "$.items[0].id"}}}}
              - {{name: second, url: "/ok?file={n}&id=${{id}}"}}
              - {{name: third, url: "/ok?file={n}&step=3"}}
        """)
    proc = pytest_in(project, "--runner-specs", "specs", "-n", "2", "--dist", "loadfile", "-v")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "12 passed" in proc.stdout
    for n in range(4):  # in order within each file, whatever worker ran it
        paths = [r.path for r in http_server.received if f"file={n}" in r.path]
        assert paths == [f"/ok?file={n}&id=1", f"/ok?file={n}&step=3"]
    workers = {line.split("]")[0] for line in proc.stdout.splitlines() if line.startswith("[gw")}
    assert 1 <= len(counter.read_text().split()) <= len(workers) <= 2  # once per worker process

    counter.unlink()
    proc = pytest_in(project, "--runner-specs", "specs")
    assert proc.returncode == 0 and len(counter.read_text().split()) == 1  # once for the whole session


def test_hazard_85_no_secret_with_locals_verbose_and_long_tracebacks(project, http_server):
    write(project / "specs" / "leak.yaml", f"""
        version: 1
        base_url: {http_server.url}
        secrets:
          tok: {{env: API_TOKEN}}
        auth: {{bearer: tok}}
        requests:
          - {{name: echo fails, url: "/echo?t=${{secret:tok}}", expect: {{status: 500, body: {{contains: nope}}}}}}
          - {{name: rejected, url: /protected, auth: {{header: {{name: X-Api-Key, secret: tok}}}}}}
          - {{name: down, url: "http://127.0.0.1:1/?t=${{secret:tok}}"}}
    """)
    proc = pytest_in(project, "--runner-specs", "specs", "-l", "-vv", "--tb=long", "-rA", "--junitxml", "j.xml",
                     env={"API_TOKEN": CANARY})
    assert proc.returncode == 1
    assert "3 failed" in proc.stdout
    assert any(CANARY in r.headers.get("Authorization", "") for r in http_server.received)  # it was sent
    for text in (proc.stdout, proc.stderr, (project / "j.xml").read_text()):
        assert CANARY not in text


def test_an_invalid_spec_is_a_collection_error_with_its_position(project):
    write(project / "specs" / "bad.yaml", "version: 1\nrequests:\n  - url: /x\n    expcet: {status: 200}\n")
    proc = pytest_in(project, "--runner-specs", "specs")
    assert proc.returncode == 2
    assert "specs/bad.yaml:4:5: unknown key 'expcet'" in proc.stdout
    assert "Traceback" not in proc.stdout and "pytest_plugin.py" not in proc.stdout


def test_a_missing_runner_specs_path_is_a_usage_error(project):
    proc = pytest_in(project, "--runner-specs", "nope")
    assert proc.returncode == 4
    assert "--runner-specs nope: no such file or directory" in proc.stderr


def test_inactive_unless_asked(project, http_server):
    _pets(project, http_server.url)
    proc = pytest_in(project)
    assert proc.returncode == 5  # no tests collected: spec files are not tests unless asked
    assert http_server.received == []


def test_each_file_keeps_its_own_openapi_contract(project, http_server):
    for name, required in (("loose", []), ("strict", ["missing"])):
        write(project / "specs" / f"{name}.openapi.json", f"""
            {{"openapi": "3.1.0", "info": {{"title": "t", "version": "1"}},
             "paths": {{"/ok": {{"get": {{"responses": {{"200": {{"description": "ok",
               "content": {{"application/json": {{"schema": {{"type": "object", "required": {required!r}}}}}}}}}}}}}}}}}}}
        """.replace("'", '"'))
        write(project / "specs" / f"{name}.yaml", f"""
            version: 1
            base_url: {http_server.url}
            openapi: {name}.openapi.json
            requests:
              - {{name: {name} ok, url: /ok}}
        """)
    proc = pytest_in(project, "--runner-specs", "specs", "-rf")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "1 failed, 1 passed" in proc.stdout
    assert "FAILED specs/strict.yaml::strict ok" in proc.stdout


def test_a_tag_pytest_cannot_name_as_a_marker_is_a_keyword_and_strict_markers_still_collects(project, http_server):
    write(project / "specs" / "t.yaml", f"""
        base_url: {http_server.url}
        requests:
          - name: list
            url: /items
            tags: ["team:pets", "smoke"]
        """)
    proc = pytest_in(project, "--runner-specs", "specs", "--strict-markers", "-k", "team:pets", "-W", "error")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 passed" in proc.stdout


def test_tags_pytest_refuses_as_markers_are_keywords_and_marker_tags_still_select(project, http_server):
    """`_private` (pytest.mark refuses a leading `_`) and ` spaced` (not what a `markers` line
    registers) would break collection or --strict-markers as markers: they are `-k` keywords."""
    write(project / "specs" / "t.yaml", f"""
        base_url: {http_server.url}
        requests:
          - name: hidden
            url: /items
            tags: ["_private"]
          - name: spaced
            url: /ok
            tags: [" spaced", "smoke-test"]
        """)
    proc = pytest_in(project, "--runner-specs", "specs", "--strict-markers", "-W", "error", "-k", "_private")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 passed, 1 deselected" in proc.stdout
    proc = pytest_in(project, "--runner-specs", "specs", "--strict-markers", "-W", "error", "-v", "-m", "smoke-test")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "specs/t.yaml::spaced PASSED" in proc.stdout and "1 passed, 1 deselected" in proc.stdout
    proc = pytest_in(project, "--runner-specs", "specs", "--strict-markers", "-W", "error")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 passed" in proc.stdout
