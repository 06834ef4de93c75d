"""runner._build and check_references: model objects, semantic checks, references."""

from __future__ import annotations


import pytest

from runner import model as m
from runner.errors import SpecError
from runner.load import check_references, load_spec
from tests.helpers import CANARY



def spec(text: str, base_dir: str = "/tmp"):
    return load_spec(text, filename="t.yaml", base_dir=base_dir)


def errs(text: str, base_dir: str = "/tmp"):
    with pytest.raises(SpecError) as info:
        spec(text, base_dir)
    return info.value.diagnostics


def refs(text: str, var_names=(), secret_names=()):
    return check_references(spec(text), var_names=set(var_names), secret_names=set(secret_names))


def test_request_defaults_and_forms(tmp_path):
    s = spec(
        """
name: demo
secrets:
  tok: {env: TOK}
  key: {dotenv: .env, key: API_KEY}
  cmd: {command: [gcloud, auth, print-access-token], timeout: 5}
auth: {bearer: tok}
defaults: {timeout: 10, headers: {Accept: application/json}, retry: {attempts: 3}, verify: false}
requests:
  - url: /a
  - name: b
    method: post
    url: /b
    json: {x: 1}
    auth: none
    expect:
      status: [200, "2xx"]
      headers:
        Content-Type: {matches: "^application/json", contains: json}
        ETag: abc
      json:
        $.a: 1
        $.b: {eq: {k: v}}
      body: {contains: ok}
      max_ms: 500
    capture:
      first: $.items[0].id
      etag: {header: ETag}
      other: {json: $.x}
    skip: true
    tags: [t1]
  - url: /c
    files: {upload: data.bin, inline: {content: hello, filename: h.txt}}
    form: {field: v}
    auth: {basic: {username: u, password: tok}}
  - url: /d
    body: {text: raw, content_type: text/plain}
    auth: {header: {name: X-API-Key, secret: key}}
""",
        base_dir=str(tmp_path),
    )
    a, b, c, d = s.requests
    assert a.name == "GET /a" and a.method == "GET" and a.index == 0 and a.auth is None
    assert s.auth == m.BearerAuth("tok", s.auth.span) and s.auth.span.line == 7
    assert s.defaults.timeout == 10.0 and s.defaults.retry == m.Retry(3, 1.0) and s.defaults.verify is False
    assert s.defaults.headers == (("Accept", "application/json"),)
    assert b.method == "POST" and isinstance(b.auth, m.NoAuth) and b.body == m.JsonBody({"x": 1})
    assert b.expect.status.codes == (200,) and b.expect.status.classes == (2,)
    ct, etag = b.expect.headers
    assert [p.op for p in ct.predicates] == ["matches", "contains"]
    assert etag.predicates[0].op == "eq" and etag.predicates[0].operand == "abc"
    j1, j2 = b.expect.json
    assert j1.path == "$.a" and j1.predicates[0].operand == 1
    assert j2.predicates[0].op == "eq" and j2.predicates[0].operand == {"k": "v"}
    assert b.expect.body[0].op == "contains" and b.expect.max_ms == 500.0
    assert [(c_.name, c_.jsonpath, c_.header) for c_ in b.captures] == [("first", "$.items[0].id", None), ("etag", None, "ETag"), ("other", "$.x", None)]
    assert b.skip == "skipped" and b.tags == ("t1",)
    assert b.span.line == 11
    assert isinstance(c.body, m.FilesBody) and c.body.fields == (("field", "v"),)
    assert c.body.files[0].path == str(tmp_path / "data.bin") and c.body.files[1].content == "hello"
    assert c.auth == m.BasicAuth("u", "tok", c.auth.span)
    assert d.body == m.RawBody("raw", "text/plain") and d.auth.name == "X-API-Key"
    assert s.secrets["key"].kind == "dotenv" and s.secrets["key"].base_dir == str(tmp_path)
    assert s.secrets["cmd"].options["timeout"] == 5


