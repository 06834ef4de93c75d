"""OpenAPI conformance: documents (HAZARDS 80), matching (HAZARDS 81), the verdict, the static
check, the reports, against real servers on 127.0.0.1 and the real public documents."""

from __future__ import annotations

import json
import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from runner.errors import SpecError
from runner.expectations import Body
from runner.openapi import load_contract
from tests.helpers import run_cli, write
from tests.openapi_docs import canned_server, pets_31, petstore_30

# The public documents live in ../shared beside the repository (as /work/main and its
# CI clone see them); a checkout without them skips those tests.
PUBLIC = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "public-api-documents" / "openapi"

JSON = [("Content-Type", "application/json")]


def verdict(contract, method, url, status, body=b"", headers=JSON, base_url=None):
    found = contract.check(method, url, base_url, status, headers, Body(body))
    return [v.message for v in found], found


@pytest.fixture
def petstore(tmp_path):
    return load_contract(str(petstore_30(tmp_path / "api")))


@pytest.fixture
def server():
    srv, routes, url = canned_server()
    yield routes, url
    srv.shutdown()
    srv.server_close()


# ----------------------------------------------------------------------- documents (HAZARDS 80)


def test_a_document_split_over_files_loads_with_positions(petstore):
    doc = petstore.doc
    assert doc.version == "3.0"
    assert {os.path.basename(f) for f in doc.files} == {"openapi.yaml", "pet.yaml"} or len(doc.files) == 3
    assert len(doc.files) == 3


def test_a_remote_ref_is_never_fetched_and_is_named(tmp_path):
    path = write(tmp_path / "openapi.yaml", """
        openapi: 3.0.3
        info: {title: t, version: "1"}
        paths:
          /pets:
            get:
              responses:
                "200":
                  description: ok
                  content:
                    application/json:
                      schema: {$ref: "https://example.com/schemas/pet.json#/Pet"}
    """)
    with pytest.raises(SpecError) as err:
        load_contract(str(path))
    (diag,) = err.value.diagnostics
    assert "remote $ref 'https://example.com/schemas/pet.json#/Pet' is never fetched" in diag.message
    assert (diag.span.line, diag.span.column) == (11, 30)  # the value of the $ref


@pytest.mark.parametrize("ref", ["../../etc/passwd", "../outside.yaml#/Pet", "/etc/passwd"])
def test_a_ref_outside_the_documents_folder_is_refused(tmp_path, ref):
    write(tmp_path / "outside.yaml", "Pet: {type: object}\n")
    path = write(tmp_path / "api" / "openapi.yaml" if (tmp_path / "api").mkdir() is None else None, f"""
        openapi: 3.1.0
        info: {{title: t, version: "1"}}
        components:
          schemas:
            Pet: {{$ref: "{ref}"}}
    """)
    with pytest.raises(SpecError) as err:
        load_contract(str(path))
    text = str(err.value)
    assert ref in text and ("outside the document's folder" in text or "absolute path" in text)
    assert "root:" not in text  # nothing of /etc/passwd was read


def test_a_symlink_out_of_the_folder_is_refused(tmp_path):
    write(tmp_path / "secret.yaml", "Pet: {type: object}\n")
    (tmp_path / "api").mkdir()
    os.symlink(tmp_path / "secret.yaml", tmp_path / "api" / "pet.yaml")
    path = write(tmp_path / "api" / "openapi.yaml", """
        openapi: 3.1.0
        info: {title: t, version: "1"}
        components: {schemas: {Pet: {$ref: "pet.yaml#/Pet"}}}
    """)
    with pytest.raises(SpecError, match="outside the document's folder"):
        load_contract(str(path))


