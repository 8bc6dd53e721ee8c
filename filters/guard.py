"""Runs a function in a child process with a wall-clock deadline, so one pathological page cannot stall a worker."""
from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any


class GuardTimeout(Exception):
    """The call ran past its deadline; the child was killed and will be restarted."""


class GuardCrash(Exception):
    """The child died or raised; the message says how."""


def serve() -> None:
    """Child side: receive the function, then answer calls until told to stop. Talks over stdin/stdout."""
    reply = Connection(os.dup(1), readable=False)
    os.dup2(2, 1)  # stray prints from libraries must not corrupt the reply channel
    requests = Connection(0, writable=False)
    fn = requests.recv()
    while (args := requests.recv()) is not None:
        try:
            reply.send((True, fn(*args)))
        except Exception as e:  # reported to the parent as a failure of this one call
            reply.send((False, f"{type(e).__name__}: {e}"))


class TimeGuard:
    """Calls fn(*args) in a long-lived child process; kills and restarts it when a call exceeds timeout seconds.

    A plain subprocess (not multiprocessing) so it works the same under Beam workers, pytest and any __main__.
    """

    def __init__(self, fn: Callable[..., Any], timeout: float) -> None:
        self.fn = fn
        self.timeout = timeout
        self._proc: subprocess.Popen | None = None

    def _start(self) -> None:
        self._proc = subprocess.Popen(
            [sys.executable, "-c", "from filters.guard import serve; serve()"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": _import_root()},
        )
        self._send = Connection(os.dup(self._proc.stdin.fileno()), readable=False)
        self._recv = Connection(os.dup(self._proc.stdout.fileno()), writable=False)
        self._send.send(self.fn)

    def __call__(self, *args: Any) -> Any:
        if self._proc is None or self._proc.poll() is not None:
            self._start()
        try:
            self._send.send(args)
            if not self._recv.poll(self.timeout):
                self._kill()
                raise GuardTimeout(f"exceeded {self.timeout} s")
            ok, value = self._recv.recv()
        except (EOFError, OSError):
            code = self._proc.poll()
            self._kill()
            raise GuardCrash(f"extractor process died (exit code {code})") from None
        if not ok:
            raise GuardCrash(value)
        return value

    def _kill(self) -> None:
        if self._proc is None:
            return
        self._proc.kill()
        self._proc.wait()
        for conn in (self._send, self._recv):
            conn.close()
        self._proc.stdin.close()
        self._proc.stdout.close()
        self._proc = None

    def close(self) -> None:
        """Stop the child cleanly."""
        if self._proc is not None and self._proc.poll() is None:
            try:
                self._send.send(None)
                self._proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                pass
        self._kill()


def _import_root() -> str:
    """PYTHONPATH that lets the child import this package even when it is not installed."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)
