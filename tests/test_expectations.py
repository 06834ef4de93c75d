"""runner.expectations and runner.bodyschema: predicates, JSONPath, schema, messages."""

from __future__ import annotations

import json

import pytest

from runner.expectations import Body, CaptureError, Evaluator, json_equal, parse_json, NotJson
from runner.model import Capture, Expect, HeaderCheck, JsonCheck, Predicate, SchemaCheck, StatusExpect
from runner.results import ResponseSnapshot

DOC = {"count": 2, "ok": True, "price": 1.5, "name": "rex", "items": [{"id": 1}, {"id": 2}], "none": None}


def resp(body=DOC, status=200, headers=(("Content-Type", "application/json"),), elapsed=12.0) -> ResponseSnapshot:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return ResponseSnapshot(status, "OK", tuple(headers), raw, elapsed, "http://x/")


def run(expect: Expect, r: ResponseSnapshot | None = None):
    r = r or resp()
    return Evaluator().evaluate(expect, r, Body(r.body))


def jc(path, op, operand):
    return JsonCheck(path, (Predicate(op, operand),))


def messages(expect, r=None):
    return [f.message for f in run(expect, r)[1]]


def test_status_forms():
    assert messages(Expect(status=StatusExpect((200,)))) == []
    assert messages(Expect(status=StatusExpect((201, 204)))) == ["status: expected 201 or 204, got 200 OK"]
    assert messages(Expect(status=StatusExpect(classes=(2,)))) == []
    assert messages(Expect(), resp(status=500)) == ["status: expected 2xx (default), got 500 OK"]


def test_redirect_status_shows_location():
    r = ResponseSnapshot(302, "Found", (("Location", "/next"),), b"", 1.0, "http://x/")
    assert messages(Expect(), r) == ['status: expected 2xx (default), got 302 Found (Location: "/next")']


@pytest.mark.parametrize(
    "path,op,operand,ok",
    [
        ("$.count", "eq", 2, True),
        ("$.count", "eq", 2.0, True),
        ("$.ok", "eq", 1, False),  # true is not 1
        ("$.count", "eq", True, False),
        ("$.count", "ne", 3, True),
        ("$.count", "gt", 1, True),
        ("$.count", "ge", 2, True),
        ("$.count", "lt", 2, False),
        ("$.price", "le", 1.5, True),
        ("$.name", "in", ["rex", "tom"], True),
        ("$.name", "contains", "ex", True),
        ("$.items[*].id", "contains", 2, True),
        ("$.items[*].id", "eq", [1, 2], True),
        ("$.name", "matches", "^r.x$", True),
        ("$.count", "type", "integer", True),
        ("$.count", "type", "number", True),
        ("$.ok", "type", "number", False),  # a boolean is not a number
        ("$.price", "type", "integer", False),
        ("$.none", "type", "null", True),
        ("$.items", "type", "array", True),
        ("$.items[0]", "type", "object", True),
        ("$.items", "length", 2, True),
        ("$.name", "length", 3, True),
        ("$.items", "length", {"gt": 1}, True),
        ("$.missing", "exists", False, True),
        ("$.count", "exists", True, True),
        ("$.none", "exists", True, True),
        ("$.missing", "eq", 1, False),
        ("$.name", "gt", 1, False),
    ],
)
def test_json_predicates(path, op, operand, ok):
    checks, failures = run(Expect(json=(jc(path, op, operand),)))
    assert checks[-1].passed is ok
    assert (not failures[1:]) if ok else failures


def test_json_failure_messages_are_side_by_side_and_truncated():
    assert messages(Expect(json=(jc("$.count", "eq", 3),))) == ["$.count: expected 3, got 2"]
    assert messages(Expect(json=(jc("$.count", "type", "string"),))) == ["$.count: expected type string, got integer 2"]
    assert messages(Expect(json=(jc("$.missing", "eq", 1),))) == ["$.missing: expected 1, got nothing (no match)"]
    long = {"text": "x" * 500}
    (msg,) = messages(Expect(json=(jc("$.text", "eq", "y"),)), resp(long))
    assert len(msg) < 140 and msg.endswith('..."') is False and "..." in msg


def test_headers_case_insensitive_with_predicates():
    r = resp(headers=(("content-type", "application/json; charset=utf-8"), ("X-Total", "42")))
    ok = Expect(headers=(
        HeaderCheck("Content-Type", (Predicate("matches", "^application/json"),)),
        HeaderCheck("x-total", (Predicate("eq", 42), Predicate("gt", 40))),
        HeaderCheck("X-Absent", (Predicate("exists", False),)),
    ))
    assert messages(ok, r) == []
    bad = Expect(headers=(HeaderCheck("X-Absent", (Predicate("eq", "a"),)),))
    assert messages(bad, r) == ['header X-Absent: expected "a", got nothing (no match)']


