"""Suppression groups: `is_default` marks each project's default (non-global) group.

A suppression without a groupId goes there (AutoSend's rule); projects made before this revision
get their default group the first time one is needed.

Revision ID: 0004_compat
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_compat"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("suppression_groups") as batch:
        batch.add_column(sa.Column("is_default", sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("suppression_groups") as batch:
        batch.drop_column("is_default")
