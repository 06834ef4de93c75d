"""The one module that talks HTTP: `requests` and `urllib3` are imported here only.

    Transport(environ=..., stop=...)     one requests.Session per spec file (a context manager)
        .send(PreparedRequest) -> ResponseSnapshot
    post_form(url, fields, *, timeout, verify=True, auth=None) -> ResponseSnapshot
    send_once(PreparedRequest, *, environ, stop) -> ResponseSnapshot   (a login request)

Policy decided here:

- Every requests/urllib3 exception is translated at this boundary into one
  `TransportError(kind, message)`: one line naming `host:port`, never the query
  string or the userinfo of a URL (they may carry tokens), never a header value.
- `trust_env` is off: `~/.netrc` can never replace our Authorization header. Proxy
  variables (`HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY`, `NO_PROXY`) and the CA bundle
  variables (`REQUESTS_CA_BUNDLE`, `CURL_CA_BUNDLE`) are still honoured, read from the
  `environ` mapping the Transport is given (none when it is given none).
- `timeout` is a deadline for the whole exchange (connect, wait, download, every
  redirect hop): connect/read timeouts are bounded by the time left, and a monotonic
  clock is checked between body chunks (the socket timeout shrinks with it).
- The decoded body is read in small chunks and never beyond `max_body`: past it the
  exchange fails with kind `too_large` (gzip bombs included: urllib3 >= 2.6 bounds
  each decompression step).
- Redirects are off by default. When on, they are followed here (never by requests):
  at most `max_redirects` hops, secret-bearing headers dropped when the origin changes
  and never sent from https to http, no 307/308 body replayed to another origin, and
  only http(s) locations.
- TLS is verified unless `verify=False`; unverified requests use their own Session
  (and so their own connection pools: CVE-2024-35195).
"""

from __future__ import annotations

import base64
import errno
import re
import socket
import ssl
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence
from urllib.parse import urljoin, urlsplit

import requests
import urllib3

from . import __version__
from .errors import TransportError
from .model import DEFAULT_MAX_BODY
from .results import ResponseSnapshot

__all__ = [
    "PreparedRequest",
    "Transport",
    "post_form",
    "send_once",
    "redirect_headers",
    "host_port",
    "human_size",
    "FORM_MAX_BODY",
    "MAX_REDIRECTS",
    "ALWAYS_SECRET_HEADERS",
]

FORM_MAX_BODY = 1024 * 1024
MAX_REDIRECTS = 10
_CHUNK = 64 * 1024
_REDIRECT_CODES = (301, 302, 303, 307, 308)
# Headers that always carry credentials, whatever the spec says.
ALWAYS_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})
_USER_AGENT = f"request-runner/{__version__}"


@dataclass(slots=True)
class PreparedRequest:
    """A request ready to send: every template rendered, every secret resolved.

    Exactly one body form at most: `data` (bytes, text, or form pairs) or `files`
    (multipart parts `(field, (filename, content_bytes, content_type))`, with `data`
    as extra plain fields). `secret_header_names` (lower case) are dropped on a
    cross-origin redirect, in addition to ALWAYS_SECRET_HEADERS.
    """

    method: str
    url: str
    params: Sequence[tuple[str, str]] = ()
    headers: Sequence[tuple[str, str]] = ()
    data: bytes | str | Sequence[tuple[str, str]] | None = None
    files: Sequence[tuple[str, tuple[str | None, bytes, str | None]]] | None = None
    timeout: float = 30.0
    follow_redirects: bool = False
    verify: bool = True
    max_body: int = DEFAULT_MAX_BODY
    secret_header_names: frozenset[str] = field(default_factory=frozenset)
    max_redirects: int = MAX_REDIRECTS
    # mTLS: requests' `cert=` (a PEM file holding both, or (cert_file, key_file)), checked
    # before (tlsfiles.py); `ca_file` is the CA bundle that verifies the server.
    cert: str | tuple[str, str] | None = None
    ca_file: str | None = None
    # HTTP Digest (RFC 7616) credentials: (username, password). The first answer's
    # challenge is answered by requests' HTTPDigestAuth and the request sent again.
    digest: tuple[str, str] | None = field(default=None, repr=False)


