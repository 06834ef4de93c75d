"""The `http` secret source (log in once, for every file) against a real login API on
127.0.0.1 (tests/login_server.py), run as a user runs it; HAZARDS 76 and 77."""

from __future__ import annotations

import json
import threading

import pytest

from runner.errors import SecretError
from runner.model import SecretDecl
from runner.redact import Redactor
from runner.secrets import SecretStore, SourceContext
from runner.source import Span
from runner.template import Scope, render
from runner.transport import send_once
from tests.helpers import CANARY, run_cli, write
from tests.login_server import PASSWORD, USERNAME, LoginServer, json_answer, token_for


@pytest.fixture
def login():
    with LoginServer() as srv:
        yield srv


def spec_text(name: str, login: str, requests: str = "  - {name: me, url: /api/me}\n") -> str:
    return (
        f"version: 1\nname: {name}\nbase_url: ${{env:API}}\n"
        "secrets:\n"
        "  bot_password: {env: BOT_PASSWORD}\n"
        "  api_token:\n"
        "    http:\n"
        + "".join(f"      {line}\n" for line in login.strip().splitlines())
        + "auth: {bearer: api_token}\n"
        "requests:\n" + requests
    )


LOGIN = """
url: ${env:API}/auth/login
json: {username: ci-bot, password: "${secret:bot_password}"}
token: $.access_token
expires_in: $.expires_in
"""


def env_for(login: LoginServer) -> dict[str, str]:
    return {"API": login.url, "BOT_PASSWORD": PASSWORD}


def assert_no_leak(*texts: str) -> None:
    for text in texts:
        assert CANARY not in text
        assert "pw-rr" not in text


# --------------------------------------------------------------------------- log in once


def test_one_login_shared_by_every_file_and_every_worker(login, tmp_path):
    for i in range(4):
        write(tmp_path / f"s{i}.yaml", spec_text(f"file {i}", LOGIN, "  - {name: me, url: /api/me}\n" * 3))
    code, out, err = run_cli(["run", str(tmp_path), "--jobs", "4"], env=env_for(login))
    assert code == 0, out + err
    assert len(login.logins) == 1  # one login for 4 files x 3 requests, 4 workers at once
    assert login.logins[0] == {"username": USERNAME, "password": PASSWORD}  # the input came from another secret
    assert login.seen_tokens == [token_for(1)] * 12
    assert "12 passed" in out
    assert_no_leak(out, err)


def test_form_login_with_headers(login, tmp_path):
    def answer(call, body):
        ok = body == {"username": USERNAME, "password": PASSWORD} and login.login_headers[-1].get("X-Client") == "runner"
        return login.issue(call) if ok else json_answer({"error": "invalid_request"}, 400)

    login.answer = answer
    text = """
url: ${env:API}/auth/login
form: {username: ci-bot, password: "${secret:bot_password}"}
headers: {X-Client: runner}
token: $.access_token
"""
    write(tmp_path / "s.yaml", spec_text("form", text))
    code, out, err = run_cli(["run", str(tmp_path / "s.yaml")], env=env_for(login))
    assert code == 0, out + err
    assert "application/x-www-form-urlencoded" in login.login_headers[0]["Content-Type"]


def test_unexpected_401_logs_in_again_once_and_resends(login, tmp_path):
    requests = "  - {name: first, url: /api/me}\n  - {name: after revocation, url: /api/me}\n"
    write(tmp_path / "s.yaml", spec_text("refresh", LOGIN, requests))

    class OneUse(set):  # the API forgets a token after it accepted it once
        def __contains__(self, token):
            ok = set.__contains__(self, token)
            self.discard(token)
            return ok

    login.valid = OneUse()
    code, out, err = run_cli(["run", str(tmp_path / "s.yaml"), "-v"], env=env_for(login))
    assert code == 0, out + err
    assert len(login.logins) == 2  # one login, then one more after the 401
    assert login.seen_tokens == [token_for(1), token_for(1), token_for(2)]
    assert "refreshed" in out
    assert_no_leak(out, err)


def test_a_second_401_after_the_new_login_is_auth_not_a_loop(login, tmp_path):
    login.answer = lambda call, body: json_answer({"access_token": token_for(call)})  # never valid on /api/me
    write(tmp_path / "s.yaml", spec_text("loop", LOGIN.replace("expires_in: $.expires_in\n", "")))
    code, out, err = run_cli(["run", str(tmp_path / "s.yaml")], env=env_for(login))
    assert code == 3, out + err
    assert len(login.logins) == 2 and len(login.seen_tokens) == 2
    assert "api_token" in out and "AUTH" in out
    assert_no_leak(out, err)


