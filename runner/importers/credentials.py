"""Credentials found in an input become env secrets: the YAML names them, never holds them.

`Credentials` hands out `${secret:NAME}` references, remembers every value it took
so that `scrub` can replace the same value wherever else it appears (a token echoed in
a URL or a body), and lists the environment variables the user must set.
"""

from __future__ import annotations

import re
from typing import Any

from .specdata import ImportedSpec

__all__ = ["Credentials", "is_secret_name"]

# Header and query parameter names that carry credentials (x-api-key, api_key, token,
# x-auth-token, x-csrf-token, session, signature, password, ...).
_SECRET_NAME = re.compile(
    r"(^|[-_.])(api[-_]?key|apikey|key|token|access[-_]?token|auth|authorization|secret|password|passwd|pwd|"
    r"session|sessionid|sid|csrf|xsrf|signature|sig|credential|credentials|jwt|bearer)([-_.]|$)"
    r"|api[-_]?key|token|secret|password|session|signature|credential",
    re.IGNORECASE,
)
_MIN_SCRUB = 4  # shorter values are too likely to be ordinary words


def is_secret_name(name: str) -> bool:
    return name.lower() in ("authorization", "cookie", "proxy-authorization") or bool(_SECRET_NAME.search(name))


def env_name(text: str) -> str:
    name = re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").upper()
    if not name or name[0].isdigit():
        name = "SECRET_" + name
    return name


class Credentials:
    def __init__(self) -> None:
        self.env_vars: dict[str, str] = {}      # ENV_NAME -> what to put in it
        self._secret_of_env: dict[str, str] = {}
        self._values: dict[str, str] = {}       # credential value -> secret name

    def secret(self, env: str, what: str, value: str | None = None) -> str:
        """The secret name for env variable `env` (declared once), remembering `value`."""
        env = env_name(env)
        name = self._secret_of_env.get(env)
        if name is None:
            name = env.lower()
            self._secret_of_env[env] = name
            self.env_vars[env] = what
        if value and len(value) >= _MIN_SCRUB:
            self._values.setdefault(value, name)
        return name

    def ref(self, env: str, what: str, value: str | None = None) -> str:
        return "${secret:" + self.secret(env, what, value) + "}"

    def header(self, name: str, value: str) -> tuple[str, Any]:
        """(kind, data) for one credential header: ("bearer", secret), ("basic", {...}) or
        ("header", "${secret:...}") for the header's value."""
        lower = name.lower()
        if lower == "authorization":
            scheme, _, token = value.strip().partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return "bearer", self.secret("API_TOKEN", "the bearer token (Authorization: Bearer ...)", token.strip())
            if scheme.lower() == "basic" and token.strip():
                name = self.secret("API_AUTHORIZATION", "the whole Authorization header value (Basic ...)", value)
                self.remember(token.strip(), name)
                return "header", "${secret:" + name + "}"
            return "header", self.ref("API_AUTHORIZATION", "the whole Authorization header value", value)
        if lower == "cookie":
            return "header", self.ref("COOKIE_SESSION", "the Cookie header's value (name=value; ...)", value)
        return "header", self.ref(name, f"the {name} header's value", value)

    def query(self, name: str, value: str) -> str:
        return self.ref(f"{name}", f"the {name} query parameter's value", value)

    def remember(self, value: str, secret: str | None = None) -> None:
        """Also scrub `value` (a Basic header's base64, a password) wherever it appears."""
        if value and len(value) >= _MIN_SCRUB and value not in self._values and (secret or self._secret_of_env):
            self._values[value] = secret or next(reversed(self._secret_of_env.values()))

    def scrub(self, spec: ImportedSpec) -> None:
        """Replace every remembered credential value left anywhere in the spec's data."""
        if not self._values:
            return
        ordered = sorted(self._values.items(), key=lambda kv: -len(kv[0]))
        spec.base_url = self._scrub_value(spec.base_url, ordered)
        spec.headers = self._scrub_value(spec.headers, ordered)
        spec.vars = self._scrub_value(spec.vars, ordered)
        for request in spec.requests:
            request.data = self._scrub_value(request.data, ordered)

    def _scrub_value(self, value: Any, ordered: list[tuple[str, str]]) -> Any:
        if isinstance(value, str):
            for secret_value, name in ordered:
                if secret_value in value:
                    value = value.replace(secret_value, "${secret:" + name + "}")
            return value
        if isinstance(value, list):
            return [self._scrub_value(v, ordered) for v in value]
        if isinstance(value, dict):
            return {self._scrub_value(k, ordered): self._scrub_value(v, ordered) for k, v in value.items()}
        return value
