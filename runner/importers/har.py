"""`runner import har FILE`: a browser's HAR export -> one spec of its API calls, in order.

HAR files are big (images and fonts as base64): with the optional `ijson` (the `har`
extra) entries are read one at a time, so memory is bounded by the largest entry, not
the file; without it the stdlib reads files up to STDLIB_MAX_BYTES and refuses larger
ones with the install hint. Kept: XHR/fetch calls (Chrome's `_resourceType`), or, when
the export does not say, calls with a JSON or form body or a JSON answer; never
preflights (OPTIONS), images, scripts, fonts or pages. The recorded status is expected.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from typing import Any, Iterator
from urllib.parse import urlencode, urlsplit

from ..errors import UsageError
from .credentials import Credentials
from .httpmsg import LeftOut, RecordedRequest, api_url, is_method, origin_of, to_request
from .specdata import ImportedRequest, ImportedSpec, ImportResult, as_dict, as_list, slug

__all__ = ["import_har", "STDLIB_MAX_BYTES"]

STDLIB_MAX_BYTES = 64 * 1024 * 1024
_API_TYPES = {"xhr", "fetch"}


def _json_like(mime: str) -> bool:
    mime = mime.split(";")[0].strip().lower()
    return mime == "application/json" or mime.endswith("+json")


def _entries(path: str) -> Iterator[dict[str, Any]]:
    try:
        size = os.path.getsize(path)
        fh = open(path, "rb")
    except OSError as exc:
        raise UsageError(f"{path}: cannot read the HAR file: {exc.strerror or exc}") from None
    with fh:
        try:
            import ijson  # optional: streams entries one at a time
        except ImportError:
            if size > STDLIB_MAX_BYTES:
                raise UsageError(f"{path}: the HAR file is {size // 2**20} MB; install the `har` extra "
                                 "(pip install 'request-runner[har]') to stream files over "
                                 f"{STDLIB_MAX_BYTES // 2**20} MB") from None
            try:
                doc = json.load(fh)
            except (ValueError, UnicodeDecodeError) as exc:
                raise UsageError(f"{path}: not a HAR file (not valid JSON: {exc})") from None
            entries = doc.get("log", {}).get("entries") if isinstance(doc, dict) and isinstance(doc.get("log"), dict) else None
            if not isinstance(entries, list):
                raise UsageError(f"{path}: not a HAR file (no log.entries list)")
            yield from (e for e in entries if isinstance(e, dict))
            return
        try:
            for entry in ijson.items(fh, "log.entries.item", use_float=True):
                if isinstance(entry, dict):
                    yield entry
        except UnicodeDecodeError:  # ijson's answer to a lone surrogate escape (\udc80): not text
            raise UsageError(f"{path}: the HAR file holds text that is not valid (a lone surrogate escape)") from None
        except ijson.JSONError:
            # not ijson's message: its C backend quotes the text around the error (a HAR holds tokens)
            raise UsageError(f"{path}: not a HAR file (not valid JSON)") from None


def _is_api_call(entry: dict[str, Any]) -> bool:
    request = as_dict(entry.get("request"))
    method = str(request.get("method", ""))
    try:
        scheme = urlsplit(str(request.get("url", ""))).scheme
    except ValueError:  # e.g. an unclosed `[` of an IPv6 address
        return False
    if scheme not in ("http", "https") or (method and not is_method(method)) or method.upper() == "OPTIONS":
        return False
    kind = entry.get("_resourceType")
    if isinstance(kind, str):
        return kind.lower() in _API_TYPES
    post = as_dict(request.get("postData"))
    post_mime = str(post.get("mimeType", "")).lower()
    answer_mime = str(as_dict(as_dict(entry.get("response")).get("content")).get("mimeType", ""))
    return _json_like(post_mime) or post_mime.startswith("application/x-www-form-urlencoded") or _json_like(answer_mime)


def _recorded(entry: dict[str, Any]) -> RecordedRequest | None:
    request = as_dict(entry.get("request"))
    status = as_dict(entry.get("response")).get("status")
    if not isinstance(status, int) or not 100 <= status <= 599:
        return None  # blocked or cancelled in the browser: nothing to expect
    headers = [(str(h.get("name", "")), str(h.get("value", ""))) for h in as_list(request.get("headers")) if isinstance(h, dict)]
    post = as_dict(request.get("postData"))
    body = post.get("text")
    if body is None and as_list(post.get("params")):
        body = urlencode([(str(p.get("name", "")), str(p.get("value", ""))) for p in post["params"] if isinstance(p, dict)])
    if post.get("mimeType") and not any(n.lower() == "content-type" for n, _ in headers):
        headers.append(("Content-Type", str(post["mimeType"])))
    return RecordedRequest(method=str(request.get("method", "GET")).upper(), url=str(request["url"]),
                           headers=headers, body=body if isinstance(body, str) else None, status=status)


def import_har(path: str) -> ImportResult:
    creds = Credentials()
    recorded: list[RecordedRequest] = []
    seen = skipped = 0
    for entry in _entries(path):
        seen += 1
        if not _is_api_call(entry):
            skipped += 1
            continue
        rec = _recorded(entry)
        if rec is None:
            skipped += 1
        else:
            recorded.append(rec)
    if seen == 0:
        raise UsageError(f"{path}: no entries (is this a HAR file? expected log.entries)")
    if not recorded:
        raise UsageError(f"{path}: none of its {seen} entries is an API call (XHR/fetch with JSON or a form)")
    origin = Counter(origin_of(r.url) for r in recorded).most_common(1)[0][0]
    left_out = LeftOut()
    requests: list[ImportedRequest] = [to_request(r, creds, base_url=origin, left_out=left_out) for r in recorded]
    spec = ImportedSpec(stem=f"har-{slug(urlsplit(origin).hostname or 'api')}",
                        name=f"imported from HAR: {urlsplit(origin).netloc}", base_url=api_url(origin),
                        requests=requests)
    auths = {json.dumps(r.data.get("auth"), sort_keys=True) for r in requests}
    if len(auths) == 1 and requests[0].data.get("auth") is not None:
        spec.auth = requests[0].data["auth"]
        for request in requests:
            del request.data["auth"]
    spec.secrets = {name.lower(): {"env": name} for name in creds.env_vars}
    spec.todo += [f"set {name} before running ({what})" for name, what in creds.env_vars.items()]
    creds.scrub(spec)
    spec.notes.append(f"{len(requests)} API calls of {seen} entries, in the order recorded; expected statuses as recorded.")
    spec.notes += left_out.notes()
    warnings = [f"{skipped} entries left out (not API calls, or not answered)"] if skipped else []
    return ImportResult([spec], dict(creds.env_vars), warnings)
