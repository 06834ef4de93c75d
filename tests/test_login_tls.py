"""A login (`http` source) or token request (`oauth2` source) uses the TLS settings of
where its secret is declared: a private CA (`tls.ca`), a client certificate (mTLS) and
`verify`, from the config's `defaults` (the --env environment's `tls` first) or the
declaring spec's. Real HTTPS servers on 127.0.0.1 (tests/tls_server.py, trustme
certificates), the CLI run as a user runs it; HAZARDS 79."""

from __future__ import annotations


import pytest
from cryptography.hazmat.primitives import serialization

from tests.helpers import CANARY, run_cli, write
from tests.tls_server import Certs, MtlsServer, certs, p12_bundle, private_tmp  # noqa: F401 - fixtures

TOKEN = "tok-" + CANARY
PASSWORD = "pw-" + CANARY
CLIENT_SECRET = "cs-" + CANARY
P12_PASSWORD = "p12-" + CANARY

HTTP_LOGIN = """\
http:
  url: ${env:LOGIN}/auth/login
  json: {username: ci-bot, password: "${secret:bot_password}"}
  token: $.access_token
  expires_in: $.expires_in
"""

OAUTH2_LOGIN = """\
oauth2:
  token_url: ${env:LOGIN}/oauth/token
  client_id: runner
  client_secret: ${secret:client_secret}
"""

INPUTS = """\
bot_password: {env: BOT_PASSWORD}
client_secret: {env: CLIENT_SECRET}
client_cert: {env: CLIENT_CERT}
client_key: {env: CLIENT_KEY}
p12_password: {env: P12_PASSWORD}
"""


def indent(text: str, by: int) -> str:
    return "".join(" " * by + line + "\n" for line in text.strip("\n").splitlines())


def secrets_block(login: str) -> str:
    """`secrets:` with the login secret `api_token` and the inputs it may need."""
    return "secrets:\n" + indent(INPUTS, 2) + "  api_token:\n" + indent(login, 4)


def spec(*, login: str | None = None, defaults: str = "") -> str:
    """A spec calling GET /whoami on the API with the login's token; it declares the login
    secret itself when `login` is given (else the config does)."""
    return (
        "version: 1\nname: api\nbase_url: ${env:API}\n"
        + (secrets_block(login) if login else "")
        + (f"defaults:\n{indent(defaults, 2)}" if defaults else "")
        + "auth: {bearer: api_token}\n"
        "requests:\n  - name: who am i\n    url: /whoami\n    expect: {status: 200}\n"
    )


def config(*, login: str, defaults: str = "", environments: str = "") -> str:
    return (
        secrets_block(login)
        + (f"defaults:\n{indent(defaults, 2)}" if defaults else "")
        + (f"environments:\n{indent(environments, 2)}" if environments else "")
    )


@pytest.fixture
def idp(certs):
    """An identity provider behind the private CA; no client certificate needed."""
    with MtlsServer(certs, require_client_cert=False, token=TOKEN) as srv:
        yield srv


@pytest.fixture
def mtls_idp(certs):
    """An identity provider behind the private CA that requires a client certificate."""
    with MtlsServer(certs, token=TOKEN) as srv:
        yield srv


@pytest.fixture
def api(certs):
    """The API the token is for: behind the same private CA, no client certificate needed."""
    with MtlsServer(certs, require_client_cert=False) as srv:
        yield srv


def environ(login_server, api_server, certs) -> dict[str, str]:
    return {"LOGIN": login_server.url, "API": api_server.url, "BOT_PASSWORD": PASSWORD,
            "CLIENT_SECRET": CLIENT_SECRET, "CLIENT_CERT": certs.cert_pem, "CLIENT_KEY": certs.key_pem,
            "P12_PASSWORD": P12_PASSWORD}


def run(tmp_path, env: dict[str, str], *args: str, spec_text: str, config_text: str | None = None):
    write(tmp_path / "api.yaml", spec_text)
    argv = ["run", str(tmp_path / "api.yaml"), "-vv", "--curl"]
    if config_text is not None:
        write(tmp_path / "runner.yaml", config_text)
        argv += ["--config", str(tmp_path / "runner.yaml")]
    code, out, err = run_cli(argv + list(args), env=env)
    assert_no_leak(out, err)
    return code, out, err


