"""A real HTTP server for the tests: stdlib ThreadingHTTPServer on 127.0.0.1:0, in a daemon thread.

It records every request it receives (method, path, headers, body) so tests can
assert what went over the wire (e.g. that no Authorization header crossed origins).
"""

from __future__ import annotations

import gzip
import json
import socket
import struct
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit
from tests.helpers import CANARY


ITEMS = {"count": 2, "items": [{"id": 1, "name": "rex", "tags": ["a"]}, {"id": 2, "name": "tom", "tags": []}]}

_BOMB: bytes | None = None
_BOMB_LOCK = threading.Lock()


def gzip_bomb() -> bytes:
    """~200 MB of zeros, gzip-compressed to ~200 KB (built once)."""
    global _BOMB
    with _BOMB_LOCK:
        if _BOMB is None:
            buf = bytearray()
            comp = gzip.compress(b"\0" * (1024 * 1024), compresslevel=9)
            # 200 concatenated gzip members decode as one 200 MB stream
            buf.extend(comp * 200)
            _BOMB = bytes(buf)
        return _BOMB


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def header(self, name: str) -> str | None:
        for k, v in self.headers.items():
            if k.lower() == name.lower():
                return v
        return None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: "_Server"

    def log_message(self, *args) -> None:  # quiet
        pass

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    # -- helpers
    def _send(self, status: int, body: bytes = b"", headers: dict | list | None = None, ctype="application/json"):
        self.send_response(status)
        items = headers.items() if isinstance(headers, dict) else (headers or [])
        names = {k.lower() for k, _ in items}
        if "content-type" not in names and ctype:
            self.send_header("Content-Type", ctype)
        if "content-length" not in names:
            self.send_header("Content-Length", str(len(body)))
        for k, v in items:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, doc, headers=None):
        self._send(status, json.dumps(doc).encode(), headers)

    def _handle(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        srv = self.server.owner
        with srv.lock:
            srv.received.append(Received(self.command, self.path, dict(self.headers.items()), body))
            hits = srv.hits[parts.path] = srv.hits.get(parts.path, 0) + 1
        route = parts.path
        if route == "/ok":
            return self._json(200, {"ok": True})
        if route == "/items":
            return self._json(200, ITEMS, {"ETag": '"v1"', "X-Total": "2"})
        if route == "/echo" or route.startswith("/reflect/"):  # /reflect/ANYTHING: an echo under any path
            doc = {
                "method": self.command,
                "path": self.path,
                "headers": dict(self.headers.items()),
                "body": body.decode("utf-8", "replace"),
            }
            return self._json(200, doc, {"X-Echo-Auth": self.headers.get("Authorization", "")})
        if route == "/protected":
            auth = self.headers.get("Authorization", "")
            if auth.startswith("Bearer ") and auth[7:] in srv.valid_tokens:
                return self._json(200, {"ok": True, "user": "alice"})
            return self._json(
                401,
                {"error": "invalid_token", "echo": auth},
                {"WWW-Authenticate": 'Bearer realm="test", error="invalid_token", error_description="The access token expired"'},
            )
        if route == "/nochallenge":
            return self._json(401, {"error": "unauthorized"})
        if route == "/basic":
            return self._json(401, {"error": "unauthorized"}, {"WWW-Authenticate": 'Basic realm="legacy"'})
        if route == "/forbidden":
            return self._json(
                403,
                {"error": "insufficient_scope"},
                {"WWW-Authenticate": 'Bearer realm="test", error="insufficient_scope", scope="pets:write"'},
            )
        if route == "/redirect":
            code = int(query.get("code", "302"))
            return self._send(code, b"", {"Location": query.get("to", "/ok")}, ctype=None)
        if route == "/loop":
            return self._send(302, b"", {"Location": "/loop"}, ctype=None)
        if route.startswith("/status/"):
            code = int(route.rsplit("/", 1)[1])
            headers = {"Location": "/ok"} if 300 <= code < 400 else None
            return self._json(code, {"status": code}, headers)
        if route == "/flaky":
            fail = int(query.get("fail", "2"))
            if hits <= fail:
                return self._json(int(query.get("code", "503")), {"status": "warming up"})
            return self._json(200, {"status": "ready", "hits": hits})
        if route == "/slow":
            n = int(query.get("n", "20"))
            delay = float(query.get("delay", "0.2"))
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(n))
            self.end_headers()
            try:
                for _ in range(n):
                    self.wfile.write(b"x")
                    self.wfile.flush()
                    time.sleep(delay)
            except OSError:
                pass
            return None
        if route == "/sleep":
            time.sleep(float(query.get("s", "1")))
            return self._json(200, {"slept": True})
        if route == "/big":
            size = int(query.get("size", str(50 * 1024 * 1024)))
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(size))
            self.end_headers()
            chunk = b"x" * 65536
            sent = 0
            try:
                while sent < size:
                    n = min(len(chunk), size - sent)
                    self.wfile.write(chunk[:n])
                    sent += n
            except OSError:
                pass
            return None
        if route == "/gzipbomb":
            return self._send(200, gzip_bomb(), {"Content-Encoding": "gzip"}, ctype="application/json")
        if route == "/badjson":
            kind = query.get("kind", "truncated")
            bodies = {
                "truncated": b'{"a": [1, 2',
                "bigint": b'{"a": ' + b"9" * 5000 + b"}",
                "deep": b"[" * 100000 + b"]" * 100000,
                "nan": b'{"a": NaN}',
                "html": b"<html><body>Oops</body></html>",
            }
            return self._send(200, bodies[kind])
        if route == "/reset":
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", "10000")
            self.end_headers()
            self.wfile.write(b"y" * 1024)
            self.wfile.flush()
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()
            return None
        if route == "/headers":
            return self._send(200, b"{}", list(query.items()))
        if route == "/reason":  # a reason phrase of the server's choosing (an echo of the query)
            self.send_response(int(query.get("code", "200")), query.get("r", "OK"))
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        if route == "/text":
            return self._send(200, query.get("t", "hello world").encode(), ctype="text/plain")
        return self._json(404, {"error": "not found"})

    def do_GET(self):
        self._handle()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_GET


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    owner: "TestServer"

    def handle_error(self, request, client_address) -> None:  # clients that hang up are expected
        pass


class TestServer:
    """Start with `TestServer()`; `.url` ("http://127.0.0.1:PORT"); `.stop()`."""

    __test__ = False  # not a pytest class

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.received: list[Received] = []
        self.hits: dict[str, int] = {}
        self.valid_tokens: set[str] = {CANARY}
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.owner = self
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def reset(self) -> None:
        with self.lock:
            self.received.clear()
            self.hits.clear()
            self.valid_tokens = {CANARY}

    def requests_to(self, path: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if urlsplit(r.path).path == path]

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> "TestServer":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
