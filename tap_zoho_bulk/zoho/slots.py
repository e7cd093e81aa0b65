"""Bulk read job slots, handed out first come, first served, and the stop that ends waits for them.

Zoho bounds the jobs in flight per organisation; every module's export thread takes a slot here
before it creates or takes back a job. Apart from the page loop because it is shared by all of
them and holds no Zoho calls of its own.
"""

from __future__ import annotations

import collections
import threading
import time

from tap_zoho_bulk.errors import JobFailedError


class ExportStopped(JobFailedError):
    """The run is ending (interrupted or closed): nothing more may be asked of Zoho."""


class JobSlots:
    """Bulk read jobs in flight at Zoho, handed out first come, first served.

    A slot is held only while Zoho works on a job (created or taken back, not yet finished), and
    that always ends within the job's time limit, so a waiter never waits on work that cannot
    proceed. Handing slots out in arrival order keeps one busy module from starving another.
    """

    def __init__(self, count: int, stopping: threading.Event) -> None:
        self._free = count
        self._stopping = stopping
        self._turns: collections.deque[object] = collections.deque()
        self._changed = threading.Condition()

    def acquire(self, stream: str, timeout: float) -> None:
        """Wait for a slot, at most `timeout` seconds, ending early when the run stops."""
        turn = object()
        deadline = time.monotonic() + timeout
        with self._changed:
            self._turns.append(turn)
            try:
                while self._turns[0] is not turn or self._free == 0:
                    if self._stopping.is_set():
                        msg = f"The export of '{stream}' was stopped."
                        raise ExportStopped(msg)
                    left = deadline - time.monotonic()
                    if left <= 0:
                        msg = (
                            f"'{stream}' waited {timeout:.0f}s for one of the "
                            "max_concurrent_jobs job slots; other modules' jobs held them all. "
                            "Raise max_concurrent_jobs or job_timeout_seconds."
                        )
                        raise JobFailedError(msg)
                    self._changed.wait(min(left, 0.5))
                self._free -= 1
            finally:
                self._turns.remove(turn)
                self._changed.notify_all()

    def release(self) -> None:
        with self._changed:
            self._free += 1
            self._changed.notify_all()

    def wake(self) -> None:
        """Let every waiter see that the run is stopping."""
        with self._changed:
            self._changed.notify_all()
