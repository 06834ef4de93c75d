"""The typed, immutable model of a loaded spec and config file.

Built by `_build.py` from validated YAML; read by the engine and the reporters.
Values that may hold `${...}` references are kept as loaded (str, int, list,
dict ...) and rendered by `template.render` at run time. JSON-like payloads are
never mutated after loading. Every node carries the `Span` it came from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Union

from .source import Span

__all__ = [
    "DEFAULT_TIMEOUT",
    "DEFAULT_MAX_BODY",
    "SecretDecl",
    "BearerAuth",
    "NoAuth",
    "HeaderAuth",
    "BasicAuth",
    "Auth",
    "TlsClient",
    "DigestAuth",
    "Defaults",
    "JsonBody",
    "FormBody",
    "RawBody",
    "FilePart",
    "FilesBody",
    "Body",
    "Retry",
    "Predicate",
    "StatusExpect",
    "HeaderCheck",
    "JsonCheck",
    "SchemaCheck",
    "Expect",
    "Capture",
    "ForEach",
    "Row",
    "Included",
    "RequestDef",
    "Spec",
    "Environment",
    "Config",
    "OpenAPIRef",
]

DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_BODY = 10 * 1024 * 1024

Pairs = tuple[tuple[str, Any], ...]  # ordered (name, value-or-template) pairs


@dataclass(frozen=True, slots=True)
class SecretDecl:
    """A named secret source, as declared in a spec's or the config's `secrets:`.

    `kind` is one of env, file, dotenv, command, keyring, oauth2; `options` is the
    mapping under the secret (e.g. {"env": "PETS_API_TOKEN"} or {"dotenv": ".env",
    "key": "TOKEN"}). `base_dir` resolves relative paths (file, dotenv).
    """

    name: str
    kind: str
    options: Mapping[str, Any]
    span: Span
    base_dir: str  # which declarations are one source: secrets.base.source_identity
    # A source that sends a request (http, oauth2) uses the TLS of where it is declared:
    # a spec's own `defaults.tls` / `defaults.verify` are set here when the spec declares
    # the secret; None means "not said there", so the config's (with --env's tls) apply.
    tls: TlsClient | None = None
    verify: bool | None = None


@dataclass(frozen=True, slots=True)
class BearerAuth:
    """`auth: {bearer: NAME}`: an Authorization: Bearer header from the named secret."""

    secret: str
    span: Span | None = None


@dataclass(frozen=True, slots=True)
class NoAuth:
    """`auth: none`: no credential header at all, not even one from the defaults."""

    span: Span | None = None


@dataclass(frozen=True, slots=True)
class HeaderAuth:
    """`auth: {header: NAME, secret: S}`: the secret sent as-is in a header of that name."""

    name: str
    secret: str
    span: Span | None = None


@dataclass(frozen=True, slots=True)
class BasicAuth:
    """`auth: {basic: ...}`: HTTP Basic with a username (a template) and a password secret."""

    username: str  # may be a template
    password_secret: str
    span: Span | None = None


@dataclass(frozen=True, slots=True)
class DigestAuth:
    """HTTP Digest (RFC 7616, as requests does it): the password from a named secret."""

    username: str  # may be a template
    password_secret: str
    span: Span | None = None


Auth = Union[BearerAuth, NoAuth, HeaderAuth, BasicAuth, DigestAuth]


@dataclass(frozen=True, slots=True)
class TlsClient:
    """`tls:` a client certificate (mTLS) and/or a CA bundle.

    `cert`, `key` and `ca` are paths (made absolute at load) or templates rendered at run
    time: a rendered value that starts with `-----BEGIN` is PEM text (a `${secret:...}`),
    anything else a path, relative to `base_dir`. `pkcs12` is a .p12/.pfx path;
    `password` (PEM key) and `pkcs12_password` are templates (`${secret:...}`).
    """

    cert: str | None = None
    key: str | None = None
    password: str | None = None
    ca: str | None = None
    pkcs12: str | None = None
    pkcs12_password: str | None = None
    base_dir: str = "."
    span: Span | None = None


@dataclass(frozen=True, slots=True)
class Retry:
    """`retry:` how often to try a request, and how long to wait between tries."""

    attempts: int  # every try, including the first
    delay: float  # seconds between tries


@dataclass(frozen=True, slots=True)
class Defaults:
    """`defaults:` of a spec or the config: what every request gets unless it says otherwise."""

    timeout: float | None = None
    headers: Pairs = ()
    follow_redirects: bool | None = None
    max_body: int | None = None
    retry: Retry | None = None
    verify: bool | None = None  # TLS verification; None means "not said" (verified)
    tls: TlsClient | None = None  # client certificate / CA bundle; the nearest one wins whole


@dataclass(frozen=True, slots=True)
class JsonBody:
    """`json:` a body sent as JSON; strings inside may hold templates."""

    value: Any


@dataclass(frozen=True, slots=True)
class FormBody:
    """`form:` a body sent as application/x-www-form-urlencoded."""

    fields: Pairs


@dataclass(frozen=True, slots=True)
class RawBody:
    """`body:` a text body sent as written (after templates), with an optional content type."""

    text: str
    content_type: str | None = None


@dataclass(frozen=True, slots=True)
class FilePart:
    """One file of a multipart `files:` body: from a path, or inline content."""

    field: str
    path: str | None  # absolute, resolved against the spec's directory
    content: str | None  # inline content (a template), when no path
    filename: str | None = None
    content_type: str | None = None


@dataclass(frozen=True, slots=True)
class FilesBody:
    """`files:` a multipart/form-data body: the files and any plain fields."""

    files: tuple[FilePart, ...]
    fields: Pairs = ()  # extra plain form fields sent with the files


Body = Union[JsonBody, FormBody, RawBody, FilesBody]


@dataclass(frozen=True, slots=True)
class Predicate:
    """One test on a value: op is eq, ne, gt, ge, lt, le, in, contains, matches, type, length, exists."""

    op: str
    operand: Any
    span: Span | None = None


@dataclass(frozen=True, slots=True)
class StatusExpect:
    """`expect.status`: the codes and classes (`2xx`) a response may have."""

    codes: tuple[int, ...] = ()
    classes: tuple[int, ...] = ()  # 2 for "2xx"
    span: Span | None = None

    def matches(self, status: int) -> bool:
        """True when `status` is expected, by code or by class: "4xx" expects a 401 (no AUTH)."""
        return status in self.codes or status // 100 in self.classes

    def describe(self) -> str:
        parts = [str(c) for c in self.codes] + [f"{c}xx" for c in self.classes]
        return " or ".join(parts)


@dataclass(frozen=True, slots=True)
class HeaderCheck:
    """`expect.headers`: the tests on one response header."""

    name: str
    predicates: tuple[Predicate, ...]
    span: Span | None = None


@dataclass(frozen=True, slots=True)
class JsonCheck:
    """`expect.json`: the tests on what a JSONPath selects in the body."""

    path: str  # RFC 9535 JSONPath; may contain ${...}
    predicates: tuple[Predicate, ...]
    span: Span | None = None


@dataclass(frozen=True, slots=True)
class SchemaCheck:
    """A JSON Schema for the body: `schema` is the loaded document; `source` names it."""

    schema: Any
    source: str  # the file path (absolute, to read its $refs), or "inline"
    span: Span | None = None
    written: str = ""  # the path as the spec wrote it (relative to the spec), for reports

    @property
    def subject(self) -> str:
        """How reports name this check: `schema`, or `schema schemas/pet.json` as written."""
        return "schema" if self.source == "inline" else f"schema {self.written or self.source}"


@dataclass(frozen=True, slots=True)
class Expect:
    """`expect:` everything a response is checked against."""

    status: StatusExpect | None = None
    headers: tuple[HeaderCheck, ...] = ()
    json: tuple[JsonCheck, ...] = ()
    schema: SchemaCheck | None = None
    body: tuple[Predicate, ...] = ()
    max_ms: float | None = None


@dataclass(frozen=True, slots=True)
class Capture:
    """`capture:` a value taken from the response (JSONPath or header) into a variable."""

    name: str
    jsonpath: str | None = None
    header: str | None = None
    span: Span | None = None


@dataclass(frozen=True, slots=True)
class OpenAPIRef:
    """An `openapi:` key: the document's absolute path, as named (for messages), and where the key is."""

    path: str
    shown: str
    span: Span | None = None


