"""`runner load`: secrets under gevent are single-flight across the users of one process.
Several users hit a 401 (or reach a token's renewal time) at once: one login for them all.
Real Locust runs in a subprocess against a login server on 127.0.0.1 that counts logins."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from tests.helpers import CANARY, write
from tests.login_server import PASSWORD, LoginServer
from tests.test_load import load, needs_locust, rows
from tests.token_server import TokenServer

LOGIN_DELAY_S = 0.3  # a slow login: while it runs, every other user is stopped at the same point


class UsesPerToken(set):
    """The API's valid tokens, each accepted `uses` times and then refused (noted in `refused`)."""

    def __init__(self, uses: int) -> None:
        super().__init__()
        self.uses = uses
        self.accepted: dict[str, int] = {}
        self.refused: dict[str, int] = {}

    def __contains__(self, token: object) -> bool:
        if not super().__contains__(token):
            return False
        assert isinstance(token, str)
        if self.accepted.get(token, 0) >= self.uses:
            self.refused[token] = self.refused.get(token, 0) + 1
            return False
        self.accepted[token] = self.accepted.get(token, 0) + 1
        return True


class Logins:
    """The login server's answer, slowed down; each login's (start, end) on the monotonic clock."""

    def __init__(self, server: LoginServer, **extra: Any) -> None:
        self.server = server
        self.extra = extra
        self.spans: list[tuple[float, float]] = []
        self.lock = threading.Lock()

    def __call__(self, call: int, body: dict[str, Any]):
        start = time.monotonic()
        time.sleep(LOGIN_DELAY_S)
        answer = self.server.issue(call, **self.extra) if body.get("password") == PASSWORD else \
            self.server.default_answer(call, body)
        with self.lock:
            self.spans.append((start, time.monotonic()))
        return answer

    def most_at_once(self) -> int:
        edges = sorted([(s, 1) for s, _ in self.spans] + [(e, -1) for _, e in self.spans])
        most = now = 0
        for _, step in edges:
            now += step
            most = max(most, now)
        return most


def spec(folder, login: LoginServer, expires_in: str | None = None) -> None:
    write(folder / "me.yaml", f"""
        secrets:
          bot_password: {{env: BOT_PASSWORD}}
          api_token:
            http:
              url: {login.url}/auth/login
              json: {{username: ci-bot, password: "${{secret:bot_password}}"}}
              token: $.access_token
              {f"expires_in: {expires_in}" if expires_in else ""}
        auth: {{bearer: api_token}}
        requests:
          - name: me
            url: {login.url}/api/me
        """)


def _no_canary(*texts: str) -> None:
    for text in texts:
        assert CANARY not in text


@needs_locust
def test_many_users_refused_at_once_cause_one_login(tmp_path):
    with LoginServer() as login:
        login.valid = valid = UsesPerToken(uses=25)
        login.answer = logins = Logins(login)
        spec(tmp_path, login)
        code, out, err = load(["me.yaml", "--users", "5", "--spawn-rate", "50", "--run-time", "3s",
                               "--csv", "out/run"], tmp_path, {"BOT_PASSWORD": PASSWORD})
    assert code == 0, err
    refused = sorted(valid.refused.values())  # how many requests each used-up token was refused to
    assert len(refused) >= 2  # tokens ran out more than once during the run
    assert refused[-1] >= 2  # several users were refused with the same token at once...
    assert len(logins.spans) <= 1 + len(refused)  # ...and each used-up token cost one login, no more
    assert logins.most_at_once() == 1
    assert int(rows(tmp_path / "out/run_stats.csv")["me"]["Request Count"]) > 25
    _no_canary(out, err, *(p.read_text() for p in (tmp_path / "out").iterdir()))


@needs_locust
def test_many_users_renewing_before_expiry_at_once_cause_one_login(tmp_path):
    """A token that expires in 2 s is renewed once half its life has passed: by one login for
    all users, never one per user (so logins are at least that half-life apart)."""
    with LoginServer() as login:
        login.answer = logins = Logins(login, expires_in=2)
        spec(tmp_path, login, expires_in="$.expires_in")
        code, out, err = load(["me.yaml", "--users", "5", "--spawn-rate", "50", "--run-time", "4s",
                               "--csv", "out/run"], tmp_path, {"BOT_PASSWORD": PASSWORD})
    assert code == 0, err
    starts = sorted(s for s, _ in logins.spans)
    assert len(starts) >= 2  # the token was renewed during the run
    assert logins.most_at_once() == 1
    # renewal is due 1 s after a login started; a second user renewing too would come at
    # once (or right after the first, behind its lock): 0.5 s leaves room for a slow machine
    assert min(b - a for a, b in zip(starts, starts[1:])) >= 0.5
    stats = rows(tmp_path / "out/run_stats.csv")["me"]
    assert stats["Failure Count"] == "0"  # every request carried a fresh token
    _no_canary(out, err, *(p.read_text() for p in (tmp_path / "out").iterdir()))


@needs_locust
def test_a_short_lived_jwt_is_not_fetched_again_for_every_request(tmp_path, http_server):
    """An OAuth2 access token (a JWT) that lives 30 s: one token request for the whole run,
    not one per request (a JWT within the 60 s leeway from the start is used for half its life)."""
    with TokenServer(expires_in=30) as tokens:
        write(tmp_path / "s.yaml", f"""
            base_url: {http_server.url}
            secrets:
              api_token:
                oauth2: {{token_url: {tokens.url}, client_id: demo-client, client_secret: "${{env:CLIENT_SECRET}}"}}
            auth: {{bearer: api_token}}
            requests:
              - name: echo
                url: /echo
            """)
        code, out, err = load(["s.yaml", "--users", "3", "--spawn-rate", "30", "--run-time", "2s",
                               "--csv", "out/run"], tmp_path, {"CLIENT_SECRET": "demo-secret"})
    assert code == 0, err
    assert tokens.calls == 1
    assert int(rows(tmp_path / "out/run_stats.csv")["echo"]["Request Count"]) > 3
