"""TLS client certificates (mTLS): from `tls:` settings to files `requests` can load,
checked before anything is sent.

    certs = ClientCertificates()          # one per run; certs.close() at exit
    certs.prepare(cert=..., key=..., password=..., ca=..., pkcs12=..., pkcs12_password=...)
        -> Material(cert_file, key_file, ca_file)

Each input is a PEM or .p12 *file* or PEM *text* (a `${secret:...}` already rendered).
What requests cannot read directly is written to a private temporary folder (0700)
as 0600 files: PEM text from a secret, an encrypted key once decrypted, the key and
certificate out of a PKCS#12 bundle. The folder is removed by `close()` (the app
calls it at exit and after SIGINT/SIGTERM) and, as a last resort, at interpreter exit.

Checked here, before connecting (a `TlsMaterialError`, which the caller reports as
AUTH, exit 3): an unreadable file, text that is not PEM, an encrypted key without
`password`, a wrong password, a key that does not match its certificate, a .p12
without a key or certificate. The check is stdlib `ssl.load_cert_chain` (never with
OpenSSL's terminal prompt: the password callback answers for it); decrypting a key or
reading a .p12 needs `cryptography` (the optional extra `tls`), imported only then.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import shutil
import ssl
import tempfile
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from .model import TlsClient

__all__ = ["ClientCertificates", "Inputs", "Material", "TLS_KEYS", "TlsMaterialError", "inputs_of", "is_pem",
           "MAX_PEM_BYTES"]

MAX_PEM_BYTES = 1024 * 1024  # a certificate chain is a few KB; more is the wrong file
_EXTRA_HINT = "pip install 'request-runner[tls]' (adds the cryptography package)"


class TlsMaterialError(Exception):
    """A client certificate, key or bundle that cannot be used; the message never holds key material."""

    def __init__(self, what: str, message: str) -> None:
        super().__init__(message)
        self.what = what  # the option it is about: "tls.cert", "tls.key", "tls.password", "tls.pkcs12" ...
        self.message = message


@dataclass(frozen=True, slots=True)
class Material:
    """The files requests is given for TLS: client certificate, key and CA bundle."""

    cert_file: str | None = None
    key_file: str | None = None
    ca_file: str | None = None

    @property
    def cert(self) -> tuple[str, str] | str | None:
        """What requests takes as `cert=`."""
        if self.cert_file is None:
            return None
        return (self.cert_file, self.key_file) if self.key_file else self.cert_file


def is_pem(text: str) -> bool:
    return text.lstrip().startswith("-----BEGIN ")


# the options of a `tls:` block (model.TlsClient's fields), in the order they are rendered
TLS_KEYS = ("cert", "key", "password", "ca", "pkcs12", "pkcs12_password")


@dataclass(frozen=True, slots=True)
class Inputs:
    """A `tls:` block rendered: what `ClientCertificates.prepare` takes, which secret each
    value came from (to name it in an error), and the lines of a PEM key (to mask)."""

    values: dict[str, str | None]
    secret_of: dict[str, str] = field(default_factory=dict)
    key_lines: tuple[str, ...] = ()

    def secret_about(self, exc: TlsMaterialError) -> str | None:
        """The secret the option `exc` is about came from (None: written in the file)."""
        return self.secret_of.get(exc.what.split(".", 1)[-1])


def inputs_of(tls: "TlsClient", render: Callable[[str, str], str]) -> Inputs:
    """Render a `tls:` block (a request's, or the one a login uses): `render(key, raw)`
    turns the value of option `key` (one of TLS_KEYS) holding `${...}` into text; a path
    that is not PEM text is relative to the folder of the file that wrote the block."""
    values: dict[str, str | None] = {}
    secret_of: dict[str, str] = {}
    key_lines: list[str] = []
    for key in TLS_KEYS:
        raw = getattr(tls, key)
        if raw is None:
            values[key] = None
            continue
        if "${secret:" in raw:
            secret_of[key] = raw[raw.index("${secret:") + 9:].split("}", 1)[0]
        value = render(key, raw) if "$" in raw else raw
        if key in ("cert", "key", "ca", "pkcs12") and not is_pem(value):
            value = os.path.join(tls.base_dir, os.path.expanduser(value))
        elif key == "key" and is_pem(value):
            # a key's lines, should one ever be quoted alone
            key_lines.extend(line for line in value.splitlines() if len(line) >= 16 and not line.startswith("-----"))
        values[key] = value
    return Inputs(values, secret_of, tuple(key_lines))


class ClientCertificates:
    """Prepared material by input, for the whole run (thread-safe; each input is checked once)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._done: dict[str, Material | TlsMaterialError] = {}
        self._folder: str | None = None
        self._closed = False
        atexit.register(self.close)

    # -- files
    def _dir(self) -> str:
        if self._folder is None:
            self._folder = tempfile.mkdtemp(prefix="runner-tls-")  # 0700
        return self._folder

    def _write(self, name: str, data: bytes) -> str:
        path = os.path.join(self._dir(), name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        return path

    @property
    def folder(self) -> str | None:
        return self._folder

    def close(self) -> None:
        with self._lock:
            folder, self._folder = self._folder, None
            self._closed = True
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)

    # -- the one entry point
    def prepare(self, *, cert: str | None = None, key: str | None = None, password: str | None = None,
                ca: str | None = None, pkcs12: str | None = None, pkcs12_password: str | None = None) -> Material:
        parts = (cert, key, password, ca, pkcs12, pkcs12_password)
        ident = hashlib.sha256(repr(parts).encode("utf-8", "surrogatepass")).hexdigest()
        with self._lock:
            done = self._done.get(ident)
            if done is None:
                try:
                    done = self._prepare(cert, key, password, ca, pkcs12, pkcs12_password, ident[:12])
                except TlsMaterialError as exc:
                    done = exc
                self._done[ident] = done
        if isinstance(done, TlsMaterialError):
            raise done
        return done

    def _prepare(self, cert, key, password, ca, pkcs12, pkcs12_password, tag: str) -> Material:
        if self._closed:
            self._closed = False  # a library caller reusing the object after close: start again
        ca_file = self._file_or_pem("tls.ca", ca, f"{tag}-ca.pem") if ca else None
        if pkcs12:
            cert_file, key_file = self._pkcs12(pkcs12, pkcs12_password, tag)
        elif cert:
            cert_file = self._file_or_pem("tls.cert", cert, f"{tag}-cert.pem")
            key_file = self._key(key, password, tag) if key else None
            if key_file is None and _encrypted(_read(cert_file, "tls.cert")):
                raise TlsMaterialError("tls.cert", "the private key in tls.cert is encrypted; give it as tls.key with tls.password")
        else:
            return Material(ca_file=ca_file)
        _check_pair(cert_file, key_file)
        return Material(cert_file, key_file, ca_file)

    def _file_or_pem(self, what: str, value: str, name: str) -> str:
        data = value.strip().encode("ascii", "replace") + b"\n" if is_pem(value) else _read(value, what)
        shown = "from a secret" if is_pem(value) else value
        if b"-----BEGIN " not in data:
            raise TlsMaterialError(what, f"{what} {shown} is not a PEM file (no -----BEGIN line)")
        if b"-----BEGIN CERTIFICATE-----" not in data:
            raise TlsMaterialError(what, f"{what} {shown} holds no certificate (no -----BEGIN CERTIFICATE----- block)")
        return self._write(name, data) if is_pem(value) else value

    def _key(self, key: str, password: str | None, tag: str) -> str:
        pem = key.encode("ascii", "replace") if is_pem(key) else _read(key, "tls.key")
        shown = "from a secret" if is_pem(key) else key
        if b"-----BEGIN " not in pem:
            raise TlsMaterialError("tls.key", f"tls.key {shown} is not a PEM file (no -----BEGIN line)")
        if b"PRIVATE KEY-----" not in pem:
            raise TlsMaterialError("tls.key", f"tls.key {shown} holds no private key (no -----BEGIN ... PRIVATE KEY----- block)")
        if not _encrypted(pem):
            return self._write(f"{tag}-key.pem", pem.strip() + b"\n") if is_pem(key) else key
        if not password:
            raise TlsMaterialError("tls.key", "the private key is encrypted and tls.password is not set")
        serialization = _cryptography("an encrypted private key")
        try:
            private = serialization.load_pem_private_key(pem, password.encode("utf-8"))
        except (ValueError, TypeError):
            raise TlsMaterialError("tls.password", "the private key could not be decrypted: wrong tls.password") from None
        return self._write(f"{tag}-key.pem", _unencrypted(serialization, private))

    def _pkcs12(self, path: str, password: str | None, tag: str) -> tuple[str, str]:
        data = _read(path, "tls.pkcs12")
        serialization = _cryptography("a PKCS#12 bundle")
        from cryptography.hazmat.primitives.serialization import pkcs12

        try:
            private, certificate, chain = pkcs12.load_key_and_certificates(
                data, password.encode("utf-8") if password else None
            )
        except (ValueError, TypeError):
            if password:  # about the password: the error names its secret, not the bundle's
                raise TlsMaterialError("tls.pkcs12_password", f"{path} could not be opened: wrong pkcs12.password") from None
            raise TlsMaterialError("tls.pkcs12", f"{path} could not be opened: it is encrypted and pkcs12.password "
                                                 "is not set, or it is not a PKCS#12 file") from None
        if private is None:
            raise TlsMaterialError("tls.pkcs12", f"{path} holds no private key")
        if certificate is None:
            raise TlsMaterialError("tls.pkcs12", f"{path} holds no certificate")
        pem = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (certificate, *chain))
        return self._write(f"{tag}-p12-cert.pem", pem), self._write(f"{tag}-p12-key.pem", _unencrypted(serialization, private))


