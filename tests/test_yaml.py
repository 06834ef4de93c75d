"""runner._yaml: safe reading, positions, and every loader error (HAZARDS section C)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from runner._yaml import MAX_DEPTH, decode, parse
from runner.errors import SpecError
from runner.load import load_spec_file, read_text_file
from runner.source import Span, format_diagnostic
from runner.srcmask import masked_lines
from tests.helpers import CANARY

DATA = Path(__file__).parent / "data" / "invalid"


def errors(text: str, **kw) -> list[str]:
    with pytest.raises(SpecError) as info:
        parse(text, filename="t.yaml", **kw)
    return [d.one_line() for d in info.value.diagnostics]


def one_error(text: str, **kw) -> str:
    found = errors(text, **kw)
    assert len(found) == 1
    return found[0]


def data(text: str):
    return parse(text, filename="t.yaml")[0]


# ---------------------------------------------------------------- scalar typing


def test_yaml_1_1_coercions_stay_strings():
    d = data("a: NO\nb: no\nc: on\nd: yes\ne: off\nf: y\ng: n\nh: 1:30\ni: 2024-01-01\nj: =\nk: 1_000\non: x\n")
    assert d == {"a": "NO", "b": "no", "c": "on", "d": "yes", "e": "off", "f": "y", "g": "n", "h": "1:30", "i": "2024-01-01", "j": "=", "k": "1_000", "on": "x"}


def test_booleans_nulls_and_numbers():
    d = data("t: [true, True, TRUE]\nf: [false, False, FALSE]\nn: [~, null, Null, NULL]\ni: [0, -3, +4, 0x1F, 0o17]\nx: [1.5, .5, 1e3, 1.0e+3, 1.10]\n")
    assert d["t"] == [True, True, True] and d["f"] == [False, False, False]
    assert d["n"] == [None, None, None, None]
    assert d["i"] == [0, -3, 4, 31, 15]
    assert d["x"] == [1.5, 0.5, 1000.0, 1000.0, 1.1]


def test_leading_zero_integer_stays_a_string():
    # YAML 1.1 says octal (128), YAML 1.2 says decimal (200): we take neither guess
    assert data("status: 0200\nzip: 01234\n") == {"status": "0200", "zip": "01234"}


def test_quoted_and_explicit_str():
    assert data("a: '123'\nb: \"true\"\nc: !!str 42\nd: !!int '7'\n") == {"a": "123", "b": "true", "c": "42", "d": 7}


@pytest.mark.parametrize("value", [".inf", "-.inf", ".NaN", ".nan", "1e999"])
def test_inf_and_nan_rejected(value):
    assert "JSON cannot hold" in one_error(f"a: {value}\n")


def test_huge_integer_is_a_clear_error():
    assert "digits" in one_error("a: " + "9" * 5000 + "\n")


@pytest.mark.parametrize("text", ['a: "x\\ud800"\n', '"\\udc00": 1\n', 'a: [!!str "\\ud83d\\ude00"]\n', 'a: "\\U0000DFFF"\n'])
def test_surrogate_escape_is_a_clear_error(text):
    """A lone UTF-16 surrogate is not a character: once a UnicodeEncodeError at send time."""
    assert "surrogate" in one_error(text)


def test_escaped_characters_and_single_quoted_backslashes_are_fine():
    assert data('a: "\\U0001F600 \\u00e9"\nb: \'\\ud800\'\n') == {"a": "\U0001f600 \u00e9", "b": "\\ud800"}


@pytest.mark.parametrize("tag", ["!!binary aGVsbG8=", "!!set {a, b}", "!!python/object/apply:os.system ['echo hi']", "!!python/name:os.system ''", "!custom x", "!!timestamp 2024-01-01", "!!omap [a: 1]"])
def test_unsupported_tags_rejected_with_position(tag):
    msg = one_error(f"x: 1\ny: {tag}\n")
    assert msg.startswith("t.yaml:2:4: unsupported tag '")


def test_python_object_apply_file_is_rejected():
    with pytest.raises(SpecError) as info:
        load_spec_file(DATA / "python-tag.yaml")
    assert "unsupported tag '!!python/object/apply:os.system'" in info.value.diagnostics[0].message


# ------------------------------------------------------------ keys and structure


def test_duplicate_key_is_an_error_pointing_at_the_second():
    msg = one_error("requests:\n  - url: /a\n    name: x\n    url: /b\n")
    assert msg.startswith("t.yaml:4:5: duplicate key 'url' (first at line 2)")


def test_duplicate_key_file():
    with pytest.raises(SpecError) as info:
        load_spec_file(DATA / "duplicate-key.yaml")
    assert "duplicate key 'url'" in str(info.value)


def test_merge_keys_work_and_explicit_keys_win():
    d = data("base: &b {x: 1, y: 2}\nmore: &m {z: 3, x: 9}\nc:\n  <<: [*b, *m]\n  y: 5\n")
    assert d["c"] == {"y": 5, "x": 1, "z": 3}


def test_merged_values_have_positions():
    _, smap = parse("base: &b\n  x: 1\nc:\n  <<: *b\n", filename="t.yaml")
    assert smap.value_span(("c", "x")).line == 2


def test_aliases_are_expanded():
    assert data("a: &a [1, 2]\nb: *a\n") == {"a": [1, 2], "b": [1, 2]}


def test_billion_laughs_fails_fast():
    with pytest.raises(SpecError) as info:
        load_spec_file(DATA / "billion-laughs.yaml")
    assert "more than 100000 values" in str(info.value)


def test_merge_key_laughs_fail_fast():
    lines = ["a0: &a0 {k: v, j: w}"]
    for i in range(1, 30):
        lines.append(f"a{i}: &a{i} {{x: [*a{i-1}, *a{i-1}, *a{i-1}], <<: *a{i-1}}}")
    assert "more than 100000 values" in one_error("\n".join(lines) + "\n")


@pytest.mark.parametrize("text", ["a: &a [*a]\n", "a: &a {b: *a}\n", "a: &a {<<: *a}\n"])
def test_recursive_alias_rejected(text):
    assert "recursive alias" in one_error(text)


def test_alias_chains_cannot_nest_past_the_limit():
    lines = ["a0: &a0 [1]"] + [f"a{i}: &a{i} [*a{i-1}]" for i in range(1, 100)]
    assert "deeper than" in one_error("\n".join(lines) + "\n")


@pytest.mark.parametrize("key,kind", [("200", "a number"), ("true", "true/false"), ("~", "null"), ("[a]", "a list or mapping")])
def test_non_string_keys_rejected(key, kind):
    text = f"{key}: x\n" if not key.startswith("[") else f"? {key}\n: x\n"
    assert kind in one_error(text)


def test_depth_600_rejected_before_composing():
    text = "a: " + "[" * 600 + "]" * 600 + "\n"
    assert f"nesting is deeper than {MAX_DEPTH} levels" in one_error(text)


def test_depth_block_style_rejected():
    text = "".join("  " * i + f"k{i}:\n" for i in range(100)) + "  " * 100 + "v\n"
    assert "nesting is deeper" in one_error(text)


def test_depth_30000_does_not_crash_the_process():
    code = (
        "from runner._yaml import parse\n"
        "from runner.errors import SpecError\n"
        "for text in ('a: ' + '[' * 30000 + ']' * 30000, '[' * 30000, '{a: ' * 30000 + '}' * 30000):\n"
        "    try:\n"
        "        parse(text, filename='deep.yaml')\n"
        "    except SpecError as e:\n"
        "        assert 'deeper than' in str(e), str(e)\n"
        "    else:\n"
        "        raise SystemExit('accepted')\n"
        "print('ok')\n"
    )
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.run([sys.executable, "-c", code], cwd=root, env={"PYTHONPATH": str(root)}, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "ok"


def test_depth_at_the_limit_is_fine():
    text = "a: " + "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1) + "\n"
    assert parse(text, filename="t.yaml")[0]["a"] is not None


# ------------------------------------------------------------------- shape


@pytest.mark.parametrize("text", ["", "   \n", "# only a comment\n# another\n", "---\n", "---\n...\n"])
def test_empty_spec(text):
    assert one_error(text).endswith("spec is empty")


def test_empty_file_from_disk():
    with pytest.raises(SpecError, match="spec is empty"):
        load_spec_file(DATA / "empty.yaml")


def test_several_documents_rejected():
    with pytest.raises(SpecError) as info:
        load_spec_file(DATA / "two-documents.yaml")
    d = info.value.diagnostics[0]
    assert "several YAML documents" in d.message and d.span.line == 3


@pytest.mark.parametrize("text,got", [("- a\n- b\n", "a list"), ("just text\n", "a single value"), ("42\n", "a single value")])
def test_top_level_must_be_a_mapping(text, got):
    assert f"expected a mapping (key: value lines) at the top of the spec, got {got}" in one_error(text)


def test_top_level_list_file():
    with pytest.raises(SpecError, match="expected a mapping"):
        load_spec_file(DATA / "top-level-list.yaml")


# ---------------------------------------------------------------- syntax errors


def test_tab_indentation_hint():
    with pytest.raises(SpecError) as info:
        load_spec_file(DATA / "tab-indent.yaml")
    d = info.value.diagnostics[0]
    assert d.span.line == 2 and d.hint and "YAML forbids tabs for indentation" in d.hint


def test_syntax_error_has_line_and_column():
    msg = one_error("a: [1, 2\nb: 3\n")
    assert msg.startswith("t.yaml:2:") and "YAML syntax error" in msg


def test_syntax_error_next_to_a_token_never_prints_it():
    path = DATA / "syntax-near-token.yaml"
    assert CANARY in path.read_text()
    with pytest.raises(SpecError) as info:
        load_spec_file(path)
    rendered = [format_diagnostic(d, masked_lines(str(path))) for d in info.value.diagnostics]
    everything = str(info.value) + repr(info.value.diagnostics) + "\n".join(rendered)
    assert CANARY not in everything
    assert "syntax-near-token.yaml:5:" in everything


def test_syntax_error_messages_do_not_quote_long_values():
    text = f'a: "{CANARY}\\q"\n'
    assert CANARY not in "".join(errors(text))


# ------------------------------------------------------------------- encoding


def test_utf8_bom_and_crlf():
    text = decode(b"\xef\xbb\xbfname: caf\xc3\xa9\r\nrequests: []\r\n", "t.yaml")
    assert parse(text, filename="t.yaml")[0] == {"name": "café", "requests": []}


def test_utf16_with_bom():
    raw = "name: café\nrequests: []\n".encode("utf-16")
    assert parse(decode(raw, "t.yaml"), filename="t.yaml")[0]["name"] == "café"
    raw = b"\xfe\xff" + "a: 1\n".encode("utf-16-be")
    assert parse(decode(raw, "t.yaml"), filename="t.yaml")[0] == {"a": 1}


def test_invalid_utf8_is_a_clear_error():
    with pytest.raises(SpecError) as info:
        decode(b"a: 1\nb: caf\xe9\n", "t.yaml")
    d = info.value.diagnostics[0]
    assert "not valid UTF-8" in d.message and d.span.line == 2


def test_nul_byte_is_a_clear_error():
    with pytest.raises(SpecError, match="NUL byte"):
        decode(b"a: 1\n\x00b: 2\n", "t.yaml")
    with pytest.raises(SpecError, match="NUL byte"):
        parse("a: 1\x00\n", filename="t.yaml")
    with pytest.raises(SpecError, match="NUL byte"):
        decode("a: 1\n".encode("utf-16-le"), "t.yaml")  # UTF-16 without a BOM


def test_control_character_is_a_clear_error():
    assert "control character U+0007" in one_error("a: x\x07\n")


def test_files_from_disk_with_encodings(tmp_path):
    spec = "requests:\n  - url: /x\n"
    (tmp_path / "bom.yaml").write_bytes(b"\xef\xbb\xbf" + spec.encode())
    (tmp_path / "u16.yaml").write_bytes(spec.encode("utf-16"))
    (tmp_path / "crlf.yaml").write_bytes(spec.replace("\n", "\r\n").encode())
    for name in ("bom.yaml", "u16.yaml", "crlf.yaml"):
        assert load_spec_file(tmp_path / name).requests[0].url == "/x"
    (tmp_path / "bad.yaml").write_bytes(b"requests:\n  - url: /\xff\n")
    with pytest.raises(SpecError, match="UTF-8"):
        load_spec_file(tmp_path / "bad.yaml")


# --------------------------------------------------------------- file checks


def test_directory_fifo_device_and_large_files_refused(tmp_path):
    import os

    with pytest.raises(SpecError, match="is a directory"):
        read_text_file(tmp_path)
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    with pytest.raises(SpecError, match="is a FIFO"):
        read_text_file(fifo)  # would block forever if it were opened
    with pytest.raises(SpecError, match="is a device"):
        read_text_file("/dev/zero")
    big = tmp_path / "big.yaml"
    with open(big, "wb") as fh:
        fh.truncate(50 * 1024 * 1024)
    with pytest.raises(SpecError, match="too large"):
        read_text_file(big)
    with pytest.raises(SpecError, match="no such spec file"):
        read_text_file(tmp_path / "missing.yaml")


# --------------------------------------------------------------- source map


def test_source_map_key_and_value_spans():
    text = "version: 1\nrequests:\n  - name: a\n    url: /x\n"
    _, smap = parse(text, filename="t.yaml")
    assert smap.key_span(("requests", 0, "url")).location() == "t.yaml:4:5"
    assert smap.value_span(("requests", 0, "url")).location() == "t.yaml:4:10"
    assert smap.value_span(("requests", 0)).location() == "t.yaml:3:5"
    # unknown paths fall back to the nearest ancestor
    assert smap.value_span(("requests", 0, "url", "nope", 3)).location() == "t.yaml:4:10"


# ------------------------------------------------- fast path == careful path

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from runner import _yaml  # noqa: E402


def _careful(text: str):
    mp = pytest.MonkeyPatch()
    mp.setattr(_yaml, "_fast_parse", lambda text, walker: _yaml._FALLBACK)
    try:
        return _outcome(text)
    finally:
        mp.undo()


def _outcome(text: str):
    try:
        data, smap = parse(text, filename="t.yaml")
    except SpecError as exc:
        return ("error", [d.one_line() for d in exc.diagnostics])
    spans = {path: (smap.key_span(path).location(), smap.value_span(path), smap.key_span(path)) for path in smap.paths()}
    return ("ok", repr(data), spans)


_FRAGMENTS = st.sampled_from(
    [
        "a", "b", "url", ": ", ":", "- ", "\n", "  ", "    ", "[", "]", "{", "}", ", ", "'q'", '"d\\n"', "1", "-2", "0x1F",
        "0o7", "1.5", ".5", "1e3", "0200", "1:30", "true", "False", "yes", "null", "~", "", "!!str 1", "! 1", "!!int 3",
        "&x ", "*x", "<<: ", "? ", "#c", "|\n  t\n", ">-\n  t\n", "---\n", "...\n", "$.a", "${v}", "\t", "é", "1_000",
        ".inf", "!foo ", "-", "--", "a: b\na: c\n", "\u0663", "\u00b2", "+x", ".x",
    ]
)


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(_FRAGMENTS, max_size=30).map("".join))
def test_fast_path_agrees_with_the_careful_path(text):
    """The single-pass fast path gives the same data, positions and errors as compose + walk."""
    assert _outcome(text) == _careful(text)


_JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=30,
)


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.dictionaries(st.text(max_size=6), _JSONISH, max_size=5), st.sampled_from([None, False, True]))
def test_fast_path_agrees_on_structured_documents(doc, flow):
    import json as _json

    import yaml as _pyyaml

    text = _json.dumps(doc) if flow is None else _pyyaml.safe_dump(doc, default_flow_style=flow, allow_unicode=True)
    assert _outcome(text) == _careful(text)


def test_fast_path_is_taken_for_a_plain_spec():
    text = "version: 1\nrequests:\n  - name: a\n    url: /x\n    expect: {status: 200, json: {$.a: [1, 2]}}\n"
    walker = _yaml._Walker("t.yaml", _yaml.SourceMap("t.yaml"))
    assert _yaml._fast_parse(text, walker) == {"version": 1, "requests": [{"name": "a", "url": "/x", "expect": {"status": 200, "json": {"$.a": [1, 2]}}}]}


@pytest.mark.parametrize(
    "text",
    ["a: &x 1\nb: *x\n", "a: {<<: {b: 1}}\n", "a: !!str 1\n", "a: 1\na: 2\n", 'a: "\\ud800"\n', "- 1\n", "a: 1\n---\nb: 2\n", "{[1]: 2}\n", "a: " + "[" * 65 + "]" * 65],
)
def test_fast_path_defers_what_it_does_not_handle(text):
    walker = _yaml._Walker("t.yaml", _yaml.SourceMap("t.yaml"))
    assert _yaml._fast_parse(text, walker) is _yaml._FALLBACK


def test_fast_path_plain_words_match_the_walker():
    walker = _yaml._Walker("t.yaml", _yaml.SourceMap("t.yaml"))
    for word, value in _yaml._PLAIN_WORDS.items():
        assert walker.plain(None, word) is value


def _big_spec(n: int, anchor: str = "") -> str:
    lines = ["version: 1", f"name: big{anchor}", "requests:"]
    for i in range(n):
        lines += [f"  - name: r{i}", "    url: /x", "    expect:", "      status: 200", "      json:", "        $.count: 2"]
    return "\n".join(lines) + "\n"


def test_a_large_plain_file_takes_the_one_pass_path():
    # 20,000 requests are ~180,000 values: more than MAX_NODES, yet no alias, so no cap applies
    from runner import _yaml

    smap = _yaml.SourceMap("big.yaml")
    out = _yaml._fast_parse(_big_spec(20_000), _yaml._Walker("big.yaml", smap))
    assert out is not _yaml._FALLBACK
    assert len(out["requests"]) == 20_000
    assert smap.value_span(("requests", 19_999, "name")).line == 4 + 6 * 19_999


def test_a_large_file_with_an_anchor_is_not_taken_for_an_alias_bomb():
    doc = data(_big_spec(20_000, anchor="\nx: &x 1\ny: *x"))
    assert len(doc["requests"]) == 20_000 and doc["y"] == 1


def test_a_released_position_is_found_again_by_reading_the_text_again():
    text = "a: 1\nrequests:\n  - name: x\n    url: /x\n  - name: y\n    url: /y\n"
    data, smap = parse(text, filename="t.yaml")
    before = smap.value_span(("requests", 1, "url"))
    smap.release(("requests", 1))
    smap.release(("requests", 7))  # nothing there: no harm
    smap.release(("a", "b"))  # below a scalar: no harm
    assert smap.value_span(("requests", 1, "url")) == before == Span.at("t.yaml", 6, 10, 6, 12)
    assert smap.key_span(("requests", 0, "name")).line == 3


def test_lookups_fall_back_to_the_nearest_recorded_ancestor():
    data, smap = parse("a:\n  b: [1, 2]\n", filename="t.yaml")
    assert smap.value_span(("a", "b", 5)) == smap.value_span(("a", "b"))  # no such item
    assert smap.value_span(("a", "b", -1)) == smap.value_span(("a", "b"))  # never from the end
    assert smap.value_span(("a", "b", 0, "deeper")) == smap.value_span(("a", "b", 0))  # below a scalar
    assert smap.value_span(("zzz",)).line == 1  # the root
    forgotten = smap.only(("a",))
    smap.forget()
    assert smap.value_span(("a", "b")) == Span.point("t.yaml")  # forgotten: the file itself
    assert forgotten.value_span(("a", "b", 1)).column == 10
