"""Issue 8: `for_each` (data-driven requests) and `include` (shared fragments), run as a user
runs them against the test server; HAZARDS 74-75 as tests."""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from urllib.parse import unquote, urlsplit

import pytest

from tests.helpers import CANARY, run_cli, write

HEAD = "version: 1\nname: s\nbase_url: ${env:API}\n"


def spec(cwd, body: str, name: str = "s.yaml", head: str = HEAD) -> str:
    write(cwd / name, head + "requests:\n" + body.lstrip("\n"))
    return name


def paths(server, prefix: str = "/reflect/") -> list[str]:
    return [unquote(r.path) for r in server.received if r.path.startswith(prefix)]


# ------------------------------------------------------------------------- for_each


def test_inline_rows_run_once_each_with_item_fields_index_and_types(cwd, http_server):
    spec(cwd, """
  - name: get pet ${item.id}
    for_each: [{id: 1, name: Rex}, {id: 2, name: Tom}]
    method: POST
    url: /reflect/pets/${item.id}?name=${item.name}&i=${index}
    json: {id: "${item.id}", label: "pet ${item.id}"}
    expect:
      status: 200
""")
    code, out, err = run_cli(["run", "s.yaml", "--json", "r.json", "--junit", "j.xml"], {"API": http_server.url})
    assert code == 0, out + err
    assert paths(http_server) == ["/reflect/pets/1?name=Rex&i=0", "/reflect/pets/2?name=Tom&i=1"]
    bodies = [json.loads(r.body) for r in http_server.received]
    assert bodies == [{"id": 1, "label": "pet 1"}, {"id": 2, "label": "pet 2"}]  # a lone ${item.id} stays a number
    steps = json.loads((cwd / "r.json").read_text())["specs"][0]["steps"]
    assert [s["name"] for s in steps] == ["get pet 1", "get pet 2"]
    cases = ET.parse(cwd / "j.xml").getroot().iter("testcase")
    assert [c.get("name") for c in cases] == ["get pet 1", "get pet 2"]
    assert "get pet 1" in out and "get pet 2" in out


def test_a_name_that_does_not_change_gets_the_row_index(cwd, http_server):
    spec(cwd, """
  - name: ping
    for_each: [a, b, c]
    url: /reflect/${item}
""")
    code, out, err = run_cli(["run", "s.yaml", "--json", "r.json"], {"API": http_server.url})
    assert code == 0, out + err
    steps = json.loads((cwd / "r.json").read_text())["specs"][0]["steps"]
    assert [s["name"] for s in steps] == ["ping [0]", "ping [1]", "ping [2]"]


def test_k_matches_rendered_names(cwd, http_server):
    spec(cwd, """
  - name: get pet ${item.name}
    for_each: [{name: Rex}, {name: Tom}]
    url: /reflect/${item.name}
""")
    code, out, err = run_cli(["run", "s.yaml", "-k", "tom"], {"API": http_server.url})
    assert code == 0, out + err
    assert paths(http_server) == ["/reflect/Tom"]


def test_csv_with_bom_crlf_and_quoted_newlines_gives_string_rows(cwd, http_server):
    (cwd / "_data").mkdir()
    write(cwd / "_data" / "pets.csv", b'\xef\xbb\xbfid,name\r\n1,"Rex\r\nthe dog"\r\n2,Tom\r\n')
    spec(cwd, """
  - name: pet ${item.id}
    for_each: {file: _data/pets.csv}
    method: POST
    url: /reflect/${item.id}
    json: {id: "${item.id}", name: "${item.name}"}
""")
    code, out, err = run_cli(["run", "s.yaml"], {"API": http_server.url})
    assert code == 0, out + err
    assert [json.loads(r.body) for r in http_server.received] == [
        {"id": "1", "name": "Rex\r\nthe dog"}, {"id": "2", "name": "Tom"}]


@pytest.mark.parametrize("ext, text", [
    ("json", '[{"id": 7, "ok": true}]'),
    ("yaml", "- {id: 7, ok: true}\n"),
])
def test_json_and_yaml_rows_keep_their_types(cwd, http_server, ext, text):
    write(cwd / f"rows.{ext}", text)
    spec(cwd, f"""
  - for_each: {{file: rows.{ext}}}
    method: POST
    url: /reflect/x
    json: {{id: "${{item.id}}", ok: "${{item.ok}}", row: "${{item}}"}}
""")
    code, out, err = run_cli(["run", "s.yaml"], {"API": http_server.url})
    assert code == 0, out + err
    assert json.loads(http_server.received[0].body) == {"id": 7, "ok": True, "row": {"id": 7, "ok": True}}


