"""SIGINT/SIGTERM during a run: remember which, set the stop event, and while files are
still loading (nothing is running yet) stop loading at once.

Only the main thread can install handlers; elsewhere (the library called from a thread)
the run simply has none, and the caller's own handling stands.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType

__all__ = ["StopLoading", "SignalHandling"]


class StopLoading(BaseException):
    """Raised by the handler while spec files load (nothing is running yet)."""


class SignalHandling:
    def __init__(self, stop: threading.Event) -> None:
        self.stop = stop
        self.received: str | None = None  # "SIGINT" / "SIGTERM"
        self.loading = True
        self._previous: dict = {}

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        if self.received is None:
            self.received = "SIGINT" if signum == signal.SIGINT else "SIGTERM"
        self.stop.set()
        if self.loading:
            raise StopLoading()

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._previous[sig] = signal.signal(sig, self._handle)
            except (ValueError, OSError):
                pass

    def restore(self) -> None:
        previous, self._previous = self._previous, {}
        for sig, old in previous.items():
            try:
                signal.signal(sig, old)
            except (ValueError, OSError, TypeError):
                pass
