"""runner.transport over real HTTP: deadlines, body caps, redirects, netrc, error lines."""

from __future__ import annotations

import json
import os
import resource
import socket
import time
from urllib.parse import quote

import pytest

from runner.errors import TransportError
from runner.transport import PreparedRequest, Transport, post_form, redirect_headers


def send(url: str, **kw):
    with Transport() as t:
        return t.send(PreparedRequest(kw.pop("method", "GET"), url, **kw))


def fails(url: str, **kw) -> TransportError:
    with pytest.raises(TransportError) as info:
        send(url, **kw)
    return info.value


def test_get_json_keeps_duplicate_headers_and_body(http_server):
    resp = send(http_server.url + "/items")
    assert resp.status == 200
    assert json.loads(resp.body)["count"] == 2
    assert resp.header("etag") == '"v1"'
    assert resp.elapsed_ms > 0


def test_redirects_are_not_followed_by_default(http_server):
    resp = send(http_server.url + "/redirect?to=/ok")
    assert resp.status == 302
    assert resp.header("Location") == "/ok"
    assert len(http_server.received) == 1


def test_redirect_followed_when_asked(http_server):
    resp = send(http_server.url + "/redirect?to=/ok", follow_redirects=True)
    assert resp.status == 200
    assert resp.url.endswith("/ok")


def test_cross_origin_redirect_strips_authorization_and_api_key(http_server, other_server, canary):
    resp = send(
        f"{http_server.url}/redirect?to={other_server.url}/echo",
        headers=[("Authorization", "Bearer " + canary), ("X-API-Key", canary), ("Accept", "application/json")],
        follow_redirects=True,
        secret_header_names=frozenset({"x-api-key"}),
    )
    assert resp.status == 200
    (seen,) = other_server.received
    assert seen.header("Authorization") is None
    assert seen.header("X-API-Key") is None
    assert seen.header("Accept") == "application/json"
    # the first origin did get them
    assert http_server.received[0].header("Authorization") == "Bearer " + canary


def test_same_origin_redirect_keeps_authorization(http_server, canary):
    send(http_server.url + "/redirect?to=/echo", headers=[("Authorization", "Bearer " + canary)], follow_redirects=True)
    assert http_server.requests_to("/echo")[0].header("Authorization") == "Bearer " + canary


def test_redirect_header_policy_https_to_http_and_ports():
    hs = [("Authorization", "Bearer x"), ("X-API-Key", "k"), ("Accept", "*/*")]
    kept, stripped = redirect_headers("https://api.example/a", "http://api.example/b", hs, {"x-api-key"})
    assert stripped and kept == [("Accept", "*/*")]
    kept, stripped = redirect_headers("http://api.example/a", "https://api.example/b", hs, {"x-api-key"})
    assert not stripped and kept == hs  # http:80 -> https:443 on the same host keeps them (as requests)
    kept, stripped = redirect_headers("https://api.example/a", "https://api.example:8443/b", hs, {"x-api-key"})
    assert stripped
    kept, stripped = redirect_headers("https://api.example/a", "https://API.example:443/c", hs)
    assert not stripped


def test_307_body_not_replayed_to_another_origin(http_server, other_server):
    err = fails(
        f"{http_server.url}/redirect?code=307&to={other_server.url}/echo",
        method="POST",
        data=b'{"secret": 1}',
        follow_redirects=True,
    )
    assert err.kind == "redirect"
    assert "replay" in err.message
    assert other_server.received == []


def test_303_turns_into_get_without_body(http_server):
    resp = send(http_server.url + "/redirect?code=303&to=/echo", method="POST", data=b"abc", follow_redirects=True)
    doc = json.loads(resp.body)
    assert doc["method"] == "GET" and doc["body"] == ""


def test_redirect_loop_and_file_location(http_server):
    err = fails(http_server.url + "/loop", follow_redirects=True)
    assert err.kind == "redirect" and "loop" in err.message
    err = fails(http_server.url + "/redirect?to=file:///etc/passwd", follow_redirects=True)
    assert err.kind == "redirect" and "file" in err.message


@pytest.mark.parametrize("location", ["http://127.0.0.1:notaport/x", "http://127.0.0.1:70000/x"])
def test_redirect_to_a_bad_port_is_a_redirect_error(http_server, location):
    err = fails(http_server.url + "/redirect?to=" + quote(location, safe=""), follow_redirects=True)
    assert err.kind == "redirect" and "invalid redirect Location" in err.message
    assert "notaport" not in err.message