def assert_no_leak(*texts: str) -> None:
    for text in texts:
        assert CANARY not in text


# --------------------------------------------------------------------------- a private CA


@pytest.mark.parametrize("login", [HTTP_LOGIN, OAUTH2_LOGIN], ids=["http", "oauth2"])
def test_config_login_trusts_the_configs_ca(tmp_path, certs, idp, api, login):
    code, out, err = run(tmp_path, environ(idp, api, certs), spec_text=spec(),
                         config_text=config(login=login, defaults="tls: {ca: certs/ca.pem}"))
    assert code == 0, out + err
    assert len(idp.logins) == 1
    assert api.authorizations == ["Bearer " + TOKEN]  # the token from the login was used


@pytest.mark.parametrize("login", [HTTP_LOGIN, OAUTH2_LOGIN], ids=["http", "oauth2"])
def test_without_the_ca_the_login_is_a_credential_error_naming_the_secret(tmp_path, certs, idp, api, login):
    code, out, err = run(tmp_path, environ(idp, api, certs), spec_text=spec(), config_text=config(login=login))
    assert code == 3, out + err
    assert "secret 'api_token'" in out
    assert "TLS verification failed" in out and "self-signed certificate" in out
    assert "defaults.tls" in out and "give a private CA there as ca" in out  # where to give the CA
    assert "client certificate" not in out  # the CA was missing, not a client certificate
    assert idp.logins == [] and api.seen == []  # no login went through, nothing was sent to the API


def test_spec_declared_login_uses_that_specs_tls(tmp_path, certs, idp, api):
    text = spec(login=HTTP_LOGIN, defaults="tls: {ca: certs/ca.pem}")
    code, out, err = run(tmp_path, environ(idp, api, certs), spec_text=text)
    assert code == 0, out + err
    assert len(idp.logins) == 1


def test_spec_declared_login_ignores_another_files_ca(tmp_path, certs, idp, api):
    """The config's CA is for what the config says; the spec's own (empty) `tls` wins for
    its requests and its login alike."""
    text = spec(login=HTTP_LOGIN, defaults="tls: {ca: certs/missing.pem}")
    code, out, err = run(tmp_path, environ(idp, api, certs), spec_text=text,
                         config_text="defaults:\n  tls: {ca: certs/ca.pem}\n")
    assert code == 3, out + err
    assert "secret 'api_token'" in out and "certs/missing.pem" in out
    assert "the TLS settings it logs in with" in out and "client certificate" not in out  # only the CA is wrong
    assert idp.logins == []


def test_spec_declared_login_without_tls_of_its_own_uses_the_configs(tmp_path, certs, idp, api):
    code, out, err = run(tmp_path, environ(idp, api, certs), spec_text=spec(login=OAUTH2_LOGIN),
                         config_text="defaults:\n  tls: {ca: certs/ca.pem}\n")
    assert code == 0, out + err
    assert len(idp.logins) == 1


def test_the_environments_tls_wins_over_the_configs(tmp_path, certs, idp, api):
    text = config(login=HTTP_LOGIN, defaults="tls: {ca: certs/missing.pem}",
                  environments="staging:\n  tls: {ca: certs/ca.pem}")
    code, out, err = run(tmp_path, environ(idp, api, certs), "--env", "staging", spec_text=spec(), config_text=text)
    assert code == 0, out + err
    code, out, err = run(tmp_path, environ(idp, api, certs), spec_text=spec(), config_text=text)
    assert code == 3, out + err
    assert "secret 'api_token'" in out
    assert len(idp.logins) == 1  # only the run with --env staging logged in


@pytest.mark.parametrize("how", ["config", "flag"])
def test_unverified_login_is_warned_about(tmp_path, certs, idp, api, how):
    if how == "config":
        code, out, err = run(tmp_path, environ(idp, api, certs), spec_text=spec(),
                             config_text=config(login=HTTP_LOGIN, defaults="verify: false"))
        assert "TLS certificate verification is DISABLED by" in out + err
    else:
        code, out, err = run(tmp_path, environ(idp, api, certs), "--insecure", spec_text=spec(),
                             config_text=config(login=HTTP_LOGIN))
        assert "TLS certificate verification is DISABLED (--insecure)" in out + err
    assert code == 0, out + err
    assert len(idp.logins) == 1


