"""`runner import curl`: a browser's "Copy as cURL" (bash or Windows cmd) -> one spec.

Tokenised by `shlex` (POSIX rules). Two small decode steps come first, for what shlex
does not know: bash's ANSI-C quoting `$'...'` (Chrome's choice when a value holds a
quote or a newline) is rewritten into plain single quotes, and Windows cmd's `^`
escapes and `^` line ends are removed. Unknown flags are reported, never dropped silently.
"""

from __future__ import annotations

import base64
import re
import shlex
from typing import Any
from urllib.parse import unquote, urlencode, urlsplit

from ..errors import UsageError
from .credentials import Credentials
from .httpmsg import LeftOut, RecordedRequest, api_url, is_method, origin_of, to_request
from .specdata import ImportedSpec, ImportResult, literal

__all__ = ["import_curl", "tokenize", "decode_ansi_c"]

_WITH_VALUE = {
    "-H": "header", "--header": "header",
    "-b": "cookie", "--cookie": "cookie",
    "-d": "data", "--data": "data", "--data-raw": "data", "--data-ascii": "data", "--data-binary": "data",
    "--data-urlencode": "data-urlencode",
    "-X": "method", "--request": "method",
    "-u": "user", "--user": "user",
    "--url": "url",
    "-F": "form", "--form": "form", "--form-string": "form-string",
    "-A": "user-agent", "--user-agent": "user-agent",
    "-e": "referer", "--referer": "referer",
    "-m": "timeout", "--max-time": "timeout",
}
_FLAGS = {
    "--compressed": "ignore", "-G": "get", "--get": "get", "-L": "location", "--location": "location",
    "-I": "head", "--head": "head", "-s": "ignore", "--silent": "ignore", "-S": "ignore", "--show-error": "ignore",
    "-v": "ignore", "--verbose": "ignore", "-i": "ignore", "--include": "ignore", "-g": "ignore", "--globoff": "ignore",
    "-k": "insecure", "--insecure": "insecure",
}
# Flags that change nothing a spec can say, taken with their value (reported).
# Their values are never shown: a proxy URL, a client key or its password may be a credential.
_IGNORED_WITH_VALUE = {
    "-o", "--output", "--connect-timeout", "--retry", "--retry-delay", "--retry-max-time", "-w", "--write-out",
    "-x", "--proxy", "-U", "--proxy-user", "-E", "--cert", "--key", "--pass", "--cacert", "--capath", "--cert-type",
    "--key-type", "-c", "--cookie-jar", "-T", "--upload-file", "-r", "--range", "-K", "--config", "--resolve",
    "--connect-to", "--interface", "--limit-rate", "--max-redirs", "-D", "--dump-header", "--ciphers", "-y",
    "--speed-time", "-Y", "--speed-limit", "--trace", "--trace-ascii", "--stderr", "--unix-socket", "--aws-sigv4",
}

_ANSI_ESCAPES = {"a": "\a", "b": "\b", "e": "\x1b", "E": "\x1b", "f": "\f", "n": "\n", "r": "\r", "t": "\t",
                 "v": "\v", "\\": "\\", "'": "'", '"': '"', "?": "?"}


def decode_ansi_c(body: str) -> str:
    """The value of bash's $'...' (without the quotes): \\n, \\t, \\xHH, \\uHHHH, \\0NNN..."""
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch != "\\" or i + 1 >= len(body):
            out.append(ch)
            i += 1
            continue
        nxt = body[i + 1]
        if nxt in _ANSI_ESCAPES:
            out.append(_ANSI_ESCAPES[nxt])
            i += 2
        elif nxt in "xuU":
            width = {"x": 2, "u": 4, "U": 8}[nxt]
            digits = re.match(r"[0-9A-Fa-f]{1,%d}" % width, body[i + 2:])
            if digits:
                out.append(chr(int(digits.group(), 16)))
                i += 2 + len(digits.group())
            else:
                out.append("\\" + nxt)
                i += 2
        elif nxt in "01234567":
            digits = re.match(r"[0-7]{1,3}", body[i + 1:])
            assert digits is not None
            out.append(chr(int(digits.group(), 8)))
            i += 1 + len(digits.group())
        else:
            out.append("\\" + nxt)
            i += 2
    return "".join(out)


