"""Reading a response body: in small chunks, never beyond `max_body`, within the deadline.

The decoded body is read and counted chunk by chunk: past `max_body` the exchange fails
with kind `too_large` (gzip bombs included: urllib3 >= 2.6 bounds each decompression
step). A monotonic clock is checked between chunks (the socket timeout shrinks with it),
and so is the stop event.
"""

from __future__ import annotations

import socket
from typing import Any, Callable

import requests
import urllib3

from ..errors import TransportError
from .failures import _seconds
from .redirects import host_port
from .request import PreparedRequest

_CHUNK = 64 * 1024


def human_size(n: int) -> str:
    if n >= 1024 * 1024 and n % (1024 * 1024) == 0:
        return f"{n // (1024 * 1024)} MB"
    if n >= 1024 * 1024:
        return f"{n / (1024 * 1024):.1f} MB"
    if n >= 1024 and n % 1024 == 0:
        return f"{n // 1024} KB"
    return f"{n:,} bytes"


def _socket_of(raw: Any) -> socket.socket | None:
    """The socket under a urllib3 response, to shrink its timeout (best effort)."""
    try:
        return raw._fp.fp.raw._sock  # http.client.HTTPResponse -> BufferedReader -> SocketIO
    except AttributeError:
        return None


def read_body(
    resp: requests.Response,
    req: PreparedRequest,
    url: str,
    deadline: float,
    *,
    clock: Callable[[], float],
    stop: Any = None,
) -> bytes:
    """The whole decoded body of `resp` (its connection released), or a TransportError."""
    raw = resp.raw
    limit = req.max_body
    chunks: list[bytes] = []
    total = 0
    sock = None
    expected = resp.headers.get("Content-Length")
    try:
        while True:
            now = clock()
            remaining = deadline - now
            if remaining <= 0:
                raise TransportError(
                    "timeout", f"timed out after {_seconds(req.timeout)} reading the response from {host_port(url)}"
                )
            if stop is not None and stop.is_set():
                raise TransportError("interrupted", "interrupted while reading the response")
            if sock is None:
                sock = _socket_of(raw) or False
            if sock:
                try:
                    sock.settimeout(max(remaining, 0.001))
                except OSError:
                    pass
            chunk = raw.read1(min(_CHUNK, limit + 1 - total), decode_content=True)
            if not chunk:  # urllib3's read1 returns b"" only at the end of the body
                break
            total += len(chunk)
            if total > limit:
                raise TransportError("too_large", f"response body exceeds {human_size(limit)} (max_body)")
            chunks.append(chunk)
    except TransportError:
        resp.close()
        raise
    except Exception as exc:
        resp.close()
        where = host_port(url)
        if isinstance(exc, (socket.timeout, TimeoutError, urllib3.exceptions.ReadTimeoutError)):
            raise TransportError(
                "timeout", f"timed out after {_seconds(req.timeout)} reading the response from {where}"
            ) from None
        if isinstance(exc, urllib3.exceptions.DecodeError):
            raise TransportError("other", f"could not decode the compressed response from {where}") from None
        got = raw.tell() if hasattr(raw, "tell") else total
        of = f" of {int(expected):,}" if expected and expected.isdigit() else ""
        raise TransportError("reset", f"connection closed by {where} after {got:,}{of} bytes") from None
    raw.release_conn()
    return b"".join(chunks)
