"""Worker processes that read pieces of large result files while the tap's process writes.

Starting them safely is most of the work: forked from a fork server rather than from the tap's
threaded process, with a socket path that fits, leaving the process group's signals to the tap
and ending with it however it ends. What a worker does with a piece is the caller's: the pool
knows nothing of result files.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import multiprocessing
import multiprocessing.resource_tracker
import multiprocessing.util
import os
import signal
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ProcessPoolExecutor
from multiprocessing.connection import Connection
from typing import ParamSpec, TypeVar

T = TypeVar("T")
P = ParamSpec("P")

#: What a terminal's ^C and an orchestrator's SIGTERM send to the tap's whole process group. The
#: tap's own process decides how the run ends and then shuts its workers down, so they leave
#: these alone; SIGTERM only where a worker can tell who sent it (`_start_worker`).
_GROUP_SIGNALS = (
    {signal.SIGINT, signal.SIGTERM} if hasattr(signal, "sigwaitinfo") else {signal.SIGINT}
)
#: Room for an AF_UNIX socket's path, its ending NUL included: Linux's sun_path, and a cautious
#: guess elsewhere (both what Python 3.13's multiprocessing assumes).
_SUN_PATH_MAX = 108 if sys.platform == "linux" else 92
#: multiprocessing's own temporary folder, as it names it (8 random characters, from tempfile).
_MULTIPROCESSING_TEMP_DIR = "pymp-12345678"
#: What the fork server's socket path adds to that folder: its name, named alike, and the NUL.
_SOCKET_NAME = len("/listener-12345678") + 1
#: Where multiprocessing keeps its temporary folder when TMPDIR is too deep for the socket, in
#: the order Python 3.13's multiprocessing tries them (mkdtemp makes a private folder in one).
_SHORT_TEMP_DIRS = ("/tmp", "/var/tmp", "/usr/tmp")  # noqa: S108


class ParsePool(ProcessPoolExecutor):
    """Worker processes for `RecordReader.map_pieces`.

    Forked from a fork server that has imported only what reading needs (the modules named in
    `preload`, which the caller knows and the pool does not), where there is one: not from the
    tap's process, whose download threads may hold locks at any moment, and not spawned, which
    would import the tap's main module (and singer-sdk) again in every worker.
    Workers ignore Ctrl-C and an orchestrator's SIGTERM (the tap's own process decides how to
    stop, and stops them) and exit when the tap's process is gone, however it ended:
    multiprocessing's own pipes would keep a killed tap's workers, fork server and resource
    tracker waiting for each other forever.
    """

    def __init__(self, processes: int, *, preload: Iterable[str] = ()) -> None:
        self._forks = "forkserver" in multiprocessing.get_all_start_methods()
        if self._forks:
            context = multiprocessing.get_context("forkserver")
            # Always set: multiprocessing's default would preload the tap's main module.
            context.set_forkserver_preload(list(preload))
        else:
            context = multiprocessing.get_context("spawn")  # type: ignore[assignment]
        # Only this process holds the writing end: workers read end-of-file once it is gone.
        tap_alive, self._tap_alive = context.Pipe(duplex=False)
        super().__init__(
            processes,
            mp_context=context,
            initializer=_start_worker,
            initargs=(tap_alive, os.getpid()),
        )
        #: Pieces kept in flight: two per worker, so that none waits for the next.
        self.ahead = 2 * processes

    def can_start_workers(self) -> bool:
        """False where the fork server would have no socket (see `_fork_server_can_listen`):
        the caller reads in its own process instead."""
        return not self._forks or _fork_server_can_listen()

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        """Submit with the process group's signals blocked in this thread.

        A submit starts the fork server (or spawns a worker) when it needs one, and the mask is
        inherited across fork and exec: a signal to the group then waits, instead of killing
        the fork server with a traceback while it imports what workers need, before
        multiprocessing makes it ignore ^C (and then the tap, which was waiting for it). The
        fork server keeps the mask (it ends with the tap anyway) and hands it to the workers
        it forks, until `_start_worker` settles the signals. Multiprocessing starts its
        resource tracker the same way (bpo-33613), but unblocks both signals afterwards: it is
        started first, so that it does not unblock them here.
        """
        if not hasattr(signal, "pthread_sigmask"):  # Windows: no process group to signal
            return super().submit(fn, *args, **kwargs)
        multiprocessing.resource_tracker.ensure_running()
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, _GROUP_SIGNALS)
        try:
            return super().submit(fn, *args, **kwargs)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        super().shutdown(wait, cancel_futures=cancel_futures)
        self._tap_alive.close()


@functools.cache
def _fork_server_can_listen() -> bool:
    """Whether the fork server can bind its socket, moving multiprocessing's temporary folder
    out of a TMPDIR too deep for that; once per process, as multiprocessing keeps that folder.

    The socket is made in that folder, under TMPDIR, and its path must fit sun_path: with a
    deep TMPDIR the pool would fail as it starts its first worker, after Zoho was paid for
    the job. Python 3.12 and later fall back to /tmp and the like themselves; 3.11 does not.
    Where no such folder is writable either, large pages are read in the tap's process.
    """
    deep = tempfile.gettempdir()
    if _socket_fits_in(os.path.join(deep, _MULTIPROCESSING_TEMP_DIR)) or any(
        _multiprocessing_temp_dir_in(folder) for folder in _SHORT_TEMP_DIRS
    ):
        return True
    logging.getLogger(__name__).warning(
        "Reading large result files in the tap's own process: the worker processes' socket "
        "cannot be made in TMPDIR (%s is too long for a socket path) nor in any of %s.",
        deep,
        ", ".join(_SHORT_TEMP_DIRS),
    )
    return False


def _multiprocessing_temp_dir_in(folder: str) -> bool:
    """Whether multiprocessing's temporary folder, which it keeps for the process, made in
    `folder` (if it has none yet) leaves room for a socket's name; False if not writable."""
    # multiprocessing makes it in tempfile's default folder and offers no other way to choose:
    # change that default just for the call. The tap's other threads make no temporary files
    # meanwhile (downloads go into the folder made for them at the start), so the tap's own
    # files stay under TMPDIR.
    default, tempfile.tempdir = tempfile.tempdir, folder
    try:
        made = multiprocessing.util.get_temp_dir()
    except OSError:
        return False
    finally:
        tempfile.tempdir = default
    return _socket_fits_in(made)


