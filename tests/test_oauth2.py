"""The oauth2 client-credentials source against a real token endpoint on 127.0.0.1
(tests/token_server.py), through runner.transport.post_form."""

from __future__ import annotations

import base64
import json
import threading
import time
from urllib.parse import quote, quote_plus

import pytest

from runner.errors import ExitCode, SecretError
from runner.model import SecretDecl
from runner.redact import Redactor
from runner.secrets import SecretStore, SourceContext, make_source
from runner.source import Span
from runner.template import Scope, render
from runner.transport import post_form

from tests.token_server import TokenServer, decode_jwt
from tests.helpers import CANARY

CLIENT_SECRET = CANARY + " :+&%/="  # characters that RFC 6749 2.3.1 form-encoding changes
ENVIRON = {"CLIENT_SECRET": CLIENT_SECRET, "CLIENT_ID": "demo client"}


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def server():
    with TokenServer(client_id="demo-client", client_secret=CLIENT_SECRET) as srv:
        yield srv


def make_ctx(environ=None, clock=None, store_ref=None, decls=None) -> SourceContext:
    environ = ENVIRON if environ is None else environ

    def resolve_ref(value):
        def secret(name: str) -> str:
            return store_ref[0].get(decls[name])

        return render(value, Scope(variables={}, environ=environ, secret=secret))

    kw = {"clock": clock} if clock else {}
    return SourceContext(environ=environ, resolve_ref=resolve_ref, post_form=post_form, **kw)


def oauth(server: TokenServer, name: str = "api_token", **options) -> SecretDecl:
    opts = {"token_url": server.url, "client_id": "demo-client", "client_secret": "${env:CLIENT_SECRET}", **options}
    return SecretDecl(name, "oauth2", {"oauth2": opts}, Span.point("specs/api.yaml", 9, 5), ".")


def source(d: SecretDecl, **kw):
    src = make_source(d, make_ctx(**kw))
    src.sleep = lambda s: time.sleep(min(s, 0.05))  # Retry-After waits, shortened for the suite
    return src


def assert_clean(err: BaseException) -> None:
    forms = {
        CANARY,
        quote(CANARY, safe=""),
        quote_plus(CLIENT_SECRET),
        base64.b64encode(CANARY.encode()).decode()[:20],
        json.dumps(CANARY)[1:-1],
    }
    for text in (str(err), repr(err), getattr(err, "reason", ""), repr(getattr(err, "args", ()))):
        for form in forms:
            assert form not in text
        assert "\x1b" not in text


def failure(src) -> SecretError:
    with pytest.raises(SecretError) as info:
        src.fetch()
    err = info.value
    assert_clean(err)
    assert err.exit_code == ExitCode.CREDENTIALS
    assert "specs/api.yaml:9:5" in str(err)
    return err


# ---- success ------------------------------------------------------------------------


def test_token_with_basic_client_auth_form_encoded(server):
    src = source(oauth(server, scope="pets:read pets:write", audience="https://api.example.com", extra={"resource": "r1"}))
    value = src.fetch()
    claims = decode_jwt(value.value)
    assert claims["sub"] == "demo-client"
    assert claims["aud"] == "https://api.example.com"
    assert claims["exp"] - claims["iat"] == 3600
    headers, form = server.requests[-1]
    assert form == {
        "grant_type": "client_credentials",
        "scope": "pets:read pets:write",
        "audience": "https://api.example.com",
        "resource": "r1",
    }
    assert headers["content-type"].startswith("application/x-www-form-urlencoded")
    basic = base64.b64decode(headers["authorization"].split()[1]).decode()
    assert basic == f"demo-client:{quote_plus(CLIENT_SECRET)}"  # RFC 6749 2.3.1
    assert value.expires_at is not None
    assert CANARY not in repr(value)


def test_describe(server):
    src = source(oauth(server, token_url=server.url + "?tenant=x"))
    assert src.describe() == f"oauth2 client_credentials at {server.url} (client demo-client)"
    assert src.refreshable is True and src.env_name() is None


