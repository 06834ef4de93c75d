"""`env: NAME`: the value of an environment variable. Unset or empty is an error."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import SecretError
from ..model import SecretDecl
from .base import SecretValue, SourceContext, check_value


@dataclass(slots=True)
class EnvSource:
    decl: SecretDecl
    variable: str
    ctx: SourceContext
    refreshable: bool = False

    def describe(self) -> str:
        return f"env {self.variable}"

    def env_name(self) -> str | None:
        return self.variable

    def fetch(self) -> SecretValue:
        raw = self.ctx.environ.get(self.variable)
        if raw is None:
            raise SecretError(self.decl.name, self.describe(), f"environment variable {self.variable} is not set", self.decl.span)
        if raw == "":
            raise SecretError(self.decl.name, self.describe(), f"environment variable {self.variable} is empty", self.decl.span)
        return SecretValue(check_value(self.decl, self.describe(), raw))


def reads_relative_path(decl: SecretDecl) -> bool:
    """An environment variable is the same from every folder: see base.source_identity."""
    return False


def build(decl: SecretDecl, ctx: SourceContext) -> EnvSource:
    return EnvSource(decl, str(decl.options["env"]), ctx)
