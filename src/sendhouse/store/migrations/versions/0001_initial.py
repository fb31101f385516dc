"""Initial schema.

Revision ID: 0001
Revises:
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Pre-release: the first schema is created from store/schema. Before the first release this
    # file is replaced by explicit operations (alembic autogenerate) and frozen.
    from sendhouse.store.schema import metadata

    metadata.create_all(op.get_bind())


def downgrade() -> None:
    from sendhouse.store.schema import metadata

    metadata.drop_all(op.get_bind())
