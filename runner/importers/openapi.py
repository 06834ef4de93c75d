"""`runner import openapi FILE`: an OpenAPI 3.0/3.1 document -> one spec per tag (or one).

Read with the conformance check's loader (`runner.openapi.load_document`: safe YAML or
JSON, every local `$ref` checked, none fetched). One request per operation: required
parameters take their example, default or first enum value; an operation whose required
parameter (or required body) has none is written with `skip: "needs ..."` and a var to
fill in. The first documented 2xx is expected. Security schemes become secrets and auth
(http bearer: an env secret; apiKey in a header: `header:`; oauth2 clientCredentials: an
`oauth2` source with its tokenUrl; http basic: `basic:`); a request uses its operation's
first security requirement. Every spec names the document in `openapi:`, so each
response is checked against it when the spec runs.
"""

from __future__ import annotations

import os
import re
from typing import Any
from urllib.parse import quote, urljoin

from .credentials import env_name
from .specdata import ImportedRequest, ImportedSpec, ImportResult, as_dict, as_list, literal, literal_value, slug

__all__ = ["import_openapi"]

_METHODS = ("get", "post", "put", "patch", "delete")
_LOCAL_SERVER = "http://127.0.0.1:8000"
_MISSING = object()


class _Doc:
    def __init__(self, path: str) -> None:
        try:
            from ..openapi import load_document  # raises SpecError (exit 2, positioned) for a broken document
        except ImportError:  # the conformance package lands separately
            from ..errors import UsageError

            raise UsageError("runner import openapi needs the OpenAPI document loader (runner.openapi), "
                             "which this build does not have") from None

        self.doc = load_document(path)
        self.root: dict[str, Any] = self.doc.root

    def resolve(self, node: Any) -> Any:
        """Follow a `$ref` (the loader checked that it resolves)."""
        if isinstance(node, dict) and isinstance(node.get("$ref"), str):
            loc = self.doc.loc_of(node)
            if loc is not None:
                return self.doc.resolve(node, loc)[0]
        return node


def _server_url(root: dict[str, Any]) -> str:
    servers = root.get("servers")
    server = servers[0] if isinstance(servers, list) and servers and isinstance(servers[0], dict) else {}
    url = str(server.get("url") or "/")
    for name, var in as_dict(server.get("variables")).items():
        if isinstance(var, dict) and "default" in var:
            url = url.replace("{" + str(name) + "}", str(var["default"]))
    if "://" not in url:  # a relative server URL is relative to where the document is served
        url = urljoin(_LOCAL_SERVER + "/", url.lstrip("/"))
    return url.rstrip("/")


def _sample(d: _Doc, param: dict[str, Any]) -> Any:
    """A parameter's example, examples' first value, or its schema's example, default or first enum value."""
    if "example" in param:
        return param["example"]
    examples = param.get("examples")
    if isinstance(examples, dict):
        for example in examples.values():
            example = d.resolve(example)
            if isinstance(example, dict) and "value" in example:
                return example["value"]
    schema = d.resolve(param.get("schema"))
    if isinstance(schema, dict):
        if "example" in schema:
            return schema["example"]
        if isinstance(schema.get("examples"), list) and schema["examples"]:
            return schema["examples"][0]
        if "default" in schema:
            return schema["default"]
        if isinstance(schema.get("enum"), list) and schema["enum"]:
            return schema["enum"][0]
    return _MISSING


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _expected(responses: Any) -> Any:
    codes = sorted(str(c) for c in as_dict(responses) if re.fullmatch(r"2\d\d", str(c)))
    if codes:
        return int(codes[0])
    return "2xx"