def test_spec_verify_false_is_warned_about_and_applies_to_its_login(tmp_path, certs, idp, api):
    code, out, err = run(tmp_path, environ(idp, api, certs), spec_text=spec(login=HTTP_LOGIN, defaults="verify: false"))
    assert code == 0, out + err
    assert "TLS certificate verification is DISABLED for" in out + err
    assert len(idp.logins) == 1


# --------------------------------------------------------------------------- mTLS


MTLS_FORMS = {
    "paths": "tls: {cert: certs/client.pem, key: certs/client.key, ca: certs/ca.pem}",
    "pem-secrets": 'tls: {cert: "${secret:client_cert}", key: "${secret:client_key}", ca: certs/ca.pem}',
    "pkcs12": 'tls: {pkcs12: {file: certs/client.p12, password: "${secret:p12_password}"}, ca: certs/ca.pem}',
}


@pytest.mark.parametrize("form", sorted(MTLS_FORMS))
@pytest.mark.parametrize("login", [HTTP_LOGIN, OAUTH2_LOGIN], ids=["http", "oauth2"])
def test_token_endpoint_gets_the_client_certificate(tmp_path, certs, mtls_idp, api, private_tmp, login, form):
    (certs.folder / "client.p12").write_bytes(p12_bundle(certs, P12_PASSWORD))
    code, out, err = run(tmp_path, environ(mtls_idp, api, certs), spec_text=spec(),
                         config_text=config(login=login, defaults=MTLS_FORMS[form]))
    assert code == 0, out + err
    path = "/auth/login" if login is HTTP_LOGIN else "/oauth/token"
    assert mtls_idp.logins == [(path, "ci-bot@example.test")]  # the certificate went over the wire
    assert list(private_tmp.iterdir()) == []  # PEM from secrets, a .p12's key: removed at exit
    for line in certs.key_pem.splitlines()[1:-1]:
        assert line not in out + err


@pytest.mark.parametrize("login", [HTTP_LOGIN, OAUTH2_LOGIN], ids=["http", "oauth2"])
def test_spec_declared_login_sends_the_specs_client_certificate(tmp_path, certs, mtls_idp, api, login):
    text = spec(login=login, defaults=MTLS_FORMS["pem-secrets"])
    code, out, err = run(tmp_path, environ(mtls_idp, api, certs), spec_text=text)
    assert code == 0, out + err
    assert [who for _, who in mtls_idp.logins] == ["ci-bot@example.test"]


def test_without_a_client_certificate_the_login_fails_naming_the_secret(tmp_path, certs, mtls_idp, api):
    code, out, err = run(tmp_path, environ(mtls_idp, api, certs), spec_text=spec(),
                         config_text=config(login=OAUTH2_LOGIN, defaults="tls: {ca: certs/ca.pem}"))
    assert code == 3, out + err
    assert "secret 'api_token'" in out and "client certificate" in out
    # one hint, naming where this login's TLS settings are: not a request's `tls:` (no login uses it)
    assert "give a client certificate there as cert and key (or pkcs12)" in out and "runner.yaml" in out
    assert "tls: {cert, key}" not in out
    assert mtls_idp.logins == [] and api.seen == []


# --------------------------------------------------------------------------- refused before sending


@pytest.mark.parametrize("login", [HTTP_LOGIN, OAUTH2_LOGIN], ids=["http", "oauth2"])
@pytest.mark.parametrize("tls, says", [
    ("tls: {cert: certs/client.pem, key: certs/other.key, ca: certs/ca.pem}",
     "the private key does not match the certificate"),
    ('tls: {pkcs12: {file: certs/client.p12, password: "${secret:bot_password}"}, ca: certs/ca.pem}',
     "wrong pkcs12.password"),
    ('tls: {cert: "${secret:client_key}", key: "${secret:client_key}", ca: certs/ca.pem}',
     "holds no certificate"),
    ("tls: {cert: certs/nope.pem, key: certs/client.key}", "No such file or directory"),
], ids=["mismatched-key", "wrong-p12-password", "key-as-cert", "missing-file"])
def test_bad_client_certificate_is_a_credential_error_before_sending(tmp_path, certs, mtls_idp, api, login, tls, says):
    certs.ca.issue_cert("someone-else.test").private_key_pem.write_to_path(str(certs.folder / "other.key"))
    (certs.folder / "client.p12").write_bytes(p12_bundle(certs, P12_PASSWORD))
    code, out, err = run(tmp_path, environ(mtls_idp, api, certs), spec_text=spec(),
                         config_text=config(login=login, defaults=tls))
    assert code == 3, out + err
    assert "secret 'api_token'" in out and says in out
    assert "client certificate it logs in with" in out and "runner.yaml:" in out
    assert mtls_idp.logins == [] and mtls_idp.seen == [] and api.seen == []  # nothing was sent
    for line in certs.key_pem.splitlines()[1:-1]:
        assert line not in out + err


