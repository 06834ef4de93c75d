"""TLS client certificates (mTLS) against a real HTTPS server on 127.0.0.1 that requires
one (tests/tls_server.py, certificates made by trustme); HAZARDS 79."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from runner.tlsfiles import ClientCertificates, TlsMaterialError
from tests.helpers import CANARY, run_cli, write
from tests.tls_server import Certs, MtlsServer, certs, p12_bundle, private_tmp  # noqa: F401 - fixtures

KEY_PASSWORD = "kp-" + CANARY


@pytest.fixture
def server(certs):
    with MtlsServer(certs) as srv:
        yield srv


def spec(tls: str, *, request_tls: str = "", auth: str = "") -> str:
    return (
        "version: 1\nname: mtls\nbase_url: ${env:API}\n"
        "secrets:\n  client_key: {env: CLIENT_KEY}\n  client_cert: {env: CLIENT_CERT}\n"
        "  key_password: {env: KEY_PASSWORD}\n  p12_password: {env: P12_PASSWORD}\n"
        + (f"defaults:\n  tls: {tls}\n" if tls else "")
        + auth
        + "requests:\n  - name: who am i\n    url: /whoami\n"
        + (f"    tls: {request_tls}\n" if request_tls else "")
        + "    expect: {json: {$.client: ci-bot@example.test}}\n"
    )


def env(server, certs, **more) -> dict[str, str]:
    return {"API": server.url, "CLIENT_KEY": certs.key_pem, "CLIENT_CERT": certs.cert_pem,
            "KEY_PASSWORD": KEY_PASSWORD, **more}


def run(tmp_path, text: str, environ: dict, *args: str):
    write(tmp_path / "s.yaml", text)
    return run_cli(["run", str(tmp_path / "s.yaml"), *args], env=environ)


def encrypted_key(certs: Certs, password: str) -> bytes:
    key = serialization.load_pem_private_key(certs.key_pem.encode(), None)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.BestAvailableEncryption(password.encode()))


# --------------------------------------------------------------------------- works


def test_cert_and_key_paths_in_defaults(server, certs, tmp_path):
    code, out, err = run(tmp_path, spec("{cert: certs/client.pem, key: certs/client.key, ca: certs/ca.pem}"),
                         env(server, certs))
    assert code == 0, out + err
    assert server.seen == ["ci-bot@example.test"]


def test_pem_from_secrets_goes_to_private_files_removed_at_exit(server, certs, tmp_path, private_tmp):
    text = spec('{cert: "${secret:client_cert}", key: "${secret:client_key}", ca: certs/ca.pem}')
    code, out, err = run(tmp_path, text, env(server, certs), "-vv", "--curl")
    assert code == 0, out + err
    assert server.seen == ["ci-bot@example.test"]
    assert list(private_tmp.iterdir()) == []  # removed when the run ended
    for line in certs.key_pem.splitlines()[1:-1]:
        assert line not in out + err


def test_request_tls_wins_over_defaults(server, certs, tmp_path):
    text = spec("{cert: certs/none.pem, key: certs/none.key}",
                request_tls="{cert: certs/client.pem, key: certs/client.key, ca: certs/ca.pem}")
    code, out, err = run(tmp_path, text, env(server, certs))
    assert code == 0, out + err


def test_config_defaults_and_environment_tls(server, certs, tmp_path):
    write(tmp_path / "runner.yaml", """
        defaults:
          tls: {ca: certs/ca.pem}
        environments:
          staging:
            tls: {cert: certs/client.pem, key: certs/client.key, ca: certs/ca.pem}
    """)
    write(tmp_path / "s.yaml", spec(""))
    environ = env(server, certs)
    args = ["run", str(tmp_path / "s.yaml"), "--config", str(tmp_path / "runner.yaml")]
    code, out, err = run_cli(args + ["--env", "staging"], env=environ)
    assert code == 0, out + err
    code, out, err = run_cli(args, env=environ)  # the config's defaults: a CA but no client certificate
    assert code == 4, out + err


def test_encrypted_key_with_its_password(server, certs, tmp_path, private_tmp):
    (certs.folder / "enc.key").write_bytes(encrypted_key(certs, KEY_PASSWORD))
    text = spec('{cert: certs/client.pem, key: certs/enc.key, password: "${secret:key_password}", ca: certs/ca.pem}')
    code, out, err = run(tmp_path, text, env(server, certs))
    assert code == 0, out + err
    assert list(private_tmp.iterdir()) == []  # the decrypted copy is gone


def test_pkcs12_bundle(server, certs, tmp_path):
    (certs.folder / "client.p12").write_bytes(p12_bundle(certs, "p12-" + CANARY))
    text = spec('{pkcs12: {file: certs/client.p12, password: "${secret:p12_password}"}, ca: certs/ca.pem}')
    code, out, err = run(tmp_path, text, env(server, certs, P12_PASSWORD="p12-" + CANARY))
    assert code == 0, out + err
    assert server.seen == ["ci-bot@example.test"]


# --------------------------------------------------------------------------- refused before sending (AUTH, exit 3)


def _refused(server, tmp_path, text: str, environ: dict, says: str) -> str:
    code, out, err = run(tmp_path, text, environ)
    assert code == 3, out + err
    assert says in out, out
    assert server.seen == []  # nothing was sent
    assert CANARY not in out + err
    return out


def test_key_that_does_not_match_the_certificate(server, certs, tmp_path):
    other = certs.ca.issue_cert("someone-else.test")
    other.private_key_pem.write_to_path(str(certs.folder / "other.key"))
    _refused(server, tmp_path, spec("{cert: certs/client.pem, key: certs/other.key, ca: certs/ca.pem}"),
             env(server, certs), "the private key does not match the certificate")


def test_encrypted_key_without_a_password(server, certs, tmp_path):
    (certs.folder / "enc.key").write_bytes(encrypted_key(certs, KEY_PASSWORD))
    _refused(server, tmp_path, spec("{cert: certs/client.pem, key: certs/enc.key, ca: certs/ca.pem}"),
             env(server, certs), "the private key is encrypted and tls.password is not set")


def test_encrypted_key_with_a_wrong_password(server, certs, tmp_path):
    (certs.folder / "enc.key").write_bytes(encrypted_key(certs, KEY_PASSWORD))
    text = spec('{cert: certs/client.pem, key: certs/enc.key, password: "${secret:key_password}", ca: certs/ca.pem}')
    _refused(server, tmp_path, text, env(server, certs, KEY_PASSWORD="wrong-" + CANARY),
             "wrong tls.password")


def test_pkcs12_with_a_wrong_password(server, certs, tmp_path):
    (certs.folder / "client.p12").write_bytes(p12_bundle(certs, "p12-" + CANARY))
    text = spec('{pkcs12: {file: certs/client.p12, password: "${secret:p12_password}"}, ca: certs/ca.pem}')
    _refused(server, tmp_path, text, env(server, certs, P12_PASSWORD="nope-" + CANARY), "wrong pkcs12.password")


def test_pkcs12_without_a_key(server, certs, tmp_path):
    (certs.folder / "cert-only.p12").write_bytes(p12_bundle(certs, None, with_key=False))
    _refused(server, tmp_path, spec("{pkcs12: {file: certs/cert-only.p12}, ca: certs/ca.pem}"),
             env(server, certs), "holds no private key")


def test_missing_and_non_pem_files(server, certs, tmp_path):
    _refused(server, tmp_path, spec("{cert: certs/nope.pem, key: certs/client.key, ca: certs/ca.pem}"),
             env(server, certs), "No such file or directory")
    (certs.folder / "junk.pem").write_text("hello")
    _refused(server, tmp_path, spec("{cert: certs/junk.pem, key: certs/client.key, ca: certs/ca.pem}"),
             env(server, certs), "is not a PEM file")


def test_pem_secret_that_is_not_a_key(server, certs, tmp_path):
    text = spec('{cert: "${secret:client_cert}", key: "${secret:client_key}", ca: certs/ca.pem}')
    _refused(server, tmp_path, text, env(server, certs, CLIENT_KEY=certs.cert_pem), "client_key")


def test_pkcs12_needs_the_optional_extra(server, certs, tmp_path, monkeypatch):
    (certs.folder / "client.p12").write_bytes(p12_bundle(certs, None))
    monkeypatch.setitem(sys.modules, "cryptography.hazmat.primitives", None)  # as if not installed
    monkeypatch.setitem(sys.modules, "cryptography.hazmat.primitives.serialization", None)
    out = _refused(server, tmp_path, spec("{pkcs12: {file: certs/client.p12}, ca: certs/ca.pem}"),
                   env(server, certs), "needs the optional extra 'tls'")
    assert "pip install 'request-runner[tls]'" in out


# --------------------------------------------------------------------------- refused by the server (ERROR, exit 4)


def test_no_client_certificate_is_a_transport_error(server, certs, tmp_path):
    code, out, err = run(tmp_path, spec("{ca: certs/ca.pem}"), env(server, certs))
    assert code == 4, out + err
    assert "ERROR" in out and "client certificate" in out
    assert "tls: {cert, key} or pkcs12" in out  # where a request's client certificate is set


# --------------------------------------------------------------------------- the files


def test_files_are_private_and_removed_on_close(certs, private_tmp):
    material_store = ClientCertificates()
    material = material_store.prepare(cert=certs.cert_pem, key=certs.key_pem)
    folder = Path(material_store.folder)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for name in material.cert:
        assert stat.S_IMODE(Path(name).stat().st_mode) == 0o600
    assert material_store.prepare(cert=certs.cert_pem, key=certs.key_pem) is material  # checked once
    material_store.close()
    assert not folder.exists()


def test_a_failed_check_is_remembered_not_repeated(certs):
    store = ClientCertificates()
    with pytest.raises(TlsMaterialError) as first:
        store.prepare(cert=str(certs.cert_file), key=str(certs.folder / "missing.key"))
    with pytest.raises(TlsMaterialError) as second:
        store.prepare(cert=str(certs.cert_file), key=str(certs.folder / "missing.key"))
    assert first.value is second.value
    store.close()


@pytest.mark.parametrize("sig, exit_code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_pem_files_removed_after_an_interrupt(certs, tmp_path, silent_server, sig, exit_code):
    """A run stopped while a request is in flight still removes its private files."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    write(tmp_path / "s.yaml", spec('{cert: "${secret:client_cert}", key: "${secret:client_key}"}'))
    environ = {"PATH": os.environ.get("PATH", ""), "TMPDIR": str(folder), "API": silent_server,
               "CLIENT_KEY": certs.key_pem, "CLIENT_CERT": certs.cert_pem, "PYTHONPATH": os.getcwd()}
    proc = subprocess.Popen([sys.executable, "-m", "runner", "run", str(tmp_path / "s.yaml"), "--timeout", "60"],
                            env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    try:
        for _ in range(200):  # wait (bounded) until the files exist: the request is in flight
            if any(folder.iterdir()):
                break
            time.sleep(0.05)
        assert any(folder.iterdir()), "the run never prepared its client certificate"
        proc.send_signal(sig)
        proc.wait(20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == exit_code
    assert list(folder.iterdir()) == []


# --------------------------------------------------------------------------- validate


@pytest.mark.parametrize("tls, message", [
    ('{cert: "${secret:nope}", key: certs/client.key}', "secret 'nope' is not declared"),
    ("{cert: c.pem, key: k.pem, password: hunter2-literal}", "must be a ${secret:NAME} or ${env:NAME} reference"),
    ("{key: k.pem}", "cert"),
    ("{cert: c.pem, pkcs12: {file: b.p12}}", "tls"),
    ("{pkcs12: {password: x}}", "file"),
])
def test_validate_checks_tls(tmp_path, tls, message):
    write(tmp_path / "s.yaml", spec(tls))
    code, out, err = run_cli(["validate", str(tmp_path / "s.yaml")])
    assert code == 2, out + err
    assert message in err
    assert "hunter2-literal" not in err


def test_validate_checks_the_secrets_of_the_config_tls(tmp_path):
    write(tmp_path / "runner.yaml", """
        environments:
          prod: {tls: {cert: "${secret:missing_cert}", key: k.pem}}
    """)
    write(tmp_path / "s.yaml", spec(""))
    args = ["validate", str(tmp_path / "s.yaml"), "--config", str(tmp_path / "runner.yaml")]
    code, out, err = run_cli(args + ["--env", "prod"])
    assert code == 2, out + err
    assert "secret 'missing_cert' is not declared" in err and "runner.yaml:2:" in err


def test_validate_accepts_tls_everywhere(tmp_path):
    write(tmp_path / "runner.yaml", """
        defaults: {tls: {ca: certs/ca.pem}}
        environments:
          prod: {tls: {pkcs12: {file: certs/c.p12, password: "${env:P12_PASSWORD}"}}}
    """)
    write(tmp_path / "s.yaml", spec('{cert: "${secret:client_cert}", key: "${secret:client_key}"}',
                                    request_tls="{cert: a.pem, key: b.pem, password: \"${secret:key_password}\"}"))
    code, out, err = run_cli(["validate", str(tmp_path / "s.yaml"), "--config", str(tmp_path / "runner.yaml")])
    assert code == 0, out + err


# --------------------------------------------------------------------------- the hot path


def test_a_pem_key_is_registered_for_masking_once_not_per_request(server, certs, tmp_path, monkeypatch):
    """Registering a value recomputes the redactor's patterns: a key's lines are added when
    the key is first used, not again for every request (`runner load` sends thousands)."""
    from runner.redact import Redactor

    key_lines = set(certs.key_pem.splitlines()[1:-1])
    added: list[str] = []
    original = Redactor.add

    def counting_add(self, value, label=None):
        if value in key_lines:
            added.append(value)
        return original(self, value, label)

    monkeypatch.setattr(Redactor, "add", counting_add)
    request = "  - name: who am i\n    url: /whoami\n    expect: {json: {$.client: ci-bot@example.test}}\n"
    text = spec('{cert: "${secret:client_cert}", key: "${secret:client_key}", ca: certs/ca.pem}')
    text += request * 11  # twelve requests in all
    code, out, err = run(tmp_path, text, env(server, certs), "-vv")
    assert code == 0, out + err
    assert len(server.seen) == 12
    assert sorted(added) == sorted(key_lines)  # each line once
    for line in key_lines:
        assert line not in out + err


# --------------------------------------------------------------------------- a wrong password names its own secret


def test_wrong_key_password_names_the_password_secret_not_the_keys(server, certs, tmp_path):
    text = spec('{cert: "${secret:client_cert}", key: "${secret:client_key}", password: "${secret:key_password}", '
                "ca: certs/ca.pem}")
    environ = env(server, certs, CLIENT_KEY=encrypted_key(certs, KEY_PASSWORD).decode(),
                  KEY_PASSWORD="wrong-" + CANARY)
    out = _refused(server, tmp_path, text, environ, "wrong tls.password")
    assert "secret 'key_password'" in out and "secret 'client_key'" not in out


def test_wrong_pkcs12_password_names_the_password_secret(server, certs, tmp_path):
    (certs.folder / "client.p12").write_bytes(p12_bundle(certs, "p12-" + CANARY))
    text = spec('{pkcs12: {file: certs/client.p12, password: "${secret:p12_password}"}, ca: certs/ca.pem}')
    out = _refused(server, tmp_path, text, env(server, certs, P12_PASSWORD="nope-" + CANARY), "wrong pkcs12.password")
    assert "secret 'p12_password'" in out
