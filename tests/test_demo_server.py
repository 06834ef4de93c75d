"""The embedded demo API (runner.demo.server) and the demo package helpers, over real HTTP."""

from __future__ import annotations

import base64
import io
import json
import os
import re
import time
from pathlib import Path

import pytest
import requests

from runner.demo import (
    AUTH_FAILURE_SPECS,
    DEFAULT_SPECS,
    EXPIRED_TOKEN_AGE_S,
    demo_environ,
    demo_spec_paths,
    spec_dir,
)
from runner.demo.server import CLIENT_ID, CLIENT_SECRET, DemoServer


@pytest.fixture()
def server():
    with DemoServer(token_ttl=120) as srv:
        yield srv


@pytest.fixture()
def http():
    with requests.Session() as session:
        session.trust_env = False  # no proxies, no netrc
        yield session


def _claims(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def _token(server, http, **form) -> str:
    data = {"grant_type": "client_credentials", **form}
    r = http.post(f"{server.url}/oauth/token", data=data, auth=(CLIENT_ID, CLIENT_SECRET))
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


def _bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


# -- lifecycle ----------------------------------------------------------------------


def test_url_and_stop():
    srv = DemoServer()
    with pytest.raises(RuntimeError):
        srv.url
    srv.start()
    url = srv.url
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", url)
    assert requests.get(f"{url}/health", timeout=5).json() == {"status": "ok"}
    srv.stop()
    srv.stop()  # idempotent
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{url}/health", timeout=2)


def test_two_servers_share_nothing(http):
    with DemoServer() as a, DemoServer() as b:
        assert a.url != b.url
        token_a = a.mint_token(60)
        assert http.get(f"{a.url}/pets", headers=_bearer(token_a)).status_code == 200
        r = http.get(f"{b.url}/pets", headers=_bearer(token_a))
        assert r.status_code == 401  # b has its own signing key
        assert 'error="invalid_token"' in r.headers["WWW-Authenticate"]


def test_health_needs_no_auth_and_is_json(server, http):
    r = http.get(f"{server.url}/health")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/json"
    assert r.json() == {"status": "ok"}


# -- token endpoint -----------------------------------------------------------------


def test_token_with_basic_client_auth(server, http):
    r = http.post(
        f"{server.url}/oauth/token", data={"grant_type": "client_credentials"}, auth=(CLIENT_ID, CLIENT_SECRET)
    )
    assert r.status_code == 200
    assert r.headers["Cache-Control"] == "no-store"
    doc = r.json()
    assert doc["token_type"] == "Bearer"
    assert doc["expires_in"] == 120
    header = json.loads(base64.urlsafe_b64decode(doc["access_token"].split(".")[0] + "=="))
    assert header == {"alg": "HS256", "typ": "JWT"}
    claims = _claims(doc["access_token"])
    assert claims["aud"] == "pets-api"
    assert claims["sub"] == CLIENT_ID
    assert claims["exp"] - claims["iat"] == 120
    assert {"iss", "scope", "jti"} <= claims.keys()
    assert server.tokens_issued == 1


def test_token_with_client_secret_in_body(server, http):
    r = http.post(
        f"{server.url}/oauth/token",
        data={"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
              "scope": "pets:read"},
    )
    assert r.status_code == 200
    assert _claims(r.json()["access_token"])["scope"] == "pets:read"
    assert r.json()["scope"] == "pets:read"


def test_token_audience_parameter_sets_aud(server, http):
    token = _token(server, http, audience="other-api")
    assert _claims(token)["aud"] == "other-api"


@pytest.mark.parametrize(
    "auth, data, status, error",
    [
        ((CLIENT_ID, "wrong"), {"grant_type": "client_credentials"}, 401, "invalid_client"),
        (("someone", CLIENT_SECRET), {"grant_type": "client_credentials"}, 401, "invalid_client"),
        (None, {"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": "nope"}, 401,
         "invalid_client"),
        (None, {"grant_type": "client_credentials"}, 401, "invalid_client"),
        ((CLIENT_ID, CLIENT_SECRET), {}, 400, "invalid_request"),
        ((CLIENT_ID, CLIENT_SECRET), {"grant_type": "password"}, 400, "unsupported_grant_type"),
        ((CLIENT_ID, CLIENT_SECRET), {"grant_type": "client_credentials", "scope": "admin"}, 400, "invalid_scope"),
        ((CLIENT_ID, CLIENT_SECRET), {"grant_type": "client_credentials", "client_secret": CLIENT_SECRET}, 400,
         "invalid_request"),
    ],
)
def test_token_errors(server, http, auth, data, status, error):
    r = http.post(f"{server.url}/oauth/token", data=data, auth=auth)
    assert r.status_code == status
    doc = r.json()
    assert doc["error"] == error
    assert doc["error_description"]
    assert CLIENT_SECRET not in r.text
    if status == 401:
        assert r.headers["WWW-Authenticate"].startswith("Basic ")
    assert server.tokens_issued == 0


def test_token_endpoint_wants_a_form(server, http):
    r = http.post(f"{server.url}/oauth/token", json={"grant_type": "client_credentials"},
                  auth=(CLIENT_ID, CLIENT_SECRET))
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_request"


def test_token_endpoint_is_post_only(server, http):
    r = http.get(f"{server.url}/oauth/token")
    assert r.status_code == 405
    assert r.headers["Allow"] == "POST"


# -- bearer challenges ----------------------------------------------------------------


def test_missing_token_gets_a_bare_challenge(server, http):
    r = http.get(f"{server.url}/pets")
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"] == 'Bearer realm="pets"'
    assert r.headers["Content-Type"] == "application/json"


def test_other_scheme_is_like_no_token(server, http):
    r = http.get(f"{server.url}/pets", auth=("user", "pass"))
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"] == 'Bearer realm="pets"'


@pytest.mark.parametrize(
    "make_token, description",
    [
        (lambda s: s.mint_token(60, sign_key=b"another key"), "The access token is invalid"),
        (lambda s: "not-a-jwt", "The access token is invalid"),
        (lambda s: s.mint_token(60)[:-4] + "AAAA", "The access token is invalid"),
        (lambda s: s.mint_token(-60), "The access token expired"),
        (lambda s: s.mint_token(60, aud="billing-api"), "The access token was issued for the wrong audience"),
        (lambda s: s.mint_token(60, aud=None), "The access token was issued for the wrong audience"),
        (lambda s: s.mint_token(600, nbf_offset_s=300), "The access token is not valid yet"),
    ],
)
def test_invalid_tokens_get_invalid_token_challenges(server, http, make_token, description):
    r = http.get(f"{server.url}/pets", headers=_bearer(make_token(server)))
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"] == (
        f'Bearer realm="pets", error="invalid_token", error_description="{description}"'
    )
    assert r.json() == {"error": "invalid_token", "error_description": description}


