"""Run-wide secret resolution: once per source, shared by every spec file, refreshed on demand.

Thread-safe (spec files may run in parallel): one lock per source makes a fetch
single-flight, so N concurrent first uses or N concurrent 401s cost one fetch.

Renewal before expiry: a value with `expires_at` is fetched again once less than
`min(REFRESH_LEEWAY_S, lifetime / 2)` remains (authlib uses a fixed 60 s; with a
2-second token that would refetch on every use, so short lifetimes use half of it).

Refresh after a 401: `refresh(decl, stale)` fetches a new value unless another thread
already replaced `stale`; a second call with the same stale value (or one made after
the refresh failed) returns the current value or raises the same error without another
fetch. The caller resends once; there is never a loop here.
"""

from __future__ import annotations

import hashlib
import contextlib
import threading
from dataclasses import dataclass, field
from typing import Callable, Mapping

from ..errors import SecretError
from ..model import SecretDecl
from ..redact import MIN_FREE_TEXT_LEN, Redactor
from .base import SecretSource, SecretValue, SourceContext, check_value, make_source, source_identity

__all__ = ["SecretStore", "REFRESH_LEEWAY_S", "renew_at"]

REFRESH_LEEWAY_S = 60.0  # renew a token this long before it expires (as authlib does)


def renew_at(fetched_at: float, expires_at: float) -> float:
    """When to fetch again: 60 s before expiry, or half-way for tokens shorter than 2 min."""
    lifetime = max(0.0, expires_at - fetched_at)
    return expires_at - min(REFRESH_LEEWAY_S, lifetime / 2)


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(slots=True)
class _Entry:
    """One source's state in the store: its value or error, and when to renew it."""

    source: SecretSource
    lock: threading.Lock = field(default_factory=threading.Lock)
    value: SecretValue | None = None
    error: SecretError | None = None
    renew_at: float | None = None
    fetches: int = 0
    refused: set[str] = field(default_factory=set)  # sha256 of values a refresh replaced
    warned_short: bool = False