# --------------------------------------------------------------------------- HAZARDS 76


def test_refused_login_that_echoes_the_password_is_auth_without_body_or_password(login, tmp_path):
    def answer(call, body):
        doc = {
            "error": "invalid_grant",
            "message": f"wrong password {body.get('password')} for {body.get('username')}",
            "request": body,
            "trace": "BODY-MARKER Traceback (most recent call last)",
        }
        return json_answer(doc, 401)

    login.answer = answer
    write(tmp_path / "s.yaml", spec_text("echo", LOGIN))
    code, out, err = run_cli(["run", str(tmp_path / "s.yaml"), "-vv", "--json", str(tmp_path / "r.json"),
                              "--junit", str(tmp_path / "j.xml")], env=env_for(login))
    assert code == 3, out + err
    everything = out + err + (tmp_path / "r.json").read_text() + (tmp_path / "j.xml").read_text()
    assert "api_token" in out
    assert "HTTP 401" in out
    assert "invalid_grant" in out  # the server's error field
    assert "wrong password *** for ci-bot" in out  # its message, with the password masked
    assert "BODY-MARKER" not in everything  # never the body
    assert_no_leak(everything)
    assert login.seen_tokens == []  # nothing was sent with a missing credential


def test_login_500_with_a_stack_trace_shows_the_status_only(login, tmp_path):
    login.answer = lambda call, body: (500, f"Traceback: request={json.dumps(body)} BODY-MARKER".encode(),
                                       [("Content-Type", "text/html")])
    write(tmp_path / "s.yaml", spec_text("server error", LOGIN))
    code, out, err = run_cli(["run", str(tmp_path / "s.yaml")], env=env_for(login))
    assert code == 3, out + err
    assert "HTTP 500" in out and "api_token" in out
    assert "BODY-MARKER" not in out + err
    assert_no_leak(out, err)


def test_login_password_written_in_the_spec_is_masked_in_an_echo(login, tmp_path):
    login.answer = lambda call, body: json_answer({"error": f"no user with password {body.get('password')}"}, 403)
    text = LOGIN.replace('"${secret:bot_password}"', PASSWORD)
    write(tmp_path / "s.yaml", spec_text("literal", text))
    code, out, err = run_cli(["run", str(tmp_path / "s.yaml")], env=env_for(login))
    assert code == 3, out + err
    assert "HTTP 403" in out
    assert_no_leak(out, err)


def test_login_redirect_is_not_followed_by_default(login, tmp_path):
    login.answer = lambda call, body: (302, b"", [("Location", "http://127.0.0.1:1/sso?session=" + CANARY)])
    write(tmp_path / "s.yaml", spec_text("redirect", LOGIN))
    code, out, err = run_cli(["run", str(tmp_path / "s.yaml")], env=env_for(login))
    assert code == 3, out + err
    assert "HTTP 302" in out and "follow_redirects" in out
    assert len(login.logins) == 1
    assert_no_leak(out, err)


def test_followed_login_redirect_never_replays_the_password_to_another_origin(login, other_server, tmp_path):
    login.answer = lambda call, body: (307, b"", [("Location", other_server.url + "/echo")])
    text = LOGIN + "follow_redirects: true\n"
    write(tmp_path / "s.yaml", spec_text("redirect", text))
    code, out, err = run_cli(["run", str(tmp_path / "s.yaml")], env=env_for(login))
    assert code == 3, out + err
    assert "another origin" in out
    assert other_server.received == []  # the body with the password never left for the other origin
    assert_no_leak(out, err)


def test_followed_same_origin_redirect_logs_in(login, tmp_path):
    def answer(call, body):
        if call == 1:
            return 307, b"", [("Location", "/auth/login?step=2")]
        return login.default_answer(call, body)

    login.answer = answer
    write(tmp_path / "s.yaml", spec_text("redirect", LOGIN + "follow_redirects: true\n"))
    code, out, err = run_cli(["run", str(tmp_path / "s.yaml")], env=env_for(login))
    assert code == 0, out + err
    assert len(login.logins) == 2 and login.logins[1]["password"] == PASSWORD  # same origin: body replayed


# --------------------------------------------------------------------------- HAZARDS 77


def test_token_at_a_nested_path(login, tmp_path):
    login.answer = lambda call, body: (login.valid.add("nested-" + CANARY),
                                       json_answer({"data": {"token": "nested-" + CANARY}}))[1]
    write(tmp_path / "s.yaml", spec_text("nested", LOGIN.replace("$.access_token", "$.data.token")
                                          .replace("expires_in: $.expires_in\n", "")))
    code, out, err = run_cli(["run", str(tmp_path / "s.yaml")], env=env_for(login))
    assert code == 0, out + err
    assert login.seen_tokens == ["nested-" + CANARY]


