"""One request on a Session of its own: a secret source's login or token request."""

from __future__ import annotations

import base64
from typing import Any, Mapping, Sequence

from ..errors import TransportError
from ..results import ResponseSnapshot
from .request import PreparedRequest
from .session import Transport

FORM_MAX_BODY = 1024 * 1024


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
    cert: str | tuple[str, str] | None = None,
    ca_file: str | None = None,
) -> ResponseSnapshot:
    """POST an `application/x-www-form-urlencoded` form (an OAuth2 token endpoint).

    Never follows redirects; the body is capped at 1 MB. `auth` is (client_id,
    client_secret) sent as HTTP Basic (RFC 6749 2.3.1). `cert` and `ca_file` as in
    PreparedRequest (mTLS, a private CA), checked before by tlsfiles.py.
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
        cert=cert,
        ca_file=ca_file,
    )
    return send_once(prepared, environ=environ)


def send_once(req: PreparedRequest, *, environ: Mapping[str, str] | None = None, stop: Any = None) -> ResponseSnapshot:
    """Send one request on a Session of its own (a secret source's login or token request):
    the same deadline, TLS, proxy and redirect rules as every request of a spec file."""
    with Transport(environ=environ, stop=stop) as t:
        return t.send(req)