@dataclass(frozen=True, slots=True)
class ForEach:
    """The rows of a `for_each` request: one step each (`${item}`, `${index}`)."""

    items: tuple[Any, ...]
    source: str  # "inline", or the data file as the spec wrote it
    span: Span | None = None


@dataclass(frozen=True, slots=True)
class Row:
    """One row of a `for_each`: the request is run once with it."""

    item: Any
    index: int  # 0-based, as `${index}`
    of: ForEach


@dataclass(frozen=True, slots=True)
class Included:
    """Where a request spliced in by `include:` comes from: the fragment file, its
    positions, the include sites (outermost first) and the vars it was given."""

    file: str  # the fragment as the including file wrote it (for report lines)
    path: str  # the fragment's path (for error positions)
    chain: tuple[Span, ...]  # the `include:` lines that led here, outermost first
    vars: Mapping[str, Any] = field(default_factory=dict)  # the fragment's vars, then the include's
    source_map: Any = field(default=None, compare=False, repr=False)  # the fragment's SourceMap


@dataclass(frozen=True, slots=True)
class RequestDef:
    """One request of a spec file, as written (templates unrendered)."""

    name: str
    index: int  # 0-based position in the file
    method: str = "GET"
    url: str = "/"
    query: Pairs = ()
    headers: Pairs = ()
    auth: Auth | None = None  # None: inherit the spec's auth
    body: Body | None = None
    timeout: float | None = None
    follow_redirects: bool | None = None
    max_body: int | None = None
    retry: Retry | None = None
    tls: TlsClient | None = None
    expect: Expect = field(default_factory=Expect)
    captures: tuple[Capture, ...] = ()
    skip: str | None = None
    tags: tuple[str, ...] = ()
    span: Span | None = None
    openapi: bool = True  # `openapi: false` opts this request out of the conformance check
    row: Row | None = None  # set on each request a `for_each` made
    yaml_path: tuple = ()  # where it is written in its file (default: ("requests", index))
    included: Included | None = None  # set on requests an `include:` spliced in

    @property
    def where(self) -> tuple:
        """The request's path in the file it is written in."""
        return self.yaml_path or ("requests", self.index)


