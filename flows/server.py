"""The Prefect API server of one `sieve run`: a child process that starts early, so its seconds of start-up overlap
the command's checks and imports, and that dies with the command, even when the command is SIGKILLed.

Prefect's own ephemeral server (what a library call of `curate` uses) is left behind when its parent is killed.

A Prefect home without a database (the first run in a folder) starts from an empty database that `make install`
migrated once for this Prefect version (database_template): a server migrating a new database itself is ready
about 4 s later.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from importlib.metadata import version
from pathlib import Path
from types import TracebackType

from sieve.flows.prefect_env import configure_prefect
from sieve.schemas.errors import UsageError
from sieve.transforms.lifecycle import die_with_parent

# A running server answers its health check in milliseconds; a wrong address is refused at once, an unreachable host
# times out here instead of after the client's retries.
USER_SERVER_TIMEOUT_SECONDS = 10.0


class PrefectServer:
    """Context manager: runs a Prefect API server for the block and points PREFECT_API_URL at it meanwhile.

    An explicit PREFECT_API_URL (the user's own server) is respected: then nothing is started.
    """

    def __init__(self) -> None:
        self.process: subprocess.Popen | None = None
        self.url = os.environ.get("PREFECT_API_URL")

    def __enter__(self) -> PrefectServer:
        configure_prefect()
        if self.url:
            return self
        seed_database(Path(os.environ["PREFECT_HOME"]), database_template())
        # This process binds the port and hands the listening socket over: no race for a free port, and the
        # URL is known at once.
        with socket.create_server(("127.0.0.1", 0)) as listener:
            self.url = f"http://127.0.0.1:{listener.getsockname()[1]}/api"
            # The settings Prefect gives its own ephemeral server: no UI, only the services a temporary server needs.
            env = {
                **os.environ,
                "PREFECT_UI_ENABLED": "0",
                "PREFECT__SERVER_EPHEMERAL": "1",
                "PREFECT__SERVER_FINAL": "1",
            }
            # Its own process group: a Ctrl-C in the terminal reaches the command, which still needs the server
            # to record how the flow ended, and stops it afterwards.
            self.process = subprocess.Popen(
                [sys.executable, "-m", "sieve.flows.server", str(listener.fileno()), str(os.getpid())],
                pass_fds=[listener.fileno()],
                env=env,
                process_group=0,
            )
        # No UI, and gone after the command: no "View at" link to a dead page.
        os.environ.update(PREFECT_API_URL=self.url, PREFECT_UI_URL="")
        return self

    def wait_ready(self) -> None:
        """Block until the server answers its health check; fail with its exit code if it died on the way. A user's
        server (PREFECT_API_URL) must answer at once: otherwise one line says what to do, not a client traceback."""
        if self.process is None:
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=USER_SERVER_TIMEOUT_SECONDS):
                    return
            except urllib.error.HTTPError:  # it answered (Prefect Cloud asks for a key here): the client takes over
                return
            except OSError as e:
                reason = getattr(e, "reason", e)
                raise UsageError(
                    f"PREFECT_API_URL={self.url}: no Prefect server answers there ({reason}); start it "
                    "(`prefect server start`) or unset PREFECT_API_URL, and sieve runs a server of its own"
                ) from None
        deadline = time.monotonic() + float(os.environ["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"])
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"the Prefect server exited with code {self.process.returncode} before it was "
                    "ready (its error is printed above)"
                )
            try:
                # Connecting succeeds at once (the socket already listens); the answer comes once the app is up.
                with urllib.request.urlopen(f"{self.url}/health", timeout=max(deadline - time.monotonic(), 0.1)):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"the Prefect server at {self.url} was not ready in time "
                        "(PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS)"
                    ) from None
                time.sleep(0.1)

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        if self.process is None:
            return
        _send_pending()
        for key in ("PREFECT_API_URL", "PREFECT_UI_URL"):
            os.environ.pop(key, None)
        if kind is None:
            self.process.terminate()
        else:  # a usage error or a failed run: no graceful stop, which would first let a starting server finish starting
            self.process.kill()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _send_pending() -> None:
    """Send the logs and events Prefect still queues while the server is up; at exit it would retry for a minute."""
    if "prefect" not in sys.modules:
        return
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    for worker in (APILogWorker, EventsWorker):
        worker.drain_all(timeout=5)


def database_template() -> Path:
    """Where `make install` keeps an empty Prefect database migrated for the installed Prefect version (the user's
    cache folder, like KenLM's programs): SIEVE_PREFECT_DB_TEMPLATE, if set, names another."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "sieve"
    return Path(os.environ.get("SIEVE_PREFECT_DB_TEMPLATE") or cache / f"prefect-{version('prefect')}.db")


def seed_database(home: Path, template: Path) -> bool:
    """Copy template to home's Prefect database when home has none and Prefect's default database is in use;
    whether it did."""
    database = home / "prefect.db"
    if "PREFECT_API_DATABASE_CONNECTION_URL" in os.environ or database.exists() or not template.is_file():
        return False
    home.mkdir(parents=True, exist_ok=True)
    partial = database.with_name(f".prefect.db.{os.getpid()}")
    shutil.copyfile(template, partial)
    partial.replace(database)  # a server never sees half a copy
    return True


def build_template(template: Path) -> None:
    """Migrate an empty Prefect database into template (Prefect's own `prefect server database upgrade`, about 9 s),
    unless it is there already."""
    if template.is_file():
        return
    template.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as home:
        env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_DATABASE_CONNECTION_URL"}
        prefect = str(Path(sys.executable).parent / "prefect")
        subprocess.run(
            [prefect, "server", "database", "upgrade", "-y"],
            env={**env, "PREFECT_HOME": home, "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1"},
            check=True,
            capture_output=True,
        )
        partial = template.with_name(f".{template.name}.{os.getpid()}")
        shutil.copyfile(Path(home) / "prefect.db", partial)
        partial.replace(template)
    print(f"prefect: an empty database migrated for this version in {template}")


def serve(listener_fd: int, command_pid: int) -> None:
    """Child side: tie this process to the command, then serve Prefect's API on the socket it was handed."""
    if not die_with_parent(command_pid):  # the command died before this process got here
        return
    import uvicorn  # the command itself never needs it

    config = uvicorn.Config("prefect.server.api.server:create_app", factory=True, log_level="error", lifespan="on")
    uvicorn.Server(config).run(sockets=[socket.socket(fileno=listener_fd)])


if __name__ == "__main__":
    if sys.argv[1:] == ["--template"]:  # make install
        build_template(database_template())
    else:
        serve(int(sys.argv[1]), int(sys.argv[2]))
