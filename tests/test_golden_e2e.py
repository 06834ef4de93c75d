"""The real non-TTY console output of `runner demo --show-auth-failure`, normalised
(ports, durations, fingerprints, clock times) and pinned as a golden file, as CI logs see it."""

from __future__ import annotations

import io
import re

from runner.cli import main
from runner.demo import spec_dir
from tests.results_factory import check_golden

_RULES = [
    (re.compile(r"127\.0\.0\.1:\d+"), "127.0.0.1:<PORT>"),
    (re.compile(r"request-runner-demo:\d+"), "request-runner-demo:<PORT>"),
    (re.compile(r"\b\d+ ms\b"), "<MS>"),
    (re.compile(r"in \d+\.\d\d s"), "in <S>"),
    (re.compile(r"sha256:[0-9a-f]{8}"), "sha256:<FP>"),
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"), "<TIME>"),
    (re.compile(r"request-runner \d+\.\d+\.\d+"), "request-runner <VERSION>"),
]


def normalise(text: str) -> str:
    text = text.replace(str(spec_dir()), "<SPECS>")
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    return text


def test_demo_console_output_is_stable(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out, err = io.StringIO(), io.StringIO()
    code = main(["demo", "--show-auth-failure"], stdout=out, stderr=err, environ={"PATH": ""})
    assert code == 3, out.getvalue() + err.getvalue()
    assert err.getvalue() == ""
    check_golden("e2e_demo_plain.txt", normalise(out.getvalue()))
