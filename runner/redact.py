"""The one redaction layer: every text that leaves the process passes through the `Redactor`.

It knows every resolved secret value and the forms it takes on the wire or in an echo:
as written, in a URL as requests sends it (path and query: `p4ss/w0rd q$` goes out as
`p4ss/w0rd%20q$`), form-encoded (`p4ss%2Fw0rd+q%24`), percent-encoded, JSON-escaped
(ASCII or not, once or twice, with `\\/`), HTML-escaped, and base64 (alone, and as the
Basic header of `user:password` in UTF-8 and in latin-1, which requests sends).

Two kinds of text, two rules:

- `mask(text)`: free text (a server's answer, an error message, a report line). A value
  shorter than 4 characters is not looked for there: it would mask ordinary words.
- `mask_built(text)` and `substitute(...)`: what the runner built itself from secrets
  (the URL it sent, the request headers and body it dumps with -vv, the --curl command).
  Every secret is masked there whatever its length.
"""

from __future__ import annotations

import base64
import html
import json
import re
import threading
from typing import Callable
from urllib.parse import quote, quote_plus

__all__ = ["Redactor", "MASK", "MIN_FREE_TEXT_LEN", "SENSITIVE_KEY", "shown_url", "url_forms"]

MASK = "***"
# Keys whose values are masked in YAML snippets and error messages even before any
# secret is known (a token pasted into a spec file by mistake).
SENSITIVE_KEY = re.compile(r"(authorization|token|secret|password|passwd|api[-_.]?key|cookie|credential)", re.I)
_ERRORS = "surrogatepass"
# Shorter values are masked only in what the runner builds, never looked for in free text.
MIN_FREE_TEXT_LEN = 4

# What urllib3 leaves as is in a URL's path and query (RFC 3986 unreserved, sub-delims,
# ":" "@" "/" and "?"); requote_uri then decodes escapes of unreserved characters.
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_URL_KEEP = _UNRESERVED | frozenset("!$&'()*+,;=:@/?")
_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")


def url_forms(value: str) -> set[str]:
    """The text requests sends for `value` placed in a URL's path or query.

    urllib3 upper-cases the `%XX` escapes of a component, then keeps them when every `%`
    in the component starts one, else encodes every `%` as `%25`: which one happens
    depends on the rest of the URL, so both forms are returned when the value has a
    valid escape. requote_uri then decodes the escapes of unreserved characters.
    """
    text = _ESCAPE.sub(lambda m: m.group(0).upper(), value)

    def encode(keep_escapes: bool) -> str:
        out: list[str] = []
        i = 0
        while i < len(text):
            ch = text[i]
            if ch == "%" and keep_escapes and _ESCAPE.match(text, i):
                decoded = chr(int(text[i + 1 : i + 3], 16))
                out.append(decoded if decoded in _UNRESERVED else text[i : i + 3])
                i += 3
                continue
            out.append(ch if ch in _URL_KEEP else quote(ch, safe="", errors=_ERRORS))
            i += 1
        return "".join(out)

    forms = {encode(keep_escapes=False)}
    if _ESCAPE.search(text):
        forms.add(encode(keep_escapes=True))
    return forms


def _forms(value: str) -> set[str]:
    """Every form of one secret value that may reach an output."""
    forms = {value, quote(value, safe="", errors=_ERRORS), quote_plus(value, errors=_ERRORS)}
    forms |= url_forms(value)
    for ascii_only in (True, False):
        once = json.dumps(value, ensure_ascii=ascii_only)
        forms.add(once[1:-1])
        forms.add(once[1:-1].replace("/", "\\/"))  # PHP's json_encode escapes "/"
        forms.add(json.dumps(once, ensure_ascii=ascii_only)[3:-3])  # a JSON body echoed inside JSON
    forms.add(html.escape(value))
    forms.add(html.escape(value, quote=False))
    forms.add(base64.b64encode(value.encode("utf-8", _ERRORS)).decode().rstrip("="))
    return {f for f in forms if f}


_CUT = "..."


