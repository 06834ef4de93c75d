"""Hand-built RunResults for the reporter tests: every Outcome, rich AUTH diagnoses,
hostile server text, a binary body, and a canary echoed in every encoding.

Durations and timestamps are fixed, so reporter output is byte-stable and golden files
pin it. `check_golden` compares with tests/data/golden/<name> (RR_UPDATE_GOLDENS=1
rewrites the files; review the diff).
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from urllib.parse import quote

from runner.redact import Redactor
from runner.results import (
    AuthDiagnosis,
    CheckResult,
    Challenge,
    Failure,
    FailureKind,
    Outcome,
    RequestSnapshot,
    ResponseSnapshot,
    RunResult,
    SpecResult,
    StepResult,
)
from runner.source import Position, Span
from tests.helpers import CANARY

GOLDEN_DIR = Path(__file__).parent / "data" / "golden"
CANARY_FORMS = (
    CANARY,
    base64.b64encode(CANARY.encode()).decode().rstrip("="),
    base64.b64encode(f"user:{CANARY}".encode()).decode().rstrip("="),
    quote(CANARY, safe=""),
    json.dumps(CANARY)[1:-1],
)
BASE = "http://127.0.0.1:8000"
HOSTILE = (
    "[bold]PASS[/] all good [/] [link=http://evil]x[/link]\n"
    "\x1b[31mred\x1b[0m \x1b]0;owned\x07title \x00nul \x12dc2 \x9bC1\n"
    "::stop-commands::pwned\n"
    "  ::error file=x::fake annotation\n"
    "::add-mask::nothing\n"
    "##[error]legacy command\n"
    "bidi \u202eevil\u202c surrogate \ud800 nonchar \ufffe end"
)
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89" + bytes(
    range(256)
)


def span(path: str, line: int, col: int = 5) -> Span:
    return Span(path, Position(line, col), Position(line, col + 4))


def resp(status: int, reason: str, body: bytes | str = b"", *, headers=(), ms: float = 10.0, url: str = "",
         truncated: bool = False) -> ResponseSnapshot:
    data = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
    hdrs = tuple(headers) or (("Content-Type", "application/json"),)
    return ResponseSnapshot(status=status, reason=reason, headers=hdrs, body=data, elapsed_ms=ms, url=url,
                            truncated=truncated, size=len(data))


def req(method: str, url: str, *headers: tuple[str, str], body: str | None = None) -> RequestSnapshot:
    return RequestSnapshot(method=method, url=url,
                           headers=(("Accept", "application/json"),) + tuple(headers), body_excerpt=body)


BEARER = ("Authorization", "Bearer ***")
PETS = "specs/pets.yaml"
ORDERS = "specs/orders.yaml"
HOSTILE_SPEC = "specs/hostile.yaml"
BROKEN = "specs/broken.yaml"


def _pets() -> SpecResult:
    expired = AuthDiagnosis(
        secret="pets_token",
        source="env PETS_API_TOKEN",
        fingerprint="sha256:1a2b3c4d",
        challenges=(Challenge("Bearer", (("realm", "pets"), ("error", "invalid_token"),
                                         ("error_description", "The access token expired"))),),
        token_notes=("JWT expired 2 h 14 min ago (2024-05-01T09:46:00Z, unverified)",
                     "JWT aud 'billing' does not match the expected 'pets'"),
        hint="fetch a new token: the one in PETS_API_TOKEN has expired",
        declared_at=span(PETS, 7, 3),
    )
    not_checked = (
        CheckResult("status", False, "200", "401", span(PETS, 22, 7)),
        CheckResult("$.count", False, "2", "(not checked)", span(PETS, 24, 9), checked=False),
        CheckResult("$.items", False, "length 2", "(not checked)", span(PETS, 25, 9), checked=False),
        CheckResult("header Content-Type", False, "matches ^application/json", "(not checked)",
                    span(PETS, 23, 9), checked=False),
    )
    unauthorized = Failure(FailureKind.UNAUTHORIZED, "unexpected 401 Unauthorized (expected 200)",
                           expected="200", actual="401", span=span(PETS, 22, 7))
    body_401 = '{"error": "invalid_token", "error_description": "The access token expired"}'
    www = ("WWW-Authenticate", 'Bearer realm="pets", error="invalid_token", '
                               'error_description="The access token expired"')
    steps = (
        StepResult(
            spec_path=PETS, name="list pets", index=0, outcome=Outcome.PASS, method="GET",
            url=f"{BASE}/pets?limit=2", status=200, elapsed_ms=12.3,
            checks=(CheckResult("status", True, "200", "200"), CheckResult("$.count", True, "2", "2")),
            request=req("GET", f"{BASE}/pets?limit=2", BEARER),
            response=resp(200, "OK", '{"count": 2, "items": [{"id": 1, "name": "Rex"}, {"id": 2, "name": "Tom"}]}',
                          ms=12.3, url=f"{BASE}/pets?limit=2"),
            span=span(PETS, 18), tags=("smoke",),
        ),
        StepResult(
            spec_path=PETS, name="list pets after a refresh", index=1, outcome=Outcome.PASS, method="GET",
            url=f"{BASE}/pets", status=200, elapsed_ms=48.0, attempts=2, token_refreshed=True,
            checks=(CheckResult("status", True, "200", "200"),),
            request=req("GET", f"{BASE}/pets", BEARER),
            response=resp(200, "OK", '{"count": 0, "items": []}', ms=48.0),
            auth=AuthDiagnosis(secret="pets_oauth", source="oauth2 https://auth.example/token",
                               fingerprint="sha256:99aa00bb", refreshed=True),
            span=span(PETS, 30),
        ),
        StepResult(
            spec_path=PETS, name="fetch the first pet", index=2, outcome=Outcome.FAIL, method="GET",
            url=f"{BASE}/pets/1", status=404, elapsed_ms=7.9,
            checks=(CheckResult("status", False, "200", "404", span(PETS, 37, 7)),
                    CheckResult("$.name", False, '"Rex"', "no match", span(PETS, 38, 9)),
                    CheckResult("header ETag", False, "exists", "missing", span(PETS, 39, 9))),
            failures=(
                Failure(FailureKind.ASSERTION, "status: expected 200, got 404", "200", "404 Not Found",
                        span(PETS, 37, 7)),
                Failure(FailureKind.ASSERTION, "$.name: expected \"Rex\", selected nothing", '"Rex"',
                        "nothing", span(PETS, 38, 9), hint="the body has no 'name' key"),
                Failure(FailureKind.ASSERTION, "header ETag: expected it to exist", "exists", "missing",
                        span(PETS, 39, 9)),
            ),
            request=req("GET", f"{BASE}/pets/1", BEARER),
            response=resp(404, "Not Found", '{"error": "not found", "id": 1}', ms=7.9),
            span=span(PETS, 34),
        ),
        StepResult(
            spec_path=PETS, name="create a pet", index=3, outcome=Outcome.AUTH, method="POST",
            url=f"{BASE}/pets", status=401, elapsed_ms=5.0, checks=not_checked, failures=(unauthorized,),
            request=req("POST", f"{BASE}/pets", BEARER, ("Content-Type", "application/json"),
                        body='{"name": "Rex"}'),
            response=resp(401, "Unauthorized", body_401, headers=(("Content-Type", "application/json"), www), ms=5.0),
            auth=expired, span=span(PETS, 41),
        ),
        StepResult(
            spec_path=PETS, name="delete a pet", index=4, outcome=Outcome.AUTH, method="DELETE",
            url=f"{BASE}/pets/2", status=401, elapsed_ms=4.2, checks=not_checked[:2], failures=(unauthorized,),
            request=req("DELETE", f"{BASE}/pets/2", BEARER),
            response=resp(401, "Unauthorized", body_401, headers=(("Content-Type", "application/json"), www), ms=4.2),
            auth=expired, span=span(PETS, 50),
        ),
        StepResult(
            spec_path=PETS, name="fetch the created pet", index=5, outcome=Outcome.SKIP, method="GET",
            url=f"{BASE}/pets/${{new_id}}",
            skip_reason="needs capture 'new_id' from 'create a pet', which did not pass",
            span=span(PETS, 58),
        ),
    )
    return SpecResult(path=PETS, name="Pets API smoke test", steps=steps, duration_s=0.0774, tags=("smoke",))


def _orders() -> SpecResult:
    secret_msg = ("secret 'orders_token' from env ORDERS_TOKEN: environment variable ORDERS_TOKEN is not set "
                  "(declared at specs/orders.yaml:6:5)")
    steps = (
        StepResult(
            spec_path=ORDERS, name="list orders", index=0, outcome=Outcome.AUTH, method="GET",
            url=f"{BASE}/orders",
            checks=(CheckResult("status", False, "200", "(not sent)", checked=False),),
            failures=(Failure(FailureKind.SECRET, secret_msg, span=span(ORDERS, 6, 5),
                              hint="export ORDERS_TOKEN=... or pass --secret orders_token=..."),),
            auth=AuthDiagnosis(secret="orders_token", source="env ORDERS_TOKEN",
                               hint="export ORDERS_TOKEN=... or pass --secret orders_token=...",
                               declared_at=span(ORDERS, 6, 5)),
            span=span(ORDERS, 12),
        ),
        StepResult(
            spec_path=ORDERS, name="health check", index=1, outcome=Outcome.ERROR, method="GET",
            url="http://127.0.0.1:9/health", elapsed_ms=1.5,
            failures=(Failure(FailureKind.TRANSPORT, "connection refused: 127.0.0.1:9",
                              hint="is the server running?"),),
            request=req("GET", "http://127.0.0.1:9/health"),
            span=span(ORDERS, 20),
        ),
        StepResult(
            spec_path=ORDERS, name="slow report", index=2, outcome=Outcome.ERROR, method="GET",
            url=f"{BASE}/slow", elapsed_ms=830.0,
            failures=(Failure(FailureKind.INTERRUPTED, "interrupted by SIGINT after 830 ms"),),
            span=span(ORDERS, 26),
        ),
        StepResult(
            spec_path=ORDERS, name="admin stats", index=3, outcome=Outcome.FAIL, method="GET",
            url=f"{BASE}/admin/stats", status=403, elapsed_ms=3.0,
            checks=(CheckResult("status", False, "200", "403"),),
            failures=(Failure(FailureKind.FORBIDDEN, "status: expected 200, got 403 Forbidden", "200", "403",
                              span(ORDERS, 33, 7),
                              hint="the token was accepted but lacks permission (insufficient_scope: admin)"),),
            request=req("GET", f"{BASE}/admin/stats", BEARER),
            response=resp(403, "Forbidden", '{"error": "insufficient_scope", "scope": "admin"}', ms=3.0),
            span=span(ORDERS, 30),
        ),
    )
    return SpecResult(path=ORDERS, name="Orders", steps=steps, duration_s=0.8355)


def _hostile() -> SpecResult:
    steps = (
        StepResult(
            spec_path=HOSTILE_SPEC, name="hostile server text", index=0, outcome=Outcome.FAIL, method="GET",
            url=f"{BASE}/hostile?q=[bold]x[/]", status=500, elapsed_ms=2.0,
            checks=(CheckResult("status", False, "200", "500"),),
            failures=(Failure(FailureKind.ASSERTION, "body: expected to contain 'ok', got: " + HOSTILE,
                              "contains 'ok'", HOSTILE, span(HOSTILE_SPEC, 9, 7)),),
            request=req("GET", f"{BASE}/hostile?q=[bold]x[/]"),
            response=resp(500, "[bold]Internal[/] \x1b[2JError", HOSTILE,
                          headers=(("Content-Type", "text/plain"), ("X-Evil", "[/]\x1b[31m::warning::x")), ms=2.0),
            span=span(HOSTILE_SPEC, 5),
        ),
        StepResult(
            spec_path=HOSTILE_SPEC, name="binary body", index=1, outcome=Outcome.FAIL, method="GET",
            url=f"{BASE}/logo.png", status=200, elapsed_ms=3.0,
            checks=(CheckResult("$.ok", False, "true", "the body is not JSON"),),
            failures=(Failure(FailureKind.ASSERTION, "$.ok: the body is not JSON (image/png)",
                              "true", "not JSON", span(HOSTILE_SPEC, 14, 9)),),
            response=resp(200, "OK", PNG, headers=(("Content-Type", "image/png"),), ms=3.0),
            span=span(HOSTILE_SPEC, 11),
        ),
        StepResult(
            spec_path=HOSTILE_SPEC, name="old address redirects", index=2, outcome=Outcome.PASS, method="GET",
            url=f"{BASE}/old", status=302, elapsed_ms=1.0, location=f"{BASE}/new",
            checks=(CheckResult("status", True, "302", "302"),),
            response=resp(302, "Found", headers=(("Location", f"{BASE}/new"),), ms=1.0),
            span=span(HOSTILE_SPEC, 16),
        ),
    )
    return SpecResult(path=HOSTILE_SPEC, name="Hostile [bold]server[/]", steps=steps, duration_s=0.0061)


def full_run() -> RunResult:
    """Every outcome, in three spec files plus one that could not run at all."""
    return RunResult(
        specs=(
            _pets(),
            _orders(),
            _hostile(),
            SpecResult(path=BROKEN, name="broken", steps=(), duration_s=0.0,
                       error="could not read specs/broken.yaml: permission denied"),
        ),
        duration_s=1.2345,
        version="0.1.0",
        environment="staging",
        warnings=("TLS verification is disabled (--insecure): certificates are not checked",),
        started_at="2024-05-01T12:00:00Z",
    )


def passing_run() -> RunResult:
    pets = _pets()
    return RunResult(specs=(SpecResult(pets.path, pets.name, pets.steps[:2], duration_s=0.0603),),
                     duration_s=0.07, version="0.1.0", started_at="2024-05-01T12:00:00Z")


def interrupted_run() -> RunResult:
    orders = _orders()
    return RunResult(specs=(orders,), duration_s=0.9, version="0.1.0", interrupted="SIGINT",
                     started_at="2024-05-01T12:00:00Z")


def canary_redactor() -> Redactor:
    r = Redactor()
    r.add(CANARY, label="CANARY_TOKEN")
    r.add_basic("user", CANARY)
    return r


def canary_run() -> RunResult:
    """The canary everywhere a server (or a careless engine) could put it."""
    b64 = base64.b64encode(CANARY.encode()).decode()
    basic = base64.b64encode(f"user:{CANARY}".encode()).decode()
    enc = quote(CANARY, safe="")
    jsn = json.dumps(CANARY)[1:-1]
    split = CANARY[:5] + "\x00" + CANARY[5:10] + "\x1b[0m" + CANARY[10:]
    echo = (f'{{"echo": "{CANARY}", "b64": "{b64}", "basic": "Basic {basic}", "url": "{enc}", '
            f'"json": "{jsn}", "split": "{split}"}}')
    hdrs = (("Content-Type", "application/json"), ("X-Echo", CANARY), ("Authorization", f"Bearer {CANARY}"),
            ("WWW-Authenticate", f'Bearer error="invalid_token", error_description="token {CANARY} expired"'))
    url = f"{BASE}/echo?access_token={enc}"
    diag = AuthDiagnosis(
        secret="canary", source="env CANARY_TOKEN", fingerprint="sha256:0f0f0f0f",
        challenges=(Challenge("Bearer", (("error", "invalid_token"),
                                         ("error_description", f"token {CANARY} expired"))),),
        token_notes=(f"JWT sub {CANARY}",), hint=f"the token {b64} was refused",
    )
    steps = []
    for i, outcome in enumerate(Outcome):
        steps.append(StepResult(
            spec_path="specs/canary.yaml", name=f"echo {CANARY} {i}", index=i, outcome=outcome, method="POST",
            url=url, status=401 if outcome is Outcome.AUTH else 200, elapsed_ms=1.0,
            checks=(CheckResult(f"$.echo {CANARY}", outcome is Outcome.PASS, CANARY, jsn),),
            failures=() if outcome is Outcome.PASS else (
                Failure(FailureKind.UNAUTHORIZED if outcome is Outcome.AUTH else FailureKind.ASSERTION,
                        f"$.echo: expected {CANARY}, got {split}", expected=b64, actual=enc,
                        span=span("specs/canary.yaml", 3 + i), hint=f"basic {basic}"),),
            request=RequestSnapshot("POST", url, (("Authorization", f"Bearer {CANARY}"),
                                                  ("Authorization", f"Basic {basic}")), body_excerpt=echo),
            response=resp(401 if outcome is Outcome.AUTH else 200, f"OK {CANARY}", echo, headers=hdrs,
                          url=url),
            auth=diag, skip_reason=f"skip {CANARY}" if outcome is Outcome.SKIP else None,
            span=span("specs/canary.yaml", 2 + i), location=url,
        ))
    spec = SpecResult("specs/canary.yaml", f"canary {CANARY}", tuple(steps), duration_s=0.01,
                      error=None)
    bad = SpecResult("specs/canary2.yaml", "canary2", (), error=f"could not run: {b64}")
    return RunResult(specs=(spec, bad), duration_s=0.02, version="0.1.0", environment="env",
                     warnings=(f"warning {enc}",), started_at="2024-05-01T12:00:00Z")


def check_golden(name: str, text: str) -> None:
    """Compare `text` with tests/data/golden/<name>; RR_UPDATE_GOLDENS=1 rewrites it."""
    path = GOLDEN_DIR / name
    if os.environ.get("RR_UPDATE_GOLDENS") == "1" or not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8", newline="")
        if os.environ.get("RR_UPDATE_GOLDENS") != "1":
            raise AssertionError(f"golden {name} did not exist: written, review it and rerun")
        return
    expected = path.read_text(encoding="utf-8")
    assert text == expected, f"output differs from golden {name} (RR_UPDATE_GOLDENS=1 rewrites it)"


# HAZARDS 84: what a server or a spec could put into an HTML report to run code in it.
INJECTION = (
    "<script>document.title='pwned';window.__pwned=1</script>"
    "</script><script>window.__pwned=2</script><!-- <script>"
    "<img src=x onerror=\"window.__pwned=3\"><svg onload=\"window.__pwned=4\">"
    "\" onmouseover=\"window.__pwned=5\" ' x='"
    "</style><style>*{display:none}</style></textarea></title>"
    "javascript:window.__pwned=6 \u2028\u2029 \u202eevil\u202c"
)


def injection_run() -> RunResult:
    """INJECTION in every text a report shows: names, URLs, headers, bodies, diagnoses, notes."""
    x = INJECTION
    hdrs = (("Content-Type", "text/html"), (f"X-{x}", x), ("Location", "javascript:window.__pwned=7"))
    diag = AuthDiagnosis(secret=f"tok {x}", source=f"env {x}", fingerprint=f"sha256:{x}",
                         challenges=(Challenge(f"Bearer{x}", (("error", x), ("error_description", x))),),
                         token_notes=(x,), hint=x, declared_at=span(f"specs/{x}.yaml", 3))
    steps = (
        StepResult(
            spec_path=f"specs/{x}.yaml", name=f"name {x}", index=0, outcome=Outcome.FAIL, method=f"GET{x}",
            url=f"{BASE}/{x}", status=500, elapsed_ms=20.0,
            checks=(CheckResult(f"$.{x}", False, x, x, span(f"specs/{x}.yaml", 9)),),
            failures=(Failure(FailureKind.ASSERTION, x, x, x, span(f"specs/{x}.yaml", 9), hint=x),),
            request=RequestSnapshot(f"GET{x}", f"{BASE}/{x}", ((f"X-{x}", x),), body_excerpt=x),
            response=resp(500, x, x, headers=hdrs, ms=20.0),
            span=span(f"specs/{x}.yaml", 5), tags=(x,), location=f"javascript:{x}", curl=f"curl '{x}'",
        ),
        StepResult(
            spec_path=f"specs/{x}.yaml", name=f"auth {x}", index=1, outcome=Outcome.AUTH, method="GET",
            url=f"{BASE}/auth?{x}", status=401, elapsed_ms=5.0,
            failures=(Failure(FailureKind.UNAUTHORIZED, x),), auth=diag,
            response=resp(401, x, x, headers=hdrs, ms=5.0), span=span(f"specs/{x}.yaml", 12),
        ),
        StepResult(
            spec_path=f"specs/{x}.yaml", name=f"skip {x}", index=2, outcome=Outcome.SKIP, method="GET",
            url=f"{BASE}/{x}", skip_reason=x, span=span(f"specs/{x}.yaml", 14),
        ),
        StepResult(
            spec_path=f"specs/{x}.yaml", name="a passing neighbour", index=3, outcome=Outcome.PASS, method="GET",
            url=f"{BASE}/ok", status=200, elapsed_ms=1.0, span=span(f"specs/{x}.yaml", 16),
        ),
    )
    return RunResult(
        specs=(SpecResult(f"specs/{x}.yaml", f"spec {x}", steps, duration_s=0.03, tags=(x,)),
               SpecResult(f"specs/broken {x}.yaml", x, (), error=x)),
        duration_s=0.04, version=f"0.1.0{x}", environment=x, warnings=(x,), started_at=x,
    )
