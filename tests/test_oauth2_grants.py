"""oauth2 grants `password` and `refresh_token`, and `auth_method`, against a real OAuth2
server implementation (Authlib's token endpoint on 127.0.0.1, tests/authlib_server.py);
HAZARDS 78."""

from __future__ import annotations

import pytest

from runner.errors import SecretError
from runner.model import SecretDecl
from runner.redact import Redactor
from runner.secrets import SecretStore, SourceContext
from runner.source import Span
from runner.template import Scope, render
from runner.transport import post_form
from tests.authlib_server import CLIENT_ID, CLIENT_SECRET, PASSWORD, USERNAME, AuthlibTokenServer
from tests.helpers import CANARY, run_cli, write


@pytest.fixture(autouse=True)
def _authlib_over_http(monkeypatch):
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")  # Authlib wants https; the tests use 127.0.0.1


@pytest.fixture
def auth_server():
    with AuthlibTokenServer() as srv:
        yield srv


ENV = {"CLIENT_SECRET": CLIENT_SECRET, "BOT_PASSWORD": PASSWORD}


def spec(server: AuthlibTokenServer, oauth: str, requests: str = "  - {name: resource, url: /api}\n") -> str:
    return (
        "version: 1\nname: grants\nbase_url: ${env:API}\n"
        "secrets:\n"
        "  bot_password: {env: BOT_PASSWORD}\n"
        "  client_secret: {env: CLIENT_SECRET}\n"
        "  api_token:\n"
        "    oauth2:\n"
        f"      token_url: {server.url}\n"
        f"      client_id: {CLIENT_ID}\n"
        + "".join(f"      {line}\n" for line in oauth.strip().splitlines())
        + "auth: {bearer: api_token}\nrequests:\n" + requests
    )


PASSWORD_GRANT = """
grant: password
username: ci-bot
password: ${secret:bot_password}
client_secret: ${secret:client_secret}
"""


def run(server: AuthlibTokenServer, tmp_path, oauth: str, *extra: str, env=None):
    write(tmp_path / "s.yaml", spec(server, oauth))
    return run_cli(["run", str(tmp_path / "s.yaml"), *extra], env={**ENV, "API": server.base, **(env or {})})


def no_leak(*texts: str) -> None:
    for text in texts:
        assert CANARY not in text


@pytest.mark.parametrize("method, seen", [
    (None, "basic"),  # the default: client_secret_basic
    ("client_secret_basic", "basic"),
    ("basic", "basic"),  # DESIGN's short form
    ("client_secret_post", "post"),
    ("post", "post"),
])
def test_password_grant_with_each_client_auth_method(auth_server, tmp_path, method, seen):
    oauth = PASSWORD_GRANT + (f"auth_method: {method}\n" if method else "")
    code, out, err = run(auth_server, tmp_path, oauth, "-vv")
    assert code == 0, out + err
    assert auth_server.state.grants_seen == ["password"]
    assert auth_server.state.auth_seen == [seen]  # Authlib accepted the secret ('%', ':', '+', '&', '/' in it)
    no_leak(out, err)


def test_public_client_password_grant(tmp_path, monkeypatch):
    with AuthlibTokenServer(client_secret=None, auth_methods=["none"]) as srv:
        oauth = "grant: password\nusername: ci-bot\npassword: ${secret:bot_password}\n"
        code, out, err = run(srv, tmp_path, oauth)
        assert code == 0, out + err
        assert srv.state.auth_seen == ["none"]


def test_wrong_password_is_auth_naming_the_error_never_the_password(auth_server, tmp_path):
    code, out, err = run(auth_server, tmp_path, PASSWORD_GRANT, "-vv", env={"BOT_PASSWORD": "wrong-" + CANARY})
    assert code == 3, out + err
    assert "api_token" in out and "oauth2 password at" in out
    assert "HTTP 400" in out and "Invalid 'username' or 'password'" in out  # Authlib's own words
    no_leak(out, err)


def test_client_secret_basic_form_encodes_before_base64(auth_server, tmp_path):
    # Authlib url-decodes the Basic credentials (RFC 6749 2.3.1); a secret with ':' and '%'
    # sent unencoded would be refused as invalid_client.
    oauth = "client_secret: ${secret:client_secret}\nauth_method: basic\n"
    code, out, err = run(auth_server, tmp_path, oauth)
    assert code == 0, out + err
    assert auth_server.state.grants_seen == ["client_credentials"]


def test_wrong_client_secret_suggests_the_other_method(auth_server, tmp_path):
    code, out, err = run(auth_server, tmp_path, PASSWORD_GRANT, env={"CLIENT_SECRET": "nope-" + CANARY})
    assert code == 3
    assert "invalid_client" in out and "auth_method" in out
    no_leak(out, err)


# --------------------------------------------------------------------------- renewal and rotation


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _store(server: AuthlibTokenServer, clock: FakeClock, environ: dict, **options) -> tuple[SecretStore, SecretDecl, Redactor]:
    decls: dict[str, SecretDecl] = {}
    for name, var in (("bot_password", "BOT_PASSWORD"), ("client_secret", "CLIENT_SECRET"), ("first_refresh", "REFRESH")):
        decls[name] = SecretDecl(name, "env", {"env": var}, Span.point("runner.yaml", 2, 3), ".")
    opts = {"token_url": server.url, "client_id": CLIENT_ID, "client_secret": "${secret:client_secret}", **options}
    decl = SecretDecl("api_token", "oauth2", {"oauth2": opts}, Span.point("runner.yaml", 5, 3), ".")
    holder: list[SecretStore] = []

    def resolve_ref(value):
        return render(value, Scope(variables={}, environ=environ, secret=lambda n: holder[0].get(decls[n])))

    redactor = Redactor()
    ctx = SourceContext(environ=environ, resolve_ref=resolve_ref, post_form=post_form, clock=clock)
    holder.append(SecretStore(ctx, redactor))
    return holder[0], decl, redactor


