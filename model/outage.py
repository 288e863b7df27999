"""A database that went away: fail at once for a while, and let one caller at a time probe.

Without it, every request that touches an unreachable PostgreSQL waits the whole
connection timeout, so a handful of them hold every server thread and requests that
never read the database (tagging) wait for a thread.
"""

from __future__ import annotations

import threading
import time

from model.errors import StoreUnavailable


class Outage:
    """The state of the database as the last calls found it.

    After a failure, `admit` raises `StoreUnavailable` at once for *pause* seconds; then
    it lets one call through (the probe) while the others keep failing at once, until a
    call succeeds. *pause* 0 turns it off: every call tries the database.
    """

    def __init__(self, pause=1.0):
        self.pause = pause
        self._lock = threading.Lock()
        self._until = None    # monotonic time until which calls fail at once; None: healthy
        self._probing = False
        self.reason = ""

    @property
    def healthy(self) -> bool:
        """Whether the last call reached the database."""
        return self._until is None

    def admit(self) -> bool:
        """Whether this call may use the database: True, or `StoreUnavailable` at once."""
        if self._until is None or not self.pause:
            return True
        with self._lock:
            if self._until is not None and (time.monotonic() < self._until or self._probing):
                raise StoreUnavailable(self.reason)
            self._probing = True
            return True

    def succeeded(self):
        """The database answered: calls go through again."""
        if self._until is not None:
            with self._lock:
                self._until, self._probing = None, False

    def failed(self, reason: str):
        """The database could not be used: fail at once for the next *pause* seconds."""
        with self._lock:
            self._until, self._probing = time.monotonic() + self.pause, False
            self.reason = reason
