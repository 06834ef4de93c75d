"""A real HTTPS server on 127.0.0.1 that requires a client certificate (mTLS), with
certificates made by `trustme` for the test: a CA, the server's certificate for
127.0.0.1, and a client certificate signed by the same CA.

GET /whoami answers with the subject of the client certificate the TLS layer verified,
so a test sees which certificate really went over the wire. POST (any path) is a login
or OAuth2 token endpoint: it answers `{"access_token": TOKEN, ...}` and records the
path and the client certificate's subject in `logins`; GET records the Authorization
header it got in `authorizations`.
"""

from __future__ import annotations

import json
import ssl
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12


class Certs:
    """A CA, a server certificate and a client certificate, written to `folder` as PEM."""

    def __init__(self, folder: Path) -> None:
        self.ca = trustme.CA()
        self.server = self.ca.issue_cert("127.0.0.1")
        self.client = self.ca.issue_cert("ci-bot@example.test")
        self.folder = folder
        self.ca_file = folder / "ca.pem"
        self.ca.cert_pem.write_to_path(str(self.ca_file))
        self.cert_file = folder / "client.pem"
        self.key_file = folder / "client.key"
        self.client.cert_chain_pems[0].write_to_path(str(self.cert_file))
        self.client.private_key_pem.write_to_path(str(self.key_file))

    @property
    def key_pem(self) -> str:
        return self.client.private_key_pem.bytes().decode()

    @property
    def cert_pem(self) -> str:
        return self.client.cert_chain_pems[0].bytes().decode()


class MtlsServer:
    __test__ = False

    def __init__(self, certs: Certs, *, require_client_cert: bool = True, token: str = "tls-token") -> None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        certs.server.configure_cert(context)
        certs.ca.configure_trust(context)
        context.verify_mode = ssl.CERT_REQUIRED if require_client_cert else ssl.CERT_NONE
        self.seen: list[str] = []
        self.logins: list[tuple[str, str]] = []  # (path, client certificate subject)
        self.authorizations: list[str] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _client(self) -> str:
                peer = self.connection.getpeercert() or {}
                subject = dict(x[0] for x in peer.get("subject", ()))
                names = [v for k, v in peer.get("subjectAltName", ())]
                return subject.get("commonName") or (names[0] if names else "")

            def _json(self, doc: dict) -> None:
                data = json.dumps(doc).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802
                who = self._client()
                owner.seen.append(who)
                owner.authorizations.append(self.headers.get("Authorization", ""))
                self._json({"client": who})

            def do_POST(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                owner.logins.append((self.path, self._client()))
                self._json({"access_token": token, "token_type": "Bearer", "expires_in": 3600})

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def get_request(self):
                sock, addr = super().get_request()
                return context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr

            def handle_error(self, request, client_address) -> None:  # refused handshakes are expected
                pass

        class TlsHandler(Handler):
            def setup(self) -> None:
                try:
                    self.request.do_handshake()
                except (ssl.SSLError, OSError):
                    self.request.close()
                    raise
                super().setup()

        self._server = Server(("127.0.0.1", 0), TlsHandler)
        self.url = f"https://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> "MtlsServer":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


# ------------------------------------------------- fixtures of the TLS test modules
# (imported by name into test_mtls.py and test_login_tls.py)


@pytest.fixture
def certs(tmp_path):
    folder = tmp_path / "certs"
    folder.mkdir()
    return Certs(folder)


@pytest.fixture
def private_tmp(tmp_path, monkeypatch):
    """The run's private files (PEM from secrets) go here, so a test sees they are removed at its end."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def p12_bundle(certs: Certs, password: str | None, *, with_key: bool = True) -> bytes:
    """The client certificate (and its key) as a PKCS#12 bundle, encrypted with `password`."""
    key = serialization.load_pem_private_key(certs.key_pem.encode(), None) if with_key else None
    cert = x509.load_pem_x509_certificate(certs.cert_pem.encode())
    algorithm = serialization.BestAvailableEncryption(password.encode()) if password else serialization.NoEncryption()
    return pkcs12.serialize_key_and_certificates(b"ci-bot", key, cert, None, algorithm)
