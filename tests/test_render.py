"""render.py: one renderer for `runner run`, the displayed URL, --curl and `runner validate`.

Issue 14, items 2, 5, 6, 11, 13, 14, 15 and 20 (a null in text). Every test runs the CLI
as a user does, against the test server on 127.0.0.1.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

from tests.helpers import CANARY, run_cli, write


def query_of(received) -> dict[str, list[str]]:
    return parse_qs(urlsplit(received.path).query, keep_blank_values=True)


def echo_spec(cwd, body: str, name: str = "s.yaml", head: str = "") -> str:
    """A spec whose requests go to the test server (base_url from $API)."""
    write(cwd / name, "version: 1\nname: s\nbase_url: ${env:API}\n" + head + "requests:\n" + body)
    return name


# ------------------------------------------------------------------ item 2: auth: none


def test_auth_none_sends_no_credential_from_the_defaults(cwd, http_server):
    write(cwd / "runner.yaml", """
        defaults:
          headers: {Cookie: "session=${secret:tok}"}
    """)
    echo_spec(cwd, """
          - name: anonymous
            url: /echo
            auth: none
          - name: anonymous, own header kept
            url: /echo
            auth: none
            headers: {X-Api-Key: own}
          - name: with the key
            url: /echo
    """, head="""secrets:
  tok: {env: API_TOKEN}
auth:
  header: {name: X-Api-Key, secret: tok}
defaults:
  headers:
    Authorization: "Bearer ${secret:tok}"
    X-Api-Key: "${secret:tok}"
    Accept: application/json
