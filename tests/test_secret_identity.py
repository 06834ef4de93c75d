"""One source, one value per run: the same oauth2 client, keyring entry or command declared
in two folders is fetched once (issue 14 item 19); a kind that reads a path relative to
the declaring file (file, dotenv, a command run by a relative path) is one source per folder.

Every test runs the CLI on two folders, each holding a spec that declares the secret, and
looks at what the server on 127.0.0.1 received."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from runner.model import SecretDecl
from runner.secrets.base import SOURCE_KINDS, source_identity
from runner.source import Span
from tests.helpers import run_cli, write
from tests.token_server import TokenServer

SPEC = """\
version: 1
name: {name}
base_url: ${{env:API}}
secrets:
  {secret}: {source}
auth: {{bearer: {secret}}}
requests:
  - name: {name} one
    url: /echo
  - name: {name} two
    url: /echo
"""


def two_folders(root: Path, source_a: str, source_b: str | None = None, *, secret_b: str = "tok") -> list[str]:
    """a/spec.yaml and b/spec.yaml, each declaring its own secret with the given source."""
    for folder, source, secret in (("a", source_a, "tok"), ("b", source_b or source_a, secret_b)):
        (root / folder).mkdir()
        write(root / folder / "spec.yaml", SPEC.format(name=folder, secret=secret, source=source))
    return ["run", str(root / "a"), str(root / "b")]


def bearers(server) -> list[str]:
    return [r.header("Authorization") for r in server.requests_to("/echo")]


def test_same_oauth2_client_in_two_folders_is_one_token(tmp_path, http_server):
    with TokenServer(client_id="cid", client_secret="cs-secret") as ts:
        # the same options, written in another key order in the second folder
        a = f"{{oauth2: {{token_url: '{ts.url}', client_id: cid, client_secret: '${{env:CS}}', scope: read}}}}"
        b = f"{{oauth2: {{scope: read, client_secret: '${{env:CS}}', client_id: cid, token_url: '{ts.url}'}}}}"
        code, out, err = run_cli(two_folders(tmp_path, a, b, secret_b="other_name"),
                                 env={"API": http_server.url, "CS": "cs-secret"})
        assert code == 0, out + err
        assert ts.calls == 1
    sent = bearers(http_server)
    assert len(sent) == 4 and len(set(sent)) == 1


def test_different_oauth2_options_are_two_sources(tmp_path, http_server):
    with TokenServer(client_id="cid", client_secret="cs-secret") as ts:
        a = f"{{oauth2: {{token_url: '{ts.url}', client_id: cid, client_secret: '${{env:CS}}', scope: read}}}}"
        b = f"{{oauth2: {{token_url: '{ts.url}', client_id: cid, client_secret: '${{env:CS}}', scope: write}}}}"
        code, out, err = run_cli(two_folders(tmp_path, a, b), env={"API": http_server.url, "CS": "cs-secret"})
        assert code == 0, out + err
        assert ts.calls == 2


def test_same_command_on_path_in_two_folders_runs_once(tmp_path, http_server):
    counter = tmp_path / "runs.txt"
    script = f"open({str(counter)!r}, 'a').write('x'); print('tok-from-command')"
    source = "{command: " + json.dumps([sys.executable, "-c", script]) + "}"
    code, out, err = run_cli(two_folders(tmp_path, source), env={"API": http_server.url})
    assert code == 0, out + err
    assert counter.read_text() == "x"
    assert set(bearers(http_server)) == {"Bearer tok-from-command"}


def test_relative_command_in_two_folders_is_each_folders_own(tmp_path, http_server):
    args = two_folders(tmp_path, "{command: [./token.sh]}")
    for folder in ("a", "b"):
        script = write(tmp_path / folder / "token.sh", f"#!/bin/sh\necho tok-of-{folder}\n")
        script.chmod(0o755)
    code, out, err = run_cli(args, env={"API": http_server.url})
    assert code == 0, out + err
    assert bearers(http_server) == ["Bearer tok-of-a"] * 2 + ["Bearer tok-of-b"] * 2


@pytest.mark.parametrize("kind", ["file", "dotenv"])
def test_relative_file_in_two_folders_is_each_folders_own(kind, tmp_path, http_server):
    source = "{file: token.txt}" if kind == "file" else "{dotenv: .env, key: TOKEN}"
    args = two_folders(tmp_path, source)
    for folder in ("a", "b"):
        write(tmp_path / folder / "token.txt", f"tok-of-{folder}\n")
        write(tmp_path / folder / ".env", f"TOKEN=tok-of-{folder}\n")
    code, out, err = run_cli(args, env={"API": http_server.url})
    assert code == 0, out + err
    assert bearers(http_server) == ["Bearer tok-of-a"] * 2 + ["Bearer tok-of-b"] * 2


def test_same_keyring_entry_in_two_folders_is_read_once(tmp_path, http_server):
    keyring = pytest.importorskip("keyring")
    from keyring.backend import KeyringBackend

    class CountingKeyring(KeyringBackend):
        priority = 1  # type: ignore[assignment]
        reads = 0

        def get_password(self, service, username):
            CountingKeyring.reads += 1
            return "tok-from-keyring" if (service, username) == ("pets", "ci") else None

        def set_password(self, service, username, password):
            raise NotImplementedError

    previous = keyring.get_keyring()
    keyring.set_keyring(CountingKeyring())
    try:
        code, out, err = run_cli(two_folders(tmp_path, "{keyring: {service: pets, username: ci}}"),
                                 env={"API": http_server.url})
    finally:
        keyring.set_keyring(previous)
    assert code == 0, out + err
    assert CountingKeyring.reads == 1
    assert set(bearers(http_server)) == {"Bearer tok-from-keyring"}


def _decl(kind: str, options: dict, folder: str) -> SecretDecl:
    return SecretDecl("s", kind, options, Span.point(f"{folder}/spec.yaml", 3, 3), folder)


@pytest.mark.parametrize(
    ("kind", "options", "per_folder"),
    [
        ("env", {"env": "T"}, False),
        ("keyring", {"keyring": {"service": "s", "username": "u"}}, False),
        ("oauth2", {"oauth2": {"token_url": "http://127.0.0.1:1/t", "client_id": "c"}}, False),
        ("command", {"command": ["gcloud", "auth", "print-access-token"]}, False),
        ("command", {"command": "gcloud auth print-access-token"}, False),
        ("command", {"command": ["/usr/bin/token"]}, False),
        ("command", {"command": ["~/bin/token"]}, False),
        ("command", {"command": ["./token.sh"]}, True),
        ("command", {"command": "scripts/token.sh --fresh"}, True),
        ("file", {"file": "/run/secrets/token"}, True),
        ("dotenv", {"dotenv": ".env", "key": "T"}, True),
    ],
)
def test_identity_includes_the_folder_only_for_relative_paths(kind, options, per_folder):
    same = source_identity(_decl(kind, options, "/x/a")) == source_identity(_decl(kind, options, "/x/b"))
    assert same is not per_folder


def test_every_source_kind_says_whether_it_reads_a_relative_path():
    """A new kind decides: without `reads_relative_path` it is one source per folder."""
    import importlib

    for kind, module in SOURCE_KINDS.items():
        mod = importlib.import_module(f"runner.secrets.{module}")
        assert callable(getattr(mod, "reads_relative_path", None)), (
            f"runner/secrets/{module}.py: define reads_relative_path(decl) -> bool (see base.source_identity)"
        )