def test_a_pointer_to_nothing_and_a_loop_of_bare_refs_are_errors(tmp_path):
    path = write(tmp_path / "openapi.yaml", """
        openapi: 3.1.0
        info: {title: t, version: "1"}
        components:
          schemas:
            A: {$ref: "#/components/schemas/B"}
            B: {$ref: "#/components/schemas/A"}
            C: {$ref: "#/components/schemas/Nope"}
    """)
    with pytest.raises(SpecError) as err:
        load_contract(str(path))
    text = str(err.value)
    assert "loops back to itself" in text
    assert "$ref '#/components/schemas/Nope' points to nothing" in text


def test_a_recursive_schema_is_validated_lazily(tmp_path, petstore):
    deep = {"name": "root", "children": [{"name": "a", "children": [{"name": "b", "children": [{"children": []}]}]}]}
    messages, found = verdict(petstore, "GET", "/tree", 200, json.dumps(deep).encode())
    assert messages == ["body /children/0/children/0/children/0: 'name' is a required property"]
    assert found[0].at.endswith("pet.yaml:17:3")  # the `required` of Node, in its own file
    ok = {"name": "root", "children": [{"name": "a", "children": []}]}
    assert verdict(petstore, "GET", "/tree", 200, json.dumps(ok).encode())[0] == []


def test_hostile_yaml_in_a_document_meets_the_same_caps(tmp_path):
    laughs = "openapi: 3.1.0\na: &a [x, x, x, x, x, x, x, x, x, x]\n"
    for i in range(1, 8):
        laughs += f"l{i}: &l{i} [*{'a' if i == 1 else 'l' + str(i - 1)}, *{'a' if i == 1 else 'l' + str(i - 1)}, " \
                  f"*{'a' if i == 1 else 'l' + str(i - 1)}, *{'a' if i == 1 else 'l' + str(i - 1)}, " \
                  f"*{'a' if i == 1 else 'l' + str(i - 1)}, *{'a' if i == 1 else 'l' + str(i - 1)}, " \
                  f"*{'a' if i == 1 else 'l' + str(i - 1)}, *{'a' if i == 1 else 'l' + str(i - 1)}]\n"
    path = write(tmp_path / "bomb.yaml", laughs)
    with pytest.raises(SpecError, match="nodes|too large|expan"):
        load_contract(str(path))
    deep = write(tmp_path / "deep.yaml", "openapi: 3.1.0\nx: " + "[" * 200 + "]" * 200 + "\n")
    with pytest.raises(SpecError, match="deep"):
        load_contract(str(deep))
    tagged = write(tmp_path / "tagged.yaml", "openapi: 3.1.0\nx: !!python/object:os.system [echo]\n")
    with pytest.raises(SpecError, match="tag"):
        load_contract(str(tagged))


def test_a_json_document_is_read_and_positioned(tmp_path):
    path = write(tmp_path / "openapi.json", json.dumps({
        "openapi": "3.1.0", "info": {"title": "t", "version": "1"},
        "paths": {"/a": {"get": {"responses": {"200": {"description": "ok", "content": {
            "application/json": {"schema": {"type": "object", "required": ["x"]}}}}}}}}}, indent="\t"))
    contract = load_contract(str(path))
    messages, found = verdict(contract, "GET", "/a", 200, b"{}")
    assert messages == ["body /: 'x' is a required property"]
    assert re.search(r"openapi\.json:\d+:\d+$", found[0].at)


def test_not_an_openapi_document(tmp_path):
    swagger = write(tmp_path / "swagger.yaml", "swagger: '2.0'\ninfo: {title: t, version: '1'}\npaths: {}\n")
    with pytest.raises(SpecError, match="Swagger 2.0 documents are not supported"):
        load_contract(str(swagger))
    broken = write(tmp_path / "broken.yaml", """
        openapi: 3.0.3
        info: {title: t}
        paths:
          /a:
            get:
              responses:
                "200": {content: {}}
    """)
    with pytest.raises(SpecError) as err:
        load_contract(str(broken))
    lines = [d.one_line() for d in err.value.diagnostics]
    assert any("broken.yaml:2:7: not a valid OpenAPI 3.0 document" in line and "'version'" in line for line in lines)


