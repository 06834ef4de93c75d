"""`runner import` fed hostile input: an invalid header name holding a token is never quoted,
and a value a spec cannot hold (control character, invalid UTF-8, lone surrogate) is a clear
usage error (exit 2) that names the request and field, with nothing written and no traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import CANARY, run_cli

ROOT = Path(__file__).resolve().parent.parent


def _har(headers: list[dict], url: str = "http://127.0.0.1:9/api") -> dict:
    entry = {"_resourceType": "fetch",
             "request": {"method": "GET", "url": url, "headers": headers},
             "response": {"status": 200, "content": {"mimeType": "application/json"}}}
    return {"log": {"version": "1.2", "entries": [entry]}}


def _postman(request: dict) -> dict:
    return {"info": {"name": "x"}, "item": [{"name": "a", "request": request}]}


def _no_canary(tmp_path: Path, *texts: str) -> str:
    written = "".join(p.read_text() for p in tmp_path.rglob("*.yaml"))
    for text in (*texts, written):
        assert CANARY not in text
    return written


def _runner(args: list, stdin: bytes = b"") -> subprocess.CompletedProcess:
    """`python -m runner ARGS` in a process of its own: argv and stdin as raw bytes, as a shell gives them."""
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT), "LC_ALL": "C.UTF-8"}
    return subprocess.run([sys.executable, "-m", "runner", *args], input=stdin, capture_output=True, env=env,
                          cwd=ROOT, check=False)


# --- 1. an invalid header name is counted, never quoted -------------------------------------------

PASTED = f"Authorization: Bearer {CANARY}"      # a whole header pasted into the name field
SPACED = f"authorization bearer {CANARY}"


@pytest.mark.parametrize("name", [PASTED, SPACED, f":authority bearer {CANARY}"])
def test_har_invalid_header_name_is_counted_not_quoted(tmp_path, name):
    source = tmp_path / "in.har"
    source.write_text(json.dumps(_har([{"name": name, "value": "x"}, {"name": "sec-fetch-mode", "value": "cors"},
                                       {"name": "X-Ok", "value": "1"}])))
    code, out, err = run_cli(["import", "har", str(source), "-o", str(tmp_path / "out")])
    assert code == 0, err
    written = _no_canary(tmp_path, out, err)
    assert "1 header(s) with an invalid name left out" in written
    assert "Browser headers left out: sec-fetch-mode." in written  # the note keeps real browser headers only
    assert "X-Ok" in written
    assert run_cli(["validate", str(tmp_path / "out")])[0] == 0


@pytest.mark.parametrize("header", [f"{SPACED}: x", f"Bearer {CANARY} (x): x"])
def test_curl_invalid_header_name_is_counted_not_quoted(tmp_path, header):
    code, out, err = run_cli(["import", "curl", "--", "curl", "http://127.0.0.1:9/", "-H", header, "-H", "X-Ok: 1"])
    assert code == 0, err
    _no_canary(tmp_path, out, err)
    assert "1 header(s) with an invalid name left out" in out and "X-Ok" in out
    assert "Browser headers left out" not in out


def test_postman_invalid_header_name_is_counted_not_quoted(tmp_path):
    source = tmp_path / "c.json"
    request = {"method": "GET", "url": "http://127.0.0.1:9/",
               "header": [{"key": PASTED, "value": "v"}, {"key": SPACED, "value": "v"}, {"key": "X-Ok", "value": "1"}]}
    source.write_text(json.dumps(_postman(request)))
    code, out, err = run_cli(["import", "postman", str(source), "-o", str(tmp_path / "out")])
    assert code == 0, err
    written = _no_canary(tmp_path, out, err)
    assert "TODO: 2 header(s) with an invalid name left out" in written and "X-Ok" in written
    assert run_cli(["validate", str(tmp_path / "out")])[0] == 0


def test_postman_api_key_auth_with_an_invalid_header_name_is_not_quoted(tmp_path):
    source = tmp_path / "c.json"
    auth = {"type": "apikey", "apikey": [{"key": "key", "value": PASTED}, {"key": "value", "value": "v"}]}
    source.write_text(json.dumps(_postman({"method": "GET", "url": "http://127.0.0.1:9/", "auth": auth})))
    code, out, err = run_cli(["import", "postman", str(source), "-o", str(tmp_path / "out")])
    assert code == 0, err
    written = _no_canary(tmp_path, out, err)
    assert "API key auth has an invalid header name" in written
    assert run_cli(["validate", str(tmp_path / "out")])[0] == 0


# --- 2. what a spec cannot hold: exit 2, the request and field named, no value quoted -----------

def _refused(tmp_path: Path, code: int, out: str, err: str, *words: str) -> None:
    assert code == 2, err
    assert "internal error" not in err and "Traceback" not in err and "--debug" not in err
    for word in words:
        assert word in err
    assert not list(tmp_path.rglob("*.yaml")) and out == ""
    _no_canary(tmp_path, out, err)


def test_curl_control_character_in_a_header_value(tmp_path):
    code, out, err = run_cli(["import", "curl", "-o", str(tmp_path / "out"), "--", "curl", "http://127.0.0.1:9/",
                              "-H", f"X-A: {CANARY}\x01b"])
    _refused(tmp_path, code, out, err, "request 1", "'X-A'", "control character")


def test_har_newline_in_a_header_value(tmp_path):
    source = tmp_path / "in.har"
    source.write_text(json.dumps(_har([{"name": "X-A", "value": f"{CANARY}\nb"}])))
    code, out, err = run_cli(["import", "har", str(source), "-o", str(tmp_path / "out")])
    _refused(tmp_path, code, out, err, "request 1", "'X-A'", "control character")


def test_postman_control_character_in_a_header_value(tmp_path):
    source = tmp_path / "c.json"
    request = {"method": "GET", "url": "http://127.0.0.1:9/", "header": [{"key": "X-A", "value": f"{CANARY}\u0001b"}]}
    source.write_text(json.dumps(_postman(request)))
    code, out, err = run_cli(["import", "postman", str(source), "-o", str(tmp_path / "out")])
    _refused(tmp_path, code, out, err, "request 1", "'X-A'", "control character")


def test_postman_lone_surrogate_in_the_url(tmp_path):
    source = tmp_path / "c.json"
    # json.dumps writes the surrogate as the escape \ud800, as a hand-edited or broken export holds it
    source.write_text(json.dumps(_postman({"method": "GET", "url": f"http://127.0.0.1:9/{CANARY}\ud800"})))
    code, out, err = run_cli(["import", "postman", str(source), "-o", str(tmp_path / "out")])
    assert code == 2, err
    assert "internal error" not in err and "Traceback" not in err and "not valid text" in err
    _no_canary(tmp_path, out, err)


def test_har_lone_surrogate_in_a_header_value(tmp_path):
    source = tmp_path / "in.har"
    source.write_text(json.dumps(_har([{"name": "X-A", "value": "a\udc80"}])))
    code, out, err = run_cli(["import", "har", str(source), "-o", str(tmp_path / "out")])
    assert code == 2, err
    assert "internal error" not in err and "Traceback" not in err and "not valid" in err


def test_curl_invalid_utf8_on_stdin(tmp_path):
    done = _runner(["import", "curl", "-o", str(tmp_path / "out")], stdin=b"\xff\xfe curl http://127.0.0.1:9/")
    err = done.stderr.decode("utf-8", "replace")
    assert done.returncode == 2, err
    assert "not valid UTF-8" in err and "stdin" in err and "Traceback" not in err
    assert not list(tmp_path.rglob("*.yaml"))


def test_curl_invalid_utf8_in_argv(tmp_path):
    done = _runner(["import", "curl", "-o", str(tmp_path / "out"), "--", "curl", b"http://127.0.0.1:9/\xff"])
    err = done.stderr.decode("utf-8", "replace")
    assert done.returncode == 2, err
    assert "not valid UTF-8" in err and "Traceback" not in err
    assert not list(tmp_path.rglob("*.yaml"))


def test_import_accepts_debug(tmp_path):
    """The internal-error hint says "run again with --debug": every import kind takes it."""
    code, out, err = run_cli(["import", "curl", "--debug", "--", "curl", "http://127.0.0.1:9/"])
    assert code == 0, err
    assert "url: /" in out
    source = tmp_path / "c.json"
    source.write_text(json.dumps(_postman({"method": "GET", "url": "http://127.0.0.1:9/"})))
    code, out, err = run_cli(["import", "postman", str(source), "--debug"])
    assert code == 0, err


def test_a_spec_that_would_not_load_is_a_usage_error_that_quotes_nothing(tmp_path):
    """The net behind the sanitizing step: exit 2 (not an internal error), the line, no value."""
    from runner.errors import UsageError
    from runner.importers.command import _check

    text = f"version: 1\nname: x\nrequests:\n- name: a\n  method: GET\n  url: /\n  headers: {{'{CANARY} x': v}}\n"
    with pytest.raises(UsageError) as caught:
        _check(text, str(tmp_path / "x.yaml"))
    assert "does not load" in caught.value.message and "line" in caught.value.message
    assert CANARY not in caught.value.message
