"""runner.engine over real HTTP: outcomes, captures, retry, redirects, auth, masking."""

from __future__ import annotations

import sys
import threading
import types

import pytest

from runner.engine import RunOptions, select_requests
from runner.model import (
    BasicAuth,
    BearerAuth,
    Capture,
    Defaults,
    Expect,
    FormBody,
    HeaderAuth,
    HeaderCheck,
    JsonBody,
    JsonCheck,
    NoAuth,
    Predicate,
    RawBody,
    RequestDef,
    Retry,
    SchemaCheck,
    SecretDecl,
    StatusExpect,
)
from runner.results import FailureKind, Outcome
from runner.secrets import SecretValue
from runner.secrets import base as secrets_base
from runner.source import Span
from tests.conftest import env_secret, make_spec
from tests.helpers import CANARY



def R(name: str, url: str, **kw) -> RequestDef:
    return RequestDef(name=name, index=0, url=url, **kw)


def status(*codes: int) -> StatusExpect:
    return StatusExpect(codes=codes)


def assert_no_canary(result) -> None:
    text = repr(result)
    import base64
    import json
    from urllib.parse import quote

    for form in (CANARY, quote(CANARY, safe=""), json.dumps(CANARY)[1:-1], base64.b64encode(CANARY.encode()).decode()[:16]):
        assert form not in text


# --------------------------------------------------------------------------- checks


def test_checks_pass(bearer_spec, engine_run):
    spec = bearer_spec(
        R("list", "/items", expect=Expect(
            status=status(200),
            headers=(HeaderCheck("content-type", (Predicate("matches", "^application/json"),)),),
            json=(JsonCheck("$.count", (Predicate("eq", 2),)), JsonCheck("$.items[*].name", (Predicate("contains", "rex"),))),
            schema=SchemaCheck({"type": "object", "required": ["items"]}, "inline"),
            body=(Predicate("contains", '"count"'),),
            max_ms=5000,
        )),
    )
    result = engine_run(spec)
    (step,) = result.steps
    assert step.outcome is Outcome.PASS, step.failures
    assert step.status == 200 and all(c.passed for c in step.checks)
    assert [c.subject for c in step.checks] == ["status", "header content-type", "$.count", "$.items[*].name",
                                                "schema", "body", "time"]
    assert step.request.headers == (("Authorization", "Bearer ***"),)
    assert engine_run.steps == [step]


def test_checks_fail_with_messages(bearer_spec, engine_run):
    spec = bearer_spec(
        R("list", "/items", expect=Expect(
            status=status(201),
            json=(JsonCheck("$.count", (Predicate("eq", 3),)),),
            schema=SchemaCheck({"properties": {"count": {"type": "string"}}}, "inline"),
        )),
        R("bad json", "/badjson", expect=Expect(json=(JsonCheck("$.a", (Predicate("eq", 1),)),))),
        R("server error", "/status/500"),
    )
    steps = engine_run(spec).steps
    assert [s.outcome for s in steps] == [Outcome.FAIL] * 3
    assert [f.message for f in steps[0].failures] == [
        "status: expected 201, got 200 OK",
        "$.count: expected 3, got 2",
        "schema: $.count: 2 is not of type 'string'",
    ]
    assert steps[1].failures[0].message == "response is not valid JSON (line 1, column 12)"
    assert steps[2].failures[0].message == "status: expected 2xx (default), got 500 Internal Server Error"


# --------------------------------------------------------------------------- captures, vars, selection


def test_captures_chain(bearer_spec, engine_run, http_server):
    spec = bearer_spec(
        R("list", "/items", captures=(Capture("first_id", jsonpath="$.items[0].id"), Capture("etag", header="ETag"))),
        R("use", "/echo?id=${first_id}", headers=(("If-None-Match", "${etag}"),),
          body=JsonBody({"id": "${first_id}", "note": "id ${first_id}"}),
          method="POST", expect=Expect(json=(JsonCheck("$.body", (Predicate("eq", '{"id": 1, "note": "id 1"}'),)),))),
    )
    steps = engine_run(spec).steps
    assert [s.outcome for s in steps] == [Outcome.PASS, Outcome.PASS], steps[1].failures
    seen = http_server.requests_to("/echo")[0]
    assert seen.path == "/echo?id=1"
    assert seen.header("If-None-Match") == '"v1"'