# ----------------------------------------------------------------------- matching (HAZARDS 81)


def test_the_concrete_path_wins_over_a_template(petstore):
    assert verdict(petstore, "GET", "/pets/mine", 200, b'{"mine": true}')[0] == []
    messages, _ = verdict(petstore, "GET", "/pets/mine", 200, b'{"id": 1, "name": "x"}')
    assert messages == ["body /: 'mine' is a required property"]
    # a method only the template has is the template's
    assert verdict(petstore, "DELETE", "/pets/mine", 204, b"", headers=[])[0] == []


def test_servers_with_variables_and_a_base_path(petstore):
    pet = b'{"id": 1, "name": "Rex"}'
    for url in ("http://127.0.0.1:9/api/v1/pets/1", "https://127.0.0.1:443/api/v1/pets/1", "/pets/1"):
        assert verdict(petstore, "GET", url, 200, pet)[0] == [], url
    # relative to the spec's base_url when it carries the base path
    assert verdict(petstore, "GET", "http://h/other/base/pets/1", 200, pet, base_url="http://h/other/base")[0] == []
    messages, _ = verdict(petstore, "GET", "http://h/api/v1/dogs", 200, b"[]")
    assert messages == [f"GET /dogs is not in {petstore.doc.shown}"]  # relative to the server's base path


def test_json_media_types_with_parameters_and_problem_json(petstore):
    charset = [("Content-Type", "application/json; charset=utf-8")]
    assert verdict(petstore, "GET", "/pets/1", 200, b'{"id": 1}', headers=charset)[0] == [
        "body /: 'name' is a required property"]
    problem = [("Content-Type", "application/problem+json")]
    assert verdict(petstore, "GET", "/pets/1", 404, b'{"title": "no", "status": 404}', headers=problem)[0] == []
    messages, _ = verdict(petstore, "GET", "/pets/1", 404, b'{"title": "no"}', headers=problem)
    assert messages == ["body /: 'status' is a required property"]
    messages, _ = verdict(petstore, "GET", "/pets/1", 404, b'<h1>no</h1>', headers=[("Content-Type", "text/html")])
    assert messages[0].startswith("content type text/html is not documented for GET /pets/{id} 4XX")
    messages, _ = verdict(petstore, "GET", "/pets/1", 200, b'{"id": 1,', headers=charset)
    assert messages == ["response is not valid JSON (line 1, column 10), although the content type is "
                        "application/json; charset=utf-8"]


def test_a_204_with_no_content(petstore):
    assert verdict(petstore, "GET", "/pets/1", 204, b"", headers=[])[0] == []


def test_undocumented_status_exact_range_and_default(petstore):
    messages, found = verdict(petstore, "GET", "/pets/1", 500, b"{}")
    assert messages == [f"status 500 is not documented for GET /pets/{{id}} (documented: 200, 204, 4XX)"]
    assert "pet.yaml:" in found[0].at  # the responses of the operation, in the path's own file
    assert verdict(petstore, "GET", "/pets/1", 418, b'{"title": "t", "status": 418}',
                   headers=[("Content-Type", "application/problem+json")])[0] == []  # 4XX
    assert verdict(petstore, "GET", "/pets", 503, b'{"message": "down"}',
                   headers=JSON + [("X-Total", "0")])[0] == []  # default
    messages, _ = verdict(petstore, "GET", "/pets", 503, b'{}', headers=JSON)
    assert messages == ["body /: 'message' is a required property"]


def test_a_missing_required_header(petstore):
    messages, found = verdict(petstore, "GET", "/pets", 200, b"[]")
    assert messages == ["required response header X-Total is missing (GET /pets, 200)"]
    assert found[0].at.endswith("openapi.yaml:16:13")
    assert verdict(petstore, "GET", "/pets", 200, b"[]", headers=JSON + [("x-total", "0")])[0] == []
    messages, found = verdict(petstore, "POST", "/pets", 201, b"", headers=[])
    assert messages == ["required response header Location is missing (POST /pets, 201)"]  # through a $ref