def test_spec_name_defaults_to_file_stem():
    s = load_spec("requests:\n  - url: /x\n", filename="dir/pets.yaml", base_dir="/tmp")
    assert s.name == "pets" and s.version == 1


def test_schema_file_is_loaded(tmp_path):
    (tmp_path / "s.json").write_text('{"type": "object"}')
    (tmp_path / "s.yaml").write_text("type: array\n")
    s = spec("requests:\n  - url: /a\n    expect: {schema: s.json}\n  - url: /b\n    expect: {schema: s.yaml}\n  - url: /c\n    expect: {schema: {type: string}}\n", str(tmp_path))
    assert s.requests[0].expect.schema.schema == {"type": "object"}
    assert s.requests[1].expect.schema.schema == {"type": "array"}
    assert s.requests[2].expect.schema.source == "inline"


def test_missing_or_bad_schema_file(tmp_path):
    (tmp_path / "bad.json").write_text("{not json")
    (tmp_path / "notschema.json").write_text('{"type": 12}')
    found = errs("requests:\n  - url: /a\n    expect:\n      schema: nope.json\n  - url: /b\n    expect: {schema: bad.json}\n  - url: /c\n    expect: {schema: notschema.json}\n", str(tmp_path))
    assert [d.span.line for d in found] == [4, 6, 8]
    assert "schema file 'nope.json' does not exist" in found[0].message
    assert "not valid JSON" in found[1].message
    assert "not a valid JSON Schema" in found[2].message


def test_invalid_regex_and_jsonpath():
    found = errs("requests:\n  - url: /a\n    expect:\n      headers: {X: {matches: '(unclosed'}}\n      json:\n        $.a[0: 1\n    capture:\n      x: $.b[\n")
    assert [d.span.line for d in found] == [4, 6, 8]
    assert "invalid regular expression" in found[0].message
    assert "invalid JSONPath" in found[1].message and "invalid JSONPath" in found[2].message


def test_templated_paths_are_not_checked_at_load():
    spec("vars: {i: 0}\nrequests:\n  - url: /a\n    expect:\n      json:\n        $.items[${i}]: 1\n      headers: {X: {matches: '${i}'}}\n")


# --------------------------------------------------------------- references


def test_undefined_var():
    (d,) = refs("requests:\n  - url: /pets/${pet_id}\n")
    assert d.message == "'pet_id' is not defined" and (d.span.line, d.span.column) == (2, 10)


def test_var_from_spec_config_or_capture_is_fine():
    text = "vars: {a: 1}\nrequests:\n  - url: /x/${a}/${b}\n    capture: {c: $.id}\n  - url: /y/${c}\n    query: {q: '${a}'}\n"
    assert refs(text, var_names={"b"}) == []


def test_capture_used_before_defined():
    (d,) = refs("requests:\n  - name: first\n    url: /x\n    headers: {X-Id: '${later}'}\n  - name: second\n    url: /y\n    capture: {later: $.id}\n")
    assert d.message == "'later' is captured later, by request 'second' (line 5)"
    assert d.span.line == 4


def test_capture_used_by_its_own_request():
    (d,) = refs("requests:\n  - url: /x\n    expect: {json: {$.id: '${id}'}}\n    capture: {id: $.id}\n")
    assert "same request" in d.message


def test_bearer_naming_an_undeclared_secret():
    (d,) = refs("secrets:\n  pets_token: {env: T}\nauth: {bearer: pet_token}\nrequests:\n  - url: /x\n")
    assert d.message == "secret 'pet_token' is not declared" and d.hint == "did you mean 'pets_token'?"
    assert d.span.line == 3
    assert refs("auth: {bearer: from_config}\nrequests:\n  - url: /x\n", secret_names={"from_config"}) == []


def test_request_auth_and_secret_refs():
    found = refs("requests:\n  - url: /x\n    auth: {header: {name: X-Key, secret: nokey}}\n    headers: {X-Other: '${secret:nope}'}\n")
    assert sorted(d.message for d in found) == ["secret 'nokey' is not declared", "secret 'nope' is not declared"]


