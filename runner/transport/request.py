"""The request as the runner hands it to the transport, and its translation into requests'."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import requests

from ..errors import TransportError
from ..model import DEFAULT_MAX_BODY
from .redirects import MAX_REDIRECTS


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
