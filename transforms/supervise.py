"""Runs record ranges in a child process and enforces a wall-clock limit per document, across every stage.

The child processes a whole range (transforms/ranges.py) and reports the record and stage it is in through
a shared Beacon, so supervision costs no message per document. A document stuck past the limit, or one
that crashes the child, gets its child killed; the range is then redone with that document dropped
(reason `timeout` or `crashed`, stage named), so a pathological page costs one record, never the run.

A local job's Beam workers run in the launching process (threads, or its in-memory worker): the other work they do
(cutting input files into ranges, merging a file's parts into its shards) goes to an idle child too
(in_range_process), so the launcher's own CPU does not grow with the corpus.
"""

from __future__ import annotations

import atexit
import importlib.abc
import itertools
import json
import os
import pickle
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
import weakref
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any, TypeVar

from sieve.schemas.config import Config
from sieve.schemas.document import Drop
from sieve.transforms import storage
from sieve.transforms.lifecycle import stopping
from sieve.transforms.ranges import IDLE, READING, Beacon, process_range

# What the range worker hides: no document stage uses either. spaCy's thinc (under presidio) and presidio's device check
# import torch when it is installed (the trainer's dependency), 2 s of every worker's start; pyarrow imports pandas
# (Beam's dependency) on its first array to check for pandas objects, 0.5 s.
WORKER_HIDES = ("torch", "pandas")
# A range process with nothing to do for this long after a range prepares for the corpus passes (see serve).
IDLE_SECONDS = 0.2


class _Hidden(importlib.abc.MetaPathFinder):
    """Makes `import name` fail for the named top-level packages. Absent rather than stubbed, so libraries that probe
    for them see none at all."""

    def __init__(self, names: tuple[str, ...]) -> None:
        self.names = frozenset(names)

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name.split(".", 1)[0] in self.names:
            raise ModuleNotFoundError(f"No module named {name!r} (hidden in this sieve process)", name=name)
        return None


def hide_modules(*names: str) -> None:
    """From now on, importing one of these packages in this process fails as if it were not installed (one already
    imported stays)."""
    sys.meta_path.insert(0, _Hidden(names))


class RangeFailed(RuntimeError):
    """The range cannot be finished: its reader (not a document stage) hung or crashed."""


# The child's command: it ties itself to the supervising process first, before seconds of imports, and ends at once
# if that process is already gone (killed while the child started).
SERVE = (
    "from sieve.transforms.lifecycle import die_with_parent; die_with_parent({pid}) or exit(1); "
    "from sieve.transforms.supervise import serve; serve()"
)


def serve() -> None:
    """Child side (started by SERVE): receive the config, then process ranges until told to stop. Talks over
    stdin/stdout."""
    hide_modules(*WORKER_HIDES)
    # A terminal's Ctrl-C reaches the whole process group; this process ends with its supervisor instead.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # the stages and presidio load in the child only; the supervising parent never runs them
    from sieve.filters.pii import scrubber
    from sieve.transforms.stages import build_filters

    reply = Connection(os.dup(1), readable=False)
    os.dup2(2, 1)  # stray prints from libraries must not corrupt the reply channel
    requests = Connection(0, writable=False)
    if (run := _next(requests)) is None:
        os._exit(0)
    cfg, run_dir, beacon_fd, worker, spawned = run
    filters = build_filters(cfg)  # presidio is not among them: the scrubber builds it on the first text that needs it
    beacon = Beacon(beacon_fd)
    reply.send([f.stage for f in filters])
    # the first range after a (re)start carries this process's start-up, for the run's phases
    timing = {"worker": worker, "warmup": round(time.time() - spawned, 3)}
    prepare: bool | None = False  # corpus passes follow, once a range has said so; None once prepared
    while True:
        if prepare and not requests.poll(IDLE_SECONDS):
            # Idle after a range of a run whose passes follow: import what their steps on files need here (see
            # CorpusJobs.map_here), Beam, which their modules import (0.7 s), rather than on the first step while the
            # launcher waits for it.
            import apache_beam  # noqa: F401

            prepare = None
        if (job := _next(requests)) is None:
            break
        kind, *args = job
        if kind == "call":  # in_range_process: its result, or its error as the caller would have raised it
            fn, fn_args = args
            try:
                reply.send((True, fn(*fn_args)))
            except Exception as e:
                reply.send((False, _portable(e)))
            continue
        *args, follow = args
        try:
            reply.send((True, process_range(cfg, filters, run_dir, *args, beacon=beacon, timing=timing)))
            timing = {"worker": worker}
            prepare = follow if prepare is False else prepare
        except Exception:  # a bug, not a bad document: the supervisor fails the range loudly, its text scrubbed
            reply.send((False, scrubber(cfg.pii).scrub(traceback.format_exc(), None)[0]))
    # Every range's files are written and its reply sent: end now, without tearing the models down one object at a
    # time (a third of a second per process, which a Beam worker's exit waits for).
    sys.stderr.flush()
    os._exit(0)