def test_nullable_in_30_but_not_in_31(petstore, tmp_path):
    assert verdict(petstore, "GET", "/pets/1", 200, b'{"id": 1, "name": "Rex", "tag": null}')[0] == []
    messages, _ = verdict(petstore, "GET", "/pets/1", 200, b'{"id": 1, "name": null}')
    assert messages == ["body /name: null is not of type 'string'"]
    v31 = load_contract(str(pets_31(tmp_path / "v31")))
    messages, found = verdict(v31, "GET", "/v2/pets/1", 200, b'{"id": 1, "tag": null, "nick": null}')
    assert messages == ["body /tag: null is not of type 'string'"]
    assert found[0].at.endswith("openapi.yaml:29:15")  # the `type` of tag
    assert verdict(v31, "GET", "/pets/1", 200, b'{"id": 1, "tag": "a", "nick": null}')[0] == []
    deep = {"value": 1, "next": {"value": 2, "next": {"value": "three"}}}
    assert verdict(v31, "GET", "/nodes", 200, json.dumps(deep).encode())[0] == [
        "body /next/next/value: \"three\" is not of type 'integer'"]


def test_read_only_and_write_only_as_a_response_is_read(petstore):
    # `password` is required but writeOnly: a response may (should) leave it out; `id` is readOnly: required.
    assert verdict(petstore, "GET", "/pets/1", 200, b'{"id": 1, "name": "Rex"}')[0] == []
    assert verdict(petstore, "GET", "/pets/1", 200, b'{"name": "Rex"}')[0] == ["body /: 'id' is a required property"]
    messages, _ = verdict(petstore, "GET", "/pets/1", 200, b'{"id": 1, "name": "Rex", "password": "x"}')
    assert len(messages) == 1 and messages[0].startswith("body /password:")


def test_one_of_names_the_closest_branch(petstore):
    assert verdict(petstore, "GET", "/shapes/1", 200, b'{"kind": "cat", "lives": 9}')[0] == []
    messages, _ = verdict(petstore, "GET", "/shapes/1", 200, b'{"kind": "cat", "lives": 12}')
    assert len(messages) == 1 and messages[0].startswith("body /: ")
    assert "closest: /lives: 12 is greater than the maximum of 9" in messages[0]


def test_a_method_the_path_does_not_have(petstore):
    messages, found = verdict(petstore, "PUT", "/pets/1", 200, b"{}")
    assert messages == [f"PUT /pets/1 is not in {petstore.doc.shown} (/pets/{{id}} has GET, DELETE)"]
    assert found[0].hint.startswith("add `openapi: false`")


# ----------------------------------------------------------------------- the public documents


@pytest.mark.skipif(not PUBLIC.is_dir(), reason=f"the public OpenAPI documents are not here ({PUBLIC}): "
                    "they live in ../shared beside the repository")
def test_every_public_document_loads_and_every_operation_matches():
    documents = sorted(PUBLIC.glob("*.y*ml")) + sorted(PUBLIC.glob("*.json"))
    assert documents
    for path in documents:
        contract = load_contract(str(path))
        ops = contract.operations
        for template in ops.templates:
            concrete = re.sub(r"\{[^}]*\}", "v1", template.text)
            holes = re.sub(r"\{[^}]*\}", "${value}", template.text)
            for method in template.operations:
                located = ops.locate(method, concrete)
                assert located.operation is not None, (path.name, method, template.text)
                assert located.operation.template == template.text or "{" in template.text, (path.name, template.text)
                assert ops.check_static(method, holes) is None, (path.name, method, template.text)
        assert ops.check_static("GET", "/certainly/not/here/at/all") is not None


# ----------------------------------------------------------------------- end to end


