"""Evaluator.select walks paths of names and indexes itself (`$.items[0].id`, the common case):
property tests hold it to python-jsonpath's answer on any JSON document, quirks included."""

from __future__ import annotations

import json

import jsonpath
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runner.expectations import MISSING, Evaluator

SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
NAMES = st.sampled_from(["a", "id", "items", "0", "1", "true", "length", "_x"])
SCALARS = st.none() | st.booleans() | st.integers(-3, 3) | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=3)
DOCS = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(NAMES, inner, max_size=4),
                    max_leaves=12)
STEPS = st.lists(st.one_of(NAMES.filter(lambda n: n[0].isalpha() or n[0] == "_").map(lambda n: "." + n),
                           st.integers(0, 4).map(lambda i: f"[{i}]")), max_size=4)
REFERENCE = jsonpath.JSONPathEnvironment()


def reference(path: str, doc):
    found = REFERENCE.compile(path).findall(doc)
    return found[0] if found else MISSING


def same(a, b) -> bool:
    return (a is MISSING and b is MISSING) or (type(a) is type(b) and json.dumps(a) == json.dumps(b))


@SETTINGS
@given(DOCS, STEPS)
def test_a_simple_path_selects_what_python_jsonpath_selects(doc, steps):
    path = "$" + "".join(steps)
    doc = json.loads(json.dumps(doc))  # what a response body parses to
    evaluator = Evaluator()
    assert evaluator.singular(path)
    got = evaluator.select(path, doc)
    assert same(got, reference(path, doc)), (path, doc, got)
    assert same(evaluator.select(path, doc), got)  # the second time, from the cache, the same


@SETTINGS
@given(DOCS, st.data())
def test_a_path_that_follows_the_document_selects_what_python_jsonpath_selects(doc, data):
    """Paths built along the document's own keys and indexes (a key "0" read as `[0]` too),
    with now and then a step that is not there."""
    doc = json.loads(json.dumps(doc))
    path, here = "$", doc
    for _ in range(data.draw(st.integers(1, 4))):
        follow = data.draw(st.integers(0, 3)) > 0  # mostly along the document
        if isinstance(here, dict) and here and follow:
            key = data.draw(st.sampled_from(sorted(here)))
            path += f"[{key}]" if key.isdigit() else (f".{key}" if key[0].isalpha() or key[0] == "_" else "")
            here = here[key]
        elif isinstance(here, list) and here and follow:
            index = data.draw(st.integers(0, len(here) - 1))
            path, here = path + f"[{index}]", here[index]
        else:
            path += data.draw(STEPS.filter(bool))[0]
            here = None
    assert same(Evaluator().select(path, doc), reference(path, doc)), (path, doc)


def test_an_index_on_an_object_is_python_jsonpaths_to_read():
    evaluator = Evaluator()
    assert evaluator.select("$[0]", {"0": "zero"}) == "zero"  # python-jsonpath reads key "0"
    assert evaluator.select("$.items[0].id", {"items": [{"id": 7}]}) == 7
    assert evaluator.select("$.items[5]", {"items": []}) is MISSING
    assert evaluator.select("$.a", "text") is MISSING
    assert evaluator.select("$.items[*].id", {"items": [{"id": 1}, {"id": 2}]}) == [1, 2]  # not singular: a list
