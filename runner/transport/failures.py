"""Every requests/urllib3 exception in words: one `TransportError(kind, message)` naming
`host:port`, never the query string or the userinfo of a URL (they may carry tokens),
never a header value."""

from __future__ import annotations

import errno
import re
import socket
import ssl
from typing import Iterable

import requests
import urllib3

from ..errors import TransportError
from .redirects import host_port


def _seconds(t: float) -> str:
    return f"{t:g} s"


def _walk_causes(exc: BaseException) -> Iterable[BaseException]:
    seen: set[int] = set()
    stack = [exc]
    while stack:
        e = stack.pop()
        if id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        for nxt in (getattr(e, "reason", None), e.__cause__, e.__context__, *getattr(e, "args", ())):
            if isinstance(nxt, BaseException):
                stack.append(nxt)


def _tls_reason(exc: BaseException) -> str:
    for e in _walk_causes(exc):
        if isinstance(e, ssl.SSLCertVerificationError):
            return str(e.verify_message or e.reason or "certificate verify failed")
    for e in _walk_causes(exc):
        if isinstance(e, ssl.SSLError):
            if e.reason:
                return str(e.reason).lower().replace("_", " ")
            m = re.search(r"\[SSL: [A-Z0-9_]+\] ([^(]+)", str(e))  # urllib3 re-raises without .reason
            if m:
                return m.group(1).strip().lower()
    return "handshake failed"


def _tls_error(exc: BaseException, where: str) -> TransportError:
    """A TLS failure in words: the server refusing us (an alert) is not a verification failure."""
    reason = _tls_reason(exc)
    if any(isinstance(e, ssl.SSLEOFError) for e in _walk_causes(exc)) or "eof occurred" in reason:
        # TLS 1.3: a server that refuses our (missing) client certificate may just hang up.
        return TransportError("tls", f"TLS connection closed by {where} during the handshake",
                              hint="; if it wants a client certificate, set tls: {cert, key} or pkcs12",
                              wants="client_cert")
    if "alert" in reason:
        message = f"TLS handshake refused by {where} ({reason})"
        if "certificate required" in reason or "handshake failure" in reason or "bad certificate" in reason:
            return TransportError("tls", message, wants="client_cert",
                                  hint="; the server wants a client certificate it accepts (tls: {cert, key} or pkcs12)")
        return TransportError("tls", message)
    return TransportError("tls", f"TLS verification failed for {where} ({reason})", wants="ca")


def _translate(exc: BaseException, url: str, timeout: float) -> TransportError:
    """One clear line, naming host:port, never the query string or userinfo."""
    where = host_port(url)
    if isinstance(exc, TransportError):
        return exc
    if isinstance(exc, (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema,
                        requests.exceptions.InvalidSchema, urllib3.exceptions.LocationParseError)):
        scheme = url.split("://", 1)[0].lower() if "://" in url else ""
        if isinstance(exc, requests.exceptions.MissingSchema) or not scheme:
            return TransportError("invalid_url", "invalid URL: no http:// or https:// scheme")
        if scheme not in ("http", "https"):
            return TransportError("invalid_url", f"invalid URL: unsupported scheme '{scheme[:20]}'")
        return TransportError("invalid_url", f"invalid URL (host {where})" if where != "?" else "invalid URL (bad host or port)")
    if isinstance(exc, requests.exceptions.InvalidHeader):
        return TransportError("other", f"invalid header sent to {where}")
    if isinstance(exc, requests.exceptions.ProxyError):
        return TransportError("proxy", f"proxy error while connecting to {where}")
    if isinstance(exc, requests.exceptions.SSLError):
        return _tls_error(exc, where)
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return TransportError("timeout", f"timed out after {_seconds(timeout)} connecting to {where}")
    if isinstance(exc, (requests.exceptions.ReadTimeout, urllib3.exceptions.ReadTimeoutError, socket.timeout, TimeoutError)):
        return TransportError("timeout", f"timed out after {_seconds(timeout)} waiting for {where}")
    for e in _walk_causes(exc):
        if isinstance(e, urllib3.exceptions.NameResolutionError) or isinstance(e, socket.gaierror):
            return TransportError("dns", f"DNS lookup failed for {where.rsplit(':', 1)[0]} (name not resolved)")
    for e in _walk_causes(exc):
        if isinstance(e, ConnectionRefusedError) or (isinstance(e, OSError) and e.errno == errno.ECONNREFUSED):
            return TransportError("connect", f"connection refused by {where}")
    for e in _walk_causes(exc):
        if isinstance(e, ssl.SSLError):
            return _tls_error(e, where)
    for e in _walk_causes(exc):
        if isinstance(e, ConnectionResetError):
            return TransportError("reset", f"connection reset by {where}")
        if isinstance(e, (urllib3.exceptions.NewConnectionError,)) or (
            isinstance(e, OSError) and e.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EADDRNOTAVAIL)
        ):
            return TransportError("connect", f"cannot connect to {where} (network unreachable)")
    if isinstance(exc, requests.exceptions.ConnectionError):
        return TransportError("reset", f"connection closed by {where} before a response")
    return TransportError("other", f"request to {where} failed ({type(exc).__name__})")
