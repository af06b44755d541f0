"""The one-sweep-per-folder lock on an object store: a lock object, renewed while held.

Object stores have no ``flock`` and pyarrow has no conditional PUT, so the lock is a
best-effort object ``<root>/.lock`` holding the sweep's hash, host, process id, a random
token and the time it was last renewed (every ``interval`` seconds by a daemon thread).
It is refused while present and not ours, unless stale: its process is gone (same host)
or it was not renewed for ``stale_after`` seconds (a driver killed on another host).
Two drivers that start within the same moment can both win (check, then PUT, is not
atomic); the read-back after writing catches the later of two writers that are not
simultaneous. It is removed when the store closes. See docs/dataset.md.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from typing import Any

import pyarrow.fs as pafs

from pipeline.errors import ConfigError
from pipeline.store.objects import exists, get_text, put

log = logging.getLogger(__name__)


def _alive(pid: int) -> bool:
    """Whether a process ``pid`` runs on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class LockObject:
    """Hold ``path`` on ``fs`` for one sweep (``acquire``, then ``release``)."""

    def __init__(
        self, fs: pafs.FileSystem, path: str, sweep: str,
        interval: float = 30.0, stale_after: float = 120.0,
    ) -> None:
        self.fs, self.path, self.sweep = fs, path, sweep
        self.interval, self.stale_after = interval, stale_after
        self.token = uuid.uuid4().hex
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _body(self) -> dict[str, Any]:
        return {"sweep": self.sweep, "host": socket.gethostname(), "pid": os.getpid(),
                "token": self.token, "renewed": time.time()}

    def _held(self) -> dict[str, Any] | None:
        """The lock's content, or ``None`` when there is no lock (or it is unreadable)."""
        if not exists(self.fs, self.path):
            return None
        try:
            held = json.loads(get_text(self.fs, self.path))
        except (OSError, ValueError):
            return None
        return held if isinstance(held, dict) else None

    def _stale(self, held: dict[str, Any]) -> bool:
        if held.get("host") == socket.gethostname() and isinstance(held.get("pid"), int):
            return not _alive(held["pid"])
        renewed = held.get("renewed")
        return not isinstance(renewed, (int, float)) or time.time() - renewed > self.stale_after

    def _refuse(self, held: dict[str, Any]) -> ConfigError:
        return ConfigError(
            f"output.dir {self.path} is in use by another running sweep ({held.get('sweep')} on "
            f"{held.get('host')}, pid {held.get('pid')}); wait for it or choose another folder"
        )

    def acquire(self) -> None:
        """Take the lock (refused with a :class:`ConfigError` if another sweep holds it)."""
        held = self._held()
        if held is not None and held.get("token") != self.token:
            if not self._stale(held):
                raise self._refuse(held)
            log.warning("%s: taking over the stale lock of sweep %s (host %s, pid %s)",
                        self.path, held.get("sweep"), held.get("host"), held.get("pid"))
        put(self.fs, self.path, json.dumps(self._body()).encode("utf-8"))
        held = self._held()
        if held is None or held.get("token") != self.token:
            raise self._refuse(held or {})
        self._thread = threading.Thread(target=self._renew, name="store-lock", daemon=True)
        self._thread.start()

    def _renew(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                put(self.fs, self.path, json.dumps(self._body()).encode("utf-8"))
            except OSError as err:  # retried at the next interval
                log.warning("%s: could not renew the lock (%s)", self.path, err)

    def release(self) -> None:
        """Stop renewing and remove the lock if it is still ours."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        held = self._held()
        if held is not None and held.get("token") == self.token:
            self.fs.delete_file(self.path)
