"""`--curl` writes secrets as `${PLACEHOLDERS}`, found before the shell escaping (issue 14 item 1).

In 0.1 the arguments were escaped first, so `Xy7$kLm9`Qw` became `Xy7\\$kLm9\\`Qw` and
was no longer recognised: it was printed on the console, in JUnit <system-out> and in
the JSON `curl` field. Here the printed command is also run by a real shell and curl
against the server on 127.0.0.1: with the placeholders set in its environment it must
send exactly what the runner sent.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import xml.etree.ElementTree as ET
from urllib.parse import unquote

import pytest

from tests.helpers import run_cli, write

TOK = "Xy7$kLm9`Qw"
PASSWORD = 'p4$$ "w\\0rd" `x` \'q\''

SPEC = """\
version: 1
name: curl export
base_url: ${env:API}
secrets:
  tok: {env: TOK}
  pw: {env: PW}
requests:
  - name: bearer
    url: /echo
    auth: {bearer: tok}
  - name: basic
    url: /echo
    auth: {basic: {username: "al$ice", password: pw}}
  - name: headers and body
    method: POST
    url: /echo
    headers: {X-Copy: "a ${secret:pw} b"}
    json: {token: "${secret:tok}", note: "cost: $5 `date`"}
  - name: in the URL, where it is sent percent-encoded
    url: /reflect/${secret:tok}?q=${secret:pw}
"""


def curl_lines(stdout: str) -> list[str]:
    return [line.strip()[2:] for line in stdout.splitlines() if line.strip().startswith("$ curl ")]


@pytest.fixture
def ran(cwd, http_server):
    write(cwd / "spec.yaml", SPEC)
    env = {"API": http_server.url, "TOK": TOK, "PW": PASSWORD}
    code, out, err = run_cli(["run", "spec.yaml", "--curl", "--junit", "j.xml", "--json", "r.json"], env=env)
    assert code == 0, out + err
    return cwd, out, http_server


def test_secret_with_shell_characters_is_a_placeholder_everywhere(ran):
    cwd, out, _server = ran
    lines = curl_lines(out)
    assert len(lines) == 4
    assert '-H "Authorization: Bearer ${TOK}"' in lines[0]
    assert '-u "al\\$ice:${PW}"' in lines[1]
    assert '-H "X-Copy: a ${PW} b"' in lines[2]
    assert '\\"token\\": \\"${TOK}\\"' in lines[2] and "cost: \\$5 \\`date\\`" in lines[2]
    # the URL is shown as sent (`%60` for the backtick): an encoded form is masked, not a placeholder
    assert '/reflect/***?q=***"' in lines[3]
    junit_out = "".join(el.text or "" for el in ET.parse(cwd / "j.xml").iter("system-out"))
    json_curls = [s["curl"] for s in json.loads((cwd / "r.json").read_text())["specs"][0]["steps"]]
    assert json_curls == lines
    for text in (out, junit_out, (cwd / "j.xml").read_text(), (cwd / "r.json").read_text(), *json_curls):
        for secret in (TOK, PASSWORD):
            escaped = secret.replace("\\", "\\\\").replace('"', '\\"').replace("`", "\\`").replace("$", "\\$")
            assert secret not in text and escaped not in text
    assert "Bearer ${TOK}" in junit_out


@pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")
def test_printed_command_sends_what_the_runner_sent(ran):
    _cwd, out, server = ran
    sent_by_runner = list(server.received)[:3]
    server.reset()
    env = {"PATH": os.environ.get("PATH", ""), "TOK": TOK, "PW": PASSWORD}
    for line in curl_lines(out)[:3]:  # the fourth has *** in its URL
        result = subprocess.run(["sh", "-c", line + " --silent --show-error"], env=env, capture_output=True,
                                timeout=30, stdin=subprocess.DEVNULL)
        assert result.returncode == 0, result.stderr
    sent_by_curl = list(server.received)
    assert len(sent_by_curl) == len(sent_by_runner) == 3
    for ours, theirs in zip(sent_by_runner, sent_by_curl):
        assert theirs.method == ours.method
        # curl sends a URL as written, requests percent-encodes the backtick: the same path
        assert unquote(theirs.path) == unquote(ours.path)
        assert theirs.body == ours.body
        for name in ("Authorization", "X-Copy", "Content-Type"):
            assert theirs.header(name) == ours.header(name), name
    assert sent_by_curl[0].header("Authorization") == f"Bearer {TOK}"


def test_secret_name_that_is_not_a_shell_name(cwd, http_server):
    write(cwd / "spec.yaml", """\
        version: 1
        name: odd name
        base_url: ${env:API}
        secrets:
          pets-token: {file: tok.txt}
        requests:
          - {name: a, url: /echo, auth: {bearer: pets-token}}
        """)
    write(cwd / "tok.txt", "tok-from-file-42\n")
    code, out, err = run_cli(["run", "spec.yaml", "--curl"], env={"API": http_server.url})
    assert code == 0, out + err
    assert '-H "Authorization: Bearer ${PETS_TOKEN}"' in out
    assert "tok-from-file-42" not in out
