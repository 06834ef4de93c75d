"""The embedded demo API: a small "Pets API" behind OAuth2 client credentials.

Standard library only. `runner demo` runs the demo specs against it, and tests use
it as a realistic target (real sockets on 127.0.0.1, an ephemeral port).

    with DemoServer() as server:          # starts a daemon thread
        server.url                        # "http://127.0.0.1:PORT"
        server.mint_token(-3600)          # an expired JWT, for the AUTH showcase

Routes:

    POST   /oauth/token   client credentials grant (RFC 6749 4.4), form-encoded; the client
                          authenticates with HTTP Basic or client_id/client_secret in the body
    POST   /auth/login    JSON {"username", "password"} -> {"access_token", "expires_in"}: a
                          login endpoint (the `http` secret source); 401 with an error field
    GET    /health        no auth
    GET    /openapi.json  this API's OpenAPI 3.1 document (specs/demo/openapi.json), no auth
    GET    /pets          ?limit=N  -> {"count", "total", "items"}       scope pets:read
    GET    /pets/{id}     ETag; If-None-Match -> 304                     scope pets:read
    POST   /pets          JSON {"name", "tag"?} -> 201, Location, ETag   scope pets:create or pets:write
    DELETE /pets/{id}     -> 204                                         scope pets:write

Protected routes answer as RFC 6750 says: no token -> 401 `Bearer realm="pets"`; a bad
signature, an expired, revoked or wrong-audience token -> 401 `error="invalid_token"`
with a description; a valid token without the scope -> 403 `error="insufficient_scope"`.

Access tokens are JWTs (HS256, signed with a random per-server key) with the claims
iss, aud ("pets-api"), sub, iat, exp, jti and scope. The token endpoint accepts an
`audience` parameter and puts it in `aud`, so a wrong-audience token is easy to get.
"""

from __future__ import annotations

import base64
import binascii
import collections
import hashlib
import hmac
import json
import os
import re
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

__all__ = [
    "AUDIENCE",
    "CLIENT_ID",
    "CLIENT_SECRET",
    "DemoServer",
    "RecordedRequest",
    "SCOPES",
]

CLIENT_ID = "demo-client"
CLIENT_SECRET = "demo-secret"
# The demo's user for POST /auth/login (`runner demo` passes the password as DEMO_USER_PASSWORD).
DEMO_USER = "demo-user"
DEMO_USER_PASSWORD = "demo-password"
AUDIENCE = "pets-api"
REALM = "pets"
SCOPES = ("pets:read", "pets:create", "pets:write")
DEFAULT_SCOPE = "pets:read pets:create"  # granted when the client asks for none
MAX_BODY = 1024 * 1024

