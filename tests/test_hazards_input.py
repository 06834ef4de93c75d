"""HAZARDS.md C, D, H, I, A14/A15 and F55, end to end through the command line.

Each test runs `runner.cli.main` (or the real entry point in a subprocess, where a
signal or a second process is part of the case) against real servers on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import jsonschema
import pytest

from tests.helpers import run_cli, write
from runner.load import schema_text

ROOT = Path(__file__).resolve().parent.parent






def sub_env(**extra) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.upper().endswith("_PROXY")}
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra)
    return env




# ------------------------------------------------------------------ C. bad YAML

_LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8)
)

BAD_YAML = {
    # case: (file content, text expected in the message, line expected or None)
    "c27-python-tag": ("version: 1\nrequests:\n  - url: !!python/object/apply:os.system ['echo hi']\n", "tag", 3),
    "c28-billion-laughs": (_LAUGHS, "more than 100000 values", None),
    "c28-recursive-alias": ("version: 1\na: &a [*a]\n", "", 2),
    "c29-depth-600": ("version: 1\nx: " + "[" * 600 + "]" * 600 + "\n", "deep", 2),
    "c29-depth-30000": ("version: 1\nx: " + "[" * 30000 + "]" * 30000 + "\n", "deep", 2),
    "c30-duplicate-key": ("version: 1\nrequests:\n  - url: /a\n    name: x\n    url: /b\n", "duplicate key 'url'", 5),
    "c31-coercion": ("version: 1\nrequests:\n  - url: /a\n    follow_redirects: NO\n", "write false", 4),
    "c32-tab": ("version: 1\nrequests:\n\t- url: /a\n", "tabs", 3),
    "c33-invalid-utf8": (b"version: 1\nname: caf\xe9\n", "UTF-8", None),
    "c33-nul": (b"version: 1\nname: a\x00b\n", "NUL", None),
    "c34-empty": ("# only a comment\n", "empty", None),
    "c34-two-documents": ("version: 1\n---\nversion: 1\n", "", None),
    "c34-top-level-list": ("- url: /a\n", "mapping", None),
}


@pytest.mark.parametrize("case", sorted(BAD_YAML))
def test_bad_yaml_is_a_clear_error_with_its_position(cwd, case):
    text, needle, line = BAD_YAML[case]
    write(cwd / "bad.yaml", text)
    code, out, err = run_cli(["validate", "bad.yaml"])
    assert code == 2, err
    assert err.startswith("error: bad.yaml:"), err
    if line is not None:
        assert err.startswith(f"error: bad.yaml:{line}:"), err
    assert needle.lower() in err.lower()
    assert "Traceback" not in err and "internal error" not in err
    assert "nothing was sent" in err


def test_utf16_bom_and_crlf_specs_are_accepted(cwd):
    write(cwd / "a.yaml", "version: 1\r\nrequests:\r\n  - url: http://127.0.0.1:1/a\r\n".encode("utf-16"))
    write(cwd / "b.yaml", b"\xef\xbb\xbfversion: 1\r\nrequests:\r\n  - url: http://127.0.0.1:1/a\r\n")
    code, out, err = run_cli(["validate", "a.yaml", "b.yaml"])
    assert code == 0, err
    assert "2 spec files valid" in out


def test_directory_fifo_device_and_huge_spec_paths(cwd):
    (cwd / "dir.yaml").mkdir()
    os.mkfifo(cwd / "fifo.yaml")
    with open(cwd / "huge.yaml", "wb") as fh:
        fh.truncate(50 * 1024 * 1024)
    for path, needle in (("fifo.yaml", "FIFO"), ("/dev/zero", "device"), ("huge.yaml", "too large")):
        code, _, err = run_cli(["validate", path])
        assert code == 2 and needle in err and "Traceback" not in err, err
    # a directory named *.yaml is walked, not read: it holds no spec
    code, _, err = run_cli(["validate", "dir.yaml"])
    assert code == 2 and "no spec files" in err


# ------------------------------------------------------------------ D. schema errors


def test_d37_remote_refs_are_refused_before_anything_is_sent(cwd, http_server):
    write(cwd / "remote.json", json.dumps({"$ref": http_server.url + "/ok"}))
    write(cwd / "passwd.json", json.dumps({"$ref": "file:///etc/passwd"}))
    write(cwd / "meta.json", json.dumps({"properties": {"a": {"$ref": "http://169.254.169.254/latest/meta-data/"}}}))
    write(cwd / "a.yaml", f"""
        version: 1
        base_url: {http_server.url}
        requests:
          - {{name: remote, url: /items, expect: {{schema: remote.json}}}}
          - {{name: passwd, url: /items, expect: {{schema: passwd.json}}}}
          - {{name: metadata, url: /items, expect: {{schema: meta.json}}}}
          - {{name: inline, url: /items, expect: {{schema: {{$ref: "{http_server.url}/ok#"}}}}}}
    """)
    for command in ("validate", "run"):
        code, out, err = run_cli([command, "a.yaml"])
        assert code == 2, out + err
        lines = [line for line in err.splitlines() if line.startswith("error:")]
        assert [line.split(":")[2] for line in lines] == ["4", "5", "6", "7"], err
        assert all("unresolvable" in line for line in lines), err
        assert "/etc/passwd" in err and "169.254.169.254" in err
    assert http_server.received == []


def test_d37_local_refs_beside_the_schema_file_still_work(cwd, http_server):
    write(cwd / "item.json", json.dumps({"type": "object", "required": ["id"]}))
    write(cwd / "list.json", json.dumps({
        "type": "object",
        "properties": {"items": {"type": "array", "items": {"$ref": "item.json"}}, "count": {"$ref": "#/$defs/n"}},
        "$defs": {"n": {"type": "integer"}},
    }))
    write(cwd / "a.yaml", f"""
        version: 1
        base_url: {http_server.url}
        requests:
          - {{url: /items, expect: {{schema: list.json}}}}
    """)
    code, out, err = run_cli(["run", "a.yaml"])
    assert code == 0, out + err


MANY_ERRORS = """
    version: 1
    secrets:
      a: {env: X, file: y}
      b: {nothing: 1}
    auth: {bearer: 1}
    requests:
      - name: one
        url: /x
        auth: {basic: {username: u}}
        json: {a: 1}
        form: {b: 2}
        expect:
          status: [200, "abc"]
          json: {$.a: {gtx: 1}}
        capture: {c: {header: 1}}
      - {url: /flow, expect: {status: {x: 1}}, retry: {attempts: 0}}
