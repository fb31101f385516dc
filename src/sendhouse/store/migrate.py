"""Running Alembic migrations from code (`sendhouse migrate`, `sendhouse serve` on SQLite, tests).

A database already at the newest revision is the common case (every process on SQLite migrates
as it starts): it is recognised from the `revision` lines of the migration files and the
database's alembic_version row, without loading Alembic, which costs a process 0.4 s."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy import create_engine, event

from sendhouse.store.db import SQLITE_PRAGMAS, sync_url

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_ASSIGNED = re.compile(r'^(down_revision|revision)\s*=\s*(?:"([^"]*)"|None)', re.MULTILINE)


def alembic_config(url: str) -> Config:
    """An Alembic config pointing at our migrations and the given database."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", sync_url(url).replace("%", "%%"))
    return config


@cache
def head_revision() -> str | None:
    """The newest migration: the one revision no other names as its down_revision (None when the
    files do not make one line, which Alembic then sorts out)."""
    revisions: set[str | None] = set()
    parents: set[str | None] = set()
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        for name, value in _ASSIGNED.findall(path.read_text()):
            (revisions if name == "revision" else parents).add(value or None)
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def current_revision(conn: sa.Connection) -> str | None:
    """The revision the database is at (None before the first migration)."""
    if not sa.inspect(conn).has_table("alembic_version"):
        return None
    versions = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars().all()
    return versions[0] if len(versions) == 1 else None


def upgrade_to_head(url: str) -> None:
    """Bring the database at `url` to the newest schema."""
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(sync_url(url))
    if url.startswith("sqlite"):
        event.listen(engine, "connect", _sqlite_pragmas)
    head = head_revision()
    try:
        with engine.begin() as conn:
            if head is None or current_revision(conn) != head:
                _alembic_upgrade(conn, url)
    finally:
        engine.dispose()


def _alembic_upgrade(conn: sa.Connection, url: str) -> None:
    from alembic import command

    config = alembic_config(url)
    config.attributes["connection"] = conn
    command.upgrade(config, "head")


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cursor = dbapi_conn.cursor()
    for pragma in SQLITE_PRAGMAS:
        cursor.execute(pragma)
    cursor.close()
