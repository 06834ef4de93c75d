"""Load spec and config files: YAML -> schema -> model.

    load_spec(text, *, filename, base_dir) -> Spec           pure: no file, env, secret or network I/O
    load_spec_file(path) -> Spec                              checks the file type and size first
    load_config(text, *, filename, base_dir) -> Config
    load_config_file(path) -> Config
    load_fragment_file(path) -> tuple[RequestDef, ...]        a fragment on its own (`include:` target)
    is_fragment_path(path) -> bool                            under a `_` folder or named `_...`
    check_references(spec, *, var_names, secret_names) -> list[Diagnostic]   render.check_spec by names
    schema_text(name) -> str                                  "spec", "config" or "report"

Every problem of a file is reported at once, as a SpecError of Diagnostics
(`path:line:col: message`). Reading an `expect.schema` file is the one exception
to purity: it is a local file named by the spec, read at load time.
"""

from __future__ import annotations

import os
from typing import Any

from . import model as m
from ._build import RequestStream, build_config, build_fragment, build_spec
from ._schema import is_surely_valid, validate
from ._schema import schema_text as _schema_text
from ._yaml import SourceMap, parse, parse_plain
from .errors import SpecError
from .source import Diagnostic
from .textfile import MAX_FILE_BYTES, read_text_file

__all__ = [
    "MAX_FILE_BYTES",
    "load_spec",
    "load_spec_file",
    "load_config",
    "load_config_file",
    "load_fragment_file",
    "is_fragment_path",
    "check_references",
    "schema_text",
    "read_text_file",
]



def schema_text(name: str) -> str:
    """The JSON text of the spec, config or report schema."""
    return _schema_text(name)


def _load(text: str, *, filename: str, name: str, validator=None) -> tuple[Any, SourceMap]:
    data, smap = parse(text, filename=filename, what=name)
    problems = validate(data, validator or name, smap)
    if problems:
        raise SpecError(problems)
    return data, smap


def load_spec(text: str, *, filename: str, base_dir: str, validator=None) -> m.Spec:
    """Spec text -> Spec (a LoadedSpec, which also carries its SourceMap). Raises SpecError."""
    if validator is None:
        spec = _load_streamed(text, filename=filename, base_dir=base_dir)
        if spec is not None:
            return spec
    data, smap = _load(text, filename=filename, name="spec", validator=validator)
    return build_spec(data, smap, filename=filename, base_dir=base_dir)


def _load_streamed(text: str, *, filename: str, base_dir: str) -> m.Spec | None:
    """A plain spec whose every request is surely valid, built request by request as it
    is read (`RequestStream`); None: load it the careful way (also how any schema error
    gets its message: this path only ever says yes)."""
    stream = RequestStream(filename, base_dir)
    parsed = parse_plain(text, filename=filename, stream=("requests", stream.take))
    if parsed is None or not stream.ok:
        return None
    data, smap = parsed
    # The rest of the document is checked with its first request in the list: each
    # request was checked on its own, and the schema says nothing about them together.
    requests = data.get("requests")
    skeleton = {**data, "requests": [stream.first]} if isinstance(requests, list) and requests else data
    if not is_surely_valid(skeleton, "spec"):
        return None
    return build_spec(data, smap, filename=filename, base_dir=base_dir, stream=stream)


def load_config(text: str, *, filename: str, base_dir: str, validator=None) -> m.Config:
    """Config text -> Config. Raises SpecError."""
    data, smap = _load(text, filename=filename, name="config", validator=validator)
    return build_config(data, smap, filename=filename, base_dir=base_dir)


def load_spec_file(path: str | os.PathLike, *, validator=None) -> m.Spec:
    name = os.fspath(path)
    text = read_text_file(name, what="spec")
    return load_spec(text, filename=name, base_dir=os.path.dirname(os.path.abspath(name)), validator=validator)


def load_config_file(path: str | os.PathLike, *, validator=None) -> m.Config:
    name = os.fspath(path)
    text = read_text_file(name, what="config")
    return load_config(text, filename=name, base_dir=os.path.dirname(os.path.abspath(name)), validator=validator)


def is_fragment_path(path: str | os.PathLike) -> bool:
    """A file in a folder (or with a name) starting with `_`: where fragments and data files
    live. Discovery skips them; named on the command line they are checked, never run."""
    full = os.path.abspath(os.fspath(path))
    rel = os.path.relpath(full)
    # only the folders under the current one count (a checkout in /home/_me is not a fragment)
    parts = rel.split(os.sep) if not rel.startswith("..") else full.split(os.sep)[-2:]
    return any(part.startswith("_") for part in parts)


def load_fragment_file(path: str | os.PathLike) -> tuple[m.RequestDef, ...]:
    """A fragment checked on its own: schema, requests, nested includes, data files."""
    name = os.fspath(path)
    text = read_text_file(name, what="fragment")
    data, smap = _load(text, filename=name, name="fragment")
    return build_fragment(data, smap, filename=name, base_dir=os.path.dirname(os.path.abspath(name)))


# ------------------------------------------------------------------ references


def check_references(spec: m.Spec, *, var_names: set[str], secret_names: set[str]) -> list[Diagnostic]:
    """Every `${...}` reference and named secret of a spec that can never be satisfied,
    given the names of the other vars (config, --var) and secrets: `render.check_spec`
    with names only (the runner itself passes the config and --var as they are)."""
    from .render import Shared, check_spec

    shared = Shared(cli_vars=dict.fromkeys(var_names), secrets=dict.fromkeys(secret_names))  # type: ignore[arg-type]
    return check_spec(spec, shared)