def test_failed_capture_skips_dependants(bearer_spec, engine_run, http_server):
    spec = bearer_spec(
        R("list", "/items", captures=(Capture("nope", jsonpath="$.missing"),)),
        R("use", "/echo?id=${nope}"),
        R("broken", "/status/500", captures=(Capture("x", jsonpath="$.status"),)),
        R("use x", "/echo?x=${x}"),
        R("independent", "/ok"),
    )
    steps = engine_run(spec).steps
    assert [s.outcome for s in steps] == [Outcome.FAIL, Outcome.SKIP, Outcome.FAIL, Outcome.SKIP, Outcome.PASS]
    assert steps[0].failures[0].message == "capture 'nope': $.missing matched nothing"
    assert steps[1].skip_reason == "needs 'nope', captured by 'list' which failed"
    assert steps[3].skip_reason == "needs 'x', captured by 'broken' which failed"
    assert http_server.requests_to("/echo") == []


def test_capture_of_a_skipped_request(bearer_spec, engine_run):
    spec = bearer_spec(
        R("list", "/items", skip="not today", captures=(Capture("id", jsonpath="$.count"),)),
        R("use", "/echo?id=${id}"),
    )
    steps = engine_run(spec).steps
    assert steps[0].skip_reason == "not today"
    assert steps[1].skip_reason == "needs 'id', captured by 'list' which was skipped"


def test_variable_precedence(http_server, engine_run):
    spec = make_spec(R("echo", "/echo?a=${a}&b=${b}&c=${c}"), base_url="${env:BASE}",
                     vars={"a": "spec", "b": "spec"})
    engine_run.environ["BASE"] = http_server.url
    engine_run(spec, config_vars={"a": "config", "b": "config", "c": "config"}, cli_vars={"b": "cli"})
    assert http_server.received[0].path == "/echo?a=spec&b=cli&c=config"


def test_base_url_from_options_and_absolute_urls(http_server, other_server, engine_run):
    spec = make_spec(R("rel", "ok"), R("abs", other_server.url + "/ok"))
    result = engine_run(spec, base_url=http_server.url + "/")
    assert [s.outcome for s in result.steps] == [Outcome.PASS, Outcome.PASS]
    assert len(http_server.received) == 1 and len(other_server.received) == 1
    no_base = engine_run(make_spec(R("rel", "/ok")))
    assert no_base.steps[0].outcome is Outcome.ERROR
    assert "no base_url" in no_base.steps[0].failures[0].message


def test_name_filter_and_tags_deselect(bearer_spec, engine_run, http_server):
    spec = bearer_spec(R("list pets", "/items", tags=("smoke",)), R("get one", "/ok"), R("other", "/ok", tags=("slow",)))
    opts = dict(name_filter="PETS")
    assert [s.name for s in engine_run(spec, **opts).steps] == ["list pets"]
    assert [s.name for s in engine_run(spec, tags=("slow",)).steps] == ["other"]
    assert [r.name for r in select_requests(spec, RunOptions(tags=("smoke", "slow")))] == ["list pets", "other"]


def test_fail_fast(bearer_spec, engine_run, http_server):
    spec = bearer_spec(R("a", "/status/500"), R("b", "/ok"), R("c", "/ok"))
    steps = engine_run(spec, fail_fast=True).steps
    assert [s.outcome for s in steps] == [Outcome.FAIL, Outcome.SKIP, Outcome.SKIP]
    assert steps[1].skip_reason == "--fail-fast"
    assert len(http_server.received) == 1


def test_stop_event_skips_the_rest(bearer_spec, engine_run, http_server):
    stop = threading.Event()
    spec = bearer_spec(R("a", "/ok"), R("b", "/ok"))
    engine_run.steps.clear()
    # set the stop flag as soon as the first step finishes
    from runner.engine import run_spec as run

    result = run(spec, options=RunOptions(environ=engine_run.environ, stop=stop), secrets=engine_run.store(),
                 redactor=engine_run.redactor, on_step=lambda s: stop.set())
    assert [s.outcome for s in result.steps] == [Outcome.PASS, Outcome.SKIP]
    assert result.steps[1].skip_reason == "interrupted"