class _Security:
    """securitySchemes -> secrets, and one requirement -> (auth, extra query, extra headers)."""

    def __init__(self, d: _Doc, server: str) -> None:
        self.d = d
        self.server = server
        self.schemes: dict[str, Any] = {}
        components = as_dict(d.root.get("components"))
        for name, scheme in as_dict(components.get("securitySchemes")).items():
            self.schemes[str(name)] = d.resolve(scheme)
        self.secrets: dict[str, dict[str, Any]] = {}
        self.env_vars: dict[str, str] = {}
        self.todo: list[str] = []

    def _env(self, name: str, what: str) -> str:
        self.env_vars.setdefault(name, what)
        return name

    def secret_for(self, scheme_name: str) -> tuple[str, dict[str, Any]] | None:
        """(secret name, scheme) declared once per scheme; None for a kind not imported."""
        scheme = self.schemes.get(scheme_name)
        if not isinstance(scheme, dict):
            return None
        secret = slug(scheme_name, default="api").replace("-", "_")
        if secret in self.secrets:
            return secret, scheme
        kind, base = str(scheme.get("type", "")), env_name(scheme_name)
        if kind == "http" and str(scheme.get("scheme", "")).lower() == "basic":
            self.secrets[secret] = {"env": self._env(f"{base}_PASSWORD", f"the password for {scheme_name} (HTTP Basic)")}
            self._env(f"{base}_USERNAME", f"the user name for {scheme_name} (HTTP Basic)")
        elif kind == "apiKey":
            self.secrets[secret] = {"env": self._env(env_name(str(scheme.get("name") or base)),
                                                     f"the API key {scheme.get('name')} ({scheme_name})")}
        elif kind == "oauth2" and isinstance(as_dict(scheme.get("flows")).get("clientCredentials"), dict):
            flow = scheme["flows"]["clientCredentials"]
            token_url = str(flow.get("tokenUrl") or "/oauth/token")
            if "://" not in token_url:  # relative to the server, which API_URL may move
                token_url = "${env:API_URL:-" + literal(self.server) + "}" + "/" + token_url.lstrip("/")
            source: dict[str, Any] = {"token_url": token_url,
                                      "client_id": "${env:" + self._env(f"{base}_CLIENT_ID", f"the OAuth2 client id ({scheme_name})") + "}",
                                      "client_secret": "${env:" + self._env(f"{base}_CLIENT_SECRET", f"the OAuth2 client secret ({scheme_name})") + "}"}
            scopes = [str(s) for s in as_dict(flow.get("scopes"))]
            if scopes:
                source["scope"] = " ".join(scopes)
            self.secrets[secret] = {"oauth2": source}
        elif kind in ("http", "oauth2", "openIdConnect"):
            if kind != "http":
                self.todo.append(f"security scheme {scheme_name} ({kind}) is read as a bearer token from {base}_TOKEN: "
                                 "replace it with an oauth2 or command source if you can")
            self.secrets[secret] = {"env": self._env(f"{base}_TOKEN", f"the bearer token for {scheme_name}")}
        else:
            self.todo.append(f"security scheme {scheme_name} ({kind}) is not imported: set `auth:` by hand")
            return None
        return secret, scheme

    def apply(self, requirement: Any) -> tuple[Any, dict[str, str], dict[str, str]]:
        """(auth, query, headers) for one security requirement ({} or None: no auth)."""
        if not isinstance(requirement, dict) or not requirement:
            return "none", {}, {}
        auth: Any = None
        query: dict[str, str] = {}
        headers: dict[str, str] = {}
        for scheme_name in requirement:
            found = self.secret_for(str(scheme_name))
            if found is None:
                continue
            secret, scheme = found
            kind, where, name = scheme.get("type"), scheme.get("in"), str(scheme.get("name") or "")
            ref = "${secret:" + secret + "}"
            if kind == "apiKey" and where == "query":
                query[name] = ref
            elif kind == "apiKey" and where == "cookie":
                headers["Cookie"] = f"{name}={ref}"
            elif auth is None and kind == "apiKey":
                auth = {"header": {"name": name, "secret": secret}}
            elif auth is None and kind == "http" and str(scheme.get("scheme", "")).lower() == "basic":
                auth = {"basic": {"username": "${env:" + env_name(str(scheme_name)) + "_USERNAME}", "password": secret}}
            elif auth is None and kind != "apiKey":
                auth = {"bearer": secret}
            elif kind == "apiKey":
                headers[name] = ref
        return auth, query, headers


def _operation(d: _Doc, sec: _Security, path: str, method: str, op: dict[str, Any], path_params: list[Any],
               default_security: Any, vars_: dict[str, Any]) -> ImportedRequest:
    params: dict[tuple[str, str], dict[str, Any]] = {}
    for param in list(path_params) + as_list(op.get("parameters")):
        param = d.resolve(param)
        if isinstance(param, dict) and param.get("name"):
            params[(str(param["name"]), str(param.get("in")))] = param
    needs: list[str] = []
    url = path
    query: dict[str, Any] = {}
    headers: dict[str, str] = {}
    for (name, where), param in params.items():
        if not (param.get("required") or where == "path"):
            continue
        value = _sample(d, param)
        if where == "path":
            if value is _MISSING:
                needs.append(name)
                var = re.sub(r"[^A-Za-z0-9_]", "_", name)
                vars_.setdefault(var, "")
                url = url.replace("{" + name + "}", "${" + var + "}")
            else:
                url = url.replace("{" + name + "}", literal(quote(_text(value), safe="")))
        elif where in ("query", "header"):
            if value is _MISSING:
                needs.append(name)
                var = re.sub(r"[^A-Za-z0-9_]", "_", name)
                vars_.setdefault(var, "")
                text = "${" + var + "}"
            else:
                text = literal(_text(value)) if not isinstance(value, (dict, list)) else literal(str(value))
            (query if where == "query" else headers)[name] = text
    data: dict[str, Any] = {"name": str(op.get("summary") or op.get("operationId") or f"{method.upper()} {path}")[:120],
                            "method": method.upper(), "url": url}
    body = d.resolve(op.get("requestBody"))
    if isinstance(body, dict):
        content = as_dict(body.get("content"))
        media_type = next((m for m in content if "json" in str(m).lower()), next(iter(content), None))
        media = d.resolve(content.get(media_type)) if media_type else None
        example = _sample(d, media) if isinstance(media, dict) else _MISSING
        if example is not _MISSING and media_type and "json" in str(media_type).lower():
            data["json"] = literal_value(example)
        elif example is not _MISSING and media_type == "application/x-www-form-urlencoded" and isinstance(example, dict):
            data["form"] = {str(k): literal(_text(v)) for k, v in example.items()}
        elif body.get("required"):
            needs.append("a request body")
    security = op.get("security", default_security)
    requirement = security[0] if isinstance(security, list) and security else ({} if isinstance(security, list) else None)
    if requirement is not None:
        auth, sec_query, sec_headers = sec.apply(requirement)
        query.update(sec_query)
        headers.update(sec_headers)
        data["auth"] = auth
    if query:
        data["query"] = query
    if headers:
        data["headers"] = headers
    data["expect"] = {"status": _expected(op.get("responses"))}
    if needs:
        data["skip"] = "needs " + ", ".join(needs)
    todo = [f"fill in {', '.join(needs)} and remove `skip:`"] if needs else []
    return ImportedRequest(data, todo)


