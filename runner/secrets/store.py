"""Run-wide secret resolution: once per source, shared by every spec file, refreshed on demand.

Thread-safe (spec files may run in parallel): one lock per source makes a refresh
single-flight, so N concurrent 401s cost one token fetch.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Mapping

from ..errors import SecretError
from ..model import SecretDecl
from ..redact import Redactor
from .base import SecretSource, SecretValue, SourceContext, check_value, make_source

__all__ = ["SecretStore", "REFRESH_LEEWAY_S"]

REFRESH_LEEWAY_S = 60.0  # renew a token this long before it expires (as authlib does)


@dataclass(slots=True)
class _Entry:
    source: SecretSource
    lock: threading.Lock = field(default_factory=threading.Lock)
    value: SecretValue | None = None
    error: SecretError | None = None
    generation: int = 0  # bumped on every fetch, so a stale refresh request is a no-op


class _Override:
    """`--secret NAME=VALUE`: a value from the command line."""

    refreshable = False

    def __init__(self, decl: SecretDecl, value: str) -> None:
        self.decl = decl
        self._value = value

    def describe(self) -> str:
        return "--secret on the command line"

    def env_name(self) -> str | None:
        return None

    def fetch(self) -> SecretValue:
        return SecretValue(check_value(self.decl, self.describe(), self._value))


class SecretStore:
    def __init__(
        self,
        ctx: SourceContext,
        redactor: Redactor,
        overrides: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
        on_resolved: Callable[[str], None] | None = None,
    ) -> None:
        self._ctx = ctx
        self._redactor = redactor
        self._overrides = dict(overrides or {})
        self._clock = clock
        self._entries: dict[tuple, _Entry] = {}
        self._lock = threading.Lock()
        self._on_resolved = on_resolved  # e.g. print ::add-mask:: under GitHub Actions
        for value in self._overrides.values():
            redactor.add(value)

    def _entry(self, decl: SecretDecl) -> _Entry:
        key = ("override", decl.name) if decl.name in self._overrides else decl.identity()
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                if decl.name in self._overrides:
                    source: SecretSource = _Override(decl, self._overrides[decl.name])
                else:
                    source = make_source(decl, self._ctx)
                entry = self._entries[key] = _Entry(source)
            return entry

    def source(self, decl: SecretDecl) -> SecretSource:
        return self._entry(decl).source

    def describe(self, decl: SecretDecl) -> str:
        try:
            return self.source(decl).describe()
        except SecretError:
            return decl.kind

    def refreshable(self, decl: SecretDecl) -> bool:
        try:
            return bool(self.source(decl).refreshable)
        except SecretError:
            return False

    def _fetch(self, entry: _Entry) -> None:
        try:
            value = entry.source.fetch()
        except SecretError as exc:
            entry.error, entry.value = exc, None
        else:
            label = entry.source.env_name() or entry.source.decl.name.upper()
            self._redactor.add(value.value, label=label)
            entry.value, entry.error = value, None
            if self._on_resolved:
                self._on_resolved(value.value)
        entry.generation += 1

    def get(self, decl: SecretDecl) -> str:
        """The current value; fetched on first use and again shortly before it expires."""
        entry = self._entry(decl)
        with entry.lock:
            if entry.value is None and entry.error is None:
                self._fetch(entry)
            elif entry.value is not None and entry.value.expires_at is not None:
                if entry.value.expires_at - REFRESH_LEEWAY_S <= self._clock() and entry.source.refreshable:
                    self._fetch(entry)
            if entry.error is not None:
                raise entry.error
            assert entry.value is not None
            return entry.value.value

    def refresh(self, decl: SecretDecl, stale: str) -> str:
        """Fetch a new value after `stale` was refused; single-flight across threads."""
        entry = self._entry(decl)
        with entry.lock:
            if entry.value is not None and entry.value.value != stale:
                return entry.value.value  # another thread already refreshed it
            self._fetch(entry)
            if entry.error is not None:
                raise entry.error
            assert entry.value is not None
            return entry.value.value
