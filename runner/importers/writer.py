"""The one YAML writer of `runner import`: ImportedSpec -> spec file text.

Readable (block style, the spec's usual key order), with `# TODO:` comments where the
user must act, the schema modeline first. PyYAML writes no comments, so the text is
dumped in parts and the comments go between them: a request's comment goes above the
`- ` line that starts it (the only lines of the `requests:` block at column 0).
"""

from __future__ import annotations

import os
from typing import Any

from .._yaml import dump
from .specdata import ImportedSpec

__all__ = ["render", "modeline_for", "SCHEMA_URL"]

SCHEMA_URL = "https://request-runner.invalid/schemas/spec.schema.json"  # the schema's $id

_REQUEST_ORDER = ("name", "skip", "tags", "method", "url", "query", "headers", "auth", "json", "form", "body",
                  "files", "follow_redirects", "timeout", "expect", "capture")


def modeline_for(folder: str | None) -> str:
    """The yaml-language-server modeline: a relative path to the nearest schemas/spec.schema.json
    above `folder` (a project checkout), else the schema's $id."""
    target = SCHEMA_URL
    if folder is not None:
        here = os.path.abspath(folder)
        while True:
            candidate = os.path.join(here, "schemas", "spec.schema.json")
            if os.path.isfile(candidate):
                target = os.path.relpath(candidate, os.path.abspath(folder)).replace(os.sep, "/")
                break
            parent = os.path.dirname(here)
            if parent == here:
                break
            here = parent
    return f"# yaml-language-server: $schema={target}"


def _ordered(data: dict[str, Any], order: tuple[str, ...]) -> dict[str, Any]:
    known = {k: data[k] for k in order if k in data}
    return {**known, **{k: v for k, v in data.items() if k not in known}}


def _comment(text: str, prefix: str = "") -> list[str]:
    # One comment per line of text; a newline in imported text must not end the comment.
    return [f"{prefix}{line}".rstrip() for line in text.splitlines() or [""]]


def render(spec: ImportedSpec, *, modeline: str) -> str:
    lines = [modeline, "#"]
    for note in spec.notes:
        lines += _comment(note, "# ")
    for todo in spec.todo:
        lines += _comment(todo, "# TODO: ")
    head: dict[str, Any] = {"version": 1, "name": spec.name}
    if spec.base_url is not None:
        head["base_url"] = spec.base_url
    if spec.openapi is not None:
        head["openapi"] = spec.openapi
    if spec.secrets:
        head["secrets"] = spec.secrets
    if spec.auth is not None:
        head["auth"] = spec.auth
    if spec.headers:
        head["defaults"] = {"headers": spec.headers}
    if spec.vars:
        head["vars"] = spec.vars
    lines.append(dump(head).rstrip("\n"))
    lines.append("")
    if not spec.requests:
        lines.append("requests: []")
        return "\n".join(lines) + "\n"
    body = dump({"requests": [_ordered(r.data, _REQUEST_ORDER) for r in spec.requests]}).rstrip("\n").split("\n")
    todos = iter([r.todo for r in spec.requests])
    for line in body:
        if line.startswith("- "):
            for todo in next(todos):
                lines += _comment(todo, "# TODO: ")
        lines.append(line)
    return "\n".join(lines) + "\n"
