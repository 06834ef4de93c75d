"""`runner import postman FILE`: a Postman collection (v2.1, v2.0) -> one spec per top-level folder.

`{{var}}` becomes `${var}` (collection variables become `vars:`; secret ones, and
variables named like credentials, become env secrets); `{{$randomInt}}`-style dynamic
variables become vars with a sample value and are reported. Auth is inherited as
Postman does (request, then folders, then collection). Test scripts: the status and
simple JSON equality checks become `expect:`; every other line is kept as a TODO comment.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from ..errors import UsageError
from .credentials import Credentials, is_secret_name
from .httpmsg import is_header_name, is_method
from .specdata import ImportedRequest, ImportedSpec, ImportResult, as_dict, as_list, literal, slug

__all__ = ["import_postman"]

_VAR = re.compile(r"\{\{\s*([^{}]+?)\s*\}\}")
_DYNAMIC_SAMPLES = {"$guid": "3fa85f64-5717-4562-b3fc-2c963f66afa6", "$randomUUID": "3fa85f64-5717-4562-b3fc-2c963f66afa6",
                    "$timestamp": 1700000000, "$isoTimestamp": "2023-11-14T22:13:20Z", "$randomInt": 42}
_MAX_BYTES = 50 * 1024 * 1024


@dataclass
class _Context:
    creds: Credentials
    vars: dict[str, Any]                       # collection variables (not secret)
    secret_vars: dict[str, str]                # variable name -> secret name
    used_vars: set[str] = field(default_factory=set)
    dynamic: dict[str, Any] = field(default_factory=dict)  # var name -> sample value

    def text(self, value: Any) -> str:
        """Postman text -> spec text: literal `${` escaped, `{{var}}` -> `${var}`."""
        out: list[str] = []
        last = 0
        raw = "" if value is None else str(value)
        for match in _VAR.finditer(raw):
            out.append(literal(raw[last:match.start()]))
            out.append(self.ref(match.group(1)))
            last = match.end()
        out.append(literal(raw[last:]))
        return "".join(out)

    def ref(self, name: str) -> str:
        if name in self.secret_vars:
            return "${secret:" + self.secret_vars[name] + "}"
        if name.startswith("$"):
            var = re.sub(r"[^A-Za-z0-9_]", "", name[1:]) or "dynamic"
            self.dynamic[var] = _DYNAMIC_SAMPLES.get(name, "")
            return "${" + var + "}"
        var = name if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.\-]*", name) else re.sub(r"[^A-Za-z0-9_.\-]", "_", name).lstrip(".-0123456789") or "var"
        self.used_vars.add(var)
        return "${" + var + "}"


def _load(path: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            data = fh.read(_MAX_BYTES + 1)
    except OSError as exc:
        raise UsageError(f"{path}: cannot read the Postman collection: {exc.strerror or exc}") from None
    if len(data) > _MAX_BYTES:
        raise UsageError(f"{path}: the collection is over {_MAX_BYTES // 2**20} MB")
    try:
        doc = json.loads(data.decode("utf-8-sig"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: not a Postman collection (not valid JSON: {exc})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("item"), list) or not isinstance(doc.get("info"), dict):
        raise UsageError(f"{path}: not a Postman collection v2 (expected `info` and an `item` list; "
                         "export it from Postman as Collection v2.1)")
    return doc


def _pairs(value: Any) -> dict[str, Any]:
    """Postman auth parameters: v2.1 writes [{key, value}], v2.0 a mapping."""
    if isinstance(value, list):
        return {str(p.get("key")): p.get("value") for p in value if isinstance(p, dict)}
    return dict(value) if isinstance(value, dict) else {}


def _auth(auth: Any, ctx: _Context, todo: list[str]) -> tuple[Any, tuple[str, str] | None]:
    """(spec auth or None, an api key sent in the query as (name, value)) for a Postman auth."""
    if not isinstance(auth, dict):
        return None, None
    kind = str(auth.get("type", ""))
    params = _pairs(auth.get(kind))
    if kind == "noauth":
        return "none", None
    if kind == "bearer":
        return {"bearer": _secret_of(params.get("token"), "API_TOKEN", "the bearer token", ctx)}, None
    if kind == "basic":
        username = ctx.text(params.get("username", ""))
        return {"basic": {"username": username, "password": _secret_of(params.get("password"), "API_PASSWORD",
                                                                         "the Basic auth password", ctx)}}, None
    if kind == "apikey":
        name = str(params.get("key") or "X-API-Key")
        if str(params.get("in", "header")) != "query" and not is_header_name(name):
            todo.append("Postman API key auth has an invalid header name (not shown: it may hold the key): "
                        "set `auth:` by hand")
            return None, None
        secret = _secret_of(params.get("value"), name, f"the {name} API key", ctx)
        if str(params.get("in", "header")) == "query":
            return None, (name, "${secret:" + secret + "}")
        return {"header": {"name": name, "secret": secret}}, None
    todo.append(f"Postman auth `{kind}` is not imported: set `auth:` by hand")
    return None, None


def _secret_of(value: Any, default_env: str, what: str, ctx: _Context) -> str:
    """The secret for an auth value: a `{{var}}` names it after the variable; a literal value
    becomes the default name. The value itself is never written."""
    raw = "" if value is None else str(value)
    match = _VAR.fullmatch(raw.strip())
    if match and not match.group(1).startswith("$"):
        var = match.group(1)
        if var in ctx.secret_vars:
            return ctx.secret_vars[var]
        secret = ctx.creds.secret(var, f"{what} (Postman variable {var})", str(ctx.vars.pop(var, "") or ""))
        ctx.secret_vars[var] = secret
        return secret
    return ctx.creds.secret(default_env, what, raw)


_JSON_EXPR = r"(?P<expr>(?P<root>[A-Za-z_$][\w$]*|pm\.response\.json\(\))(?P<path>(?:\.[A-Za-z_$][\w$]*|\[\d+\]|\[(?:\"[^\"]*\"|'[^']*')\])*))"
_VALUE = r"(?P<value>-?\d+(?:\.\d+)?|\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'|true|false|null)"
_STATUS = re.compile(r"^\s*pm\.response\.to\.have\.status\((\d{3})\)\s*;?\s*$")
_STATUS_EXPECT = re.compile(r"^\s*pm\.expect\(pm\.response\.(?:code|status)\)(?:\.to)?(?:\.be)?\.(?:eql|equal|eq)\((\d{3})\)\s*;?\s*$")
_JSON_CHECK = re.compile(r"^\s*pm\.expect\(" + _JSON_EXPR + r"\)(?:\.to)?(?:\.be)?\.(?:eql|equal|eq)\(" + _VALUE + r"\)\s*;?\s*$")
_JSON_VAR = re.compile(r"^\s*(?:var|let|const)\s+([A-Za-z_$][\w$]*)\s*=\s*pm\.response\.json\(\)\s*;?\s*$")
_WRAPPER = re.compile(r"^\s*(?:pm\.test\(.*function\s*\(\)\s*\{|pm\.test\(.*\(\)\s*=>\s*\{|\}\)\s*;?)\s*$")


def _js_value(text: str) -> Any:
    if text.startswith("'"):
        text = '"' + text[1:-1].replace('"', '\\"').replace("\\'", "'") + '"'
    return json.loads(text)


def _jsonpath(path: str) -> tuple[str, bool]:
    """`.a.b[0]["c-d"]` -> ("$.a.b[0]['c-d']", ends with .length)."""
    length = path.endswith(".length")
    if length:
        path = path[: -len(".length")]
    out = "$"
    for part in re.findall(r"\.[A-Za-z_$][\w$]*|\[\d+\]|\[(?:\"[^\"]*\"|'[^']*')\]", path):
        if part.startswith("[") and part[1] in "\"'":
            key = part[2:-2]
            out += "['" + key.replace("\\", "\\\\").replace("'", "\\'") + "']"
        elif part.startswith(".") and not re.fullmatch(r"\.[A-Za-z_][A-Za-z0-9_]*", part):
            out += "['" + part[1:] + "']"
        else:
            out += part
    return out, length


def _tests(events: Any, expect: dict[str, Any], todo: list[str]) -> None:
    json_vars: set[str] = set()
    for event in events if isinstance(events, list) else []:
        if not isinstance(event, dict):
            continue
        script = event.get("script") or {}
        lines = script.get("exec") if isinstance(script, dict) else None
        if isinstance(lines, str):
            lines = lines.splitlines()
        listen = event.get("listen")
        for line in lines if isinstance(lines, list) else []:
            line = str(line)
            if not line.strip():
                continue
            if listen == "test" and _read_check(line, expect, json_vars):
                continue
            if listen == "test" and _WRAPPER.match(line):
                continue
            todo.append(f"{'pre-request' if listen == 'prerequest' else 'test'} script: {line.strip()}")


def _read_check(line: str, expect: dict[str, Any], json_vars: set[str]) -> bool:
    match = _STATUS.match(line) or _STATUS_EXPECT.match(line)
    if match:
        expect["status"] = int(match.group(1))
        return True
    match = _JSON_VAR.match(line)
    if match:
        json_vars.add(match.group(1))
        return True
    match = _JSON_CHECK.match(line)
    if match and (match.group("root") in json_vars or match.group("root") == "pm.response.json()"):
        path, length = _jsonpath(match.group("path"))
        value = _js_value(match.group("value"))
        if isinstance(value, str):
            value = literal(value)
        expect.setdefault("json", {})[path] = {"length": value} if length else (
            {"eq": value} if isinstance(value, (dict, list)) else value)
        return True
    return False


def _url(request: dict[str, Any], ctx: _Context) -> tuple[str, dict[str, str]]:
    url = request.get("url")
    if isinstance(url, str):
        raw, query_items, path_vars = url, None, {}
    elif isinstance(url, dict):
        raw = str(url.get("raw", ""))
        query_items = url.get("query")
        path_vars = {str(v.get("key")): v.get("value") for v in as_list(url.get("variable")) if isinstance(v, dict)}
    else:
        raise UsageError("a request has no url")
    raw = raw.split("#")[0]
    base, _, query_text = raw.partition("?")
    # Path variables (`/users/:id`): their value when the collection gives one, else a var.
    def path_var(m: re.Match[str]) -> str:
        name = m.group(1)
        value = path_vars.get(name)
        return "/" + (str(value) if value not in (None, "") else "{{" + name + "}}")
    base = re.sub(r"/:([A-Za-z_][A-Za-z0-9_]*)", path_var, base)
    query: dict[str, str] = {}
    if isinstance(query_items, list):
        items = [(str(q.get("key", "")), q.get("value")) for q in query_items if isinstance(q, dict) and not q.get("disabled")]
    else:
        items = parse_qsl(query_text, keep_blank_values=True)
    for key, value in items:
        text = "" if value is None else str(value)
        if is_secret_name(key) and text and not _VAR.fullmatch(text.strip()):
            query[ctx.text(key)] = ctx.creds.query(key, text)
        else:
            query[ctx.text(key)] = ctx.text(text)
    return ctx.text(base), query


def _body(request: dict[str, Any], data: dict[str, Any], headers: dict[str, str], ctx: _Context, todo: list[str]) -> None:
    body = request.get("body")
    if not isinstance(body, dict) or body.get("disabled"):
        return
    mode = body.get("mode")
    if mode == "raw":
        raw = str(body.get("raw") or "")
        if not raw:
            return
        language = as_dict(as_dict(body.get("options")).get("raw")).get("language")
        ctype = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
        if language == "json" or "json" in ctype:
            try:
                data["json"] = _json_text(json.loads(raw), ctx)
                for key in [k for k in headers if k.lower() == "content-type" and "application/json" in headers[k]]:
                    del headers[key]
                return
            except ValueError:
                if not ctype:
                    headers["Content-Type"] = "application/json"
        data["body"] = ctx.text(raw)
    elif mode == "urlencoded":
        fields = [f for f in as_list(body.get("urlencoded")) if isinstance(f, dict) and not f.get("disabled")]
        if fields:
            data["form"] = {ctx.text(f.get("key", "")): _field(f, ctx) for f in fields}
    elif mode == "formdata":
        files: dict[str, Any] = {}
        for f in as_list(body.get("formdata")):
            if not isinstance(f, dict) or f.get("disabled"):
                continue
            if f.get("type") == "file":
                src = f.get("src")
                src = src[0] if isinstance(src, list) and src else src
                if src:
                    files[ctx.text(f.get("key", ""))] = literal(str(src))
                else:
                    todo.append(f"form field {f.get('key')!r}: choose the file to upload")
            else:
                files[ctx.text(f.get("key", ""))] = {"content": _field(f, ctx)}
        if files:
            data["files"] = files
    elif mode == "graphql":
        graphql = as_dict(body.get("graphql"))
        doc: dict[str, Any] = {"query": ctx.text(graphql.get("query", ""))}
        variables = graphql.get("variables")
        if variables:
            try:
                doc["variables"] = _json_text(json.loads(variables), ctx)
            except (TypeError, ValueError):
                todo.append("GraphQL variables are not JSON: set them by hand")
        data["json"] = doc
    elif mode:
        todo.append(f"body mode `{mode}` is not imported: set the body by hand")


def _field(f: dict[str, Any], ctx: _Context) -> str:
    key, value = str(f.get("key", "")), "" if f.get("value") is None else str(f.get("value"))
    if is_secret_name(key) and value and not _VAR.fullmatch(value.strip()):
        return ctx.creds.ref(key, f"the {key} form field", value)
    return ctx.text(value)


def _json_text(value: Any, ctx: _Context, key: str = "") -> Any:
    if isinstance(value, str):
        if key and is_secret_name(key) and value and not _VAR.fullmatch(value.strip()):
            return ctx.creds.ref(key, f"the {key} field of a JSON body", value)
        return ctx.text(value)
    if isinstance(value, list):
        return [_json_text(v, ctx, key) for v in value]
    if isinstance(value, dict):
        return {ctx.text(k): _json_text(v, ctx, k) for k, v in value.items()}
    return value


def _request(item: dict[str, Any], prefix: str, inherited: Any, ctx: _Context) -> ImportedRequest:
    request = item.get("request")
    if isinstance(request, str):
        request = {"url": request, "method": "GET"}
    if not isinstance(request, dict):
        raise UsageError(f"request {item.get('name')!r} has no `request`")
    todo: list[str] = []
    data: dict[str, Any] = {"name": ctx.text(prefix + str(item.get("name") or "request")),
                            "method": str(request.get("method") or "GET").upper()}
    if not is_method(data["method"]):
        raise UsageError(f"request {item.get('name')!r}: {data['method']!r} is not an HTTP method")
    url, query = _url(request, ctx)
    data["url"] = url
    headers: dict[str, str] = {}
    invalid_names = 0
    for header in as_list(request.get("header")):
        if not isinstance(header, dict) or header.get("disabled"):
            continue
        name, value = str(header.get("key", "")), "" if header.get("value") is None else str(header.get("value"))
        if not name:
            continue
        if not is_header_name(name):
            invalid_names += 1  # never quoted: a whole pasted header ("Authorization: Bearer ...") lands here
            continue
        if is_secret_name(name) and not _VAR.fullmatch(value.strip()):
            kind, secret = ctx.creds.header(name, value)
            if kind == "bearer":
                data["auth"] = {"bearer": secret}
            else:
                headers[name] = secret
        else:
            headers[name] = ctx.text(value)
    if invalid_names:
        todo.append(f"{invalid_names} header(s) with an invalid name left out (not shown: such a name "
                    "may hold a whole pasted header, token included)")
    own_auth = request.get("auth")
    auth, query_key = _auth(own_auth if own_auth is not None else inherited, ctx, todo)
    if own_auth is not None and auth is not None and "auth" not in data:
        data["auth"] = auth
    if query_key:
        query[query_key[0]] = query_key[1]
    if query:
        data["query"] = query
    _body(request, data, headers, ctx, todo)
    if headers:
        data["headers"] = headers
    expect: dict[str, Any] = {}
    _tests(item.get("event"), expect, todo)
    expect.setdefault("status", "2xx")
    data["expect"] = expect
    return ImportedRequest(data, todo)


def _walk(items: list[Any], prefix: str, auth: Any, ctx: _Context, out: list[ImportedRequest]) -> None:
    for item in items:
        if not isinstance(item, dict):
            continue
        if isinstance(item.get("item"), list):  # a sub-folder: its requests join this file
            sub_auth = item.get("auth") if item.get("auth") is not None else auth
            _walk(item["item"], f"{prefix}{item.get('name', 'folder')} / ", sub_auth, ctx, out)
        else:
            out.append(_request(item, prefix, auth, ctx))


def _references(spec: ImportedSpec) -> set[str]:
    """Every `${name}` and `secret:NAME` a spec uses (vars, secrets, auth's secrets)."""
    text = json.dumps([spec.auth, spec.vars, [r.data for r in spec.requests]])
    names = set(re.findall(r"(?<!\$)\$\{([^}]*)\}", text))
    for auth in [spec.auth] + [r.data.get("auth") for r in spec.requests]:
        if isinstance(auth, dict):
            for value in auth.values():
                secret = value if isinstance(value, str) else (value.get("secret") or value.get("password"))
                if isinstance(secret, str):
                    names.add("secret:" + secret)
    return names


def import_postman(path: str) -> ImportResult:
    doc = _load(path)
    creds = Credentials()
    variables = [v for v in as_list(doc.get("variable")) if isinstance(v, dict) and v.get("key") and not v.get("disabled")]
    ctx = _Context(creds, {}, {})
    for var in variables:
        key, value = str(var["key"]), var.get("value")
        if var.get("type") == "secret" or (is_secret_name(key) and value not in (None, "")):
            ctx.secret_vars[key] = creds.secret(key, f"the Postman {'secret ' if var.get('type') == 'secret' else ''}variable {key}",
                                                "" if value is None else str(value))
        else:
            ctx.vars[key] = value if isinstance(value, (int, float, bool)) else ctx.text(value)
    title = str(doc["info"].get("name") or "Postman collection")
    collection_auth = doc.get("auth")
    groups: list[tuple[str, str, Any, list[ImportedRequest], list[str]]] = []
    loose: list[ImportedRequest] = []
    loose_todo: list[str] = []
    for item in doc["item"]:
        if not isinstance(item, dict):
            continue
        if isinstance(item.get("item"), list):
            folder = str(item.get("name") or "folder")
            auth = item.get("auth") if item.get("auth") is not None else collection_auth
            requests: list[ImportedRequest] = []
            _walk(item["item"], "", auth, ctx, requests)
            groups.append((slug(folder), f"{title} / {folder}", auth, requests, []))
        else:
            loose.append(_request(item, "", collection_auth, ctx))
    if loose:
        groups.insert(0, (slug(title), title, collection_auth, loose, loose_todo))
    if not groups:
        raise UsageError(f"{path}: the collection has no requests")
    specs = []
    for stem, name, auth, requests, todo in groups:
        spec_auth, query_key = _auth(auth, ctx, todo)
        if query_key:  # the folder's API key goes in every request's query
            for request in requests:
                request.data.setdefault("query", {})[query_key[0]] = query_key[1]
        specs.append(ImportedSpec(stem=stem, name=name, auth=spec_auth, requests=requests, todo=todo,
                                  notes=[f"Imported from the Postman collection {title!r}."]))
    warnings: list[str] = []
    missing = sorted(ctx.used_vars - set(ctx.vars))
    if ctx.dynamic:
        warnings.append("Postman dynamic variables written as vars with a sample value: "
                        + ", ".join("{{$" + k + "}}" for k in sorted(ctx.dynamic)))
    all_vars = {**ctx.vars, **{k: "" for k in missing}, **ctx.dynamic}
    for spec in specs:
        creds.scrub(spec)
        used = _references(spec)
        envs = {n: what for n, what in creds.env_vars.items() if ("secret:" + n.lower()) in used}
        spec.secrets = {n.lower(): {"env": n} for n in envs}
        spec.vars = {k: v for k, v in all_vars.items() if k in used or not used}
        spec.todo += [f"set {n} before running ({what})" for n, what in envs.items()]
        spec.todo += [f"set the Postman variable {k} (--var {k}=..., or `vars:` in runner.yaml)" for k in missing if k in used]
        spec.todo += [f"`{k}` was the dynamic variable {{{{${k}}}}}: a fixed sample value is used"
                      for k in sorted(ctx.dynamic) if k in used]
    return ImportResult(specs, dict(creds.env_vars), warnings)