@pytest.mark.parametrize("login", [HTTP_LOGIN, OAUTH2_LOGIN], ids=["http", "oauth2"])
@pytest.mark.parametrize("tls, says", [
    ('tls: {cert: "${secret:client_cert}", key: "${secret:client_key}", password: "${secret:bot_password}", '
     "ca: certs/ca.pem}", "wrong tls.password"),
    ('tls: {pkcs12: {file: certs/client.p12, password: "${secret:bot_password}"}, ca: certs/ca.pem}',
     "wrong pkcs12.password"),
], ids=["key-password", "p12-password"])
def test_wrong_password_names_the_password_secret(tmp_path, certs, mtls_idp, api, login, tls, says):
    """An encrypted key from secret `client_key` and a wrong password from `bot_password`:
    the error names the password's secret, not the key's."""
    key = serialization.load_pem_private_key(certs.key_pem.encode(), None)
    encrypted = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.BestAvailableEncryption(P12_PASSWORD.encode())).decode()
    (certs.folder / "client.p12").write_bytes(p12_bundle(certs, P12_PASSWORD))
    env = {**environ(mtls_idp, api, certs), "CLIENT_KEY": encrypted}  # BOT_PASSWORD is not the key's
    code, out, err = run(tmp_path, env, spec_text=spec(), config_text=config(login=login, defaults=tls))
    assert code == 3, out + err
    assert "secret 'api_token'" in out and says in out
    assert "(from secret 'bot_password')" in out and "'client_key'" not in out
    assert mtls_idp.logins == [] and api.seen == []


def test_a_tls_value_that_cannot_be_rendered_names_its_option(tmp_path, certs, mtls_idp, api):
    """The password's secret fails (its variable is unset): the error names tls.password."""
    tls = ('tls: {cert: "${secret:client_cert}", key: "${secret:client_key}", password: "${secret:key_password}", '
           "ca: certs/ca.pem}")
    text = config(login=HTTP_LOGIN, defaults=tls).replace("secrets:\n", "secrets:\n  key_password: {env: NOT_SET}\n", 1)
    code, out, err = run(tmp_path, environ(mtls_idp, api, certs), spec_text=spec(), config_text=text)
    assert code == 3, out + err
    assert "'tls.password' needs secret 'key_password'" in out
    assert mtls_idp.logins == [] and api.seen == []


# --------------------------------------------------------------------------- one login per TLS setting


def test_same_login_with_different_tls_is_two_logins(tmp_path, certs, idp, api):
    """Two files declare the same login; one trusts the CA through its own defaults, the
    other through the config's: each is a login of its own, and both work."""
    write(tmp_path / "a.yaml", spec(login=HTTP_LOGIN, defaults="tls: {ca: certs/ca.pem}"))
    write(tmp_path / "b.yaml", spec(login=HTTP_LOGIN))
    write(tmp_path / "c.yaml", spec(login=HTTP_LOGIN))
    write(tmp_path / "runner.yaml", "defaults:\n  tls: {ca: certs/ca.pem}\n")
    code, out, err = run_cli(["run", str(tmp_path / "a.yaml"), str(tmp_path / "b.yaml"), str(tmp_path / "c.yaml"),
                              "--config", str(tmp_path / "runner.yaml")], env=environ(idp, api, certs))
    assert code == 0, out + err
    assert_no_leak(out, err)
    assert len(idp.logins) == 2  # a.yaml's own; b.yaml and c.yaml share the config's
