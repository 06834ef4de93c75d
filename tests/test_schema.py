"""runner._schema and the JSON Schemas: check_schema, descriptions, plain-word errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from runner._schema import load_validator, schema_text
from runner.errors import SpecError
from runner.load import load_config, load_spec, load_spec_file
from tests.helpers import CANARY

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).parent / "data" / "invalid"


def diags(text: str, *, config: bool = False):
    with pytest.raises(SpecError) as info:
        (load_config if config else load_spec)(text, filename="t.yaml", base_dir=str(ROOT))
    return info.value.diagnostics


def lines(text: str, **kw) -> list[str]:
    return [d.one_line() for d in diags(text, **kw)]


@pytest.mark.parametrize("name", ["spec", "config"])
def test_schemas_pass_check_schema(name):
    schema = json.loads(schema_text(name))
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert load_validator(name) is load_validator(name)


def _properties(node, where=""):
    if isinstance(node, dict):
        for key, sub in (node.get("properties") or {}).items():
            yield f"{where}/{key}", sub
        for key, sub in node.items():
            yield from _properties(sub, f"{where}/{key}")
    elif isinstance(node, list):
        for i, sub in enumerate(node):
            yield from _properties(sub, f"{where}/{i}")


@pytest.mark.parametrize("name", ["spec", "config"])
def test_every_property_has_a_description(name):
    schema = json.loads(schema_text(name))
    missing = []
    for where, sub in _properties(schema):
        if "description" in sub:
            continue
        ref = sub.get("$ref", "")
        target = schema["$defs"].get(ref.rsplit("/", 1)[-1]) if ref.startswith("#/$defs/") else None
        if not (target and "description" in target):
            missing.append(where)
    assert missing == []


@pytest.mark.parametrize("name", ["spec", "config"])
def test_schema_refs_are_local(name):
    text = schema_text(name)
    refs = re.findall(r'"\$ref":\s*"([^"]*)"', text)
    assert refs and all(r.startswith("#/") for r in refs)


def test_design_example_loads(tmp_path):
    design = Path("/work/shared/DESIGN.md")
    if not design.exists():
        pytest.skip("DESIGN.md not available")
    example = re.search(r"## A spec file\n\n```yaml\n(.*?)```", design.read_text(), re.S).group(1)
    (tmp_path / "schemas").mkdir()
    (tmp_path / "schemas" / "pet-list.json").write_text('{"type": "object"}')
    spec = load_spec(example, filename="pets.yaml", base_dir=str(tmp_path))
    assert [r.name for r in spec.requests] == ["list pets", "fetch the first pet", "rejects a request without a token"]


def test_demo_specs_validate():
    for path in sorted((ROOT / "specs").rglob("*.yaml")):
        load_spec_file(path)


def test_typo_did_you_mean_points_at_the_key():
    (d,) = diags((DATA / "typo-methd.yaml").read_text())
    assert d.message == "unknown key 'methd' (did you mean 'method'?)"
    assert (d.span.line, d.span.column) == (5, 5)


def test_top_level_typo():
    (d,) = diags("requests:\n  - url: /x\nexpcet: {}\n")
    assert d.message == "unknown key 'expcet'" or "did you mean" in d.message
    (d,) = diags("requests:\n  - url: /x\n    expcet: {status: 200}\n")
    assert d.message == "unknown key 'expcet' (did you mean 'expect'?)"
    assert (d.span.line, d.span.column) == (3, 5)


def test_required_points_at_the_parent_mapping():
    (d,) = diags("requests:\n  - name: no url\n    method: GET\n")
    assert d.message == "missing required key 'url'"
    assert (d.span.line, d.span.column) == (2, 5)


def test_type_error_names_types_only():
    (d,) = diags("requests:\n  - url: /x\n    timeout: fast\n")
    assert d.message == "expected a number, got a string"
    assert d.span.line == 3


def test_waits_are_capped_at_a_day():
    """A timeout or retry delay of 1e308 s was an OverflowError in the socket or the sleep."""
    found = diags(
        "defaults: {timeout: 1e308}\nsecrets:\n  t: {command: [x], timeout: 86401}\n"
        "requests:\n  - url: /x\n    timeout: 86400\n    retry: {attempts: 2, delay: 1e308}\n"
    )
    assert [(d.span.line, d.message) for d in found] == [(1, "must be at most 86400"), (3, "must be at most 86400"), (7, "must be at most 86400")]
    (d,) = diags("defaults: {retry: {attempts: 2, delay: 1e300}}\n", config=True)
    assert d.message == "must be at most 86400"


def test_leading_zero_status_hint():
    (d,) = diags("requests:\n  - url: /x\n    expect: {status: 0200}\n")
    assert "got a string" in d.message and "leading zero" in d.hint


def test_enum_lists_allowed_values():
    (d,) = diags("requests:\n  - url: /x\n    expect:\n      json:\n        $.a: {type: strng}\n")
    assert d.message.startswith("expected one of 'string', 'number'")


def test_all_errors_at_once_sorted():
    text = "requests:\n  - url: /x\n    methd: GET\n  - name: b\n  - url: /y\n    timeout: x\n"
    found = diags(text)
    assert [d.span.line for d in found] == sorted(d.span.line for d in found)
    assert len(found) == 3


def test_secret_needs_exactly_one_kind():
    found = lines("secrets:\n  a: {env: A, file: f}\n  b: {}\nrequests:\n  - url: /x\n")
    assert any("got 'env' and 'file'" in f for f in found)
    assert any("got none" in f for f in found)


def test_only_one_body_form():
    (d,) = diags("requests:\n  - url: /x\n    json: {a: 1}\n    body: text\n")
    assert "only one body form" in d.message


def test_auth_forms():
    assert "expected 'none' or a mapping" in lines("auth: nope\nrequests:\n  - url: /x\n")[0]
    assert "exactly one key" in lines("auth: {bearer: a, basic: {username: u, password: a}}\nrequests:\n  - url: /x\n")[0]


def test_oauth2_client_secret_must_be_a_reference():
    text = f"secrets:\n  t:\n    oauth2: {{token_url: http://x/token, client_id: c, client_secret: {CANARY}}}\nrequests:\n  - url: /x\n"
    found = diags(text)
    assert "must be a ${secret:NAME} or ${env:NAME} reference" in found[0].message
    assert CANARY not in repr(found)


def test_unresolvable_ref_message_masks_credentials():
    text = (
        "requests:\n  - url: /x\n"
        f"    expect: {{schema: {{$ref: 'https://user:{CANARY}@schemas.example/pet.json'}}}}\n"
        "  - url: /y\n"
        f"    expect: {{schema: {{$ref: 'https://schemas.example/pet.json?key={CANARY}#/a'}}}}\n"
    )
    found = diags(text)
    assert [d.message for d in found] == [
        f"expect.schema: $ref '{url}' is unresolvable: refs are never fetched over the network; only refs inside an inline schema (#...) are read"
        for url in ("https://***@schemas.example/pet.json", "https://schemas.example/pet.json?***#/a")
    ]


def test_schema_errors_never_quote_secret_values():
    texts = [
        f"requests:\n  - url: /x\n    headers:\n      Authorization: [Bearer {CANARY}]\n",
        f"requests:\n  - url: /x\n    timeout: {CANARY}\n",
        f"requests:\n  - url: /x\n    auth: {CANARY}\n",
        f"requests:\n  - url: /x\n    method: 'Bearer {CANARY}'\n",
        f"requests:\n  - url: /x\n    expect: {{status: {CANARY}}}\n",
        f"version: {CANARY}\nrequests:\n  - url: /x\n",
        f"secrets:\n  t: {{env: '{CANARY} x'}}\nrequests:\n  - url: /x\n",
    ]
    for text in texts:
        found = diags(text)
        assert found
        assert CANARY not in repr(found) and CANARY not in str(SpecError(found))


def test_capture_forms_errors():
    found = lines("requests:\n  - url: /x\n    capture:\n      x: {header: 1}\n      1bad: $.x\n      y: items\n")
    assert any("4:" in f and "expected a string, got an integer" in f for f in found)
    assert any("key '1bad'" in f for f in found)
    assert any("a JSONPath starts with $" in f for f in found)


def test_config_schema_errors():
    found = lines("environments:\n  prod:\n    base_ur: http://x\n", config=True)
    assert found == ["t.yaml:3:5: unknown key 'base_ur' (did you mean 'base_url'?)"]


def test_config_loads():
    cfg = load_config(
        "base_url: http://x\nvars: {a: 1}\nsecrets:\n  t: {env: T}\ndefaults: {timeout: 5}\nenvironments:\n  prod:\n    base_url: https://p\n    secrets:\n      t: {file: tok.txt}\n",
        filename="runner.yaml",
        base_dir="/tmp",
    )
    assert cfg.base_url == "http://x" and cfg.defaults.timeout == 5.0
    assert cfg.environments["prod"].secrets["t"].kind == "file"
    assert cfg.secrets["t"].options == {"env": "T"}


# ---------------------------------------------- the fast check (jsonschema-rs) == jsonschema

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from runner import _schema  # noqa: E402
from runner._yaml import parse as _parse_yaml  # noqa: E402


def _vocabulary(node, keys: set, strings: set) -> None:
    if isinstance(node, dict):
        for k, v in node.items():
            if k in ("properties", "dependentSchemas", "dependentRequired", "patternProperties"):
                keys.update(v)
            if k in ("enum",):
                strings.update(x for x in v if isinstance(x, str))
            if k == "const" and isinstance(v, str):
                strings.add(v)
            _vocabulary(v, keys, strings)
    elif isinstance(node, list):
        for x in node:
            _vocabulary(x, keys, strings)


_KEYS: set = set()
_STRINGS: set = {"", "/x", "GET", "g e t", "2xx", "9xx", "$.a", " $.b", "${x}", "${secret:t}", "x-y", "a b", "Bad Name", "0200"}
for _name in ("spec", "config"):
    _vocabulary(json.loads(schema_text(_name)), _KEYS, _STRINGS)

_LEAF = (
    st.none() | st.booleans() | st.integers(-5, 700) | st.sampled_from([0.0, 1.0, 1.5, -1.0, 200.0, 1e300])
    | st.sampled_from(sorted(_STRINGS)) | st.text(max_size=4)
)
_DOC = st.recursive(
    _LEAF,
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.sampled_from(sorted(_KEYS)) | st.sampled_from(sorted(_STRINGS)) | st.text(max_size=3), children, max_size=5),
    max_leaves=25,
)


def _agree(name: str, data) -> None:
    # Only the fast check's yes is trusted (a no hands over to jsonschema), so a yes
    # where jsonschema says no would let an invalid document through.
    if _schema.is_surely_valid(data, name):
        assert load_validator(name).is_valid(data), data


def test_fast_check_is_jsonschema_rs_for_our_schemas():
    assert _schema._fast_check("spec") is not None
    assert _schema._fast_check("config") is not None


@settings(max_examples=500, deadline=None, suppress_health_check=list(HealthCheck))
@given(_DOC, st.lists(st.dictionaries(st.sampled_from(sorted(_KEYS)), _DOC, max_size=5), max_size=3))
def test_fast_check_agrees_with_jsonschema(top, requests):
    doc = dict(top) if isinstance(top, dict) else {"requests": top}
    if requests:
        doc["requests"] = requests
    _agree("spec", doc)
    _agree("config", doc)
    _agree("spec", top)
    for request in requests:  # the streamed loader checks each request on its own (load._load_streamed)
        if _schema.is_surely_valid(request, "spec", "request"):
            assert load_validator("spec").is_valid({"version": 1, "requests": [request]}), request


def _corpus():
    out = []
    for path in sorted((ROOT / "specs").rglob("*.yaml")):
        data, _ = _parse_yaml(path.read_text(), filename=str(path))
        out.append(data)
    return out


def _subtrees(value, path=()):
    yield path, value
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _subtrees(v, path + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _subtrees(v, path + (i,))


def _replaced(value, path, new):
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        out = dict(value)
        out[head] = _replaced(value[head], rest, new)
        return out
    out = list(value)
    out[head] = _replaced(value[head], rest, new)
    return out


@settings(max_examples=500, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_fast_check_agrees_on_mutated_real_specs(data):
    docs = _corpus()
    doc = data.draw(st.sampled_from(docs))
    spots = list(_subtrees(doc))
    for _ in range(data.draw(st.integers(1, 3))):
        path, _ = data.draw(st.sampled_from(spots))
        doc = _replaced(doc, path, data.draw(_DOC))
        spots = list(_subtrees(doc))
    _agree("spec", doc)


def test_fast_check_accepts_the_example_specs():
    for doc in _corpus():
        assert _schema.is_surely_valid(doc, "spec") is True
        assert all(_schema.is_surely_valid(r, "spec", "request") for r in doc["requests"])
