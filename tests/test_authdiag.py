"""runner.authdiag: WWW-Authenticate parsing, fingerprints, unverified JWT claims, hints."""

from __future__ import annotations

import base64
import json

from runner.authdiag import diagnose, fingerprint, hint_for, jwt_claims, parse_challenges, token_notes

NOW = 1_800_000_000.0


def jwt(claims: dict, header: dict | None = None) -> str:
    def enc(d):
        return base64.urlsafe_b64encode(json.dumps(d).encode()).decode().rstrip("=")

    return f"{enc(header or {'alg': 'RS256'})}.{enc(claims)}.c2lnbmF0dXJl"


def test_rfc6750_challenge():
    (c,) = parse_challenges(['Bearer realm="test", error="invalid_token", error_description="The access token expired"'])
    assert c.scheme == "Bearer"
    assert c.param("error") == "invalid_token"
    assert c.param("ERROR_DESCRIPTION") == "The access token expired"


def test_several_challenges_quoted_commas_escapes_and_headers():
    cs = parse_challenges([
        'Newauth realm="apps", type=1, title="Login to \\"apps\\"", Basic realm="simple, really"',
        "Negotiate abc123==",
        "Bearer",
    ])
    assert [c.scheme for c in cs] == ["Newauth", "Basic", "Negotiate", "Bearer"]
    assert cs[0].param("title") == 'Login to "apps"'
    assert cs[1].param("realm") == "simple, really"
    assert cs[2].param("token68") == "abc123=="


def test_garbage_never_crashes():
    for text in ['"', "=", ",,,", 'Bearer error="unterminated', "Bearer a=b=c", "\x00\x1b[31m", "x" * 10000]:
        parse_challenges([text])


def test_fingerprint_is_short_and_not_the_token():
    fp = fingerprint("rr-CANARY-9f8e7d6c5b4a")
    assert fp.startswith("sha256:") and len(fp) == 15
    assert "CANARY" not in fp


def test_jwt_claims_unverified_with_padding_restored():
    token = jwt({"exp": NOW - 2 * 3600 - 14 * 60, "aud": "pets", "iss": "https://issuer", "sub": "x" * 5})
    claims = jwt_claims(token)
    assert claims["aud"] == "pets"
    notes = token_notes(claims, now=NOW, audience="orders")
    assert notes[0].startswith("expired 2 h 14 min ago (") and notes[0].endswith("Z), unverified")
    assert "audience 'pets', expected 'orders'" in notes
    assert "issuer 'https://issuer'" in notes


def test_non_finite_or_huge_time_claims_are_ignored_not_a_crash():
    enc = lambda text: base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")  # noqa: E731
    for payload in ('{"exp": 1e400}', '{"exp": NaN}', '{"nbf": Infinity}', '{"iat": -Infinity}', '{"exp": 1' + "0" * 400 + "}"):
        token = f"{enc('{}')}.{enc(payload)}.sig"
        assert token_notes(jwt_claims(token), now=NOW) == []
        assert diagnose(status=401, www_authenticate=[], token=token, secret="t", source="env T", now=NOW).token_notes == ()


def test_skew_and_nbf():
    assert token_notes({"exp": NOW - 30}, now=NOW)[0].startswith("expires about now")
    assert any(n.startswith("not valid before") for n in token_notes({"nbf": NOW + 3600}, now=NOW))
    assert token_notes({"nbf": NOW + 30}, now=NOW) == []
    assert token_notes({}, now=NOW) == []


def test_malformed_tokens_are_silently_nothing():
    for token in ["rr-CANARY-9f8e7d6c5b4a", "a.b.c", "a..c", "....", jwt({"exp": 1})[:-40] + "!!.x", "e30.W10.x"]:
        assert jwt_claims(token) is None or isinstance(jwt_claims(token), dict)
    assert jwt_claims("e30.W10.x") is None  # payload is a list, not claims


def test_hints():
    bearer = parse_challenges(['Bearer error="insufficient_scope", scope="pets:write"'])
    assert hint_for(401, (), "Bearer") == "no challenge: token missing, expired or wrong audience?"
    assert hint_for(401, parse_challenges(['Basic realm="x"']), "Bearer") == "endpoint expects Basic"
    assert hint_for(403, bearer, "Bearer") == "token accepted but lacks scope pets:write"
    assert hint_for(403, (), "Bearer") == "token accepted but lacks permission"
    assert "invalid_request" in hint_for(400, parse_challenges(['Bearer error="invalid_request"']), "Bearer")
    assert hint_for(401, (), None, auth_none=True) == "no credentials were sent (auth: none)"
    assert "auth: none" not in hint_for(401, (), None)  # a request that simply had no auth
    assert hint_for(403, bearer, None, auth_none=True) == (
        "no credentials were sent (auth: none); the server asks for scope pets:write")  # no token to accept
    assert "token accepted" not in hint_for(403, (), None)


def test_diagnose_never_holds_the_token():
    token = jwt({"exp": NOW - 60 * 60 * 3})
    diag = diagnose(status=401, www_authenticate=['Bearer error="invalid_token"'], token=token, secret="pets_token",
                    source="env PETS_API_TOKEN", sent_scheme="Bearer", now=NOW)
    assert diag.fingerprint == fingerprint(token)
    assert token not in repr(diag)
    assert diag.token_notes[0].startswith("JWT expired 3 h ago")
    assert "token 'pets_token' from env PETS_API_TOKEN; invalid_token" in diag.headline()