def test_a_row_value_that_looks_like_a_secret_reference_stays_text(cwd, http_server):
    write(cwd / "rows.csv", "v\n${secret:tok}\n${env:HOME}\n")
    spec(cwd, """
  - name: row ${index}
    for_each: {file: rows.csv}
    method: POST
    url: /reflect/x
    json: {v: "${item.v}"}
""", head=HEAD + "secrets:\n  tok: {env: TOKEN}\n")
    code, out, err = run_cli(["run", "s.yaml"], {"API": http_server.url, "TOKEN": CANARY})
    assert code == 0, out + err
    assert [json.loads(r.body)["v"] for r in http_server.received] == ["${secret:tok}", "${env:HOME}"]
    assert all(CANARY not in r.body.decode() for r in http_server.received)


def test_capture_in_a_for_each_request_is_a_validation_error(cwd):
    spec(cwd, """
  - for_each: [1, 2]
    url: /x/${item}
    capture: {id: $.id}
""")
    code, out, err = run_cli(["validate", "s.yaml"])
    assert code == 2
    assert "s.yaml:7:5" in out + err and "`capture` is not allowed in a `for_each` request" in out + err
    assert "only one could win" in out + err


def _rows(n: int) -> str:
    return "id\n" + "".join(f"{i}\n" for i in range(n))


@pytest.mark.parametrize("name, content, message", [
    ("ragged.csv", "id,name\n1,Rex\n2,Tom,extra\n", "row 2 (line 3): 3 values, but the header names 2 fields"),
    ("short.csv", "id,name\n1,Rex\n2\n", "row 2 (line 3): no value for field 'name'"),
    ("header.csv", "id,name\n", "has a header row but no rows"),
    ("many.csv", _rows(10_001), "more than 10000 rows"),
    ("empty.csv", "", "no header row"),
    ("object.json", '{"id": 1}', "must hold a list of rows, not an object"),
    ("bad.json", '[{"id": 1}', "is not valid JSON"),
    ("map.yaml", "id: 1\n", "must hold a list of rows, not an object"),
    ("scalars.json", "[1, 2]", "'item.id': row 0 of scalars.json is not a mapping"),  # at the for_each line
    ("missing-field.json", '[{"id": 1}, {"name": "x"}]', "'item.id': row 1 of missing-field.json has no field 'id'"),
    ("rows.txt", "id\n1\n", "unknown type"),
    ("absent.csv", None, "no such data file"),
])
def test_data_file_problems_are_clear_errors_at_the_for_each(cwd, name, content, message):
    if content is not None:
        write(cwd / name, content)
    spec(cwd, f"""
  - name: row
    for_each: {{file: {name}}}
    url: /x/${{item.id}}
""")
    code, out, err = run_cli(["validate", "s.yaml"])
    assert code == 2, out + err
    assert message in out + err
    assert "s.yaml:6:" in out + err or "s.yaml:7:" in out + err  # the for_each line (or the value using the field)
    assert "Traceback" not in out + err


def test_a_data_file_that_is_a_directory_or_a_fifo_is_refused(cwd):
    (cwd / "dir.csv").mkdir()
    os.mkfifo(cwd / "fifo.csv")
    spec(cwd, """
  - for_each: {file: dir.csv}
    url: /x
  - for_each: {file: fifo.csv}
    url: /x
""")
    code, out, err = run_cli(["validate", "s.yaml"])
    assert code == 2
    assert "dir.csv: is a directory" in out + err and "fifo.csv: is a FIFO" in out + err  # every error at once


def test_an_undefined_item_field_in_inline_rows_is_found_by_validate(cwd):
    spec(cwd, """
  - for_each: [{id: 1}, {id: 2, name: b}]
    url: /x/${item.name}
""")
    code, out, err = run_cli(["validate", "s.yaml"])
    assert code == 2
    assert "s.yaml:6:10" in out + err and "row 0 has no field 'name'" in out + err


# -------------------------------------------------------------------------- include


FRAGMENT = """
version: 1
name: create a pet
vars:
  species: dog
requests:
  - name: create ${species}
    method: POST
    url: /reflect/create/${species}/${who}/${token}
    capture:
      made: $.path
"""