def import_openapi(path: str, *, out_dir: str | None) -> ImportResult:
    d = _Doc(path)
    root = d.root
    info = root.get("info") if isinstance(root.get("info"), dict) else {}
    title = str(info.get("title") or "API")
    server = _server_url(root)
    sec = _Security(d, server)
    groups: dict[str, list[ImportedRequest]] = {}
    vars_by_group: dict[str, dict[str, Any]] = {}
    for api_path, item in as_dict(root.get("paths")).items():
        item = d.resolve(item)
        if not isinstance(item, dict):
            continue
        for method in _METHODS:
            op = item.get(method)
            if not isinstance(op, dict):
                continue
            tags = op.get("tags")
            group = str(tags[0]) if isinstance(tags, list) and tags else title
            vars_ = vars_by_group.setdefault(group, {})
            groups.setdefault(group, []).append(
                _operation(d, sec, str(api_path), method, op, as_list(item.get("parameters")), root.get("security"), vars_))
    if not groups:
        from ..errors import UsageError

        raise UsageError(f"{path}: the document has no operations (paths is empty)")
    here = out_dir if out_dir is not None else os.getcwd()
    openapi_ref = os.path.relpath(os.path.abspath(path), os.path.abspath(here)).replace(os.sep, "/")
    base_url = "${env:API_URL:-" + literal(server) + "}"
    specs: list[ImportedSpec] = []
    spec_auth, _, _ = sec.apply(root["security"][0]) if isinstance(root.get("security"), list) and root["security"] else (None, {}, {})
    for group, requests in groups.items():
        for request in requests:  # auth equal to the spec's is said once, at the spec level
            if spec_auth is not None and request.data.get("auth") == spec_auth:
                del request.data["auth"]
            elif spec_auth is None and request.data.get("auth") == "none":
                del request.data["auth"]
        auths = [r.data.get("auth") for r in requests]
        hoisted = spec_auth
        if spec_auth is None and auths and all(a == auths[0] and a is not None for a in auths):
            hoisted = auths[0]
            for request in requests:
                del request.data["auth"]
        specs.append(ImportedSpec(stem=slug(group), name=f"{title}: {group}" if group != title else title,
                                  base_url=base_url, openapi=openapi_ref, auth=hoisted, vars=vars_by_group[group],
                                  requests=requests, notes=[f"Imported from the OpenAPI document {os.path.basename(path)}."]))
    used = {name for spec in specs for name in _secret_names(spec)}
    for spec in specs:
        mine = _secret_names(spec)
        spec.secrets = {k: v for k, v in sec.secrets.items() if k in mine}
        spec.todo += sec.todo
        spec.todo += [f"set {env} before running ({what})" for env, what in sec.env_vars.items()
                      if any(env in str(v) for v in spec.secrets.values()) or _basic_user(spec, env)]
    env_vars = {env: what for env, what in sec.env_vars.items()
                if any(env in str(v) for k, v in sec.secrets.items() if k in used) or env.endswith("_USERNAME")}
    return ImportResult(specs, env_vars, [])


def _basic_user(spec: ImportedSpec, env: str) -> bool:
    return env.endswith("_USERNAME") and ("${env:" + env + "}") in str([spec.auth] + [r.data.get("auth") for r in spec.requests])


def _secret_names(spec: ImportedSpec) -> set[str]:
    names: set[str] = set()
    for auth in [spec.auth] + [r.data.get("auth") for r in spec.requests]:
        if isinstance(auth, dict):
            for value in auth.values():
                name = value if isinstance(value, str) else (value.get("secret") or value.get("password"))
                if isinstance(name, str):
                    names.add(name)
    text = str([r.data for r in spec.requests])
    names.update(re.findall(r"\$\{secret:([^}]+)\}", text))
    return names