def _rewrite_ansi_c(text: str) -> str:
    """Replace every $'...' outside other quotes with the same value in plain single quotes."""
    out: list[str] = []
    i, quote = 0, ""
    while i < len(text):
        ch = text[i]
        if quote == "'":
            quote = "" if ch == "'" else quote
        elif quote == '"':
            if ch == "\\":
                out.append(text[i:i + 2])
                i += 2
                continue
            quote = "" if ch == '"' else quote
        elif ch == "\\":
            out.append(text[i:i + 2])
            i += 2
            continue
        elif ch in "'\"":
            quote = ch
        elif ch == "$" and text[i + 1:i + 2] == "'":
            end = i + 2
            while end < len(text) and text[end] != "'":
                end += 2 if text[end] == "\\" else 1
            out.append(shlex.quote(decode_ansi_c(text[i + 2:end])))
            i = end + 1
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def _is_cmd(text: str) -> bool:
    """Windows cmd's "Copy as cURL": `^` ends continued lines and escapes specials."""
    return bool(re.search(r"\^\r?\n", text) or '^"' in text or re.search(r"\^[%&|<>\\{}]", text))


def tokenize(text: str) -> list[str]:
    if _is_cmd(text):
        text = re.sub(r"\^\r?\n", " ", text)
        text = re.sub(r"\^(.)", r"\1", text, flags=re.DOTALL)  # ^X is X, ^^ is ^
    else:
        text = re.sub(r"\\\r?\n", " ", text)
        text = _rewrite_ansi_c(text)
    try:
        return shlex.split(text, posix=True)
    except ValueError as exc:
        raise UsageError(f"cannot read the curl command: {exc} (paste it as the browser copied it)") from None