# --------------------------------------------------------------------------- helpers


def host_port(url: str) -> str:
    """`host:port` of a URL, without scheme, userinfo, path or query."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "?"
        port = parts.port
    except ValueError:
        return "?"
    if port is None:
        port = 443 if parts.scheme == "https" else 80
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    return f"{host}:{port}"


def _origin(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or (443 if scheme == "https" else 80)
    return scheme, (parts.hostname or "").lower(), port


def human_size(n: int) -> str:
    if n >= 1024 * 1024 and n % (1024 * 1024) == 0:
        return f"{n // (1024 * 1024)} MB"
    if n >= 1024 * 1024:
        return f"{n / (1024 * 1024):.1f} MB"
    if n >= 1024 and n % 1024 == 0:
        return f"{n // 1024} KB"
    return f"{n:,} bytes"


def _seconds(t: float) -> str:
    return f"{t:g} s"


_BAD_NAME = re.compile(r"[^!#$%&'*+\-.^_`|~0-9A-Za-z]")
_BAD_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]|[^\x00-\xff]")


def _check_headers(headers: Iterable[tuple[str, str]]) -> None:
    """Refuse what requests would reject with a message that quotes the value (it may be a token)."""
    for name, value in headers:
        if not name or _BAD_NAME.search(name):
            raise TransportError("other", f"invalid header name {name[:40]!r}")
        m = _BAD_VALUE.search(value)
        if m is not None:
            code = ord(m.group(0))
            what = "non-latin-1" if code > 0xFF else "control"
            raise TransportError("other", f"header {name} has a {what} character (U+{code:04X}) at position {m.start() + 1}")


def redirect_headers(
    from_url: str,
    to_url: str,
    headers: Sequence[tuple[str, str]],
    secret_names: Iterable[str] = (),
) -> tuple[list[tuple[str, str]], bool]:
    """The headers to send to `to_url` after a redirect from `from_url`.

    Secret-bearing headers (ALWAYS_SECRET_HEADERS plus `secret_names`) are dropped when
    scheme, host or port changes (same-host http:80 -> https:443 keeps them, as requests
    does) and always on https -> http. Returns (headers, stripped).
    """
    old, new = _origin(from_url), _origin(to_url)
    keep = old == new
    if not keep and old[1] == new[1] and old[0] == "http" and new[0] == "https" and old[2] == 80 and new[2] == 443:
        keep = True
    if old[0] == "https" and new[0] != "https":
        keep = False
    if keep:
        return list(headers), False
    names = ALWAYS_SECRET_HEADERS | {n.lower() for n in secret_names}
    kept = [(k, v) for k, v in headers if k.lower() not in names]
    return kept, len(kept) != len(headers)


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
        return TransportError("tls", f"TLS connection closed by {where} during the handshake; "
                                     "if it wants a client certificate, set tls: {cert, key} or pkcs12")
    if "alert" in reason:
        message = f"TLS handshake refused by {where} ({reason})"
        if "certificate required" in reason or "handshake failure" in reason or "bad certificate" in reason:
            message += "; the server wants a client certificate it accepts (tls: {cert, key} or pkcs12)"
        return TransportError("tls", message)
    return TransportError("tls", f"TLS verification failed for {where} ({reason})")


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


def _socket_of(raw: Any) -> socket.socket | None:
    """The socket under a urllib3 response, to shrink its timeout (best effort)."""
    try:
        return raw._fp.fp.raw._sock  # http.client.HTTPResponse -> BufferedReader -> SocketIO
    except AttributeError:
        return None


def _env_get(environ: Mapping[str, str], name: str) -> str | None:
    return environ.get(name.lower()) or environ.get(name.upper()) or None


def _no_proxy_match(host: str, no_proxy: str) -> bool:
    host = host.lower()
    for entry in no_proxy.split(","):
        entry = entry.strip().lower()
        if not entry:
            continue
        if entry == "*":
            return True
        entry = entry.split(":", 1)[0] if entry.count(":") == 1 else entry
        entry = entry.lstrip(".")
        if host == entry or host.endswith("." + entry):
            return True
    return False


# --------------------------------------------------------------------------- transport


class Transport:
    """One requests.Session per spec file (two if some requests skip TLS verification)."""

    def __init__(self, environ: Mapping[str, str] | None = None, stop: Any = None, clock=time.monotonic) -> None:
        environ = environ or {}
        self._stop = stop  # a threading.Event: checked between body chunks
        self._clock = clock
        self._sessions: dict[bool, requests.Session] = {}
        self._digests: dict[tuple[str, str], requests.auth.HTTPDigestAuth] = {}
        self._proxies = {
            scheme: p
            for scheme in ("http", "https")
            if (p := _env_get(environ, f"{scheme}_proxy") or _env_get(environ, "all_proxy"))
        }
        self._no_proxy = _env_get(environ, "no_proxy") or ""
        self._ca_bundle = _env_get(environ, "requests_ca_bundle") or _env_get(environ, "curl_ca_bundle")

    # -- lifecycle
    def __enter__(self) -> "Transport":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for s in self._sessions.values():
            s.close()
        self._sessions.clear()

    def new_pass(self) -> None:
        """A new pass through the spec file (`runner load`): no cookie or Digest state of the
        last one; open connections are kept, as a client's keep-alive would."""
        for s in self._sessions.values():
            s.cookies.clear()
        self._digests.clear()

    def _session(self, verify: bool) -> requests.Session:
        s = self._sessions.get(verify)
        if s is None:
            s = requests.Session()
            s.trust_env = False  # no ~/.netrc, no implicit env; proxies and CA bundle passed explicitly
            s.headers["User-Agent"] = _USER_AGENT
            other = self._sessions.get(not verify)
            if other is not None:
                s.cookies = other.cookies  # one cookie jar per spec file
            if not verify:
                # The run already warns in its own words (console banner, every report);
                # urllib3's per-request warning would go to the process's stderr as noise.
                warnings.filterwarnings("ignore", category=urllib3.exceptions.InsecureRequestWarning)
            self._sessions[verify] = s
        return s

    def proxy_credentials(self) -> list[tuple[str, str]]:
        """(user, password) of each proxy URL with userinfo, as requests sends them in
        Proxy-Authorization: for the redactor (an error or an echo must not show them)."""
        out = []
        for proxy in self._proxies.values():
            try:
                user, password = requests.utils.get_auth_from_url(proxy if "://" in proxy else "http://" + proxy)
            except (ValueError, TypeError):
                continue
            if password:
                out.append((user, password))
        return out

    def _proxies_for(self, url: str) -> dict[str, str] | None:
        if not self._proxies:
            return None
        if self._no_proxy and _no_proxy_match(urlsplit(url).hostname or "", self._no_proxy):
            return None
        return self._proxies

    # -- sending
    def send(self, req: PreparedRequest) -> ResponseSnapshot:
        start = self._clock()
        deadline = start + req.timeout
        headers = list(req.headers)
        _check_headers(headers)
        method = req.method.upper()
        url = req.url
        params: Sequence[tuple[str, str]] | None = req.params or None
        data = req.data
        files = req.files
        visited: set[str] = set()
        secret_names = req.secret_header_names
        hops = 0
        while True:
            if req.digest is not None:
                resp = self._digest_exchange(method, url, params, headers, data, files, req, deadline)
            else:
                resp = self._exchange(method, url, params, headers, data, files, req, deadline)
            status = resp.status_code
            location = resp.headers.get("Location") if status in _REDIRECT_CODES else None
            if not (req.follow_redirects and location is not None):
                return self._snapshot(resp, req, url, start, deadline)
            # Follow it ourselves: drain (bounded) and decide what the next hop may carry.
            self._read_body(resp, req, url, deadline)
            where = host_port(url)
            hops += 1
            if hops > req.max_redirects:
                raise TransportError("redirect", f"more than {req.max_redirects} redirects, last from {where}")
            current = resp.url or url
            try:
                target = urljoin(current, location.strip())
                scheme = urlsplit(target).scheme.lower()
            except ValueError:
                raise TransportError("redirect", f"invalid redirect Location from {where}") from None
            if scheme not in ("http", "https"):
                raise TransportError("redirect", f"refusing redirect from {where} to a {scheme or 'relative'}: location")
            try:
                cross = _origin(current) != _origin(target)  # also checks the port (`:abc`, `:70000`)
            except ValueError:
                raise TransportError("redirect", f"invalid redirect Location from {where} (bad port)") from None
            key = f"{method} {target}"
            if key in visited or target == current and method == "GET":
                raise TransportError("redirect", f"redirect loop at {host_port(target)}")
            visited.add(key)
            if status == 303 or (status in (301, 302) and method == "POST"):
                if method != "HEAD":
                    method = "GET"
                data = files = None
                headers = [(k, v) for k, v in headers if k.lower() not in ("content-type", "content-length")]
            elif (data is not None or files) and cross:
                raise TransportError(
                    "redirect",
                    f"refusing to replay the request body to another origin ({where} -> {host_port(target)}, {status})",
                )
            headers, _stripped = redirect_headers(current, target, headers, secret_names)
            if _stripped:
                # once stripped, stay stripped on the following hops
                drop = ALWAYS_SECRET_HEADERS | set(secret_names)
                headers = [(k, v) for k, v in headers if k.lower() not in drop]
                secret_names = frozenset(drop)
            url, params = target, None

    def _digest_exchange(self, method, url, params, headers, data, files, req: PreparedRequest, deadline: float):
        """Send with Digest auth as requests does it (HTTPDigestAuth): the Authorization is
        computed from the server's last challenge (nonce count kept per Transport); a 401
        with a Digest challenge is answered once."""
        assert req.digest is not None
        digest = self._digests.get(req.digest)
        if digest is None:
            digest = self._digests[req.digest] = requests.auth.HTTPDigestAuth(*req.digest)
            digest.init_per_thread_state()
        target = url
        if params:
            target = requests.models.RequestEncodingMixin._encode_params(list(params))
            target = url + ("&" if "?" in url else "?") + target
        base = [(k, v) for k, v in headers if k.lower() != "authorization"]
        if digest._thread_local.last_nonce:  # answer the last challenge at once (as requests does)
            base_auth = digest.build_digest_header(method, target)
            if base_auth:
                headers = base + [("Authorization", base_auth)]
        resp = self._exchange(method, url, params, headers, data, files, req, deadline)
        challenge = resp.headers.get("WWW-Authenticate", "")
        if resp.status_code != 401 or "digest" not in challenge.lower():
            return resp
        # A new challenge (first contact, a stale or single-use nonce): answered once. If
        # that answer is refused too, the 401 stands (a wrong password): never a loop.
        self._read_body(resp, req, url, deadline)
        digest._thread_local.num_401_calls = 1
        digest._thread_local.chal = requests.utils.parse_dict_header(challenge.split(" ", 1)[1] if " " in challenge else "")
        value = digest.build_digest_header(method, target)
        if not value:
            return resp
        return self._exchange(method, url, params, base + [("Authorization", value)], data, files, req, deadline)

    def _exchange(self, method, url, params, headers, data, files, req: PreparedRequest, deadline: float):
        remaining = deadline - self._clock()
        if remaining <= 0:
            raise TransportError("timeout", f"timed out after {_seconds(req.timeout)} ({host_port(url)})")
        if self._stop is not None and self._stop.is_set():
            raise TransportError("interrupted", "interrupted before sending")
        verify: bool | str = req.verify
        if verify and (req.ca_file or self._ca_bundle):
            verify = req.ca_file or self._ca_bundle
        try:
            session = self._session(req.verify)
            # Session.send is bypassed on purpose: with allow_redirects=False it still reads the
            # whole body of a 3xx (to compute Response.next), unbounded. We send through the
            # adapter and keep the session's cookie jar ourselves. Session.prepare_request is
            # bypassed too (it copies the cookie jar and merges settings we never set): the
            # request is prepared as it would, from the session's default headers and its jar.
            prepared = _prepare(session, method, url, params, headers, data, files)
            resp = session.get_adapter(prepared.url).send(
                prepared,
                stream=True,
                timeout=(remaining, remaining),
                verify=verify,
                cert=req.cert,
                proxies=self._proxies_for(url) or {},
            )
            raw_headers = resp.raw.headers
            if "set-cookie" in raw_headers or "set-cookie2" in raw_headers:
                requests.cookies.extract_cookies_to_jar(session.cookies, prepared, resp.raw)
            return resp
        except Exception as exc:  # the one boundary: every requests/urllib3 error becomes a TransportError
            raise _translate(exc, url, req.timeout) from None

    def _read_body(self, resp: requests.Response, req: PreparedRequest, url: str, deadline: float) -> bytes:
        raw = resp.raw
        limit = req.max_body
        chunks: list[bytes] = []
        total = 0
        sock = None
        expected = resp.headers.get("Content-Length")
        try:
            while True:
                now = self._clock()
                remaining = deadline - now
                if remaining <= 0:
                    raise TransportError(
                        "timeout", f"timed out after {_seconds(req.timeout)} reading the response from {host_port(url)}"
                    )
                if self._stop is not None and self._stop.is_set():
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

    def _snapshot(self, resp: requests.Response, req: PreparedRequest, url: str, start: float, deadline: float):
        body = self._read_body(resp, req, url, deadline)
        elapsed = (self._clock() - start) * 1000.0
        return ResponseSnapshot(
            status=resp.status_code,
            reason=resp.reason or "",
            headers=tuple(resp.raw.headers.iteritems()),
            body=body,
            elapsed_ms=elapsed,
            url=resp.url or url,
            truncated=False,
            size=len(body),
        )


