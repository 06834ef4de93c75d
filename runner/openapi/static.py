"""Before anything is sent: each spec's document loaded once, and every request checked against it.

    load_contracts(specs, default) -> (contracts by spec path, diagnostics)

`default` is the config's `openapi:` (its environment's wins); a spec's own `openapi:`
wins over both, and `openapi: false` turns it off. A document named by several specs is
read once. A request whose method and URL match no operation is reported at its `url`,
with a did-you-mean; each `${...}` of the URL stands for one path segment. Absolute URLs
and URLs that start with `${...}` are left to the run-time check (their path is not known).
"""

from __future__ import annotations

from typing import Iterable

from ..errors import SpecError
from ..model import OpenAPIRef, Spec
from ..source import Diagnostic, Span
from . import load_contract
from .conformance import Contract

__all__ = ["load_contracts", "request_problems"]


def load_contracts(specs: Iterable[Spec], default: OpenAPIRef | None) -> tuple[dict[str, Contract], list[Diagnostic]]:
    loaded: dict[str, Contract | None] = {}
    contracts: dict[str, Contract] = {}
    diagnostics: list[Diagnostic] = []
    for spec in specs:
        ref = spec.openapi if spec.openapi is not None else default
        if not isinstance(ref, OpenAPIRef):
            continue
        if ref.path not in loaded:
            try:
                loaded[ref.path] = load_contract(ref.path)
            except SpecError as exc:
                loaded[ref.path] = None
                for d in exc.diagnostics:
                    if d.span is None:  # the file itself: point at the `openapi:` that names it
                        d = Diagnostic(f"openapi: {d.message}", ref.span, d.hint, d.title)
                    diagnostics.append(d)
        contract = loaded[ref.path]
        if contract is not None:
            contracts[spec.path] = contract
            diagnostics.extend(request_problems(spec, contract))
    return contracts, diagnostics


def request_problems(spec: Spec, contract: Contract) -> list[Diagnostic]:
    smap = getattr(spec, "source_map", None)
    out = []
    for req in spec.requests:
        url = req.url
        if not req.openapi or not isinstance(url, str) or "://" in url or url.startswith("${"):
            continue
        found = contract.operations.check_static(req.method, url)
        if found is None:
            continue
        problem, hint = found
        if req.row is not None and req.row.index > 0:
            continue  # the rows of a for_each are one written request: said once
        where = req.included.source_map if req.included is not None else smap  # a fragment's own positions
        span = where.value_span(req.where + ("url",)) if where is not None else (req.span or Span.point(spec.path))
        out.append(Diagnostic(problem, span, hint))
    return out
