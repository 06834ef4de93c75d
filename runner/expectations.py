"""Expectations and captures, evaluated against a ResponseSnapshot.

    ev = Evaluator()                       one per spec run: caches compiled JSONPaths,
                                           regexes and body schemas (no module globals)
    checks, failures = ev.evaluate(expect, response, body, render=...)
    value = ev.capture(capture, response, body)         raises CaptureError

`Body` parses the JSON body once, on first need. A body that is not valid JSON
gives one failure: "response is not valid JSON (line 1, column N)" (never the body).

Messages are short, expected vs actual side by side, values shown as JSON and
truncated to 80 characters. The engine masks them before they enter a result.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Callable, Mapping

import jsonpath

from .jsonvalue import json_type
from .model import Capture, Expect, Predicate, SchemaCheck
from .pattern import compile_pattern
from .results import CheckResult, Failure, FailureKind, ResponseSnapshot

__all__ = [
    "Body",
    "NotJson",
    "CaptureError",
    "Evaluator",
    "parse_json",
    "json_type",
    "json_equal",
    "short",
    "MISSING",
]

_WIDTH = 80


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


class NotJson(Exception):
    """The body is not the JSON an expectation needs. `message` is safe to show."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class CaptureError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class _Unsearchable(CaptureError):
    """A valid JSONPath that cannot be applied to this document (nested too deeply)."""


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_json(data: bytes | str) -> Any:
    """json.loads that fails with one safe line (no `.doc`, no body)."""
    if not data:
        raise NotJson("response is not valid JSON (the body is empty)")
    try:
        return json.loads(data, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise NotJson(f"response is not valid JSON (line {exc.lineno}, column {exc.colno})") from None
    except RecursionError:
        raise NotJson("response is not valid JSON (nested too deeply)") from None
    except UnicodeDecodeError:
        raise NotJson("response is not valid JSON (not UTF-8 text)") from None
    except ValueError as exc:
        text = str(exc)
        if "is not JSON" in text:
            raise NotJson(f"response is not valid JSON ({text.split(' is not')[0]} is not a JSON value)") from None
        if "digits" in text:
            raise NotJson("response is not valid JSON (an integer has too many digits)") from None
        raise NotJson("response is not valid JSON") from None


class Body:
    """A response body, decoded as text and parsed as JSON at most once each."""

    __slots__ = ("raw", "_text", "_json", "_error")

    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        self._text: str | None = None
        self._json: Any = MISSING
        self._error: NotJson | None = None

    def text(self) -> str:
        if self._text is None:
            self._text = self.raw.decode("utf-8", errors="replace")
        return self._text

    def json(self) -> Any:
        if self._json is MISSING:
            if self._error is not None:
                raise self._error
            try:
                self._json = parse_json(self.raw)
            except NotJson as exc:
                self._error = exc
                raise
        return self._json


# --------------------------------------------------------------------------- values


def short(value: Any, width: int = _WIDTH) -> str:
    """A value as JSON text, truncated."""
    if value is MISSING:
        return "nothing"
    if type(value) is int:  # json.dumps of an int is its repr (bool is not int here: type check)
        text = repr(value)
        return text if len(text) <= width else text[: width - 3] + "..."
    try:
        text = json.dumps(value, ensure_ascii=False, default=str)
    except (ValueError, RecursionError):
        text = str(value)
    if len(text) > width:
        text = text[: width - 3] + "..."
    return text


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _is_scalar(v: Any) -> bool:
    """A number or a boolean (a YAML `42` or `true` that the user may have meant as text)."""
    return isinstance(v, (int, float))


def json_equal(a: Any, b: Any) -> bool:
    """JSON equality: true is not 1, 1 == 1.0, lists and objects compared deeply."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a is b
    if _is_number(a) and _is_number(b):
        return a == b
    if isinstance(a, str) or isinstance(b, str):
        return isinstance(a, str) and isinstance(b, str) and a == b
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    return a == b


def _type_matches(value: Any, name: str) -> bool:
    if name == "number":
        return _is_number(value)
    if name == "integer":
        return isinstance(value, int) and not isinstance(value, bool) or (
            isinstance(value, float) and math.isfinite(value) and value.is_integer()
        )
    return json_type(value) == name


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return short(value, 10_000)


_OP_WORDS = {"gt": ">", "ge": ">=", "lt": "<", "le": "<="}


# --------------------------------------------------------------------------- evaluator


_LIST_HINT = (
    "this JSONPath is not singular (a wildcard, filter, slice, `..` or several selectors), so it "
    "selects a list whatever it matches: compare with a list, or select one node by name and index "
    "($.items[0].name)"
)


def _scalar_compare(op: str, operand: Any) -> bool:
    """A comparison that only a single value could pass: the hint about lists helps here."""
    return op in ("eq", "gt", "ge", "lt", "le", "matches") and not isinstance(operand, (list, tuple))


_REDIRECT_HINT = "redirects are not followed unless `follow_redirects: true` is set (on the request or in `defaults`)"


class Evaluator:
    """Evaluates expectations; caches compiled JSONPaths, regexes and schemas per spec run."""

    def __init__(self) -> None:
        self._paths: dict[str, Any] = {}
        self._singular: dict[str, bool] = {}
        self._regexes: dict[str, re.Pattern[str]] = {}
        self._schemas: dict[int, tuple[SchemaCheck, Any]] = {}

    # -- building blocks
    def compile_path(self, path: str) -> Any:
        compiled = self._paths.get(path)
        if compiled is None:
            try:
                compiled = jsonpath.compile(path)  # the default environment, as the loader checks it
            except jsonpath.JSONPathError as exc:
                raise CaptureError(f"invalid JSONPath {short(path)}: {str(exc).splitlines()[0][:120]}") from None
            self._paths[path] = compiled
        return compiled

    def singular(self, path: str) -> bool:
        """True for a singular query (RFC 9535 2.3.5.1: names and indexes only), as python-jsonpath decides.

        Anything else (wildcard, filter, slice, `..`, a list of selectors, a union) may
        select any number of nodes, so it always gives a list, whatever the data.
        """
        known = self._singular.get(path)
        if known is None:
            test = getattr(self.compile_path(path), "singular_query", None)  # a CompoundJSONPath has none
            known = self._singular[path] = bool(test is not None and test())
        return known

    def nodes(self, path: str, doc: Any) -> list[Any]:
        """The values `path` selects in `doc`, in document order."""
        compiled = self.compile_path(path)
        try:
            return compiled.findall(doc)
        except (jsonpath.JSONPathError, RecursionError) as exc:
            # python-jsonpath stops `..` descent at a fixed depth: a server's deep body must
            # give a failure, never an exception out of the run.
            why = "the response is nested too deeply to search" if "recursion" in str(exc).lower() else (
                f"cannot be applied: {str(exc).splitlines()[0][:120]}")
            raise _Unsearchable(f"{short(path)}: {why}") from None

    def select(self, path: str, doc: Any) -> Any:
        """A singular path -> its value, or MISSING; any other path -> the list it selects (maybe empty)."""
        found = self.nodes(path, doc)
        if not self.singular(path):
            return found
        return found[0] if found else MISSING

    def regex(self, pattern: str) -> re.Pattern[str]:
        compiled = self._regexes.get(pattern)
        if compiled is None:
            compiled = self._regexes[pattern] = compile_pattern(pattern)  # `$` is the end of the text
        return compiled

    def schema(self, check: SchemaCheck) -> Any:
        hit = self._schemas.get(id(check))
        if hit is None or hit[0] is not check:
            from .bodyschema import CompiledSchema

            hit = self._schemas[id(check)] = (check, CompiledSchema(check))
        return hit[1]

    # -- predicates
    def test(self, pred: Predicate, value: Any, operand: Any, *, header: bool = False) -> tuple[bool, str, str]:
        """(passed, expected text, actual text) for one predicate."""
        op = pred.op
        if op == "exists":
            want = bool(operand)
            ok = (value is not MISSING) == want
            return ok, ("to exist" if want else "not to exist"), ("nothing" if value is MISSING else short(value))
        if value is MISSING:
            return False, self._expected(op, operand), "nothing (no match)"
        if header and op in ("eq", "ne", "in") and not isinstance(operand, (str, list, tuple)):
            operand = _as_text(operand)
        if header and op == "in" and isinstance(operand, (list, tuple)):
            operand = [_as_text(o) for o in operand]
        if header and op in _OP_WORDS and _is_number(operand) and isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                pass
        if op == "contains" and isinstance(value, (str, Mapping)) and (operand is None or _is_scalar(operand)):
            operand = _as_text(operand)  # `contains: 42` in text looks for the text "42"
        expected = self._expected(op, operand)
        actual = short(value)
        if op == "eq":
            return json_equal(value, operand), expected, actual
        if op == "ne":
            return not json_equal(value, operand), expected, actual
        if op in _OP_WORDS:
            if _is_number(value) and _is_number(operand):
                ok = {"gt": value > operand, "ge": value >= operand, "lt": value < operand, "le": value <= operand}[op]
                return ok, expected, actual
            if isinstance(value, str) and isinstance(operand, str):
                ok = {"gt": value > operand, "ge": value >= operand, "lt": value < operand, "le": value <= operand}[op]
                return ok, expected, actual
            return False, expected, f"{json_type(value)} {actual} (not comparable)"
        if op == "in":
            if not isinstance(operand, (list, tuple)):
                return False, expected, f"{actual} ('in' needs a list)"
            return any(json_equal(value, o) for o in operand), expected, actual
        if op == "contains":
            if isinstance(value, str):
                return isinstance(operand, str) and operand in value, expected, actual
            if isinstance(value, (list, tuple)):
                return any(json_equal(v, operand) for v in value), expected, actual
            if isinstance(value, Mapping):
                return isinstance(operand, str) and operand in value, expected, actual
            return False, expected, f"{json_type(value)} {actual}"
        if op == "matches":
            if not isinstance(value, str):
                return False, expected, f"{json_type(value)} {actual} (not a string)"
            try:
                rx = self.regex(str(operand))
            except re.error as exc:
                return False, expected, f"invalid regular expression ({exc})"
            return rx.search(value) is not None, expected, actual
        if op == "type":
            names = [operand] if isinstance(operand, str) else list(operand)
            ok = any(_type_matches(value, n) for n in names)
            return ok, expected, f"{json_type(value)} {actual}"
        if op == "length":
            if not isinstance(value, (str, list, tuple, Mapping)):
                return False, expected, f"{json_type(value)} {actual} (has no length)"
            n = len(value)
            if isinstance(operand, Mapping):
                ok = all(self.test(Predicate(k, v), n, v)[0] for k, v in operand.items())
            else:
                ok = _is_number(operand) and n == operand
            return ok, expected, f"length {n}"
        return False, f"a known predicate (not '{op}')", actual

    @staticmethod
    def _expected(op: str, operand: Any) -> str:
        if op == "eq":
            return short(operand)
        if op == "ne":
            return f"not {short(operand)}"
        if op in _OP_WORDS:
            return f"{_OP_WORDS[op]} {short(operand)}"
        if op == "in":
            return f"one of {short(operand)}"
        if op == "contains":
            return f"to contain {short(operand)}"
        if op == "matches":
            return f"to match {short(operand)}"
        if op == "type":
            return f"type {operand if isinstance(operand, str) else ' or '.join(map(str, operand))}"
        if op == "length":
            if isinstance(operand, Mapping):
                return "length " + ", ".join(f"{_OP_WORDS.get(k, k)} {short(v)}" for k, v in operand.items())
            return f"length {short(operand)}"
        if op == "exists":
            return "to exist" if operand else "not to exist"
        return op

    # -- the whole expectation
    def evaluate(
        self,
        expect: Expect,
        response: ResponseSnapshot,
        body: Body,
        render: Callable[[Any], Any] | None = None,
    ) -> tuple[list[CheckResult], list[Failure]]:
        checks: list[CheckResult] = []
        failures: list[Failure] = []

        def record(subject: str, ok: bool, expected: str, actual: str, span, message: str | None = None,
                   hint: str | None = None) -> None:
            checks.append(CheckResult(subject, ok, expected, actual, span))
            if not ok:
                failures.append(
                    Failure(
                        FailureKind.ASSERTION,
                        message or f"{subject}: expected {expected}, got {actual}",
                        expected,
                        actual,
                        span,
                        hint,
                    )
                )

        # status
        status = response.status
        st = expect.status
        got = f"{status} {response.reason}".rstrip()
        hint = None
        if 300 <= status < 400:
            loc = response.header("Location")
            if loc is not None:
                got += f" (Location: {short(loc)})"
                hint = _REDIRECT_HINT
        if st is None:
            record("status", 200 <= status < 300, "2xx (default)", got, None, hint=hint)
        else:
            record("status", st.matches(status), st.describe(), got, st.span, hint=hint)

        # headers
        for hc in expect.headers:
            values = response.header_all(hc.name)
            value: Any = ", ".join(values) if values else MISSING
            subject = f"header {hc.name}"
            for pred in hc.predicates:
                ok, exp, act = self.test(pred, value, _render(pred.operand, render), header=True)
                record(subject, ok, exp, act, pred.span or hc.span)

        # json + schema need the parsed body
        if expect.json or expect.schema is not None:
            try:
                doc = body.json()
            except NotJson as exc:
                doc = MISSING
                for jc in expect.json:
                    checks.append(CheckResult(jc.path, False, "JSON body", "not JSON", jc.span))
                if expect.schema is not None:
                    checks.append(CheckResult(expect.schema.subject, False, "JSON body", "not JSON", expect.schema.span))
                span = expect.json[0].span if expect.json else expect.schema.span  # type: ignore[union-attr]
                failures.append(Failure(FailureKind.ASSERTION, exc.message, "JSON body", "not JSON", span))
            if doc is not MISSING:
                for jc in expect.json:
                    path = str(_render(jc.path, render))
                    try:
                        value = self.select(path, doc)
                    except _Unsearchable as exc:
                        record(path, False, "a JSONPath result", "not searchable", jc.span, exc.message)
                        continue
                    except CaptureError as exc:
                        record(path, False, "a valid JSONPath", "invalid", jc.span, exc.message)
                        continue
                    listed = isinstance(value, list) and not self.singular(path)
                    for pred in jc.predicates:
                        operand = _render(pred.operand, render)
                        # `exists` asks whether anything was selected, not whether the list is there
                        subject = MISSING if listed and not value and pred.op == "exists" else value
                        ok, exp, act = self.test(pred, subject, operand)
                        hint = _LIST_HINT if listed and not ok and _scalar_compare(pred.op, operand) else None
                        record(path, ok, exp, act, pred.span or jc.span, hint=hint)
                if expect.schema is not None:
                    sc = expect.schema
                    errors = self.schema(sc).errors(doc)
                    subject = sc.subject
                    if not errors:
                        record(subject, True, "valid", "valid", sc.span)
                    else:
                        checks.append(CheckResult(subject, False, "valid", errors[0], sc.span))
                        for line in errors:
                            failures.append(Failure(FailureKind.ASSERTION, f"{subject}: {line}", "valid", line, sc.span))

        # body predicates (raw text)
        if expect.body:
            text = body.text()
            for pred in expect.body:
                ok, exp, act = self.test(pred, text, _render(pred.operand, render))
                record("body", ok, exp, act, pred.span)

        if expect.max_ms is not None:
            record(
                "time",
                response.elapsed_ms <= expect.max_ms,
                f"<= {expect.max_ms:g} ms",
                f"{response.elapsed_ms:.0f} ms",
                None,
            )
        return checks, failures

    def subjects(self, expect: Expect) -> list[str]:
        """What `evaluate` would check, by subject (for checks not evaluated behind an AUTH)."""
        out = ["status"]
        out += [f"header {h.name}" for h in expect.headers]
        out += [j.path for j in expect.json]
        if expect.schema is not None:
            out.append(expect.schema.subject)
        if expect.body:
            out.append("body")
        if expect.max_ms is not None:
            out.append("time")
        return out

    # -- captures
    def capture(self, cap: Capture, response: ResponseSnapshot, body: Body, render=None) -> Any:
        if cap.header is not None:
            values = response.header_all(cap.header)
            if not values:
                raise CaptureError(f"capture '{cap.name}': header {cap.header} is absent")
            return ", ".join(values)
        path = str(_render(cap.jsonpath or "$", render))
        try:
            doc = body.json()
        except NotJson as exc:
            raise CaptureError(f"capture '{cap.name}': {exc.message}") from None
        value = self.select(path, doc)  # a path that is not singular captures a list, maybe empty
        if value is MISSING:
            raise CaptureError(f"capture '{cap.name}': {path} matched nothing")
        return value


def _render(value: Any, render: Callable[[Any], Any] | None) -> Any:
    if render is None:
        return value
    if isinstance(value, str):
        return render(value) if "${" in value else value
    if isinstance(value, (list, tuple, Mapping)):
        return render(value)
    return value
