"""A small test-only client for headless Chromium over the DevTools protocol.

It talks over `--remote-debugging-pipe` (JSON messages separated by NUL on file
descriptors 3 and 4), so it needs no port, no websocket library and no download: only
the `chromium` of the distribution (Debian: `apt-get install chromium`). The tests open a
page, evaluate JavaScript in it, read the console and take screenshots.
"""

from __future__ import annotations

import base64
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

__all__ = ["Browser", "BrowserError", "Page", "find_chromium", "INSTALL_HINT"]

INSTALL_HINT = "headless Chromium not found: install it with `apt-get update && apt-get install -y chromium` (Debian)"
_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
_TIMEOUT_S = 30.0


class BrowserError(RuntimeError):
    pass


def find_chromium() -> str | None:
    explicit = os.environ.get("RUNNER_CHROMIUM")  # a browser elsewhere than on PATH
    if explicit:
        return shutil.which(explicit)
    return next((path for path in map(shutil.which, _NAMES) if path), None)


class Browser:
    """One headless Chromium process; `page()` opens a fresh tab."""

    def __init__(self, executable: str) -> None:
        self._profile = tempfile.TemporaryDirectory(prefix="rr-chromium-")
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        args = [
            executable, "--headless", "--remote-debugging-pipe", "--no-sandbox", "--disable-gpu",
            "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check", "--disable-extensions",
            "--disable-background-networking", "--disable-sync", "--disable-component-update",
            "--allow-file-access-from-files", f"--user-data-dir={self._profile.name}", "about:blank",
        ]

        def wire_fds() -> None:  # the protocol wants exactly fds 3 (commands in) and 4 (messages out)
            os.dup2(to_browser_r, 3)
            os.dup2(from_browser_w, 4)

        self._process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL, pass_fds=(3, 4), preexec_fn=wire_fds)
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []

    # ----- protocol ----------------------------------------------------------------------

    def send(self, method: str, params: dict | None = None, session: str | None = None) -> dict[str, Any]:
        self._next_id += 1
        msg: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._to_browser, json.dumps(msg).encode() + b"\0")
        reply = self._read_until(lambda m: m.get("id") == msg["id"])
        if "error" in reply:
            raise BrowserError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    def wait_event(self, method: str, session: str | None, timeout: float = _TIMEOUT_S) -> dict[str, Any]:
        for i, event in enumerate(self.events):
            if event.get("method") == method and event.get("sessionId") == session:
                return self.events.pop(i)
        event = self._read_until(lambda m: m.get("method") == method and m.get("sessionId") == session, timeout)
        self.events.remove(event)
        return event

    def _read_until(self, wanted, timeout: float = _TIMEOUT_S) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            while b"\0" in self._buffer:
                raw, self._buffer = self._buffer.split(b"\0", 1)
                message = json.loads(raw)
                if "id" not in message:
                    self.events.append(message)
                if wanted(message):
                    return message
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._from_browser], [], [], left)[0]:
                raise BrowserError("no answer from Chromium in time")
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                raise BrowserError("Chromium exited")
            self._buffer += chunk

    # ----- pages -------------------------------------------------------------------------

    def page(self, *, javascript: bool = True, width: int = 1280, height: int = 900) -> "Page":
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        page = Page(self, target, session)
        for domain in ("Page", "Runtime", "Log"):
            page.send(f"{domain}.enable")
        page.send("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
        if not javascript:
            page.send("Emulation.setScriptExecutionDisabled", {"value": True})
        return page

    def close(self) -> None:
        try:
            self.send("Browser.close")
        except (BrowserError, OSError):
            pass
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        for fd in (self._to_browser, self._from_browser):
            try:
                os.close(fd)
            except OSError:
                pass
        self._profile.cleanup()


class Page:
    def __init__(self, browser: Browser, target: str, session: str) -> None:
        self.browser = browser
        self.target = target
        self.session = session

    def send(self, method: str, params: dict | None = None) -> dict[str, Any]:
        return self.browser.send(method, params, self.session)

    def open(self, path: Path) -> None:
        url = path.resolve().as_uri()
        # A new tab's own about:blank may fire its load event late: drop it, and wait until
        # the page that loaded is ours.
        self.browser.events = [e for e in self.browser.events
                               if not (e.get("method") == "Page.loadEventFired" and e.get("sessionId") == self.session)]
        self.send("Page.navigate", {"url": url})
        deadline = time.monotonic() + _TIMEOUT_S
        while True:
            self.browser.wait_event("Page.loadEventFired", self.session, timeout=max(0.1, deadline - time.monotonic()))
            if self.evaluate("location.href + ' ' + document.readyState") == f"{url} complete":
                return

    def evaluate(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                "awaitPromise": True})
        if "exceptionDetails" in result:
            raise BrowserError(f"{expression!r} raised {result['exceptionDetails']}")
        return result["result"].get("value")

    def problems(self) -> list[str]:
        """Console errors, uncaught exceptions and refused content (CSP) seen so far."""
        found = []
        for event in self.browser.events:
            if event.get("sessionId") != self.session:
                continue
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.exceptionThrown":
                found.append(f"exception: {params.get('exceptionDetails', {}).get('text')}")
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                found.append(f"console.{params.get('type')}: {params.get('args')}")
            elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
                found.append(f"log: {params['entry'].get('text')}")
        return found

    def screenshot(self, path: Path) -> Path:
        data = self.send("Page.captureScreenshot", {"format": "png"})["data"]
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self) -> None:
        self.browser.send("Target.closeTarget", {"targetId": self.target})
