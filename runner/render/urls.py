"""URL joining and encoding: the URL shown in reports and `--curl` is the URL sent."""

from __future__ import annotations

import re
from urllib.parse import quote, urlencode

_ABSOLUTE = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://")
_SPLIT_ORIGIN = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*://[^/?#]*)(.*)", re.S)
# What requests' requote_uri leaves alone; anything else is percent-encoded.
_URL_SAFE = "!#$%&'()*+,/:;=?@[]~"
_NEEDS_QUOTING = re.compile(r"[^A-Za-z0-9\-._~!#$%&'()*+,/:;=?@\[\]]")
_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")


def is_absolute(url: str) -> bool:
    """`scheme://...`; `/r?to=ftp://x` is relative."""
    return _ABSOLUTE.match(url) is not None


def _wire_url(url: str) -> str:
    """The URL as requests puts it on the wire: characters a URL cannot hold are
    percent-encoded (requote_uri), the scheme and host are left as written."""
    if _NEEDS_QUOTING.search(url) is None and "%" not in url:
        return url
    m_ = _SPLIT_ORIGIN.match(url)
    origin, rest = (m_.group(1), m_.group(2)) if m_ else ("", url)
    safe = _URL_SAFE if _BAD_PERCENT.search(rest) is None else _URL_SAFE.replace("%", "")
    return origin + quote(rest, safe=safe)


def _with_query(url: str, params: list[tuple[str, str]]) -> str:
    """`params` appended to the query `url` already has (before any #fragment), as requests does."""
    if not params:
        return url
    base, hash_, fragment = url.partition("#")
    encoded = urlencode(params)
    if "?" not in base:
        base += "?" + encoded
    elif base.endswith("?"):
        base += encoded
    else:
        base += "&" + encoded
    return base + hash_ + fragment