def test_malformed_reference():
    (d,) = refs("requests:\n  - url: /x/${not a name}\n")
    assert "malformed reference" in d.message


def test_env_refs_and_escapes_are_fine():
    assert refs("base_url: ${env:API_URL:-http://x}\nrequests:\n  - url: /x/$${literal}\n") == []


def test_references_in_bodies_and_expectations():
    text = "requests:\n  - url: /x\n    json: {a: [1, '${x}']}\n    expect:\n      json:\n        $.a: {gt: '${y}'}\n"
    found = refs(text)
    assert sorted((d.message, d.span.line) for d in found) == [("'x' is not defined", 3), ("'y' is not defined", 6)]


def test_check_references_works_on_a_hand_built_spec():
    req = m.RequestDef(name="r", index=0, url="/x/${nope}")
    s = m.Spec(path="hand.yaml", name="hand", requests=(req,))
    (d,) = check_references(s, var_names=set(), secret_names=set())
    assert d.message == "'nope' is not defined"


def test_secret_value_never_in_reference_messages():
    found = refs(f"requests:\n  - url: /x\n    headers: {{Authorization: 'Bearer {CANARY} ${{tok}}'}}\n")
    assert found and CANARY not in repr(found)


def test_status_written_as_a_float_is_kept():
    from runner.load import load_spec

    spec = load_spec(
        "version: 1\nname: x\nrequests:\n  - url: /a\n    expect: {status: [200.0, 201]}\n"
        "  - url: /b\n    expect: {status: 200.0}\n",
        filename="x.yaml",
        base_dir=".",
    )
    assert [r.expect.status.codes for r in spec.requests] == [(200, 201), (200,)]


def test_nul_in_a_path_or_command_is_a_load_error():
    """Once a ValueError ("embedded null byte") from the OS at send time: an internal error."""
    found = errs(
        'secrets:\n  t: {file: "a\\0b"}\n  u: {command: [x, "a\\0"]}\n'
        'requests:\n  - url: /a\n    files: {f: "a\\0b", g: {path: "\\0"}}\n'
    )
    assert [(d.span.line, d.message) for d in found] == [
        (2, "secret 't': 'file' holds a NUL character"),
        (3, "secret 'u': 'command' holds a NUL character"),
        (6, "file 'f': the path holds a NUL character"),
        (6, "file 'g': the path holds a NUL character"),
    ]


def test_malformed_reference_message_never_quotes_the_value():
    (d,) = refs(f"requests:\n  - url: '/x/${{env:NOT A NAME:-{CANARY}}}'\n")
    assert d.message == "malformed reference: expected ${env:NAME} or ${env:NAME:-default}"
    assert d.span.line == 2


def test_a_plain_expected_value_is_one_shared_predicate_of_its_own_type():
    """`$.count: 2` in ten thousand requests is one `eq 2` (no span: the check's key serves);
    1, 1.0 and true stay three different expectations, and a predicate mapping keeps its spans."""
    s = spec("""
version: 1
requests:
  - url: /a
    expect: {json: {$.a: 1, $.b: 1.0, $.c: true, $.d: "1", $.e: null}, headers: {X-A: "1"}}
  - url: /b
    expect:
      json:
        $.a: 1
        $.b: {gt: 1}
""")
    first, second = s.requests
    ops = [(c.predicates[0].op, c.predicates[0].operand) for c in first.expect.json]
    assert ops == [("eq", 1), ("eq", 1.0), ("eq", True), ("eq", "1"), ("eq", None)]
    assert [type(c.predicates[0].operand) for c in first.expect.json] == [int, float, bool, str, type(None)]
    assert first.expect.json[0].predicates is second.expect.json[0].predicates  # shared
    assert first.expect.json[0].predicates[0].span is None
    assert first.expect.headers[0].predicates[0].operand == "1" and first.expect.headers[0].predicates[0].span is None
    gt = second.expect.json[1].predicates[0]
    assert (gt.op, gt.operand) == ("gt", 1) and gt.span is not None and gt.span.line == 10
