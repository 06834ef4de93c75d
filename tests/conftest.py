"""Shared fixtures: real HTTP servers on 127.0.0.1 and a clean environment."""

from __future__ import annotations

import os

import pytest

from tests.server import CANARY, TestServer

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
