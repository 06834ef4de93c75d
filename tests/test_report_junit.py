"""JUnit XML: valid against the Jenkins-style XSD, the right counts and types, XML-safe
for hostile and binary text, no canary."""

from __future__ import annotations

import dataclasses
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import xmlschema

from results_factory import (
    CANARY_FORMS,
    canary_redactor,
    canary_run,
    check_golden,
    full_run,
    interrupted_run,
    passing_run,
)
from runner.report import junit
from runner.results import RunResult

XSD = xmlschema.XMLSchema(str(Path(__file__).parent / "junit.xsd"))


def render(run: RunResult, **kw) -> tuple[str, ET.Element]:
    text = junit.render(run, **kw)
    XSD.validate(text)
    return text, ET.fromstring(text.encode("utf-8"))


@pytest.mark.parametrize("make", [full_run, passing_run, interrupted_run, canary_run])
def test_valid_against_xsd(make):
    render(make(), redactor=canary_redactor())


def test_golden():
    text, _ = render(full_run())
    check_golden("junit_full.xml", text)


def test_counts_and_types():
    _, root = render(full_run())
    assert root.tag == "testsuites"
    assert {k: root.get(k) for k in ("tests", "failures", "errors", "skipped", "time")} == {
        "tests": "14", "failures": "7", "errors": "3", "skipped": "1", "time": "1.234"}
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == ["Pets API smoke test", "Orders", "Hostile [bold]server[/]", "broken"]
    pets, orders, hostile, broken = suites
    assert {k: pets.get(k) for k in ("tests", "failures", "errors", "skipped")} == {
        "tests": "6", "failures": "3", "errors": "0", "skipped": "1"}
    assert pets.get("timestamp") == "2024-05-01T12:00:00Z"
    cases = pets.findall("testcase")
    assert [c.get("name") for c in cases][:2] == ["list pets", "list pets after a refresh"]
    assert {c.get("classname") for c in cases} == {"specs.pets"}
    assert cases[0].get("time") == "0.012" and list(cases[0]) == []
    fail = cases[2].find("failure")
    assert fail.get("type") == "assertion" and fail.get("message") == "status: expected 200, got 404"
    assert "expected: 200" in fail.text and "actual:   404 Not Found" in fail.text
    auth = cases[3].find("failure")
    assert auth.get("type") == "unauthorized"
    assert auth.get("message").startswith(
        "token 'pets_token' from env PETS_API_TOKEN rejected: invalid_token (The access token expired)")
    assert "fingerprint: sha256:1a2b3c4d" in auth.text
    assert "not checked: 3 expectations (the response was an auth error)" in auth.text
    assert cases[5].find("skipped").get("message").startswith("needs capture 'new_id'")

    types = [(c.get("name"), [(e.tag, e.get("type")) for e in c if e.tag != "system-out"])
             for c in orders.findall("testcase")]
    assert types == [
        ("list orders", [("failure", "secret")]),
        ("health check", [("error", "transport")]),
        ("slow report", [("error", "interrupted")]),
        ("admin stats", [("failure", "forbidden")]),
    ]
    # a spec that could not run is one errored testcase
    assert broken.get("tests") == "1" and broken.get("errors") == "1"
    assert broken.find("testcase/error").get("type") == "spec"
    # the TLS warning is recorded
    props = {(p.get("name"), p.get("value")) for p in pets.findall("properties/property")}
    assert ("warning", "TLS verification is disabled (--insecure): certificates are not checked") in props
    assert ("environment", "staging") in props


def test_interrupted_run_is_recorded():
    _, root = render(interrupted_run())
    props = {(p.get("name"), p.get("value")) for p in root.findall("testsuite/properties/property")}
    assert ("interrupted", "SIGINT") in props


def test_hostile_and_binary_text_stay_valid_xml():
    text, root = render(full_run())
    hostile = root.findall("testsuite")[2]
    failure = hostile.find("testcase/failure")
    assert "[bold]PASS[/] all good [/]" in failure.text
    for bad in ("\x00", "\x12", "\x1b", "\x9b", "\ufffe", "\u202e"):
        assert bad not in text
    assert ": :stop-commands::pwned" in failure.text
    for line in failure.text.splitlines():
        assert not line.lstrip().startswith("::")
    binary = hostile.findall("testcase")[1].find("failure")
    assert "<binary body: 289 bytes, image/png>" in binary.text


def test_forbidden_xml_characters_removed_everywhere():
    run = full_run()
    spec = run.specs[0]
    step = dataclasses.replace(spec.steps[2], name="n\x00a\x0bm\x0ce\ufffe\uffff\ud800x")
    run = dataclasses.replace(run, specs=(dataclasses.replace(spec, steps=(step,), name="s\x01\x1f"),))
    _, root = render(run)
    assert root.find("testsuite/testcase").get("name") == "namex"
    assert root.find("testsuite").get("name") == "s"


@pytest.mark.parametrize("path, expected", [
    ("specs/pets.yaml", "specs.pets"),
    ("./specs/demo/orders.yml", "specs.demo.orders"),
    ("pets.YAML", "pets"),
    ("specs\\win\\a.yaml", "specs.win.a"),
    ("/abs/dir/a.yaml", "abs.dir.a"),
    ("noext", "noext"),
])
def test_classname(path, expected):
    assert junit.classname_for(path) == expected


def test_curl_goes_to_system_out():
    from test_report_terminal import with_curl

    run = full_run()
    spec = run.specs[0]
    step = with_curl(spec.steps[0], "curl -H 'Authorization: Bearer $PETS_API_TOKEN' http://x/pets")
    _, root = render(dataclasses.replace(run, specs=(dataclasses.replace(spec, steps=(step,)),)))
    assert root.find("testsuite/testcase/system-out").text.startswith("curl -H 'Authorization: Bearer $PETS")


def test_hostname_is_optional():
    _, root = render(passing_run(), hostname="ci-runner-1")
    assert root.find("testsuite").get("hostname") == "ci-runner-1"


def test_canary_absent():
    text, _ = render(canary_run(), redactor=canary_redactor())
    for form in CANARY_FORMS:
        assert form not in text
    assert "***" in text
