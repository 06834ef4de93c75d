"""Every importer, fed a canary credential in every place it can carry one (HAZARDS 82): the
written YAML and the console hold none of it, and every spec written passes `runner validate`."""

from __future__ import annotations

import base64
import json

import pytest
from helpers import CANARY, run_cli
from test_import_har import har_of
from test_import_postman import collection

B64 = base64.b64encode(f"alice:{CANARY}".encode()).decode()

CURL_COMMANDS = [
    ["curl", f"http://127.0.0.1:9/a?token={CANARY}&q=1", "-H", f"Authorization: Bearer {CANARY}"],
    ["curl", "http://127.0.0.1:9/a", "-H", f"Authorization: Basic {B64}", "-b", f"sid={CANARY}"],
    ["curl", "http://127.0.0.1:9/a", "-u", f"alice:{CANARY}", "--proxy", f"http://u:{CANARY}@proxy", f"--frob={CANARY}"],
    ["curl", f"http://alice:{CANARY}@127.0.0.1:9/a", "--oauth2-bearer", CANARY, "-H", CANARY],
    ["curl", "http://127.0.0.1:9/a", "-H", f"X-Api-Key: {CANARY}", "-H", f"x-csrf-token: {CANARY}",
     "--data-raw", json.dumps({"user": "a", "password": CANARY, "nested": {"access_token": CANARY}})],
    ["curl", "http://127.0.0.1:9/a", "-H", f"Authorization: Token {CANARY}", "-d", f"client_secret={CANARY}&x=1"],
]


def _check(tmp_path, code: int, out: str, err: str) -> None:
    assert code == 0, err
    written = "".join(p.read_text() for p in tmp_path.rglob("*.yaml"))
    for text in (out, err, written):
        assert CANARY not in text and B64 not in text
    if written:
        code, report, verr = run_cli(["validate", str(tmp_path / "out")])
        assert code == 0, report + verr
    else:
        (tmp_path / "stdout.yaml").write_text(out)
        code, report, verr = run_cli(["validate", str(tmp_path / "stdout.yaml")])
        assert code == 0, report + verr


@pytest.mark.parametrize("argv", CURL_COMMANDS, ids=range(len(CURL_COMMANDS)))
def test_curl_canary(tmp_path, argv):
    _check(tmp_path, *run_cli(["import", "curl", "-o", str(tmp_path / "out"), "--", *argv]))


def test_curl_canary_on_stdout(tmp_path):
    _check(tmp_path, *run_cli(["import", "curl", "--", *CURL_COMMANDS[4]]))


def test_har_canary(tmp_path):
    doc = har_of("http://127.0.0.1:9")
    doc["log"]["entries"][3]["request"]["headers"].append({"name": "x-api-key", "value": CANARY})
    (tmp_path / "in.har").write_text(json.dumps(doc))
    _check(tmp_path, *run_cli(["import", "har", str(tmp_path / "in.har"), "-o", str(tmp_path / "out")]))


def test_postman_canary(tmp_path):
    doc = collection("http://127.0.0.1:9")
    doc["variable"].append({"key": "apiKey", "value": CANARY})  # named like a credential, not marked secret
    doc["item"][0]["request"]["header"] = [{"key": "Authorization", "value": f"Basic {B64}"}]
    doc["item"][0]["request"]["url"] = f"{{{{baseUrl}}}}/ok?access_token={CANARY}"
    (tmp_path / "in.json").write_text(json.dumps(doc))
    _check(tmp_path, *run_cli(["import", "postman", str(tmp_path / "in.json"), "-o", str(tmp_path / "out")]))


def test_openapi_fixture_validates(tmp_path):
    pytest.importorskip("runner.openapi", reason="the OpenAPI document loader (runner/openapi/) is not in this checkout yet")
    from test_import_openapi import LIBRARY

    (tmp_path / "doc.json").write_text(json.dumps(LIBRARY))
    _check(tmp_path, *run_cli(["import", "openapi", str(tmp_path / "doc.json"), "-o", str(tmp_path / "out")]))