def _portable(error: Exception) -> Exception:
    """error itself if it survives the trip to the supervisor (a StorageError's line stays the command's line), else
    a RuntimeError with its traceback."""
    try:
        pickle.loads(pickle.dumps(error))
        return error
    except Exception:
        return RuntimeError(f"range worker failed:\n{traceback.format_exc()}")


def _next(requests: Connection) -> Any:
    """The supervisor's next message; None (stop) once it is gone: its process ended without a word (killed, or a
    command that left before closing it), and this one ends too, quietly."""
    try:
        return requests.recv()
    except EOFError:
        return None


def worker_name(serial: int = 1) -> str:
    """The Beam worker a range ran in, for the run's phases: host:pid of its process, /serial for the second and
    later supervisor of one process (local Beam workers that are threads of the launcher)."""
    return f"{socket.gethostname()}:{os.getpid()}" + (f"/{serial}" if serial > 1 else "")


class RangeSupervisor:
    """Owns one long-lived child process and runs ranges in it under the per-document time limit."""

    def __init__(self, cfg: Config, run_dir: str) -> None:
        self.cfg, self.run_dir = cfg, run_dir
        self.limit = cfg.guard.document_timeout_seconds
        self._beacon, self._beacon_file = Beacon.create()
        self._proc: subprocess.Popen | None = None
        self.stages: list[str] | None = None  # the child's stages, once it has built them
        self.name = worker_name(next(_serials))
        self.key = _key(cfg, run_dir)
        self.busy = threading.Lock()  # held while the child runs a range or a call
        with _lock:
            _live.add(self)

    def _start(self) -> None:
        """Start the child and hand it the run; it imports and builds its stages meanwhile (see _ready)."""
        spawned = time.time()
        self._proc = subprocess.Popen(
            [sys.executable, "-c", SERVE.format(pid=os.getpid())],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            pass_fds=(self._beacon_file.fileno(),),  # the beacon, by descriptor under the same number
        )
        self._send = Connection(os.dup(self._proc.stdin.fileno()), readable=False)
        self._recv = Connection(os.dup(self._proc.stdout.fileno()), writable=False)
        self._send.send((self.cfg, self.run_dir, self._beacon_file.fileno(), self.name, spawned))
        self.stages = None

    @property
    def started(self) -> bool:
        return self._proc is not None

    def _ready(self) -> None:
        """Wait until the child has built its stages."""
        if self.stages is None:
            self.stages = self._recv.recv()

    def run(self, source: dict[str, Any], first: int, end: int) -> dict[str, Any]:
        """Process one range to completion; documents that hang or crash the child are dropped and the range redone."""
        with self.busy:
            given_up: dict[int, Drop] = {}
            while True:
                if self._proc is None:
                    self._start()
                self._ready()
                self._beacon.set(IDLE, IDLE)
                self._send.send(("range", source, first, end, given_up, self.key in _passes_follow))
                outcome = self._wait()
                if isinstance(outcome, dict):
                    outcome["retries"] = len(given_up)
                    return outcome
                reason, offset, stage, details = outcome
                if stopping():  # the stop ended the child (lifecycle.end_workers): no document is to blame
                    raise RangeFailed(f"{source['name']}: the range at offset {first} was stopped part way")
                if stage == READING or offset < 0:
                    raise RangeFailed(f"{source['name']}: the WARC reader {reason} near offset {offset} ({details})")
                given_up[offset] = Drop(self.stages[stage], reason, details)

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        """fn(*args) in the child (fn and args picklable: a module's function): its result, or the error it raised.
        No time limit: what is called reads and writes files, bounded by storage's retries, not documents. The
        caller holds busy; the child is started."""
        self._ready()
        self._send.send(("call", fn, args))
        try:
            ok, value = self._recv.recv()
        except (EOFError, OSError):
            code = self._stop()
            what = "was stopped" if stopping() else f"died (exit code {code})"
            raise RangeFailed(f"the range process running {fn.__name__} {what}") from None
        if not ok:
            raise value
        return value

    def _wait(self) -> dict[str, Any] | tuple[str, int, int, str]:
        """The range's result, or (reason, offset, stage, details) for the document that hung or crashed."""
        seen, since = None, time.monotonic()
        while True:
            try:
                if self._recv.poll(min(self.limit / 4, 0.5)):
                    ok, value = self._recv.recv()
                    if not ok:
                        raise RuntimeError(f"range worker failed:\n{value}")
                    return value
            except (EOFError, OSError):
                offset, stage = self._beacon.get()
                code = self._stop()
                return "crashed", offset, stage, f"the worker process died (exit code {code})"
            now, position = time.monotonic(), self._beacon.get()
            # reading a record and writing the range's parts wait on storage, which retries for a bounded time
            limit = self.limit + (storage.retry_seconds() if position[1] < 0 else 0)
            if position != seen:
                seen, since = position, now
            elif now - since > limit:
                self._stop()
                return (
                    "timeout",
                    position[0],
                    position[1],
                    f"no progress for {limit} s (guard.document_timeout_seconds"
                    + (", plus storage's retries)" if limit > self.limit else ")"),
                )

    def _stop(self) -> int | None:
        proc, self._proc = self._proc, None
        if proc is None:
            return None
        proc.kill()
        code = proc.wait()
        for conn in (self._send, self._recv):
            conn.close()
        proc.stdin.close()
        proc.stdout.close()
        return code

    def close(self) -> None:
        """Stop the child cleanly and release the beacon."""
        if self._proc is not None and self._proc.poll() is None:
            try:
                self._send.send(None)
                self._proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                pass
        self._stop()
        self._beacon.close()
        self._beacon_file.close()
        with _lock:
            _live.discard(self)


