"""The fallback benchmark target when nginx is not installed: stdlib only, its own process.

    python bench/target_server.py PORT TOKEN

Serves the same fixed JSON body at GET /pets as the nginx target (401 without
`Authorization: Bearer TOKEN`), on 127.0.0.1:PORT, and prints "ready" once listening.
"""

from __future__ import annotations

import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BODY = b'{"count":2,"items":[{"id":1,"name":"Rex","tag":"dog"},{"id":2,"name":"Tom","tag":"cat"}]}'


def main(argv: list[str]) -> int:
    port, token = int(argv[0]), argv[1]
    expected = f"Bearer {token}"

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def log_message(self, format, *args):  # noqa: A002
            pass

        def do_GET(self) -> None:
            if self.path.split("?")[0] != "/pets":
                self._send(404, b'{"error":"not_found"}')
            elif self.headers.get("Authorization") != expected:
                self._send(401, b'{"error":"unauthorized"}', {"WWW-Authenticate": 'Bearer realm="bench"'})
            else:
                self._send(200, BODY)

        def _send(self, status: int, body: bytes, extra: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for name, value in (extra or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

    httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    httpd.daemon_threads = True
    print("ready", flush=True)
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        httpd.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
