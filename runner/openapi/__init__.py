"""OpenAPI conformance: the document, matching a request to its operation, the verdict.

    load_contract(path, shown=None) -> Contract     raises SpecError (positioned)

    document.py     safe loading, $ref checks (local files under the document's folder only), positions
    match.py        method + path template (concrete wins), base paths, the static check
    conformance.py  a response against its operation: status, required headers, JSON body
    validators.py   the only user of openapi-schema-validator / openapi-spec-validator here
"""

from __future__ import annotations

from ..errors import SpecError
from ..source import Diagnostic
from .conformance import Contract, Violation, is_json
from .document import Document, Loc, load_document

__all__ = ["Contract", "Document", "Violation", "is_json", "load_contract", "load_document"]


def load_contract(path: str, shown: str | None = None) -> Contract:
    """The document at `path`, read and checked against the OpenAPI schema, ready to judge responses."""
    from .validators import document_problems

    doc = load_document(path, shown)
    problems = document_problems(doc)
    if problems:
        raise SpecError([Diagnostic(f"not a valid OpenAPI {doc.version} document: {message}",
                                    doc.span(Loc(doc.root_file, where)))
                         for where, message in problems])
    return Contract(doc)
