"""The one package that talks HTTP: `requests` and `urllib3` are imported here only.

    Transport(environ=..., stop=...)     one requests.Session per spec file (a context manager)
        .send(PreparedRequest) -> ResponseSnapshot
    post_form(url, fields, *, timeout, verify=True, auth=None) -> ResponseSnapshot
    send_once(PreparedRequest, *, environ, stop) -> ResponseSnapshot   (a login request)

Policy decided here, one module each:

- `failures.py`: every requests/urllib3 exception is translated at this boundary into
  one `TransportError(kind, message)`: one line naming `host:port`, never the query
  string or the userinfo of a URL (they may carry tokens), never a header value.
- `session.py`: `trust_env` is off: `~/.netrc` can never replace our Authorization
  header. Proxy variables (`HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY`, `NO_PROXY`) and the
  CA bundle variables (`REQUESTS_CA_BUNDLE`, `CURL_CA_BUNDLE`) are still honoured, read
  from the `environ` mapping the Transport is given (none when it is given none).
  `timeout` is a deadline for the whole exchange (connect, wait, download, every
  redirect hop): connect/read timeouts are bounded by the time left. TLS is verified
  unless `verify=False`; unverified requests use their own Session (and so their own
  connection pools: CVE-2024-35195).
- `body.py`: the decoded body is read in small chunks and never beyond `max_body`:
  past it the exchange fails with kind `too_large` (gzip bombs included: urllib3 >= 2.6
  bounds each decompression step); a monotonic clock is checked between chunks.
- `redirects.py`: redirects are off by default. When on, they are followed here (never
  by requests): at most `max_redirects` hops, secret-bearing headers dropped when the
  origin changes and never sent from https to http, no 307/308 body replayed to
  another origin, and only http(s) locations.
- `request.py`: `PreparedRequest` (what the runner hands over) and its translation into
  requests' own; `oneshot.py`: a login or token request on a Session of its own.
"""

from __future__ import annotations

from .body import human_size
from .oneshot import FORM_MAX_BODY, basic_header, post_form, send_once
from .redirects import ALWAYS_SECRET_HEADERS, MAX_REDIRECTS, host_port, redirect_headers
from .request import PreparedRequest
from .session import Transport

# Helpers once module-level in transport.py, still importable from here (tests use _prepare).
from .body import _CHUNK, _socket_of  # noqa: E402,F401
from .failures import _seconds, _tls_error, _tls_reason, _translate, _walk_causes  # noqa: E402,F401
from .redirects import REDIRECT_CODES as _REDIRECT_CODES, _origin  # noqa: E402,F401
from .request import _BAD_NAME, _BAD_VALUE, _check_headers, _prepare  # noqa: E402,F401
from .session import _USER_AGENT, _env_get, _no_proxy_match  # noqa: E402,F401

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
