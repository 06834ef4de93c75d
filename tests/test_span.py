"""A Span is one int underneath (its path's number and four positions): it must still
behave as the value object reports and diagnostics rely on."""

from __future__ import annotations

import copy
import pickle

import pytest

from runner.source import Diagnostic, Position, Span


def test_a_span_is_a_value():
    a = Span.at("a.yaml", 3, 4, 3, 9)
    assert a == Span("a.yaml", Position(3, 4), Position(3, 9)) and hash(a) == hash(Span.at("a.yaml", 3, 4, 3, 9))
    assert a != Span.at("b.yaml", 3, 4, 3, 9) and a != Span.at("a.yaml", 3, 4, 3, 10)
    assert (a.path, a.line, a.column, a.start, a.end) == ("a.yaml", 3, 4, Position(3, 4), Position(3, 9))
    assert a.location() == "a.yaml:3:4" and repr(a) == "Span(path='a.yaml', start=Position(line=3, column=4), end=Position(line=3, column=9))"
    assert {a: 1}[Span.at("a.yaml", 3, 4, 3, 9)] == 1


def test_a_span_is_not_a_number():
    a = Span.point("a.yaml")
    assert a != int(a) and int(a) != a and not (int(a) == a) and a != Span.point("b.yaml")
    assert a != "a.yaml" and a != None  # noqa: E711 - any other type: not equal either
    assert bool(Span.point("a.yaml", 0, 0))  # never falsy, whatever its numbers
    with pytest.raises(TypeError):
        sorted([a, Span.point("b.yaml")])  # spans are not ordered: Diagnostic.sort_key is
    with pytest.raises(AttributeError):
        a.path = "b.yaml"  # immutable


def test_a_span_survives_pickling_and_copying_by_path():
    a = Span.at("dir/ü.yaml", 10, 2, 12, 7)
    assert pickle.loads(pickle.dumps(a)) == a and copy.deepcopy(a) == a
    assert pickle.loads(pickle.dumps(Diagnostic("m", a))).span == a


def test_positions_out_of_range():
    with pytest.raises(ValueError):
        Span.at("a.yaml", -1, 1, 1, 1)
    huge = Span.at("a.yaml", 2**40, 1, 2**40, 2)  # clamped, never a crash
    assert huge.line == 2**24 - 1 and huge.end.column == 2
