"""OpenAPI documents for the tests, written in the shape of real public ones.

`petstore_30(dir)`: OpenAPI 3.0, split over three files (paths and schemas in their own
files), with a recursive schema, allOf/oneOf, `nullable`, readOnly/writeOnly, a
`servers` URL with variables and a base path, `4XX` and `default` responses,
`application/problem+json` and a media type with `; charset=utf-8`.
`pets_31(dir)`: the same shapes in OpenAPI 3.1 (JSON Schema 2020-12: `nullable` is not
a keyword there; `type: [string, "null"]` is).
"""

from __future__ import annotations

from pathlib import Path

from tests.helpers import write

__all__ = ["petstore_30", "pets_31", "canned_server"]


def petstore_30(folder: Path) -> Path:
    (folder / "schemas").mkdir(parents=True, exist_ok=True)
    (folder / "paths").mkdir(parents=True, exist_ok=True)
    write(folder / "schemas" / "pet.yaml", """
        Pet:
          allOf:
            - $ref: "#/Base"
            - type: object
              required: [name, password]
              properties:
                name: {type: string}
                tag: {type: string, nullable: true}
                password: {type: string, writeOnly: true}
        Base:
          type: object
          required: [id]
          properties:
            id: {type: integer, format: int64, readOnly: true}
        Node:
          type: object
          required: [name]
          properties:
            name: {type: string}
            children:
              type: array
              items: {$ref: "#/Node"}
        Cat:
          type: object
          required: [kind, lives]
          properties:
            kind: {type: string, enum: [cat]}
            lives: {type: integer, maximum: 9}
        Dog:
          type: object
          required: [kind, bark]
          properties:
            kind: {type: string, enum: [dog]}
            bark: {type: boolean}
    """)
    write(folder / "paths" / "pet.yaml", """
        get:
          operationId: getPet
          parameters:
            - {name: id, in: path, required: true, schema: {type: integer}}
          responses:
            "200":
              description: a pet
              content:
                "application/json; charset=utf-8":
                  schema: {$ref: "../schemas/pet.yaml#/Pet"}
            "204":
              description: nothing to say
            4XX:
              $ref: "../openapi.yaml#/components/responses/Problem"
        delete:
          operationId: deletePet
          parameters:
            - {name: id, in: path, required: true, schema: {type: integer}}
          responses:
            "204": {description: deleted}
    """)
    return write(folder / "openapi.yaml", """
        openapi: 3.0.3
        info: {title: Petstore, version: "1.0"}
        servers:
          - url: "{scheme}://127.0.0.1:{port}/api/v1"
            variables:
              scheme: {default: http, enum: [http, https]}
              port: {default: "8000"}
        paths:
          /pets:
            get:
              operationId: listPets
              responses:
                "200":
                  description: a list
                  headers:
                    X-Total:
                      required: true
                      schema: {type: integer}
                    X-Rate-Limit:
                      schema: {type: integer}
                  content:
                    application/json:
                      schema:
                        type: array
                        items: {$ref: "schemas/pet.yaml#/Pet"}
                default:
                  description: anything else
                  content:
                    application/json:
                      schema: {$ref: "#/components/schemas/Error"}
            post:
              operationId: createPet
              responses:
                "201":
                  description: created
                  headers:
                    Location: {$ref: "#/components/headers/Location"}
          /pets/mine:
            get:
              operationId: myPets
              responses:
                "200":
                  description: mine
                  content:
                    application/json:
                      schema:
                        type: object
                        required: [mine]
                        properties: {mine: {type: boolean}}
          /pets/{id}:
            $ref: "paths/pet.yaml"
          /tree:
            get:
              responses:
                "200":
                  description: a tree
                  content:
                    application/json:
                      schema: {$ref: "schemas/pet.yaml#/Node"}
          /shapes/{id}:
            get:
              responses:
                "200":
                  description: a cat or a dog
                  content:
                    application/json:
                      schema:
                        oneOf:
                          - $ref: "schemas/pet.yaml#/Cat"
                          - $ref: "schemas/pet.yaml#/Dog"
        components:
          headers:
            Location:
              required: true
              schema: {type: string}
          responses:
            Problem:
              description: a problem (RFC 9457)
              content:
                application/problem+json:
                  schema:
                    type: object
                    required: [title, status]
                    properties:
                      title: {type: string}
                      status: {type: integer}
          schemas:
            Error:
              type: object
              required: [message]
              properties:
                message: {type: string}
    """)


def pets_31(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return write(folder / "openapi.yaml", """
        openapi: 3.1.0
        info: {title: Pets 3.1, version: "1.0"}
        servers:
          - url: /v2
        paths:
          /pets/{id}:
            get:
              responses:
                "200":
                  description: a pet
                  content:
                    application/json:
                      schema: {$ref: "#/components/schemas/Pet"}
          /nodes:
            get:
              responses:
                "200":
                  description: a tree
                  content:
                    application/json:
                      schema: {$ref: "#/components/schemas/Node"}
        components:
          schemas:
            Pet:
              type: object
              required: [id, tag, nick]
              properties:
                id: {type: integer}
                tag: {type: string, nullable: true}
                nick: {type: [string, "null"]}
            Node:
              type: object
              properties:
                next: {$ref: "#/components/schemas/Node"}
                value: {type: integer}
    """)


def canned_server():
    """A real server on 127.0.0.1 answering what a test puts in `routes[(METHOD, path)]`:
    (status, [(header, value)...], body bytes). Anything else is a 404 with no body."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from urllib.parse import urlsplit

    routes: dict = {}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:
            pass

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            status, headers, body = routes.get((self.command, urlsplit(self.path).path), (404, [], b""))
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = do_HEAD = _answer

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, routes, f"http://127.0.0.1:{server.server_address[1]}"
