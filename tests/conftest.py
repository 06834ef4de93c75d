"""Shared fixtures: real HTTP servers on 127.0.0.1 and a clean environment."""

from __future__ import annotations

import os
import socket
import threading

import pytest

from tests.helpers import CANARY
from tests.server import TestServer

_STRIP_SUFFIXES = ("_PROXY",)
_STRIP_NAMES = {"NETRC", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY"}
_SECRET_WORDS = ("TOKEN", "SECRET", "PASSWORD", "API_KEY", "APIKEY")


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch):
    """No proxy, netrc, CA bundle or secret variable from the developer's shell leaks into a test."""
    for name in list(os.environ):
        upper = name.upper()
        if upper.endswith(_STRIP_SUFFIXES) or upper in _STRIP_NAMES or any(w in upper for w in _SECRET_WORDS):
            monkeypatch.delenv(name, raising=False)
    yield


@pytest.fixture(scope="session")
def _server_one():
    server = TestServer()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def _server_two():
    server = TestServer()
    yield server
    server.stop()


@pytest.fixture
def http_server(_server_one):
    _server_one.reset()
    return _server_one


@pytest.fixture
def other_server(_server_two):
    """A second origin (another port) for cross-origin redirect tests."""
    _server_two.reset()
    return _server_two


@pytest.fixture
def canary():
    return CANARY


# --------------------------------------------------------------------------- engine helpers

from runner.engine import RunOptions, run_spec  # noqa: E402
from runner.model import BearerAuth, RequestDef, SecretDecl, Spec  # noqa: E402
from runner.redact import Redactor  # noqa: E402
from runner.secrets import SecretStore, SourceContext  # noqa: E402
from runner.source import Span  # noqa: E402


def env_secret(name: str = "token", variable: str = "API_TOKEN") -> SecretDecl:
    return SecretDecl(name, "env", {"env": variable}, Span.point("spec.yaml", 3, 3), "/tmp")


def make_spec(*requests: RequestDef, base_url: str | None = None, secrets=None, auth=None, **kw) -> Spec:
    reqs = tuple(
        r if r.index == i else RequestDef(**{**{f: getattr(r, f) for f in r.__slots__}, "index": i})
        for i, r in enumerate(requests)
    )
    return Spec(path="spec.yaml", name=kw.pop("name", "test spec"), requests=reqs, base_url=base_url,
                secrets=secrets or {}, auth=auth, **kw)


class EngineRun:
    """Runs specs with a real SecretStore over the given environment."""

    def __init__(self, environ: dict[str, str]) -> None:
        self.environ = environ
        self.redactor = Redactor()
        self.steps = []

    def store(self, overrides=None, environ=None) -> SecretStore:
        from runner.transport import post_form

        ctx = SourceContext(environ=environ or self.environ, post_form=post_form)
        return SecretStore(ctx, self.redactor, overrides=overrides)

    def __call__(self, spec: Spec, *, store: SecretStore | None = None, **options):
        opts = RunOptions(environ=self.environ, **options)
        return run_spec(spec, options=opts, secrets=store or self.store(), redactor=self.redactor,
                        on_step=self.steps.append, sleep=lambda s: None)


@pytest.fixture
def engine_run(canary):
    return EngineRun({"API_TOKEN": canary})


@pytest.fixture
def bearer_spec(http_server):
    """make_spec with the canary bearer token (env API_TOKEN) and the test server's base URL."""

    def build(*requests: RequestDef, **kw) -> Spec:
        kw.setdefault("secrets", {"token": env_secret()})
        kw.setdefault("auth", BearerAuth("token"))
        kw.setdefault("base_url", http_server.url)
        return make_spec(*requests, **kw)

    return build


@pytest.fixture
def cwd(tmp_path, monkeypatch):
    """A fresh temporary directory as the current directory."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def silent_server():
    """A server that accepts connections and never answers: a request in flight forever."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    conns = []
    stop = threading.Event()

    def accept():
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                conns.append(srv.accept()[0])
            except OSError:
                continue

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.getsockname()[1]}"
    stop.set()
    t.join()
    for c in conns:
        c.close()
    srv.close()
