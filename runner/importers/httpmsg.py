"""One recorded HTTP request (from curl or a HAR entry) -> ImportedRequest fields.

Shared rules: the origin becomes `base_url`, the query a `query:` mapping, a JSON body
`json:`, a form body `form:`, anything else `body:`; browser noise headers are left
out; credential headers and query parameters go through `Credentials`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from .credentials import Credentials, is_secret_name
from .specdata import ImportedRequest, literal, literal_value

__all__ = ["LeftOut", "RecordedRequest", "api_url", "is_header_name", "is_method", "to_request", "origin_of"]

# Headers a browser adds on its own: they say nothing about the API.
_NOISE = {
    "accept-encoding", "accept-language", "cache-control", "connection", "content-length", "dnt", "host",
    "origin", "pragma", "priority", "referer", "te", "upgrade-insecure-requests", "user-agent",
}
_NOISE_PREFIXES = ("sec-ch-", "sec-fetch-", ":")


@dataclass
class RecordedRequest:
    method: str
    url: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: str | None = None
    form_fields: dict[str, Any] | None = None   # -F parts, already as `files:` entries
    status: Any = "2xx"


_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


def is_header_name(text: str) -> bool:
    """What the spec accepts as a header name (an HTTP token)."""
    return _TOKEN.fullmatch(text) is not None


def is_method(text: str) -> bool:
    """What the spec accepts as `method:` (a word): anything else would make an invalid spec."""
    return re.fullmatch(r"[A-Za-z]+", text) is not None


def api_url(origin: str) -> str:
    """`base_url:` for an imported origin: overridable with API_URL, as the OpenAPI import does."""
    return "${env:API_URL:-" + literal(origin).replace("}", "%7D") + "}"


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}" if parts.scheme and parts.netloc else ""


def _path_and_query(url: str) -> tuple[str, list[tuple[str, str]]]:
    parts = urlsplit(url)
    path = parts.path or "/"
    return path, parse_qsl(parts.query, keep_blank_values=True)


@dataclass
class LeftOut:
    """Headers `to_request` did not import: browser noise (named in a note) and invalid names (counted)."""

    browser: set[str] = field(default_factory=set)
    invalid_names: int = 0

    def notes(self) -> list[str]:
        notes = [f"Browser headers left out: {', '.join(sorted(self.browser))}."] if self.browser else []
        if self.invalid_names:
            notes.append(f"{self.invalid_names} header(s) with an invalid name left out (not shown: "
                         "such a name may hold a whole pasted header, token included).")
        return notes


def to_request(rec: RecordedRequest, creds: Credentials, *, base_url: str, left_out: LeftOut) -> ImportedRequest:
    path, query = _path_and_query(rec.url)
    data: dict[str, Any] = {"name": f"{rec.method} {path}"[:120], "method": rec.method}
    data["url"] = literal(path) if origin_of(rec.url) == base_url else literal(rec.url.split("?")[0].split("#")[0])
    if query:
        names = [k for k, _ in query]
        if len(set(names)) == len(names):
            data["query"] = {literal(k): (creds.query(k, v) if is_secret_name(k) else literal(v)) for k, v in query}
        else:  # a repeated parameter keeps its place in the URL
            data["url"] += "?" + "&".join(
                f"{literal(k)}={creds.query(k, v) if is_secret_name(k) else literal(v)}" for k, v in query)
    headers: dict[str, str] = {}
    content_type = ""
    for name, value in rec.headers:
        lower = name.lower()
        if lower == "content-type":
            content_type = value
        if not is_header_name(name.removeprefix(":")):
            # never quoted: a whole header pasted into a name field ("Authorization: Bearer ...") lands here
            left_out.invalid_names += 1
            continue
        if lower in _NOISE or lower.startswith(_NOISE_PREFIXES):
            left_out.browser.add(lower)
            continue
        if is_secret_name(name):
            kind, secret = creds.header(name, value)
            if kind == "bearer":
                data["auth"] = {"bearer": secret}
            else:
                headers[name] = secret
            continue
        headers[name] = literal(value)
    _body(data, headers, rec, content_type, creds)
    if headers:
        data["headers"] = headers
    data["expect"] = {"status": rec.status}
    return ImportedRequest(data)


def _body(data: dict[str, Any], headers: dict[str, str], rec: RecordedRequest, content_type: str,
          creds: Credentials) -> None:
    if rec.form_fields:
        data["files"] = rec.form_fields
        _drop(headers, "content-type")  # multipart: the boundary is the runner's
        return
    if rec.body is None or rec.body == "":
        return
    ctype = content_type.split(";")[0].strip().lower()
    if ctype == "application/json" or ctype.endswith("+json") or (not ctype and rec.body.lstrip()[:1] in "{["):
        try:
            data["json"] = _json_fields(json.loads(rec.body), creds)
            if ctype == "application/json":
                _drop(headers, "content-type")
            return
        except ValueError:
            pass
    if ctype in ("application/x-www-form-urlencoded", ""):
        pairs = parse_qsl(rec.body, keep_blank_values=True)
        names = [k for k, _ in pairs]
        if pairs and len(set(names)) == len(names) and "=" in rec.body:
            data["form"] = {literal(k): (creds.ref(k, f"the {k} form field", v) if is_secret_name(k) and v else literal(v))
                            for k, v in pairs}
            _drop(headers, "content-type")
            return
    data["body"] = literal(rec.body)


def _json_fields(value: Any, creds: Credentials, key: str = "") -> Any:
    """A JSON body with credential-named string fields ("password", "token") as secrets."""
    if isinstance(value, dict):
        return {literal(k): _json_fields(v, creds, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_fields(v, creds, key) for v in value]
    if isinstance(value, str) and value and key and is_secret_name(key):
        return creds.ref(key, f"the {key} field of a JSON body", value)
    return literal_value(value)


def _drop(headers: dict[str, str], name: str) -> None:
    for key in [k for k in headers if k.lower() == name]:
        del headers[key]