def _read(path: str, what: str) -> bytes:
    try:
        if os.path.isdir(path):
            raise TlsMaterialError(what, f"{what} {path} is a directory")
        with open(path, "rb") as fh:
            data = fh.read(MAX_PEM_BYTES + 1)
    except TlsMaterialError:
        raise
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or "cannot be read"
        raise TlsMaterialError(what, f"{what} {path}: {reason}") from None
    if len(data) > MAX_PEM_BYTES:
        raise TlsMaterialError(what, f"{what} {path} is larger than 1 MB")
    return data


def _encrypted(pem: bytes) -> bool:
    return b"-----BEGIN ENCRYPTED PRIVATE KEY-----" in pem or b"Proc-Type: 4,ENCRYPTED" in pem


def _cryptography(what: str):
    try:
        from cryptography.hazmat.primitives import serialization
    except ImportError:
        raise TlsMaterialError("tls", f"reading {what} needs the optional extra 'tls': {_EXTRA_HINT}") from None
    return serialization


def _unencrypted(serialization, private) -> bytes:
    return private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _check_pair(cert_file: str, key_file: str | None) -> None:
    """The certificate and key load together (stdlib ssl; never OpenSSL's prompt)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        context.load_cert_chain(cert_file, key_file, password=lambda: b"")
    except ssl.SSLError as exc:
        reason = str(exc.reason or exc).lower()
        if "mismatch" in reason:
            raise TlsMaterialError("tls.key", "the private key does not match the certificate") from None
        if "bad decrypt" in reason or "bad password" in reason:
            raise TlsMaterialError("tls.key", "the private key is encrypted and tls.password is not set") from None
        if key_file is None and ("no start line" in reason or "pem" in reason):
            raise TlsMaterialError("tls.cert", "tls.cert holds no private key; give tls.key") from None
        if "pem lib" in reason:
            reason = "not valid PEM"
        raise TlsMaterialError("tls.cert", f"the certificate or key cannot be loaded ({reason.replace('_', ' ')})") from None
    except OSError as exc:
        raise TlsMaterialError("tls.cert", f"the certificate or key cannot be read ({exc.strerror or 'error'})") from None
