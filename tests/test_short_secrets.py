"""A secret shorter than 4 characters (issue 14 item 3).

Everything the runner builds from it (auth headers, `${secret:...}` in the URL, query,
headers and bodies, the --curl placeholders, the -vv request dumps, the URL every report
shows) has it masked whatever its length. Only free text (a server echoing it) keeps the
4-character floor, and a warning at resolution says so without the value."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from tests.helpers import run_cli, write

SPEC = """\
version: 1
name: short secrets
base_url: ${env:API}
secrets:
  pin: {env: PIN}
  pw: {env: PW}
requests:
  - name: bearer
    url: /echo
    auth: {bearer: pin}
  - name: api key header
    url: /echo
    auth: {header: {name: X-API-Key, secret: pin}}
  - name: basic
    url: /echo
    auth: {basic: {username: alice, password: pw}}
  - name: everywhere
    method: POST
    url: /reflect/${secret:pin}
    query: {code: "${secret:pin}"}
    headers: {X-Pin: "pin=${secret:pin}"}
    json: {pin: "${secret:pin}"}
  - name: in a form
    method: POST
    url: /echo?inline=${secret:pw}
    form: {pw: "${secret:pw}"}
"""

PIN = "Zq7"
PW = "K&"


@pytest.fixture
def ran(cwd, http_server):
    write(cwd / "spec.yaml", SPEC)
    env = {"API": http_server.url, "PIN": PIN, "PW": PW}
    args = ["run", "spec.yaml", "-vv", "--curl", "--junit", "j.xml", "--json", "r.json", "--summary", "s.md"]
    code, out, err = run_cli(args, env=env)
    assert code == 0, out + err
    # the server did get the values: the masking is what keeps them out
    assert http_server.received[0].header("Authorization") == f"Bearer {PIN}"
    assert http_server.received[3].path.startswith(f"/reflect/{PIN}?code={PIN}")
    return cwd, out, err


def built_lines(stdout: str) -> list[str]:
    """What the runner built: the result rows, the -vv request dump and the curl command
    (response lines, `<`, are server text: the free-text rule applies there)."""
    keep = []
    for line in stdout.splitlines():
        stripped = line.strip()
        if stripped.startswith(("PASS", "$ curl", "> ")):
            keep.append(stripped)
    return keep


def test_short_secret_is_masked_in_everything_the_runner_built(ran):
    cwd, out, _err = ran
    lines = built_lines(out)
    assert len([l for l in lines if l.startswith("$ curl")]) == 5
    for line in lines:
        assert PIN not in line and PW not in line and "K%26" not in line, line
    assert "> Authorization: Bearer ***" in lines
    assert "> X-API-Key: ***" in lines
    assert "> X-Pin: ***" in lines  # a header built from a secret is masked whole
    assert any(l.startswith("> POST") and "/reflect/***?code=***" in l for l in lines)
    curl = [l for l in lines if l.startswith("$ curl")]
    assert '-H "Authorization: Bearer ${PIN}"' in curl[0]
    assert '-H "X-API-Key: ${PIN}"' in curl[1]
    assert '-u "alice:${PW}"' in curl[2]
    assert '/reflect/${PIN}?code=${PIN}"' in curl[3] and '-H "X-Pin: pin=${PIN}"' in curl[3]
    assert '\\"pin\\": \\"${PIN}\\"' in curl[3]
    assert '--data-urlencode "pw=${PW}"' in curl[4] and "?inline=${PW}" in curl[4]

    report = json.loads((cwd / "r.json").read_text())
    for step in report["specs"][0]["steps"]:
        request = step["request"]
        built = [step["url"], request["url"], request["body_excerpt"] or "", step["curl"]]
        built += [h["value"] for h in request["headers"]]
        for text in built:
            assert PIN not in text and PW not in text and "K%26" not in text, text
    junit = ET.parse(cwd / "j.xml")
    for case in junit.iter("testcase"):
        out_text = "".join(el.text or "" for el in case.iter("system-out"))
        assert "${PIN}" in out_text or "${PW}" in out_text


def test_a_warning_at_resolution_names_the_secret_not_the_value(ran):
    cwd, out, err = ran
    report = json.loads((cwd / "r.json").read_text())
    warnings = [w for w in report["warnings"] if "characters long" in w]
    assert len(warnings) == 2  # one per secret, however many requests use it
    assert any("'pin' (env PIN) is only 3 characters long" in w for w in warnings)
    assert any("'pw' (env PW) is only 2 characters long" in w for w in warnings)
    assert all("server echoing it back is not masked" in w for w in warnings)
    assert "'pin' (env PIN) is only 3 characters long" in out
    assert "only 3 characters long" in (cwd / "s.md").read_text()
    for w in warnings:
        assert PIN not in w and PW not in w


def test_no_warning_for_a_secret_of_four_characters_or_more(cwd, http_server):
    write(cwd / "spec.yaml", """\
        version: 1
        name: long enough
        base_url: ${env:API}
        secrets: {tok: {env: TOK}}
        requests: [{name: a, url: /echo, auth: {bearer: tok}}]
        """)
    code, out, err = run_cli(["run", "spec.yaml", "--json", "r.json"], env={"API": http_server.url, "TOK": "Zq7w"})
    assert code == 0, out + err
    assert json.loads((cwd / "r.json").read_text())["warnings"] == []
    assert "characters long" not in out + err
