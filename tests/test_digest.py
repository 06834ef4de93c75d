"""`auth: {digest: {username, password}}` against a server that really checks HTTP Digest
(Flask-HTTPAuth's HTTPDigestAuth, a test dependency, served on 127.0.0.1)."""

from __future__ import annotations

import threading

import pytest
from flask import Flask, jsonify
from flask_httpauth import HTTPDigestAuth
from werkzeug.serving import make_server

from tests.helpers import CANARY, run_cli, write

PASSWORD = "dg-" + CANARY


@pytest.fixture(scope="module")
def digest_server():
    app = Flask("digest")
    app.config["SECRET_KEY"] = "test only"
    auth = HTTPDigestAuth()  # MD5, qop=auth, nonce and opaque kept in Flask's session cookie
    seen: list[str] = []

    @auth.get_password
    def get_password(username: str):
        return PASSWORD if username == "alice" else None

    @app.route("/digest/<path:rest>", methods=["GET", "POST"])
    @auth.login_required
    def protected(rest: str):
        seen.append(auth.current_user())
        return jsonify(user=auth.current_user(), path=rest)

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", seen
    server.shutdown()


def spec(username: str = "alice") -> str:
    return (
        "version: 1\nname: digest\nbase_url: ${env:API}\n"
        "secrets:\n  pw: {env: DIGEST_PASSWORD}\n"
        f"auth: {{digest: {{username: {username}, password: pw}}}}\n"
        "requests:\n"
        "  - {name: first, url: /digest/one, expect: {json: {$.user: alice}}}\n"
        "  - {name: second, url: /digest/two?x=1, expect: {json: {$.path: two}}}\n"
        "  - {name: with a body, method: POST, url: /digest/three, json: {a: 1}}\n"
    )


def test_digest_auth_against_a_real_digest_server(digest_server, tmp_path):
    url, seen = digest_server
    seen.clear()
    write(tmp_path / "s.yaml", spec())
    code, out, err = run_cli(["run", str(tmp_path / "s.yaml"), "-vv", "--curl"],
                             env={"API": url, "DIGEST_PASSWORD": PASSWORD})
    assert code == 0, out + err
    assert seen == ["alice", "alice", "alice"]
    assert CANARY not in out + err


def test_wrong_digest_password_is_auth(digest_server, tmp_path):
    url, seen = digest_server
    write(tmp_path / "s.yaml", spec())
    code, out, err = run_cli(["run", str(tmp_path / "s.yaml")], env={"API": url, "DIGEST_PASSWORD": "wrong-" + CANARY})
    assert code == 3, out + err
    assert "AUTH" in out and "pw" in out
    assert CANARY not in out + err


def test_validate_checks_the_digest_password_secret(tmp_path):
    write(tmp_path / "s.yaml", spec().replace("password: pw", "password: nope"))
    code, out, err = run_cli(["validate", str(tmp_path / "s.yaml")])
    assert code == 2
    assert "secret 'nope' is not declared" in err
