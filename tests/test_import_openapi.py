"""`runner import openapi`: specs per tag that validate and pass against a real server of the same document."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import CANARY, run_cli
from openapi_mock import serve_document

from runner.demo import DemoServer
from runner.demo.server import CLIENT_ID, CLIENT_SECRET

pytest.importorskip("runner.openapi", reason="the OpenAPI document loader (runner/openapi/) is not in this checkout yet")

DEMO_DOCUMENT = Path(__file__).resolve().parent.parent / "specs" / "demo" / "openapi.json"

# In the shape of a public API (a library's books service): a base path in `servers` with a
# variable, tags, an API key header for most operations, a bearer token for one, a public
# one, $ref'd parameters, an enum, a required parameter without any example, a request
# body with an example and one without.
LIBRARY = {
    "openapi": "3.0.3",
    "info": {"title": "Library API", "version": "2.1.0"},
    "servers": [{"url": "http://127.0.0.1:{port}/v2", "variables": {"port": {"default": "8080"}}}],
    "tags": [{"name": "books"}, {"name": "loans"}],
    "security": [{"ApiKeyAuth": []}],
    "components": {
        "securitySchemes": {
            "ApiKeyAuth": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            "StaffToken": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
        },
        "parameters": {
            "BookId": {"name": "bookId", "in": "path", "required": True, "schema": {"type": "integer", "example": 42}},
        },
        "schemas": {
            "Book": {"type": "object", "required": ["id", "title"],
                     "properties": {"id": {"type": "integer"}, "title": {"type": "string"},
                                    "format": {"type": "string", "enum": ["paper", "ebook"]}}},
        },
    },
    "paths": {
        "/books": {
            "get": {"tags": ["books"], "summary": "List books", "operationId": "listBooks",
                    "parameters": [{"name": "format", "in": "query", "required": True,
                                    "schema": {"type": "string", "enum": ["paper", "ebook"]}},
                                   {"name": "page", "in": "query", "schema": {"type": "integer"}}],
                    "responses": {"200": {"description": "books", "content": {"application/json": {
                        "schema": {"type": "array", "items": {"$ref": "#/components/schemas/Book"}},
                        "example": [{"id": 42, "title": "Dune", "format": "paper"}]}}},
                        "401": {"description": "no key"}}},
            "post": {"tags": ["books"], "summary": "Add a book", "security": [{"StaffToken": []}],
                     "requestBody": {"required": True, "content": {"application/json": {
                         "schema": {"$ref": "#/components/schemas/Book"},
                         "example": {"id": 7, "title": "Emma ${not a var}", "format": "ebook"}}}},
                     "responses": {"201": {"description": "added", "content": {"application/json": {
                         "schema": {"$ref": "#/components/schemas/Book"},
                         "example": {"id": 7, "title": "Emma", "format": "ebook"}}}}}},
        },
        "/books/{bookId}": {
            "parameters": [{"$ref": "#/components/parameters/BookId"}],
            "get": {"tags": ["books"], "summary": "Get a book",
                    "responses": {"200": {"description": "a book", "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/Book"},
                        "example": {"id": 42, "title": "Dune", "format": "paper"}}}}, "404": {"description": "none"}}},
            "put": {"tags": ["books"], "summary": "Replace a book", "requestBody": {"required": True, "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/Book"}}}},
                    "responses": {"200": {"description": "replaced"}}},
        },
        "/loans/{loanId}": {
            "get": {"tags": ["loans"], "summary": "Get a loan",
                    "parameters": [{"name": "loanId", "in": "path", "required": True, "schema": {"type": "string"}}],
                    "responses": {"200": {"description": "a loan"}}},
        },
        "/status": {
            "get": {"summary": "Service status", "security": [],
                    "responses": {"200": {"description": "up", "content": {"application/json": {
                        "example": {"status": "ok"}}}}}},
        },
    },
}


def test_public_shaped_document_imports_and_passes_against_its_mock(tmp_path):
    document = tmp_path / "library.json"
    document.write_text(json.dumps(LIBRARY))
    out = tmp_path / "specs"
    code, _, err = run_cli(["import", "openapi", str(document), "-o", str(out)])
    assert code == 0, err
    assert sorted(p.name for p in out.glob("*.yaml")) == ["books.yaml", "library-api.yaml", "loans.yaml"]
    books = (out / "books.yaml").read_text()
    assert "openapi: ../library.json" in books
    assert "base_url: ${env:API_URL:-http://127.0.0.1:8080/v2}" in books
    assert "format: paper" in books and "url: /books/42" in books and "Emma $${not a var}" in books
    assert "skip: needs a request body" in books  # PUT /books/{bookId}: a required body without an example
    assert "header:\n    name: X-API-Key" in books and "bearer: stafftoken" in books
    assert "page" not in books  # optional parameters are left out
    loans = (out / "loans.yaml").read_text()
    assert "skip: needs loanId" in loans and "url: /loans/${loanId}" in loans and "loanId: ''" in loans
    assert "set X_API_KEY before running" in err and "set STAFFTOKEN_TOKEN before running" in err
    assert run_cli(["validate", str(out)])[0] == 0

    server, url, received = serve_document(LIBRARY, base_path="/v2")
    try:
        env = {"API_URL": url + "/v2", "X_API_KEY": CANARY, "STAFFTOKEN_TOKEN": CANARY}
        code, report, _ = run_cli(["run", str(out)], env=env)
        assert code == 0, report
        assert "2 skipped" in report
        sent = {(method, path.split("?")[0]): headers for method, path, headers in received}
        assert sent[("GET", "/v2/books")]["X-API-Key"] == CANARY
        assert sent[("POST", "/v2/books")]["Authorization"] == f"Bearer {CANARY}"
        assert "Authorization" not in sent[("GET", "/v2/status")] and "X-API-Key" not in sent[("GET", "/v2/status")]
    finally:
        server.shutdown()
        server.server_close()


def test_demo_document_imports_and_passes_against_the_demo_api(tmp_path):
    out = tmp_path / "specs"
    code, _, err = run_cli(["import", "openapi", str(DEMO_DOCUMENT), "-o", str(out)])
    assert code == 0, err
    assert "oauth2:" in (out / "pets.yaml").read_text()
    assert run_cli(["validate", str(out)])[0] == 0
    with DemoServer() as demo:
        env = {"API_URL": demo.url, "BEARER_CLIENT_ID": CLIENT_ID, "BEARER_CLIENT_SECRET": CLIENT_SECRET}
        code, report, _ = run_cli(["run", str(out)], env=env)
    assert code == 0, report
    assert CLIENT_SECRET not in report


def test_one_spec_on_stdout_and_broken_documents(tmp_path):
    document = tmp_path / "library.json"
    document.write_text(json.dumps(LIBRARY))
    code, out, err = run_cli(["import", "openapi", str(document)])
    assert code == 0, err
    assert out.count("\nversion: 1") == 1 and "List books" in out and "Get a loan" in out and "Service status" in out

    broken = tmp_path / "broken.yaml"
    broken.write_text("openapi: 3.0.3\ninfo: {title: x, version: '1'}\npaths:\n  /a:\n    get:\n      parameters:\n"
                      "        - $ref: '#/components/parameters/Missing'\n      responses: {'200': {description: ok}}\n")
    code, _, err = run_cli(["import", "openapi", str(broken), "-o", str(tmp_path / "out")])
    assert code == 2 and "broken.yaml:7:" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()
    swagger = tmp_path / "swagger.json"
    swagger.write_text('{"swagger": "2.0", "paths": {}}')
    code, _, err = run_cli(["import", "openapi", str(swagger)])
    assert code == 2 and "Swagger 2.0" in err


@pytest.mark.parametrize("document, exit_code", [
    ('openapi: 3.0.0\ninfo: 5\npaths: 5\n', 2),
    ('openapi: 3.0.0\ninfo: {title: t, version: "1"}\nservers: [{url: /v1, variables: 5}]\n'
     'components: {securitySchemes: 5}\npaths: {/a: {parameters: 5, get: {parameters: 5, responses: 5}}}\n', 0),
])
def test_fields_of_the_wrong_type_do_not_crash(tmp_path, document, exit_code):
    source = tmp_path / "api.yaml"
    source.write_text(document)
    code, out, err = run_cli(["import", "openapi", str(source)])
    assert code == exit_code, err
    assert "Traceback" not in err and "internal error" not in err
