"""Verdicts a user can trust (issue 14): the CLI run as a user runs it, against the test server on 127.0.0.1.

Each test here failed before its fix: a 401 or 403 that a status class or list expects,
JSONPaths that select a list, `matches` at the true end of text, `contains` with a number
against text, `retry` after a 403, and the small wording items (schema subject, quoted
status, "2XX", the 401 hint of a request without auth).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import run_cli, write


def run_spec_file(cwd: Path, server, body: str, *args: str) -> tuple[int, str, dict]:
    """Write s.yaml, `runner run s.yaml --json report.json ARGS`: (exit code, console, JSON report)."""
    write(cwd / "s.yaml", body)
    code, out, err = run_cli(["run", "s.yaml", "--json", "report.json", *args], {"API": server.url})
    assert (cwd / "report.json").exists(), out + err
    return code, out, json.loads((cwd / "report.json").read_text())


def steps(report: dict) -> list[dict]:
    return [step for spec in report["specs"] for step in spec["steps"]]


# --------------------------------------------------------------------------- 7: 401/403 by class or list


@pytest.mark.parametrize("status", ['"4xx"', '[400, "4xx"]', "[401, 403]"])
def test_a_401_or_403_that_a_class_or_list_expects_passes(cwd, http_server, status):
    code, out, report = run_spec_file(cwd, http_server, f"""
        version: 1
        name: refusals
        base_url: ${{env:API}}
        requests:
          - name: no token
            url: /nochallenge
            expect: {{status: {status}, json: {{$.error: unauthorized}}}}
          - name: no scope
            url: /forbidden
            expect: {{status: {status}, json: {{$.error: insufficient_scope}}}}
    """)
    assert code == 0, out
    assert [s["outcome"] for s in steps(report)] == ["PASS", "PASS"]
    assert "AUTH" not in out and "lacks" not in out


def test_a_401_outside_the_expected_class_is_still_auth(cwd, http_server):
    code, out, report = run_spec_file(cwd, http_server, """
        version: 1
        name: refusals
        base_url: ${env:API}
        requests:
          - {name: wrong class, url: /nochallenge, expect: {status: ["5xx", 403]}}
          - {name: 403 not in the class, url: /forbidden, expect: {status: "5xx"}}
    """)
    assert code == 3
    assert [s["outcome"] for s in steps(report)] == ["AUTH", "FAIL"]
    # no token went out, so none was "accepted": the 403 hint says what was sent
    assert "no credentials were sent: the request has no auth (add `auth:` to it or to the spec); " \
           "the server asks for scope pets:write" in out
    assert "token accepted" not in out


# --------------------------------------------------------------------------- 12: retry after a 403


def test_retry_resends_after_a_403_until_the_permission_arrives(cwd, http_server):
    code, out, report = run_spec_file(cwd, http_server, """
        version: 1
        name: poll
        base_url: ${env:API}
        requests:
          - name: permission propagates
            url: /flaky?fail=2&code=403
            retry: {attempts: 4, delay: 0}
            expect: {status: 200}
    """)
    assert code == 0, out
    (step,) = steps(report)
    assert step["outcome"] == "PASS" and step["attempts"] == 3
    assert len(http_server.requests_to("/flaky")) == 3


def test_a_403_that_outlasts_the_retries_is_the_forbidden_fail(cwd, http_server):
    code, out, report = run_spec_file(cwd, http_server, """
        version: 1
        name: poll
        base_url: ${env:API}
        requests:
          - name: never allowed
            url: /forbidden
            retry: {attempts: 3, delay: 0}
    """)
    assert code == 1
    (step,) = steps(report)
    assert step["outcome"] == "FAIL" and step["attempts"] == 3
    assert len(http_server.requests_to("/forbidden")) == 3
    assert "the server asks for scope pets:write" in out


# --------------------------------------------------------------------------- 8: JSONPaths that are not singular

ONE_ITEM = '{"items": [{"name": "ab"}]}'


def test_a_wildcard_path_is_a_list_even_when_it_selects_one_item(cwd, http_server):
    code, out, report = run_spec_file(cwd, http_server, f"""
        version: 1
        name: lists
        base_url: ${{env:API}}
        vars: {{doc: '{ONE_ITEM}'}}
        requests:
          - name: length of the list, not of "ab"
            url: /text
            query: {{t: "${{doc}}"}}
            expect:
              json: {{"$.items[*].name": {{length: 2}}}}
          - name: a filter is a list too
            url: /text
            query: {{t: "${{doc}}"}}
            expect:
              json: {{"$.items[?@.name == 'ab'].name": ab}}
          - name: captured as a list
            url: /text
            query: {{t: "${{doc}}"}}
            expect:
              json: {{"$.items[*].name": [ab], $..nope: {{exists: false}}}}
            capture: {{names: "$.items[*].name"}}
          - name: the capture keeps its type
            url: /text
            query: {{t: "${{doc}}"}}
            expect:
              json: {{$..name: "${{names}}"}}
    """)
    assert code == 1
    assert [s["outcome"] for s in steps(report)] == ["FAIL", "FAIL", "PASS", "PASS"]
    assert "$.items[*].name: expected length 2, got length 1" in out
    assert """expected "ab", got ["ab"]""" in out and "not singular" in out


# --------------------------------------------------------------------------- 9: `matches` at the true end of text


def test_matches_anchors_at_the_true_end_of_the_text(cwd, http_server):
    code, out, report = run_spec_file(cwd, http_server, r"""
        version: 1
        name: anchors
        base_url: ${env:API}
        requests:
          - name: body with a trailing newline
            url: /text
            query: {t: "123\n"}
            expect: {body: {matches: "^[0-9]+$"}}
          - name: json string with a trailing newline
            url: /text
            query: {t: '{"id": "123\n"}'}
            expect: {json: {$.id: {matches: "^[0-9]+$"}}}
          - name: header without one
            url: /headers
            query: {X-Id: "123"}
            expect: {headers: {X-Id: {matches: "^[0-9]+$"}}}
          - name: multiline is asked for
            url: /text
            query: {t: "a\n123\nb"}
            expect: {body: {matches: "(?m)^[0-9]+$"}}
    """)
    assert code == 1
    assert [s["outcome"] for s in steps(report)] == ["FAIL", "FAIL", "PASS", "PASS"]
    assert 'body: expected to match "^[0-9]+$", got "123\\n"' in out


def test_validate_still_points_at_a_bad_pattern(cwd):
    write(cwd / "s.yaml", """
        version: 1
        name: bad
        requests:
          - {name: x, url: "http://127.0.0.1:9/", expect: {body: {matches: "[0-9$"}}}
    """)
    code, _, err = run_cli(["validate", "s.yaml"])
    assert code == 2
    assert "s.yaml:4:68:" in err and "invalid regular expression: unterminated character set (at position 0)" in err


# --------------------------------------------------------------------------- 10: `contains: 42` against text


def test_contains_a_number_against_text_compares_its_text(cwd, http_server):
    code, out, report = run_spec_file(cwd, http_server, """
        version: 1
        name: contains
        base_url: ${env:API}
        requests:
          - name: found
            url: /text
            query: {t: order 42 ok}
            expect: {body: {contains: 42}}
          - name: not found
            url: /text
            query: {t: order 42 ok}
            expect: {body: {contains: 43}}
    """)
    assert code == 1
    assert [s["outcome"] for s in steps(report)] == ["PASS", "FAIL"]
    assert 'body: expected to contain "43", got "order 42 ok"' in out
    assert "expected to contain 42" not in out


# --------------------------------------------------------------------------- 20: smaller ones


def test_the_body_schema_is_named_as_the_spec_wrote_it(cwd, http_server):
    (cwd / "specs" / "schemas").mkdir(parents=True)
    write(cwd / "specs" / "schemas" / "item.json", '{"type": "object", "required": ["id"]}')
    write(cwd / "specs" / "s.yaml", """
        version: 1
        name: schema subject
        base_url: ${env:API}
        requests:
          - name: no id
            url: /ok
            expect: {schema: schemas/item.json}
    """)
    code, out, _ = run_cli(["run", "specs/s.yaml", "--json", "report.json"], {"API": http_server.url})
    assert code == 1
    assert "schema schemas/item.json: $: 'id' is a required property" in out
    report = (cwd / "report.json").read_text()
    assert "schema schemas/item.json" in report and str(cwd) + "/specs/schemas" not in out + report


@pytest.mark.parametrize("written, where, number", [('"200"', "7:22", 200), ('[201, "204"]', "7:28", 204)])
def test_a_quoted_status_is_refused_with_write_it_without_quotes(cwd, written, where, number):
    write(cwd / "s.yaml", f"""
        version: 1
        name: quoted
        base_url: http://127.0.0.1:9
        requests:
          - name: q
            url: /ok
            expect: {{status: {written}}}
    """)
    code, out, err = run_cli(["validate", "s.yaml"])
    assert code == 2 and out == ""
    assert f"s.yaml:{where}: a status class is written 1xx, 2xx, 3xx, 4xx or 5xx" in err
    assert f"(write {number} without quotes)" in err
    code, _, err = run_cli(["run", "s.yaml"])
    assert code == 2 and "without quotes" in err


def test_an_upper_case_status_class_is_accepted(cwd, http_server):
    code, out, report = run_spec_file(cwd, http_server, """
        version: 1
        name: upper
        base_url: ${env:API}
        requests:
          - {name: class, url: /ok, expect: {status: "2XX"}}
          - {name: in a list, url: /status/404, expect: {status: [500, "4Xx"]}}
          - {name: still checked, url: /status/500, expect: {status: "2XX"}}
    """)
    assert code == 1
    assert [s["outcome"] for s in steps(report)] == ["PASS", "PASS", "FAIL"]
    assert "status: expected 2xx, got 500" in out


def test_the_401_hint_says_auth_none_only_when_the_request_says_it(cwd, http_server):
    code, out, report = run_spec_file(cwd, http_server, """
        version: 1
        name: hints
        base_url: ${env:API}
        secrets: {tok: {env: API_TOKEN}}
        requests:
          - {name: no auth at all, url: /nochallenge}
          - {name: said none, url: /nochallenge, auth: none}
          - name: a hand-written header
            url: /nochallenge
            headers: {Authorization: "Bearer ${secret:tok}"}
    """, "--secret", "tok=hand-written-value")
    assert code == 3
    hints = [s["auth"]["hint"] for s in steps(report)]
    assert hints[0] == "no credentials were sent: the request has no auth (add `auth:` to it or to the spec)"
    assert hints[1] == "no credentials were sent (auth: none)"
    assert hints[2] == "no challenge: token missing, expired or wrong audience?"
    assert "hand-written-value" not in out + json.dumps(report)