class _Override:
    """`--secret NAME=VALUE`: a value from the command line."""

    refreshable = False

    def __init__(self, decl: SecretDecl, value: str) -> None:
        self.decl = decl
        self._value = value

    def __repr__(self) -> str:
        return f"_Override({self.decl.name!r}, ***)"

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
        clock: Callable[[], float] | None = None,
        on_resolved: Callable[[str], None] | None = None,
        on_warning: Callable[[str], None] | None = None,
    ) -> None:
        self._ctx = ctx
        self._redactor = redactor
        self._overrides = dict(overrides or {})
        # Sources stamp expires_at with ctx.clock; renewals must read the same clock.
        self._clock = clock or ctx.clock
        self._entries: dict[tuple, _Entry] = {}
        # id(decl) -> (decl, entry): get() runs per request, source_identity(decl) (a repr
        # of the options) once per declaration. The decl is kept so its id is never reused.
        self._by_decl: dict[int, tuple[SecretDecl, _Entry]] = {}
        self._lock = threading.Lock()
        self._local = threading.local()  # keys being fetched by this thread (cycle guard)
        self._on_resolved = on_resolved  # e.g. print ::add-mask:: under GitHub Actions
        self._on_warning = on_warning  # a warning for the run's reports (never holds a value)
        for value in self._overrides.values():
            redactor.add(value)

    def _key(self, decl: SecretDecl) -> tuple:
        return ("override", decl.name) if decl.name in self._overrides else source_identity(decl)

    def _entry(self, decl: SecretDecl) -> _Entry:
        hit = self._by_decl.get(id(decl))
        if hit is not None and hit[0] is decl:
            return hit[1]
        key = self._key(decl)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                if decl.name in self._overrides:
                    source: SecretSource = _Override(decl, self._overrides[decl.name])
                else:
                    source = make_source(decl, self._ctx)
                entry = self._entries[key] = _Entry(source)
            self._by_decl[id(decl)] = (decl, entry)
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

    def fetch_count(self, decl: SecretDecl) -> int:
        """How many times the source was fetched this run (for reports and tests)."""
        return self._entry(decl).fetches

    @contextlib.contextmanager
    def _locked(self, decl: SecretDecl, entry: _Entry):
        """Hold the entry's lock; a secret whose source needs itself is an error, not a deadlock."""
        busy = getattr(self._local, "busy", None)
        if busy is None:
            busy = self._local.busy = set()
        if id(entry) in busy:
            raise SecretError(decl.name, entry.source.describe(), "its source refers to itself (a cycle)", decl.span)
        with entry.lock:
            busy.add(id(entry))
            try:
                yield
            finally:
                busy.discard(id(entry))

    def _fetch(self, entry: _Entry) -> None:
        started = self._clock()
        entry.fetches += 1
        try:
            value = entry.source.fetch()
        except SecretError as exc:
            entry.error, entry.value, entry.renew_at = exc, None, None
        else:
            label = entry.source.env_name() or entry.source.decl.name.upper()
            if not self._redactor.add(value.value, label=label) and not entry.warned_short:
                entry.warned_short = True
                self._warn_short(entry.source, len(value.value))
            for extra in value.also_mask:
                self._redactor.add(extra)
            entry.value, entry.error = value, None
            entry.renew_at = renew_at(started, value.expires_at) if value.expires_at is not None else None
            if self._on_resolved:
                self._on_resolved(value.value)
                for extra in value.also_mask:
                    self._on_resolved(extra)

    def _warn_short(self, source: SecretSource, length: int) -> None:
        if self._on_warning is None:
            return
        chars = "character" if length == 1 else "characters"
        self._on_warning(
            f"secret '{source.decl.name}' ({source.describe()}) is only {length} {chars} long: it is masked "
            "wherever the runner puts it (auth headers, URL, query, headers, bodies, --curl, -vv), but a server "
            f"echoing it back is not masked (values shorter than {MIN_FREE_TEXT_LEN} characters are not looked "
            "for in free text: they would mask ordinary words)"
        )

    def get(self, decl: SecretDecl) -> str:
        """The current value; fetched on first use and again shortly before it expires."""
        entry = self._entry(decl)
        current = entry.value
        if current is not None and (
            entry.renew_at is None or not entry.source.refreshable or entry.renew_at > self._clock()
        ):
            return current.value  # resolved and fresh: no lock on the per-request path
        with self._locked(decl, entry):
            if entry.value is None and entry.error is None:
                self._fetch(entry)
            elif (
                entry.value is not None
                and entry.renew_at is not None
                and entry.renew_at <= self._clock()
                and entry.source.refreshable
            ):
                self._fetch(entry)
            if entry.error is not None:
                raise entry.error
            assert entry.value is not None
            return entry.value.value

    def refresh(self, decl: SecretDecl, stale: str) -> str:
        """Fetch a new value after `stale` was refused; single-flight across threads.

        Only the first caller for a given stale value fetches; later callers (other
        threads that got the same 401) get that result, value or error. A source that
        is not refreshable is not fetched again: its current value is returned.
        """
        entry = self._entry(decl)
        digest = _digest(stale)
        with self._locked(decl, entry):
            if entry.value is not None and entry.value.value != stale:
                return entry.value.value  # another thread already refreshed it
            if not entry.source.refreshable and entry.value is not None:
                return entry.value.value
            if digest in entry.refused:
                # A refresh away from this value already ran (it failed, or the source
                # gave the same value back): report that result, never fetch in a loop.
                if entry.error is not None:
                    raise entry.error
                assert entry.value is not None
                return entry.value.value
            entry.refused.add(digest)
            self._fetch(entry)
            if entry.error is not None:
                raise entry.error
            assert entry.value is not None
            return entry.value.value