""")
    code, out, err = run_cli(["run", "s.yaml"], {"API": http_server.url, "API_TOKEN": CANARY})
    assert code == 0, out + err
    anonymous, own, keyed = http_server.received
    for name in ("Authorization", "X-Api-Key", "Cookie"):
        assert anonymous.header(name) is None, name
    assert anonymous.header("Accept") == "application/json"
    assert own.header("X-Api-Key") == "own" and own.header("Authorization") is None
    assert keyed.header("X-Api-Key") == CANARY and keyed.header("Authorization") == f"Bearer {CANARY}"
    assert CANARY not in out + err


# ---------------------------------------------------- item 5: the config's vars are rendered


def test_config_vars_are_rendered_like_spec_vars(cwd, http_server):
    write(cwd / "runner.yaml", """
        secrets:
          tok: {env: API_TOKEN}
        vars:
          who: ${env:WHO}
          key: ${secret:tok}
          greeting: hello ${who}
        environments:
          staging:
            vars:
              region: ${env:REGION:-eu}
    """)
    echo_spec(cwd, """
          - url: /echo
            query: {who: "${who}", g: "${greeting}", region: "${region}", k: "${key}"}
    """)
    code, out, err = run_cli(["run", "s.yaml", "--env", "staging", "--json", "r.json"],
                             {"API": http_server.url, "API_TOKEN": CANARY, "WHO": "alice"})
    assert code == 0, out + err
    assert query_of(http_server.received[0]) == {"who": ["alice"], "g": ["hello alice"], "region": ["eu"],
                                                 "k": [CANARY]}
    assert CANARY not in out + err + (cwd / "r.json").read_text()


# -------------------------------------------------------- item 6: --var typed as YAML would


def test_var_values_are_typed_as_the_same_text_in_vars(cwd, http_server):
    echo_spec(cwd, """
          - url: /echo?zip=${zip}
            method: POST
            json: {zip: "${zip}", n: "${n}", s: "${s}", yes: "${yes}", f: "${f}"}
    """)
    args = ["run", "s.yaml", "--var", "zip=02134", "--var", "n=5", "--var", 's="5"', "--var", "yes=yes",
            "--var", "f=1.5"]
    code, out, err = run_cli(args, {"API": http_server.url})
    assert code == 0, out + err
    sent = http_server.received[0]
    assert query_of(sent) == {"zip": ["02134"]}
    assert json.loads(sent.body) == {"zip": "02134", "n": 5, "s": "5", "yes": "yes", "f": 1.5}


def test_a_var_number_that_would_be_written_back_differently_is_sent_as_typed(cwd, http_server):
    echo_spec(cwd, """
          - url: /echo?v=${v}
            method: POST
            json: {v: "${v}", e: "${e}", h: "${h}", n: "${n}"}
    """)
    args = ["run", "s.yaml", "--var", "v=1.10", "--var", "e=1e3", "--var", "h=0x1F", "--var", "n=-7"]
    code, out, err = run_cli(args, {"API": http_server.url})
    assert code == 0, out + err
    sent = http_server.received[0]
    assert query_of(sent) == {"v": ["1.10"]}
    assert json.loads(sent.body) == {"v": "1.10", "e": "1e3", "h": "0x1F", "n": -7}


def test_a_var_the_loader_would_refuse_is_a_usage_error(cwd, http_server):
    echo_spec(cwd, "  - url: /echo?x=${x}\n")
    code, out, err = run_cli(["run", "s.yaml", "--var", "x=.inf"], {"API": http_server.url})
    assert code == 2 and "--var x: infinity and NaN are not allowed" in err and "quote" in err
    assert http_server.received == []


# ------------------------------------------------- item 11: a var built on a var sees --var


def test_a_spec_var_built_on_another_var_sees_the_command_line(cwd, http_server):
    echo_spec(cwd, """
          - url: ${path}
    """, head='vars: {user: alice, path: "/echo?who=${user}"}\n')
    code, out, err = run_cli(["run", "s.yaml", "--var", "user=bob"], {"API": http_server.url})
    assert code == 0, out + err
    assert query_of(http_server.received[0]) == {"who": ["bob"]}


def test_a_var_naming_itself_extends_the_layer_below(cwd, http_server):
    write(cwd / "runner.yaml", "vars: {user: alice}\n")
    echo_spec(cwd, "  - url: /echo?u=${user}\n", head='vars: {user: "${user}-x"}\n')
    code, out, err = run_cli(["run", "s.yaml"], {"API": http_server.url})
    assert code == 0, out + err
    assert query_of(http_server.received[0]) == {"u": ["alice-x"]}


# ----------------------------------------- item 13: the URL shown is the URL sent (query merged)


def test_the_url_shown_in_every_output_is_the_one_sent(cwd, http_server):
    echo_spec(cwd, """
          - name: page
            url: /echo?page=1
            query: {limit: 2, q: a b}
            expect: {status: 500}
    """)
    code, out, err = run_cli(["run", "s.yaml", "--curl", "--json", "r.json", "--junit", "r.xml", "--summary", "r.md"],
                             {"API": http_server.url})
    assert code == 1, out + err
    sent = http_server.received[0].path
    assert sent == "/echo?page=1&limit=2&q=a+b"
    url = http_server.url + sent
    (step,) = json.loads((cwd / "r.json").read_text())["specs"][0]["steps"]
    assert step["url"] == url and step["curl"].startswith(f'curl "{url}"')
    assert url in out
    assert "?page=1?" not in out + (cwd / "r.xml").read_text() + (cwd / "r.md").read_text()


def test_a_path_with_a_space_is_shown_percent_encoded_as_sent(cwd, http_server):
    echo_spec(cwd, "  - url: /echo/a b?x=1\n    expect: {status: 404}\n")
    code, out, err = run_cli(["run", "s.yaml", "--json", "r.json"], {"API": http_server.url})
    assert code == 0, out + err
    assert http_server.received[0].path == "/echo/a%20b?x=1"
    (step,) = json.loads((cwd / "r.json").read_text())["specs"][0]["steps"]
    assert step["url"] == http_server.url + "/echo/a%20b?x=1"


# ------------------------------------------------ item 14: `://` later in a URL is relative


def test_a_relative_url_holding_a_scheme_later_is_relative(cwd, http_server):
    echo_spec(cwd, "  - url: /echo?a=s://x\n")  # 0.1 looked for :// in the first 12 characters
    code, out, err = run_cli(["run", "s.yaml"], {"API": http_server.url})
    assert code == 0, out + err
    assert query_of(http_server.received[0]) == {"a": ["s://x"]}


# --------------------------------------- item 15: validate and run share the rules, exit codes


def test_validate_reports_a_reference_in_the_config_defaults_headers(cwd):
    write(cwd / "runner.yaml", """
        defaults:
          headers:
            X-Who: ${nobody}
            Authorization: Bearer ${secret:nowhere}
    """)
    echo_spec(cwd, "  - url: /ok\n")
    code, out, err = run_cli(["validate", "s.yaml"], {"API": "http://127.0.0.1:9"})
    assert code == 2, out + err
    assert "runner.yaml:3:12: 'nobody' is not defined" in err
    assert "runner.yaml:4:20: secret 'nowhere' is not declared" in err
    assert err.count("'nobody' is not defined") == 1  # checked with each spec, said once


def test_validate_reports_an_undeclared_secret_and_a_cycle_in_vars(cwd):
    write(cwd / "runner.yaml", "vars:\n  k: ${secret:nope}\n")
    echo_spec(cwd, "  - url: /ok?a=${a}&k=${k}\n", head='vars: {a: "${b}", b: "x${a}"}\n')
    code, out, err = run_cli(["validate", "s.yaml"], {"API": "http://127.0.0.1:9"})
    assert code == 2, out + err
    assert "runner.yaml:2:6: secret 'nope' is not declared" in err
    assert "s.yaml:4:" in err and "vars refer to each other in a cycle" in err


def test_run_with_an_unset_env_var_is_a_usage_error_before_anything_is_sent(cwd, http_server):
    write(cwd / "s.yaml", """
        version: 1
        name: s
        base_url: ${env:NOT_SET_HERE}
        requests:
          - url: /ok
    """)
    code, out, err = run_cli(["run", "s.yaml", "--json", "r.json"], {"API": http_server.url})
    assert code == 2, out + err
    assert "s.yaml:3:11: environment variable NOT_SET_HERE is not set" in err
    assert http_server.received == [] and not (cwd / "r.json").exists()


def test_validate_warns_about_an_unset_env_var_at_its_position(cwd):
    write(cwd / "s.yaml", """
        version: 1
        name: s
        base_url: ${env:NOT_SET_HERE}
        requests:
          - url: /ok
    """)
    code, out, err = run_cli(["validate", "s.yaml"])
    assert code == 0, out + err
    assert "warning: s.yaml:3:11: environment variable NOT_SET_HERE is not set" in err


def test_a_secret_that_cannot_be_resolved_in_vars_is_auth_and_counted(cwd, http_server):
    echo_spec(cwd, """
          - name: uses it
            url: /echo?k=${key}
          - name: does not
            url: /ok
    """, head="secrets:\n  tok: {env: MISSING_TOKEN}\nvars:\n  key: ${secret:tok}\n")
    code, out, err = run_cli(["run", "s.yaml"], {"API": http_server.url})
    assert code == 3, out + err
    assert "1 passed, 0 failed, 1 auth, 0 errors, 0 skipped" in out
    assert [r.path for r in http_server.received] == ["/ok"]


def test_references_in_files_paths_and_query_and_form_keys_are_rendered(cwd, http_server):
    (cwd / "data").mkdir()
    write(cwd / "data" / "a.txt", "file content")
    echo_spec(cwd, """
          - url: /echo
            method: POST
            query: {"${key}": v}
            files: {f: "${dir}/a.txt"}
          - url: /echo
            method: POST
            form: {"${key}": "v w"}
    """, head="vars: {dir: data, key: the-key}\n")
    code, out, err = run_cli(["validate", "s.yaml"], {"API": http_server.url})
    assert code == 0, out + err
    code, out, err = run_cli(["run", "s.yaml"], {"API": http_server.url})
    assert code == 0, out + err
    upload, form = http_server.received
    assert query_of(upload) == {"the-key": ["v"]} and b"file content" in upload.body
    assert form.body == b"the-key=v+w"


def test_validate_reports_an_undefined_name_in_a_query_key_or_files_path(cwd):
    echo_spec(cwd, """
          - url: /echo
            query: {"${nokey}": v}
            files: {f: "${nodir}/a.txt"}
    """)
    code, out, err = run_cli(["validate", "s.yaml"], {"API": "http://127.0.0.1:9"})
    assert code == 2, out + err
    assert "s.yaml:7:21: 'nokey' is not defined" in err
    assert "s.yaml:8:24: 'nodir' is not defined" in err


# ----------------------------------------------------------- item 20: a null in text is empty


def test_a_null_inside_text_renders_as_an_empty_string(cwd, http_server):
    echo_spec(cwd, """
          - url: /echo?a=${nothing}b&c=${nothing}
            method: POST
            json: {whole: "${nothing}", part: "x${nothing}y"}
    """, head="vars: {nothing: null}\n")
    code, out, err = run_cli(["run", "s.yaml"], {"API": http_server.url})
    assert code == 0, out + err
    sent = http_server.received[0]
    assert query_of(sent) == {"a": ["b"], "c": [""]}
    assert json.loads(sent.body) == {"whole": None, "part": "xy"}


def test_a_var_value_from_the_command_line_is_data_never_rendered(cwd, http_server):
    """`--var` text holding `${secret:...}` is sent as written: only spec and config text is a template."""
    echo_spec(cwd, "  - url: /echo\n    query: {x: \"${x}\", y: \"a${x}\"}\n",
              head="secrets:\n  tok: {env: API_TOKEN}\n")
    code, out, err = run_cli(["run", "s.yaml", "--var", "x=${secret:tok}"], {"API": http_server.url, "API_TOKEN": CANARY})
    assert code == 0, out + err
    assert query_of(http_server.received[0]) == {"x": ["${secret:tok}"], "y": ["a${secret:tok}"]}


def test_a_broken_config_var_is_reported_once_at_the_config(cwd):
    write(cwd / "runner.yaml", "vars:\n  base: ${nowhere}\n")
    echo_spec(cwd, "  - url: /ok?a=${a}\n", head='vars: {a: "${base}/x"}\n')
    echo_spec(cwd, "  - url: /ok?a=${a}\n", name="t.yaml", head='vars: {a: "${base}/y"}\n')
    code, out, err = run_cli(["validate", "s.yaml", "t.yaml"], {"API": "http://127.0.0.1:9"})
    assert code == 2, out + err
    assert err.count("'nowhere' is not defined") == 1 and "runner.yaml:2:9:" in err
    assert "s.yaml" not in err and "t.yaml" not in err


def test_an_oauth2_source_sees_the_config_vars_rendered(cwd, http_server):
    """`client_id: ${client}` in a secret source reads the config's var as rendered (its
    `${env:...}` resolved), like every other value."""
    from tests.token_server import TokenServer

    with TokenServer(client_id="the-client", client_secret=CANARY) as tokens:
        write(cwd / "runner.yaml", f"""
            vars:
              client: ${{env:CLIENT_ID}}
            secrets:
              api:
                oauth2:
                  token_url: {tokens.url}
                  client_id: ${{client}}
                  client_secret: ${{env:CLIENT_SECRET}}
        """)
        echo_spec(cwd, "  - url: /echo\n", head="auth: {bearer: api}\n")
        code, out, err = run_cli(["run", "s.yaml"], {"API": http_server.url, "CLIENT_ID": "the-client",
                                                     "CLIENT_SECRET": CANARY})
        assert code == 0, out + err
        assert tokens._client(*tokens.requests[0])[0] == "the-client"
        assert http_server.received[0].header("Authorization").startswith("Bearer ")
        assert CANARY not in out + err


def test_an_unset_env_var_only_matters_in_the_requests_selected(cwd, http_server):
    echo_spec(cwd, """
          - name: login
            url: /ok
          - name: other
            url: /echo?k=${env:ONLY_FOR_OTHER}
    """)
    echo_spec(cwd, "  - name: elsewhere\n    url: /echo?k=${env:ONLY_FOR_OTHER}\n", name="t.yaml")
    code, out, err = run_cli(["run", "s.yaml", "t.yaml", "-k", "login"], {"API": http_server.url})
    assert code == 0, out + err
    code, out, err = run_cli(["run", "s.yaml", "t.yaml"], {"API": http_server.url})
    assert code == 2 and err.count("environment variable ONLY_FOR_OTHER is not set") == 2, out + err
    assert [r.path for r in http_server.received] == ["/ok"]


def test_a_captured_null_inside_text_renders_as_an_empty_string(cwd, http_server):
    echo_spec(cwd, """
          - name: answer with a null
            url: /text
            query: {t: '{"a": null}'}
            capture: {a: $.a}
          - name: use it
            url: /echo?x=${a}&y=in${a}text
            method: POST
            json: {whole: "${a}", part: "<${a}>"}
    """)
    code, out, err = run_cli(["run", "s.yaml"], {"API": http_server.url})
    assert code == 0, out + err
    sent = http_server.received[1]
    assert query_of(sent) == {"x": [""], "y": ["intext"]}
    assert json.loads(sent.body) == {"whole": None, "part": "<>"}


def test_an_unset_env_var_in_a_secret_source_is_auth_when_used_not_a_usage_error(cwd, http_server):
    """`client_secret: ${env:X}` is an input of a secret: unset, the secret cannot be
    resolved (exit 3, for the requests that use it), as an unset `env:` source is."""
    echo_spec(cwd, """
          - name: anonymous
            url: /ok
            auth: none
          - name: needs the token
            url: /echo
    """, head="""secrets:
  api:
    oauth2: {token_url: "${env:API}/token", client_id: c, client_secret: "${env:NO_CLIENT_SECRET}"}