def _pets_spec(folder: Path, base_url: str, extra: str = "") -> Path:
    return write(folder / "pets.yaml", f"""
        version: 1
        base_url: {base_url}/api/v1
        openapi: api/openapi.yaml
        requests:
          - name: list pets
            url: /pets
          - name: one pet
            url: /pets/1
          - name: outside the API
            url: /health
            openapi: false
        {extra}
    """)


def test_run_reports_a_contract_failure_in_every_report(cwd, server):
    routes, url = server
    petstore_30(cwd / "api")
    routes[("GET", "/api/v1/pets")] = (200, JSON + [("X-Total", "1")], b'[{"id": 1, "name": "Rex"}]')
    routes[("GET", "/api/v1/pets/1")] = (200, JSON, b'{"id": "one", "name": "Rex"}')
    routes[("GET", "/api/v1/health")] = (200, [("Content-Type", "text/plain")], b"up")
    _pets_spec(cwd, url)
    code, out, err = run_cli(["run", "pets.yaml", "--no-color", "--json", "r.json", "--junit", "r.xml",
                              "--summary", "r.md"])
    assert code == 1, out + err
    assert "FAIL contract" in out
    assert "contract: body /id: \"one\" is not of type 'integer' (api/schemas/pet.yaml:" in out
    report = json.loads((cwd / "r.json").read_text())
    steps = report["specs"][0]["steps"]
    assert [s["outcome"] for s in steps] == ["PASS", "FAIL", "PASS"]
    assert [f["kind"] for f in steps[1]["failures"]] == ["contract"]
    junit = ET.parse(cwd / "r.xml").getroot()
    failures = junit.findall(".//failure")
    assert [f.get("type") for f in failures] == ["contract"]
    assert "FAIL contract" in (cwd / "r.md").read_text()


def test_openapi_from_the_config_and_its_environment(cwd, server):
    routes, url = server
    petstore_30(cwd / "api")
    pets_31(cwd / "v31")
    routes[("GET", "/api/v1/pets/1")] = (200, JSON, b'{"id": 1, "name": "Rex"}')
    routes[("GET", "/v2/pets/1")] = (200, JSON, b'{"id": 1, "name": "Rex"}')
    write(cwd / "runner.yaml", """
        openapi: api/openapi.yaml
        environments:
          next: {openapi: v31/openapi.yaml}
    """)
    (cwd / "specs").mkdir()
    write(cwd / "specs" / "a.yaml", f"""
        version: 1
        requests:
          - url: {url}/api/v1/pets/1
    """)
    assert run_cli(["run", "specs", "--no-color"])[0] == 0
    code, out, _ = run_cli(["run", "specs", "--no-color", "--env", "next"])
    assert code == 1 and "GET /api/v1/pets/1 is not in v31/openapi.yaml" in out
    write(cwd / "specs" / "a.yaml", f"""
        version: 1
        openapi: false
        requests:
          - url: {url}/api/v1/pets/1
    """)
    assert run_cli(["run", "specs", "--no-color", "--env", "next"])[0] == 0


def test_validate_reports_requests_that_match_no_operation(cwd):
    petstore_30(cwd / "api")
    write(cwd / "pets.yaml", """
        version: 1
        base_url: http://127.0.0.1:9/api/v1
        openapi: api/openapi.yaml
        requests:
          - url: /petz
          - url: /pets/${id}
          - url: /api/v1/pets/${id}
          - method: PUT
            url: /pets/${id}
          - url: /pets/mine?x=1
          - url: http://elsewhere.invalid/anything
          - url: /nowhere
            openapi: false
        vars: {id: 1}
    """)
    code, out, err = run_cli(["validate", "pets.yaml"])
    assert code == 2
    assert "pets.yaml:5:10: GET /petz is not in api/openapi.yaml (did you mean GET /pets?)" in err
    assert "pets.yaml:9:10: PUT /pets/${id} is not in api/openapi.yaml (/pets/{id} has GET, DELETE)" in err
    assert err.count("is not in api/openapi.yaml") == 2, err