def test_token_from_endpoint_works_until_revoked(server, http):
    token = _token(server, http)
    assert http.get(f"{server.url}/pets", headers=_bearer(token)).status_code == 200
    server.revoke(token)
    r = http.get(f"{server.url}/pets", headers=_bearer(token))
    assert r.status_code == 401
    assert 'error_description="The access token has been revoked"' in r.headers["WWW-Authenticate"]


def test_audience_list_containing_pets_api_is_accepted(server, http):
    token = server.mint_token(60, aud=["other", "pets-api"])
    assert http.get(f"{server.url}/pets", headers=_bearer(token)).status_code == 200


def test_expired_token_for_wire_speed_ttl():
    # exp is whole seconds: a 3 s token lives 2 to 3 s, long enough for its first use on a busy machine
    with DemoServer(token_ttl=3) as srv, requests.Session() as http:
        token = _token(srv, http)
        assert http.get(f"{srv.url}/pets", headers=_bearer(token)).status_code == 200
        time.sleep(3.1)
        r = http.get(f"{srv.url}/pets", headers=_bearer(token))
        assert r.status_code == 401
        assert "expired" in r.headers["WWW-Authenticate"]


def test_delete_needs_write_scope(server, http):
    token = _token(server, http, scope="pets:read pets:create")
    r = http.delete(f"{server.url}/pets/1", headers=_bearer(token))
    assert r.status_code == 403
    assert r.headers["WWW-Authenticate"] == (
        'Bearer realm="pets", error="insufficient_scope", '
        'error_description="The access token lacks the scope pets:write", scope="pets:write"'
    )
    assert r.json()["error"] == "insufficient_scope"
    assert r.json()["scope"] == "pets:write"


def test_create_needs_create_or_write_scope(server, http):
    token = _token(server, http, scope="pets:read")
    r = http.post(f"{server.url}/pets", json={"name": "Ace"}, headers=_bearer(token))
    assert r.status_code == 403
    assert 'scope="pets:write"' in r.headers["WWW-Authenticate"]


# -- pets ---------------------------------------------------------------------------------


