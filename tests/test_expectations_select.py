"""Evaluator.select: python-jsonpath selects; a singular path gives its value or MISSING,
any other path the list it selects (decided once per path)."""

from __future__ import annotations

from runner.expectations import MISSING, Evaluator


def test_select_gives_python_jsonpaths_answer():
    evaluator = Evaluator()
    assert evaluator.select("$[0]", {"0": "zero"}) == "zero"  # python-jsonpath reads key "0"
    assert evaluator.select("$.items[0].id", {"items": [{"id": 7}]}) == 7
    assert evaluator.select("$.items[5]", {"items": []}) is MISSING
    assert evaluator.select("$.a", "text") is MISSING
    assert evaluator.select("$.items[*].id", {"items": [{"id": 1}, {"id": 2}]}) == [1, 2]  # not singular: a list