def _cut_tail(before: str, needles: tuple[str, ...]) -> int:
    """The length of the longest end of `before` (at least MIN_FREE_TEXT_LEN) that starts a needle."""
    best = 0
    for needle in needles:
        window = before[-(len(needle) - 1) :] if len(needle) > 1 else ""
        head = needle[:MIN_FREE_TEXT_LEN]
        i = window.find(head)
        while i != -1:
            if len(window) - i > best and needle.startswith(window[i:]):
                best = len(window) - i
                break
            i = window.find(head, i + 1)
    return best


def _pattern(needles: set[str]) -> re.Pattern[str] | None:
    if not needles:
        return None
    return re.compile("|".join(re.escape(n) for n in sorted(needles, key=len, reverse=True)))


class Redactor:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._needles: set[str] = set()  # looked for everywhere
        self._short: set[str] = set()  # forms of values under MIN_FREE_TEXT_LEN: built text only
        self._pattern: re.Pattern[str] | None = None
        self._built_pattern: re.Pattern[str] | None = None
        self._labels: dict[str, str] = {}  # value -> placeholder name, for curl export

    def add(self, value: str | None, label: str | None = None) -> bool:
        """Register a secret value and its forms; `label` names its curl placeholder (${NAME}).

        Returns False when the value is too short to be looked for in free text (it is
        still masked in what the runner builds).
        """
        if not value:
            return True
        forms = _forms(value)
        short = len(value) < MIN_FREE_TEXT_LEN
        with self._lock:
            if label:
                self._labels[value] = label
            target = self._short if short else self._needles
            new = forms - target
            if not short:
                new = {f for f in new if len(f) >= MIN_FREE_TEXT_LEN}
            if new:
                target.update(new)
                if not short:
                    self._pattern = _pattern(self._needles)
                self._built_pattern = _pattern(self._needles | self._short)
        return not short

    def add_basic(self, username: str, password: str) -> None:
        """Basic auth sends base64("user:password"): mask that header value too (UTF-8 and latin-1)."""
        self.add(password)
        pair = f"{username}:{password}"
        encodings = {pair.encode("utf-8", _ERRORS)}
        try:
            encodings.add(pair.encode("latin-1"))  # what requests sends
        except UnicodeEncodeError:
            pass
        for raw in encodings:
            self.add(base64.b64encode(raw).decode())

    @property
    def values(self) -> tuple[str, ...]:
        """Every form looked for in free text (empty: nothing to mask yet)."""
        return tuple(self._needles)

    def mask(self, text: str) -> str:
        """Free text: every secret form of 4 characters or more becomes `***`."""
        pattern = self._pattern
        if pattern is None or not text:
            return text
        return self._mask_cut(pattern.sub(MASK, text))

    def mask_built(self, text: str) -> str:
        """Text the runner built from secrets (URL sent, -vv request dump): every secret, any length."""
        pattern = self._built_pattern
        if pattern is None or not text:
            return text
        return self._mask_cut(pattern.sub(MASK, text))

    def _mask_cut(self, text: str) -> str:
        """A secret cut short by a shortened value (`"Bearer rr-CANA..."`, made before it reached
        us): the start of a secret form right before `...` is masked too."""
        if _CUT not in text:
            return text
        needles = tuple(self._needles)
        out: list[str] = []
        last = 0
        start = text.find(_CUT)
        while start != -1:
            tail = _cut_tail(text[last:start], needles)
            out.append(text[last : start - tail] + (MASK if tail else ""))
            out.append(_CUT)
            last = start + len(_CUT)
            start = text.find(_CUT, last)
        out.append(text[last:])
        return "".join(out)

    def substitute(self, text: str, *, plain: Callable[[str], str], secret: Callable[[str | None], str]) -> str:
        """Rebuild runner-built `text`: each run of ordinary text through `plain`, each secret
        occurrence (any length) through `secret(label)`, where `label` is the placeholder name
        of a value seen as is, or None for an encoded form or an unlabelled value.

        The curl export escapes only the ordinary text, so escaping never hides a secret
        from the matcher (`Xy7$k` would be `Xy7\\$k` once shell-escaped).
        """
        pattern = self._built_pattern
        if pattern is None or not text:
            return plain(text)
        with self._lock:
            labels = dict(self._labels)
        out: list[str] = []
        last = 0
        for match in pattern.finditer(text):
            out.append(plain(text[last : match.start()]))
            out.append(secret(labels.get(match.group(0))))
            last = match.end()
        out.append(plain(text[last:]))
        return "".join(out)

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