def test_include_splices_a_fragment_and_captures_flow_both_ways(cwd, http_server):
    (cwd / "_common").mkdir()
    write(cwd / "_common" / "create.yaml", FRAGMENT)
    spec(cwd, """
  - name: login
    url: /reflect/login
    capture:
      token: $.method
  - include: _common/create.yaml
    vars: {species: cat}
  - name: after
    url: /reflect/after?made=${made}
""", head=HEAD + "vars:\n  who: bob\n")
    code, out, err = run_cli(["run", ".", "--json", "r.json", "--junit", "j.xml"], {"API": http_server.url})
    assert code == 0, out + err
    assert paths(http_server) == ["/reflect/login", "/reflect/create/cat/bob/GET",
                                  "/reflect/after?made=/reflect/create/cat/bob/GET"]
    steps = json.loads((cwd / "r.json").read_text())["specs"][0]["steps"]  # discovery skipped _common/
    assert [s["name"] for s in steps] == ["login", "create ${species} (from _common/create.yaml)", "after"]
    assert "(from _common/create.yaml)" in out
    names = [c.get("name") for c in ET.parse(cwd / "j.xml").getroot().iter("testcase")]
    assert names[1] == "create ${species} (from _common/create.yaml)"


def test_the_fragments_own_vars_are_defaults(cwd, http_server):
    write(cwd / "_f.yaml", FRAGMENT)
    spec(cwd, """
  - include: _f.yaml
""", head=HEAD + "vars:\n  who: bob\n  token: t\n")
    code, out, err = run_cli(["run", "s.yaml"], {"API": http_server.url})
    assert code == 0, out + err
    assert paths(http_server) == ["/reflect/create/dog/bob/t"]


def test_an_include_cycle_is_an_error_with_the_chain(cwd):
    write(cwd / "_a.yaml", "version: 1\nrequests:\n  - include: _b.yaml\n")
    write(cwd / "_b.yaml", "version: 1\nrequests:\n  - include: _a.yaml\n")
    spec(cwd, "  - include: _a.yaml\n")
    code, out, err = run_cli(["validate", "s.yaml"])
    assert code == 2, out + err
    assert "include cycle: s.yaml -> _a.yaml -> _b.yaml -> _a.yaml" in out + err
    assert "RecursionError" not in out + err and "Traceback" not in out + err


def test_includes_nest_at_most_eight_deep(cwd, http_server):
    for i in range(9):
        write(cwd / f"_f{i}.yaml", f"version: 1\nrequests:\n  - include: _f{i + 1}.yaml\n")
    write(cwd / "_f9.yaml", "version: 1\nrequests:\n  - url: /reflect/deep\n")
    spec(cwd, "  - include: _f1.yaml\n")  # 9 levels: one too many
    code, out, err = run_cli(["validate", "s.yaml"])
    assert code == 2 and "nested more than 8 deep" in out + err
    spec(cwd, "  - include: _f2.yaml\n")  # 8 levels
    code, out, err = run_cli(["run", "s.yaml"], {"API": http_server.url})
    assert code == 0, out + err
    assert paths(http_server) == ["/reflect/deep"]


def test_an_error_inside_a_fragment_names_the_fragment_and_the_include_chain(cwd):
    (cwd / "_common").mkdir()
    write(cwd / "_common" / "inner.yaml", "version: 1\nrequests:\n  - url: /x/${nope}\n  - url: /y/${also}\n")
    write(cwd / "_common" / "outer.yaml", "version: 1\nrequests:\n  - include: inner.yaml\n")
    spec(cwd, "  - include: _common/outer.yaml\n")
    code, out, err = run_cli(["validate", "s.yaml"])
    text = out + err
    assert code == 2
    chain = "included from _common/outer.yaml:3:14, included from s.yaml:5:14"
    assert "_common/inner.yaml:3:10" in text and "'nope' is not defined" in text
    assert "_common/inner.yaml:4:10" in text and "'also' is not defined" in text
    assert text.count(chain) == 2  # both errors at once, each with the chain


@pytest.mark.parametrize("make, message", [
    (lambda p: p.mkdir(), "is a directory, not a fragment file"),
    (lambda p: os.mkfifo(p), "is a FIFO, not a fragment file"),
    (lambda p: p.write_bytes(b"#" * (5 * 1024 * 1024 + 1)), "the fragment file is too large"),
    (lambda p: None, "no such fragment file"),
])
def test_a_fragment_gets_the_caps_of_a_spec_file(cwd, make, message):
    make(cwd / "_frag.yaml")
    spec(cwd, "  - include: _frag.yaml\n")
    code, out, err = run_cli(["validate", "s.yaml"])
    assert code == 2, out + err
    assert message in out + err and "Traceback" not in out + err


