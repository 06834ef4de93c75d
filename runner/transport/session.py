"""`Transport`: one requests.Session per spec file, and the sending of each request.

`trust_env` is off: `~/.netrc` can never replace our Authorization header. Proxy
variables and the CA bundle variables are read from the `environ` mapping the
Transport is given. `timeout` is a deadline for the whole exchange (connect, wait,
download, every redirect hop). TLS is verified unless `verify=False`; unverified
requests use their own Session (and so their own connection pools: CVE-2024-35195).
"""

from __future__ import annotations

import time
import warnings
from typing import Any, Mapping, Sequence
from urllib.parse import urlsplit

import requests
import urllib3

from .. import __version__
from ..errors import TransportError
from ..results import ResponseSnapshot
from .body import read_body
from .failures import _seconds, _translate
from .redirects import REDIRECT_CODES, Hop, host_port, next_hop
from .request import PreparedRequest, _check_headers, _prepare

_USER_AGENT = f"request-runner/{__version__}"


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
        hop = Hop(req.method.upper(), req.url, headers, req.data, req.files, req.secret_header_names)
        params: Sequence[tuple[str, str]] | None = req.params or None
        visited: set[str] = set()
        hops = 0
        while True:
            if req.digest is not None:
                resp = self._digest_exchange(hop.method, hop.url, params, hop.headers, hop.data, hop.files, req, deadline)
            else:
                resp = self._exchange(hop.method, hop.url, params, hop.headers, hop.data, hop.files, req, deadline)
            status = resp.status_code
            location = resp.headers.get("Location") if status in REDIRECT_CODES else None
            if not (req.follow_redirects and location is not None):
                return self._snapshot(resp, req, hop.url, start, deadline)
            # Follow it ourselves: drain (bounded) and decide what the next hop may carry.
            self._read_body(resp, req, hop.url, deadline)
            hops += 1
            if hops > req.max_redirects:
                raise TransportError("redirect", f"more than {req.max_redirects} redirects, last from {host_port(hop.url)}")
            hop = next_hop(hop, resp.url or hop.url, location, status, visited)
            params = None

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
        try:
            proxies = self._proxies_for(url) or {}
            verify: bool | str = req.verify
            # A CA bundle is for TLS only: requests stats its path on every send and urllib3
            # drops it for a plain-http pool, so plain http without a proxy goes without it.
            if verify and (req.ca_file or self._ca_bundle) and (proxies or url[:5].lower() != "http:"):
                verify = req.ca_file or self._ca_bundle
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
                proxies=proxies,
            )
            raw_headers = resp.raw.headers
            if "set-cookie" in raw_headers or "set-cookie2" in raw_headers:
                requests.cookies.extract_cookies_to_jar(session.cookies, prepared, resp.raw)
            return resp
        except Exception as exc:  # the one boundary: every requests/urllib3 error becomes a TransportError
            raise _translate(exc, url, req.timeout) from None

    def _read_body(self, resp: requests.Response, req: PreparedRequest, url: str, deadline: float) -> bytes:
        return read_body(resp, req, url, deadline, clock=self._clock, stop=self._stop)

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
