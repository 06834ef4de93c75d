"""engine.Kept: what `runner load`'s users keep across passes through a file (connections,
compiled checks, the requests' plans), and what each pass still starts afresh (cookies,
vars, captures), over real HTTP."""

from __future__ import annotations

from runner.engine import Kept, RunOptions, run_spec
from runner.model import BearerAuth, Capture, Expect, JsonCheck, Predicate, RequestDef, SecretDecl
from runner.results import Outcome
from runner.source import Span
from runner.transport import Transport
from tests.conftest import make_spec
from tests.helpers import CANARY
from tests.token_server import TokenServer


def R(name: str, url: str, **kw) -> RequestDef:
    return RequestDef(name=name, index=0, url=url, **kw)


def passes(engine_run, spec, kept: Kept, count: int, store=None, **options):
    store = store or engine_run.store()
    opts = RunOptions(environ=engine_run.environ, **options)
    return [run_spec(spec, options=opts, secrets=store, redactor=engine_run.redactor, kept=kept)
            for _ in range(count)]


def test_plans_and_compiled_paths_are_kept_but_captures_are_not(http_server, engine_run):
    # 'use' comes first: it sees the var `first`, unless a capture of an earlier pass leaked in
    spec = make_spec(
        R("use", "/echo?id=${first}"),
        R("list", "/items", expect=Expect(json=(JsonCheck("$.count", (Predicate("eq", 2),)),)),
          captures=(Capture("first", jsonpath="$.items[0].id"),)),
        base_url=http_server.url, vars={"first": "var"},
    )
    kept = Kept(Transport())
    first, second = passes(engine_run, spec, kept, 2)
    assert [s.outcome for s in first.steps + second.steps] == [Outcome.PASS] * 4
    assert [r.path for r in http_server.requests_to("/echo")] == ["/echo?id=var"] * 2
    renderer, evaluator = kept.renderer, kept.evaluator
    plan = renderer.plan(spec.requests[0])
    passes(engine_run, spec, kept, 1)
    assert kept.renderer is renderer and renderer.plan(spec.requests[0]) is plan  # planned once
    assert kept.evaluator is evaluator and list(evaluator._paths) == ["$.count", "$.items[0].id"]
    kept.close()


def test_each_pass_starts_without_the_last_ones_cookies(http_server, engine_run):
    spec = make_spec(R("set", "/headers?Set-Cookie=sid%3Dabc%3B+Path%3D%2F"), R("echo", "/echo"),
                     base_url=http_server.url)
    kept = Kept(Transport())
    passes(engine_run, spec, kept, 1)
    (second,) = passes(engine_run, spec, kept, 1, only=frozenset({1}))
    assert second.steps[0].outcome is Outcome.PASS
    cookies = [r.header("Cookie") for r in http_server.requests_to("/echo")]
    assert cookies == ["sid=abc", None]  # within a pass the cookie is sent; the next pass has none
    kept.close()


def test_vars_are_rendered_again_each_pass(http_server, engine_run):
    """A var made from a secret sees the secret's new value after a refresh (by another user)."""
    with TokenServer() as tokens:
        decl = SecretDecl("token", "oauth2", {"oauth2": {"token_url": tokens.url, "client_id": "demo-client",
                                                          "client_secret": "demo-secret"}},
                          Span.point("spec.yaml", 3, 3), ".")
        spec = make_spec(R("echo", "/echo?who=${who}"), base_url=http_server.url, secrets={"token": decl},
                         auth=BearerAuth("token"), vars={"who": "${secret:token}"})
        store = engine_run.store()
        kept = Kept(Transport())
        passes(engine_run, spec, kept, 1, store=store)
        old = store.get(decl)
        new = store.refresh(decl, old)
        assert new != old and tokens.calls == 2
        (second,) = passes(engine_run, spec, kept, 1, store=store)
        kept.close()
    first_path, second_path = (r.path for r in http_server.requests_to("/echo"))
    assert first_path == f"/echo?who={old}" and second_path == f"/echo?who={new}"
    assert second.steps[0].outcome is Outcome.PASS
    assert old not in repr(second) and new not in repr(second) and CANARY not in repr(second)