def _socket_fits_in(folder: str) -> bool:
    return len(os.fsencode(folder)) + _SOCKET_NAME <= _SUN_PATH_MAX


def _start_worker(tap_alive: Connection, tap: int) -> None:
    """Leave the process group's signals to the tap (see `_GROUP_SIGNALS`) and end with it.

    A worker dying of ^C would print a KeyboardInterrupt traceback; one dying of the group's
    SIGTERM would break the pool under the piece the tap is finishing. SIGTERM from the tap's
    own process (the pool terminates its other workers once one died) still ends a worker.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def exit_with_the_tap() -> None:
        with contextlib.suppress(EOFError, OSError):
            tap_alive.recv_bytes()
        os._exit(1)

    def exit_when_the_tap_terminates() -> None:
        while signal.sigwaitinfo({signal.SIGTERM}).si_pid != tap:
            pass
        os._exit(1)

    if signal.SIGTERM in _GROUP_SIGNALS:
        # Blocked in every thread (those started here inherit it; the fork server's workers
        # have it blocked already) for the one that waits for it: a thread that did not block
        # it could take it, and the worker would die of it.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
        threading.Thread(target=exit_when_the_tap_terminates, name="sigterm", daemon=True).start()
    threading.Thread(target=exit_with_the_tap, name="tap-alive", daemon=True).start()