def test_a_descendant_token_path_that_finds_one_string_is_the_token(login, tmp_path):
    # `..` is not a singular query (expectations compare it as a list), but a login
    # answer's token is "the one string the path finds"
    login.answer = lambda call, body: (login.valid.add("deep-" + CANARY),
                                       json_answer({"data": {"token": "deep-" + CANARY}}))[1]
    write(tmp_path / "s.yaml", spec_text("deep", LOGIN.replace("$.access_token", "$..token")
                                          .replace("expires_in: $.expires_in\n", "")))
    code, out, err = run_cli(["run", str(tmp_path / "s.yaml")], env=env_for(login))
    assert code == 0, out + err
    assert login.seen_tokens == ["deep-" + CANARY]


@pytest.mark.parametrize("value, says", [
    (12345, "selects an integer, not a string"),
    ("", "selects an empty string"),
    ("   ", "selects an empty string"),
    (None, "selects a null, not a string"),
    ([CANARY], "selects an array, not a string"),
    ({"value": CANARY}, "selects an object, not a string"),
])
def test_only_a_non_empty_string_is_a_token(login, tmp_path, value, says):
    login.answer = lambda call, body: json_answer({"data": {"token": value}})
    write(tmp_path / "s.yaml", spec_text("odd", LOGIN.replace("$.access_token", "$.data.token")
                                         .replace("expires_in: $.expires_in\n", "")))
    code, out, err = run_cli(["run", str(tmp_path / "s.yaml")], env=env_for(login))
    assert code == 3, out + err
    assert f"token path $.data.token {says}" in out
    assert "12345" not in out
    assert_no_leak(out, err)
    assert login.seen_tokens == []


def test_token_path_that_selects_nothing_or_several(login, tmp_path):
    login.answer = lambda call, body: json_answer({"tokens": [{"t": "a" * 10}, {"t": "b" * 10}]})
    write(tmp_path / "s.yaml", spec_text("several", LOGIN.replace("$.access_token", "$.tokens[*].t")
                                         .replace("expires_in: $.expires_in\n", "")))
    code, out, _ = run_cli(["run", str(tmp_path / "s.yaml")], env=env_for(login))
    assert code == 3 and "selects 2 values, not one string" in out and "a" * 10 not in out
    write(tmp_path / "s.yaml", spec_text("nothing", LOGIN))
    code, out, _ = run_cli(["run", str(tmp_path / "s.yaml")], env=env_for(login))
    assert code == 3 and "token path $.access_token selects nothing" in out


def test_login_answer_that_is_not_json(login, tmp_path):
    login.answer = lambda call, body: (200, b"<html>welcome BODY-MARKER</html>", [("Content-Type", "text/html")])
    write(tmp_path / "s.yaml", spec_text("html", LOGIN))
    code, out, _ = run_cli(["run", str(tmp_path / "s.yaml")], env=env_for(login))
    assert code == 3
    assert "not JSON (content-type text/html)" in out and "BODY-MARKER" not in out


def test_token_from_a_response_header(login, tmp_path):
    def answer(call, body):
        login.valid.add("hdr-" + CANARY)
        return 204, b"", [("X-Auth-Token", "hdr-" + CANARY)]

    login.answer = answer
    text = "url: ${env:API}/auth/login\njson: {username: ci-bot}\ntoken: {header: X-Auth-Token}\n"
    write(tmp_path / "s.yaml", spec_text("header", text))
    code, out, err = run_cli(["run", str(tmp_path / "s.yaml")], env=env_for(login))
    assert code == 0, out + err
    assert login.seen_tokens == ["hdr-" + CANARY]
    login.answer = lambda call, body: (204, b"", [])
    code, out, _ = run_cli(["run", str(tmp_path / "s.yaml")], env=env_for(login))
    assert code == 3 and "without a X-Auth-Token header" in out


def test_password_secret_that_cannot_be_resolved(login, tmp_path):
    write(tmp_path / "s.yaml", spec_text("nopw", LOGIN))
    code, out, _ = run_cli(["run", str(tmp_path / "s.yaml")], env={"API": login.url})
    assert code == 3
    assert "api_token" in out and "bot_password" in out
    assert login.logins == []


def test_unreachable_login_endpoint(tmp_path):
    text = LOGIN.replace("${env:API}", "http://127.0.0.1:1")
    write(tmp_path / "s.yaml", spec_text("down", text))
    code, out, _ = run_cli(["run", str(tmp_path / "s.yaml")], env={"API": "http://127.0.0.1:1", "BOT_PASSWORD": PASSWORD})
    assert code == 3
    assert "could not complete" in out and "connection refused" in out