# --------------------------------------------------------------------------- retry, redirects, transport errors


def test_retry_polls_until_ready(bearer_spec, engine_run, http_server):
    spec = bearer_spec(R("poll", "/flaky?fail=2", retry=Retry(attempts=5, delay=0.01),
                         expect=Expect(status=status(200), json=(JsonCheck("$.status", (Predicate("eq", "ready"),)),))))
    (step,) = engine_run(spec).steps
    assert step.outcome is Outcome.PASS
    assert step.attempts == 3
    assert len(http_server.requests_to("/flaky")) == 3


def test_retry_gives_up(bearer_spec, engine_run, http_server):
    spec = bearer_spec(R("poll", "/flaky?fail=5", retry=Retry(attempts=2, delay=0)))
    (step,) = engine_run(spec).steps
    assert step.outcome is Outcome.FAIL and step.attempts == 2


def test_default_retry_only_for_idempotent_methods(bearer_spec, engine_run, http_server):
    spec = bearer_spec(R("post", "/flaky?fail=1", method="POST"), R("get", "/flaky?fail=1"),
                       defaults=Defaults(retry=Retry(attempts=3, delay=0)))
    steps = engine_run(spec).steps
    assert steps[0].outcome is Outcome.FAIL and steps[0].attempts == 1
    assert steps[1].outcome is Outcome.PASS  # the 2nd hit overall (the post was the 1st)


def test_redirect_not_followed_by_default(bearer_spec, engine_run):
    (step,) = engine_run(bearer_spec(R("r", "/redirect?to=/ok"))).steps
    assert step.outcome is Outcome.FAIL
    assert step.status == 302 and step.location == "/ok"
    assert 'Location: "/ok"' in step.failures[0].message


def test_cross_origin_redirect_strips_secret_headers(http_server, other_server, engine_run):
    secrets = {"token": env_secret(), "key": env_secret("key", "API_TOKEN")}
    spec = make_spec(
        R("bearer", f"/redirect?to={other_server.url}/echo", follow_redirects=True),
        R("api key", f"/redirect?to={other_server.url}/echo", follow_redirects=True, auth=HeaderAuth("X-API-Key", "key")),
        R("custom", f"/redirect?to={other_server.url}/echo", follow_redirects=True, auth=NoAuth(),
          headers=(("Private-Token", "${secret:token}"),)),
        base_url=http_server.url, secrets=secrets, auth=BearerAuth("token"),
    )
    result = engine_run(spec)
    assert [s.outcome for s in result.steps] == [Outcome.PASS] * 3
    assert len(other_server.received) == 3
    for seen in other_server.received:
        assert CANARY not in repr(seen.headers)
    assert CANARY in repr([r.headers for r in http_server.received])  # the origin did get them
    assert_no_canary(result)


@pytest.mark.parametrize(
    "path,timeout,kind_words",
    [
        ("/slow?n=100&delay=0.05", 0.5, "timed out after 0.5 s"),
        ("/big?size=20000000", None, "response body exceeds 10 MB (max_body)"),
        ("/gzipbomb", None, "response body exceeds 10 MB (max_body)"),
        ("/reset", None, "connection closed by 127.0.0.1:"),
    ],
)
def test_transport_errors_are_one_line(bearer_spec, engine_run, path, timeout, kind_words):
    (step,) = engine_run(bearer_spec(R("x", path, timeout=timeout))).steps
    assert step.outcome is Outcome.ERROR
    (failure,) = step.failures
    assert failure.kind is FailureKind.TRANSPORT
    assert kind_words in failure.message and "\n" not in failure.message


def test_refused_port_error_names_host_port(engine_run):
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    spec = make_spec(R("x", f"http://127.0.0.1:{port}/x?access_token=${{secret:token}}"), secrets={"token": env_secret()})
    result = engine_run(spec, timeout=5)
    (step,) = result.steps
    assert step.outcome is Outcome.ERROR
    assert step.failures[0].message == f"connection refused by 127.0.0.1:{port}"
    assert "access_token=***" in step.url
    assert_no_canary(result)


