"""A real OAuth2 token endpoint on 127.0.0.1, built from Authlib's server components
(authlib.oauth2.rfc6749: AuthorizationServer, the client credentials, password and
refresh token grants, client_secret_basic / client_secret_post authentication),
served by a stdlib HTTP server in a thread. Authlib decides what is valid, not us.

Refresh tokens rotate (INCLUDE_NEW_REFRESH_TOKEN): each use revokes the old one and
issues a new one, so a client that refreshes with a stale token gets invalid_grant.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

from authlib.oauth2.rfc6749 import AuthorizationServer, ClientMixin, OAuth2Payload, OAuth2Request, TokenMixin, grants
from authlib.oauth2.rfc6750 import BearerTokenGenerator

from tests.helpers import CANARY

CLIENT_ID = "runner"
CLIENT_SECRET = "cs:" + CANARY + "%2B+&/"  # ':' and '%' must be form-encoded before Basic (RFC 6749 2.3.1)
USERNAME = "ci-bot"
PASSWORD = "pw-" + CANARY
AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]


@dataclass
class Client(ClientMixin):
    client_id: str
    client_secret: str | None
    auth_methods: tuple[str, ...]

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str:
        return ""

    def get_allowed_scope(self, scope: str) -> str:
        return scope or ""

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return False

    def check_client_secret(self, client_secret: str) -> bool:
        return self.client_secret is not None and secrets.compare_digest(client_secret, self.client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method in self.auth_methods

    def check_response_type(self, response_type: str) -> bool:
        return False

    def check_grant_type(self, grant_type: str) -> bool:
        return True


@dataclass
class Token(TokenMixin):
    client_id: str
    user: str
    refresh_token: str
    scope: str = ""
    revoked: bool = False

    def check_client(self, client: Client) -> bool:
        return client.client_id == self.client_id

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return 3600

    def is_expired(self) -> bool:
        return False

    def is_revoked(self) -> bool:
        return self.revoked


class _Payload(OAuth2Payload):
    def __init__(self, form: dict[str, str]) -> None:
        self._form = form

    @property
    def data(self) -> dict[str, str]:
        return self._form

    @property
    def datalist(self):
        out = defaultdict(list)
        for k, v in self._form.items():
            out[k].append(v)
        return out


class _Request(OAuth2Request):
    def __init__(self, uri: str, headers: dict[str, str], form: dict[str, str]) -> None:
        super().__init__("POST", uri, headers=headers)
        self._form = form
        self.payload = _Payload(form)

    @property
    def args(self) -> dict[str, str]:
        return {}

    @property
    def form(self) -> dict[str, str]:
        return self._form


@dataclass
class _State:
    lock: threading.Lock = field(default_factory=threading.Lock)
    tokens: dict[str, Token] = field(default_factory=dict)  # refresh token -> Token
    access: set[str] = field(default_factory=set)
    grants_seen: list[str] = field(default_factory=list)
    refresh_tokens_seen: list[str] = field(default_factory=list)
    auth_seen: list[str] = field(default_factory=list)  # "basic" or "post" per request


class AuthlibTokenServer:
    """`with AuthlibTokenServer() as srv:` -> srv.url is the token endpoint."""

    __test__ = False

    def __init__(self, *, client_secret: str | None = CLIENT_SECRET, auth_methods=AUTH_METHODS,
                 expires_in: Any = 3600, rotate: bool = True) -> None:
        self.state = _State()
        self.client = Client(CLIENT_ID, client_secret, tuple(auth_methods))
        self.expires_in = expires_in
        state = self.state
        owner = self

        def issue_access(*_a: Any, **_kw: Any) -> str:
            token = f"at-{secrets.token_hex(8)}-{CANARY}"
            with state.lock:
                state.access.add(token)
            return token

        class Password(grants.ResourceOwnerPasswordCredentialsGrant):
            TOKEN_ENDPOINT_AUTH_METHODS = list(auth_methods)

            def authenticate_user(self, username: str, password: str):
                return username if (username, password) == (USERNAME, PASSWORD) else None

        class ClientCredentials(grants.ClientCredentialsGrant):
            TOKEN_ENDPOINT_AUTH_METHODS = list(auth_methods)

        class Refresh(grants.RefreshTokenGrant):
            TOKEN_ENDPOINT_AUTH_METHODS = list(auth_methods)
            INCLUDE_NEW_REFRESH_TOKEN = rotate

            def authenticate_refresh_token(self, refresh_token: str):
                with state.lock:
                    state.refresh_tokens_seen.append(refresh_token)
                    token = state.tokens.get(refresh_token)
                return token if token is not None and not token.revoked else None

            def authenticate_user(self, credential: Token):
                return credential.user

            def revoke_old_credential(self, credential: Token) -> None:
                if rotate:
                    credential.revoked = True

        class Server(AuthorizationServer):
            def query_client(self, client_id: str):
                return owner.client if client_id == owner.client.client_id else None

            def save_token(self, token: dict, request: OAuth2Request) -> None:
                if "refresh_token" in token:
                    with state.lock:
                        state.tokens[token["refresh_token"]] = Token(
                            CLIENT_ID, str(request.user or ""), token["refresh_token"]
                        )
                if owner.expires_in != 3600:
                    token["expires_in"] = owner.expires_in  # e.g. "3600" as a string

            def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
                pass

            def create_oauth2_request(self, request: _Request) -> _Request:
                return request

            def handle_response(self, status: int, body: Any, headers: list) -> tuple:
                return status, body, headers

        server = Server()
        server.register_token_generator("default", BearerTokenGenerator(
            issue_access, refresh_token_generator=lambda *a, **k: f"rt-{secrets.token_hex(8)}-{CANARY}",
            expires_generator=lambda client, grant_type: 3600))
        server.register_grant(Password)
        server.register_grant(ClientCredentials)
        server.register_grant(Refresh)
        self.server = server

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                form = dict(parse_qsl(self.rfile.read(length).decode("utf-8"), keep_blank_values=True))
                headers = dict(self.headers.items())
                with state.lock:
                    state.grants_seen.append(form.get("grant_type", ""))
                    state.auth_seen.append("basic" if headers.get("Authorization", "").startswith("Basic ") else
                                           "post" if "client_secret" in form else "none")
                request = _Request(f"http://{self.headers.get('Host')}{self.path}", headers, form)
                status, body, out_headers = server.create_token_response(request)
                data = json.dumps(body).encode()
                self.send_response(status)
                for k, v in out_headers:
                    if k.lower() != "content-length":
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802  a resource: accepts the access tokens issued
                auth = self.headers.get("Authorization", "")
                ok = auth.startswith("Bearer ") and auth[7:] in state.access
                data = b'{"ok": true}' if ok else b'{"error": "invalid_token"}'
                self.send_response(200 if ok else 401)
                self.send_header("Content-Type", "application/json")
                if not ok:
                    self.send_header("WWW-Authenticate", 'Bearer error="invalid_token"')
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._http.daemon_threads = True
        self.base = f"http://127.0.0.1:{self._http.server_address[1]}"
        self.url = self.base + "/oauth/token"
        self._thread = threading.Thread(target=self._http.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def issue_refresh_token(self) -> str:
        """A refresh token as if from an earlier login (for grant: refresh_token)."""
        token = f"rt-first-{CANARY}"
        with self.state.lock:
            self.state.tokens[token] = Token(CLIENT_ID, USERNAME, token)
        return token

    def revoke_access(self) -> None:
        with self.state.lock:
            self.state.access.clear()

    def __enter__(self) -> "AuthlibTokenServer":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.shutdown()
        self._http.server_close()