def test_list_pets_and_limit(server, http):
    headers = _bearer(server.mint_token(60))
    r = http.get(f"{server.url}/pets", headers=headers)
    doc = r.json()
    assert doc["count"] == doc["total"] == 3
    assert [p["name"] for p in doc["items"]] == ["Rex", "Tom", "Nemo"]
    assert r.headers["ETag"]
    r = http.get(f"{server.url}/pets", params={"limit": 2}, headers=headers)
    assert r.json()["count"] == 2
    assert len(r.json()["items"]) == 2
    assert r.json()["total"] == 3
    assert http.get(f"{server.url}/pets", params={"limit": "x"}, headers=headers).status_code == 400


def test_pet_crud_and_etag(server, http):
    headers = _bearer(server.mint_token(60))
    r = http.post(f"{server.url}/pets", json={"name": "Biscuit", "tag": "dog"}, headers=headers)
    assert r.status_code == 201
    pet = r.json()
    assert pet["name"] == "Biscuit" and pet["tag"] == "dog" and pet["id"] == 4
    assert r.headers["Location"] == "/pets/4"
    etag = r.headers["ETag"]
    assert re.fullmatch(r'"[0-9a-f]{16}"', etag)

    r = http.get(f"{server.url}{r.headers['Location']}", headers=headers)
    assert r.status_code == 200
    assert r.json() == pet
    assert r.headers["ETag"] == etag

    r = http.get(f"{server.url}/pets/4", headers={**headers, "If-None-Match": etag})
    assert r.status_code == 304
    assert r.content == b""
    r = http.get(f"{server.url}/pets/4", headers={**headers, "If-None-Match": '"stale"'})
    assert r.status_code == 200

    assert http.delete(f"{server.url}/pets/4", headers=headers).status_code == 204
    r = http.get(f"{server.url}/pets/4", headers=headers)
    assert r.status_code == 404
    assert r.json()["error"] == "not_found"
    assert http.delete(f"{server.url}/pets/4", headers=headers).status_code == 404

    server.reset()
    assert http.get(f"{server.url}/pets", headers=headers).json()["total"] == 3


@pytest.mark.parametrize(
    "kwargs, status",
    [
        ({"json": {"tag": "dog"}}, 422),
        ({"json": {"name": ""}}, 422),
        ({"json": ["Rex"]}, 400),
        ({"data": "{not json", "headers": {"Content-Type": "application/json"}}, 400),
        ({"data": "name=Rex"}, 415),
    ],
)
def test_create_rejects_bad_bodies(server, http, kwargs, status):
    headers = {**_bearer(server.mint_token(60)), **kwargs.pop("headers", {})}
    r = http.post(f"{server.url}/pets", headers=headers, **kwargs)
    assert r.status_code == status
    assert r.headers["Content-Type"] == "application/json"


def test_unknown_routes_and_methods(server, http):
    headers = _bearer(server.mint_token(60))
    assert http.get(f"{server.url}/nope").status_code == 404
    assert http.get(f"{server.url}/pets/abc", headers=headers).status_code == 404
    r = http.put(f"{server.url}/pets/1", headers=headers, json={})
    assert r.status_code == 405
    assert "DELETE" in r.headers["Allow"]


def test_records_requests(server, http):
    token = server.mint_token(60)
    http.get(f"{server.url}/pets?limit=1", headers=_bearer(token))
    seen = server.requests[-1]
    assert (seen.method, seen.path) == ("GET", "/pets?limit=1")
    assert seen.header("authorization") == f"Bearer {token}"
    server.clear_requests()
    assert server.requests == []


def test_keep_alive_connection_is_reused(server, http):
    headers = _bearer(server.mint_token(60))
    for _ in range(20):
        assert http.get(f"{server.url}/pets/1", headers=headers).status_code == 200
    assert http.post(f"{server.url}/pets", json={"name": "Kit"}, headers=headers).status_code == 201
    assert http.get(f"{server.url}/pets/1", headers=headers).status_code == 200


# -- runner.demo helpers ------------------------------------------------------------------


def test_spec_dir_holds_the_demo_specs():
    base = spec_dir()
    for name in DEFAULT_SPECS + AUTH_FAILURE_SPECS:
        text = (base / name).read_text(encoding="utf-8")
        assert text.startswith("# yaml-language-server: $schema=")
    assert (base / "schemas" / "pet-list.json").is_file()
    assert [p.name for p in demo_spec_paths()] == list(DEFAULT_SPECS)
    assert [p.name for p in demo_spec_paths(include_auth_failure=True)] == list(DEFAULT_SPECS + AUTH_FAILURE_SPECS)
    assert "90-expired-token.yaml" not in DEFAULT_SPECS


