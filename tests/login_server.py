"""A login API on 127.0.0.1 for the `http` secret source: POST /auth/login -> a token,
GET /api/me accepts only a token it issued and has not revoked.

The answer of /auth/login is shaped by `LoginServer.answer` (a callable of the call
number and the parsed request body returning (status, body bytes, headers)), so each
test can play a different server: an echoing 401, a token at `$.data.token`, a token
in a header, a redirect. It records every login and every token /api/me received.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qsl

from tests.helpers import CANARY

USERNAME = "ci-bot"
PASSWORD = "pw-" + CANARY  # the login password: must never appear in any output

Answer = Callable[[int, dict[str, Any]], tuple[int, bytes, list[tuple[str, str]]]]


def token_for(call: int) -> str:
    return f"tok{call}-{CANARY}"


def json_answer(doc: Any, status: int = 200, headers: list[tuple[str, str]] | None = None):
    return status, json.dumps(doc).encode(), [("Content-Type", "application/json"), *(headers or [])]


class LoginServer:
    __test__ = False

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.logins: list[dict[str, Any]] = []  # parsed bodies of /auth/login, in order
        self.login_headers: list[dict[str, str]] = []
        self.seen_tokens: list[str] = []  # Bearer tokens /api/me received
        self.valid: set[str] = set()
        self.answer: Answer = self.default_answer
        # More login paths, each with its own answer (the default path uses `answer`).
        self.routes: dict[str, Answer] = {}
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: bytes, headers: list[tuple[str, str]]) -> None:
                self.send_response(status)
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode("utf-8", "replace")
                path = self.path.split("?", 1)[0]
                route = owner.answer if path == "/auth/login" else owner.routes.get(path)
                if route is None:
                    return self._send(404, b"{}", [("Content-Type", "application/json")])
                ctype = self.headers.get("Content-Type", "")
                try:
                    body = json.loads(raw) if "json" in ctype else dict(parse_qsl(raw))
                except ValueError:
                    body = {}
                with owner.lock:
                    owner.logins.append(body)
                    owner.login_headers.append(dict(self.headers.items()))
                    call = len(owner.logins)
                status, data, headers = route(call, body)
                self._send(status, data, headers)

            def do_GET(self) -> None:  # noqa: N802
                if self.path.split("?", 1)[0] == "/auth/login":
                    return self.do_POST()
                auth = self.headers.get("Authorization", "")
                token = auth[7:] if auth.startswith("Bearer ") else auth
                with owner.lock:
                    owner.seen_tokens.append(token)
                    ok = token in owner.valid
                if ok:
                    return self._send(200, b'{"user": "ci-bot"}', [("Content-Type", "application/json")])
                self._send(401, b'{"error": "invalid_token"}', [
                    ("Content-Type", "application/json"),
                    ("WWW-Authenticate", 'Bearer error="invalid_token", error_description="unknown or expired token"'),
                ])

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def default_answer(self, call: int, body: dict[str, Any]):
        if body.get("username") != USERNAME or body.get("password") != PASSWORD:
            return json_answer({"error": "invalid_grant", "message": "bad username or password"}, 401)
        return self.issue(call)

    def issue(self, call: int, **extra: Any):
        token = token_for(call)
        with self.lock:
            self.valid.add(token)
        return json_answer({"access_token": token, "expires_in": 3600, **extra})

    def revoke_all(self) -> None:
        with self.lock:
            self.valid.clear()

    def __enter__(self) -> "LoginServer":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