def _prepare(session: requests.Session, method: str, url: str, params, headers: Sequence[tuple[str, str]], data, files):
    """What `session.prepare_request(requests.Request(...))` gives (trust_env off, no session
    auth, params or hooks), without copying the cookie jar for every request."""
    # Later headers win, case-insensitively (the session's, the defaults, the request's own);
    # a name keeps the place of its first use, as CaseInsensitiveDict does.
    by_lower: dict[str, tuple[str, str]] = {k.lower(): (k, v) for k, v in session.headers.items()}
    for k, v in headers:
        by_lower[k.lower()] = (k, v)
    merged = dict(by_lower.values())
    prepared = requests.PreparedRequest()
    prepared.prepare(
        method=method,
        url=url,
        headers=merged,
        files=files,
        data=data,
        params=params or "",  # a str is taken as is: no protocol isinstance checks for nothing
        auth=None,
        cookies=session.cookies,
        hooks=None,
    )
    return prepared


def basic_header(username: str, password: str) -> str:
    """The value of a Basic Authorization header (latin-1, as requests encodes it)."""
    raw = f"{username}:{password}".encode("latin-1", errors="strict")
    return "Basic " + base64.b64encode(raw).decode("ascii")


def post_form(
    url: str,
    fields: Mapping[str, str] | Sequence[tuple[str, str]],
    *,
    timeout: float,
    verify: bool = True,
    auth: tuple[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> ResponseSnapshot:
    """POST an `application/x-www-form-urlencoded` form (an OAuth2 token endpoint).

    Never follows redirects; the body is capped at 1 MB. `auth` is (client_id,
    client_secret) sent as HTTP Basic (RFC 6749 2.3.1).
    """
    pairs = list(fields.items()) if isinstance(fields, Mapping) else list(fields)
    headers = [("Accept", "application/json")]
    if auth is not None:
        try:
            headers.append(("Authorization", basic_header(*auth)))
        except UnicodeEncodeError:
            raise TransportError("other", "client credentials are not latin-1 text") from None
    prepared = PreparedRequest(
        method="POST",
        url=url,
        headers=headers,
        data=pairs,
        timeout=timeout,
        follow_redirects=False,
        verify=verify,
        max_body=FORM_MAX_BODY,
    )
    return send_once(prepared, environ=environ)


def send_once(req: PreparedRequest, *, environ: Mapping[str, str] | None = None, stop: Any = None) -> ResponseSnapshot:
    """Send one request on a Session of its own (a secret source's login or token request):
    the same deadline, TLS, proxy and redirect rules as every request of a spec file."""
    with Transport(environ=environ, stop=stop) as t:
        return t.send(req)
