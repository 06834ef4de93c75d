"""The one redaction layer: every text that leaves the process passes through `Redactor.mask`.

It knows every resolved secret value and its common encodings (URL-encoding,
JSON escaping, base64 as in Basic auth), and masks them as `***`.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from urllib.parse import quote, quote_plus

__all__ = ["Redactor", "MASK", "SENSITIVE_KEY", "shown_url"]

MASK = "***"
# Keys whose values are masked in YAML snippets and error messages even before any
# secret is known (a token pasted into a spec file by mistake).
SENSITIVE_KEY = re.compile(r"(authorization|token|secret|password|passwd|api[-_.]?key|cookie|credential)", re.I)
_ERRORS = "surrogatepass"
_MIN_LEN = 4  # shorter values would mask ordinary words; they are still never printed by us on purpose


class Redactor:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._needles: list[str] = []
        self._pattern: re.Pattern[str] | None = None
        self._labels: dict[str, str] = {}  # value -> placeholder, for curl export

    def add(self, value: str | None, label: str | None = None) -> None:
        """Register a secret value and its encodings. `label` names a placeholder ($NAME) for curl."""
        if not value or len(value) < _MIN_LEN:
            return
        if label:
            with self._lock:
                self._labels[value] = label
        # surrogatepass: a captured JSON string may hold a lone surrogate ("\udc00")
        forms = {value, json.dumps(value)[1:-1]}
        forms.update((quote(value, safe="", errors=_ERRORS), quote_plus(value, errors=_ERRORS)))
        forms.add(base64.b64encode(value.encode("utf-8", _ERRORS)).decode().rstrip("="))
        with self._lock:
            changed = False
            for form in forms:
                if form and form not in self._needles and len(form) >= _MIN_LEN:
                    self._needles.append(form)
                    changed = True
            if changed:
                ordered = sorted(self._needles, key=len, reverse=True)
                self._pattern = re.compile("|".join(re.escape(n) for n in ordered))

    def add_basic(self, username: str, password: str) -> None:
        """Basic auth sends base64("user:password"): mask that exact header value too."""
        self.add(password)
        self.add(base64.b64encode(f"{username}:{password}".encode("utf-8", _ERRORS)).decode())

    @property
    def values(self) -> tuple[str, ...]:
        return tuple(self._needles)

    def mask(self, text: str) -> str:
        pattern = self._pattern
        if pattern is None or not text:
            return text
        return pattern.sub(MASK, text)

    def placeholders(self, text: str) -> str:
        """Write each labelled secret as `$LABEL` (curl export), then mask anything left."""
        with self._lock:
            labels = sorted(self._labels.items(), key=lambda kv: len(kv[0]), reverse=True)
        for value, label in labels:
            text = text.replace(value, "$" + label)
        return self.mask(text)

    def mask_bytes(self, data: bytes) -> bytes:
        pattern = self._pattern
        if pattern is None or not data:
            return data
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return pattern.sub(MASK, data.decode("utf-8", errors="replace")).encode("utf-8")
        if pattern.search(text) is None:
            return data  # valid UTF-8 and nothing to mask: the same bytes, no re-encoding
        return pattern.sub(MASK, text).encode("utf-8")


def shown_url(url: str, width: int = 80) -> str:
    """A URL for a message, before any secret is known: `user:pass@` and `?query` masked, long ones cut."""
    shown = re.sub(r"^((?:[A-Za-z][A-Za-z0-9+.\-]*:)?//)[^/?#]*@", r"\1***@", url)
    shown = re.sub(r"\?[^#]*", "?***", shown, count=1)
    return shown if len(shown) <= width else shown[: width - 3] + "..."