def test_client_secret_post(server):
    src = source(oauth(server, auth_method="client_secret_post"))
    assert decode_jwt(src.fetch().value)["sub"] == "demo-client"
    headers, form = server.requests[-1]
    assert "authorization" not in headers
    assert form["client_id"] == "demo-client" and form["client_secret"] == CLIENT_SECRET


def test_extra_values_are_form_text(server):
    source(oauth(server, extra={"resource": "r", "n": 3, "flag": True})).fetch()
    form = server.requests[-1][1]
    assert (form["resource"], form["n"], form["flag"]) == ("r", "3", "true")


def test_scope_as_a_list(server):
    source(oauth(server, scope=["a", "b"])).fetch()
    assert server.requests[-1][1]["scope"] == "a b"


def test_client_id_from_env_is_form_encoded(server):
    server.client_id = "demo client"
    src = source(oauth(server, client_id="${env:CLIENT_ID}"))
    assert decode_jwt(src.fetch().value)["sub"] == "demo client"
    basic = base64.b64decode(server.requests[-1][0]["authorization"].split()[1]).decode()
    assert basic.startswith("demo+client:")


def test_client_secret_from_another_secret(server):
    secret_decl = SecretDecl("client_secret", "env", {"env": "CLIENT_SECRET"}, Span.point("c.yaml"), ".")
    d = oauth(server, client_secret="${secret:client_secret}")
    decls = {"client_secret": secret_decl, "api_token": d}
    holder: list = []
    redactor = Redactor()
    store = SecretStore(make_ctx(store_ref=holder, decls=decls), redactor)
    holder.append(store)
    token = store.get(d)
    assert decode_jwt(token)["sub"] == "demo-client"
    # the client secret, its form-encoding and the Basic header are all masked
    headers, _ = server.requests[-1]
    assert redactor.mask(headers["authorization"]) == "Basic ***"
    assert redactor.mask(CLIENT_SECRET) == "***"
    assert redactor.mask(token) == "***"


def test_env_client_secret_is_registered_for_masking(server):
    redactor = Redactor()
    seen: list[str] = []
    store = SecretStore(make_ctx(), redactor, on_resolved=seen.append)
    store.get(oauth(server))
    assert redactor.mask(f"secret={CLIENT_SECRET}") == "secret=***"
    assert CLIENT_SECRET in seen  # ::add-mask:: under GitHub Actions


def test_secret_that_refers_to_itself(server):
    d = oauth(server, client_secret="${secret:api_token}")
    err = failure(source(d))
    assert "refers to this same secret" in err.reason


def test_cycle_between_two_secrets_is_an_error_not_a_deadlock(server):
    a = oauth(server, name="a", client_secret="${secret:b}")
    b = oauth(server, name="b", client_secret="${secret:a}")
    holder: list = []
    store = SecretStore(make_ctx(store_ref=holder, decls={"a": a, "b": b}), Redactor())
    holder.append(store)
    done: list = []

    def run():
        with pytest.raises(SecretError) as info:
            store.get(a)
        done.append(str(info.value))

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(10)
    assert done and "cycle" in done[0]


# ---- expires_in -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expires_in", "lifetime"),
    [
        (3600, 3600.0), ("120", 120.0), (-5, None), ("soon", None), (None, None), (0, None), (True, None),
        (10**400, None), ("\u00b2", None),  # beyond float range, a digit float() refuses: were exceptions
    ],
)
def test_expires_in_forms(server, expires_in, lifetime):
    server.expires_in = expires_in
    clock = FakeClock()
    value = source(oauth(server), clock=clock).fetch()
    assert value.expires_at == (None if lifetime is None else clock.now + lifetime)


def test_store_caches_until_shortly_before_expiry(server):
    clock = FakeClock()
    store = SecretStore(make_ctx(clock=clock), Redactor())
    d = oauth(server)
    first = store.get(d)
    clock.now += 3500
    assert store.get(d) == first and server.calls == 1
    clock.now += 41  # 59 s left: renew
    second = store.get(d)
    assert second != first and server.calls == 2


