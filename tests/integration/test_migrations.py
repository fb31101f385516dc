"""The migrated schema matches the tables in store/schema, on both databases; a database at the
newest revision is recognised without loading Alembic, one behind is upgraded."""

from __future__ import annotations

import subprocess
import sys

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from sendhouse.store.db import sync_url
from sendhouse.store.schema import metadata


def test_migrations_match_the_schema(db_url):
    engine = sa.create_engine(sync_url(db_url))
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        differences = compare_metadata(context, metadata)
    engine.dispose()
    assert differences == []


def test_every_table_exists_after_migration(db_url):
    engine = sa.create_engine(sync_url(db_url))
    names = set(sa.inspect(engine).get_table_names())
    engine.dispose()
    assert set(metadata.tables) <= names


def test_downgrade_to_base_and_upgrade_again(db_url):
    from alembic import command

    from sendhouse.store.migrate import alembic_config, upgrade_to_head

    command.downgrade(alembic_config(db_url), "base")
    engine = sa.create_engine(sync_url(db_url))
    left = set(sa.inspect(engine).get_table_names()) - {"alembic_version"}
    engine.dispose()
    assert left == set()
    upgrade_to_head(db_url)
    test_migrations_match_the_schema(db_url)


def test_the_head_read_from_the_files_is_alembics_head(db_url):
    from alembic.script import ScriptDirectory

    from sendhouse.store.migrate import alembic_config, head_revision

    assert head_revision() == ScriptDirectory.from_config(alembic_config(db_url)).get_current_head()


def test_one_revision_behind_is_upgraded_and_at_head_alembic_is_not_loaded(db_url):
    """upgrade_to_head skips Alembic only when the database is at the newest revision."""
    from alembic import command

    from sendhouse.store.migrate import alembic_config, head_revision

    command.downgrade(alembic_config(db_url), "-1")
    upgrade = f"from sendhouse.store.migrate import upgrade_to_head as up; up({db_url!r}); import sys; "
    loaded = "print('alembic' in sys.modules)"
    run = [sys.executable, "-c", upgrade + loaded]
    behind = subprocess.run(run, capture_output=True, text=True, check=True).stdout.strip()
    at_head = subprocess.run(run, capture_output=True, text=True, check=True).stdout.strip()
    engine = sa.create_engine(sync_url(db_url))
    with engine.connect() as conn:
        version = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one()
    engine.dispose()
    assert (behind, at_head, version) == ("True", "False", head_revision())
    test_migrations_match_the_schema(db_url)