def test_login_that_never_answers_is_cut_at_its_timeout(tmp_path, silent_server):
    text = LOGIN.replace("${env:API}", silent_server) + "timeout: 1\n"
    write(tmp_path / "s.yaml", spec_text("silent", text))
    code, out, _ = run_cli(["run", str(tmp_path / "s.yaml")], env={"API": silent_server, "BOT_PASSWORD": PASSWORD})
    assert code == 3
    assert "could not complete" in out and "timed out after 1 s" in out


# --------------------------------------------------------------------------- validate


def test_validate_checks_the_token_jsonpath_and_the_shape(tmp_path):
    write(tmp_path / "s.yaml", spec_text("bad", LOGIN.replace("$.access_token", "$.access_token[")))
    code, out, err = run_cli(["validate", str(tmp_path / "s.yaml")])
    assert code == 2
    assert "s.yaml:10:14: invalid JSONPath" in err
    write(tmp_path / "s.yaml", spec_text("bad", "url: http://x/login\njson: {a: 1}\nform: {a: 1}\ntoken: $.t\n"))
    code, out, err = run_cli(["validate", str(tmp_path / "s.yaml")])
    assert code == 2
    write(tmp_path / "s.yaml", spec_text("bad", "url: http://x/login\ntoken: access_token\n"))
    code, out, err = run_cli(["validate", str(tmp_path / "s.yaml")])
    assert code == 2 and "JSONPath starts with $" in err
    write(tmp_path / "s.yaml", spec_text("good", LOGIN))
    code, out, err = run_cli(["validate", str(tmp_path / "s.yaml")])
    assert code == 0, out + err


# --------------------------------------------------------------------------- the store


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _store(login: LoginServer, clock=None, **options) -> tuple[SecretStore, SecretDecl]:
    opts = {"url": login.url + "/auth/login", "json": {"username": USERNAME, "password": PASSWORD},
            "token": "$.access_token", **options}
    decl = SecretDecl("api_token", "http", {"http": opts}, Span.point("specs/a.yaml", 4, 3), ".")

    def resolve_ref(value):
        return render(value, Scope(variables={}, environ={}, secret=lambda n: ""))

    kw = {"clock": clock} if clock else {}
    ctx = SourceContext(environ={}, resolve_ref=resolve_ref, send_request=send_once, **kw)
    return SecretStore(ctx, Redactor()), decl


@pytest.mark.parametrize("expires_in", ["$.expires_in", 600])
def test_renewed_shortly_before_it_expires(login, expires_in):
    login.answer = lambda call, body: login.issue(call, expires_in="600")  # a string, as some servers send
    clock = FakeClock()
    store, decl = _store(login, clock, expires_in=expires_in)
    assert store.get(decl) == token_for(1)
    clock.now += 500  # 100 s left: still fresh (renewed 60 s before)
    assert store.get(decl) == token_for(1)
    clock.now += 50  # 50 s left: renewed
    assert store.get(decl) == token_for(2)
    assert len(login.logins) == 2


def test_expires_in_path_that_selects_no_number_is_a_credential_error(login):
    login.answer = lambda call, body: login.issue(call, expires_in="soon")
    store, decl = _store(login, expires_in="$.expires_in")
    with pytest.raises(SecretError) as info:
        store.get(decl)
    assert "expires_in path $.expires_in selects no positive number" in info.value.reason


def test_single_flight_across_threads(login):
    gate = threading.Event()

    def slow(call, body):
        gate.wait(5)
        return login.issue(call)

    login.answer = slow
    store, decl = _store(login)
    results: list[str] = []
    threads = [threading.Thread(target=lambda: results.append(store.get(decl))) for _ in range(8)]
    for t in threads:
        t.start()
    gate.set()
    for t in threads:
        t.join(10)
    assert results == [token_for(1)] * 8
    assert len(login.logins) == 1


def test_describe_names_the_url_without_its_query(login):
    store, decl = _store(login)
    decl = SecretDecl("api_token", "http", {"http": {**decl.options["http"], "url": login.url + "/auth/login?key=" + CANARY}},
                      decl.span, ".")
    assert store.describe(decl) == f"http login POST {login.url}/auth/login"


# --------------------------------------------------------------------------- JWT pre-check


def _jwt(exp_offset: float, call: int) -> str:
    import time as _time

    from tests.token_server import make_jwt

    return make_jwt({"sub": "ci-bot", "n": call, "exp": int(_time.time() + exp_offset), "c": CANARY})


