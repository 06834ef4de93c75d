"""The streamed loader (each request built as soon as it is read) gives exactly what the
careful loader (whole document, then schema, then model) gives: the same Spec, or the
same diagnostics. It only ever says yes; anything else goes the careful way."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runner import load as load_module
from runner._yaml import parse_plain
from runner.errors import SpecError
from runner.load import load_spec


def _outcome(text: str, base_dir: str, *, streamed: bool):
    mp = pytest.MonkeyPatch()
    calls = []
    real = load_module._load_streamed

    def spy(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs) if streamed else None

    mp.setattr(load_module, "_load_streamed", spy)
    try:
        spec = load_spec(text, filename="s.yaml", base_dir=base_dir)
        return ("ok", spec)
    except SpecError as exc:
        return ("error", [d.one_line() for d in exc.diagnostics], [d.hint for d in exc.diagnostics])
    finally:
        mp.undo()
        assert calls, "load_spec no longer tries the streamed path"


def _agree(text: str, base_dir: str = "/nonexistent"):
    streamed = _outcome(text, base_dir, streamed=True)
    careful = _outcome(text, base_dir, streamed=False)
    assert streamed == careful
    return streamed


_HEAD = "version: 1\nname: s\nbase_url: http://127.0.0.1:1\n"


def test_a_plain_spec_is_built_the_same_way(tmp_path):
    (tmp_path / "_frag.yaml").write_text("version: 1\nrequests:\n  - name: f1\n    url: /f1\n  - name: f2\n    url: /f2\n")
    text = _HEAD + (
        "secrets:\n  t:\n    env: T\nauth:\n  bearer: t\n"
        "requests:\n"
        "  - name: one\n    url: /one\n    headers: {X-A: b}\n    expect:\n      status: [200, 201]\n      json:\n        $.count: {gt: 1}\n        $.name: x\n"
        "    capture:\n      id: $.id\n"
        "  - include: _frag.yaml\n"
        "  - name: row ${item}\n    url: /rows/${item}\n    for_each: [1, 2, 3]\n"
        "  - url: /last\n    method: post\n    json: {a: [1, 2]}\n"
        "defaults:\n  timeout: 5\n"
    )
    outcome = _agree(text, str(tmp_path))
    assert outcome[0] == "ok", outcome
    spec = outcome[1]
    assert [r.name for r in spec.requests] == ["one", "f1 (from _frag.yaml)", "f2 (from _frag.yaml)", "row 1", "row 2", "row 3", "POST /last"]
    assert [r.index for r in spec.requests] == list(range(7))
    assert spec.requests[0].expect.json[0].span.line == 16
    assert load_module._load_streamed(text, filename="s.yaml", base_dir=str(tmp_path)) == spec  # it was streamed


@pytest.mark.parametrize(
    "tail",
    [
        "  - name: b\n    expect: {status: 200}\n",  # a request without url, after a good one
        "  - 5\n",  # a scalar item
        "  - name: b\n    url: /b\nfoo: 1\n",  # an unknown top-level key after the requests
        "  - name: b\n    url: /b\n    expect: {json: {'$.[': 1}}\n",  # a bad JSONPath: the model's check
        "  - name: b\n    url: /b\n    expect: {json: {'$.[': 1}}\nfoo: 1\n",  # the model's and the schema's: schema wins
        "  - name: b\n    url: /b\nx: &a 1\ny: *a\n",  # an alias after the requests: the careful path
        "  - name: b\n    url: /b\n  - {<<: {url: /c}}\n",  # a merge key
        "  - name: b\n    url: /b\n    url: /c\n",  # a duplicate key
        "  - name: b\n    url: /b\n    vars: {a: 1}\n",  # vars on a request
        "  - name: b\n    url: [/b\n",  # a syntax error
    ],
)
def test_a_spec_the_stream_cannot_finish_gets_the_careful_answer(tail):
    text = _HEAD + "requests:\n  - name: a\n    url: /a\n" + tail
    _agree(text)


@pytest.mark.parametrize("requests", ["requests: []\n", "requests: {a: 1}\n", "requests:\n", ""])
def test_a_spec_without_a_request_list_gets_the_careful_answer(requests):
    kind, *_ = _agree(_HEAD + requests)
    assert kind == "error"


def test_each_request_s_data_is_let_go_before_the_next_is_read():
    text = "requests:\n" + "".join(f"  - name: r{i}\n    url: /r{i}\n" for i in range(50)) + "after: 1\n"
    seen = []

    def take(index, item, smap):
        seen.append(index)
        return True

    data, smap = parse_plain(text, filename="s.yaml", stream=("requests", take))
    assert seen == list(range(50))
    assert data["requests"] == [None] * 50 and data["after"] == 1


def test_an_item_not_taken_stays_in_the_data():
    text = "requests:\n  - a: 1\n  - b\n"
    data, _ = parse_plain(text, filename="s.yaml", stream=("requests", lambda index, item, smap: False))
    assert data["requests"] == [{"a": 1}, "b"]


def test_only_the_root_list_is_streamed():
    text = "other:\n  requests:\n    - a: 1\nrequests:\n  - b: 2\n"
    taken = []
    data, _ = parse_plain(text, filename="s.yaml", stream=("requests", lambda i, item, smap: taken.append(item) or True))
    assert taken == [{"b": 2}] and data["other"] == {"requests": [{"a": 1}]}


_BITS = st.sampled_from(
    [
        "requests:", "  - url: /x", "  - name: n", "    url: /y", "    expect:", "      status: 200", "      json: {$.a: 1}",
        "      json: {'$.[': 1}", "    for_each: [1, 2]", "    capture: {x: $.a}", "  - include: _f.yaml", "version: 1",
        "name: n", "foo: 1", "&a", "*a", "<<: *a", "- ", ": ", "[", "]", "{", "}", "\n", "  ", "'", "#", "${x}", "5",
    ]
)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(_BITS, max_size=25).map("\n".join))
def test_streamed_and_careful_loading_agree(text):
    _agree(text)