def test_refresh_token_grant_uses_each_rotated_token_for_the_next_renewal(auth_server):
    first = auth_server.issue_refresh_token()
    clock = FakeClock()
    store, decl, redactor = _store(auth_server, clock, {**ENV, "REFRESH": first},
                                   grant="refresh_token", refresh_token="${secret:first_refresh}")
    tokens = [store.get(decl)]
    for _ in range(3):
        clock.now += 3600  # expired: renewed
        tokens.append(store.get(decl))
    seen = auth_server.state.refresh_tokens_seen
    assert seen[0] == first
    assert len(set(seen)) == 4  # each renewal used the newest refresh token (Authlib revokes the old one)
    assert len(set(tokens)) == 4
    for rotated in seen[1:]:
        assert redactor.mask(f"x {rotated} y") == "x *** y"  # rotated refresh tokens are masked


def test_a_stale_refresh_token_is_refused_by_the_server(auth_server):
    # The control: the server really rotates, so re-using the first token would fail.
    first = auth_server.issue_refresh_token()
    clock = FakeClock()
    store, decl, _ = _store(auth_server, clock, {**ENV, "REFRESH": first},
                            grant="refresh_token", refresh_token="${secret:first_refresh}")
    store.get(decl)
    store.source(decl).rotated_refresh = None  # forget the rotation: the stale first token is sent
    clock.now += 3600
    with pytest.raises(SecretError) as info:
        store.get(decl)
    assert "invalid_grant" in info.value.reason
    assert first not in str(info.value)


def test_password_grant_renews_with_its_refresh_token_then_logs_in_again_when_refused(auth_server):
    clock = FakeClock()
    store, decl, _ = _store(auth_server, clock, ENV, grant="password", username=USERNAME,
                            password="${secret:bot_password}")
    store.get(decl)
    clock.now += 3600
    store.get(decl)
    assert auth_server.state.grants_seen == ["password", "refresh_token"]
    with auth_server.state.lock:
        for token in auth_server.state.tokens.values():
            token.revoked = True  # the session ended on the server
    clock.now += 3600
    store.get(decl)
    assert auth_server.state.grants_seen == ["password", "refresh_token", "refresh_token", "password"]


def test_expires_in_as_a_string(tmp_path):
    with AuthlibTokenServer(expires_in="600") as srv:
        clock = FakeClock()
        store, decl, _ = _store(srv, clock, ENV)
        store.get(decl)
        clock.now += 500
        store.get(decl)
        assert srv.state.grants_seen == ["client_credentials"]
        clock.now += 60  # 40 s left: renewed
        store.get(decl)
        assert srv.state.grants_seen == ["client_credentials", "client_credentials"]


def test_unexpected_401_renews_through_the_refresh_token_and_resends(auth_server, tmp_path):
    write(tmp_path / "s.yaml", spec(auth_server, PASSWORD_GRANT, "  - {name: one, url: /api}\n  - {name: two, url: /api}\n"))

    class Revoking(set):  # the API forgets every access token after its first use
        def __contains__(self, token):
            ok = set.__contains__(self, token)
            self.clear()
            return ok

    auth_server.state.access = Revoking()
    code, out, err = run_cli(["run", str(tmp_path / "s.yaml"), "-v"], env={**ENV, "API": auth_server.base})
    assert code == 0, out + err
    assert auth_server.state.grants_seen == ["password", "refresh_token"]
    assert "refreshed" in out
    no_leak(out, err)


# --------------------------------------------------------------------------- validate


@pytest.mark.parametrize("oauth, message", [
    ("grant: password\nusername: ci-bot\n", "oauth2 grant 'password' needs 'password'"),
    ("grant: refresh_token\n", "oauth2 grant 'refresh_token' needs 'refresh_token'"),
    ("client_secret: ${secret:client_secret}\nusername: ci-bot\n", "'username' is only used by the password grant"),
    ("grant: password\nusername: ci-bot\npassword: hunter2-literal\n", "must be a ${secret:NAME} or ${env:NAME} reference"),
    ("grant: implicit\n", "grant"),
    ("client_secret: ${secret:client_secret}\nauth_method: private_key_jwt\n", "auth_method"),
])
def test_validate_checks_each_grant(tmp_path, oauth, message):
    with AuthlibTokenServer() as srv:
        write(tmp_path / "s.yaml", spec(srv, oauth))
    code, out, err = run_cli(["validate", str(tmp_path / "s.yaml")])
    assert code == 2, out + err
    assert message in err
    assert "hunter2-literal" not in err


def test_validate_accepts_the_short_auth_method_names(tmp_path):
    with AuthlibTokenServer() as srv:
        write(tmp_path / "s.yaml", spec(srv, PASSWORD_GRANT + "auth_method: post\n"))
    code, out, err = run_cli(["validate", str(tmp_path / "s.yaml")])
    assert code == 0, out + err
