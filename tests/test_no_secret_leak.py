r"""The canary sweep (after Hurl's secret.sh): one token through every secret source and every
output at once -- console (-v, -vv, --curl, narrow and wide), stderr, JUnit, JSON, Markdown,
GitHub annotations and step summary, HTML, error messages -- including when the server echoes it
in a header, in the body and in the path it received.

Besides a plain canary, hostile ones: characters the shell, URLs, JSON, XML and HTML escape
(`$ ` " ' % / + space \`), a valid percent escape, latin-1 letters, a 200-character value."""

from __future__ import annotations

import base64
import html
import io
import json
import os
import socket
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
import requests

from runner.cli import main
from tests.helpers import CANARY

HOSTILE = {
    "plain": CANARY,
    "curl": "Xy7$kLm9`Qw",  # issue 14 item 1: printed shell-escaped by --curl in 0.1
    "shell": 'rr$C`a"n\'a%r/y+ \\Z9',
    "escape": "rr-%41%2f-CANARY",
    "latin1": "rr-ünïcödé-ßÉ-CANARY",
    "long": "rr-" + "".join("aB3$%/+ -_~"[i % 11] + "kQz7Wm"[i % 6] for i in range(99))[:197],
}
assert len(HOSTILE["long"]) == 200


def wire_forms(canary: str) -> dict[str, str]:
    """The forms a value takes on the wire and in echoes, as requests itself produces them."""
    prepared = requests.Request(
        "POST", f"http://h/p/{canary}", params=[("q", canary)], data=[("f", canary)]
    ).prepare()
    path = prepared.url.split("/p/", 1)[1].split("?", 1)[0]
    query = prepared.url.split("?q=", 1)[1]
    forms = {
        "plain": canary,
        "url": quote(canary, safe=""),
        "url_plus": quote_plus(canary),
        "path as sent": path,
        "query as sent": query,
        "form as sent": prepared.body.split("f=", 1)[1],
        "json": json.dumps(canary)[1:-1],
        "json_unicode": json.dumps(canary, ensure_ascii=False)[1:-1],
        "json_twice": json.dumps(json.dumps(canary))[3:-3],
        "html": html.escape(canary),
        "base64": base64.b64encode(canary.encode()).decode().rstrip("="),
        "basic": base64.b64encode(f"alice:{canary}".encode("latin-1")).decode().rstrip("="),
        "shell_escaped": canary.replace("\\", "\\\\").replace('"', '\\"').replace("`", "\\`").replace("$", "\\$"),
    }
    return {k: v for k, v in forms.items() if len(v) >= 4}


