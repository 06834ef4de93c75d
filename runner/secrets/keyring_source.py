"""`keyring: {service, username}`: a password from the OS keyring (macOS Keychain,
Windows Credential Locker, Secret Service/KWallet) through the `keyring` package.

`keyring` is an optional extra (`pip install 'request-runner[keyring]'`), imported only
when a value is fetched. The lookup runs in a helper thread with a timeout (default
10 s, option `timeout` next to `keyring:`), because a locked keyring or a D-Bus session
that never answers would otherwise hang the run.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from collections.abc import Mapping
from typing import Any

from ..errors import SecretError
from ..model import SecretDecl
from .base import SecretValue, SourceContext, check_value, clean_text, seconds_option

__all__ = ["KeyringSource", "build", "DEFAULT_TIMEOUT_S", "reads_relative_path"]

DEFAULT_TIMEOUT_S = 10.0
_EXTRA_HINT = "pip install 'request-runner[keyring]'"


@dataclass(slots=True)
class KeyringSource:
    decl: SecretDecl
    service: str
    username: str
    timeout: float
    ctx: SourceContext
    refreshable: bool = False

    def describe(self) -> str:
        return f"keyring {self.service}/{self.username}"

    def env_name(self) -> str | None:
        return None

    def _fail(self, reason: str) -> SecretError:
        return SecretError(self.decl.name, self.describe(), reason, self.decl.span)

    def fetch(self) -> SecretValue:
        if not self.service or not self.username:
            raise self._fail("'keyring' needs both 'service' and 'username'")
        try:
            import keyring
            import keyring.errors
        except ImportError:
            raise self._fail(f"the keyring source needs the optional extra: {_EXTRA_HINT}") from None

        outcome: dict[str, Any] = {}

        def lookup() -> None:
            try:
                outcome["value"] = keyring.get_password(self.service, self.username)
            except BaseException as exc:  # reported below, in the caller's thread
                outcome["error"] = exc

        worker = threading.Thread(target=lookup, name="keyring-lookup", daemon=True)
        worker.start()
        worker.join(self.timeout)
        if worker.is_alive():
            raise self._fail(
                f"the keyring did not answer within {self.timeout:g} s (locked keyring, or no D-Bus session?)"
            )
        where = f"service {self.service!r}, user {self.username!r}"
        exc = outcome.get("error")
        if exc is not None:
            if isinstance(exc, keyring.errors.NoKeyringError):
                raise self._fail(
                    f"no OS keyring is available to look up {where} (headless machine or CI?); "
                    "use another source there (env, file), or install a keyring backend"
                ) from None
            if isinstance(exc, keyring.errors.KeyringLocked):
                raise self._fail(f"the keyring is locked; unlock it to read {where}") from None
            if isinstance(exc, Exception):  # a backend's own error types (D-Bus, Secret Service...)
                detail = clean_text(str(exc), 200)
                raise self._fail(
                    f"keyring lookup of {where} failed: {type(exc).__name__}" + (f": {detail}" if detail else "")
                ) from None
            raise exc
        value = outcome.get("value")
        if value is None:
            backend = ""
            try:
                backend = type(keyring.get_keyring()).__module__ + "." + type(keyring.get_keyring()).__name__
            except Exception:  # noqa: BLE001 - only for the message
                pass
            raise self._fail(f"no entry for {where}" + (f" in keyring backend {backend}" if backend else ""))
        if not isinstance(value, str):
            raise self._fail(f"the keyring returned a {type(value).__name__}, not text, for {where}")
        return SecretValue(check_value(self.decl, self.describe(), value))


def reads_relative_path(decl: SecretDecl) -> bool:
    """A keyring entry is the same from every folder: see base.source_identity."""
    return False


def build(decl: SecretDecl, ctx: SourceContext) -> KeyringSource:
    spec = decl.options.get("keyring") or {}
    if not isinstance(spec, Mapping):
        spec = {}
    timeout = seconds_option(decl.options.get("timeout", spec.get("timeout")), DEFAULT_TIMEOUT_S)
    return KeyringSource(decl, str(spec.get("service") or ""), str(spec.get("username") or ""), timeout, ctx)
