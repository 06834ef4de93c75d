"""The canary sweep (after Hurl's secret.sh): one token through every secret source and every
output at once -- console (-vv, --curl, narrow and wide), stderr, JUnit, JSON, Markdown, HTML --
including when the server echoes it in a header and in the body."""

from __future__ import annotations

import base64
import html
import io
import json
import os
import socket
import sys
import textwrap
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest

from runner.cli import main
from tests.helpers import CANARY

FORMS = {
    "plain": CANARY,
    "url": quote(CANARY, safe=""),
    "url_plus": quote_plus(CANARY),
    "base64": base64.b64encode(CANARY.encode()).decode().rstrip("="),
    "basic": base64.b64encode(f"alice:{CANARY}".encode()).decode().rstrip("="),
}


def _sources(tmp: Path) -> dict[str, str]:
    (tmp / "token.txt").write_text(CANARY + "\n")
    (tmp / ".env").write_text(f"export OTHER=1\nAPI_TOKEN='{CANARY}'\n")
    (tmp / "print_token.py").write_text(f"print({CANARY!r})\n")
    command = json.dumps([sys.executable, "print_token.py"])
    return {
        "env": "{env: LEAK_TOKEN}",
        "file": "{file: token.txt}",
        "dotenv": "{dotenv: .env, key: API_TOKEN}",
        "command": "{command: " + command + "}",
    }


SPEC = """
version: 1
name: leak sweep {kind}
base_url: ${{env:API}}
secrets:
  tok: {source}
auth: {{bearer: tok}}
requests:
  - name: refused token, echoed back by the server
    url: /protected
  - name: server echoes every header
    url: /echo
    query: {{note: "${{secret:tok}}"}}
    headers: {{X-Copy: "prefix ${{secret:tok}} suffix"}}
    json: {{token: "${{secret:tok}}"}}
    expect: {{status: 500, json: {{$.headers.Authorization: "x"}}}}
  - name: api key header, echoed
    url: /echo
    auth: {{header: {{name: X-API-Key, secret: tok}}}}
    expect: {{body: {{contains: nothing-like-this}}}}
  - name: basic auth, echoed
    url: /echo
    auth: {{basic: {{username: alice, password: tok}}}}
    expect: {{status: 201}}
  - name: token in the query of an unreachable host
    url: "http://127.0.0.1:{dead_port}/x?access_token=${{secret:tok}}"
"""


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("kind", ["env", "file", "dotenv", "command", "override"])
@pytest.mark.parametrize("columns", ["40", "200"])
def test_canary_never_leaks(kind, columns, http_server, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    http_server.valid_tokens = {"some-other-token"}  # so /protected answers 401 and echoes ours
    sources = _sources(tmp_path)
    source = sources.get(kind, "{env: UNSET_ON_PURPOSE}")
    (tmp_path / "leak.yaml").write_text(SPEC.format(kind=kind, source=source, dead_port=_dead_port()))
    env = {"PATH": os.environ.get("PATH", ""), "API": http_server.url, "COLUMNS": columns, "LEAK_TOKEN": CANARY}
    args = ["run", "leak.yaml", "-vv", "--curl", "--junit", "j.xml", "--json", "r.json", "--summary", "s.md",
            "--html", "h.html"]
    if kind == "override":
        args += ["--secret", f"tok={CANARY}"]
    out, err = io.StringIO(), io.StringIO()
    code = main(args, stdout=out, stderr=err, environ=env)
    assert code == 3, out.getvalue() + err.getvalue()
    # the server really did receive the canary, so masking is what kept it out of the outputs
    assert any(CANARY in (r.headers.get("Authorization") or "") for r in http_server.received) or kind == "override"
    outputs = {
        "stdout": out.getvalue(),
        "stderr": err.getvalue(),
        "junit": (tmp_path / "j.xml").read_text(),
        "json": (tmp_path / "r.json").read_text(),
        "markdown": (tmp_path / "s.md").read_text(),
        "html": (tmp_path / "h.html").read_text(),
        "html, unescaped": html.unescape((tmp_path / "h.html").read_text()),
    }
    for where, text in outputs.items():
        for form_name, form in FORMS.items():
            assert form not in text, f"{form_name} form of the canary in {where}"
    assert "AUTH" in outputs["stdout"]
    assert "***" in outputs["stdout"]  # the curl export and -vv dumps show the mask


def test_yaml_error_next_to_a_pasted_token_does_not_print_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.yaml").write_text(
        textwrap.dedent(
            f"""
            version: 1
            name: pasted token
            requests:
              - name: a
                url: /x
                headers:
                  Authorization: Bearer {CANARY}
                 broken: [indent
            """
        ).lstrip()
    )
    out, err = io.StringIO(), io.StringIO()
    code = main(["validate", "bad.yaml"], stdout=out, stderr=err, environ={})
    assert code == 2
    assert "bad.yaml:" in err.getvalue()
    assert CANARY not in out.getvalue() + err.getvalue()


def test_schema_error_on_a_secret_value_does_not_print_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.yaml").write_text(
        textwrap.dedent(
            f"""
            version: 1
            name: wrong type
            requests:
              - name: a
                url: /x
                headers: [{CANARY}]
                timeout: {CANARY}
            """
        ).lstrip()
    )
    out, err = io.StringIO(), io.StringIO()
    code = main(["validate", "bad.yaml"], stdout=out, stderr=err, environ={})
    assert code == 2
    assert "bad.yaml:6:" in err.getvalue()
    assert CANARY not in out.getvalue() + err.getvalue()
