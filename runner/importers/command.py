"""`runner import KIND ...`: run one importer, check what it wrote, write it (or print it).

Nothing is written unless every spec the importer made loads and validates: a broken
input or a bug leaves no half-written folder behind.
"""

from __future__ import annotations

import os
import sys
from typing import TextIO

from ..errors import SpecError, UsageError
from .sanitize import check_spec, has_surrogate
from .specdata import ImportedSpec, ImportResult
from .writer import modeline_for, render

__all__ = ["run_import"]


def _import(kind: str, args, stdin: TextIO) -> ImportResult:
    if kind == "curl":
        from .curl import import_curl

        argv = list(args.curl_args)
        if argv and argv[0] == "--":
            argv = argv[1:]
        where = "its arguments"
        if not argv:
            where = "stdin"
            try:
                argv = [stdin.read()]
            except UnicodeDecodeError:
                argv = ["\udcff"]  # a strict stdin: the same answer as a surrogateescape one
        if any(has_surrogate(arg) for arg in argv):  # Python's stand-in for bytes that are not UTF-8
            raise UsageError(f"the curl command ({where}) is not valid UTF-8 text; nothing was written")
        return import_curl(argv)
    if kind == "har":
        from .har import import_har

        return import_har(args.file)
    if kind == "postman":
        from .postman import import_postman

        return import_postman(args.file)
    if kind == "openapi":
        from .openapi import import_openapi

        return import_openapi(args.file, out_dir=_out_dir(args.output))
    raise UsageError(f"unknown import kind {kind!r}")


def _out_dir(output: str | None) -> str | None:
    if output is None:
        return None
    return os.path.dirname(output) or "." if output.endswith((".yaml", ".yml")) else output


def _merge(specs: list[ImportedSpec]) -> ImportedSpec:
    """Several specs into one (stdout, or -o FILE): one file, requests in order."""
    first = specs[0]
    if len(specs) == 1:
        return first
    merged = ImportedSpec(stem=first.stem, name=first.name, base_url=first.base_url, openapi=first.openapi,
                          auth=first.auth, notes=list(first.notes))
    for spec in specs:
        merged.secrets.update(spec.secrets)
        merged.vars.update(spec.vars)
        merged.headers.update(spec.headers)
        for todo in spec.todo:
            if todo not in merged.todo:
                merged.todo.append(todo)
        for request in spec.requests:
            if spec.auth != merged.auth and "auth" not in request.data:
                request.data["auth"] = spec.auth if spec.auth is not None else "none"
            merged.requests.append(request)
    return merged


def _check(text: str, filename: str) -> None:
    """The written text must load and validate. `check_spec` refuses the inputs known to break
    that; anything else is an input the spec cannot express (or an importer's bug): exit 2,
    with where it is in the would-be file but not the loader's message (it may quote a value)."""
    from ..load import check_references, load_spec

    try:
        spec = load_spec(text, filename=filename, base_dir=os.path.dirname(os.path.abspath(filename)))
    except SpecError as exc:
        span = exc.diagnostics[0].span
        where = f" (line {span.line} of the spec it would write)" if span is not None else ""
        raise UsageError(f"the import would write a spec that does not load{where}: the input holds "
                         "something a spec cannot express; nothing was written") from None
    problems = check_references(spec, var_names=set(), secret_names=set())
    if problems:
        raise UsageError("the import would write a spec with a broken ${...} reference; nothing was written")


def run_import(args, *, stdout: TextIO, stderr: TextIO, stdin: TextIO | None = None) -> int:
    result = _import(args.kind, args, stdin or sys.stdin)
    output: str | None = args.output
    single = output is None or output.endswith((".yaml", ".yml"))
    specs = [_merge(result.specs)] if single else result.specs
    folder = _out_dir(output)
    texts: list[tuple[str, str]] = []
    used: set[str] = set()
    for spec in specs:
        stem = spec.stem
        n = 2
        while stem in used:
            stem, n = f"{spec.stem}-{n}", n + 1
        used.add(stem)
        path = output if (single and output) else os.path.join(folder or ".", stem + ".yaml")
        check_spec(spec)
        text = render(spec, modeline=modeline_for(folder))
        _check(text, path)
        texts.append((path, text))
    for warning in result.warnings:
        stderr.write(f"warning: {warning}\n")
    if output is None:
        stdout.write(texts[0][1])
    else:
        _write_all(texts, stderr)
    for name, what in result.env_vars.items():
        stderr.write(f"set {name} before running ({what})\n")
    return 0


def _write_all(texts: list[tuple[str, str]], stderr: TextIO) -> None:
    for path, _ in texts:
        if os.path.isdir(path):
            raise UsageError(f"-o {path}: is a directory")
    for path, text in texts:
        parent = os.path.dirname(path)
        try:
            if parent:
                os.makedirs(parent, exist_ok=True)
            tmp = f"{path}.tmp-{os.getpid()}"
            with open(tmp, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.replace(tmp, path)
        except OSError as exc:
            raise UsageError(f"-o: cannot write {path}: {exc.strerror or exc}") from None
        stderr.write(f"wrote {path}\n")