def test_timeout_option_overrides_defaults_not_the_request(bearer_spec, engine_run):
    spec = bearer_spec(R("own", "/sleep?s=0.6", timeout=5), R("default", "/sleep?s=0.6"),
                       defaults=Defaults(timeout=10))
    steps = engine_run(spec, timeout=0.3).steps
    assert steps[0].outcome is Outcome.PASS
    assert steps[1].outcome is Outcome.ERROR and "0.3 s" in steps[1].failures[0].message


# --------------------------------------------------------------------------- authentication


def test_unexpected_401_is_auth_with_diagnosis_and_nothing_else(http_server, engine_run):
    spec = make_spec(
        R("me", "/protected", expect=Expect(status=status(200), json=(JsonCheck("$.user", (Predicate("eq", "alice"),)),),
                                            body=(Predicate("contains", "alice"),))),
        base_url=http_server.url, secrets={"token": env_secret()}, auth=BearerAuth("token"),
    )
    engine_run.environ["API_TOKEN"] = "expired-token-abcdef"
    result = engine_run(spec)
    (step,) = result.steps
    assert step.outcome is Outcome.AUTH and step.status == 401
    (failure,) = step.failures
    assert failure.kind is FailureKind.UNAUTHORIZED
    assert "invalid_token: The access token expired" in failure.message
    assert "not checked: $.user, body" in failure.message
    assert all(not c.checked for c in step.checks)
    diag = step.auth
    assert diag.secret == "token" and diag.source == "env API_TOKEN"
    assert diag.fingerprint.startswith("sha256:")
    assert diag.challenges[0].param("error") == "invalid_token"
    assert diag.declared_at == env_secret().span
    assert "expired-token-abcdef" not in repr(result)


def test_expected_401_passes(http_server, engine_run):
    spec = make_spec(R("anon", "/protected", auth=NoAuth(), expect=Expect(status=status(401))), base_url=http_server.url)
    assert engine_run(spec).steps[0].outcome is Outcome.PASS


def test_401_without_challenge_and_with_basic(bearer_spec, engine_run):
    steps = engine_run(bearer_spec(R("a", "/nochallenge"), R("b", "/basic"))).steps
    assert [s.outcome for s in steps] == [Outcome.AUTH, Outcome.AUTH]
    assert steps[0].auth.hint == "no challenge: token missing, expired or wrong audience?"
    assert steps[1].auth.hint == "endpoint expects Basic"


def test_jwt_notes_in_diagnosis(http_server, engine_run):
    import base64
    import json
    import time

    def enc(d):
        return base64.urlsafe_b64encode(json.dumps(d).encode()).decode().rstrip("=")

    token = f"{enc({'alg': 'none'})}.{enc({'exp': int(time.time()) - 3 * 3600 - 30, 'aud': 'pets'})}.sig"
    engine_run.environ["API_TOKEN"] = token
    spec = make_spec(R("me", "/protected"), base_url=http_server.url, secrets={"token": env_secret()},
                     auth=BearerAuth("token"))
    (step,) = engine_run(spec).steps
    assert step.auth.token_notes[0].startswith("JWT expired 3 h ago")
    assert token not in repr(step)


def test_403_is_fail_forbidden_with_scope(bearer_spec, engine_run):
    (step,) = engine_run(bearer_spec(R("write", "/forbidden", expect=Expect(json=(JsonCheck("$.x", (Predicate("eq", 1),)),))))).steps
    assert step.outcome is Outcome.FAIL
    (failure,) = step.failures
    assert failure.kind is FailureKind.FORBIDDEN
    assert failure.message == "403 Forbidden: token accepted but lacks scope pets:write"
    assert [c.checked for c in step.checks] == [True, False]


