"""HAZARDS.md A (leaks), B (redirects, TLS, proxies, netrc), E (secret sources), F (network
faults) and G (auth semantics), end to end: `runner.cli.main` against real servers on
127.0.0.1, every output (stdout, stderr, JUnit, JSON) searched for the canary.

Each test names its hazard case (A4, B17...). Servers: tests/server.py (recording HTTP),
tests/token_server.py (OAuth2), runner.demo.DemoServer, and two small ones here: a raw
socket server that answers canned bytes (malformed responses) and a TLS one.
"""

from __future__ import annotations

import base64
import datetime
import io
import json
import os
import socket
import ssl
import sys
import textwrap
import threading
import time
import xml.etree.ElementTree as ET
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest

from runner.cli import main
from tests.helpers import CANARY
from tests.token_server import TokenServer

FORMS = {
    "plain": CANARY,
    "tail": CANARY[5:],  # what is left when a control character splits the value
    "url": quote(CANARY, safe=""),
    "url_plus": quote_plus(CANARY),
    "base64": base64.b64encode(CANARY.encode()).decode().rstrip("="),
    "json": json.dumps(CANARY)[1:-1],
}


# --------------------------------------------------------------------------- helpers


class Run:
    def __init__(self, code: int, out: str, err: str, tmp: Path) -> None:
        self.code, self.out, self.err, self.tmp = code, out, err, tmp
        self.junit = (tmp / "j.xml").read_text() if (tmp / "j.xml").exists() else ""
        self.json_text = (tmp / "r.json").read_text() if (tmp / "r.json").exists() else ""

    @property
    def report(self) -> dict:
        return json.loads(self.json_text)

    @property
    def text(self) -> str:
        return "\n".join((self.out, self.err, self.junit, self.json_text))

    def steps(self) -> list[dict]:
        return [s for spec in self.report["specs"] for s in spec.get("steps", spec.get("requests", []))]

    def assert_clean(self, *extra: str) -> None:
        for where, text in (("stdout", self.out), ("stderr", self.err), ("junit", self.junit), ("json", self.json_text)):
            for name, form in FORMS.items():
                assert form not in text, f"{name} form of the canary in {where}:\n{text}"
            for form in extra:
                assert form not in text, f"{form!r} in {where}:\n{text}"
        assert "Traceback" not in self.out + self.err


def run(tmp: Path, body: str, *args: str, env: dict | None = None, name: str = "spec.yaml") -> Run:
    (tmp / name).write_text(textwrap.dedent(body).lstrip(), encoding="utf-8")
    environ = {"PATH": os.environ.get("PATH", ""), **(env or {})}
    out, err = io.StringIO(), io.StringIO()
    argv = ["run", name, "-vv", "--curl", "--junit", str(tmp / "j.xml"), "--json", str(tmp / "r.json"), *args]
    code = main(argv, stdout=out, stderr=err, environ=environ)
    result = Run(code, out.getvalue(), err.getvalue(), tmp)
    if result.junit:
        ET.fromstring(result.junit)  # well-formed whatever the server sent
    if result.json_text:
        json.loads(result.json_text)
    return result


