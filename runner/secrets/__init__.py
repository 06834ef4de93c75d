"""Named secret sources. One module per source kind, all behind `SecretSource`.

`make_source(decl, ctx)` builds the source a declaration names; `SecretStore`
resolves each source once per run, shares it across spec files, and refreshes
refreshable sources (command, oauth2) on demand or shortly before expiry.
"""

from .base import SecretSource, SecretValue, SourceContext, make_source, SOURCE_KINDS
from .store import SecretStore

__all__ = ["SOURCE_KINDS", "SecretSource", "SecretStore", "SecretValue", "SourceContext", "make_source"]