def test_short_lived_tokens_do_not_refetch_on_every_use(server):
    server.expires_in = 2
    clock = FakeClock()
    store = SecretStore(make_ctx(clock=clock), Redactor())
    d = oauth(server)
    store.get(d)
    for _ in range(10):
        store.get(d)
    assert server.calls == 1  # a 60 s leeway would refetch every time
    clock.now += 1.0  # half the lifetime: renew
    store.get(d)
    store.get(d)
    assert server.calls == 2


def test_short_lived_token_real_clock_never_used_expired(server):
    """expires_in=2 over ~3 s of use: every token handed out still has time left."""
    server.expires_in = 2
    store = SecretStore(make_ctx(), Redactor())
    d = oauth(server)
    deadline = time.monotonic() + 3.0
    uses = 0
    while time.monotonic() < deadline:
        token = store.get(d)
        assert decode_jwt(token)["exp"] > time.time()
        uses += 1
        time.sleep(0.05)
    assert uses > 20 and 2 <= server.calls <= 5


# ---- refresh --------------------------------------------------------------------------


def test_refresh_after_401_fetches_once_then_never_loops(server):
    store = SecretStore(make_ctx(), Redactor())
    d = oauth(server)
    t1 = store.get(d)
    t2 = store.refresh(d, t1)
    assert t2 != t1 and server.calls == 2
    assert store.refresh(d, t1) == t2 and server.calls == 2  # same stale value: no new fetch
    t3 = store.refresh(d, t2)
    assert t3 != t2 and server.calls == 3


def test_concurrent_refreshes_cost_one_fetch(server):
    store = SecretStore(make_ctx(), Redactor())
    d = oauth(server)
    stale = store.get(d)
    server.mode, server.delay = "slow", 0.3
    barrier = threading.Barrier(8)
    results: list[str] = []
    lock = threading.Lock()

    def worker():
        barrier.wait()
        token = store.refresh(d, stale)
        with lock:
            results.append(token)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert len(results) == 8 and len(set(results)) == 1 and results[0] != stale
    assert server.calls == 2  # the first get, then one refresh