@pytest.fixture
def cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RawServer:
    """Answers each connection with `responses[path]` (bytes, or a callable given the socket)."""

    def __init__(self, responses: dict) -> None:
        self.responses = responses
        self.hits: list[bytes] = []
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        with conn:
            data = b""
            conn.settimeout(5)
            try:
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    data += chunk
                self.hits.append(data)
                path = data.split(b" ", 2)[1].decode("latin-1").split("?")[0]
                answer = self.responses.get(path, b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                if callable(answer):
                    answer(conn)
                else:
                    conn.sendall(answer)
                    conn.shutdown(socket.SHUT_WR)
                    time.sleep(0.05)
            except OSError:
                pass

    def close(self) -> None:
        self.sock.close()


def http(status: str, headers: list[tuple[str, str]] | list[bytes], body: bytes, length: int | None = None) -> bytes:
    head = [f"HTTP/1.1 {status}".encode()]
    for h in headers:
        head.append(h if isinstance(h, bytes) else f"{h[0]}: {h[1]}".encode("latin-1"))
    head.append(b"Content-Length: %d" % (len(body) if length is None else length))
    head.append(b"Connection: close")
    return b"\r\n".join(head) + b"\r\n\r\n" + body


BEARER_SPEC = """
version: 1
name: hazards
base_url: ${{env:API}}
secrets:
  tok: {{env: API_TOKEN}}
auth: {{bearer: tok}}
requests:
{requests}
"""


def bearer(requests: str) -> str:
    return BEARER_SPEC.format(requests=textwrap.indent(textwrap.dedent(requests).strip("\n"), "  "))


# --------------------------------------------------------------------------- A. secret leaks


def test_a4_token_in_the_query_refused_then_500(cwd, http_server):
    """A4: `?access_token=` in the URL: connection refused (exit 4), then a 500 (exit 1)."""
    port = dead_port()
    spec = bearer(f"""
        - name: refused with a token in the query
          url: "http://127.0.0.1:{port}/x?access_token=${{secret:tok}}"
        - name: a 500 with a token in the query
          url: "/status/500?access_token=${{secret:tok}}"
        - name: a 500 with the token as a query field
          url: /status/500
          query: {{access_token: "${{secret:tok}}"}}
    """)
    r = run(cwd, spec, env={"API": http_server.url, "API_TOKEN": CANARY})
    assert r.code == 4, r.out + r.err
    assert f"connection refused by 127.0.0.1:{port}" in r.out
    r.assert_clean()
    names = [tc.get("name") for tc in ET.fromstring(r.junit).iter("testcase")]
    assert names == ["refused with a token in the query", "a 500 with a token in the query",
                     "a 500 with the token as a query field"]
    assert "access_token=***" in r.out
    # the server did receive it: masking is what kept it out
    assert any(CANARY in rec.path for rec in http_server.received)

    only_500 = bearer("""
        - name: a 500 with a token in the query
          url: "/status/500?access_token=${secret:tok}"
    """)
    r = run(cwd, only_500, env={"API": http_server.url, "API_TOKEN": CANARY})
    assert r.code == 1, r.out + r.err
    assert "500" in r.out
    r.assert_clean()


def _token_endpoint(token_value: str):
    """A tiny token endpoint that hands out `token_value` as is."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = json.dumps({"access_token": token_value, "token_type": "Bearer", "expires_in": 3600}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


SOURCE_KINDS = ["env", "file", "dotenv", "command", "override", "oauth2"]


def _secret_source(kind: str, tmp: Path, value: str, stack) -> tuple[str, dict, list[str]]:
    """(the `tok:` source YAML, environ additions, extra CLI args) giving `value` through `kind`."""
    if kind == "env":
        return "{env: LEAK_TOKEN}", {"LEAK_TOKEN": value}, []
    if kind == "file":
        (tmp / "token.txt").write_bytes(value.encode("utf-8"))
        return "{file: token.txt}", {}, []
    if kind == "dotenv":
        (tmp / ".env").write_bytes(b'OTHER=1\nAPI_TOKEN="' + value.encode("utf-8") + b'"\n')
        return "{dotenv: .env, key: API_TOKEN}", {}, []
    if kind == "command":
        (tmp / "tok.py").write_text(f"import sys\nsys.stdout.buffer.write({value.encode('utf-8')!r})\n")
        return "{command: " + json.dumps([sys.executable, "tok.py"]) + "}", {}, []
    if kind == "override":
        return "{env: UNSET_ON_PURPOSE}", {}, ["--secret", f"tok={value}"]
    if kind == "oauth2":
        srv = _token_endpoint(value)
        stack.append(srv)
        url = f"http://127.0.0.1:{srv.server_address[1]}/token"
        return "{oauth2: {token_url: " + url + ", client_id: c, client_secret: '${env:CS}'}}", {"CS": "cs-value"}, []
    raise AssertionError(kind)


SOURCE_SPEC = """
version: 1
name: source {kind}
base_url: ${{env:API}}
secrets:
  tok: {source}
auth: {{bearer: tok}}
requests:
  - name: protected
    url: /protected
"""


@pytest.fixture
def servers_to_stop():
    stack: list = []
    yield stack
    for srv in stack:
        srv.shutdown()
        srv.server_close()


@pytest.mark.parametrize("ending", ["\n", "\r\n"])
@pytest.mark.parametrize("kind", SOURCE_KINDS)
def test_a5_one_trailing_line_ending_is_stripped_by_every_source(kind, ending, cwd, http_server, servers_to_stop):
    """A5: a token with a trailing `\\n` or `\\r\\n` works, whatever its source."""
    source, env, args = _secret_source(kind, cwd, CANARY + ending, servers_to_stop)
    r = run(cwd, SOURCE_SPEC.format(kind=kind, source=source), *args, env={"API": http_server.url, **env})
    assert r.code == 0, r.out + r.err
    assert http_server.requests_to("/protected")[-1].header("Authorization") == f"Bearer {CANARY}"
    r.assert_clean()


BAD_VALUES = {
    # value, message fragment (the position is 1-based)
    "esc": (CANARY[:5] + "\x1b" + CANARY[5:], "control character (U+001B) at position 6"),
    "inner newline": (CANARY[:5] + "\n" + CANARY[5:], "control character (U+000A) at position 6"),
    "bell": (CANARY[:5] + "\x07" + CANARY[5:], "control character (U+0007) at position 6"),
    "smart quote": (CANARY[:5] + "\u201d" + CANARY[5:], "non-latin-1 character (U+201D) at position 6"),
}


@pytest.mark.parametrize("bad", list(BAD_VALUES))
@pytest.mark.parametrize("kind", SOURCE_KINDS)
def test_a5_a6_control_and_non_latin1_characters_by_every_source(kind, bad, cwd, http_server, servers_to_stop):
    """A5/A6: any other control character, or a non-latin-1 one, is an error naming the
    secret, its source and the position; nothing is sent; exit 3; requests' InvalidHeader
    text (which quotes the value) never surfaces."""
    if kind == "dotenv" and bad == "inner newline":
        pytest.skip("a newline inside a quoted .env value is the .env syntax for a multi-line value")
    value, fragment = BAD_VALUES[bad]
    if kind == "command" and bad == "inner newline":
        fragment = "command printed 2 lines on stdout"  # E45: the value alone, on one line
    source, env, args = _secret_source(kind, cwd, value, servers_to_stop)
    r = run(cwd, SOURCE_SPEC.format(kind=kind, source=source), *args, env={"API": http_server.url, **env})
    assert r.code == 3, r.out + r.err
    assert fragment in r.out, r.out
    assert "'tok'" in r.out or "tok from" in r.out or "secret tok" in r.out, r.out
    assert not http_server.requests_to("/protected")
    assert "Invalid" + "Header" not in r.text and "leading or trailing whitespace" not in r.text
    r.assert_clean()


def test_a10_token_endpoint_400_echoing_client_secret(cwd, http_server):
    """A10: a token endpoint that answers 400 and echoes client_secret: status and redacted
    error/description only, never the body; exit 3; nothing sent to the API."""
    with TokenServer(client_id="cid", client_secret=CANARY) as ts:
        ts.mode = "invalid_client"
        spec = f"""
            version: 1
            name: oauth
            base_url: ${{env:API}}
            secrets:
              tok:
                oauth2: {{token_url: "{ts.url}", client_id: cid, client_secret: "${{env:CS}}",
                          auth_method: client_secret_post}}
            auth: {{bearer: tok}}
            requests:
              - {{name: one, url: /protected}}
              - {{name: two, url: /protected}}
        """
        r = run(cwd, spec, env={"API": http_server.url, "CS": CANARY})
        assert r.code == 3, r.out + r.err
        assert "HTTP 400" in r.out and "invalid_client" in r.out
        assert "\x1b" not in r.out
        assert ts.calls == 1  # the failure is cached for the run: the second request does not ask again
        assert not http_server.requests_to("/protected")
        r.assert_clean()
        for mode in ("html", "no_token", "server_error"):
            ts.mode = mode
            r = run(cwd, spec, env={"API": http_server.url, "CS": CANARY})
            assert r.code == 3, (mode, r.out + r.err)
            assert "<html" not in r.text and "Sign in" not in r.text
            r.assert_clean()


def test_a11_failing_command_with_the_secret_in_stderr_and_argv(cwd, http_server):
    """A11: a secret command that fails: command name and (redacted) stderr, exit 3; a secret
    that is known (another source) and an argument like --token=... are masked."""
    code = (
        "import sys\n"
        "sys.stderr.write('ERROR: Reauthentication required. token=' + sys.argv[1] + ' password: ' + sys.argv[3] + '\\n')\n"
        "sys.stderr.write('echo ' + sys.argv[3] + '\\n')\n"
        "sys.exit(2)\n"
    )
    (cwd / "fail.py").write_text(code)
    argv = [sys.executable, "fail.py", "--token=" + CANARY, "--password", CANARY]
    spec = f"""
        version: 1
        name: command
        base_url: ${{env:API}}
        secrets:
          tok: {{command: {json.dumps(argv)}}}
          other: {{env: OTHER_TOKEN}}
        auth: {{bearer: tok}}
        requests:
          - {{name: one, url: /protected}}
          - {{name: two, url: /ok, auth: {{bearer: other}}}}
    """
    r = run(cwd, spec, env={"API": http_server.url, "OTHER_TOKEN": CANARY})
    assert r.code == 3, r.out + r.err
    assert "fail.py" in r.out and "Reauthentication required" in r.out
    assert "exit" in r.out
    r.assert_clean()


@pytest.mark.parametrize(
    "value, escaped",
    [
        ("rr-%CANARY%0A-9f8e7d6c5b4a", "rr-%25CANARY%250A-9f8e7d6c5b4a"),
        ("rr-100%-CANARY-%25-9f8e7d", "rr-100%25-CANARY-%2525-9f8e7d"),
    ],
)
def test_a13_add_mask_is_escaped_and_comes_first(value, escaped, cwd, http_server):
    """A13: under GITHUB_ACTIONS, each resolved secret (the token and the oauth2 client_secret)
    is registered with an escaped `::add-mask::` before any line that could carry it; `%`
    in a value is escaped (CR and LF cannot occur: check_value refuses them)."""
    http_server.valid_tokens = {value}
    spec = bearer("""
        - {name: one, url: /protected}
        - {name: two, url: /protected, expect: {status: 201}}
    """)
    env = {"API": http_server.url, "API_TOKEN": value, "GITHUB_ACTIONS": "true"}
    r = run(cwd, spec, env=env)
    assert r.code == 1, r.out + r.err
    lines = r.out.splitlines()
    assert lines.count(f"::add-mask::{escaped}") == 1, r.out
    first = lines.index(f"::add-mask::{escaped}")
    assert not any("one" in line or "::error" in line for line in lines[:first])
    others = [line for line in lines if not line.startswith("::add-mask::")]
    assert not any(value in line for line in others)
    for text in (r.err, r.junit, r.json_text):
        assert value not in text and quote(value, safe="") not in text


# --------------------------------------------------------------------------- B. redirects, TLS, proxies, netrc


def test_b16_b17_b18_cross_origin_redirect_strips_every_secret_header(cwd, http_server, other_server):
    """B16: not followed by default (3xx and Location reported). B17/B18: followed, a
    cross-origin 302 drops Authorization, X-API-Key and a ${secret:}-valued Private-Token."""
    target = other_server.url + "/echo"
    spec = bearer(f"""
        - name: not followed
          url: "/redirect?to={target}"
          expect: {{status: 302}}
        - name: bearer, followed
          url: "/redirect?to={target}"
          follow_redirects: true
          headers: {{Private-Token: "${{secret:tok}}", X-Plain: kept}}
        - name: api key, followed
          url: "/redirect?to={target}&code=307"
          follow_redirects: true
          auth: {{header: {{name: X-API-Key, secret: tok}}}}
    """)
    r = run(cwd, spec, env={"API": http_server.url, "API_TOKEN": CANARY})
    assert r.code == 0, r.out + r.err
    assert target in r.out  # the Location of the unfollowed 302
    got = other_server.requests_to("/echo")
    assert len(got) == 2
    for rec in got:
        for name in ("Authorization", "X-API-Key", "Private-Token"):
            assert rec.header(name) is None, (name, rec.headers)
    assert got[0].header("X-Plain") == "kept"
    # the first hop did carry them
    first = http_server.requests_to("/redirect")
    assert first[1].header("Authorization") == f"Bearer {CANARY}" and first[1].header("Private-Token") == CANARY
    r.assert_clean()


def test_b17_same_origin_redirect_keeps_the_token(cwd, http_server):
    spec = bearer("""
        - name: same origin
          url: "/redirect?to=/protected"
          follow_redirects: true
    """)
    r = run(cwd, spec, env={"API": http_server.url, "API_TOKEN": CANARY})
    assert r.code == 0, r.out + r.err
    assert http_server.requests_to("/protected")[0].header("Authorization") == f"Bearer {CANARY}"


def test_b20_cross_origin_307_308_post_body_is_not_replayed(cwd, http_server, other_server):
    """B20: a 307/308 POST to another origin: the body (here the token) is not replayed; exit 4."""
    target = other_server.url + "/echo"
    spec = bearer(f"""
        - name: post 307
          method: POST
          url: "/redirect?to={target}&code=307"
          follow_redirects: true
          json: {{token: "${{secret:tok}}"}}
        - name: post 308
          method: POST
          url: "/redirect?to={target}&code=308"
          follow_redirects: true
          form: {{token: "${{secret:tok}}"}}
        - name: post 307 same origin replays
          method: POST
          url: "/redirect?to=/echo&code=307"
          follow_redirects: true
          json: {{a: 1}}
          expect: {{json: {{$.body: '{{"a": 1}}'}}}}
    """)
    r = run(cwd, spec, env={"API": http_server.url, "API_TOKEN": CANARY})
    assert r.code == 4, r.out + r.err
    assert r.out.count("refusing to replay the request body to another origin") >= 2
    assert not other_server.requests_to("/echo")
    assert "1 passed" in r.out
    r.assert_clean()


def test_b21_redirect_loop_and_file_location(cwd, http_server):
    """B21: a redirect loop or `Location: file:///etc/passwd`: a clear error naming the step; exit 4."""
    spec = bearer("""
        - name: loops
          url: /loop
          follow_redirects: true
        - name: to a file
          url: "/redirect?to=file:///etc/passwd"
          follow_redirects: true
        - name: many hops
          url: "/redirect?to=/redirect%3Fto%3D/redirect%253Fto%253D/ok"
          follow_redirects: true
    """)
    r = run(cwd, spec, env={"API": http_server.url, "API_TOKEN": CANARY})
    assert r.code == 4, r.out + r.err
    assert "redirect loop at 127.0.0.1" in r.out
    assert "refusing redirect" in r.out and "file" in r.out
    assert "root:" not in r.out
    assert "1 passed" in r.out
    r.assert_clean()


def test_b21_more_than_the_redirect_limit(cwd, http_server):
    hops = "/ok"
    for _ in range(12):
        hops = "/redirect?to=" + quote(hops, safe="")
    spec = bearer(f"""
        - name: a long chain
          url: "{hops}"
          follow_redirects: true
    """)
    r = run(cwd, spec, env={"API": http_server.url, "API_TOKEN": CANARY})
    assert r.code == 4, r.out + r.err
    assert "more than 10 redirects" in r.out


def test_b22_netrc_never_replaces_the_token_even_on_redirect(cwd, http_server, other_server):
    """B22: a NETRC file with entries for the API host and the redirect target: the server
    sees our Bearer, and the target no netrc Basic."""
    netrc = cwd / "netrc"
    netrc.write_text("machine 127.0.0.1 login alice password netrc-pass-1234\ndefault login bob password netrc-pass-1234\n")
    netrc.chmod(0o600)
    target = other_server.url + "/echo"
    spec = bearer(f"""
        - name: api
          url: /echo
        - name: redirected
          url: "/redirect?to={target}"
          follow_redirects: true
        - name: no auth at all
          url: /echo
          auth: none
    """)
    env = {"API": http_server.url, "API_TOKEN": CANARY, "NETRC": str(netrc), "HOME": str(cwd)}
    (cwd / ".netrc").write_text(netrc.read_text())
    (cwd / ".netrc").chmod(0o600)
    r = run(cwd, spec, env=env)
    assert r.code == 0, r.out + r.err
    echoes = http_server.requests_to("/echo")
    assert echoes[0].header("Authorization") == f"Bearer {CANARY}"
    assert echoes[1].header("Authorization") is None
    assert other_server.requests_to("/echo")[0].header("Authorization") is None


def test_b25_proxy_userinfo_is_never_printed(cwd, http_server, other_server):
    """B25: HTTP(S)_PROXY with user:password: the proxy gets Proxy-Authorization, the
    origin never does, and the proxy's password is in no output (also when the proxy is down)."""
    proxy_pass = "proxy-" + CANARY
    spec = bearer("""
        - name: through the proxy
          url: /echo
        - name: redirected, through the proxy
          url: /redirect?to=/echo
          follow_redirects: true
    """)
    # other_server plays an HTTP proxy: it gets absolute-form requests and answers them itself.
    env = {"API": http_server.url, "API_TOKEN": "tok-1234", "HTTP_PROXY": f"http://u:{proxy_pass}@127.0.0.1:{other_server.port}"}
    r = run(cwd, spec, env=env)
    assert r.code == 0, r.out + r.err
    assert not http_server.received  # the origin saw nothing: everything went to the proxy
    got = other_server.received
    assert got and all(rec.header("Proxy-Authorization") for rec in got)
    basic = base64.b64encode(f"u:{proxy_pass}".encode()).decode()
    r.assert_clean(proxy_pass, basic.rstrip("="), quote(proxy_pass, safe=""))

    env["HTTP_PROXY"] = f"http://u:{proxy_pass}@127.0.0.1:{dead_port()}"
    env["HTTPS_PROXY"] = env["HTTP_PROXY"]
    r = run(cwd, spec, env=env)
    assert r.code == 4, r.out + r.err
    assert "proxy" in r.out
    r.assert_clean(proxy_pass, basic.rstrip("="), quote(proxy_pass, safe=""))


# -- TLS


def _make_cert(tmp: Path, name: str, *, host: str = "127.0.0.1", expired: bool = False) -> tuple[Path, Path]:
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    import ipaddress

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.datetime.now(datetime.timezone.utc)
    start, end = (now - datetime.timedelta(days=30), now - datetime.timedelta(days=1)) if expired else (
        now - datetime.timedelta(days=1), now + datetime.timedelta(days=1))
    try:
        san = x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        san = x509.DNSName(host)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.SubjectAlternativeName([san]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / f"{name}.pem", tmp / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


class TLSServer:
    """tests.server's handler behind TLS with the given certificate."""

    def __init__(self, cert: Path, key: Path) -> None:
        from tests.server import TestServer

        self.inner = TestServer()
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        # wrap the listening socket of a second server instance sharing the handler
        self.inner._server.shutdown()
        self.inner._server.socket = ctx.wrap_socket(self.inner._server.socket, server_side=True)
        self.inner._thread = threading.Thread(target=self.inner._server.serve_forever, kwargs={"poll_interval": 0.05},
                                              daemon=True)
        self.inner._thread.start()
        self.url = f"https://127.0.0.1:{self.inner.port}"

    def close(self) -> None:
        self.inner.stop()


@pytest.fixture
def tls(tmp_path):
    made = []

    def start(**kw):
        cert, key = _make_cert(tmp_path, f"c{len(made)}", **kw)
        srv = TLSServer(cert, key)
        made.append(srv)
        return srv, cert

    yield start
    for srv in made:
        srv.close()


TLS_SPEC = """
version: 1
name: {name}
base_url: ${{env:API}}
{defaults}
secrets:
  tok: {{env: API_TOKEN}}
auth: {{bearer: tok}}
requests:
  - {{name: "{name} ok", url: /ok}}
"""


def test_b26_self_signed_and_expired_certificates(cwd, tls):
    """B26: a self-signed, expired or wrong-host certificate: "TLS verification failed for
    host:port (...)", exit 4, and nothing about the token."""
    srv, cert = tls()
    r = run(cwd, TLS_SPEC.format(name="self", defaults=""), env={"API": srv.url, "API_TOKEN": CANARY})
    assert r.code == 4, r.out + r.err
    assert f"TLS verification failed for 127.0.0.1:{srv.inner.port} (self-signed certificate)" in r.out
    r.assert_clean()
    # trusted through REQUESTS_CA_BUNDLE: passes
    r = run(cwd, TLS_SPEC.format(name="trusted", defaults=""),
            env={"API": srv.url, "API_TOKEN": CANARY, "REQUESTS_CA_BUNDLE": str(cert)})
    assert r.code == 0, r.out + r.err

    old, old_cert = tls(expired=True)
    r = run(cwd, TLS_SPEC.format(name="expired", defaults=""),
            env={"API": old.url, "API_TOKEN": CANARY, "REQUESTS_CA_BUNDLE": str(old_cert)})
    assert r.code == 4, r.out + r.err
    assert "certificate has expired" in r.out

    other, other_cert = tls(host="api.example.test")
    r = run(cwd, TLS_SPEC.format(name="wrong host", defaults=""),
            env={"API": other.url, "API_TOKEN": CANARY, "REQUESTS_CA_BUNDLE": str(other_cert)})
    assert r.code == 4, r.out + r.err
    assert "TLS verification failed" in r.out and "mismatch" in r.out.lower()
    r.assert_clean()


def test_b23_verify_false_in_one_file_does_not_leak_into_the_next(cwd, tls):
    """B23 (CVE-2024-35195): file a has `defaults.verify: false`, file b the default, same
    self-signed host: a passes (with a warning in the terminal and the reports), b fails TLS."""
    srv, _cert = tls()
    (cwd / "a.yaml").write_text(TLS_SPEC.format(name="a", defaults="defaults: {verify: false}"))
    (cwd / "b.yaml").write_text(TLS_SPEC.format(name="b", defaults=""))
    out, err = io.StringIO(), io.StringIO()
    code = main(["run", "a.yaml", "b.yaml", "--junit", "j.xml", "--json", "r.json"], stdout=out, stderr=err,
                environ={"API": srv.url, "API_TOKEN": CANARY})
    text = out.getvalue()
    assert code == 4, text + err.getvalue()
    assert "TLS certificate verification is DISABLED" in text
    assert "TLS verification failed" in text
    report = json.loads((cwd / "r.json").read_text())
    assert "DISABLED" in json.dumps(report)
    assert "DISABLED" in (cwd / "j.xml").read_text()


# --------------------------------------------------------------------------- F. network faults


def test_f48_refused_then_the_next_step_runs(cwd, http_server):
    """F48: connection refused names host:port; the next request still runs; exit 4."""
    port = dead_port()
    spec = bearer(f"""
        - {{name: down, url: "http://127.0.0.1:{port}/x"}}
        - {{name: up, url: /ok}}
    """)
    r = run(cwd, spec, env={"API": http_server.url, "API_TOKEN": CANARY})
    assert r.code == 4
    assert f"connection refused by 127.0.0.1:{port}" in r.out and "1 passed" in r.out
    r.assert_clean()


def test_f48_dns_failure(cwd):
    spec = bearer("""
        - {name: nxdomain, url: "http://no-such-host.invalid/x", timeout: 3}
    """)
    r = run(cwd, spec, env={"API": "http://127.0.0.1:1", "API_TOKEN": CANARY})
    assert r.code == 4, r.out + r.err
    assert "no-such-host.invalid" in r.out and ("DNS" in r.out or "timed out" in r.out)
    r.assert_clean()


@pytest.fixture
def blackhole():
    """A listening socket whose accept queue is full: new SYNs are dropped, connect hangs."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(0)
    port = srv.getsockname()[1]
    fillers = []
    for _ in range(4):
        c = socket.socket()
        c.setblocking(False)
        try:
            c.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        fillers.append(c)
    time.sleep(0.05)
    probe = socket.socket()
    probe.settimeout(0.3)
    try:
        probe.connect(("127.0.0.1", port))
        hangs = False
    except (socket.timeout, OSError):
        hangs = True
    probe.close()
    yield port if hangs else None
    for c in fillers:
        c.close()
    srv.close()


def test_f49_blackholed_connect_hits_our_deadline(cwd, blackhole):
    """F49: a connect that never completes: our deadline fires (requests has none); exit 4."""
    if blackhole is None:
        pytest.skip("this kernel completes connects to a full backlog")
    spec = bearer(f"""
        - {{name: blackholed, url: "http://127.0.0.1:{blackhole}/x", timeout: 0.5}}
    """)
    started = time.monotonic()
    r = run(cwd, spec, env={"API": "http://127.0.0.1:1", "API_TOKEN": CANARY})
    assert time.monotonic() - started < 4
    assert r.code == 4, r.out + r.err
    assert "timed out after 0.5 s" in r.out and f"127.0.0.1:{blackhole}" in r.out


def test_f50_slow_body_hits_the_whole_exchange_deadline(cwd, http_server):
    """F50: one byte every 0.2 s never trips a read timeout; the 1 s deadline does; exit 4."""
    spec = bearer("""
        - {name: trickle, url: "/slow?n=40&delay=0.2", timeout: 1}
    """)
    started = time.monotonic()
    r = run(cwd, spec, env={"API": http_server.url, "API_TOKEN": CANARY})
    assert time.monotonic() - started < 3
    assert r.code == 4, r.out + r.err
    assert "timed out after 1 s reading the response" in r.out


@pytest.fixture
def raw_server():
    made = []

    def start(responses):
        srv = RawServer(responses)
        made.append(srv)
        return srv

    yield start
    for srv in made:
        srv.close()


def _chunked_bad(conn):
    conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n"
                 b"5\r\nhello\r\nZZ\r\nnot hex\r\n0\r\n\r\n")
    conn.shutdown(socket.SHUT_WR)


def _chunked_cut(conn):
    conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n"
                 b"400\r\n" + b"x" * 100)
    conn.shutdown(socket.SHUT_WR)


def test_f51_short_body_and_bad_chunking_are_one_clear_line(cwd, raw_server):
    """F51: a short Content-Length or broken chunked encoding: "connection closed ... after N
    of M bytes", never ChunkedEncodingError/IncompleteRead; exit 4."""
    srv = raw_server({
        "/short": http("200 OK", [("Content-Type", "text/plain")], b"y" * 1024, length=10000),
        "/badchunk": _chunked_bad,
        "/cutchunk": _chunked_cut,
        "/ok": http("200 OK", [("Content-Type", "application/json")], b"{}"),
    })
    spec = bearer("""
        - {name: short, url: /short}
        - {name: bad chunk, url: /badchunk}
        - {name: cut chunk, url: /cutchunk}
        - {name: fine, url: /ok}
    """)
    r = run(cwd, spec, env={"API": srv.url, "API_TOKEN": CANARY})
    assert r.code == 4, r.out + r.err
    assert "after 1,024 of 10,000 bytes" in r.out
    for word in ("ChunkedEncodingError", "IncompleteRead", "ProtocolError", "InvalidChunkLength"):
        assert word not in r.text
    errors = [s for s in r.steps() if s["outcome"] == "ERROR"]
    assert len(errors) == 3
    assert "1 passed" in r.out
    r.assert_clean()


def test_f52_5xx_html_is_a_fail_with_a_short_sanitised_excerpt(cwd, raw_server):
    """F52: 500/502/503 with an HTML body: exit 1, a short sanitised excerpt; a POST with an
    inherited retry is not resent."""
    page = b"<html><body>[bold]PASS[/] \x1b[2J\x00 " + b"Internal error. " * 2000 + b"</body></html>"
    srv = raw_server({
        f"/{code}": http(f"{code} Oops", [("Content-Type", "text/html")], page) for code in (500, 502, 503)
    })
    spec = bearer("""
        - {name: five hundred, url: /500}
        - {name: bad gateway, url: /502}
        - {name: unavailable post, url: /503, method: POST, json: {a: 1}}
    """).replace("requests:", "defaults: {retry: {attempts: 3, delay: 0}}\nrequests:")
    r = run(cwd, spec, env={"API": srv.url, "API_TOKEN": CANARY})
    assert r.code == 1, r.out + r.err
    assert "\x1b" not in r.out and "\x00" not in r.out
    assert len(r.out) < 100_000
    posts = [h for h in srv.hits if h.startswith(b"POST")]
    gets = [h for h in srv.hits if h.startswith(b"GET")]
    assert len(posts) == 1 and len(gets) == 6
    r.assert_clean()


def test_f53_body_cap(cwd, http_server):
    """F53: a body over max_body (and a gzip bomb) fails with a clear message, bounded memory."""
    spec = bearer("""
        - {name: big, url: "/big?size=3000000", max_body: 1000000}
        - {name: bomb, url: /gzipbomb}
    """)
    r = run(cwd, spec, env={"API": http_server.url, "API_TOKEN": CANARY})
    assert r.code == 4, r.out + r.err
    assert "response body exceeds" in r.out and "max_body" in r.out


@pytest.mark.parametrize("kind", ["truncated", "bigint", "deep", "nan", "html"])
def test_f54_bad_json_is_a_fail_with_a_position(kind, cwd, http_server):
    """F54: truncated JSON, a 5,000-digit int (ValueError, not JSONDecodeError), 100k nested
    `[` (RecursionError), NaN, HTML: "response is not valid JSON ..."; exit 1, no traceback."""
    spec = bearer(f"""
        - name: bad json
          url: "/badjson?kind={kind}"
          expect: {{json: {{$.a: 1}}}}
          capture: {{a: $.a}}
    """)
    r = run(cwd, spec, env={"API": http_server.url, "API_TOKEN": CANARY})
    assert r.code == 1, r.out + r.err
    assert "not valid JSON" in r.out or "nested too deeply" in r.out or "NaN" in r.out, r.out
    assert "RecursionError" not in r.text and "Exceeds the limit" not in r.text
    r.assert_clean()


def test_f55_binary_body_and_control_bytes_in_headers(cwd, raw_server):
    """F55: a binary body, NUL/ESC/0x12 in a body and in a header: the JUnit and JSON reports
    stay valid (checked by `run`), the console carries no control character."""
    body = bytes(range(256)) * 4 + b"\x00\x1b[31m\x12"
    srv = raw_server({
        "/bin": http("500 Bad", [("Content-Type", "application/octet-stream"), (b"X-Evil: a\x1b[2Jb\x12c\x00d")], body),
        "/text": http("500 Bad", [("Content-Type", "text/plain")], b"ok \x00\x1b]0;title\x07 \x12 ::warning::x"),
    })
    spec = bearer("""
        - {name: binary, url: /bin}
        - {name: text, url: /text}
    """)
    r = run(cwd, spec, env={"API": srv.url, "API_TOKEN": CANARY})
    assert r.code in (1, 4), r.out + r.err
    for ch in ("\x00", "\x1b", "\x12", "\x07"):
        assert ch not in r.out
    r.assert_clean()


def _many_headers(conn):
    conn.sendall(b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(150))
                 + b"Content-Length: 2\r\n\r\n{}")
    conn.shutdown(socket.SHUT_WR)


def test_f56_huge_duplicate_and_non_latin1_headers(cwd, raw_server):
    """F56: a 64 KB header, duplicate WWW-Authenticate, non-latin-1 header bytes: no crash,
    every challenge parsed; a header line over http.client's limit is a clear error."""
    challenges = [
        ("WWW-Authenticate", 'Basic realm="legacy"'),
        ("WWW-Authenticate", 'Bearer realm="api", error="invalid_token", error_description="The token expired"'),
    ]
    srv = raw_server({
        "/huge": http("200 OK", [("Content-Type", "application/json"), ("X-Big", "a" * 60_000)], b"{}"),
        "/toohuge": http("200 OK", [("X-Big", "a" * 70_000)], b"{}"),
        "/many": _many_headers,
        "/dup": http("401 Unauthorized", [("Content-Type", "application/json"), *challenges], b"{}"),
        "/utf8": http("401 Unauthorized", [b'WWW-Authenticate: Bearer error="invalid_token", '
                                            b'error_description="jeton expir\xc3\xa9 \xe2\x80\x9d\xff"'], b"{}"),
    })
    spec = bearer("""
        - {name: huge, url: /huge, expect: {headers: {X-Big: {length: 60000}}}}
        - {name: too huge, url: /toohuge}
        - {name: many, url: /many}
        - {name: dup, url: /dup}
        - {name: utf8, url: /utf8}
    """)
    r = run(cwd, spec, env={"API": srv.url, "API_TOKEN": CANARY})
    assert r.code == 3, r.out + r.err
    steps = {s["name"]: s for s in r.steps()}
    assert steps["huge"]["outcome"] == "PASS"
    assert steps["too huge"]["outcome"] == "ERROR" and steps["many"]["outcome"] == "ERROR"
    assert steps["dup"]["outcome"] == "AUTH" and steps["utf8"]["outcome"] == "AUTH"
    assert "The token expired" in r.out and "invalid_token" in r.out
    dup = json.dumps(steps["dup"])
    assert "Basic" in dup and "invalid_token" in dup
    assert "line too long" not in r.out.lower() or "header" in r.out.lower()
    r.assert_clean()


# --------------------------------------------------------------------------- G. auth semantics


OAUTH_SPEC = """
version: 1
name: oauth
base_url: ${{env:API}}
secrets:
  tok:
    oauth2: {{token_url: "{token_url}", client_id: {client_id}, client_secret: "${{env:CS}}"}}
auth: {{bearer: tok}}
requests:
{requests}
"""


def oauth_spec(token_url: str, requests: str, client_id: str = "cid") -> str:
    return OAUTH_SPEC.format(token_url=token_url, client_id=client_id,
                             requests=textwrap.indent(textwrap.dedent(requests).strip("\n"), "  "))


def test_g57_g58_expired_jwt_with_an_invalid_token_challenge(cwd):
    """G57/G58: a JWT that expired 3 h ago, refused with invalid_token: both shown, exit 3."""
    from runner.demo import DemoServer

    with DemoServer() as demo:
        token = demo.mint_token(-3 * 3600)
        spec = bearer("- {name: pets, url: /pets}")
        r = run(cwd, spec, env={"API": demo.url, "API_TOKEN": token})
    assert r.code == 3, r.out + r.err
    assert "invalid_token" in r.out and "expired" in r.out
    assert "3 h" in r.out and "unverified" in r.out
    assert token not in r.text


def test_g59_g60_g61_g62_challenges_and_hints(cwd, http_server, raw_server):
    """G59 no challenge, G60 a Basic challenge after Bearer, G61 403 insufficient_scope
    (FAIL, exit 1 alone), G62 400 invalid_request named."""
    srv = raw_server({
        "/dup400": http("400 Bad Request", [("WWW-Authenticate", 'Bearer error="invalid_request", '
                                              'error_description="token in both header and query"')], b"{}"),
    })
    spec = bearer(f"""
        - {{name: no challenge, url: /nochallenge}}
        - {{name: basic wanted, url: /basic}}
        - {{name: scope, url: /forbidden}}
        - {{name: invalid request, url: "{srv.url}/dup400"}}
    """)
    r = run(cwd, spec, env={"API": http_server.url, "API_TOKEN": CANARY})
    assert r.code == 3, r.out + r.err
    steps = {s["name"]: s for s in r.steps()}
    assert steps["no challenge"]["outcome"] == "AUTH" and steps["basic wanted"]["outcome"] == "AUTH"
    assert steps["scope"]["outcome"] == "FAIL" and steps["invalid request"]["outcome"] == "FAIL"
    out = r.out
    assert "no challenge" in out and "Basic" in out
    assert "pets:write" in out and "lacks" in out
    assert "invalid_request" in out
    r.assert_clean()


def test_g61_403_does_not_refresh(cwd, http_server):
    with TokenServer(client_id="cid", client_secret="cs-secret") as ts:
        spec = oauth_spec(ts.url, "- {name: scope, url: /forbidden}")
        r = run(cwd, spec, env={"API": http_server.url, "CS": "cs-secret"})
        assert r.code == 1, r.out + r.err
        assert ts.calls == 1


def test_g63_one_refresh_one_resend_then_auth(cwd, http_server):
    """G63: an oauth2 token refused with invalid_token: one refresh, one resend; the second
    401 is AUTH; the token endpoint is hit exactly twice."""
    http_server.valid_tokens = set()  # nothing the token server issues is accepted
    with TokenServer(client_id="cid", client_secret="cs-secret") as ts:
        spec = oauth_spec(ts.url, "- {name: protected, url: /protected}")
        r = run(cwd, spec, env={"API": http_server.url, "CS": "cs-secret"})
        assert r.code == 3, r.out + r.err
        assert ts.calls == 2
        assert len(http_server.requests_to("/protected")) == 2
        assert "refreshed: a new token was fetched and the request resent" in r.out
        assert "(after a token refresh)" in r.json_text
        assert "cs-secret" not in r.text


class _ShortLivedAPI:
    """A token endpoint and a resource on one server: tokens are opaque, valid for `ttl`
    seconds (float precision), and refused with 401 invalid_token after that."""

    def __init__(self, ttl: float = 2.0) -> None:
        self.ttl = ttl
        self.issued: dict[str, float] = {}
        self.calls = 0
        self.refused = 0
        self.down = False
        self.lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _send(self, status, doc, headers=()):
                body = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for k, v in headers:
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if owner.down:
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                with owner.lock:
                    owner.calls += 1
                    token = f"opaque-{owner.calls}-{os.urandom(6).hex()}"
                    owner.issued[token] = time.monotonic()
                self._send(200, {"access_token": token, "token_type": "Bearer", "expires_in": int(owner.ttl)})

            def do_GET(self):
                if self.path.startswith("/take-down"):
                    owner.down = True
                    return self._send(200, {"ok": True})
                if self.path.startswith("/revoke"):
                    with owner.lock:
                        owner.issued.clear()
                    return self._send(200, {"ok": True})
                token = (self.headers.get("Authorization") or "")[7:]
                issued = owner.issued.get(token)
                if issued is None or time.monotonic() - issued >= owner.ttl:
                    with owner.lock:
                        owner.refused += 1
                    return self._send(401, {"error": "invalid_token"},
                                      [("WWW-Authenticate", 'Bearer error="invalid_token", error_description="expired"')])
                time.sleep(float(self.path.split("sleep=", 1)[1]) if "sleep=" in self.path else 0)
                self._send(200, {"ok": True})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_g64_short_lived_token_is_renewed_before_it_expires(cwd):
    """G64: expires_in=2 over a ~4 s run: renewed ahead of expiry, so no 401 at all."""
    api = _ShortLivedAPI(ttl=2)
    try:
        reqs = "\n".join(f"- {{name: call {i}, url: /data?sleep=0.35}}" for i in range(11))
        r = run(cwd, oauth_spec(api.url + "/token", reqs), env={"API": api.url, "CS": "cs-secret"})
    finally:
        api.close()
    assert r.code == 0, r.out + r.err
    assert api.refused == 0
    assert api.calls >= 3  # renewed along the way, not once per request
    assert api.calls <= 8
    assert "token refreshed" not in r.out.lower()


def test_g65_token_endpoint_down_during_a_refresh(cwd):
    """G65: the token is refused mid-run and the token endpoint is down: that request and the
    rest are AUTH (never sent with a stale token again), exit 3, the reason named."""
    api = _ShortLivedAPI(ttl=3600)
    try:
        reqs = """
            - {name: first, url: /data}
            - {name: break things, url: /take-down, auth: none}
            - {name: revoke, url: /revoke, auth: none}
            - {name: refused then refresh fails, url: /data}
            - {name: after, url: /data}
            - {name: no auth still runs, url: /take-down, auth: none}
        """
        r = run(cwd, oauth_spec(api.url + "/token", reqs), env={"API": api.url, "CS": "cs-secret"})
    finally:
        api.close()
    assert r.code == 3, r.out + r.err
    outcomes = [s["outcome"] for s in r.steps()]
    assert outcomes == ["PASS", "PASS", "PASS", "AUTH", "AUTH", "PASS"], outcomes
    assert api.calls == 1
    assert api.refused == 1  # the request after the failed refresh was not sent
    assert "token endpoint" in r.out and "could not be reached" in r.out
    assert "cs-secret" not in r.text


# --------------------------------------------------------------------------- E. secret-source failures


@pytest.mark.parametrize(
    "environ, message",
    [({}, "is not set"), ({"LEAK_TOKEN": ""}, "empty"), ({"LEAK_TOKEN": "   "}, "only whitespace")],
)
def test_e42_env_unset_empty_or_whitespace(environ, message, cwd, http_server):
    """E42: distinct messages naming the variable; nothing sent; exit 3."""
    r = run(cwd, SOURCE_SPEC.format(kind="env", source="{env: LEAK_TOKEN}"), env={"API": http_server.url, **environ})
    assert r.code == 3, r.out + r.err
    assert message in r.out and "LEAK_TOKEN" in r.out
    assert not http_server.received
