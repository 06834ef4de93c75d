"""The interface every secret source implements, and the registry of kinds."""

from __future__ import annotations

import importlib
import json
import math
import re
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Protocol
from urllib.parse import urlsplit, urlunsplit

from ..errors import RunnerError, SecretError
from ..model import SecretDecl
from ..template import TemplateError

__all__ = [
    "MAX_VALUE_BYTES",
    "SENDS_REQUESTS",
    "SOURCE_KINDS",
    "SecretSource",
    "SecretValue",
    "SourceContext",
    "check_value",
    "clean_text",
    "json_or_none",
    "lifetime_seconds",
    "make_source",
    "redirect_words",
    "resolve_option",
    "seconds_option",
    "source_identity",
    "url_without_query",
]

# A secret value (file, .env file, command output) larger than this is refused: a token
# is a few KB at most, and a bigger input is a mistake (wrong file, /dev/zero, a log).
MAX_VALUE_BYTES = 64 * 1024

# The longest wait a `timeout` option asks for: a larger one (10**400, a typo) means "no
# practical limit", and would overflow thread joins and socket timeouts.
MAX_TIMEOUT_S = 7 * 24 * 3600.0

# The kinds that send a request (a login, a token request): they use the TLS settings
# of where the secret is declared, so those settings are part of which source it is.
SENDS_REQUESTS = frozenset({"http", "oauth2"})

# kind -> module under runner.secrets that defines `build(decl, ctx) -> SecretSource`
SOURCE_KINDS: dict[str, str] = {
    "env": "env_source",
    "file": "file_source",
    "dotenv": "dotenv_source",
    "command": "command_source",
    "keyring": "keyring_source",
    "oauth2": "oauth2_source",
    "http": "http_source",
}


@dataclass(frozen=True, slots=True)
class SecretValue:
    """A resolved secret: its value (never shown), when it expires, what else to mask."""

    value: str = field(repr=False)
    expires_at: float | None = None  # SourceContext.clock() deadline, when the source knows one
    # Other sensitive strings the source handled (an oauth2 client_secret read from
    # ${env:...}, its Basic-auth form): the store registers them with the redactor too.
    also_mask: tuple[str, ...] = field(default=(), repr=False)

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
    # Send a login request: (transport.PreparedRequest) -> ResponseSnapshot, with the
    # run's proxies, CA bundle and stop event (the `http` source).
    send_request: Callable[[Any], Any] | None = None
    command_timeout: float = 30.0
    verify_tls: bool = True  # False under --insecure: no login or token request is verified
    # The config's `defaults.tls` (the --env environment's `tls` when it sets one) and
    # `defaults.verify`: the TLS of a login or token request whose secret the config
    # declares, or a spec that says nothing itself (SecretDecl.tls / .verify win).
    default_tls: Any = None  # model.TlsClient
    default_verify: bool | None = None
    # tlsfiles.ClientCertificates of the run (its private files are removed at its end);
    # made on first use when a library caller gives none.
    client_certs: Any = None
    # The clock `SecretValue.expires_at` is measured on; SecretStore should share it.
    clock: Callable[[], float] = time.monotonic
    # Set on SIGINT/SIGTERM (RunOptions.stop): a running secret command is killed with its
    # process group, an oauth2 Retry-After wait is cut short. Anything with is_set().
    stop: Any = None


def _kind_module(decl: SecretDecl) -> Any:
    module_name = SOURCE_KINDS.get(decl.kind)
    if module_name is None:
        raise SecretError(decl.name, decl.kind, f"unknown source kind '{decl.kind}'", decl.span)
    return importlib.import_module(f"{__package__}.{module_name}")


def make_source(decl: SecretDecl, ctx: SourceContext) -> SecretSource:
    return _kind_module(decl).build(decl, ctx)


def source_identity(decl: SecretDecl) -> tuple:
    """Two declarations with the same identity are one source: fetched once per run.

    The identity is the kind and its options (mappings compared whatever their key
    order), never the secret's name nor where it was declared: the same oauth2 client
    or keyring entry declared in two folders is one token per run. The declaring folder
    joins the identity only when the kind reads a path relative to it; each kind module
    says so with `reads_relative_path(decl) -> bool` (file, dotenv, a command whose
    program is a relative path). A kind module without that function is taken to read
    one (the safe side: two fetches rather than one value shared by mistake). For a
    kind that sends a request (SENDS_REQUESTS), the TLS settings of the spec that
    declares it join too: one login per CA bundle and client certificate.
    """
    try:
        reads_relative = getattr(_kind_module(decl), "reads_relative_path", None)
    except SecretError:
        reads_relative = None  # an unknown kind fails in make_source, with its message
    folder = decl.base_dir if reads_relative is None or reads_relative(decl) else None
    return (decl.kind, _canonical(decl.options), folder, _tls_identity(decl) if decl.kind in SENDS_REQUESTS else None)


