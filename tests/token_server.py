"""A real OAuth2 token endpoint for tests: client credentials grant (RFC 6749 4.4).

A stdlib ThreadingHTTPServer on 127.0.0.1, ephemeral port, in a daemon thread:

    with TokenServer(client_id="demo-client", client_secret="s3cret") as server:
        server.url                   # http://127.0.0.1:PORT/oauth/token
        server.mode = "invalid_client"
        server.calls                 # how many token requests arrived
        server.requests[-1]          # (headers, form fields) of the last one

Tokens are JWT-shaped (HS256 with the stdlib hmac) with iss, sub, aud, scope, iat,
exp and a jti counter. `mode` selects the answer:

    ok               200 JSON token (default)
    invalid_client   400 {"error": "invalid_client", "error_description": ...} echoing the secret
    unauthorized     401 {"error": "invalid_client"} with WWW-Authenticate: Basic
    html             200 text/html login page
    no_token         200 JSON without access_token
    mac              200 JSON with token_type "mac"
    retry_then_ok    503 + Retry-After: `retry_after` for the first `failures` calls, then ok
    always_503       503 + Retry-After every time
    slow             sleeps `delay` seconds, then ok
    redirect         302 to another URL with a query string
    server_error     500 text/html

Wrong client credentials always get 400 invalid_client (whatever the mode).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote_plus

__all__ = ["TokenServer", "decode_jwt"]

SIGNING_KEY = b"token-server-test-key"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def make_jwt(claims: dict[str, Any]) -> str:
    header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    payload = _b64url(json.dumps(claims, separators=(",", ":")).encode())
    signature = hmac.new(SIGNING_KEY, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64url(signature)}"


def decode_jwt(token: str) -> dict[str, Any]:
    """The claims of a token this server issued (signature checked)."""
    header, payload, signature = token.split(".")
    expected = _b64url(hmac.new(SIGNING_KEY, f"{header}.{payload}".encode(), hashlib.sha256).digest())
    assert hmac.compare_digest(expected, signature), "bad signature"
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


class TokenServer:
    def __init__(self, client_id: str = "demo-client", client_secret: str = "demo-secret", expires_in: Any = 3600) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.expires_in = expires_in  # int, or anything to send as is (str, negative, None: omitted)
        self.mode = "ok"
        self.failures = 1  # retry_then_ok: how many 503s first
        self.retry_after = "1"
        self.delay = 2.0
        self.calls = 0
        self.requests: list[tuple[dict[str, str], dict[str, str]]] = []
        self._lock = threading.Lock()
        self._jti = 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode("utf-8")
                form = dict(parse_qsl(body, keep_blank_values=True))
                headers = {k.lower(): v for k, v in self.headers.items()}
                with owner._lock:
                    owner.calls += 1
                    call = owner.calls
                    owner.requests.append((headers, form))
                status, extra_headers, payload, ctype = owner._answer(call, headers, form)
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Cache-Control", "no-store")
                self.send_header("Content-Length", str(len(payload)))
                for k, v in extra_headers:
                    self.send_header(k, v)
                self.end_headers()
                try:
                    self.wfile.write(payload)
                except OSError:  # the client gave up (a timeout test)
                    self.close_connection = True

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    # ---- lifecycle ----------------------------------------------------------------
    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/oauth/token"

    def start(self) -> "TokenServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> "TokenServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- answers ------------------------------------------------------------------
    def _client(self, headers: dict[str, str], form: dict[str, str]) -> tuple[str | None, str | None]:
        auth = headers.get("authorization", "")
        if auth.lower().startswith("basic "):
            decoded = base64.b64decode(auth[6:]).decode("utf-8")
            cid, _, secret = decoded.partition(":")
            return unquote_plus(cid), unquote_plus(secret)  # RFC 6749 2.3.1
        return form.get("client_id"), form.get("client_secret")

    def _json(self, status: int, doc: Any, headers: list[tuple[str, str]] | None = None):
        return status, headers or [], json.dumps(doc).encode(), "application/json;charset=UTF-8"

    def _answer(self, call: int, headers: dict[str, str], form: dict[str, str]):
        mode = self.mode
        if mode == "slow":
            time.sleep(self.delay)
        if mode == "html":
            return 200, [], b"<html><body><form>Sign in</form></body></html>", "text/html; charset=utf-8"
        if mode == "server_error":
            return 500, [], b"<html><body>Internal Server Error</body></html>", "text/html"
        if mode == "redirect":
            return 302, [("Location", "https://login.example.com/token?client_secret=leak")], b"", "text/plain"
        if mode == "always_503" or (mode == "retry_then_ok" and call <= self.failures):
            return 503, [("Retry-After", self.retry_after)], b"busy", "text/plain"
        if mode == "unauthorized":
            return self._json(401, {"error": "invalid_client"}, [("WWW-Authenticate", 'Basic realm="token"')])
        cid, secret = self._client(headers, form)
        if mode == "invalid_client" or cid != self.client_id or secret != self.client_secret:
            return self._json(
                400,
                {
                    "error": "invalid_client",
                    # A careless server echoes what it got: the runner must mask it.
                    "error_description": f"Client authentication failed for {cid} with secret {secret}\x1b[31m",
                },
            )
        if form.get("grant_type") != "client_credentials":
            return self._json(400, {"error": "unsupported_grant_type"})
        with self._lock:
            self._jti += 1
            jti = self._jti
        now = int(time.time())
        lifetime = self.expires_in if isinstance(self.expires_in, int) and self.expires_in > 0 else 3600
        claims = {
            "iss": "token-server",
            "sub": cid,
            "aud": form.get("audience", "api"),
            "scope": form.get("scope", ""),
            "iat": now,
            "exp": now + lifetime,
            "jti": str(jti),
        }
        doc: dict[str, Any] = {"access_token": make_jwt(claims), "token_type": "Bearer"}
        if self.expires_in is not None:
            doc["expires_in"] = self.expires_in
        if mode == "no_token":
            doc.pop("access_token")
        if mode == "mac":
            doc["token_type"] = "mac"
        return self._json(200, doc)