auth: {bearer: api}
""")
    code, out, err = run_cli(["run", "s.yaml"], {"API": http_server.url})
    assert code == 3, out + err
    assert "1 passed, 0 failed, 1 auth" in out and "NO_CLIENT_SECRET" in out
    assert [r.path for r in http_server.received] == ["/ok"]


def test_a_relative_url_without_base_url_is_shown_with_its_secrets_masked(cwd):
    """The message quotes the URL built: masked before it is cut (a cut secret would not be
    recognised by the redactor), and a short secret too (it is text the runner built)."""
    write(cwd / "s.yaml", f"""
        name: s
        secrets:
          tok: {{env: API_TOKEN}}
          pin: {{env: PIN}}
        requests:
          - name: long
            url: "/{"a" * 70}/${{secret:tok}}"
          - name: short
            url: "/x/${{secret:pin}}"
    """)
    code, out, err = run_cli(["run", "s.yaml", "--json", "r.json"], {"API_TOKEN": CANARY, "PIN": "q7z"})
    assert code == 4, out + err
    text = out + err + (cwd / "r.json").read_text(encoding="utf-8")
    assert "relative URL '/aaaa" in out
    assert "relative URL '/x/***' and no base_url" in out
    assert CANARY[:6] not in text
    assert "q7z" not in text


def test_the_static_check_leaves_no_reference_cycle_behind():
    """A large spec's check must not keep its helpers (and what they hold) until a collection."""
    import gc

    from runner.load import load_spec
    from runner.render import Shared, check_spec

    spec = load_spec('version: 1\nsecrets: {t: {env: T}}\nvars: {a: "${b}", b: 1}\nrequests:\n'
                     '  - url: "/x/${a}"\n    headers: {A: "${secret:t}"}\n', filename="s.yaml", base_dir=".")
    gc.collect()
    enabled = gc.isenabled()
    gc.disable()
    try:
        assert check_spec(spec, Shared(cli_vars={}, secrets={})) == []
        assert gc.collect() == 0
    finally:
        if enabled:
            gc.enable()