def _tls_identity(decl: SecretDecl) -> tuple | None:
    """The TLS a login uses, as far as it is the declaring file's own (None: the config's).
    Where it is written (its span) does not matter; its folder only for templated paths."""
    tls = decl.tls
    if tls is None:
        return None if decl.verify is None else (None, decl.verify)
    from ..tlsfiles import TLS_KEYS

    values = tuple(getattr(tls, key) for key in TLS_KEYS)
    templated = any(v is not None and "$" in v for v in values)
    return (values, tls.base_dir if templated else None, decl.verify)


def _canonical(value: Any) -> str:
    """A text that is equal for equal option values, whatever the order of mapping keys."""

    def walk(v: Any) -> Any:
        if isinstance(v, Mapping):
            return ("{}", sorted(((str(k), walk(x)) for k, x in v.items()), key=lambda kv: kv[0]))
        if isinstance(v, (list, tuple)):
            return ("[]", [walk(x) for x in v])
        return (type(v).__name__, v)

    return repr(walk(value))


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
    # PEM text (a client certificate or key for `tls:`) is lines by nature; it never goes
    # into a header (the transport refuses a line break there), so its newlines are kept.
    pem = raw.startswith("-----BEGIN ")
    for i, ch in enumerate(raw):
        if pem and ch in "\r\n":
            continue
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


def seconds_option(value: Any, default: float) -> float:
    """A source's `timeout` option: a positive number of seconds, else `default`; capped at MAX_TIMEOUT_S."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return float(default)
    try:
        seconds = float(value)
    except OverflowError:  # an int beyond float range
        seconds = math.inf
    if not seconds > 0:  # zero, negative, NaN
        return float(default)
    return min(seconds, MAX_TIMEOUT_S)


def url_without_query(url: str) -> str:
    """A URL for messages: no userinfo, query or fragment (they may carry credentials)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url.split("?", 1)[0].split("#", 1)[0]
    netloc = parts.netloc.rsplit("@", 1)[-1]  # never show userinfo
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def resolve_option(ctx: SourceContext, key: str, value: Any, fail: Callable[[str], SecretError]) -> Any:
    """An option's value with its references resolved; a failure is `fail(reason)`,
    naming the option `key` (and the secret it needed)."""
    try:
        return ctx.resolve_ref(value)
    except SecretError as exc:
        raise fail(f"'{key}' needs secret '{exc.secret}', which failed: {exc.reason}") from None
    except (TemplateError, RunnerError) as exc:
        raise fail(f"cannot resolve '{key}': {exc}") from None


def json_or_none(body: bytes) -> Any:
    """A login or token endpoint's answer as JSON, or None when it is not JSON (UTF-8)."""
    try:
        return json.loads(body.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None


def redirect_words(location: str | None) -> str:
    """`a redirect to URL` (no query string: it may carry a code) for a 3xx answer's Location."""
    shown = url_without_query(clean_text(location or "", 200))
    return f"a redirect{' to ' + shown if shown else ''}"


def lifetime_seconds(raw: Any) -> float | None:
    """`expires_in` as seconds, or None when missing, not a number, zero or negative."""
    if isinstance(raw, bool):
        return None
    try:
        if isinstance(raw, (int, float)):
            seconds = float(raw)
        elif isinstance(raw, str) and raw.strip().isdecimal():  # not isdigit: '²' is a digit float() refuses
            seconds = float(raw.strip())
        else:
            return None
    except OverflowError:  # an integer beyond float range: no usable lifetime
        return None
    if seconds != seconds or seconds <= 0 or seconds == float("inf"):
        return None
    return seconds


_UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def clean_text(text: str, limit: int = 200, *, mask: tuple[str, ...] = (), keep_newlines: bool = False) -> str:
    """Make untrusted text (a command's stderr, a token endpoint's error_description) safe to show.

    Each string in `mask` (and its common encodings) becomes `***`; control characters
    (ESC, CR, bidi overrides...) are removed; newlines are kept or folded to spaces;
    the result is cut to `limit` characters (the start is kept; use a tail slice first
    to keep the end).
    """
    text = text.replace("\r\n", "\n").replace("\t", " ")
    text = _UNSAFE.sub("", text)  # first, so a control character cannot split a secret
    if not keep_newlines:
        text = " ".join(part.strip() for part in text.split("\n") if part.strip())
    if mask:
        from ..redact import Redactor

        redactor = Redactor()
        for value in mask:
            redactor.add(value)
        text = redactor.mask(text)
    text = text.strip()
    if len(text) > limit:
        text = text[: max(0, limit - 3)].rstrip() + "..."
    return text
