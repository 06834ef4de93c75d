"""Why a credential was refused, in plain words: WWW-Authenticate, JWT claims, hints.

    parse_challenges(["Bearer realm=\"x\", error=\"invalid_token\"", ...]) -> (Challenge, ...)
    fingerprint(token) -> "sha256:1a2b3c4d"
    jwt_claims(token) -> dict | None          unverified; malformed -> None, silently
    token_notes(claims, now=...) -> [...]      "expired 2 h 14 min ago (2026-11-28T10:00:00Z), unverified"
    hint_for(status, challenges, sent_scheme, auth_none=False) -> str | None
    diagnose(...) -> AuthDiagnosis

Nothing here ever returns or echoes the token itself.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import time
from datetime import datetime, timezone
from typing import Any, Iterable, Sequence

from .results import AuthDiagnosis, Challenge
from .source import Span

__all__ = [
    "parse_challenges",
    "fingerprint",
    "jwt_claims",
    "token_notes",
    "hint_for",
    "diagnose",
    "human_duration",
    "SKEW_S",
    "jwt_expired",
    "jwt_expiry",
]

SKEW_S = 60.0
_TCHAR = set("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_TOKEN68 = _TCHAR | set("/=")
_MAX_VALUE = 200


# --------------------------------------------------------------------------- WWW-Authenticate


class _Scanner:
    def __init__(self, text: str) -> None:
        self.s = text
        self.i = 0

    def ws(self) -> None:
        while self.i < len(self.s) and self.s[self.i] in " \t":
            self.i += 1

    def peek(self) -> str:
        return self.s[self.i] if self.i < len(self.s) else ""

    def token(self, chars=_TCHAR) -> str:
        start = self.i
        while self.i < len(self.s) and self.s[self.i] in chars:
            self.i += 1
        return self.s[start : self.i]

    def quoted(self) -> str:
        """A quoted-string (the opening quote is current); backslash escapes any char."""
        self.i += 1
        out = []
        while self.i < len(self.s):
            ch = self.s[self.i]
            if ch == "\\" and self.i + 1 < len(self.s):
                out.append(self.s[self.i + 1])
                self.i += 2
                continue
            if ch == '"':
                self.i += 1
                break
            out.append(ch)
            self.i += 1
        return "".join(out)

    def at_param(self) -> bool:
        """True when the next thing is `name =` (an auth-param), not a new scheme."""
        save = self.i
        name = self.token()
        self.ws()
        ok = bool(name) and self.peek() == "="
        if ok:  # token68 ends in '='s not followed by a value: "abc==" then ',' or end
            j = self.i
            while j < len(self.s) and self.s[j] == "=":
                j += 1
            if j - self.i > 1:
                ok = False
        self.i = save
        return ok


def _clip(value: str) -> str:
    value = "".join(ch if ch.isprintable() else " " for ch in value)
    return value if len(value) <= _MAX_VALUE else value[: _MAX_VALUE - 3] + "..."


def parse_challenges(headers: Iterable[str]) -> tuple[Challenge, ...]:
    """Every challenge in every WWW-Authenticate header value (RFC 7235 section 4.1)."""
    out: list[Challenge] = []
    for header in headers:
        sc = _Scanner(header or "")
        while True:
            while sc.peek() in (" ", "\t", ","):
                sc.i += 1
            if not sc.peek():
                break
            scheme = sc.token()
            if not scheme:  # garbage: skip one char and go on
                sc.i += 1
                continue
            params: list[tuple[str, str]] = []
            sc.ws()
            # token68 form: "Negotiate abc123=="
            if sc.peek() and sc.peek() != "," and not sc.at_param():
                save = sc.i
                t68 = sc.token(_TOKEN68)
                sc.ws()
                if t68 and sc.peek() in ("", ","):
                    params.append(("token68", _clip(t68)))
                else:
                    sc.i = save
            while sc.at_param():
                name = sc.token()
                sc.ws()
                sc.i += 1  # '='
                sc.ws()
                value = sc.quoted() if sc.peek() == '"' else sc.token()
                params.append((name.lower(), _clip(value)))
                sc.ws()
                if sc.peek() == ",":
                    sc.i += 1
                    sc.ws()
                    while sc.peek() == ",":
                        sc.i += 1
                        sc.ws()
                else:
                    break
            out.append(Challenge(scheme, tuple(params)))
    return tuple(out)


# --------------------------------------------------------------------------- tokens


def fingerprint(token: str) -> str:
    return "sha256:" + hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()[:8]


def _b64url(part: str) -> bytes:
    part = part.strip()
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def jwt_claims(token: str) -> dict[str, Any] | None:
    """The JWT payload, decoded WITHOUT verifying anything. Malformed -> None, silently."""
    try:
        parts = token.split(".")
        if len(parts) != 3 or not parts[1] or len(token) > 16384:
            return None
        header = json.loads(_b64url(parts[0]))
        claims = json.loads(_b64url(parts[1]))
        if not isinstance(header, dict) or not isinstance(claims, dict):
            return None
        return claims
    except (ValueError, binascii.Error, UnicodeDecodeError, RecursionError, TypeError):
        return None


def jwt_expiry(token: str) -> float | None:
    """A JWT's `exp` claim (unverified), or None: not a JWT, or no usable `exp`."""
    if token.count(".") != 2:
        return None  # the common case, an opaque token: no decoding at all
    claims = jwt_claims(token)
    return _num(claims.get("exp")) if claims is not None else None


