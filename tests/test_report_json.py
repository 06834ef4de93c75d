"""The JSON report: valid against schemas/report.schema.json, strict JSON, no canary,
no environment."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import jsonschema
import pytest

from results_factory import (
    CANARY,
    CANARY_FORMS,
    canary_redactor,
    canary_run,
    check_golden,
    full_run,
    interrupted_run,
    passing_run,
)
from runner.report import json_report

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schemas" / "report.schema.json"
SCHEMA = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def validate(doc: dict) -> None:
    validator = jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.FormatChecker())
    errors = sorted(validator.iter_errors(doc), key=lambda e: e.json_path)
    assert not errors, [f"{e.json_path}: {e.message[:200]}" for e in errors]


def test_schema_is_a_valid_2020_12_schema():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"

    def walk(node, path="#"):
        if isinstance(node, dict):
            if node.get("type") == "object" or "properties" in node:
                assert "description" in node, path
            for k, v in node.get("properties", {}).items():
                assert "description" in v or "$ref" in v, f"{path}/properties/{k}"
            for k, v in node.items():
                walk(v, f"{path}/{k}")
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{path}/{i}")

    walk(SCHEMA)


@pytest.mark.parametrize("make", [full_run, passing_run, interrupted_run, canary_run])
def test_valid_against_schema(make):
    validate(json.loads(json_report.render(make(), redactor=canary_redactor())))


def test_golden():
    check_golden("report_full.json", json_report.render(full_run()))


def test_content():
    doc = json.loads(json_report.render(full_run()))
    assert doc["format"] == "request-runner-report" and doc["version"] == 1
    assert doc["tool"] == {"name": "request-runner", "version": "0.1.0"}
    assert doc["summary"] == {"passed": 3, "failed": 4, "auth": 3, "errors": 2, "skipped": 1, "total": 13,
                              "exit_code": 3}
    assert doc["warnings"] == ["TLS verification is disabled (--insecure): certificates are not checked"]
    pets = doc["specs"][0]
    auth = pets["steps"][3]
    assert auth["outcome"] == "AUTH" and auth["status"] == 401 and auth["line"] == 41
    assert auth["auth"]["secret"] == "pets_token" and auth["auth"]["source"] == "env PETS_API_TOKEN"
    assert auth["auth"]["challenges"] == [{"scheme": "Bearer", "params": {
        "realm": "pets", "error": "invalid_token", "error_description": "The access token expired"}}]
    assert auth["auth"]["notes"][0].startswith("JWT expired 2 h 14 min ago")
    assert [c["checked"] for c in auth["checks"]] == [True, False, False, False]
    assert {"name": "Authorization", "value": "Bearer ***"} in auth["request"]["headers"]
    refreshed = pets["steps"][1]
    assert refreshed["token_refreshed"] is True and refreshed["attempts"] == 2
    fail = pets["steps"][2]
    assert [f["line"] for f in fail["failures"]] == [37, 38, 39]
    assert fail["response"]["body_sha256"].startswith("sha256:")
    binary = doc["specs"][2]["steps"][1]["response"]
    assert binary["binary"] is True and binary["body_excerpt"] == "<binary body: 289 bytes, image/png>"
    assert doc["specs"][2]["steps"][2]["location"] == "http://127.0.0.1:8000/new"
    assert doc["specs"][3]["error"].startswith("could not read")
    assert doc["specs"][1]["steps"][0]["failures"][0]["kind"] == "secret"
    assert doc["specs"][1]["steps"][2]["failures"][0]["kind"] == "interrupted"


def test_interrupted_run():
    doc = json.loads(json_report.render(interrupted_run()))
    assert doc["interrupted"] == "SIGINT" and doc["summary"]["exit_code"] == 130


def test_strict_json_no_nan():
    run = full_run()
    spec = run.specs[0]
    step = dataclasses.replace(spec.steps[0], elapsed_ms=math.nan)
    run = dataclasses.replace(run, duration_s=math.inf,
                              specs=(dataclasses.replace(spec, steps=(step,), duration_s=math.nan),))
    text = json_report.render(run)
    doc = json.loads(text)  # and allow_nan=False did not raise
    assert doc["specs"][0]["steps"][0]["elapsed_ms"] is None
    assert "NaN" not in text and "Infinity" not in text
    validate(doc)


def test_hostile_text_is_sanitised():
    text = json_report.render(full_run())
    doc = json.loads(text)
    hostile = doc["specs"][2]["steps"][0]
    excerpt = hostile["response"]["body_excerpt"]
    assert "[bold]PASS[/] all good [/]" in excerpt
    for bad in ("\x00", "\x12", "\x1b", "\x9b", "\u202e", "\ud800", "\ufffe"):
        assert bad not in excerpt and bad not in hostile["failures"][0]["actual"]
    assert "\\u001b" not in text and "\\u0000" not in text
    assert all(not line.lstrip().startswith("::") for line in excerpt.splitlines())
    assert hostile["response"]["reason"] == "[bold]Internal[/] Error"


def test_canary_and_environment_absent(monkeypatch):
    marker = "env-value-5e6f7a8b"
    monkeypatch.setenv("PETS_API_TOKEN", marker)
    monkeypatch.setenv("CANARY_TOKEN", CANARY)
    text = json_report.render(canary_run(), redactor=canary_redactor()) + json_report.render(full_run())
    for form in CANARY_FORMS:
        assert form not in text
    assert marker not in text
    # the escaped form the encoder itself would write is absent too
    assert json.dumps(CANARY) not in text
