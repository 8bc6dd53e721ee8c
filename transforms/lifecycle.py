"""Ties a child process's life to the process that started it, so nothing a run starts outlives it, even a SIGKILL;
and stops a command promptly on SIGINT or SIGTERM, with nothing left running."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

POLL_SECONDS = 0.5
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_stopping = threading.Event()  # set once this process is asked to stop


def _ancestors() -> Iterator[int]:
    """Parent, grandparent, ... of this process; orphans are re-parented (to init or a subreaper): the dead drop out."""
    pid = os.getppid()
    while pid > 0:
        yield pid
        try:
            with open(f"/proc/{pid}/stat") as f:  # only read past the parent; without /proc the chain ends there
                pid = int(f.read().rsplit(")", 1)[1].split()[1])
        except OSError:
            return


def die_with_parent(ancestor: int | None = None) -> bool:
    """Call first thing in a child process: a daemon thread ends the process as soon as its parent is gone.

    ancestor: the process to die with instead, if it is one of this process's ancestors (Beam starts its workers
    through `sh -c`, so their parent is a shell). Returns False, watching nothing, when it is not (a Dask or
    Dataflow worker, or a child whose parent died before this call).
    """
    watched = ancestor or os.getppid()
    if watched not in _ancestors():
        return False

    def watch() -> None:
        while watched in _ancestors():
            time.sleep(POLL_SECONDS)
        os._exit(1)

    # Not prctl(PR_SET_PDEATHSIG): it fires when the spawning *thread* exits, and Beam spawns from worker threads.
    threading.Thread(target=watch, name="die-with-parent", daemon=True).start()
    return True


class Stopped(KeyboardInterrupt):
    """SIGINT or SIGTERM asked the command to stop. Raised in its main thread, as Ctrl-C raises KeyboardInterrupt, so
    the command unwinds (its Prefect flow run marked crashed, its lease released, its Prefect server stopped) and exits
    with 128 + the signal's number, as a shell reports a process the signal ended."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def stopping() -> bool:
    """Whether this process was asked to stop: a child that dies now was ended by the stop, not by its document."""
    return _stopping.is_set()


@contextmanager
def stopped_by_signals() -> Iterator[None]:
    """For the block, SIGINT and SIGTERM raise Stopped (SIGTERM's default would end the process on the spot, its lease
    held and its flow run left Running); a second one ends the process at once, its children with it."""
    raised: list[int] = []

    def stop(signum: int, frame: Any) -> None:
        if raised:
            os._exit(128 + signum)
        raised.append(signum)
        _stopping.set()
        raise Stopped(signum)

    previous = {signum: signal.signal(signum, stop) for signum in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _own_group_descendants() -> list[int]:
    """This process's live descendants in its process group, parents before children (a child in a group of its own,
    like the Prefect server, is left out with everything below it). None found without /proc."""
    group, children = os.getpgrp(), {}
    try:
        entries = [entry for entry in os.listdir("/proc") if entry.isdigit()]
    except OSError:
        return []
    for entry in entries:
        try:
            with open(f"/proc/{entry}/stat") as f:
                state, ppid, pgrp = f.read().rsplit(")", 1)[1].split()[:3]
        except (OSError, ValueError):
            continue
        if state != "Z" and int(pgrp) == group:
            children.setdefault(int(ppid), []).append(int(entry))
    order, generation = [], [os.getpid()]
    while generation:
        generation = [child for parent in generation for child in children.get(parent, [])]
        order += generation
    return order


def end_workers() -> None:
    """SIGKILL the processes this one started in its own process group, and theirs (Beam's local workers and their
    range workers), parents first. Their finished ranges are on disk; the ranges in flight have no marker yet and are
    redone by the next run."""
    _stopping.set()
    threading.excepthook = _ended_by_the_stop
    for pid in _own_group_descendants():
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _ended_by_the_stop(args: threading.ExceptHookArgs) -> None:
    """The threads that waited on the ended workers fail now (Beam's "Worker subprocess exited"): the stop's doing,
    not worth a traceback each."""


@contextmanager
def workers_end_first() -> Iterator[None]:
    """For the block (a Beam job), SIGINT and SIGTERM first end this process's workers (end_workers), then reach the
    handler installed before (Prefect's flow engine's, the command's): Beam would otherwise wait for their ranges in
    flight, however long, before it lets the signal's exception through. Signals that end the process by default end
    its workers anyway (die_with_parent); only the main thread handles signals, so in any other the block runs as is."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def first_end_workers(handler: Callable[[int, Any], Any]) -> Callable[[int, Any], Any]:
        def handle(signum: int, frame: Any) -> Any:
            end_workers()
            return handler(signum, frame)

        return handle

    wrapped = {signum: handler for signum in STOP_SIGNALS if callable(handler := signal.getsignal(signum))}
    for signum, handler in wrapped.items():
        signal.signal(signum, first_end_workers(handler))
    try:
        yield
    finally:
        for signum, handler in wrapped.items():
            signal.signal(signum, handler)