"""


def test_d40_many_one_of_errors_are_one_line_each_sorted_and_stable(cwd):
    write(cwd / "a.yaml", MANY_ERRORS)
    runs = [run_cli(["validate", "a.yaml"]) for _ in range(3)]
    assert len({r[2] for r in runs}) == 1  # deterministic
    code, _, err = runs[0]
    assert code == 2
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    positions = [tuple(int(n) for n in line.split(":")[2:4]) for line in lines]
    assert positions == sorted(positions) and len(lines) == 11, err
    assert "expected exactly one of: env, file, dotenv, command, keyring, oauth2 or http; got 'env' and 'file'" in err
    assert "unknown key 'gtx' (did you mean 'gt'?)" in err
    assert "missing required key 'password'" in err
    assert err.rstrip().endswith("11 errors; nothing was sent")


def test_d41_error_paths_through_alias_merge_flow_and_block_scalars(cwd):
    write(cwd / "a.yaml", """
        version: 1
        vars:
          bad: &bad {status: abc}
        requests:
          - url: /a
            expect: *bad
          - url: /b
            <<: {methd: GET}
          - {url: /c, timeout: "1"}
          - url: >
              /folded
            method: |
              GET
          - url: /d
            headers:
              X-Block: |
                value
    """)
    code, _, err = run_cli(["validate", "a.yaml"])
    assert code == 2
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert lines[0].startswith("error: a.yaml:3:22: a status class")  # the aliased node, where it is written
    assert lines[1].startswith("error: a.yaml:8:10: unknown key 'methd' (did you mean 'method'?)")
    assert lines[2].startswith("error: a.yaml:9:24: expected a number")
    assert lines[3].startswith("error: a.yaml:12:13: an HTTP method is a word")  # "GET\n" is not a method
    assert "Traceback" not in err
    # once the schema errors are gone, the block scalar in a header is named too
    text = (cwd / "a.yaml").read_text()
    text = text.replace("{status: abc}", "{status: 200}").replace("methd", "method").replace('"1"', "1")
    write(cwd / "a.yaml", text.replace("method: |", "method: |-"))
    code, _, err = run_cli(["validate", "a.yaml"])
    assert code == 2
    assert err.startswith("error: a.yaml:16:16: header 'X-Block': the value has a control character (U+000A)"), err
    assert "write `|-`" in err


# ------------------------------------------------------------------ A14, A15, F55: hostile server text

HOSTILE = (
    "[bold]PASS[/] all good [/] [link=http://evil]x[/link]\n"
    "\x1b[31mred\x1b[0m \x1b]0;owned\x07title \x00nul \x12dc2\n"
    "::stop-commands::pwned\n::error file=x::fake\n"
)
BINARY = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x1b[2J\xff\xfe" + bytes(range(256))


class _HostileHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:
        pass

    def _send(self, status: int, body: bytes, headers: list[tuple[str, str]]) -> None:
        self.send_response(status)
        for k, v in headers + [("Content-Length", str(len(body)))]:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802
        if self.path == "/hostile":
            self._send(500, HOSTILE.encode(), [("Content-Type", "text/plain"), ("X-Evil", "[/]\x1b[31m::warning::x\x12")])
        elif self.path == "/binary":
            self._send(200, BINARY, [("Content-Type", "application/json"), ("X-Bin", "a\x1bb\x7fc")])
        elif self.path == "/challenge":
            desc = "[bold]expired[/] \x1b[2J\x00 ::stop-commands::x"
            self._send(401, HOSTILE.encode(), [("Content-Type", "text/html"),
                                               ("WWW-Authenticate", f'Bearer error="invalid_token", error_description="{desc}"')])
        else:
            self._send(404, b"", [])


@pytest.fixture(scope="module")
def hostile_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _HostileHandler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a14_a15_f55_hostile_and_binary_server_text(cwd, hostile_server):
    write(cwd / "a.yaml", f"""
        version: 1
        name: "hostile [bold]spec[/]"
        base_url: {hostile_server}
        secrets:
          tok: {{env: TOK}}
        auth: {{bearer: tok}}
        requests:
          - {{name: "[red]hostile[/]", url: /hostile, expect: {{status: 200, body: {{contains: nope}}}}}}
          - {{name: binary, url: /binary, expect: {{json: {{$.a: 1}}, headers: {{X-Bin: x}}}}}}
          - {{name: challenge, url: /challenge}}
    """)
    env = {"TOK": "tok-value-1234567890", "GITHUB_ACTIONS": "true"}
    code, out, err = run_cli(["run", "a.yaml", "-vv", "--junit", "j.xml", "--json", "r.json", "--summary", "s.md"], env)
    assert code == 3, out + err
    assert "Traceback" not in err and "internal error" not in err
    for text in (out, err):
        assert "\x1b" not in text and "\x00" not in text and "\x12" not in text and "\x7f" not in text
    assert "[bold]PASS[/] all good [/]" in out  # literal text, not markup
    for line in out.splitlines():
        # only our own annotations (and masks) may start a workflow command
        assert not line.startswith("::") or line.startswith(("::error file=a.yaml", "::add-mask::", "::warning file=a.yaml")), line
    shown = "\n".join(line for line in out.splitlines() if not line.startswith("::add-mask::"))
    assert "tok-value-1234567890" not in shown + err
    ET.parse(cwd / "j.xml")  # well-formed XML whatever the server sent
    xml = (cwd / "j.xml").read_text()
    assert "\x1b" not in xml and "\x00" not in xml
    report = json.loads((cwd / "r.json").read_text())
    jsonschema.validate(report, json.loads(schema_text("report")))
    steps = report["specs"][0]["steps"]
    assert [s["outcome"] for s in steps] == ["FAIL", "FAIL", "AUTH"]
    dumped = json.dumps(report, ensure_ascii=False)
    assert "\x1b" not in dumped and "\x00" not in dumped
    assert "tok-value-1234567890" not in dumped and "TOK" not in json.dumps(report.get("environment"))
    md = (cwd / "s.md").read_text()
    assert "\x1b" not in md and "\x00" not in md


# ------------------------------------------------------------------ H66. two runs, one report path


def test_h66_two_runs_writing_the_same_reports_never_tear_them(cwd, http_server):
    for i in range(6):
        write(cwd / f"s{i}.yaml", f"""
            version: 1
            name: spec {i}
            base_url: {http_server.url}
            requests:
              - {{name: a, url: /items, expect: {{json: {{$.count: 2}}}}}}
              - {{name: b, url: /text, query: {{t: "{'x' * 2000}"}}}}
        """)
    args = [sys.executable, "-m", "runner", "run", ".", "--junit", "same.xml", "--json", "same.json"]
    procs = [subprocess.Popen(args, cwd=cwd, env=sub_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
             for _ in range(2)]
    reads = 0
    while any(p.poll() is None for p in procs):
        for name, parse in (("same.xml", ET.fromstring), ("same.json", json.loads)):
            try:
                text = (cwd / name).read_text(encoding="utf-8")
            except FileNotFoundError:
                continue
            parse(text)  # a torn or interleaved file would fail here
            reads += 1
    for p in procs:
        _, err = p.communicate(timeout=30)
        assert p.returncode == 0, err
    assert reads  # the reports were read while both runs rewrote them
    ET.parse(cwd / "same.xml")
    assert len(json.loads((cwd / "same.json").read_text())["specs"]) == 6
    assert not [p for p in os.listdir(cwd) if p.endswith(".tmp")]  # no temporary file left behind


# ------------------------------------------------------------------ I71. SIGKILL mid-run


def _passed_steps(path: Path) -> str:
    try:
        report = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return ""
    return " ".join(f'"{s["name"]}"' for spec in report["specs"] for s in spec["steps"] if s["outcome"] == "PASS")


def test_i71_sigkill_leaves_valid_reports_of_what_finished(cwd, http_server, silent_server):
    write(cwd / "a.yaml", f"""
        version: 1
        name: first
        base_url: {http_server.url}
        requests:
          - {{name: one, url: /ok}}
          - {{name: two, url: /items}}
          - {{name: three, url: /ok}}
    """)
    write(cwd / "b.yaml", f"""
        version: 1
        name: second
        base_url: {http_server.url}
        requests:
          - {{name: four, url: /ok}}
          - {{name: hangs, url: "{silent_server}/x", timeout: 60}}
    """)
    proc = subprocess.Popen(
        [sys.executable, "-m", "runner", "run", "a.yaml", "b.yaml", "--junit", "j.xml", "--json", "r.json"],
        cwd=cwd, env=sub_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        # reports are rewritten after each spec file and every 2 s: wait for one where `four` passed
        while time.monotonic() < deadline and '"four"' not in _passed_steps(cwd / "r.json"):
            time.sleep(0.05)
    finally:
        proc.kill()
        proc.wait(timeout=10)
    report = json.loads((cwd / "r.json").read_text())
    jsonschema.validate(report, json.loads(schema_text("report")))
    first, second = report["specs"]
    assert [s["outcome"] for s in first["steps"]] == ["PASS", "PASS", "PASS"]
    assert second["steps"][0]["name"] == "four" and second["steps"][0]["outcome"] == "PASS"
    suites = ET.parse(cwd / "j.xml").getroot().findall("testsuite")
    assert [len(s.findall("testcase")) for s in suites][0] == 3


# ------------------------------------------------------------------ I72. SIGINT while a secret command runs


def test_i72_sigint_during_a_secret_command_leaves_no_orphan(cwd, http_server):
    pids = cwd / "pids"
    write(cwd / "a.yaml", f"""
        version: 1
        base_url: {http_server.url}
        secrets:
          tok:
            command: [sh, -c, "sleep 60 & echo $! > {pids}; echo $$ >> {pids}; wait"]
            timeout: 60
        auth: {{bearer: tok}}
        requests:
          - {{name: needs the token, url: /ok}}
    """)
    proc = subprocess.Popen(
        [sys.executable, "-m", "runner", "run", "a.yaml", "--json", "r.json"],
        cwd=cwd, env=sub_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not (pids.exists() and len(pids.read_text().split()) == 2):
        time.sleep(0.05)
    children = [int(p) for p in pids.read_text().split()]
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 130, out + err
    assert "Traceback" not in err
    time.sleep(0.2)
    alive = []
    for pid in children:
        try:
            os.kill(pid, 0)
            with open(f"/proc/{pid}/stat") as fh:
                if fh.read().split()[2] != "Z":
                    alive.append(pid)
        except (ProcessLookupError, FileNotFoundError):
            pass
    for pid in alive:
        os.kill(pid, signal.SIGKILL)
    assert alive == [], "secret command left running after SIGINT"
    report = json.loads((cwd / "r.json").read_text())
    assert report["interrupted"] == "SIGINT"
    assert http_server.received == []  # nothing sent without the credential


# ------------------------------------------------------------------ first-use messages (TASK 2 findings)


def test_an_unfollowed_redirect_says_how_to_follow_it(cwd, http_server):
    write(cwd / "a.yaml", f"""
        version: 1
        base_url: {http_server.url}
        requests:
          - {{name: moved, url: "/redirect?to=/ok", expect: {{status: 200}}}}
    """)
    code, out, _ = run_cli(["run", "a.yaml", "--json", "r.json"])
    assert code == 1
    assert "got 302 Found (Location: \"/ok\")" in out
    assert "hint: redirects are not followed unless `follow_redirects: true` is set" in out
    (failure,) = json.loads((cwd / "r.json").read_text())["specs"][0]["steps"][0]["failures"]
    assert "follow_redirects" in failure["hint"]


def test_unknown_environment_without_a_config_file_says_so(cwd):
    write(cwd / "a.yaml", "version: 1\nrequests:\n  - url: http://127.0.0.1:1/\n")
    code, _, err = run_cli(["run", "a.yaml", "--env", "staging"])
    assert code == 2
    assert "unknown environment 'staging': no config file (./runner.yaml or --config FILE)" in err