_INITIAL_PETS = (
    {"name": "Rex", "tag": "dog"},
    {"name": "Tom", "tag": "cat"},
    {"name": "Nemo", "tag": "fish"},
)
_PET_PATH = re.compile(r"^/pets/([^/]+)$")


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request the server received (for tests that check what was sent)."""

    method: str
    path: str  # with the query string
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def header(self, name: str) -> str | None:
        lname = name.lower()
        for key, value in self.headers:
            if key.lower() == lname:
                return value
        return None


class _Reply(Exception):
    """Raised inside a handler to answer at once with an error document."""

    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers or {}


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _etag(value: Any) -> str:
    digest = hashlib.sha256(json.dumps(value, sort_keys=True).encode("utf-8")).hexdigest()
    return f'"{digest[:16]}"'


def _now_iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


class DemoServer:
    """The Pets API on `host:port` (port 0 picks a free one), served from a daemon thread.

    `token_ttl` is the lifetime in seconds of the access tokens the token endpoint issues.
    State (pets, revoked tokens, counters) belongs to the instance: two servers share nothing.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        token_ttl: int = 300,
        *,
        client_id: str = CLIENT_ID,
        client_secret: str = CLIENT_SECRET,
    ) -> None:
        self.host = host
        self.port = port
        self.token_ttl = int(token_ttl)
        self.client_id = client_id
        self.client_secret = client_secret
        self._key = os.urandom(32)
        self._lock = threading.Lock()
        self._pets: dict[int, dict[str, Any]] = {}
        self._next_id = 1
        self._revoked: set[str] = set()
        self._requests: collections.deque[RecordedRequest] = collections.deque(maxlen=10_000)
        self.tokens_issued = 0  # successful token endpoint calls
        self.logins = 0  # successful POST /auth/login calls
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        created = time.time()
        for pet in _INITIAL_PETS:
            self._add_pet(pet["name"], pet["tag"], created)

    # -- lifecycle -----------------------------------------------------------------

    def start(self) -> "DemoServer":
        if self._httpd is not None:
            return self
        httpd = ThreadingHTTPServer((self.host, self.port), _make_handler(self))
        httpd.daemon_threads = True
        self._httpd = httpd
        self.port = httpd.server_address[1]
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="demo-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> "DemoServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("DemoServer is not started")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def issuer(self) -> str:
        return f"request-runner-demo:{self.port}"

    # -- tokens --------------------------------------------------------------------

    def mint_token(
        self,
        exp_offset_s: float,
        scope: str = "pets:read pets:create pets:write",
        aud: str | list[str] | None = AUDIENCE,
        *,
        sub: str | None = None,
        nbf_offset_s: float | None = None,
        sign_key: bytes | None = None,
    ) -> str:
        """A JWT this server accepts (if not expired), expiring `exp_offset_s` seconds from now.

        A negative offset gives an expired token. `aud=None` leaves the claim out;
        `sign_key` signs with another key (the server then rejects the signature).
        """
        now = int(time.time())
        exp = now + int(exp_offset_s)
        iat = min(now, exp - max(self.token_ttl, 1))
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": sub or self.client_id,
            "iat": iat,
            "exp": exp,
            "jti": _b64url(os.urandom(9)),
            "scope": scope,
        }
        if aud is not None:
            claims["aud"] = aud
        if nbf_offset_s is not None:
            claims["nbf"] = now + int(nbf_offset_s)
        return self._sign(claims, sign_key or self._key)

    def revoke(self, token: str) -> None:
        """Reject `token` from now on (401 invalid_token "The access token has been revoked")."""
        try:
            claims = json.loads(_b64url_decode(token.split(".")[1]))
            jti = claims["jti"]
        except (IndexError, ValueError, KeyError, TypeError, binascii.Error):
            return
        with self._lock:
            self._revoked.add(str(jti))

    def _sign(self, claims: dict[str, Any], key: bytes) -> str:
        header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
        payload = _b64url(json.dumps(claims, separators=(",", ":")).encode())
        signing_input = f"{header}.{payload}".encode("ascii")
        signature = _b64url(hmac.new(key, signing_input, hashlib.sha256).digest())
        return f"{header}.{payload}.{signature}"

    def _verify(self, token: str) -> dict[str, Any]:
        """The claims of a valid token, or a _Reply(401 invalid_token)."""

        def invalid(description: str) -> _Reply:
            return _Reply(
                401,
                {"error": "invalid_token", "error_description": description},
                {"WWW-Authenticate": _challenge(error="invalid_token", error_description=description)},
            )

        parts = token.split(".")
        if len(parts) != 3:
            raise invalid("The access token is invalid")
        try:
            header = json.loads(_b64url_decode(parts[0]))
            signature = _b64url_decode(parts[2])
            claims = json.loads(_b64url_decode(parts[1]))
        except (ValueError, binascii.Error):
            raise invalid("The access token is invalid") from None
        if not isinstance(header, dict) or header.get("alg") != "HS256" or not isinstance(claims, dict):
            raise invalid("The access token is invalid")
        expected = hmac.new(self._key, f"{parts[0]}.{parts[1]}".encode("ascii"), hashlib.sha256).digest()
        if not hmac.compare_digest(signature, expected):
            raise invalid("The access token is invalid")
        now = time.time()
        exp = claims.get("exp")
        if not isinstance(exp, (int, float)) or exp <= now:
            raise invalid("The access token expired")
        nbf = claims.get("nbf")
        if isinstance(nbf, (int, float)) and nbf > now + 5:
            raise invalid("The access token is not valid yet")
        aud = claims.get("aud")
        auds = aud if isinstance(aud, list) else [aud]
        if AUDIENCE not in auds:
            raise invalid("The access token was issued for the wrong audience")
        with self._lock:
            if str(claims.get("jti")) in self._revoked:
                raise invalid("The access token has been revoked")
        return claims

    # -- introspection for tests ------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """The requests received so far (the last 10,000), oldest first."""
        with self._lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    def _remember(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    # -- pets --------------------------------------------------------------------------

    def _add_pet(self, name: str, tag: str | None, created: float) -> dict[str, Any]:
        # caller holds the lock (or is __init__)
        pet = {"id": self._next_id, "name": name, "tag": tag, "created": _now_iso(created)}
        self._pets[self._next_id] = pet
        self._next_id += 1
        return pet

    def reset(self) -> None:
        """Back to the three initial pets (tokens stay valid)."""
        with self._lock:
            self._pets.clear()
            self._next_id = 1
            created = time.time()
            for pet in _INITIAL_PETS:
                self._add_pet(pet["name"], pet["tag"], created)

    # -- request handling (called from handler threads) -------------------------------

    def _token_endpoint(self, headers: Any, body: bytes) -> tuple[int, dict[str, Any], dict[str, str]]:
        no_store = {"Cache-Control": "no-store", "Pragma": "no-cache"}
        ctype = (headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if ctype != "application/x-www-form-urlencoded":
            raise _Reply(
                400,
                {"error": "invalid_request", "error_description": "The body must be application/x-www-form-urlencoded"},
                no_store,
            )
        try:
            form = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
        except UnicodeDecodeError:
            raise _Reply(400, {"error": "invalid_request", "error_description": "The body is not UTF-8"}, no_store)
        if any(len(values) > 1 for values in form.values()):
            raise _Reply(400, {"error": "invalid_request", "error_description": "A parameter is repeated"}, no_store)
        params = {k: v[0] for k, v in form.items()}

        grant = params.get("grant_type")
        if not grant:
            raise _Reply(
                400, {"error": "invalid_request", "error_description": "Missing grant_type parameter"}, no_store
            )

        # Client authentication: HTTP Basic (RFC 6749 2.3.1) or the body, never both.
        basic = _basic_credentials(headers.get("Authorization"))
        in_body = "client_secret" in params
        if basic is not None and in_body:
            raise _Reply(
                400,
                {"error": "invalid_request", "error_description": "Use one client authentication method, not two"},
                no_store,
            )
        if basic is not None:
            client_id, client_secret = basic
        else:
            client_id, client_secret = params.get("client_id"), params.get("client_secret")
        if client_id is None or client_secret is None:
            raise _Reply(
                401,
                {"error": "invalid_client", "error_description": "Client authentication is required"},
                {**no_store, "WWW-Authenticate": f'Basic realm="{REALM}"'},
            )
        id_ok = hmac.compare_digest(client_id.encode(), self.client_id.encode())
        secret_ok = hmac.compare_digest(client_secret.encode(), self.client_secret.encode())
        if not (id_ok and secret_ok):
            raise _Reply(
                401,
                {"error": "invalid_client", "error_description": "Client authentication failed"},
                {**no_store, "WWW-Authenticate": f'Basic realm="{REALM}"'},
            )

        if grant != "client_credentials":
            raise _Reply(
                400,
                {"error": "unsupported_grant_type", "error_description": "Only client_credentials is supported"},
                no_store,
            )
        requested = params.get("scope", "").split()
        unknown = [s for s in requested if s not in SCOPES]
        if unknown:
            raise _Reply(
                400, {"error": "invalid_scope", "error_description": f"Unknown scope: {unknown[0][:40]}"}, no_store
            )
        scope = " ".join(requested) if requested else DEFAULT_SCOPE
        audience = params.get("audience") or AUDIENCE
        token = self.mint_token(self.token_ttl, scope=scope, aud=audience)
        with self._lock:
            self.tokens_issued += 1
        return (
            200,
            {"access_token": token, "token_type": "Bearer", "expires_in": self.token_ttl, "scope": scope},
            no_store,
        )

    def _login(self, body: bytes) -> tuple[int, dict[str, Any], dict[str, str]]:
        """A login endpoint as many APIs have one: JSON credentials in, a bearer token out."""
        no_store = {"Cache-Control": "no-store"}
        try:
            doc = json.loads(body.decode("utf-8") or "null")
        except (ValueError, UnicodeDecodeError):
            doc = None
        if not isinstance(doc, dict):
            raise _Reply(400, {"error": "invalid_request", "message": "send JSON {username, password}"}, no_store)
        if doc.get("username") != DEMO_USER or not hmac.compare_digest(
            str(doc.get("password", "")).encode(), DEMO_USER_PASSWORD.encode()
        ):
            raise _Reply(401, {"error": "invalid_credentials", "message": "wrong username or password"}, no_store)
        token = self.mint_token(self.token_ttl, scope="pets:read pets:create", sub=DEMO_USER)
        with self._lock:
            self.logins += 1
        return 200, {"access_token": token, "token_type": "Bearer", "expires_in": self.token_ttl}, no_store

    def _authorize(self, headers: Any, needed: tuple[str, ...]) -> dict[str, Any]:
        """The token's claims, if it is valid and holds one of the `needed` scopes."""
        value = headers.get("Authorization")
        if not value:
            raise _Reply(
                401,
                {"error": "unauthorized", "error_description": "An access token is required"},
                {"WWW-Authenticate": f'Bearer realm="{REALM}"'},
            )
        scheme, _, token = value.strip().partition(" ")
        if scheme.lower() != "bearer":
            # Another scheme (Basic, a raw token...): as if no token was sent.
            raise _Reply(
                401,
                {"error": "unauthorized", "error_description": "A Bearer access token is required"},
                {"WWW-Authenticate": f'Bearer realm="{REALM}"'},
            )
        claims = self._verify(token.strip())
        granted = str(claims.get("scope", "")).split()
        if not any(s in granted for s in needed):
            scope = needed[-1]
            description = f"The access token lacks the scope {scope}"
            raise _Reply(
                403,
                {"error": "insufficient_scope", "error_description": description, "scope": scope},
                {"WWW-Authenticate": _challenge(error="insufficient_scope", error_description=description, scope=scope)},
            )
        return claims

    def _list_pets(self, query: dict[str, list[str]]) -> dict[str, Any]:
        limit_text = (query.get("limit") or [""])[0]
        limit: int | None = None
        if limit_text != "":
            try:
                limit = int(limit_text)
            except ValueError:
                limit = -1
            if limit < 0 or limit > 1000:
                raise _Reply(400, {"error": "invalid_request", "error_description": "limit must be 0..1000"})
        with self._lock:
            pets = [dict(p) for p in sorted(self._pets.values(), key=lambda p: p["id"])]
        items = pets if limit is None else pets[:limit]
        return {"count": len(items), "total": len(pets), "items": items}

    def _get_pet(self, pet_id: int) -> dict[str, Any]:
        with self._lock:
            pet = self._pets.get(pet_id)
            if pet is None:
                raise _Reply(404, {"error": "not_found", "error_description": f"No pet with id {pet_id}"})
            return dict(pet)

    def _create_pet(self, body: bytes, ctype: str) -> dict[str, Any]:
        if ctype != "application/json":
            raise _Reply(415, {"error": "unsupported_media_type", "error_description": "Send application/json"})
        try:
            data = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise _Reply(400, {"error": "invalid_request", "error_description": "The body is not valid JSON"})
        if not isinstance(data, dict):
            raise _Reply(400, {"error": "invalid_request", "error_description": "Expected a JSON object"})
        name = data.get("name")
        tag = data.get("tag")
        if not isinstance(name, str) or not name.strip() or len(name) > 100:
            raise _Reply(422, {"error": "invalid_pet", "error_description": "name must be a non-empty string"})
        if tag is not None and not isinstance(tag, str):
            raise _Reply(422, {"error": "invalid_pet", "error_description": "tag must be a string"})
        with self._lock:
            return dict(self._add_pet(name, tag, time.time()))

    def _delete_pet(self, pet_id: int) -> None:
        with self._lock:
            if self._pets.pop(pet_id, None) is None:
                raise _Reply(404, {"error": "not_found", "error_description": f"No pet with id {pet_id}"})

    def handle(self, method: str, target: str, headers: Any, body: bytes) -> tuple[int, Any, dict[str, str]]:
        """Route one request: (status, JSON document or None, extra headers)."""
        parts = urlsplit(target)
        path = unquote(parts.path)
        if len(path) > 1:
            path = path.rstrip("/")
        query = parse_qs(parts.query, keep_blank_values=True)

        if path == "/health":
            _allow(method, ("GET", "HEAD"))
            return 200, {"status": "ok"}, {}
        if path == "/openapi.json":
            _allow(method, ("GET", "HEAD"))
            return 200, _openapi_document(), {}
        if path == "/oauth/token":
            _allow(method, ("POST",))
            return self._token_endpoint(headers, body)
        if path == "/auth/login":
            _allow(method, ("POST",))
            return self._login(body)
        if path == "/logout":
            # Revokes the caller's own token: the next request with it gets 401
            # invalid_token, which lets the demo show a one-time token refresh.
            _allow(method, ("POST",))
            self._authorize(headers, ("pets:read",))
            self.revoke((headers.get("Authorization") or "").partition(" ")[2].strip())
            return 204, None, {}
        if path == "/pets":
            _allow(method, ("GET", "HEAD", "POST"))
            if method == "POST":
                self._authorize(headers, ("pets:create", "pets:write"))
                ctype = (headers.get("Content-Type") or "").split(";")[0].strip().lower()
                pet = self._create_pet(body, ctype)
                return 201, pet, {"Location": f"/pets/{pet['id']}", "ETag": _etag(pet)}
            self._authorize(headers, ("pets:read",))
            listing = self._list_pets(query)
            return 200, listing, {"ETag": _etag(listing)}
        match = _PET_PATH.match(path)
        if match:
            _allow(method, ("GET", "HEAD", "DELETE"))
            needed = ("pets:write",) if method == "DELETE" else ("pets:read",)
            self._authorize(headers, needed)
            try:
                pet_id = int(match.group(1))
            except ValueError:
                raise _Reply(404, {"error": "not_found", "error_description": "Pet ids are integers"}) from None
            if method == "DELETE":
                self._delete_pet(pet_id)
                return 204, None, {}
            pet = self._get_pet(pet_id)
            etag = _etag(pet)
            inm = headers.get("If-None-Match")
            if inm and (inm.strip() == "*" or etag in [t.strip().removeprefix("W/") for t in inm.split(",")]):
                return 304, None, {"ETag": etag}
            return 200, pet, {"ETag": etag}
        raise _Reply(404, {"error": "not_found", "error_description": "No such route"})


def _openapi_document() -> Any:
    """This API's own OpenAPI 3.1 document (the demo specs check every response against it)."""
    from . import spec_dir

    return json.loads((spec_dir() / "openapi.json").read_text(encoding="utf-8"))


def _allow(method: str, allowed: tuple[str, ...]) -> None:
    if method not in allowed:
        raise _Reply(
            405,
            {"error": "method_not_allowed", "error_description": f"{method} is not allowed here"},
            {"Allow": ", ".join(allowed)},
        )


def _challenge(**params: str) -> str:
    fields = [f'realm="{REALM}"'] + [f'{k}="{v}"' for k, v in params.items()]
    return "Bearer " + ", ".join(fields)


def _basic_credentials(value: str | None) -> tuple[str, str] | None:
    if not value:
        return None
    scheme, _, encoded = value.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise _Reply(
            401,
            {"error": "invalid_client", "error_description": "Malformed Basic credentials"},
            {"WWW-Authenticate": f'Basic realm="{REALM}"'},
        ) from None
    client_id, sep, client_secret = decoded.partition(":")
    if not sep:
        raise _Reply(
            401,
            {"error": "invalid_client", "error_description": "Malformed Basic credentials"},
            {"WWW-Authenticate": f'Basic realm="{REALM}"'},
        )
    # RFC 6749 2.3.1: both are form-urlencoded before being joined.
    return unquote(client_id.replace("+", " ")), unquote(client_secret.replace("+", " "))


def _make_handler(server: DemoServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out in two writes
        server_version = "pets-demo/1"
        sys_version = ""

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - silence logging
            pass

        def _dispatch(self) -> None:
            length_text = self.headers.get("Content-Length") or "0"
            try:
                length = int(length_text)
            except ValueError:
                length = -1
            if length < 0 or length > MAX_BODY or self.headers.get("Transfer-Encoding"):
                self.close_connection = True
                self._send(413 if length > MAX_BODY else 400,
                           {"error": "invalid_request", "error_description": "Bad or too large body"}, {})
                return
            body = self.rfile.read(length) if length else b""
            server._remember(RecordedRequest(self.command, self.path, tuple(self.headers.items()), body))
            try:
                status, doc, extra = server.handle(self.command, self.path, self.headers, body)
            except _Reply as reply:
                status, doc, extra = reply.status, reply.body, reply.headers
            except Exception as exc:  # a bug in the demo: answer, do not kill the thread
                status, doc, extra = 500, {"error": "server_error", "error_description": type(exc).__name__}, {}
            self._send(status, doc, extra)

        def _send(self, status: int, doc: Any, extra: dict[str, str]) -> None:
            payload = b"" if doc is None else json.dumps(doc).encode("utf-8")
            self.send_response(status)
            if doc is not None:
                self.send_header("Content-Type", "application/json")
            for name, value in extra.items():
                self.send_header(name, value)
            if status not in (204, 304):
                self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD" and status not in (204, 304):
                self.wfile.write(payload)

        do_GET = do_POST = do_DELETE = do_HEAD = do_PUT = do_PATCH = _dispatch

    return Handler
