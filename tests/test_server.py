"""The Prefect server of a run: the first run in a folder starts from the empty database `make install` migrated, not
from a migration of its own; a folder's own database is never replaced."""

from __future__ import annotations

import sqlite3

import pytest

from sieve.flows.server import PrefectServer, build_template, seed_database
from sieve.schemas.errors import UsageError
from tests.conftest import unanswered_port


def _tables(database) -> set[str]:
    with sqlite3.connect(database) as db:
        return {name for (name,) in db.execute("select name from sqlite_master where type = 'table'")}


def test_a_folder_without_a_database_starts_from_the_migrated_template(tmp_path, monkeypatch):
    monkeypatch.delenv("PREFECT_API_DATABASE_CONNECTION_URL", raising=False)
    template = tmp_path / "cache" / "prefect.db"
    build_template(template)  # Prefect's own `prefect server database upgrade`
    assert {"alembic_version", "flow_run", "task_run"} <= _tables(template)

    home = tmp_path / "home"
    assert seed_database(home, template)
    assert (home / "prefect.db").read_bytes() == template.read_bytes()

    (home / "prefect.db").write_bytes(b"a folder's own database")
    assert not seed_database(home, template)  # never replaced
    assert (home / "prefect.db").read_bytes() == b"a folder's own database"

    assert not seed_database(tmp_path / "no-template", tmp_path / "missing.db")  # no template: Prefect migrates
    monkeypatch.setenv("PREFECT_API_DATABASE_CONNECTION_URL", "postgresql+asyncpg://db/prefect")
    assert not seed_database(tmp_path / "elsewhere", template)  # a database of the user's own: left to Prefect


def test_a_users_server_counts_as_up_when_it_answers_whatever_it_answers(monkeypatch):
    """PREFECT_API_URL's server must answer its health check: an HTTP error is an answer (Prefect Cloud asks for a
    key there) and the run goes on; a refused connection is one UsageError naming the address."""
    import http.server
    import threading

    class AskForAKey(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(401)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), AskForAKey) as httpd:
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        monkeypatch.setenv("PREFECT_API_URL", f"http://127.0.0.1:{httpd.server_address[1]}/api")
        PrefectServer().wait_ready()
        httpd.shutdown()
    with unanswered_port() as port:
        url = f"http://127.0.0.1:{port}/api"
        monkeypatch.setenv("PREFECT_API_URL", url)
        with pytest.raises(UsageError, match=f"PREFECT_API_URL={url}: no Prefect server answers there"):
            PrefectServer().wait_ready()