def jwt_expired(token: str, now: float, leeway: float = SKEW_S) -> bool:
    """Whether a JWT's `exp` (unverified) has passed, or passes within `leeway` seconds:
    sending it would most likely earn a 401. Not a JWT, or no `exp`: False."""
    exp = jwt_expiry(token)
    return exp is not None and now >= exp - leeway


def human_duration(seconds: float) -> str:
    s = int(abs(seconds))
    if s < 60:
        return f"{s} s"
    m, s = divmod(s, 60)
    if m < 60:
        return f"{m} min"
    h, m = divmod(m, 60)
    if h < 48:
        return f"{h} h {m} min" if m else f"{h} h"
    d, h = divmod(h, 24)
    return f"{d} d {h} h" if h else f"{d} d"


def _iso(ts: float) -> str:
    try:
        return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, OSError, ValueError):
        return str(ts)


def _num(value: Any) -> float | None:
    """A finite number claim; anything else (json.loads reads 1e400 and NaN) is ignored."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:  # an int too large for a float
        return None
    return number if math.isfinite(number) else None


def _names(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def token_notes(claims: dict[str, Any] | None, *, now: float | None = None, audience: str | None = None) -> list[str]:
    """What the (unverified) claims say, in plain words; +-60 s clock skew allowed."""
    if not claims:
        return []
    now = time.time() if now is None else now
    notes: list[str] = []
    exp = _num(claims.get("exp"))
    if exp is not None:
        if now > exp + SKEW_S:
            notes.append(f"expired {human_duration(now - exp)} ago ({_iso(exp)}), unverified")
        elif now >= exp - SKEW_S:
            notes.append(f"expires about now ({_iso(exp)}), unverified")
        else:
            notes.append(f"expires in {human_duration(exp - now)} ({_iso(exp)}), unverified")
    nbf = _num(claims.get("nbf"))
    if nbf is not None and nbf > now + SKEW_S:
        notes.append(f"not valid before {_iso(nbf)} (in {human_duration(nbf - now)}), unverified")
    iat = _num(claims.get("iat"))
    if iat is not None and iat > now + SKEW_S:
        notes.append(f"issued in the future ({_iso(iat)}): clock skew?")
    auds = _names(claims.get("aud"))
    if auds:
        shown = ", ".join(f"'{_clip(a)[:80]}'" for a in auds[:5])
        if audience is not None and audience not in auds:
            notes.append(f"audience {shown}, expected '{_clip(audience)[:80]}'")
        else:
            notes.append(f"audience {shown}")
    iss = claims.get("iss")
    if isinstance(iss, str) and iss:
        notes.append(f"issuer '{_clip(iss)[:80]}'")
    return notes


# --------------------------------------------------------------------------- hints


def hint_for(status: int, challenges: Sequence[Challenge], sent_scheme: str | None, *,
             auth_none: bool = False) -> str | None:
    """`sent_scheme`: "Bearer", "Basic", another scheme or header name, or None when no
    credential went out; `auth_none`: the request said `auth: none` (else it had no auth)."""
    errors = {(c.param("error") or "").lower() for c in challenges}
    schemes = {c.scheme.lower() for c in challenges}
    if sent_scheme is None and status in (401, 403):  # no token to have been accepted or refused
        scope = next((c.param("scope") for c in challenges if c.param("scope")), None)
        why = " (auth: none)" if auth_none else ": the request has no auth (add `auth:` to it or to the spec)"
        return f"no credentials were sent{why}" + (f"; the server asks for scope {scope}" if scope else "")
    if status == 401 and sent_scheme is not None:
        if not challenges:
            return "no challenge: token missing, expired or wrong audience?"
        if sent_scheme.lower() == "bearer" and "bearer" not in schemes and "basic" in schemes:
            return "endpoint expects Basic"
        if sent_scheme.lower() == "basic" and "basic" not in schemes and "bearer" in schemes:
            return "endpoint expects a Bearer token"
        if "invalid_token" in errors:
            return "token rejected (invalid_token): expired, revoked or for another audience"
        return None
    if status == 403:
        for c in challenges:
            if (c.param("error") or "").lower() == "insufficient_scope":
                scope = c.param("scope")
                return f"token accepted but lacks scope {scope}" if scope else "token accepted but lacks the required scope"
        return "token accepted but lacks permission"
    if status == 400 and "invalid_request" in errors:
        return "invalid_request: malformed credentials (token sent twice, or in the wrong place?)"
    return None


def diagnose(
    *,
    status: int,
    www_authenticate: Iterable[str],
    token: str | None,
    secret: str | None,
    source: str | None,
    declared_at: Span | None = None,
    sent_scheme: str | None = None,
    now: float | None = None,
    refreshed: bool = False,
    expired_when_sent: bool = False,
    auth_none: bool = False,
) -> AuthDiagnosis:
    challenges = parse_challenges(www_authenticate)
    notes: tuple[str, ...] = ()
    fp = None
    if token:
        fp = fingerprint(token)
        claims = jwt_claims(token)
        if claims is not None:
            notes = tuple("JWT " + n for n in token_notes(claims, now=now))
            if expired_when_sent:
                # its source could not give an unexpired one: the runner sent it anyway, and says so
                notes = notes + ("JWT was already expired when it was sent",)
    return AuthDiagnosis(
        secret=secret,
        source=source,
        fingerprint=fp,
        challenges=challenges,
        token_notes=notes,
        hint=hint_for(status, challenges, sent_scheme, auth_none=auth_none),
        refreshed=refreshed,
        declared_at=declared_at,
    )
