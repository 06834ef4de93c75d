"""The canary sweep for the 0.2 credentials (issue 9): a login password and its token, an
oauth2 client secret, password and rotated refresh token, a PEM key and a .p12 password
from secrets, a Digest password -- through every output of one run at once (console
-vv and --curl, stderr, JUnit, JSON, Markdown), on passing and on failing paths."""

from __future__ import annotations

import base64
import threading
from urllib.parse import quote, quote_plus

import pytest
from flask import Flask, jsonify
from flask_httpauth import HTTPDigestAuth
from werkzeug.serving import make_server

from tests.authlib_server import CLIENT_SECRET, AuthlibTokenServer
from tests.authlib_server import PASSWORD as OAUTH_PASSWORD
from tests.helpers import CANARY, run_cli, write
from tests.login_server import PASSWORD as LOGIN_PASSWORD
from tests.login_server import LoginServer, json_answer
from tests.test_mtls import p12_bundle
from tests.tls_server import Certs, MtlsServer

DIGEST_PASSWORD = "dg-" + CANARY
P12_PASSWORD = "p12-" + CANARY


def forms(value: str) -> dict[str, str]:
    return {
        "plain": value,
        "url": quote(value, safe=""),
        "url_plus": quote_plus(value),
        "base64": base64.b64encode(value.encode()).decode().rstrip("="),
    }


@pytest.fixture
def digest_url():
    app = Flask("digest-leak")
    app.config["SECRET_KEY"] = "test only"
    auth = HTTPDigestAuth()

    @auth.get_password
    def get_password(username: str):
        return DIGEST_PASSWORD if username == "alice" else None

    @app.route("/d")
    @auth.login_required
    def protected():
        return jsonify(user=auth.current_user())

    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_new_credentials_never_leak(tmp_path, digest_url, monkeypatch):
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")
    certs_dir = tmp_path / "certs"
    certs_dir.mkdir()
    certs = Certs(certs_dir)
    (certs_dir / "client.p12").write_bytes(p12_bundle(certs, P12_PASSWORD))
    with LoginServer() as login, AuthlibTokenServer() as oauth, MtlsServer(certs) as mtls:
        def echo_login(call, body):  # every login is refused, quoting what it was sent
            return json_answer({"error": f"bad password {body.get('password')}", "request": body}, 401)

        write(tmp_path / "login.yaml", f"""
            version: 1
            name: login
            secrets:
              bot_password: {{env: BOT_PASSWORD}}
              good_login:
                http:
                  url: {login.url}/auth/login
                  json: {{username: ci-bot, password: "${{secret:bot_password}}"}}
                  token: $.access_token
              echo_login:
                http:
                  url: {login.url}/auth/echo-login
                  json: {{username: ci-bot, password: "${{secret:bot_password}}"}}
                  token: $.access_token
            auth: {{bearer: good_login}}
            requests:
              - {{name: accepted, url: "{login.url}/api/me"}}
              - {{name: token in the query, url: "{login.url}/api/me?t=${{secret:good_login}}", expect: {{status: 201}}}}
              - {{name: refused login, url: "{login.url}/api/me", auth: {{bearer: echo_login}}}}
        """)
        write(tmp_path / "oauth.yaml", f"""
            version: 1
            name: oauth
            secrets:
              oauth_password: {{env: OAUTH_PASSWORD}}
              client_secret: {{env: CLIENT_SECRET}}
              user_token:
                oauth2:
                  token_url: {oauth.url}
                  grant: password
                  client_id: runner
                  client_secret: ${{secret:client_secret}}
                  username: ci-bot
                  password: ${{secret:oauth_password}}
            auth: {{bearer: user_token}}
            requests:
              - {{name: resource, url: "{oauth.base}/api"}}
              - {{name: after a refresh, url: "{oauth.base}/api"}}
              - {{name: fails on purpose, url: "{oauth.base}/api", expect: {{status: 418}}}}
        """)
        write(tmp_path / "tls.yaml", f"""
            version: 1
            name: tls
            secrets:
              client_key: {{env: CLIENT_KEY}}
              client_cert: {{env: CLIENT_CERT}}
              p12_password: {{env: P12_PASSWORD}}
              digest_pw: {{env: DIGEST_PASSWORD}}
            requests:
              - name: pem from secrets
                url: {mtls.url}/whoami
                tls: {{cert: "${{secret:client_cert}}", key: "${{secret:client_key}}", ca: certs/ca.pem}}
                expect: {{json: {{$.client: nobody}}}}
              - name: p12
                url: {mtls.url}/whoami
                tls: {{pkcs12: {{file: certs/client.p12, password: "${{secret:p12_password}}"}}, ca: certs/ca.pem}}
              - name: digest
                url: {digest_url}/d
                auth: {{digest: {{username: alice, password: digest_pw}}}}
                expect: {{status: 201}}
        """)
        login.routes["/auth/echo-login"] = echo_login

        class Revoking(set):  # the API forgets each access token after one use: a refresh follows
            def __contains__(self, token):
                ok = set.__contains__(self, token)
                self.clear()
                return ok

        oauth.state.access = Revoking()
        environ = {
            "BOT_PASSWORD": LOGIN_PASSWORD, "OAUTH_PASSWORD": OAUTH_PASSWORD, "CLIENT_SECRET": CLIENT_SECRET,
            "CLIENT_KEY": certs.key_pem, "CLIENT_CERT": certs.cert_pem, "P12_PASSWORD": P12_PASSWORD,
            "DIGEST_PASSWORD": DIGEST_PASSWORD, "COLUMNS": "200",
        }
        monkeypatch.chdir(tmp_path)
        args = ["run", "login.yaml", "oauth.yaml", "tls.yaml", "-vv", "--curl", "--jobs", "2",
                "--junit", "j.xml", "--json", "r.json", "--summary", "s.md", "--html", "h.html"]
        code, out, err = run_cli(args, env=environ)
    assert code == 3, out + err  # the refused login
    outputs = {"stdout": out, "stderr": err, **{n: (tmp_path / n).read_text() for n in ("j.xml", "r.json", "s.md", "h.html")}}
    secrets = {
        "login password": LOGIN_PASSWORD, "client secret": CLIENT_SECRET, "oauth password": OAUTH_PASSWORD,
        "p12 password": P12_PASSWORD, "digest password": DIGEST_PASSWORD, "canary": CANARY,
    }
    for where, text in outputs.items():
        for what, value in secrets.items():
            for form_name, form in forms(value).items():
                assert form not in text, f"{form_name} form of the {what} in {where}"
        for line in certs.key_pem.splitlines()[1:-1]:
            assert line not in text, f"a line of the PEM key in {where}"
    # each credential really was used (so masking is what kept it out)
    assert len(login.logins) >= 2
    assert oauth.state.grants_seen[:2] == ["password", "refresh_token"]  # a rotated refresh token was issued
    assert mtls.seen[:2] == ["ci-bot@example.test", "ci-bot@example.test"]
    assert "AUTH" in out and "***" in out

