"""JUnit XML (the Jenkins/Ant dialect that Jenkins, GitLab and GitHub test reporters read).

    <testsuites name="request-runner" tests failures errors skipped time>
      <testsuite name=<spec name> tests failures errors skipped time timestamp file>
        <properties> environment, warning, interrupted, tool </properties>
        <testcase name=<request name> classname=<spec path, '/' -> '.', no extension> time>
          FAIL  -> <failure type="assertion"|"forbidden" message=<first failure>>details</failure>
          AUTH  -> <failure type="unauthorized" message=<why>>diagnosis</failure>
                   (type="secret" when the secret could not be resolved: nothing was sent)
          ERROR -> <error type="transport"|"interrupted" message=...>details</error>
          SKIP  -> <skipped message=<reason>/>
          <system-out> the curl command, when the run recorded one </system-out>

A spec file that could not run at all becomes one testcase with <error type="spec">.
`failures` counts FAIL and AUTH, `errors` ERROR and unrunnable files. Text is masked
and sanitised (`sanitize.scrub`), then stripped of anything XML 1.0 forbids, and the
document is written with xml.etree.ElementTree (which escapes the rest), one testcase
at a time: a 10,000-request report is never one tree or one string in memory. The detail
text is the same plain diagnosis the terminal prints (`runner.report.failure_lines`).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Iterable, Iterator

from ..redact import Redactor
from ..results import FailureKind, Outcome, RunResult, SpecResult, StepResult
from . import (auth_reason, body_excerpt, curl_of, failure_lines, finite, is_contract_failure, is_interrupted,
                is_secret_failure)
from .sanitize import scrub, xml_safe

__all__ = ["chunks", "render", "classname_for"]

_MESSAGE_LIMIT = 500
_TEXT_LIMIT = 20_000
_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?$")


def classname_for(path: str) -> str:
    """`specs/pets.yaml` -> `specs.pets` (the dotted form JUnit viewers group by)."""
    p = path.replace("\\", "/")
    while p.startswith("./"):
        p = p[2:]
    base = p.rsplit("/", 1)
    last = base[-1]
    for ext in (".yaml", ".yml"):
        if last.lower().endswith(ext):
            last = last[: -len(ext)]
            break
    p = "/".join(base[:-1] + [last])
    dotted = ".".join(part for part in p.split("/") if part)
    return dotted or path


def _secs(value: float | None) -> str:
    return f"{max(finite(value) or 0.0, 0.0):.3f}"


class _Writer:
    def __init__(self, redactor: Redactor | None) -> None:
        self.redactor = redactor

    def text(self, value: object, *, limit: int = _TEXT_LIMIT, oneline: bool = False) -> str:
        return xml_safe(scrub(value, self.redactor, limit=limit, oneline=oneline))

    def attr(self, value: object, limit: int = _MESSAGE_LIMIT) -> str:
        return self.text(value, limit=limit, oneline=True)

    def details(self, step: StepResult) -> str:
        lines = failure_lines(step)
        excerpt = body_excerpt(step.response, self.redactor, limit=1000, max_lines=20)
        if excerpt:
            lines.append("response body (excerpt):")
            lines.append(excerpt)
        return self.text("\n".join(lines))

    def testcase(self, step: StepResult) -> str:
        """One <testcase>, as text indented for its place in the document."""
        case = ET.Element("testcase", {
            "name": self.attr(step.name),
            "classname": self.attr(classname_for(step.spec_path)),
            "time": _secs((finite(step.elapsed_ms) or 0.0) / 1000.0),
        })
        outcome = step.outcome
        first = step.failures[0] if step.failures else None
        if outcome is Outcome.FAIL:
            kind = ("forbidden" if first is not None and first.kind is FailureKind.FORBIDDEN
                    else "contract" if is_contract_failure(step) else "assertion")
            msg = first.message if first is not None else "a check failed"
            el = ET.SubElement(case, "failure", {"message": self.attr(msg), "type": kind})
            el.text = self.details(step)
        elif outcome is Outcome.AUTH:
            kind = "secret" if is_secret_failure(step) else "unauthorized"
            el = ET.SubElement(case, "failure", {"message": self.attr(auth_reason(step)), "type": kind})
            el.text = self.details(step)
        elif outcome is Outcome.ERROR or (outcome is not Outcome.PASS and is_interrupted(step)):
            kind = "interrupted" if is_interrupted(step) else "transport"
            msg = first.message if first is not None else "the request could not complete"
            el = ET.SubElement(case, "error", {"message": self.attr(msg), "type": kind})
            el.text = self.details(step)
        elif outcome is Outcome.SKIP:
            ET.SubElement(case, "skipped", {"message": self.attr(step.skip_reason or "skipped")})
        curl = curl_of(step)
        if curl:
            ET.SubElement(case, "system-out").text = self.text(curl)
        return _text(case, 2)

    def counts(self, spec: SpecResult) -> dict[str, int]:
        steps = spec.steps
        failures = sum(1 for s in steps if s.outcome in (Outcome.FAIL, Outcome.AUTH))
        # an interrupted step is an <error> even if the engine marked it SKIP
        errors = sum(1 for s in steps if s.outcome is Outcome.ERROR
                     or (s.outcome is Outcome.SKIP and is_interrupted(s)))
        skipped = sum(1 for s in steps if s.outcome is Outcome.SKIP and not is_interrupted(s))
        tests = len(steps)
        if spec.error:
            tests += 1
            errors += 1
        return {"tests": tests, "failures": failures, "errors": errors, "skipped": skipped}

    def testsuite(self, run: RunResult, spec: SpecResult, counts: dict[str, int], hostname: str | None) -> Iterator[str]:
        """One <testsuite> (`counts`: `self.counts(spec)`): its opening tag and properties, then its testcases one by one."""
        attrs = {"name": self.attr(spec.name or spec.path), **{k: str(v) for k, v in counts.items()},
                 "time": _secs(spec.duration_s)}
        if run.started_at and _TIMESTAMP.match(run.started_at):
            attrs["timestamp"] = run.started_at
        if hostname:
            attrs["hostname"] = self.attr(hostname, 255)
        attrs["file"] = self.attr(spec.path, 1000)
        suite = ET.Element("testsuite", attrs)
        props = []
        if run.version:
            props.append(("request-runner.version", run.version))
        if run.environment:
            props.append(("environment", run.environment))
        for w in run.warnings:
            props.append(("warning", w))
        if run.interrupted:
            props.append(("interrupted", run.interrupted))
        if run.in_progress:
            props.append(("in_progress", "true: the run had not finished when this report was written"))
        if props:
            pe = ET.SubElement(suite, "properties")
            for name, value in props:
                ET.SubElement(pe, "property", {"name": name, "value": self.attr(value, 2000)})
        cases: Iterator[str] = (self.testcase(step) for step in spec.steps)
        if spec.error:
            cases = _chain(cases, self.spec_error(spec))
        yield from _around(suite, ((case,) for case in cases), 1)

    def spec_error(self, spec: SpecResult) -> str:
        """A spec file that could not run: one testcase with <error type="spec">."""
        case = ET.Element("testcase", {
            "name": self.attr(f"{spec.path} (could not run)"),
            "classname": self.attr(classname_for(spec.path)),
            "time": _secs(0.0),
        })
        el = ET.SubElement(case, "error", {"message": self.attr(spec.error), "type": "spec"})
        el.text = self.text(spec.error)
        return _text(case, 2)


_HOLE = "rr-hole"  # a placeholder element: where the streamed children go


def _text(element: ET.Element, level: int) -> str:
    """An element as text, its children indented as ET.indent would at `level`."""
    ET.indent(element, space="  ", level=level)
    return ET.tostring(element, encoding="unicode")


def _around(element: ET.Element, children: Iterable[Iterable[str]], level: int) -> Iterator[str]:
    """`element` (and what it already holds) as text around `children`: each the text, in
    pieces, of an element one level deeper; they come one at a time."""
    hole = ET.SubElement(element, _HOLE)
    before, after = _text(element, level).split(f"<{_HOLE} />")
    pad = "\n" + "  " * (level + 1)
    first = True
    for child in children:
        yield before if first else pad
        yield from child
        first = False
    if first:  # no children: the element as it is
        element.remove(hole)
        if not len(element):
            element.text = None  # the indentation the placeholder had
        yield _text(element, level)
    else:
        yield after


def _chain(cases: Iterator[str], last: str) -> Iterator[str]:
    yield from cases
    yield last


def render(run: RunResult, *, redactor: Redactor | None = None, hostname: str | None = None) -> str:
    """The whole report as a string (UTF-8 XML declaration included)."""
    return "".join(chunks(run, redactor=redactor, hostname=hostname))


def chunks(run: RunResult, *, redactor: Redactor | None = None, hostname: str | None = None) -> Iterator[str]:
    """The text of `render`, a testcase at a time."""
    w = _Writer(redactor)
    counts = [w.counts(spec) for spec in run.specs]  # the root's totals come first in the text
    totals = {k: sum(c[k] for c in counts) for k in ("tests", "failures", "errors", "skipped")}
    root = ET.Element("testsuites", {"name": "request-runner", **{k: str(v) for k, v in totals.items()},
                                     "time": _secs(run.duration_s)})
    yield '<?xml version="1.0" encoding="UTF-8"?>\n'
    yield from _around(root, (w.testsuite(run, spec, c, hostname) for spec, c in zip(run.specs, counts)), 0)
    yield "\n"
