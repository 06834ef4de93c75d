"""One renderer: spec + config + vars + captures + secrets -> the request that is sent.

    Shared.from_config(config, environment, cli_vars, secrets)   what a run adds to every file
    SpecRenderer(spec, shared, environ=, store=, redactor=)      one per spec file and run
        .plan(req) -> RequestPlan        what is constant about a request: computed once
        .render(plan) -> Rendered        the request to send; its URL is the one shown
        .value(v)                        an expectation operand, in the same scope
    check_config(shared, environ=) / check_spec(spec, shared, environ=) -> [Diagnostic]
                                         the same rules, statically (`runner validate`, and
                                         `runner run` before anything is sent)

Rules (the static check and the renderer share them):

- Variables come in layers: the config's `vars`, the environment's, the spec's, then
  `--var`; a higher layer wins, and captures of earlier requests win over all of them.
  A var is rendered on first use, in the scope of its layer: a spec var sees every
  layer (so `path: "/x?who=${user}"` sees `--var user=bob`), a config var sees the
  config's layers and `--var`. A var naming itself reads the layer below (`user:
  "${user}-x"` extends the config's `user`). `--var` values are literal.
- `base_url` (the spec's, else the environment's, else the config's) and the
  config's vars are rendered like spec vars; `defaults.headers` (config and spec)
  are rendered with each request, like its own headers. Query and form keys and
  `files:` paths are rendered too (a relative path is read from the spec's folder).
- A URL is absolute when it starts with `scheme://`; any other is joined to base_url.
  `query:` is appended to the query the URL already has, and the result is
  percent-encoded as requests sends it: the URL shown is the URL sent.
- `auth: none` sends no credential: the Authorization and Cookie headers, the spec's
  `header:` auth header and any header holding `${secret:...}` or named like a
  credential are dropped from the defaults (a request's own headers are kept).
- A captured or var `null` is an empty string inside text; alone it stays null.
- Statically: a name no layer or earlier capture defines, an undeclared secret, a
  malformed reference and a cycle between vars are errors; an unset `${env:NAME}`
  without a default is an error for `runner run` (nothing is sent) and a warning
  for `runner validate` (it reads no environment it is not given).

Where things live: `vars.py` (variables in layers: `VarLayer`, `Shared`, `Vars`),
`request.py` (building one request: `SpecRenderer`, `Rendered`; secrets, auth, TLS),
`plan.py` (`RequestPlan`: what is constant per request, computed once; the values that hold
references), `urls.py` (URL joining and encoding), `body.py` (json, form, raw and multipart
bodies), `text.py` (`RenderError`, a value as text), `check.py` (the same rules,
statically: `check_config`, `check_spec`).
"""

from .check import check_config, check_spec
from .request import IDEMPOTENT, Rendered, RenderError, RequestPlan, SpecRenderer, is_absolute, refs_of
from .vars import Shared, VarLayer

__all__ = [
    "RenderError",
    "Rendered",
    "RequestPlan",
    "Shared",
    "SpecRenderer",
    "VarLayer",
    "check_config",
    "check_spec",
    "is_absolute",
    "refs_of",
    "IDEMPOTENT",
]