def test_dev_zero_as_a_fragment_is_refused(cwd):
    spec(cwd, "  - include: /dev/zero\n")
    code, out, err = run_cli(["validate", "s.yaml"])
    assert code == 2 and "is a device, not a fragment file" in out + err


def test_a_fragment_cannot_have_base_url_or_secrets(cwd):
    write(cwd / "_f.yaml", "version: 1\nbase_url: http://x\nrequests:\n  - url: /x\n")
    spec(cwd, "  - include: _f.yaml\n")
    code, out, err = run_cli(["validate", "s.yaml"])
    assert code == 2 and "_f.yaml:2:1" in out + err and "base_url" in out + err


def test_an_include_entry_holds_only_include_and_vars(cwd):
    write(cwd / "_f.yaml", "version: 1\nrequests:\n  - url: /x\n")
    spec(cwd, "  - include: _f.yaml\n    url: /y\n")
    code, out, err = run_cli(["validate", "s.yaml"])
    assert code == 2 and "s.yaml:6:5" in out + err


def test_discovery_skips_underscore_files_and_folders(cwd, http_server):
    (cwd / "specs" / "_common").mkdir(parents=True)
    write(cwd / "specs" / "_common" / "x.yaml", "version: 1\nrequests:\n  - url: /reflect/frag\n")
    write(cwd / "specs" / "_draft.yaml", HEAD + "requests:\n  - url: /reflect/draft\n")
    write(cwd / "specs" / "a.yaml", HEAD + "requests:\n  - include: _common/x.yaml\n")
    code, out, err = run_cli(["run", "specs"], {"API": http_server.url})
    assert code == 0, out + err
    assert paths(http_server) == ["/reflect/frag"]


def test_the_fragment_schema_is_printed(cwd):
    code, out, err = run_cli(["schema", "fragment"])
    assert code == 0
    schema = json.loads(out)
    assert set(schema["properties"]) == {"version", "name", "vars", "requests"}
    assert "include" in schema["$defs"]["request"]["properties"] and "for_each" in schema["$defs"]["request"]["properties"]


def test_a_fragment_named_to_validate_is_checked_as_a_fragment_and_never_run(cwd, http_server):
    (cwd / "_common").mkdir()
    write(cwd / "_common" / "ok.yaml", "version: 1\nrequests:\n  - url: /reflect/frag\n")
    write(cwd / "_common" / "bad.yaml", "version: 1\nbase_url: http://x\nrequests:\n  - include: gone.yaml\n")
    write(cwd / "_common" / "rows.csv", "id\n1\n")
    code, out, err = run_cli(["validate", "_common/ok.yaml", "_common/rows.csv"])
    assert code == 0, out + err
    assert "ok  _common/ok.yaml (fragment)" in out
    code, out, err = run_cli(["validate", "_common/bad.yaml"])
    assert code == 2 and "_common/bad.yaml:2:1" in out + err and "base_url" in out + err
    code, out, err = run_cli(["run", "_common/ok.yaml"], {"API": http_server.url})
    assert http_server.received == []


def test_a_failing_request_in_a_fragment_names_the_fragment_and_the_chain_in_reports(cwd, http_server):
    (cwd / "_common").mkdir()
    write(cwd / "_common" / "check.yaml", "version: 1\nrequests:\n  - name: must be 201\n    url: /reflect/x\n"
                                          "    expect: {status: 201}\n")
    spec(cwd, "  - include: _common/check.yaml\n")
    code, out, err = run_cli(["run", "s.yaml", "--junit", "j.xml"], {"API": http_server.url})
    assert code == 1, out + err
    where = "_common/check.yaml:3:5 (included from s.yaml:5:14)"
    assert where in out and "must be 201 (from _common/check.yaml)" in out
    failure = next(ET.parse(cwd / "j.xml").getroot().iter("failure"))
    assert where in failure.text
    code, out, err = run_cli(["run", "s.yaml", "--json", "r.json"], {"API": http_server.url})
    step = json.loads((cwd / "r.json").read_text())["specs"][0]["steps"][0]
    assert step["file"] == "_common/check.yaml" and step["line"] == 3
    assert step["included_from"] == ["s.yaml:5:14"]


def test_a_nested_field_of_a_row_is_read_and_not_reported(cwd, http_server):
    spec(cwd, """
  - for_each: [{pet: {name: Rex}}]
    url: /reflect/${item.pet.name}
""")
    code, out, err = run_cli(["validate", "s.yaml"])
    assert code == 0, out + err
    code, out, err = run_cli(["run", "s.yaml"], {"API": http_server.url})
    assert code == 0, out + err
    assert paths(http_server) == ["/reflect/Rex"]