def test_unresolved_secret_is_auth_and_nothing_sent(http_server, engine_run):
    spec = make_spec(R("a", "/protected"), R("b", "/echo?t=${secret:other}"),
                     base_url=http_server.url,
                     secrets={"token": env_secret("token", "MISSING_VAR"), "other": env_secret("other", "ALSO_MISSING")},
                     auth=BearerAuth("token"))
    steps = engine_run(spec).steps
    assert [s.outcome for s in steps] == [Outcome.AUTH, Outcome.AUTH]
    (failure,) = steps[0].failures
    assert failure.kind is FailureKind.SECRET
    assert "MISSING_VAR is not set" in failure.message
    assert steps[0].auth.secret == "token" and steps[0].auth.source == "env MISSING_VAR"
    assert steps[0].auth.declared_at is not None
    assert http_server.received == []


def test_undeclared_secret_is_auth(http_server, engine_run):
    spec = make_spec(R("a", "/ok"), base_url=http_server.url, auth=BearerAuth("nowhere"))
    (step,) = engine_run(spec).steps
    assert step.outcome is Outcome.AUTH and "not declared" in step.failures[0].message
    assert http_server.received == []


def test_expectation_that_cannot_be_rendered_is_error_or_auth_not_an_exception(http_server, engine_run):
    spec = make_spec(
        R("env", "/items", expect=Expect(json=(JsonCheck("$.count", (Predicate("eq", "${env:NOT_SET_ANYWHERE}"),)),))),
        R("path", "/items", expect=Expect(json=(JsonCheck("$.${env:NOT_SET_ANYWHERE}", (Predicate("exists", True),)),))),
        R("header", "/items", expect=Expect(headers=(HeaderCheck("ETag", (Predicate("eq", "${env:NOT_SET_ANYWHERE}"),)),))),
        R("secret", "/items", expect=Expect(body=(Predicate("contains", "${secret:other}"),))),
        base_url=http_server.url, secrets={"other": env_secret("other", "ALSO_MISSING")},
    )
    steps = engine_run(spec).steps
    assert [s.outcome for s in steps] == [Outcome.ERROR, Outcome.ERROR, Outcome.ERROR, Outcome.AUTH]
    assert steps[0].failures[0].message == (
        "cannot evaluate the expectations: environment variable NOT_SET_ANYWHERE is not set")
    assert steps[0].status == 200 and steps[0].response is not None
    assert steps[3].failures[0].kind is FailureKind.SECRET and "ALSO_MISSING is not set" in steps[3].failures[0].message


class _CountingSource:
    """A refreshable source handing out the given tokens in turn (counts fetches)."""

    refreshable = True

    def __init__(self, decl, tokens):
        self.decl = decl
        self.tokens = list(tokens)
        self.fetches = 0

    def describe(self) -> str:
        return "fake counter"

    def env_name(self):
        return None

    def fetch(self) -> SecretValue:
        value = self.tokens[min(self.fetches, len(self.tokens) - 1)]
        self.fetches += 1
        return SecretValue(value)


@pytest.fixture
def counting_source(monkeypatch):
    made = []

    def install(tokens):
        module = types.ModuleType("runner.secrets._test_counting")

        def build(decl, ctx):
            src = _CountingSource(decl, tokens)
            made.append(src)
            return src

        module.build = build
        monkeypatch.setitem(sys.modules, "runner.secrets._test_counting", module)
        monkeypatch.setitem(secrets_base.SOURCE_KINDS, "counting", "_test_counting")
        return SecretDecl("tok", "counting", {"counting": True}, Span.point("spec.yaml", 5, 3), "/tmp"), made

    return install


def test_refresh_once_then_pass(http_server, engine_run, counting_source):
    decl, made = counting_source(["stale-token-0001", CANARY])
    spec = make_spec(R("me", "/protected", expect=Expect(status=status(200))), R("again", "/protected"),
                     base_url=http_server.url, secrets={"tok": decl}, auth=BearerAuth("tok"))
    result = engine_run(spec)
    assert [s.outcome for s in result.steps] == [Outcome.PASS, Outcome.PASS]
    assert result.steps[0].token_refreshed is True
    assert result.steps[1].token_refreshed is False
    assert made[0].fetches == 2
    assert len(http_server.requests_to("/protected")) == 3
    assert_no_canary(result)


