"""The Prefect server of a run: the first run in a folder starts from the empty database `make install` migrated, not
from a migration of its own; a folder's own database is never replaced."""

from __future__ import annotations

import sqlite3

from sieve.flows.server import build_template, seed_database


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
