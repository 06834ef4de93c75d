"""The redactor knows every form requests really gives a secret on the wire (issue 14 item 4):
in a URL path, in a URL's own query, as `query:` params and as a `form:` body.

0.1 registered `quote(value)` and `quote_plus(value)` only, while requests sends a value
placed in a URL path as urllib3 + requote_uri leave it (`p4ss/w0rd q$` goes out as
`p4ss/w0rd%20q$`), so a server echoing the path showed the secret. These tests ask
requests itself what it sends, for hostile and random values, and check that the
redactor masks exactly that text. End to end (a server echoing the path it received)
is in test_no_secret_leak.py.
"""

from __future__ import annotations

import string

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runner.redact import MASK, Redactor

# '#' ends a URL's path or query and control characters are refused in secret values:
# a secret holding '#' in a URL is not sent whole, whatever we mask.
LATIN1 = "".join(chr(c) for c in range(0x20, 0x100) if c != 0x7F and chr(c) not in "#")
VALUES = st.text(alphabet=st.sampled_from(LATIN1 + "%%%" + string.hexdigits), min_size=4, max_size=24)

HOSTILE = [
    "p4ss/w0rd q$",
    "Xy7$kLm9`Qw",
    "a%41b%2fc",  # valid escapes: kept (upper-cased) or decoded (unreserved)
    "a%zz%41",  # an invalid escape: every % becomes %25
    "[x]{y}|^\\",
    "é ü ß+&=;",
    'say "hi" \'there\'',
    "~-._!$&'()*+,;=:@/?",
]


def sent_forms(value: str) -> dict[str, str]:
    """What requests puts on the wire for `value` in each place (the text between known marks)."""
    forms = {}
    for name, first in (("path", "A"), ("path after a bad escape", "%zz"), ("path after a good escape", "%41b")):
        sent = requests.Request("GET", f"http://h/{first}/{value}/Z").prepare().url
        forms[name] = sent.split("/", 4)[4][: -len("/Z")]  # http: '' h FIRST VALUE/Z
    sent = requests.Request("GET", f"http://h/p?x={value}&y=Z").prepare().url
    forms["query in the URL"] = sent.split("?x=", 1)[1].rsplit("&y=Z", 1)[0]
    sent = requests.Request("GET", "http://h/p", params=[("x", value), ("y", "Z")]).prepare().url
    forms["query params"] = sent.split("?x=", 1)[1].rsplit("&y=Z", 1)[0]
    body = requests.Request("POST", "http://h/p", data=[("x", value), ("y", "Z")]).prepare().body
    forms["form body"] = body.split("x=", 1)[1].rsplit("&y=Z", 1)[0]
    return forms


def check(value: str) -> None:
    redactor = Redactor()
    redactor.add(value)
    for where, form in sent_forms(value).items():
        if where.startswith("path") and ("?" in value or {".", ".."} & set(value.split("/"))):
            # a '?' in a path starts the query, and urllib3 removes `.` and `..` segments:
            # the path never holds the whole value
            continue
        assert redactor.mask(form) == MASK, f"{where}: {value!r} sent as {form!r}"
        assert redactor.mask(f"echo: {form}!") == f"echo: {MASK}!"


@pytest.mark.parametrize("value", HOSTILE)
def test_every_form_requests_sends_is_masked(value):
    check(value)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(VALUES)
def test_every_form_requests_sends_is_masked_for_any_value(value):
    if value.strip() != value or not value.strip():
        return  # header-like values: leading/trailing blanks are not secrets we are given
    check(value)


def test_issue_example_echoed_path():
    redactor = Redactor()
    redactor.add("p4ss/w0rd q$")
    assert redactor.mask('{"path": "/echo/p4ss/w0rd%20q$"}') == '{"path": "/echo/***"}'


def test_basic_header_as_requests_sends_it_for_latin1_passwords():
    """requests encodes `user:password` as latin-1 before base64 (0.1 registered only UTF-8)."""
    redactor = Redactor()
    redactor.add_basic("alice", "pässwörd")
    prepared = requests.Request("GET", "http://h/", auth=("alice", "pässwörd")).prepare()
    header = prepared.headers["Authorization"]
    assert redactor.mask(header) == f"Basic {MASK}"


def test_a_secret_cut_short_before_it_was_masked():
    """A value shortened for display (`"Bearer rr-CANA..."`) before it reached the redactor."""
    redactor = Redactor()
    redactor.add("rr-CANARY-9f8e7d6c5b4a")
    assert redactor.mask('got "Bearer rr-CANARY-9f8..."') == 'got "Bearer ***..."'
    assert redactor.mask("rr... and a..., ok") == "rr... and a..., ok"  # too short to tell


def test_short_values_only_in_built_text():
    redactor = Redactor()
    assert redactor.add("ab1", label="PIN") is False
    assert redactor.mask("x=ab1") == "x=ab1"  # free text: the 4-character floor
    assert redactor.mask_built("x=ab1") == "x=***"
    assert redactor.substitute("x=ab1 y", plain=str.upper, secret=lambda label: f"<{label}>") == "X=<PIN> Y"
    assert redactor.values == ()