def _dotenv_quoted(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _sources(tmp: Path, canary: str) -> dict[str, str]:
    (tmp / "token.txt").write_text(canary + "\n", encoding="utf-8")
    (tmp / ".env").write_text(f"export OTHER=1\nAPI_TOKEN={_dotenv_quoted(canary)}\n", encoding="utf-8")
    (tmp / "print_token.py").write_text(f"print({canary!r})\n", encoding="utf-8")
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
  failing: {{command: {failing}}}
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
  - name: token in the path, echoed
    url: /reflect/${{secret:tok}}/x?in_url=${{secret:tok}}
    expect: {{body: {{contains: nothing-like-this}}}}
  - name: token in a form, echoed
    url: /echo
    form: {{pw: "${{secret:tok}}", other: "a b"}}
    expect: {{status: 201}}
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
  - name: a secret command that fails and prints the token on stderr
    url: /echo
    auth: {{bearer: failing}}
"""


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _texts_of_junit(path: Path) -> str:
    """Every text and attribute of the JUnit file, unescaped (a leak could hide behind &quot;)."""
    parts = []
    for el in ET.parse(path).iter():
        parts += [el.text or "", el.tail or "", *el.attrib.values()]
    return "\n".join(parts)


def _texts_of_json(path: Path) -> str:
    parts: list[str] = []

    def walk(v) -> None:
        if isinstance(v, dict):
            for k, x in v.items():
                parts.append(str(k))
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)
        elif isinstance(v, str):
            parts.append(v)

    walk(json.loads(path.read_text(encoding="utf-8")))
    return "\n".join(parts)


def _sweep(tmp_path: Path, server, canary: str, kind: str, columns: str, verbosity: str) -> dict[str, str]:
    server.valid_tokens = {"some-other-token"}  # so /protected answers 401 and echoes ours
    source = _sources(tmp_path, canary).get(kind, "{env: UNSET_ON_PURPOSE}")
    failing = json.dumps([sys.executable, "-c", "import os, sys; sys.stderr.write(os.environ['LEAK_TOKEN']); sys.exit(1)"])
    (tmp_path / "leak.yaml").write_text(
        SPEC.format(kind=kind, source=source, failing=failing, dead_port=_dead_port()), encoding="utf-8"
    )
    summary = tmp_path / "step-summary.md"
    env = {
        "PATH": os.environ.get("PATH", ""),
        "API": server.url,
        "COLUMNS": columns,
        "LEAK_TOKEN": canary,
        "GITHUB_ACTIONS": "true",
        "GITHUB_STEP_SUMMARY": str(summary),
    }
    args = ["run", "leak.yaml", verbosity, "--curl", "--junit", "j.xml", "--json", "r.json", "--summary", "s.md",
            "--html", "h.html"]
    if kind == "override":
        args += ["--secret", f"tok={canary}"]
    out, err = io.StringIO(), io.StringIO()
    code = main(args, stdout=out, stderr=err, environ=env)
    assert code == 3, out.getvalue() + err.getvalue()
    # the server really did receive the canary, so masking is what kept it out of the outputs
    sent = [r.headers.get("Authorization") or "" for r in server.received]
    assert any(canary in a for a in sent), sent
    stdout = out.getvalue()
    # ::add-mask:: is the one line that carries the value, to the CI system, which never shows it
    add_mask = [line for line in stdout.splitlines() if line.startswith("::add-mask::")]
    assert add_mask, "GITHUB_ACTIONS=true registers the secrets"
    return {
        "stdout": "\n".join(line for line in stdout.splitlines() if not line.startswith("::add-mask::")),
        "stderr": err.getvalue(),
        "junit": (tmp_path / "j.xml").read_text(encoding="utf-8"),
        "junit (unescaped)": _texts_of_junit(tmp_path / "j.xml"),
        "json": (tmp_path / "r.json").read_text(encoding="utf-8"),
        "json (parsed)": _texts_of_json(tmp_path / "r.json"),
        "markdown": (tmp_path / "s.md").read_text(encoding="utf-8"),
        "step summary": summary.read_text(encoding="utf-8"),
        "html": (tmp_path / "h.html").read_text(encoding="utf-8"),
        "html, unescaped": html.unescape((tmp_path / "h.html").read_text(encoding="utf-8")),
    }


def _assert_clean(outputs: dict[str, str], canary: str) -> None:
    for where, text in outputs.items():
        for form_name, form in wire_forms(canary).items():
            assert form not in text, f"{form_name} form of the canary in {where}"
        if len(canary) > 40:  # a long value wrapped by the console still leaks in pieces
            for i in range(0, len(canary) - 24):
                assert canary[i : i + 24] not in text, f"a 24-character piece of the canary in {where}"


@pytest.mark.parametrize("kind", ["env", "file", "dotenv", "command", "override"])
@pytest.mark.parametrize("columns", ["40", "200"])
def test_canary_never_leaks(kind, columns, http_server, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    outputs = _sweep(tmp_path, http_server, CANARY, kind, columns, "-vv")
    _assert_clean(outputs, CANARY)
    assert "AUTH" in outputs["stdout"]
    assert "***" in outputs["stdout"]  # the -vv dumps show the mask
    assert "Bearer ${LEAK_TOKEN}" in outputs["stdout"] or kind != "env"  # --curl: a placeholder


@pytest.mark.parametrize("canary", list(HOSTILE.values()), ids=list(HOSTILE))
@pytest.mark.parametrize("kind", ["env", "file", "dotenv", "command", "override"])
@pytest.mark.parametrize("verbosity", ["-v", "-vv"])
def test_hostile_canary_never_leaks(canary, kind, verbosity, http_server, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    outputs = _sweep(tmp_path, http_server, canary, kind, "200", verbosity)
    _assert_clean(outputs, canary)
    # the token went into the path and was echoed back in the encoding requests sends
    echoed = [r.path for r in http_server.received if r.path.startswith("/reflect/")]
    assert echoed and wire_forms(canary)["path as sent"] in echoed[0]
    placeholder = {"env": "${LEAK_TOKEN}", "dotenv": "${API_TOKEN}"}.get(kind, "${TOK}")
    assert f"Bearer {placeholder}" in outputs["stdout"]
    assert f"Bearer {placeholder}" in outputs["json (parsed)"]  # the JSON report's curl field


@pytest.mark.parametrize("canary", list(HOSTILE.values()), ids=list(HOSTILE))
def test_yaml_error_next_to_a_pasted_token_does_not_print_it(canary, tmp_path, monkeypatch):
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
                  Authorization: Bearer {canary}
                 broken: [indent
            """
        ).lstrip(),
        encoding="utf-8",
    )
    out, err = io.StringIO(), io.StringIO()
    code = main(["validate", "bad.yaml"], stdout=out, stderr=err, environ={})
    assert code == 2
    assert "bad.yaml:" in err.getvalue()
    _assert_clean({"stdout": out.getvalue(), "stderr": err.getvalue()}, canary)


def test_schema_error_on_a_secret_value_does_not_print_it(tmp_path, monkeypatch):
    """A token-like literal under an innocent key (no secret is known to `validate`): the
    snippet masks it by its look, so only the plain canary applies here."""
    canary = CANARY
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.yaml").write_text(
        textwrap.dedent(
            f"""
            version: 1
            name: wrong type
            requests:
              - name: a
                url: /x
                headers: [{canary}]
                timeout: {canary}
            """
        ).lstrip(),
        encoding="utf-8",
    )
    out, err = io.StringIO(), io.StringIO()
    code = main(["validate", "bad.yaml"], stdout=out, stderr=err, environ={})
    assert code == 2
    assert "bad.yaml:6:" in err.getvalue()
    _assert_clean({"stdout": out.getvalue(), "stderr": err.getvalue()}, canary)