def _env_names_used(text: str) -> set[str]:
    names = set(re.findall(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)", text))
    names |= set(re.findall(r"^\s+env:\s*([A-Za-z_][A-Za-z0-9_]*)\s*$", text, re.MULTILINE))
    return names


def test_demo_environ_covers_every_variable_the_specs_read(server):
    env = demo_environ(server)
    used: set[str] = set()
    for path in sorted(spec_dir().glob("*.yaml")):
        used |= _env_names_used(path.read_text(encoding="utf-8"))
    assert used, "the demo specs should read the environment"
    assert used <= env.keys()
    assert env["DEMO_API_URL"] == server.url
    assert env["DEMO_CLIENT_SECRET"] == CLIENT_SECRET


def test_demo_environ_tokens(server, http):
    env = demo_environ(server)
    r = http.get(f"{server.url}/pets", headers=_bearer(env["DEMO_STATIC_TOKEN"]))
    assert r.status_code == 200
    r = http.get(f"{server.url}/pets", headers=_bearer(env["DEMO_EXPIRED_TOKEN"]))
    assert r.status_code == 401
    assert 'error_description="The access token expired"' in r.headers["WWW-Authenticate"]
    age = time.time() - _claims(env["DEMO_EXPIRED_TOKEN"])["exp"]
    assert EXPIRED_TOKEN_AGE_S - 5 <= age <= EXPIRED_TOKEN_AGE_S + 5


# -- the shipped specs, end to end through the command line -------------------------------------


def _cli(argv, environ, cwd):
    from runner.cli import main

    out, err = io.StringIO(), io.StringIO()
    old = os.getcwd()
    os.chdir(cwd)  # no runner.yaml is picked up from the repository
    try:
        code = main(argv, stdout=out, stderr=err, environ=environ)
    finally:
        os.chdir(old)
    return code, out.getvalue(), err.getvalue()


def _base_environ():
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    for name in ("GITHUB_ACTIONS", "FORCE_COLOR", "GITHUB_STEP_SUMMARY"):
        env.pop(name, None)
    env["NO_COLOR"] = "1"
    return env


def test_runner_demo_passes(tmp_path):
    code, out, err = _cli(["demo", "--no-color"], _base_environ(), tmp_path)
    assert code == 0, out + err
    assert "01-pets-flow.yaml" in out and "02-static-token.yaml" in out
    assert "90-expired-token.yaml" not in out
    assert "0 failed, 0 auth, 0 errors, 0 skipped" in out
    assert CLIENT_SECRET not in out + err


def test_runner_demo_auth_showcase_exits_3_with_the_diagnosis(tmp_path):
    code, out, err = _cli(["demo", "--no-color", "--show-auth-failure"], _base_environ(), tmp_path)
    assert code == 3, out + err
    assert "AUTH" in out
    assert "The access token expired" in out
    assert "expired 2 h 14 min ago" in out


def test_example_specs_pass_against_the_demo_api(server, tmp_path):
    examples = Path(__file__).resolve().parents[1] / "specs" / "examples"
    env = _base_environ()
    env.update(
        PETS_API_URL=server.url,
        PETS_API_TOKEN=server.mint_token(600, scope="pets:read"),
        PETS_CLIENT_SECRET=CLIENT_SECRET,
    )
    for name in ("pets-smoke.yaml", "oauth2-client-credentials.yaml", "pets-data-driven.yaml", "pets-first.yaml"):
        code, out, err = _cli(["run", "--no-color", str(examples / name)], env, tmp_path)
        assert code == 0, f"{name}:\n{out}{err}"


# -- the login endpoint (the `http` secret source) ----------------------------------------


def test_login_gives_a_bearer_token_and_refuses_a_wrong_password(server, http):
    from runner.demo.server import DEMO_USER, DEMO_USER_PASSWORD

    r = http.post(f"{server.url}/auth/login", json={"username": DEMO_USER, "password": "nope"})
    assert r.status_code == 401 and r.json()["error"] == "invalid_credentials"
    assert "nope" not in r.text
    r = http.post(f"{server.url}/auth/login", json={"username": DEMO_USER, "password": DEMO_USER_PASSWORD})
    assert r.status_code == 200
    doc = r.json()
    assert doc["expires_in"] == 120 and _claims(doc["access_token"])["sub"] == DEMO_USER
    assert http.get(f"{server.url}/pets", headers=_bearer(doc["access_token"])).status_code == 200
    assert server.logins == 1
