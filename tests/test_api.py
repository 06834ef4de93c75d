"""The library API as a Python user calls it: runner.run and runner.validate (docs/api.md)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import pytest

import runner
from tests.helpers import CANARY, run_cli, write

ROOT = Path(__file__).resolve().parent.parent


def _spec(cwd: Path, name: str, url: str, *requests: str, extra: str = "") -> Path:
    body = "\n".join(f"  - {r}" for r in requests)
    return write(cwd / name, f"version: 1\nname: {Path(name).stem}\nbase_url: {url}\n{extra}requests:\n{body}\n")


def test_run_returns_the_results_and_the_cli_exit_code(cwd, http_server):
    _spec(cwd, "a.yaml", http_server.url, "{name: one, url: /ok}", "{name: two, url: /ok, expect: {status: 500}}")
    seen = []
    result = runner.run(["a.yaml"], on_step=seen.append)
    assert isinstance(result, runner.RunResult)
    assert [(s.name, s.outcome) for s in result.steps] == [("one", runner.Outcome.PASS), ("two", runner.Outcome.FAIL)]
    assert seen == list(result.steps)
    assert result.exit_code == 1 and isinstance(result.exit_code, int)
    assert result.exit_code == run_cli(["run", "a.yaml"])[0]


@pytest.mark.parametrize("request_line, code", [
    ("{name: auth, url: /protected}", 3),
    ("{name: down, url: 'http://127.0.0.1:1/x'}", 4),
    ("{name: fine, url: /ok}", 0),
])
def test_exit_code_matches_the_cli(cwd, http_server, request_line, code):
    _spec(cwd, "a.yaml", http_server.url, request_line,
          extra="secrets:\n  tok: {env: API_TOKEN}\nauth: {bearer: tok}\n")
    environ = {"API_TOKEN": "wrong-token"}
    assert runner.run("a.yaml", environ=environ).exit_code == code
    assert run_cli(["run", "a.yaml"], env=environ)[0] == code


def test_run_prints_nothing_and_writes_nothing(cwd, http_server, capfd):
    _spec(cwd, "a.yaml", http_server.url, "{name: one, url: /ok}", "{name: bad, url: /ok, expect: {status: 404}}")
    handlers = (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM))
    seen = []
    result = runner.run([cwd / "a.yaml"], vars={"unused": 1},
                        on_step=lambda step: seen.append(signal.getsignal(signal.SIGTERM)))
    assert seen == [handlers[1]] * 2  # no handler of its own, even while running
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == handlers
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")
    assert sorted(os.listdir(cwd)) == ["a.yaml"]
    assert result.counts()[runner.Outcome.FAIL] == 1


def test_no_secret_in_any_repr_of_the_result(cwd, http_server):
    _spec(cwd, "a.yaml", http_server.url,
          "{name: echo, url: '/echo?t=${secret:tok}', expect: {status: 500}}",
          "{name: rejected, url: /protected}",
          extra="secrets:\n  tok: {env: API_TOKEN}\nauth: {bearer: tok}\n")
    result = runner.run(["a.yaml"], secrets={"tok": CANARY})
    assert any(r.headers.get("Authorization") == f"Bearer {CANARY}" for r in http_server.received)  # it was sent
    texts = [repr(result), str(result)] + [repr(x) for s in result.specs for x in (s, *s.steps)]
    assert all(CANARY not in t for t in texts)
    assert result.steps[0].response is not None and b"***" in result.steps[0].response.body  # the echo, masked


def test_bad_input_raises_before_anything_is_sent(cwd, http_server):
    write(cwd / "bad.yaml", "version: 1\nrequests:\n  - {url: /ok, expcet: {status: 200}}\n")
    with pytest.raises(runner.SpecError) as info:
        runner.run(["bad.yaml"])
    assert info.value.diagnostics[0].one_line().startswith("bad.yaml:3:")
    with pytest.raises(runner.UsageError):
        runner.run(["missing.yaml"])
    with pytest.raises(runner.UsageError):
        runner.run(["bad.yaml"], env="nowhere")
    assert http_server.received == []


def test_validate_returns_diagnostics_with_positions(cwd):
    write(cwd / "good.yaml", "version: 1\nrequests:\n  - {url: 'http://127.0.0.1:1/'}\n")
    write(cwd / "bad.yaml", "version: 1\nrequests:\n  - url: /x\n    expcet: {status: 200}\n")
    assert runner.validate(["good.yaml"]) == []
    (diag,) = runner.validate(["good.yaml", "bad.yaml"])
    assert isinstance(diag, runner.Diagnostic)
    assert (diag.span.path, diag.span.line, diag.span.column) == ("bad.yaml", 4, 5)
    assert "did you mean 'expect'" in diag.one_line()
    (missing,) = runner.validate("nope.yaml")
    assert missing.span is None and "no such file" in missing.message


def test_twice_in_one_process_and_from_two_threads(cwd, http_server):
    for name, token in (("a", "token-for-a-1234"), ("b", "token-for-b-5678")):
        _spec(cwd, f"{name}.yaml", http_server.url, *[f"{{name: {name}{i}, url: '/echo?n={name}{i}'}}" for i in range(5)],
              extra="secrets:\n  tok: {env: TOK}\nauth: {bearer: tok}\n")
    first = runner.run(["a.yaml"], environ={"TOK": "token-for-a-1234"})
    second = runner.run(["a.yaml"], environ={"TOK": "token-for-a-1234"})
    assert first.exit_code == second.exit_code == 0

    results: dict[str, runner.RunResult] = {}
    errors: list[BaseException] = []

    def call(name: str, token: str) -> None:
        try:
            results[name] = runner.run([f"{name}.yaml"], environ={"TOK": token}, jobs=2)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=call, args=("a", "token-for-a-1234")),
               threading.Thread(target=call, args=("b", "token-for-b-5678"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert [s.name for s in results["a"].steps] == [f"a{i}" for i in range(5)]
    assert [s.name for s in results["b"].steps] == [f"b{i}" for i in range(5)]
    sent = {r.path: r.headers["Authorization"] for r in http_server.received}
    assert {p for p, auth in sent.items() if auth == "Bearer token-for-b-5678"} == {f"/echo?n=b{i}" for i in range(5)}


def test_keyword_and_tags_select_as_the_cli_does(cwd, http_server):
    _spec(cwd, "a.yaml", http_server.url, "{name: list pets, url: /ok, tags: [smoke]}", "{name: delete, url: /ok}")
    assert [s.name for s in runner.run("a.yaml", keyword="pets").steps] == ["list pets"]
    assert [s.name for s in runner.run("a.yaml", tags=["smoke"]).steps] == ["list pets"]


def test_the_docs_example_runs(tmp_path, http_server):
    text = (ROOT / "docs" / "api.md").read_text()
    example = re.search(r"```python\n(import runner\n.*?)```", text, re.S).group(1)
    (tmp_path / "specs").mkdir()
    _spec(tmp_path / "specs", "pets.yaml", http_server.url, "{name: list pets, url: '/ok?limit=${limit}'}")
    env = {k: v for k, v in os.environ.items() if not k.upper().endswith("_PROXY")}
    env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.run([sys.executable, "-c", example], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "PASS list pets" in proc.stdout
    assert [r.path for r in http_server.received] == ["/ok?limit=2"]


def test_the_package_is_typed_and_ships_py_typed(tmp_path):
    assert (ROOT / "runner" / "py.typed").is_file()
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                           "-w", str(tmp_path), str(ROOT)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    (wheel,) = tmp_path.glob("request_runner-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "runner/py.typed" in names
    assert "runner/api.py" in names and "runner/session/run.py" in names


def test_validate_lists_an_unset_env_var_as_a_warning_after_the_errors(cwd):
    write(cwd / "a.yaml", "version: 1\nbase_url: ${env:NOPE_URL}\nrequests:\n  - {url: /x}\n")
    (warning,) = runner.validate("a.yaml", environ={})
    assert warning.title == "warning" and warning.one_line().startswith("a.yaml:2:11: environment variable NOPE_URL")
    assert runner.validate("a.yaml", environ={"NOPE_URL": "http://127.0.0.1:1"}) == []
