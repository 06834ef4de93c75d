"""A response against its operation in the document: the contract verdict.

    Contract(doc).check(method, url, base_url, status, headers, body) -> [Violation]

In order: the operation (method + path template); the status (an exact code, then a
`4XX`-style range, then `default`; none of them is a violation); the `required` response
headers; the media type (`application/json`, `*+json`, with parameters, are JSON; `type/*`
and `*/*` keys match too); a JSON body against the documented schema. A response whose
operation documents no content is not judged on its body (a 204, a bare error).

A Contract is shared by every spec file that names the document, across worker threads:
its caches are filled once per key and never changed after (a race costs one extra
compile, never a wrong answer).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from ..expectations import Body, NotJson
from .document import Document, Loc
from .match import Operation, Operations, describe
from .validators import BodySchema

__all__ = ["Contract", "Violation", "is_json"]

_MEMO_ENTRIES = 512  # remembered verdicts and located operations, per document
_MEMO_BODY = 16 * 1024  # bodies larger than this are validated every time


@dataclass(frozen=True, slots=True)
class Violation:
    message: str  # one line, e.g. "body /0/name: None is not of type 'string'"
    at: str | None = None  # the place in the document: `openapi.yaml:41:17`
    hint: str | None = None


def is_json(content_type: str | None) -> bool:
    base = (content_type or "").split(";", 1)[0].strip().lower()
    return base == "application/json" or base.endswith("+json")


class Contract:
    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.operations = Operations(doc)
        self._registry: Any = None
        self._schemas: dict[Loc, BodySchema] = {}
        # Verdicts of recent bodies: the same bytes against the same schema give the same
        # answer, and a smoke run repeats responses (polling, retries, the same GET in many
        # files). Bounded: cleared when full; only small bodies are kept.
        self._verdicts: dict[tuple[Loc, bytes], list[Violation]] = {}
        self._located: dict[tuple[str, str, str | None], Any] = {}

    def check(self, method: str, url: str, base_url: str | None, status: int,
              headers: Sequence[tuple[str, str]], body: Body, truncated: bool = False) -> list[Violation]:
        doc = self.doc
        key = (method, url, base_url)
        located = self._located.get(key)
        if located is None:
            if len(self._located) >= _MEMO_ENTRIES:
                self._located.clear()
            located = self._located[key] = self.operations.locate(method, url, base_url)
        op = located.operation
        if op is None:
            return [Violation(describe(located, method, doc.shown), None,
                              "add `openapi: false` to a request that is not part of this API")]
        responses, responses_loc = doc.resolve(op.node.get("responses"), op.loc.child("responses"))
        key = _response_key(responses, status)
        if key is None:
            documented = ", ".join(str(k) for k in (responses or {})) or "none"
            return [Violation(f"status {status} is not documented for {op.method} {op.template} (documented: {documented})",
                              doc.where(responses_loc))]
        response, response_loc = doc.resolve(responses[key], responses_loc.child(key))
        if not isinstance(response, dict):
            return []
        out = self._headers(op, key, response, response_loc, headers)
        out += self._body(op, key, response, response_loc, headers, body, truncated)
        return out

    def _headers(self, op: Operation, key: str, response: dict, loc: Loc, headers) -> list[Violation]:
        out = []
        present = {name.lower() for name, _ in headers}
        for name, header in (response.get("headers") or {}).items():
            if not isinstance(name, str) or name.lower() == "content-type":
                continue  # the specification says Content-Type is described by `content`, not here
            header, hloc = self.doc.resolve(header, loc.child("headers", name))
            if isinstance(header, dict) and header.get("required") is True and name.lower() not in present:
                out.append(Violation(f"required response header {name} is missing ({op.method} {op.template}, {key})",
                                     self.doc.where(hloc)))
        return out

    def _body(self, op: Operation, key: str, response: dict, loc: Loc, headers, body: Body,
              truncated: bool) -> list[Violation]:
        content = response.get("content")
        if not isinstance(content, dict) or not content:
            return []  # no content documented (a 204, a bare error): the body is not judged
        ctype = next((v for k, v in headers if k.lower() == "content-type"), None)
        if ctype is None and not body.raw:
            return []
        media = _media_key(content, ctype)
        if media is None:
            documented = ", ".join(str(k) for k in content)
            return [Violation(f"content type {(ctype or 'none')[:80]} is not documented for {op.method} {op.template} {key} "
                              f"(documented: {documented})", self.doc.where(loc.child("content")))]
        if not is_json(ctype):
            return []
        media_obj, media_loc = self.doc.resolve(content[media], loc.child("content", media))
        if not isinstance(media_obj, dict) or "schema" not in media_obj:
            return []
        if truncated:
            return [Violation("body not checked against the schema: it is larger than max_body", None)]
        schema_loc = media_loc.child("schema")
        memo_key = (schema_loc, body.raw) if len(body.raw) <= _MEMO_BODY else None
        if memo_key is not None and memo_key in self._verdicts:
            return list(self._verdicts[memo_key])
        try:
            value = body.json()
        except NotJson as exc:
            return [Violation(f"{exc.message}, although the content type is {(ctype or '')[:60]}",
                              self.doc.where(media_loc))]
        found = [Violation(f"body {p.pointer or '/'}: {p.message}", p.schema_at)
                 for p in self._schema(schema_loc).problems(value)]
        if memo_key is not None:
            if len(self._verdicts) >= _MEMO_ENTRIES:
                self._verdicts.clear()
            self._verdicts[memo_key] = found
        return list(found)

    def _schema(self, loc: Loc) -> BodySchema:
        compiled = self._schemas.get(loc)
        if compiled is None:
            if self._registry is None:
                self._registry = BodySchema.registry(self.doc)
            compiled = self._schemas[loc] = BodySchema(self.doc, loc, self._registry)
        return compiled


def _response_key(responses: Any, status: int) -> str | None:
    """The Responses Object key for a status: exact, then `4XX`, then `default`."""
    if not isinstance(responses, dict):
        return None
    exact = str(status)
    if exact in responses:
        return exact
    for k in responses:
        if isinstance(k, str) and k.upper() == f"{status // 100}XX":
            return k
    return "default" if "default" in responses else None


def _media_key(content: dict, ctype: str | None) -> str | None:
    base = (ctype or "").split(";", 1)[0].strip().lower()
    keys = {str(k).split(";", 1)[0].strip().lower(): k for k in content}
    if base in keys:
        return keys[base]
    major = base.split("/", 1)[0]
    for candidate in (f"{major}/*", "*/*"):
        if candidate in keys:
            return keys[candidate]
    return None
