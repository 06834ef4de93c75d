"""The interface every secret source implements, and the registry of kinds."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Protocol

from ..errors import SecretError
from ..model import SecretDecl

__all__ = ["SecretValue", "SecretSource", "SourceContext", "make_source", "SOURCE_KINDS", "check_value"]

# kind -> module under runner.secrets that defines `build(decl, ctx) -> SecretSource`
SOURCE_KINDS: dict[str, str] = {
    "env": "env_source",
    "file": "file_source",
    "dotenv": "dotenv_source",
    "command": "command_source",
    "keyring": "keyring_source",
    "oauth2": "oauth2_source",
}


@dataclass(frozen=True, slots=True)
class SecretValue:
    value: str = field(repr=False)
    expires_at: float | None = None  # time.monotonic() deadline, when the source knows one

    def __repr__(self) -> str:  # never show the value
        return f"SecretValue(***, expires_at={self.expires_at})"


class SecretSource(Protocol):
    decl: SecretDecl
    refreshable: bool

    def describe(self) -> str:
        """Where the value comes from, without the value: 'env PETS_API_TOKEN'."""

    def fetch(self) -> SecretValue:
        """Get a (new) value. Raises SecretError naming the secret, never the value."""

    def env_name(self) -> str | None:
        """The environment variable that holds the value, if any (curl placeholders)."""


@dataclass(slots=True)
class SourceContext:
    """What sources may use: injected so tests and the engine control all I/O."""

    environ: Mapping[str, str]
    # Resolves `${secret:X}` / `${env:X}` inside a source's own options (oauth2 client_secret).
    resolve_ref: Callable[[Any], Any] = lambda value: value
    # POST a form to a token endpoint: (url, fields, timeout, verify) -> ResponseSnapshot.
    post_form: Callable[..., Any] | None = None
    command_timeout: float = 30.0
    verify_tls: bool = True


def make_source(decl: SecretDecl, ctx: SourceContext) -> SecretSource:
    module_name = SOURCE_KINDS.get(decl.kind)
    if module_name is None:
        raise SecretError(decl.name, decl.kind, f"unknown source kind '{decl.kind}'", decl.span)
    module = importlib.import_module(f"{__package__}.{module_name}")
    return module.build(decl, ctx)


def check_value(decl: SecretDecl, source: str, raw: str) -> str:
    """Strip one trailing line ending; refuse other control characters (by position, never value)."""
    if raw.endswith("\r\n"):
        raw = raw[:-2]
    elif raw.endswith("\n"):
        raw = raw[:-1]
    if raw == "":
        raise SecretError(decl.name, source, "the value is empty", decl.span)
    if raw.strip() == "":
        raise SecretError(decl.name, source, "the value is only whitespace", decl.span)
    for i, ch in enumerate(raw):
        code = ord(ch)
        if code < 0x20 or code == 0x7F:
            raise SecretError(
                decl.name, source, f"the value has a control character (U+{code:04X}) at position {i + 1}", decl.span
            )
        if code > 0xFF:
            raise SecretError(
                decl.name,
                source,
                f"the value has a non-latin-1 character (U+{code:04X}) at position {i + 1}; HTTP headers cannot carry it",
                decl.span,
            )
    return raw
