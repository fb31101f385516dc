"""The triggers that keep `contact_lists.member_count` equal to the list's rows in `list_members`.

Every writer of list_members is covered because the database itself counts: API adds and removes,
bulk-add, CSV imports, the dashboard, and the deletes that cascade from contacts and lists.
- PostgreSQL: statement-level AFTER INSERT / DELETE / UPDATE triggers read the statement's
  transition tables and change each list's count once per statement (one grouped UPDATE), after
  locking the lists' rows in id order (two statements counting the same lists never deadlock).
  A delete cascading from contacts or lists fires them through the cascade's own DELETEs.
- SQLite: row-level AFTER INSERT / DELETE triggers (SQLite has no statement triggers); foreign
  key cascades fire them (tests/integration/test_member_counts.py checks).
- UPDATE: nothing in the code changes a member's list_id; the UPDATE triggers keep the count
  right if anything ever does.

The same SQL is frozen in migration 0015_member_counts; `metadata.create_all` runs this copy
(after_create of list_members) so a database made either way counts alike (a test compares them).
"""

from __future__ import annotations

import sqlalchemy as sa

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

POSTGRESQL = [
    statement
    for name, event, tables, rows, changes in _PG
    for statement in (
        _PG_FUNCTION.format(name=name, rows=rows, changes=changes),
        _PG_TRIGGER.format(name=name, event=event, tables=tables),
    )
]
POSTGRESQL_DROP = [f"DROP FUNCTION IF EXISTS {name}() CASCADE" for name, *_ in _PG]

SQLITE = [
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
]


def install(table: sa.Table) -> None:
    """Create the triggers whenever `metadata.create_all` creates list_members (and drop the
    PostgreSQL functions with it)."""
    for statement in POSTGRESQL:
        sa.event.listen(table, "after_create", sa.DDL(statement).execute_if(dialect="postgresql"))
    for statement in POSTGRESQL_DROP:
        sa.event.listen(table, "after_drop", sa.DDL(statement).execute_if(dialect="postgresql"))
    for statement in SQLITE:
        sa.event.listen(table, "after_create", sa.DDL(statement).execute_if(dialect="sqlite"))