def test_refresh_then_401_again_is_auth_without_loop(http_server, engine_run, counting_source):
    decl, made = counting_source(["stale-token-0001", "stale-token-0002", "stale-token-0003"])
    spec = make_spec(R("me", "/protected", retry=Retry(attempts=3, delay=0)), base_url=http_server.url,
                     secrets={"tok": decl}, auth=BearerAuth("tok"))
    (step,) = engine_run(spec).steps
    assert step.outcome is Outcome.AUTH
    assert step.auth.refreshed is True
    assert "after a token refresh" in step.failures[0].message
    assert made[0].fetches == 2
    assert len(http_server.requests_to("/protected")) == 2


def test_basic_auth_is_masked(http_server, engine_run):
    spec = make_spec(R("echo", "/echo"), base_url=http_server.url, secrets={"pw": env_secret("pw", "API_TOKEN")},
                     auth=BasicAuth("alice", "pw"))
    result = engine_run(spec, curl=True)
    (step,) = result.steps
    seen = http_server.received[0].header("Authorization")
    assert seen.startswith("Basic ")
    assert seen[6:] not in repr(result)
    assert step.request.headers == (("Authorization", "Basic ***"),)
    assert '-u "alice:${API_TOKEN}"' in step.curl


# --------------------------------------------------------------------------- masking and curl


def test_server_echoes_are_masked_everywhere(bearer_spec, engine_run, http_server):
    spec = bearer_spec(
        R("echo", "/echo?token=${secret:token}", method="POST",
          headers=(("X-Copy", "${secret:token}"),),
          body=JsonBody({"token": "${secret:token}"}),
          expect=Expect(json=(JsonCheck("$.headers.Authorization", (Predicate("eq", "nope"),)),))),
        R("form", "/echo", method="POST", body=FormBody((("t", "${secret:token}"),))),
        R("raw", "/echo", method="PUT", body=RawBody("token=${secret:token}", "text/plain")),
        R("protected", "/protected", expect=Expect(body=(Predicate("contains", "zzz"),))),
    )
    result = engine_run(spec, curl=True)
    assert CANARY in http_server.received[0].body.decode()  # it really went out
    assert [s.outcome for s in result.steps] == [Outcome.FAIL, Outcome.PASS, Outcome.PASS, Outcome.FAIL]
    assert "Bearer ***" in result.steps[0].failures[0].message
    assert_no_canary(result)
    assert_no_canary(engine_run.steps)


def test_reason_phrase_and_secret_source_description_are_masked(http_server, engine_run):
    # a reason phrase that echoes the token; a command source whose argv holds the value
    spec = make_spec(
        R("reason", "/reason?code=401&r=bad+${secret:token}"),
        R("reason ok", "/reason?r=hi+${secret:token}"),
        base_url=http_server.url, auth=BearerAuth("token"),
        secrets={"token": SecretDecl("token", "command", {"command": ["echo", CANARY]}, Span.point("spec.yaml", 3, 3), "/tmp")},
    )
    result = engine_run(spec)
    assert [s.outcome for s in result.steps] == [Outcome.AUTH, Outcome.PASS]
    assert result.steps[0].auth.source == "command echo ***"
    assert result.steps[1].response.reason == "hi ***"
    assert_no_canary(result)


def test_sensitive_capture_with_a_lone_surrogate_is_masked_not_a_crash(http_server, engine_run):
    from urllib.parse import quote

    body = '{"access_token": "ab\\udc00cdef"}'  # valid JSON: a lone surrogate escape
    spec = make_spec(R("login", "/text?t=" + quote(body), captures=(Capture("access_token", "$.access_token"),)),
                     base_url=http_server.url)
    (step,) = engine_run(spec).steps
    assert step.outcome is Outcome.PASS
    assert b"udc00" not in step.response.body and b"***" in step.response.body