@dataclass(frozen=True, slots=True)
class Spec:
    """A loaded spec file: its requests, secrets, auth, defaults and vars."""

    path: str
    name: str
    requests: tuple[RequestDef, ...]
    version: int = 1
    base_url: str | None = None
    tags: tuple[str, ...] = ()
    secrets: Mapping[str, SecretDecl] = field(default_factory=dict)
    auth: Auth | None = None
    defaults: Defaults = field(default_factory=Defaults)
    vars: Mapping[str, Any] = field(default_factory=dict)
    span: Span | None = None
    openapi: OpenAPIRef | bool | None = None  # a document, False (off even if the config names one), None (the config's)
    weight: int = 1  # `runner load`: how many users this file gets relative to the others


@dataclass(frozen=True, slots=True)
class Environment:
    """One `environments:` entry of the config, chosen with --env."""

    name: str
    base_url: str | None = None
    openapi: OpenAPIRef | None = None
    vars: Mapping[str, Any] = field(default_factory=dict)
    secrets: Mapping[str, SecretDecl] = field(default_factory=dict)
    tls: TlsClient | None = None  # over the config's defaults.tls
    span: Span | None = None


@dataclass(frozen=True, slots=True)
class Config:
    """The config file (`runner.yaml`): what every spec of the run shares."""

    path: str | None = None
    base_url: str | None = None
    vars: Mapping[str, Any] = field(default_factory=dict)
    secrets: Mapping[str, SecretDecl] = field(default_factory=dict)
    defaults: Defaults = field(default_factory=Defaults)
    environments: Mapping[str, Environment] = field(default_factory=dict)
    openapi: OpenAPIRef | None = None
