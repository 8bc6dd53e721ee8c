"""Ties a child process's life to the process that started it, so nothing a run starts outlives it, even a SIGKILL."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator

POLL_SECONDS = 0.5


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