@pytest.mark.parametrize("use", [
    {"body": JsonBody({"x": "${v}"})},
    {"body": FormBody((("x", "${v}"),))},
    {"body": RawBody("x=${v}")},
    {"query": (("q", "${v}"),)},
])
def test_captured_lone_surrogate_in_a_body_or_query_is_an_error_step(http_server, engine_run, use):
    from urllib.parse import quote

    body = '{"v": "ab\\udc00cdef"}'  # valid JSON, not encodable as UTF-8
    spec = make_spec(R("get", "/text?t=" + quote(body), captures=(Capture("v", "$.v"),)),
                     R("use", "/echo", method="POST", **use), base_url=http_server.url)
    steps = engine_run(spec).steps
    assert [s.outcome for s in steps] == [Outcome.PASS, Outcome.ERROR]
    assert steps[1].failures[0].message == (
        "cannot build the request: a value is not valid Unicode text (U+DC00 cannot be encoded)")


def test_curl_uses_placeholders(bearer_spec, engine_run):
    spec = bearer_spec(R("post", "/echo", method="POST", body=JsonBody({"a": "$literal"}),
                         headers=(("X-Note", 'say "hi"'),)))
    (step,) = engine_run(spec, curl=True).steps
    assert step.curl.startswith('curl -X "POST" "http://127.0.0.1:')
    assert '-H "Authorization: Bearer ${API_TOKEN}"' in step.curl
    assert '--data-raw "{\\"a\\": \\"\\$literal\\"}"' in step.curl
    assert '-H "X-Note: say \\"hi\\""' in step.curl
    assert CANARY not in step.curl


def test_curl_off_by_default(bearer_spec, engine_run):
    assert engine_run(bearer_spec(R("a", "/ok"))).steps[0].curl is None


def test_insecure_and_verify_flags_reach_the_request(bearer_spec, engine_run):
    spec = bearer_spec(R("a", "/ok"))
    (step,) = engine_run(spec, insecure=True, curl=True).steps
    assert step.curl.endswith(" -k")


def test_a_var_that_cannot_be_rendered_fails_only_the_requests_using_it(http_server, engine_run):
    """Vars are rendered on first use (`runner run` reports an unset env var before sending
    anything: test_render.py); a request that does not use the var is sent."""
    spec = make_spec(R("a", "/ok"), R("b", "/ok?x=${x}"), base_url=http_server.url,
                     vars={"x": "${env:NOT_SET_ANYWHERE}"})
    result = engine_run(spec)
    assert [s.outcome for s in result.steps] == [Outcome.PASS, Outcome.ERROR]
    assert "NOT_SET_ANYWHERE" in result.steps[1].failures[0].message
    assert result.error is None and len(http_server.received) == 1


def test_sensitive_captures_are_masked_everywhere(engine_run, http_server):
    """A token captured from a login response is masked from then on: by its name
    (access_token, session_token, api_key...) or by its use in an Authorization header."""
    login_token, sid, plain = "tok-LOGIN-5e6f7a8b9c", "sid-LOGIN-1a2b3c4d5e", "plain-value-123456"
    spec = make_spec(
        R("login", f"/headers?X-Access={login_token}&X-Sid={sid}&X-Id={plain}",
          captures=(Capture("access_token", header="X-Access"), Capture("sid", header="X-Sid"),
                    Capture("item_id", header="X-Id"))),
        R("use", "/echo?id=${item_id}&t=${access_token}", method="POST",
          headers=(("Authorization", "Bearer ${sid}"),), body=RawBody("token ${access_token}")),
        base_url=http_server.url,
    )
    result = engine_run(spec)
    assert [s.outcome for s in result.steps] == [Outcome.PASS, Outcome.PASS], result.steps[1].failures
    seen = http_server.requests_to("/echo")[0]
    assert seen.header("Authorization") == f"Bearer {sid}"  # sent as is, shown masked
    text = repr(result)
    for value in (login_token, sid):
        assert value not in text
    login, use = result.steps
    assert dict(login.response.headers)["X-Access"] == "***"
    assert dict(login.response.headers)["X-Sid"] == "***"
    assert dict(login.response.headers)["X-Id"] == plain  # an ordinary capture stays visible
    assert use.response.header("X-Echo-Auth") == "Bearer ***"
    assert plain in use.url and "t=***" in use.url
    assert use.request.body_excerpt == "token ***"
