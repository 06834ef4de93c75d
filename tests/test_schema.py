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

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).parent / "data" / "invalid"
CANARY = "rr-CANARY-9f8e7d6c5b4a"


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
