"""The migrated schema matches the tables in store/schema, on both databases."""

from __future__ import annotations

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
