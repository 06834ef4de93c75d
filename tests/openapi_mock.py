"""A mock server for an OpenAPI document (in the manner of Prism), on 127.0.0.1.

It answers each documented operation with its first documented 2xx response and that
response's JSON example; a request that misses an apiKey header or a bearer token its
operation requires gets a 401. Anything undocumented is a 404. Local `#/` refs only.
"""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

__all__ = ["serve_document"]


def _resolve(doc: dict, node: Any) -> Any:
    while isinstance(node, dict) and isinstance(node.get("$ref"), str) and node["$ref"].startswith("#/"):
        target: Any = doc
        for key in node["$ref"][2:].split("/"):
            target = target[key]
        node = target
    return node


def _example(doc: dict, response: dict) -> Any:
    for media_type, media in (response.get("content") or {}).items():
        if "json" in media_type:
            media = _resolve(doc, media)
            if "example" in media:
                return media["example"]
            for example in (media.get("examples") or {}).values():
                return _resolve(doc, example).get("value")
            return _resolve(doc, media.get("schema") or {}).get("example")
    return None


def serve_document(doc: dict, base_path: str = ""):
    """(server, url, received) serving `doc`; `received` lists (method, path, headers)."""
    routes = []
    for path, item in doc["paths"].items():
        pattern = re.compile("^" + re.escape(base_path) + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(path)) + "$")
        for method, op in item.items():
            if method in ("get", "post", "put", "patch", "delete"):
                routes.append((method.upper(), pattern, op))
    schemes = (doc.get("components") or {}).get("securitySchemes") or {}
    received: list = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:
            pass

        def _send(self, status: int, body: Any) -> None:
            data = b"" if body is None else json.dumps(body).encode()
            self.send_response(status)
            if data:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _authorized(self, op: dict) -> bool:
            requirements = op.get("security", doc.get("security")) or [{}]
            for requirement in requirements:
                ok = True
                for name in requirement:
                    scheme = schemes[name]
                    if scheme["type"] == "apiKey" and scheme["in"] == "header":
                        ok &= bool(self.headers.get(scheme["name"]))
                    elif scheme["type"] == "apiKey" and scheme["in"] == "query":
                        ok &= scheme["name"] + "=" in urlsplit(self.path).query
                    else:
                        ok &= (self.headers.get("Authorization") or "").startswith(("Bearer ", "Basic "))
                if ok:
                    return True
            return False

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            path = urlsplit(self.path).path
            received.append((self.command, self.path, dict(self.headers.items())))
            for method, pattern, op in routes:
                if method == self.command and pattern.match(path):
                    if not self._authorized(op):
                        return self._send(401, {"error": "unauthorized"})
                    code = sorted(c for c in op["responses"] if str(c).startswith("2"))[0]
                    response = _resolve(doc, op["responses"][code])
                    return self._send(int(code), _example(doc, response))
            self._send(404, {"error": "not documented"})

        do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = _answer

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}", received