def test_body_predicates_and_max_ms():
    r = resp(b"hello world", headers=())
    assert messages(Expect(body=(Predicate("contains", "world"), Predicate("matches", "^hello"))), r) == []
    assert messages(Expect(max_ms=5), r) == ["time: expected <= 5 ms, got 12 ms"]


@pytest.mark.parametrize(
    "raw,words",
    [
        (b'{"a": [1, 2', "line 1, column"),
        (b'{"a": ' + b"9" * 5000 + b"}", "too many digits"),
        (b"[" * 100000 + b"]" * 100000, "nested too deeply"),
        (b'{"a": NaN}', "NaN"),
        (b"", "empty"),
        (b"\xff\xfe\x00garbage", "not valid JSON"),
    ],
)
def test_not_json(raw, words):
    with pytest.raises(NotJson) as info:
        parse_json(raw)
    assert info.value.message.startswith("response is not valid JSON")
    assert words in info.value.message


def test_not_json_gives_one_failure_for_all_json_checks():
    r = resp(b"<html>oops</html>")
    checks, failures = run(Expect(json=(jc("$.a", "eq", 1), jc("$.b", "eq", 2))), r)
    assert [f.message for f in failures] == ["response is not valid JSON (line 1, column 1)"]
    assert [c.passed for c in checks] == [True, False, False]


def test_schema_check_messages():
    schema = {"type": "object", "properties": {"items": {"type": "array", "items": {
        "type": "object", "properties": {"id": {"type": "integer"}}}}}, "required": ["count", "items"]}
    r = resp({"items": [{"id": "x"}]})
    msgs = messages(Expect(schema=SchemaCheck(schema, "inline")), r)
    assert msgs == ["schema: $: 'count' is a required property", "schema: $.items[0].id: 'x' is not of type 'integer'"]
    assert messages(Expect(schema=SchemaCheck(schema, "inline")), resp({"count": 1, "items": []})) == []


def test_schema_formats_are_checked_and_remote_refs_refused(http_server):
    assert messages(Expect(schema=SchemaCheck({"format": "ipv4"}, "inline")), resp("nope")) == [
        "schema: $: 'nope' is not a 'ipv4'"
    ]
    (msg,) = messages(Expect(schema=SchemaCheck({"$ref": http_server.url + "/ok"}, "inline")), resp({}))
    assert "unresolvable" in msg
    assert http_server.received == []


def test_schema_relative_file_ref(tmp_path):
    (tmp_path / "pet.json").write_text(json.dumps({"type": "object", "required": ["id"]}))
    check = SchemaCheck({"type": "array", "items": {"$ref": "pet.json"}}, str(tmp_path / "list.json"))
    assert messages(Expect(schema=check), resp([{"id": 1}])) == []
    assert messages(Expect(schema=check), resp([{}])) == ["schema list.json: $[0]: 'id' is a required property".replace(
        "list.json", str(tmp_path / "list.json"))]
    escape = SchemaCheck({"$ref": "../outside.json"}, str(tmp_path / "list.json"))
    assert "unresolvable" in messages(Expect(schema=escape), resp({}))[0]


def test_captures():
    ev = Evaluator()
    r = resp(headers=(("ETag", '"v1"'),))
    body = Body(r.body)
    assert ev.capture(Capture("id", jsonpath="$.items[0].id"), r, body) == 1
    assert ev.capture(Capture("ids", jsonpath="$.items[*].id"), r, body) == [1, 2]
    assert ev.capture(Capture("etag", header="etag"), r, body) == '"v1"'
    with pytest.raises(CaptureError, match="matched nothing"):
        ev.capture(Capture("x", jsonpath="$.nope"), r, body)
    with pytest.raises(CaptureError, match="is absent"):
        ev.capture(Capture("x", header="X-Nope"), r, body)


def test_deeply_nested_body_is_a_failure_not_an_exception():
    # python-jsonpath's `..` stops at a fixed depth (JSONPathRecursionError): a FAIL, never a crash
    deep = resp(b'{"a": ' + b"[" * 150 + b"1" + b"]" * 150 + b"}")
    checks, failures = run(Expect(json=(jc("$..x", "exists", True), jc("$.a", "type", "array"))), deep)
    assert [c.passed for c in checks] == [True, False, True]
    assert [f.message for f in failures] == ['"$..x": the response is nested too deeply to search']
    with pytest.raises(CaptureError, match="nested too deeply"):
        Evaluator().capture(Capture("c", "$..*"), deep, Body(deep.body))


def test_jsonpath_compiled_once_per_evaluator():
    ev = Evaluator()
    first = ev.compile_path("$.items[0].id")
    assert ev.compile_path("$.items[0].id") is first
    assert Evaluator().compile_path("$.items[0].id") is not first  # no module-level cache