def test_a_document_that_cannot_be_read_is_a_validation_error(cwd):
    write(cwd / "a.yaml", """
        version: 1
        openapi: missing.yaml
        requests: [{url: "http://127.0.0.1:9/"}]
    """)
    code, _out, err = run_cli(["validate", "a.yaml"])
    assert code == 2 and "a.yaml:2:10: openapi: " in err and "no such OpenAPI document file" in err
    write(cwd / "openapi.yaml", """
        openapi: 3.1.0
        info: {title: t, version: "1"}
        components: {schemas: {P: {$ref: "http://127.0.0.1:9/p.json"}}}
    """)
    write(cwd / "a.yaml", "version: 1\nopenapi: openapi.yaml\nrequests: [{url: 'http://127.0.0.1:9/'}]\n")
    code, _out, err = run_cli(["validate", "a.yaml"])
    assert code == 2 and "openapi.yaml:3:34: remote $ref 'http://127.0.0.1:9/p.json' is never fetched" in err


def test_the_demo_document_and_the_contract_failure_showcase(cwd):
    from runner.demo import DemoServer, spec_dir

    with DemoServer() as demo:
        import urllib.request

        with urllib.request.urlopen(demo.url + "/openapi.json", timeout=10) as resp:
            served = json.loads(resp.read())
    assert served == json.loads((spec_dir() / "openapi.json").read_text())
    assert served["openapi"].startswith("3.1")
    code, out, _ = run_cli(["demo", "--no-color"])
    assert code == 0, out
    code, out, _ = run_cli(["demo", "--no-color", "--show-contract-failure"])
    assert code == 1
    assert re.search(r"contract: body /tag: null is not of type 'string' \(.*openapi\.json:\d+:\d+\)", out), out


def test_a_remembered_verdict_is_the_same_verdict(petstore):
    bad = b'{"id": "x", "name": "Rex"}'
    first = verdict(petstore, "GET", "/pets/1", 200, bad)[0]
    assert first == ["body /id: \"x\" is not of type 'integer'"]
    assert verdict(petstore, "GET", "/pets/1", 200, bad)[0] == first  # from the memo
    assert verdict(petstore, "GET", "/pets/1", 200, b'{"id": 2, "name": "Rex"}')[0] == []
    assert verdict(petstore, "GET", "/pets/1", 200, bad)[0] == first


def test_a_secret_echoed_in_a_body_that_breaks_the_contract_is_masked(cwd, server):
    from tests.helpers import CANARY

    routes, url = server
    petstore_30(cwd / "api")
    routes[("GET", "/api/v1/pets/1")] = (200, JSON, json.dumps({"id": CANARY, "name": "Rex"}).encode())
    write(cwd / "a.yaml", f"""
        version: 1
        base_url: {url}/api/v1
        openapi: api/openapi.yaml
        secrets: {{token: {{env: API_TOKEN}}}}
        auth: {{bearer: token}}
        requests:
          - url: /pets/1
    """)
    code, out, err = run_cli(["run", "a.yaml", "--no-color", "--json", "r.json", "--junit", "r.xml"],
                             env={"API_TOKEN": CANARY})
    assert code == 1
    assert "contract: body /id: \"***\" is not of type 'integer'" in out
    for text in (out, err, (cwd / "r.json").read_text(), (cwd / "r.xml").read_text()):
        assert CANARY not in text


def test_the_document_path_is_not_a_template(cwd):
    write(cwd / "a.yaml", """
        version: 1
        openapi: ${env:DOC}
        requests: [{url: "http://127.0.0.1:9/"}]
    """)
    code, _out, err = run_cli(["validate", "a.yaml"])
    assert code == 2 and "a.yaml:2:10: openapi: the document's path is read before anything is rendered" in err
