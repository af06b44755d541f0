"""Open atlas pages in headless Chromium and look at them (for tests and the benchmark).

Speaks the Chrome DevTools protocol over ``--remote-debugging-pipe`` (JSON messages ended by
NUL on file descriptors 3 and 4), so no websocket library or port is needed. Collects
uncaught exceptions, console errors, failed loads and JavaScript dialogs as errors.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from pipeline.errors import ConfigError

BINARIES = ("chromium", "chromium-browser", "google-chrome")
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--remote-debugging-pipe", "--window-size=1400,1000", "--hide-scrollbars",
)


def find_chromium() -> str:
    """The path of a Chromium binary (ConfigError naming the package when there is none)."""
    for name in BINARIES:
        path = shutil.which(name)
        if path:
            return path
    raise ConfigError("no Chromium found; install it (Debian: apt-get install -y chromium)")


def _above_four(fd: int) -> int:
    """A duplicate of ``fd`` numbered 10 or more (the original is closed)."""
    high = fcntl.fcntl(fd, fcntl.F_DUPFD, 10)
    os.close(fd)
    return high


class Chromium:
    """A headless Chromium with one page, driven over the DevTools pipe."""

    def __init__(self, binary: str | None = None, timeout: float = 30.0) -> None:
        self.timeout = timeout
        self.profile = tempfile.mkdtemp(prefix="atlas-chromium-")
        to_chrome, self._send_fd = os.pipe()
        self._recv_fd, from_chrome = os.pipe()
        # Chromium's ends must become fds 3 and 4; move them above those numbers first.
        to_chrome, from_chrome = (_above_four(fd) for fd in (to_chrome, from_chrome))
        script = f'exec "$0" "$@" 3<&{to_chrome} 4>&{from_chrome} {to_chrome}<&- {from_chrome}>&-'
        self.process = subprocess.Popen(
            ["bash", "-c", script, binary or find_chromium(), *FLAGS,
             f"--user-data-dir={self.profile}", "about:blank"],
            pass_fds=(to_chrome, from_chrome), stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_chrome)
        os.close(from_chrome)
        self._messages: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self._next_id = 0
        self.events: list[dict[str, Any]] = []
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        attached = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})
        self.session = attached["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable", session=self.session)

    def _read(self) -> None:
        buffer = b""
        while chunk := os.read(self._recv_fd, 1 << 16):
            buffer += chunk
            *messages, buffer = buffer.split(b"\0")
            for message in messages:
                self._messages.put(json.loads(message))
        self._messages.put(None)

    def _next(self, deadline: float) -> dict[str, Any]:
        try:
            message = self._messages.get(timeout=max(deadline - time.monotonic(), 0.01))
        except queue.Empty:
            raise TimeoutError("Chromium did not answer in time") from None
        if message is None:
            raise RuntimeError("Chromium closed the DevTools pipe")
        if "id" not in message:
            self.events.append(message)
            if message.get("method") == "Page.javascriptDialogOpening":
                self._send("Page.handleJavaScriptDialog", {"accept": False}, self.session)
        return message

    def _send(self, method: str, params: dict[str, Any] | None, session: str | None) -> int:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._send_fd, json.dumps(message).encode() + b"\0")
        return self._next_id

    def call(self, method: str, params: dict[str, Any] | None = None,
             session: str | None = None) -> dict[str, Any]:
        """Send one command and wait for its result (events that arrive meanwhile are kept)."""
        wanted = self._send(method, params, session)
        deadline = time.monotonic() + self.timeout
        while True:
            message = self._next(deadline)
            if message.get("id") == wanted:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error'].get('message')}")
                return message.get("result", {})

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (promises are awaited)."""
        result = self.call(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
            self.session,
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"evaluate({expression!r}): {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str) -> float:
        """Poll until ``expression`` is truthy; return the seconds waited."""
        start = time.monotonic()
        deadline = start + self.timeout
        while not self.evaluate(expression):
            if time.monotonic() > deadline:
                raise TimeoutError(f"page never satisfied {expression!r}")
            time.sleep(0.02)
        return time.monotonic() - start

    def open(self, path: str | Path, ready: str = "document.body.dataset.loaded") -> float:
        """Navigate to a local file and wait for ``ready``; return the seconds it took."""
        start = time.monotonic()
        url = Path(path).resolve().as_uri()
        self.call("Page.navigate", {"url": url}, self.session)
        self.wait_for(f"document.readyState === 'complete' && location.href.startsWith({url!r})")
        self.wait_for(ready)
        return time.monotonic() - start

    def errors(self) -> list[str]:
        """Uncaught exceptions, console errors, failed loads and dialogs seen so far."""
        found = []
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.exceptionThrown":
                details = params["exceptionDetails"]
                found.append(details.get("exception", {}).get("description") or details["text"])
            elif method == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
                args = params["args"]
                found.append(" ".join(str(a.get("value", a.get("description"))) for a in args))
            elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
                found.append(f"{params['entry']['text']} {params['entry'].get('url', '')}".strip())
            elif method == "Page.javascriptDialogOpening":
                found.append(f"dialog {params['type']}: {params['message']}")
        return found

    def viewport(self, width: int, height: int, mobile: bool = False) -> None:
        """Emulate a screen of ``width`` x ``height`` CSS pixels (``mobile``: a phone's)."""
        self.call("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile},
                  self.session)

    def overflows(self) -> bool:
        """Whether the page is wider than the screen (a sideways scroll bar)."""
        return bool(self.evaluate(
            "document.documentElement.scrollWidth > document.documentElement.clientWidth"))

    def screenshot(self, path: str | Path) -> Path:
        """Save a PNG of the whole page."""
        data = self.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True},
                         self.session)["data"]
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self) -> None:
        """Close the browser and remove its profile."""
        try:
            self.call("Browser.close")
        except (RuntimeError, TimeoutError, OSError):
            self.process.kill()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._send_fd)
        self._reader.join(timeout=5)
        os.close(self._recv_fd)
        shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