def test_an_expired_jwt_is_renewed_before_sending(login, tmp_path):
    """The login answers an already expired JWT first: the runner logs in again before
    sending, so the API never receives the expired token (no wasted 401)."""
    issued: list[str] = []

    def answer(call, body):
        token = _jwt(-3600 if call == 1 else 3600, call)
        issued.append(token)
        login.valid.add(token)  # the API would even accept it: the runner must not send it
        return json_answer({"access_token": token})

    login.answer = answer
    write(tmp_path / "s.yaml", spec_text("jwt", LOGIN.replace("expires_in: $.expires_in\n", ""),
                                         "  - {name: one, url: /api/me}\n  - {name: two, url: /api/me}\n"))
    code, out, err = run_cli(["run", str(tmp_path / "s.yaml"), "-v"], env=env_for(login))
    assert code == 0, out + err
    assert len(login.logins) == 2
    assert login.seen_tokens == [issued[1], issued[1]]  # never the expired one
    assert "refreshed" in out
    assert_no_leak(out, err)


def test_a_short_lived_jwt_is_used_for_half_its_life_not_renewed_before_every_request(login, tmp_path):
    """A 30 s JWT is within the 60 s leeway from the start: the leeway is then half the life it
    had when first seen (as for `expires_in`), so it is sent, not replaced before each request."""
    issued: list[str] = []

    def answer(call, body):
        token = _jwt(30, call)
        issued.append(token)
        login.valid.add(token)
        return json_answer({"access_token": token})

    login.answer = answer
    write(tmp_path / "s.yaml", spec_text("jwt", LOGIN.replace("expires_in: $.expires_in\n", ""),
                                         "  - {name: one, url: /api/me}\n  - {name: two, url: /api/me}\n"))
    code, out, err = run_cli(["run", str(tmp_path / "s.yaml")], env=env_for(login))
    assert code == 0, out + err
    assert len(login.logins) == 1
    assert login.seen_tokens == [issued[0], issued[0]]
    assert "refreshed" not in out
    assert_no_leak(out, err)


def test_a_source_that_keeps_answering_expired_jwts_is_asked_once(login, tmp_path):
    def answer(call, body):
        return json_answer({"access_token": _jwt(-3600, call)})

    login.answer = answer
    write(tmp_path / "s.yaml", spec_text("jwt", LOGIN.replace("expires_in: $.expires_in\n", "")))
    code, out, err = run_cli(["run", str(tmp_path / "s.yaml")], env=env_for(login))
    assert code == 3, out + err
    assert len(login.logins) == 2  # one login, one renewal before sending; no loop after the 401
    assert len(login.seen_tokens) == 1
    assert "JWT was already expired when it was sent" in out  # even the renewed one
    assert "expired 1 h" in out


def test_a_non_refreshable_expired_jwt_is_sent_and_the_report_says_so(login, tmp_path):
    token = _jwt(-7200, 0)
    text = ("version: 1\nname: env jwt\nbase_url: ${env:API}\nsecrets:\n  tok: {env: TOK}\n"
            "auth: {bearer: tok}\nrequests:\n  - {name: me, url: /api/me}\n")
    write(tmp_path / "s.yaml", text)
    code, out, err = run_cli(["run", str(tmp_path / "s.yaml"), "--json", str(tmp_path / "r.json")],
                             env={"API": login.url, "TOK": token})
    assert code == 3, out + err
    assert login.seen_tokens == [token]  # sent: the server decides
    assert "JWT was already expired when it was sent" in out
    assert "already expired when it was sent" in (tmp_path / "r.json").read_text()
    assert_no_leak(out, err)
    login.valid.add(token)  # a server that still accepts it: PASS, nothing to say
    code, out, err = run_cli(["run", str(tmp_path / "s.yaml")], env={"API": login.url, "TOK": token})
    assert code == 0, out + err


def test_a_non_refreshable_jwt_about_to_expire_is_not_called_expired(login, tmp_path):
    token = _jwt(30, 0)  # expires in 30 s: within the leeway, but not expired when sent
    text = ("version: 1\nname: env jwt\nbase_url: ${env:API}\nsecrets:\n  tok: {env: TOK}\n"
            "auth: {bearer: tok}\nrequests:\n  - {name: me, url: /api/me}\n")
    write(tmp_path / "s.yaml", text)
    code, out, err = run_cli(["run", str(tmp_path / "s.yaml")], env={"API": login.url, "TOK": token})
    assert code == 3, out + err
    assert login.seen_tokens == [token]
    assert "already expired when it was sent" not in out
