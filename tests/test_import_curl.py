"""`runner import curl`: a browser's "Copy as cURL" (bash, Windows cmd) -> a spec that validates and runs."""

from __future__ import annotations

import io
import json

import pytest

from helpers import CANARY, run_cli

from runner.cli import main
from runner.importers.curl import decode_ansi_c, tokenize


def _import(tmp_path, command: str, *extra: str) -> tuple[int, str, str]:
    """`runner import curl -o out.yaml` with `command` on stdin."""
    out, err = io.StringIO(), io.StringIO()
    import sys

    old = sys.stdin
    sys.stdin = io.StringIO(command)
    try:
        code = main(["import", "curl", "-o", str(tmp_path / "out.yaml"), *extra], stdout=out, stderr=err, environ={})
    finally:
        sys.stdin = old
    return code, out.getvalue(), err.getvalue()


CHROME_BASH = r"""curl 'URL/echo?limit=2&api_key=CANARY' \
  -H 'accept: application/json' \
  -H 'authorization: Bearer CANARY' \
  -b 'session=CANARY; theme=dark' \
  -H 'content-type: application/json' \
  -H 'sec-ch-ua: "Chromium";v="131"' \
  -H 'x-api-key: CANARY' \
  --data-raw $'{"note":"it\'s ${HOME}\\n","emoji":"\u00e9"}' \
  --compressed --frobnicate
"""


def test_chrome_bash_copy_runs_against_the_server_and_writes_no_credential(tmp_path, http_server):
    command = CHROME_BASH.replace("URL", http_server.url).replace("CANARY", CANARY)
    code, out, err = _import(tmp_path, command)
    assert code == 0, err
    text = (tmp_path / "out.yaml").read_text()
    assert CANARY not in text and CANARY not in out and CANARY not in err
    assert text.startswith("# yaml-language-server: $schema=")
    assert "# TODO: set API_TOKEN before running" in text
    assert "set API_TOKEN before running" in err and "set COOKIE_SESSION before running" in err
    assert "--frobnicate" in err  # unknown flags are listed, not dropped silently
    assert run_cli(["validate", str(tmp_path / "out.yaml")])[0] == 0

    env = {"API_URL": http_server.url, "API_TOKEN": CANARY, "COOKIE_SESSION": f"session={CANARY}",
           "X_API_KEY": CANARY, "API_KEY": CANARY}
    code, out, _ = run_cli(["run", str(tmp_path / "out.yaml")], env=env)
    assert code == 0, out
    sent = http_server.requests_to("/echo")[-1]
    assert sent.method == "POST"
    assert sent.headers["Authorization"] == f"Bearer {CANARY}"
    assert sent.headers["Cookie"] == f"session={CANARY}"
    assert json.loads(sent.body) == {"note": "it's ${HOME}\n", "emoji": "é"}  # $${ written, ${ sent
    assert f"api_key={CANARY}" in sent.path and "limit=2" in sent.path


def test_windows_cmd_copy_with_caret_escapes(tmp_path, http_server):
    command = (
        f'curl "{http_server.url}/echo" ^\n'
        '  -H "accept: application/json" ^\n'
        f'  -H "Authorization: Bearer {CANARY}" ^\n'
        '  -H "content-type: application/json" ^\n'
        '  --data-raw "^{^\\^"name^\\^":^\\^"Rex ^& co^\\^"^}" ^\n'
        "  --compressed\n"
    )
    code, _, err = _import(tmp_path, command)
    assert code == 0, err
    text = (tmp_path / "out.yaml").read_text()
    assert CANARY not in text
    code, out, _ = run_cli(["run", str(tmp_path / "out.yaml")], env={"API_URL": http_server.url, "API_TOKEN": CANARY})
    assert code == 0, out
    assert json.loads(http_server.requests_to("/echo")[-1].body) == {"name": "Rex & co"}


def test_arguments_after_dashes_with_user_form_get_and_url(tmp_path, http_server):
    out_file = tmp_path / "spec.yaml"
    code, out, err = run_cli(["import", "curl", "-o", str(out_file), "--", "curl", "-u", f"alice:{CANARY}",
                              "-G", "--url", f"{http_server.url}/echo", "-d", "q=cats", "-X", "GET"])
    assert code == 0, err
    text = out_file.read_text()
    assert CANARY not in text and CANARY not in err
    assert "API_AUTHORIZATION" in err
    assert "q: cats" in text

    code, out, err = run_cli(["import", "curl", "--", "curl", "-F", "name=Rex", "-F", "photo=@rex.png",
                              f"{http_server.url}/echo"])
    assert code == 0, err
    assert "content: Rex" in out and "photo: rex.png" in out and "method: POST" in out


def test_form_body_and_single_argument_command(tmp_path):
    code, out, err = run_cli(["import", "curl", "--", f"curl http://127.0.0.1:9/login --data-raw 'user=a&password={CANARY}'"])
    assert code == 0, err
    assert "form:" in out and "user: a" in out
    assert CANARY not in out and "PASSWORD" in err


def test_broken_command_writes_nothing_and_exits_2(tmp_path):
    code, _, err = _import(tmp_path, "curl 'http://127.0.0.1:9/x -H 'a: b'")
    assert code == 2 and "curl command" in err and "Traceback" not in err
    assert not (tmp_path / "out.yaml").exists()
    code, _, err = run_cli(["import", "curl", "--", "curl", "-H", "accept: x"])
    assert code == 2 and "no URL" in err
    code, _, err = run_cli(["import", "curl", "--", "curl", "ftp://example.test/file"])
    assert code == 2 and "http(s)" in err


def test_ansi_c_decoding_and_tokenize():
    assert decode_ansi_c(r"a\nb\t\'c\x41\u00e9\\") == "a\nb\t'cAé\\"
    assert tokenize("curl $'a\\'b' 'c d' \"e\\\"f\"") == ["curl", "a'b", "c d", 'e"f']
    assert tokenize('curl "x" ^\n -H "a: ^\\^"b^\\^""') == ["curl", "x", "-H", 'a: "b"']


@pytest.mark.parametrize("args, message", [
    (["-X", "A B", "http://127.0.0.1:9/x"], "is a word"),
    (["http://[::1/x"], "not a valid URL"),
    (["-F", "photo=@", "http://127.0.0.1:9/x"], "no file name after @"),
])
def test_a_command_that_cannot_make_a_valid_spec_exits_2(tmp_path, args, message):
    code, _, err = run_cli(["import", "curl", "-o", str(tmp_path / "out.yaml"), "--", "curl", *args])
    assert code == 2 and message in err and "Traceback" not in err
    assert not (tmp_path / "out.yaml").exists()


def test_a_header_with_an_invalid_name_is_left_out(tmp_path):
    code, out, err = run_cli(["import", "curl", "--", "curl", "-H", "Bad Name: y", "-H", "X-Ok: 1", "http://127.0.0.1:9/"])
    assert code == 0, err
    assert "X-Ok" in out and "Bad Name:" not in out


@pytest.mark.parametrize("command", ["", "  \n"])
def test_an_empty_stdin_says_no_command_was_given(tmp_path, command):
    code, _out, err = _import(tmp_path, command)
    assert code == 2
    assert "no curl command given" in err


def test_a_url_without_a_host_says_so(tmp_path):
    code, _out, err = _import(tmp_path, "curl http:///path")
    assert code == 2
    assert "has no host" in err
