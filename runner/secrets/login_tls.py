"""The TLS of a login or token request (the `http` and `oauth2` sources): the settings of
where the secret is declared, taken as a request written there would take them.

- A secret a spec declares: that spec's `defaults.tls` and `defaults.verify`
  (SecretDecl.tls / .verify), else the config's.
- A secret the config declares (or an environment of it): the config's `defaults.tls`,
  replaced by the `--env` environment's `tls` when it sets one, and `defaults.verify`.
- `--insecure` turns verification off for every one of them, as for requests.

The client certificate, key and CA bundle are checked before anything is sent (the
run's `tlsfiles.ClientCertificates`: PEM from a `${secret:...}` goes to a private file
removed at exit); a problem is a SecretError naming the login's secret (AUTH, exit 3).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from ..errors import SecretError, TransportError
from ..model import SecretDecl
from .base import SourceContext, resolve_option

__all__ = ["LoginTls", "login_tls", "tls_failure"]


@dataclass(frozen=True, slots=True)
class LoginTls:
    """What the transport is given: verification, requests' `cert=`, the CA bundle; and the
    lines of a PEM key from a secret, which the source masks like the secret itself."""

    verify: bool
    cert: str | tuple[str, str] | None = None
    ca_file: str | None = None
    mask: tuple[str, ...] = ()

    def request_options(self) -> dict[str, Any]:
        """Keyword arguments for a PreparedRequest or post_form (only what is set)."""
        options: dict[str, Any] = {"verify": self.verify}
        if self.cert is not None:
            options["cert"] = self.cert
        if self.ca_file is not None:
            options["ca_file"] = self.ca_file
        return options


def login_tls(decl: SecretDecl, ctx: SourceContext, fail: Callable[..., SecretError]) -> LoginTls:
    """The TLS for `decl`'s request; `fail(reason)` makes the error that names the secret."""
    own_verify = decl.verify if decl.verify is not None else ctx.default_verify
    verify = bool(ctx.verify_tls) and own_verify is not False
    tls = decl.tls if decl.tls is not None else ctx.default_tls
    if tls is None:
        return LoginTls(verify)

    from ..tlsfiles import ClientCertificates, TlsMaterialError, inputs_of

    def render(key: str, raw: str) -> str:
        value = resolve_option(ctx, "tls." + key.replace("pkcs12_password", "pkcs12.password"), raw, fail)
        return value if isinstance(value, str) else str(value)

    inputs = inputs_of(tls, render)
    if ctx.client_certs is None:
        ctx.client_certs = ClientCertificates()  # a library caller's context: removed at exit
    try:
        material = ctx.client_certs.prepare(**inputs.values)
    except TlsMaterialError as exc:
        from_secret = inputs.secret_about(exc)
        said = f" (from secret '{from_secret}')" if from_secret else ""
        # a CA bundle is not a client certificate: name what is wrong
        what = "the TLS settings" if exc.what == "tls.ca" else "the client certificate"
        raise fail(f"{what} it logs in with ({_where(tls)}){said} cannot be used: {exc.message}",
                   inputs.key_lines) from None
    return LoginTls(verify, material.cert, material.ca_file, inputs.key_lines)


_FIX = {
    "client_cert": "give a client certificate there as cert and key (or pkcs12)",
    "ca": "give a private CA there as ca",
}


def tls_failure(decl: SecretDecl, exc: TransportError) -> str:
    """A login's failed TLS handshake in words, with one hint: where this login's TLS settings
    come from (the transport's own hint names a request's `tls:`, which a login does not use)."""
    own = (f"defaults.tls of {decl.span.path}" if decl.tls is not None
           else "the config's defaults.tls (or the --env environment's tls)")
    fix = _FIX.get(exc.wants or "", "give a private CA there as ca, a client certificate as cert and key")
    return f"{exc.fact}; this login uses {own}, the TLS settings of where the secret is declared: {fix}"


def _where(tls: Any) -> str:
    return f"tls at {tls.span.location()}" if tls.span is not None else "tls"