def test_concurrent_first_use_costs_one_fetch(server):
    server.mode, server.delay = "slow", 0.3
    store = SecretStore(make_ctx(), Redactor())
    d = oauth(server)
    threads = [threading.Thread(target=store.get, args=(d,)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert server.calls == 1


def test_refresh_failure_is_reported_once_and_not_retried(server):
    store = SecretStore(make_ctx(), Redactor())
    d = oauth(server)
    stale = store.get(d)
    server.mode = "server_error"
    for _ in range(3):
        with pytest.raises(SecretError) as info:
            store.refresh(d, stale)
        assert "HTTP 500" in str(info.value)
        assert_clean(info.value)
    with pytest.raises(SecretError):
        store.get(d)
    assert server.calls == 2


# ---- failures -------------------------------------------------------------------------


def test_unreachable_endpoint():
    with TokenServer() as srv:
        url = srv.url
    d = SecretDecl(
        "api_token",
        "oauth2",
        {"oauth2": {"token_url": url, "client_id": "c", "client_secret": "${env:CLIENT_SECRET}"}},
        Span.point("specs/api.yaml", 9, 5),
        ".",
    )
    err = failure(source(d))
    assert "could not be reached" in err.reason


def test_invalid_client_echoing_the_secret_is_masked(server):
    server.mode = "invalid_client"
    err = failure(source(oauth(server)))
    assert "token endpoint refused the request (HTTP 400): invalid_client" in err.reason
    assert "Client authentication failed" in err.reason
    assert "try auth_method: client_secret_post" in err.reason
    assert len(err.reason) < 500


def test_wrong_secret(server):
    err = failure(source(oauth(server), environ={"CLIENT_SECRET": CANARY + "-wrong"}))
    assert "invalid_client" in err.reason


def test_401_from_the_token_endpoint(server):
    server.mode = "unauthorized"
    assert "refused the request (HTTP 401): invalid_client" in failure(source(oauth(server))).reason


def test_html_login_page(server):
    server.mode = "html"
    err = failure(source(oauth(server)))
    assert "token endpoint returned non-JSON (content-type text/html, HTTP 200)" in err.reason
    assert "Sign in" not in err.reason


def test_html_error_page(server):
    server.mode = "server_error"
    err = failure(source(oauth(server)))
    assert "refused the request (HTTP 500), content-type text/html" in err.reason
    assert "Internal Server Error" not in err.reason


def test_no_access_token(server):
    server.mode = "no_token"
    err = failure(source(oauth(server)))
    assert "has no access_token (fields present: expires_in, token_type)" in err.reason


def test_not_a_bearer_token(server):
    server.mode = "mac"
    assert "issued a 'mac' token; only Bearer tokens are supported" in failure(source(oauth(server))).reason


def test_redirect_is_not_followed(server):
    server.mode = "redirect"
    err = failure(source(oauth(server)))
    assert "HTTP 302" in err.reason and "never follow redirects" in err.reason
    assert "leak" not in err.reason
    assert server.calls == 1


def test_503_with_retry_after_then_success(server):
    server.mode, server.failures = "retry_then_ok", 2
    src = source(oauth(server))
    waits: list[float] = []
    src.sleep = waits.append
    assert decode_jwt(src.fetch().value)["sub"] == "demo-client"
    assert server.calls == 3 and waits == [1.0, 1.0]


def test_503_real_wait(server):
    server.mode, server.failures = "retry_then_ok", 1
    src = make_source(oauth(server), make_ctx())
    started = time.monotonic()
    src.fetch()
    assert time.monotonic() - started >= 0.9


def test_503_gives_up_after_two_retries(server):
    server.mode = "always_503"
    err = failure(source(oauth(server)))
    assert "HTTP 503" in err.reason and "gave up after 3 attempts" in err.reason
    assert server.calls == 3


def test_long_retry_after_is_not_waited(server):
    server.mode, server.retry_after = "always_503", "3600"
    src = source(oauth(server))
    src.sleep = lambda s: pytest.fail("must not wait an hour")
    err = failure(src)
    assert "Retry-After: 3600" in err.reason
    assert server.calls == 1


def test_slow_endpoint_times_out(server):
    server.mode, server.delay = "slow", 3
    started = time.monotonic()
    err = failure(source(oauth(server, timeout=0.5)))
    assert time.monotonic() - started < 2.5
    assert "could not be reached" in err.reason


def test_missing_client_secret_variable(server):
    err = failure(source(oauth(server), environ={}))
    assert "cannot resolve 'client_secret'" in err.reason and "CLIENT_SECRET" in err.reason


def test_missing_token_url(server):
    d = SecretDecl("api_token", "oauth2", {"oauth2": {"client_id": "c"}}, Span.point("specs/api.yaml", 9, 5), ".")
    assert "'token_url' is required" in failure(source(d)).reason


def test_bad_auth_method(server):
    assert "'auth_method' must be one of" in failure(source(oauth(server, auth_method="jwt"))).reason


def test_extra_may_not_override_credentials(server):
    assert "may not set client_secret" in failure(source(oauth(server, extra={"client_secret": "x"}))).reason


def test_retry_wait_is_cut_short_by_the_stop_event(server):
    server.mode, server.retry_after = "always_503", "10"
    stop = threading.Event()
    ctx = make_ctx()
    ctx.stop = stop
    src = make_source(oauth(server), ctx)
    threading.Timer(0.3, stop.set).start()
    started = time.monotonic()
    err = failure(src)
    assert time.monotonic() - started < 5
    assert "interrupted while waiting to retry" in err.reason


def test_absurd_timeout_is_no_practical_limit_not_a_crash(server):
    assert decode_jwt(source(oauth(server, timeout=10**400)).fetch().value)["sub"] == "demo-client"


def test_token_url_that_urlsplit_refuses_is_a_secret_error(server):
    assert "'token_url' is not a valid URL" in failure(source(oauth(server, token_url="http://[oops/token"))).reason


def test_retry_after_digit_that_is_not_decimal_waits_the_default(server):
    server.mode, server.retry_after, server.failures = "retry_then_ok", "\u00b2", 1
    waits = []
    src = source(oauth(server))
    src.sleep = waits.append
    assert src.fetch().value and waits == [1.0]