def test_operands_rendered_through_the_engine():
    ev = Evaluator()
    r = resp()
    checks, failures = ev.evaluate(Expect(json=(jc("$.count", "eq", "${n}"),)), r, Body(r.body),
                                   render=lambda v: 2 if v == "${n}" else v)
    assert failures == []


def test_json_equal():
    assert json_equal({"a": [1, 2.0]}, {"a": [1.0, 2]})
    assert not json_equal(True, 1) and not json_equal(0, False) and not json_equal(None, 0)
    assert not json_equal({"a": 1}, {"a": 1, "b": 2})


ONE_ITEM = {"items": [{"name": "ab", "tags": ["x"]}], "n": {"a": 1}}


@pytest.mark.parametrize(
    "path, op, operand, ok",
    [
        ("$.items[*].name", "length", 2, False),  # ["ab"] has length 1: never the text "ab"
        ("$.items[*].name", "length", 1, True),
        ("$.items[*].name", "eq", ["ab"], True),
        ("$.items[*].name", "eq", "ab", False),
        ("$.items[?@.name == 'ab'].name", "eq", ["ab"], True),
        ("$.items[0:1].name", "eq", ["ab"], True),
        ("$..name", "eq", ["ab"], True),
        ("$.items[0,0].name", "eq", ["ab", "ab"], True),
        ("$.items[*].nope", "eq", [], True),  # selects nothing: the empty list
        ("$.items[*].nope", "length", 0, True),
        ("$.items[*].nope", "exists", False, True),  # exists: did it select anything?
        ("$.items[*].nope", "exists", True, False),
        ("$.items[*].name", "exists", True, True),
        ("$.items[0].name", "eq", "ab", True),  # singular: names and indexes only
        ("$['items'][-1].name", "length", 2, True),
        ("$.items[0].nope", "exists", False, True),
    ],
)
def test_a_path_that_is_not_singular_is_a_list_whatever_it_matches(path, op, operand, ok):
    checks, _ = run(Expect(json=(jc(path, op, operand),)), resp(ONE_ITEM))
    assert checks[-1].passed is ok


def test_a_scalar_compared_with_a_list_path_gets_a_hint():
    (failure,) = run(Expect(json=(jc("$.items[*].name", "eq", "ab"),)), resp(ONE_ITEM))[1]
    assert failure.message == '$.items[*].name: expected "ab", got ["ab"]'
    assert "not singular" in failure.hint and "$.items[0].name" in failure.hint
    (failure,) = run(Expect(json=(jc("$.items[*].name", "length", 2),)), resp(ONE_ITEM))[1]
    assert failure.hint is None  # a length is a list's question too


def test_a_capture_with_a_path_that_is_not_singular_is_a_list():
    ev = Evaluator()
    r = resp(ONE_ITEM)
    body = Body(r.body)
    assert ev.capture(Capture("names", jsonpath="$.items[*].name"), r, body) == ["ab"]
    assert ev.capture(Capture("none", jsonpath="$.items[*].nope"), r, body) == []
    assert ev.capture(Capture("name", jsonpath="$.items[0].name"), r, body) == "ab"
    with pytest.raises(CaptureError, match="matched nothing"):
        ev.capture(Capture("x", jsonpath="$.items[0].nope"), r, body)


def test_matches_anchors_at_the_end_in_headers_body_and_json():
    r = resp({"id": "123\n"}, headers=(("X-Id", "123\n"),))
    pattern = (Predicate("matches", "^[0-9]+$"),)
    checks, _ = run(Expect(headers=(HeaderCheck("X-Id", pattern),), json=(JsonCheck("$.id", pattern),),
                           body=(Predicate("matches", r'"123\\n"}$'),)), r)
    assert [c.passed for c in checks] == [True, False, False, True]


@pytest.mark.parametrize(
    "operand, ok",
    [(42, True), (4.5, True), (True, True), (None, True), (43, False), ("42", True)],
)
def test_contains_a_number_in_text_looks_for_its_text(operand, ok):
    r = resp(b'order 42 ok, 4.5 stars, true, null', headers=(("X-Note", "order 42 ok, 4.5 true null"),))
    pred = (Predicate("contains", operand),)
    checks, failures = run(Expect(headers=(HeaderCheck("X-Note", pred),), body=pred), r)
    assert [c.passed for c in checks[1:]] == [ok, ok]
    if not ok:
        assert failures[0].message == 'header X-Note: expected to contain "43", got "order 42 ok, 4.5 true null"'


def test_contains_a_number_in_a_json_string_or_list():
    r = resp({"note": "order 42 ok", "ids": [42], "texts": ["42"], "by_id": {"42": "x"}})
    checks, _ = run(Expect(json=(jc("$.note", "contains", 42), jc("$.ids", "contains", 42),
                                 jc("$.texts", "contains", 42), jc("$.by_id", "contains", 42))), r)
    assert [c.passed for c in checks[1:]] == [True, True, False, True]  # a list compares JSON values