# Supervisors whose DoFn was torn down, by (config, run folder), with their child still warm. Beam's DaskRunner sets a
# DoFn up and tears it down again for every partition, and each new supervisor's child costs 2-5 s to start: a
# process keeps its children instead and hands them to the next DoFn of the same run.
_idle: dict[tuple[str, str], list[RangeSupervisor]] = {}
_lock = threading.Lock()  # guards _idle and _live: local Beam workers may be threads of one process
_serials = itertools.count(1)  # supervisors made in this process
_live: weakref.WeakSet[RangeSupervisor] = weakref.WeakSet()  # every supervisor of this process not yet closed
_passes_follow: set[tuple[str, str]] = set()  # the runs whose range processes the corpus passes will use (keep_warm)
T = TypeVar("T")


def _key(cfg: Config, run_dir: str) -> tuple[str, str]:
    return json.dumps(cfg.as_dict(), sort_keys=True, default=str), run_dir


def take_supervisor(cfg: Config, run_dir: str) -> RangeSupervisor:
    """A supervisor for cfg's ranges into run_dir: one this process released, else a new one."""
    with _lock:
        idle = _idle.get(_key(cfg, run_dir))
        if idle:
            return idle.pop()
    return RangeSupervisor(cfg, run_dir)


def release_supervisor(supervisor: RangeSupervisor) -> None:
    """Keep supervisor, its child warm, for the next take_supervisor of the same run in this process."""
    with _lock:
        _idle.setdefault(supervisor.key, []).append(supervisor)


def in_range_process(cfg: Config, run_dir: str, fn: Callable[..., T], *args: Any) -> T:
    """fn(*args) in a started range process of cfg's run into run_dir that is not busy with a range, once it has
    loaded its models: a local job runs its stages one after another, so the input files' splits find the processes
    warm_up started and the merges those the ranges ran in. In this process when there is none (a job run without
    warm_up)."""
    key = _key(cfg, run_dir)
    with _lock:
        candidates = list(_live)
    for supervisor in candidates:
        if supervisor.key == key and supervisor.busy.acquire(blocking=False):
            try:
                if supervisor.started:
                    return supervisor.call(fn, *args)
            finally:
                supervisor.busy.release()
    return fn(*args)


def has_range_processes(cfg: Config, runner: str) -> bool:
    """Whether a job of cfg on runner runs its ranges in range processes of the launching process: a local job
    (Beam's DirectRunner) with the per-document time limit on."""
    return runner == "DirectRunner" and cfg.guard.document_timeout_seconds > 0


def range_processes(cfg: Config, run_dir: str) -> int:
    """How many started range processes of cfg's run into run_dir this process holds (busy or idle)."""
    key = _key(cfg, run_dir)
    with _lock:
        return sum(1 for s in _live if s.key == key and s.started)


def passes_follow(cfg: Config, run_dir: str) -> None:
    """Tell the range processes of cfg's run into run_dir, with their next range, that the run's corpus passes will
    use them once its Beam job is done (run_job's keep_warm): they prepare when they go idle (serve)."""
    with _lock:
        _passes_follow.add(_key(cfg, run_dir))


def warm_up(cfg: Config, run_dir: str, count: int) -> None:
    """Start count supervisors' children now, for a local job about to run cfg into run_dir: their imports and model
    loads overlap the launcher's own start instead of following it. The job's Beam workers take them (take_supervisor);
    close_idle stops any the job did not need (a resumed run with every range finished)."""
    for _ in range(count):
        supervisor = RangeSupervisor(cfg, run_dir)
        supervisor._start()
        release_supervisor(supervisor)


@atexit.register
def close_idle() -> None:
    """Stop the children of the supervisors this process keeps warm (at its exit, or once its local job is done)."""
    with _lock:
        supervisors = [s for group in _idle.values() for s in group]
        _idle.clear()
        _passes_follow.clear()
    for supervisor in supervisors:
        supervisor.close()