def import_curl(argv: list[str]) -> ImportResult:
    if len(argv) == 1 and not argv[0].strip():
        argv = []  # an empty stdin
    if len(argv) == 1 and re.search(r"\s", argv[0].strip()):
        argv = tokenize(argv[0])  # the whole command in one argument (or from stdin)
    if argv and argv[0] in ("curl", "curl.exe"):
        argv = argv[1:]
    if not argv:
        raise UsageError("no curl command given: `runner import curl -- curl URL ...` or pipe it on stdin")
    creds = Credentials()
    method: str | None = None
    urls: list[str] = []
    headers: list[tuple[str, str]] = []
    data: list[str] = []
    form: dict[str, Any] = {}
    unknown: list[str] = []
    get = follow = head = False
    user: str | None = None
    i = 0
    while i < len(argv):
        arg = argv[i]
        flag, value = arg, None
        if arg.startswith("-") and not arg.startswith("--") and len(arg) > 2 and arg[:2] in _WITH_VALUE:
            flag, value = arg[:2], arg[2:]  # -XPOST, -H'Accept: x'
        if flag in _WITH_VALUE:
            if value is None:
                if i + 1 >= len(argv):
                    raise UsageError(f"curl flag {flag} needs a value")
                value = argv[i + 1]
                i += 1
            kind = _WITH_VALUE[flag]
            if kind == "header":
                name, sep, hvalue = value.partition(":")
                if sep and name.strip():
                    headers.append((name.strip(), hvalue.strip()))
                else:
                    unknown.append(f"{flag} (a header without a value)")
            elif kind == "cookie":
                if "=" in value:
                    headers.append(("Cookie", value))
                else:
                    unknown.append(f"{flag} FILE (a cookie jar file)")
            elif kind == "data":
                if flag in ("-d", "--data", "--data-binary", "--data-ascii") and value.startswith("@"):
                    unknown.append(f"{flag} @FILE (the body from a file: set `body:` by hand)")
                else:
                    data.append(value)
            elif kind == "data-urlencode":
                name, sep, raw = value.partition("=")
                data.append(urlencode({name: raw}) if sep else urlencode({"": value})[1:])
            elif kind == "method":
                if not is_method(value):
                    raise UsageError(f"curl flag {flag} {value!r}: an HTTP method is a word such as GET, POST, PUT, PATCH, DELETE")
                method = value.upper()
            elif kind == "user":
                user = value
            elif kind == "url":
                urls.append(value)
            elif kind in ("form", "form-string"):
                name, _, part = value.partition("=")
                if kind == "form" and part.startswith("@"):
                    if not part[1:].split(";")[0]:
                        raise UsageError(f"curl flag {flag} {value!r}: no file name after @")
                    form[literal(name)] = literal(part[1:].split(";")[0])
                else:
                    form[literal(name)] = {"content": literal(part)}
            elif kind == "user-agent":
                headers.append(("User-Agent", value))
            elif kind == "referer":
                headers.append(("Referer", value))
            elif kind == "timeout":
                unknown.append(f"{flag} (set `timeout:` by hand)")
        elif arg in _FLAGS:
            kind = _FLAGS[arg]
            get |= kind == "get"
            follow |= kind == "location"
            head |= kind == "head"
            if kind == "insecure":
                unknown.append(f"{arg} (use `runner run --insecure`)")
        elif arg == "--oauth2-bearer" and i + 1 < len(argv):
            headers.append(("Authorization", "Bearer " + argv[i + 1]))
            i += 1
        elif arg in _IGNORED_WITH_VALUE:
            unknown.append(f"{arg} VALUE")
            i += 1
        elif arg.startswith("-") and arg != "-":
            unknown.append(arg.split("=")[0])  # never a value given as --flag=value
        else:
            urls.append(arg)
        i += 1
    if not urls:
        raise UsageError("the curl command has no URL")
    url = urls[0]
    if "://" not in url:
        url = "http://" + url
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # e.g. an unclosed `[` of an IPv6 address
        raise UsageError(f"the curl command's URL is not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https"):
        raise UsageError(f"the curl command's URL is not an http(s) URL (scheme {parts.scheme or 'missing'!r})")
    if not parts.netloc:
        raise UsageError("the curl command's URL has no host")
    if "@" in parts.netloc:  # user:password@host: the same as -u
        userinfo, _, host = parts.netloc.rpartition("@")
        user = user if user is not None else unquote(userinfo)
        url = parts._replace(netloc=host).geturl()
        parts = urlsplit(url)
    if len(urls) > 1:
        unknown.append(f"{len(urls) - 1} more URL(s) (only the first is imported)")
    body = "&".join(data) if data else None
    if get and body is not None:
        url += ("&" if parts.query else "?") + body
        body = None
    if user is not None:
        headers.append(("Authorization", "Basic " + base64.b64encode(user.encode()).decode()))
    method = method or ("HEAD" if head else "POST" if (body is not None or form) else "GET")
    base_url = origin_of(url)
    left_out = LeftOut()
    rec = RecordedRequest(method=method, url=url, headers=headers, body=body, form_fields=form or None)
    request = to_request(rec, creds, base_url=base_url, left_out=left_out)
    if user is not None:
        creds.remember(user.partition(":")[2], creds.secret("API_AUTHORIZATION", ""))
    if follow:
        request.data["follow_redirects"] = True
    spec = ImportedSpec(stem=f"curl-{parts.hostname or 'request'}", name=f"imported from curl: {method} {parts.path or '/'}",
                        base_url=api_url(base_url), requests=[request])
    _finish(spec, creds)
    warnings = [f"curl flags not imported: {', '.join(unknown)}"] if unknown else []
    spec.notes += left_out.notes()
    return ImportResult([spec], dict(creds.env_vars), warnings)


def _finish(spec: ImportedSpec, creds: Credentials) -> None:
    """Declare the env secrets, say what to set, and scrub any credential value left."""
    spec.secrets = {name.lower(): {"env": name} for name in creds.env_vars}
    spec.todo += [f"set {name} before running ({what})" for name, what in creds.env_vars.items()]
    creds.scrub(spec)