def test_too_many_redirects(http_server):
    # a chain of distinct hops: /redirect?to=/redirect?to=... (11 levels)
    from urllib.parse import quote

    target = "/ok"
    for _ in range(11):
        target = "/redirect?to=" + quote(target, safe="")
    err = fails(http_server.url + target, follow_redirects=True)
    assert err.kind == "redirect" and "more than 10 redirects" in err.message


def test_netrc_is_never_used(http_server, other_server, tmp_path, monkeypatch):
    netrc = tmp_path / ".netrc"
    netrc.write_text("machine 127.0.0.1 login alice password netrc-pass\ndefault login bob password other\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("NETRC", str(netrc))
    send(http_server.url + "/echo", headers=[("Authorization", "Bearer ours")])
    send(http_server.url + "/echo")
    send(f"{http_server.url}/redirect?to={other_server.url}/echo", headers=[("Authorization", "Bearer ours")],
         follow_redirects=True)
    first, second = http_server.requests_to("/echo")
    assert first.header("Authorization") == "Bearer ours"
    assert second.header("Authorization") is None
    assert other_server.received[0].header("Authorization") is None


def test_total_deadline_fires_on_a_trickling_body(http_server):
    started = time.monotonic()
    err = fails(http_server.url + "/slow?n=100&delay=0.1", timeout=0.8)
    took = time.monotonic() - started
    assert err.kind == "timeout"
    assert "timed out after 0.8 s" in err.message and "127.0.0.1:" in err.message
    assert took < 2.0


def test_deadline_while_waiting_for_headers(http_server):
    err = fails(http_server.url + "/sleep?s=2", timeout=0.5)
    assert err.kind == "timeout" and "waiting for" in err.message


def test_body_cap(http_server):
    err = fails(http_server.url + "/big?size=30000000")
    assert err.kind == "too_large"
    assert err.message == "response body exceeds 10 MB (max_body)"
    err = fails(http_server.url + "/big?size=5000", max_body=1024)
    assert "exceeds 1 KB" in err.message


def test_gzip_bomb_is_capped_with_bounded_memory(http_server):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    err = fails(http_server.url + "/gzipbomb")
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert err.kind == "too_large"
    assert (after - before) < 150 * 1024  # KB on Linux: the 200 MB body never sits in memory


def test_reset_mid_body_is_one_line(http_server):
    err = fails(http_server.url + "/reset")
    assert err.kind == "reset"
    assert "after 1,024 of 10,000 bytes" in err.message
    assert "\n" not in err.message


def test_refused_port_names_host_and_port_never_query():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    err = fails(f"http://user:pw@127.0.0.1:{port}/x?access_token=rr-CANARY-9f8e7d6c5b4a")
    assert err.kind == "connect"
    assert err.message == f"connection refused by 127.0.0.1:{port}"


def test_dns_failure_and_invalid_urls():
    err = fails("http://no-such-host.invalid/x?token=abc")
    assert err.kind == "dns" and "no-such-host.invalid" in err.message and "token" not in err.message
    assert fails("ftp://example.com/x").kind == "invalid_url"
    assert fails("/relative").kind == "invalid_url"


def test_header_with_control_character_is_refused_without_echo(http_server):
    err = fails(http_server.url + "/ok", headers=[("X-Token", "abc\r\ninjected")])
    assert "control character" in err.message and "abc" not in err.message
    assert http_server.received == []


def test_tls_failure_is_one_line(http_server):
    # speaking TLS to a plain-HTTP port fails the handshake
    err = fails(http_server.url.replace("http://", "https://") + "/ok", timeout=5)
    assert err.kind in ("tls", "reset")
    assert "127.0.0.1:" in err.message and "\n" not in err.message


def test_verify_false_uses_a_separate_session(http_server):
    with Transport() as t:
        t.send(PreparedRequest("GET", http_server.url + "/ok", verify=False))
        t.send(PreparedRequest("GET", http_server.url + "/ok"))
        assert set(t._sessions) == {True, False}
        assert t._sessions[True] is not t._sessions[False]


def test_proxy_variables_from_the_given_environ(http_server, other_server):
    # other_server acts as a (plain HTTP) proxy: it receives the absolute-form request
    environ = {"HTTP_PROXY": other_server.url}
    with Transport(environ=environ) as t:
        resp = t.send(PreparedRequest("GET", "http://example.invalid/echo"))
    assert resp.status == 200
    assert other_server.received and http_server.received == []
    with Transport(environ={**environ, "NO_PROXY": "127.0.0.1"}) as t:
        t.send(PreparedRequest("GET", http_server.url + "/ok"))
    assert len(http_server.received) == 1


def test_proxy_credentials_for_the_redactor():
    environ = {"https_proxy": "http://u%40x:p%3Ass-1234@proxy:3128", "HTTP_PROXY": "proxy:8080", "ALL_PROXY": ""}
    with Transport(environ=environ) as t:
        assert t.proxy_credentials() == [("u@x", "p:ss-1234")]
    with Transport() as t:
        assert t.proxy_credentials() == []


def test_post_form_basic_auth_and_no_redirects(http_server, other_server):
    resp = post_form(http_server.url + "/echo", {"grant_type": "client_credentials"}, timeout=5, auth=("id", "sec"))
    doc = json.loads(resp.body)
    assert doc["body"] == "grant_type=client_credentials"
    assert doc["headers"]["Authorization"].startswith("Basic ")
    resp = post_form(f"{http_server.url}/redirect?to={other_server.url}/echo", {"a": "b"}, timeout=5)
    assert resp.status == 302 and other_server.received == []


def test_post_form_body_cap(http_server):
    with pytest.raises(TransportError) as info:
        post_form(http_server.url + "/big?size=2000000", {}, timeout=5)
    assert "1 MB" in info.value.message


def test_cookies_persist_within_a_transport(http_server):
    with Transport() as t:
        t.send(PreparedRequest("GET", http_server.url + "/headers?Set-Cookie=sid%3Dabc%3B+Path%3D%2F"))
        t.send(PreparedRequest("GET", http_server.url + "/echo"))
    assert http_server.requests_to("/echo")[0].header("Cookie") == "sid=abc"


def test_no_environment_leak_into_requests(http_server, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # a dead proxy in os.environ: ignored
    send(http_server.url + "/ok")
    assert len(http_server.received) == 1
    assert os.environ["HTTP_PROXY"]


@pytest.mark.parametrize(
    "method, url, params, headers, data, files",
    [
        ("GET", "http://h.test/p", None, [("Authorization", "Bearer t"), ("accept", "application/json")], None, None),
        ("GET", "http://u:pw@h.test/p?x=1", [("a", "1"), ("a", "2"), ("b", "é &")], [("User-Agent", "mine")], None, None),
        ("POST", "http://h.test/p", None, [("Content-Type", "application/json")], b'{"a": 1}', None),
        ("POST", "http://h.test/p", None, [], [("k", "v"), ("k", "w")], None),
        ("PUT", "http://h.test/p", None, [("X-A", "1"), ("x-a", "2")], [("f", "v")], [("up", ("a.txt", b"hi", "text/plain"))]),
    ],
)
def test_prepare_matches_session_prepare_request(method, url, params, headers, data, files):
    """The transport prepares requests itself (no cookie-jar copy per request): same result."""
    import requests

    from runner.transport import _prepare

    with Transport() as t:
        session = t._session(True)
        session.cookies.set("sid", "abc", domain="h.test", path="/")
        ours = _prepare(session, method, url, params, headers, data, files)
        merged = {}
        for k, v in headers:  # what the transport gave Request(headers=...) before
            merged = {kk: vv for kk, vv in merged.items() if kk.lower() != k.lower()}
            merged[k] = v
        theirs = session.prepare_request(
            requests.Request(method, url, headers=merged, files=files, data=data, params=params))
    assert ours.url == theirs.url and ours.method == theirs.method
    assert ours.headers.get("Cookie") == theirs.headers.get("Cookie")
    if "@" not in url:
        assert ours.headers.get("Cookie") == "sid=abc"
    if files:  # multipart boundaries are random
        assert ours.headers["Content-Type"].startswith("multipart/form-data; boundary=")
    else:
        assert ours.body == theirs.body and dict(ours.headers) == dict(theirs.headers)
