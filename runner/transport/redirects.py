"""The redirect policy: which hops are followed, and what each hop may carry.

Redirects are followed by `Transport.send` (never by requests): at most `max_redirects`
hops, secret-bearing headers dropped when the origin changes and never sent from https
to http, no 307/308 body replayed to another origin, and only http(s) locations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Sequence
from urllib.parse import urljoin, urlsplit

from ..errors import TransportError

MAX_REDIRECTS = 10
REDIRECT_CODES = (301, 302, 303, 307, 308)
# Headers that always carry credentials, whatever the spec says.
ALWAYS_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})


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


@dataclass(slots=True)
class Hop:
    """What one request of a redirect chain carries."""

    method: str
    url: str
    headers: list[tuple[str, str]]
    data: Any
    files: Any
    secret_names: frozenset[str]


def next_hop(hop: Hop, current: str, location: str, status: int, visited: set[str]) -> Hop:
    """The request that follows `hop`'s answer (`status`, `location`, final URL `current`),
    or a TransportError("redirect") when the policy refuses it. `visited` is updated."""
    method, headers, data, files, secret_names = hop.method, hop.headers, hop.data, hop.files, hop.secret_names
    where = host_port(hop.url)
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
    # A header dropped here is gone from every following hop too: nothing puts it back.
    headers, _stripped = redirect_headers(current, target, headers, secret_names)
    return Hop(method, target, headers, data, files, secret_names)
