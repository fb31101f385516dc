"""contact_lists.member_count: a static list's rows in list_members, kept by database triggers on
list_members so that every writer (API, bulk-add, CSV import, dashboard, deletes cascading from
contacts and lists) keeps it; backfilled by counting list_members.

PostgreSQL: statement-level AFTER INSERT / DELETE / UPDATE triggers with transition tables, one
grouped UPDATE of contact_lists per statement (the lists' rows locked in id order first). SQLite:
row-level AFTER INSERT / DELETE / UPDATE OF list_id triggers (foreign key cascades fire them).
The code never updates a member's list_id (list_members rows are only inserted and deleted); the
UPDATE triggers are there so that an UPDATE, should one ever be written, keeps the count too.

The SQL is frozen here; store/schema/member_counts.py holds the same for `metadata.create_all`.

Revision ID: 0015_member_counts
Revises: 0014_inbound_processing_index
"""

import sqlalchemy as sa
from alembic import op

revision = "0015_member_counts"
down_revision = "0014_inbound_processing_index"
branch_labels = None
depends_on = None

_PG_FUNCTION = """
CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $body$
BEGIN
    PERFORM 1 FROM contact_lists
        WHERE id IN (SELECT list_id FROM {rows}) ORDER BY id FOR NO KEY UPDATE;
    UPDATE contact_lists AS l SET member_count = l.member_count + d.change
        FROM (SELECT list_id, sum(change) AS change FROM ({changes}) AS c
              GROUP BY list_id HAVING sum(change) <> 0) AS d
        WHERE l.id = d.list_id;
    RETURN NULL;
END
$body$
"""
_PG_TRIGGER = """
CREATE TRIGGER {name} AFTER {event} ON list_members
    REFERENCING {tables} FOR EACH STATEMENT EXECUTE FUNCTION {name}()
"""
_ADDED = "SELECT list_id, 1 AS change FROM added_members"
_REMOVED = "SELECT list_id, -1 AS change FROM removed_members"
_PG = (  # (name, event, transition tables, rows to lock, changes)
    ("list_members_added", "INSERT", "NEW TABLE AS added_members", "added_members", _ADDED),
    ("list_members_removed", "DELETE", "OLD TABLE AS removed_members", "removed_members", _REMOVED),
    (
        "list_members_moved",
        "UPDATE",
        "OLD TABLE AS removed_members NEW TABLE AS added_members",
        f"({_ADDED} UNION ALL {_REMOVED}) AS m",
        f"{_ADDED} UNION ALL {_REMOVED}",
    ),
)

SQLITE = (
    """
CREATE TRIGGER list_members_added AFTER INSERT ON list_members BEGIN
    UPDATE contact_lists SET member_count = member_count + 1 WHERE id = new.list_id;
END
""",
    """
CREATE TRIGGER list_members_removed AFTER DELETE ON list_members BEGIN
    UPDATE contact_lists SET member_count = member_count - 1 WHERE id = old.list_id;
END
""",
    """
CREATE TRIGGER list_members_moved AFTER UPDATE OF list_id ON list_members
WHEN old.list_id IS NOT new.list_id BEGIN
    UPDATE contact_lists SET member_count = member_count - 1 WHERE id = old.list_id;
    UPDATE contact_lists SET member_count = member_count + 1 WHERE id = new.list_id;
END
""",
)

BACKFILL = (
    "UPDATE contact_lists SET member_count = "
    "(SELECT count(*) FROM list_members m WHERE m.list_id = contact_lists.id)"
)


def upgrade() -> None:
    op.add_column(
        "contact_lists", sa.Column("member_count", sa.Integer(), server_default="0", nullable=False)
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("LOCK TABLE list_members IN SHARE MODE")  # no member changes between count and triggers
        for name, event, tables, rows, changes in _PG:
            op.execute(_PG_FUNCTION.format(name=name, rows=rows, changes=changes))
            op.execute(_PG_TRIGGER.format(name=name, event=event, tables=tables))
    else:
        for statement in SQLITE:
            op.execute(statement)
    op.execute(BACKFILL)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name, *_ in _PG:
            op.execute(f"DROP FUNCTION {name}() CASCADE")
    else:
        for name in ("list_members_added", "list_members_removed", "list_members_moved"):
            op.execute(f"DROP TRIGGER {name}")
    op.execute("ALTER TABLE contact_lists DROP COLUMN member_count")
