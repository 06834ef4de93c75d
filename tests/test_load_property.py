"""Property tests: random and hostile YAML-ish text gives a Spec or a SpecError, nothing else."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runner._yaml import decode
from runner.errors import SpecError
from runner.load import check_references, load_config, load_spec
from runner.model import Spec

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))


def _load(text: str) -> None:
    try:
        spec = load_spec(text, filename="fuzz.yaml", base_dir="/nonexistent")
    except SpecError as exc:
        assert exc.diagnostics
        for d in exc.diagnostics:
            assert isinstance(d.message, str) and d.message
        return
    assert isinstance(spec, Spec)
    check_references(spec, var_names=set(), secret_names=set())


YAML_BITS = st.sampled_from(
    [
        "requests:", "  - url: /x", "    expect:", "      status: 200", "      json: {$.a: 1}", "version: 1",
        "name: n", "&a", "*a", "<<: *a", "- ", "? ", ": ", "[", "]", "{", "}", ",", "!!binary", "!!python/object:os.system",
        "!!set", "!foo", "'", '"', "\t", "\n", "  ", "#", "---", "...", "%YAML 1.1", "%TAG ! tag:x,2000:", "|", ">-",
        ".inf", ".nan", "0200", "1:30", "no", "on", "~", "=", "\ufeff", "\x85", "\u2028", "0x", "1e999", "9" * 50,
        "${x}", "${secret:t}", "$${", "auth: {bearer: t}", "secrets: {t: {env: T}}", "capture: {x: $.a}",
    ]
)


@SETTINGS
@given(st.lists(YAML_BITS, max_size=40).map("".join))
def test_yamlish_fragments(text):
    _load(text)


@SETTINGS
@given(st.text(max_size=300))
def test_random_text(text):
    _load(text)


@SETTINGS
@given(st.binary(max_size=300))
def test_random_bytes_decode(data):
    try:
        text = decode(data, "fuzz.yaml")
    except SpecError:
        return
    _load(text)


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=30,
)
KEYS = st.sampled_from(["version", "name", "base_url", "tags", "secrets", "auth", "defaults", "vars", "requests", "bogus"])
REQ_KEYS = st.sampled_from(["name", "method", "url", "query", "headers", "auth", "json", "form", "body", "files", "timeout", "retry", "expect", "capture", "skip", "tags", "max_body"])


@SETTINGS
@given(
    st.dictionaries(KEYS, JSONISH, max_size=6),
    st.lists(st.dictionaries(REQ_KEYS, JSONISH, max_size=6), max_size=3),
)
def test_structured_documents(top, requests):
    doc = dict(top)
    if requests:
        doc["requests"] = requests
    # JSON is YAML: every shape the schema may see
    _load(json.dumps(doc))


@SETTINGS
@given(st.text(max_size=200))
def test_random_config_text(text):
    try:
        load_config(text, filename="runner.yaml", base_dir="/nonexistent")
    except SpecError:
        pass


def test_hostile_corpus():
    corpus = [
        "a: " + "[" * 100 + "]" * 100,
        "&a [*a]",
        "a: &a\n  b: *a\n",
        "? - a\n  - b\n: c\n",
        "requests: !!seq\n  - !!map {url: /x}\n",
        "requests:\n  - url: !!int x\n",
        "requests:\n  - url: !!float 1\n",
        "requests:\n  - url: !!null x\n",
        "requests:\n  - url: !!bool yes\n",
        "%YAML 1.3\n---\na: 1\n",
        "!<tag:yaml.org,2002:python/object:os.system> x",
        "a: *undefined\n",
        "requests:\n  - url: /x\n    expect: {json: {'$[': 1}}\n",
        "requests:\n  - url: /x\n    expect: {headers: {X: {matches: '(?P<'}}}\n",
        "requests:\n  - url: /x\n    expect: {schema: ../../../../etc/passwd}\n",
        "requests:\n  - url: /x\n    expect: {schema: /dev/zero}\n",
        "requests:\n  - url: /x\n    expect: {schema: {type: 12}}\n",
        "requests:\n  - url: /x\n    expect: {schema: {$schema: 'http://example.com/unknown'}}\n",
        "requests:\n  - url: /x\n    expect: {schema: {$ref: 'http://169.254.169.254/'}}\n",
        "requests:\n  - url: '${'\n",
        "x: 1e400\n",
        "x: -" + "1" * 5000 + "\n",
    ]
    for text in corpus:
        _load(text)
