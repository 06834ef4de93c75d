"""Building one request: spec + config + vars + captures + secrets -> the request sent,
whose URL is the one shown in reports and `--curl`.

Where things live: this module renders one request (`SpecRenderer`: secrets, values,
base_url, auth, TLS material); `plan.py` what is constant per request (`RequestPlan`) and
the values that hold references; `urls.py` URL joining and encoding; `body.py` the body;
`text.py` `RenderError` and the text form of a value."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping

from .. import model as m
from ..authdiag import SKEW_S, jwt_expired, jwt_expiry
from ..errors import SecretError
from ..template import Scope, render
from .body import _Bodies
from .plan import IDEMPOTENT, RequestPlan, _Planner, refs_of, request_values, tls_values
from .text import RenderError, _text
from .urls import _wire_url, _with_query, is_absolute
from .vars import CONFIG, SEES, SPEC, RequestVars, Shared, Vars, layers_of

if TYPE_CHECKING:
    from ..tlsfiles import ClientCertificates, Material
    from ..redact import Redactor
    from ..secrets.store import SecretStore

__all__ = ["IDEMPOTENT", "RenderError", "Rendered", "RequestPlan", "SpecRenderer", "is_absolute", "refs_of",
           "request_values", "tls_values"]


@dataclass(slots=True)
class Rendered:
    """The request to send, and what the report needs to know about its credentials."""

    prepared: Any  # transport.PreparedRequest
    display_url: str  # the URL sent (unmasked: mask before showing)
    auth_decl: m.SecretDecl | None
    auth_secret: str | None
    token: str | None
    scheme: str | None  # "Bearer", "Basic", header name, or None (no credentials)
    basic: tuple[str, str] | None
    body_text: str | None
    used_secrets: list[str]
    # JWT pre-check: the token's `exp` had passed, so a refreshable source was asked for a
    # new one before sending (no wasted 401); or it could not be, and it was sent expired.
    refreshed_before_send: bool = False
    expired_when_sent: bool = False


_UNSEEN: Any = object()


class SpecRenderer(_Planner, _Bodies):
    """Renders the requests of one spec file for one run (captures accumulate in it)."""

    def __init__(self, spec: m.Spec, shared: Shared, *, environ: Mapping[str, str], store: "SecretStore",
                 redactor: "Redactor", insecure: bool = False, timeout: float | None = None,
                 client_certs: "ClientCertificates | None" = None) -> None:
        from ..transport import ALWAYS_SECRET_HEADERS, PreparedRequest, basic_header

        self._prepared_type = PreparedRequest
        self._basic_header = basic_header
        self._always_secret = ALWAYS_SECRET_HEADERS
        self.spec = spec
        self.shared = shared
        self.store = store
        self.redactor = redactor
        self.insecure = insecure
        self.timeout = timeout
        self.decls: dict[str, m.SecretDecl] = {**shared.secrets, **spec.secrets}
        self.environ = environ
        self._layers = layers_of(spec, shared)
        self._basic_seen: set[tuple[str, str]] = set()
        self._spec_dir = os.path.dirname(os.path.abspath(spec.path))
        self._plans: dict[int, RequestPlan] = {}
        self._row_plans: dict[int, RequestPlan] = {}  # id(ForEach) -> the plan of its first row
        self._defaults: tuple[dict[str, tuple[str, Any, bool]], frozenset[str], frozenset[str]] | None = None
        self._client_certs = client_certs  # shared by the run (temporary files removed at its end)
        self._masked_keys: set[str] = set()  # PEM keys from secrets whose lines self.redactor masks already
        self._expiry: dict[str, tuple[float, float] | None] = {}  # token -> (JWT exp, renew at); None: not a JWT
        self.new_pass()

    def new_pass(self) -> None:
        """Start the file again (`runner load`: each pass of a user): vars are rendered anew and
        there are no captures; the requests' plans and what is decoded per token are kept."""
        environ = self.environ
        self.vars = Vars(self._layers, environ, self._secret)
        self.captures: dict[str, Any] = {}
        self._request_vars = RequestVars(self.captures, self.vars)
        self.scope = Scope(self._request_vars, environ, self._secret)
        # an included request's own vars are rendered where the include is: spec vars and captures
        outer = Scope(RequestVars(self.captures, self.vars), environ, self._secret)
        self._request_vars.render_local = lambda raw: render(raw, outer)
        self._used: list[str] = []
        self._base: tuple[str | None] | None = None

    # -- secrets
    def decl(self, name: str) -> m.SecretDecl:
        decl = self.decls.get(name)
        if decl is None:
            raise SecretError(name, "nowhere", "it is not declared in the spec's or the config's secrets")
        return decl

    def _secret(self, name: str) -> str:
        value = self.store.get(self.decl(name))
        self._used.append(name)
        return value

    # -- values
    def value(self, value: Any) -> Any:
        """A value rendered in the scope of the next request (expectation operands, JSONPaths)."""
        if isinstance(value, str) and "$" not in value:
            return value
        return render(value, self.scope)

    def base_url(self) -> str | None:
        """The spec's base_url, else the environment's or the config's: rendered once."""
        if self._base is None:
            spec_base = self.spec.base_url
            if spec_base is not None:
                value = render(spec_base, Scope(self.vars.view(SEES[SPEC]), self.environ, self._secret))
            elif self.shared.base_url is not None:
                value = render(self.shared.base_url, Scope(self.vars.view(SEES[CONFIG]), self.environ, self._secret))
            else:
                value = None
            self._base = (None if value is None else _text(value),)
        return self._base[0]

    # -- rendering
    def render(self, plan: RequestPlan) -> Rendered:
        """The request to send. Raises SecretError, TemplateError or RenderError."""
        try:
            return self._render(plan)
        except UnicodeEncodeError as exc:  # a captured JSON string with a lone surrogate ("\udc00")
            char = f"U+{ord(exc.object[exc.start]):04X}" if isinstance(exc.object, str) else "a character"
            raise RenderError(f"a value is not valid Unicode text ({char} cannot be encoded)") from None

    def enter(self, req: m.RequestDef) -> None:
        """Values rendered from now on (the request, then its expectations) see this
        request's row (`for_each`) and fragment vars (`include`)."""
        rv = self._request_vars
        rv.row = req.row
        rv.local = req.included.vars if req.included is not None else {}

    def _render(self, plan: RequestPlan) -> Rendered:
        req = plan.req
        self.enter(req)
        self._used = []
        val = self.value
        url = _text(val(req.url))
        if not is_absolute(url):
            base = self.base_url()
            if not base:
                # masked before it is cut: a cut secret would not be recognised (nor a short one)
                shown = self.redactor.mask_built(url)[:80]
                raise RenderError(f"relative URL {shown!r} and no base_url (spec, config or environment)")
            url = base.rstrip("/") + "/" + url.lstrip("/")
        params: list[tuple[str, str]] = []
        for name, value in req.query:
            name = _text(val(name))
            value = val(value)
            if isinstance(value, (list, tuple)):
                params.extend((name, _text(v)) for v in value)
            else:
                params.append((name, _text(value)))
        url = _wire_url(_with_query(url, params))
        headers: list[tuple[str, str]] = [
            (name, _text(val(value)) if dynamic else value) for name, value, dynamic in plan.headers
        ]

        # auth
        auth = plan.auth
        decl = token = scheme = None
        basic = digest = None
        auth_secret = None
        fresh: tuple[bool, bool] = (False, False)
        if isinstance(auth, m.BearerAuth):
            auth_secret = auth.secret
            decl = self.decl(auth.secret)
            token, fresh = self._unexpired(decl)
            scheme = "Bearer"
            headers = [h for h in headers if h[0].lower() != "authorization"]
            headers.append(("Authorization", "Bearer " + token))
        elif isinstance(auth, m.HeaderAuth):
            auth_secret = auth.secret
            decl = self.decl(auth.secret)
            token, fresh = self._unexpired(decl)
            scheme = auth.name
            headers = [h for h in headers if h[0].lower() != auth.name.lower()]
            headers.append((auth.name, token))
        elif isinstance(auth, m.BasicAuth):
            auth_secret = auth.password_secret
            decl = self.decl(auth.password_secret)
            token = self.store.get(decl)
            user = _text(val(auth.username))
            if (user, token) not in self._basic_seen:
                self.redactor.add_basic(user, token)
                self._basic_seen.add((user, token))
            scheme = "Basic"
            basic = (user, token)
            try:
                value = self._basic_header(user, token)
            except UnicodeEncodeError:
                raise RenderError("basic auth: the username is not latin-1 text") from None
            headers = [h for h in headers if h[0].lower() != "authorization"]
            headers.append(("Authorization", value))
        elif isinstance(auth, m.DigestAuth):
            auth_secret = auth.password_secret
            decl = self.decl(auth.password_secret)
            token = self.store.get(decl)
            user = _text(val(auth.username))
            scheme = "Digest"
            digest = (user, token)
            headers = [h for h in headers if h[0].lower() != "authorization"]

        material = self._tls(plan.tls) if plan.tls is not None else None
        data, files, body_text = self._body(req.body, headers)
        prepared = self._prepared_type(
            method=req.method.upper(),
            url=url,
            headers=headers,
            data=data,
            files=files,
            timeout=plan.timeout,
            follow_redirects=plan.follow,
            verify=plan.verify,
            max_body=plan.max_body,
            secret_header_names=plan.secret_headers,
            cert=material.cert if material is not None else None,
            ca_file=material.ca_file if material is not None else None,
            digest=digest,
        )
        return Rendered(prepared, url, decl, auth_secret, token, scheme, basic, body_text, self._used, *fresh)

    def _unexpired(self, decl: m.SecretDecl) -> tuple[str, tuple[bool, bool]]:
        """The token, refreshed first when it is a JWT whose `exp` has passed or is near (60 s
        leeway, or half the life it had when first seen if that is shorter: a 30 s token is used
        for 15 s, not refreshed before every request) and its source can give a new one.
        (token, (refreshed_before_send, expired_when_sent))."""
        token = self.store.get(decl)
        known = self._expiry.get(token, _UNSEEN)
        if known is _UNSEEN:  # decoded once per token, not per request
            exp = jwt_expiry(token)
            known = None if exp is None else (exp, exp - min(SKEW_S, max(0.0, exp - time.time()) / 2))
            self._expiry[token] = known
        if known is None or time.time() < known[1]:
            return token, (False, False)
        exp = known[0]
        # "expired when sent" is said only of an exp that has really passed (no leeway)
        if not self.store.refreshable(decl):
            return token, (False, time.time() >= exp)
        token = self.store.refresh(decl, token)  # single-flight; never more than once per value
        return token, (True, jwt_expired(token, time.time(), leeway=0.0))

    def _tls(self, tls: m.TlsClient) -> "Material":
        """The client certificate and CA files for a `tls:` block, checked before sending.
        A problem is a SecretError (AUTH, exit 3): the credential cannot be used."""
        from ..tlsfiles import ClientCertificates, TlsMaterialError, inputs_of

        if self._client_certs is None:
            self._client_certs = ClientCertificates()  # a library caller without a run: removed at exit
        inputs = inputs_of(tls, lambda _key, raw: _text(self.value(raw)))
        key = inputs.values["key"]
        if inputs.key_lines and key is not None and key not in self._masked_keys:
            # once per key, before it is used (each add recomputes the redactor's patterns:
            # per request, that would cost `runner load` more than the request itself)
            for line in inputs.key_lines:
                self.redactor.add(line)
            self._masked_keys.add(key)
        try:
            return self._client_certs.prepare(**inputs.values)
        except TlsMaterialError as exc:
            secret = inputs.secret_about(exc) or exc.what
            where = tls.pkcs12 or tls.cert or "a secret"
            source = "client certificate " + (where if "${secret:" not in where else "from a secret")
            raise SecretError(secret, source, exc.message, tls.span) from None
