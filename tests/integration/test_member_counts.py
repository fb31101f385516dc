"""contact_lists.member_count on both databases: after every kind of writer of list_members (API
adds and removes, bulk-add, CSV import, contact deletes that cascade, list deletes) it equals a
recount; concurrent adds to one list end with the right count; the reads show the column; the
migration backfills it and `metadata.create_all` makes the same triggers as the migration."""

from __future__ import annotations

import asyncio
import io
import uuid

import sqlalchemy as sa
from alembic import command

from sendhouse.domain import ids
from sendhouse.domain.times import utcnow
from sendhouse.services import lists as list_service
from sendhouse.services.imports import csv_rows, import_rows
from sendhouse.store import contacts as contact_store
from sendhouse.store.db import sync_url
from sendhouse.store.migrate import alembic_config, upgrade_to_head
from sendhouse.store.schema import metadata
from sendhouse.store.schema.audience import contact_lists, contacts, list_members
from sendhouse.store.schema.core import organizations, projects
from tests.conftest import _pg_url

BASE = "/v1/contact-lists"

_RECOUNT = sa.select(
    contact_lists.c.id,
    contact_lists.c.member_count,
    sa.select(sa.func.count())
    .where(list_members.c.list_id == contact_lists.c.id)
    .scalar_subquery()
    .label("counted"),
)


async def counts(db) -> dict[str, int]:
    """{list id: member_count}, after checking every list's column against a recount."""
    async with db.read() as conn:
        rows = (await conn.execute(_RECOUNT)).all()
    assert [(r.id, r.member_count) for r in rows] == [(r.id, r.counted) for r in rows]
    return {r.id: r.member_count for r in rows}


async def make_list(api, tenant, name: str) -> str:
    response = await api.client.post(BASE, json={"name": name}, headers=tenant.headers)
    assert response.status_code == 200, response.text
    return response.json()["data"]["id"]


async def bulk_add(api, tenant, list_id: str, **refs) -> dict:
    body = {"contactListId": list_id, **refs}
    response = await api.client.post(f"{BASE}/contacts/bulk-add", json=body, headers=tenant.headers)
    assert response.status_code == 200, response.text
    return response.json()["data"]


async def test_api_writers_keep_the_count(api, tenant):
    first, second = await make_list(api, tenant, "First"), await make_list(api, tenant, "Second")
    assert await counts(api.db) == {first: 0, second: 0}
    made = await api.client.post(
        "/v1/contacts", json={"email": "a@example.com", "listIds": [first, second]}, headers=tenant.headers
    )
    assert made.status_code == 200, made.text
    added = await bulk_add(api, tenant, first, emails=["a@example.com", "b@example.com", "c@example.com"])
    assert (added["added"], added["alreadyInList"], added["totalContactsInList"]) == (2, 1, 3)
    again = await bulk_add(api, tenant, first, contactIds=[made.json()["data"]["id"]])
    assert (again["added"], again["totalContactsInList"]) == (0, 3)  # re-adding a member counts once
    upsert = await api.client.post(
        "/v1/contacts/email",
        json={"email": "b@example.com", "listIds": [first, second]},
        headers=tenant.headers,
    )
    assert upsert.status_code == 200, upsert.text
    assert await counts(api.db) == {first: 3, second: 2}
    removed = await api.client.post(
        f"{BASE}/{first}/contacts/remove", json={"emails": ["c@example.com"]}, headers=tenant.headers
    )
    assert removed.status_code == 200 and removed.json()["data"]["removed"] == 1
    assert await counts(api.db) == {first: 2, second: 2}
    gone = await api.client.delete(f"/v1/contacts/{made.json()['data']['id']}", headers=tenant.headers)
    assert gone.status_code == 200, gone.text  # the cascade removes its memberships of both lists
    assert await counts(api.db) == {first: 1, second: 1}
    deleted = await api.client.delete(f"{BASE}/{second}", headers=tenant.headers)
    assert deleted.status_code == 200 and deleted.json()["data"]["contactCount"] == 1
    assert await counts(api.db) == {first: 1, second: 1}  # soft delete: its members stay, counted


async def test_reads_show_the_column(api, tenant):
    """The routes read member_count, not a count: a column set wrong on purpose shows through."""
    plain = await make_list(api, tenant, "Plain")
    await bulk_add(api, tenant, plain, emails=["a@example.com", "b@example.com"])
    async with api.db.write() as conn:
        await conn.execute(contact_lists.update().where(contact_lists.c.id == plain).values(member_count=41))
    listed = (await api.client.get(BASE, headers=tenant.headers)).json()["data"]["lists"]
    assert [x["contactCount"] for x in listed if x["id"] == plain] == [41]
    one = (await api.client.get(f"{BASE}/{plain}", headers=tenant.headers)).json()["data"]
    assert one["contactCount"] == 41
    page = await api.client.post(
        f"{BASE}/contacts/search", json={"contactListId": plain}, headers=tenant.headers
    )
    assert page.json()["data"]["pagination"]["total"] == 41
    campaign_id = await _campaign(api, tenant, [plain])
    got = (await api.client.get(f"/v1/campaigns/{campaign_id}", headers=tenant.headers)).json()["data"]
    assert [x["contactCount"] for x in got["toLists"]] == [41]


async def _campaign(api, tenant, to_lists: list[str]) -> str:
    """A draft campaign to these lists, made through the API."""
    body = {"name": "c", "subject": "s", "htmlTemplate": "<p>x</p>", "toLists": to_lists}
    answer = await api.client.post("/v1/campaigns", json=body, headers=tenant.headers)
    assert answer.status_code in (200, 201), answer.text
    return answer.json()["data"]["id"]


CSV = "email,first_name\n" + "".join(f"user{i}@example.com,U{i}\n" for i in range(25)) + "bad-address,X\n"


async def test_csv_import_counts_each_member_once(api, tenant):
    target = await make_list(api, tenant, "Imported")
    await bulk_add(api, tenant, target, emails=["user3@example.com"])  # already a member before the import
    for _ in range(2):  # the re-import adds nobody
        header, rows = csv_rows(io.StringIO(CSV))
        report = await import_rows(api.db, tenant.project_id, header, rows, list_id=target, chunk_size=10)
        assert report.failed == 1
        assert await counts(api.db) == {target: 25}


async def test_deletes_cascading_from_contacts_and_lists_fire_the_triggers(api, tenant):
    first, second = await make_list(api, tenant, "First"), await make_list(api, tenant, "Second")
    await bulk_add(api, tenant, first, emails=[f"u{i}@example.com" for i in range(6)])
    await bulk_add(api, tenant, second, emails=[f"u{i}@example.com" for i in range(3, 9)])
    assert await counts(api.db) == {first: 6, second: 6}
    async with api.db.write() as conn:  # one statement deleting contacts of both lists
        emails = [f"u{i}@example.com" for i in (0, 3, 4, 8)]
        await contact_store.delete_by_emails(conn, tenant.project_id, emails)
    assert await counts(api.db) == {first: 3, second: 3}
    async with api.db.write() as conn:  # a list's row itself deleted: its members go by cascade
        await conn.execute(contact_lists.delete().where(contact_lists.c.id == first))
    assert await counts(api.db) == {second: 3}
    async with api.db.read() as conn:
        left = (await conn.execute(sa.select(sa.func.count()).select_from(list_members))).scalar_one()
    assert left == 3


async def test_concurrent_adds_to_one_list(api, tenant):
    """Eight transactions (eight connections on PostgreSQL) add overlapping sets of contacts to one
    list at once, each holding its transaction open a moment after its INSERT."""
    target = await make_list(api, tenant, "Busy")
    emails = [f"c{i}@example.com" for i in range(120)]
    await bulk_add(api, tenant, "GLOBAL_CONTACT_LIST", emails=emails)

    async def add(part: int) -> None:
        async with api.db.write() as conn:
            chosen = emails[part * 10 : part * 10 + 40]  # each overlaps the next three
            await contact_store.add_emails_to_list(conn, tenant.project_id, target, chosen, utcnow())
            await asyncio.sleep(0.05)

    await asyncio.gather(*(add(part) for part in range(9)))
    assert await counts(api.db) == {target: 120}
    answer = await api.client.get(f"{BASE}/{target}", headers=tenant.headers)
    assert answer.json()["data"]["contactCount"] == 120


async def test_concurrent_service_adds_and_removes(api, tenant):
    target = await make_list(api, tenant, "Churn")
    batches = [[f"b{n}-{i}@example.com" for i in range(30)] for n in range(6)]
    await asyncio.gather(
        *(list_service.bulk_add(api.db, tenant.project_id, target, emails=b, contact_ids=[]) for b in batches)
    )
    assert await counts(api.db) == {target: 180}
    await asyncio.gather(
        *(
            list_service.remove_contacts(api.db, tenant.project_id, target, emails=b[:10], contact_ids=[])
            for b in batches
        )
    )
    assert await counts(api.db) == {target: 120}


def _seed_members(url: str, sizes: dict[str, int]) -> None:
    """Lists with these many members, written straight into the tables (before the triggers)."""
    engine, now, org, project = sa.create_engine(sync_url(url)), utcnow(), ids.new_id(), ids.new_id()
    with engine.begin() as conn:
        conn.execute(organizations.insert().values(id=org, name="o", created_at=now))
        conn.execute(
            projects.insert().values(
                id=project, organization_id=org, name="p", created_at=now, updated_at=now
            )
        )
        for list_id, size in sizes.items():
            conn.execute(
                contact_lists.insert().values(
                    id=list_id, project_id=project, name=list_id, type="list", created_at=now, updated_at=now
                )
            )
            people = [
                {
                    "id": ids.new_id(),
                    "project_id": project,
                    "email": f"{list_id}{i}@x.com",
                    "custom_fields": {},
                }
                for i in range(size)
            ]
            for person in people:
                conn.execute(contacts.insert().values(**person, created_at=now, updated_at=now))
                conn.execute(
                    list_members.insert().values(list_id=list_id, contact_id=person["id"], created_at=now)
                )
    engine.dispose()


def test_the_migration_backfills_the_counts(db_url):
    command.downgrade(alembic_config(db_url), "0014_inbound_processing_index")
    sizes = {ids.new_id(): 4, ids.new_id(): 0, ids.new_id(): 7}
    _seed_members(db_url, sizes)
    upgrade_to_head(db_url)
    engine = sa.create_engine(sync_url(db_url))
    with engine.begin() as conn:
        found = dict(conn.execute(sa.select(contact_lists.c.id, contact_lists.c.member_count)).all())
        assert found == sizes
        first = next(iter(sizes))
        conn.execute(list_members.delete().where(list_members.c.list_id == first))
        after = conn.execute(sa.select(contact_lists.c.member_count).where(contact_lists.c.id == first))
        assert after.scalar_one() == 0
    engine.dispose()


def _triggers(conn: sa.Connection) -> list[tuple[str, ...]]:
    """The definitions of list_members' triggers (and their functions on PostgreSQL)."""
    if conn.dialect.name == "sqlite":
        query = "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'list_members'"
    else:
        query = (
            "SELECT t.tgname, pg_get_triggerdef(t.oid), pg_get_functiondef(t.tgfoid) FROM pg_trigger t "
            "WHERE t.tgrelid = 'list_members'::regclass AND NOT t.tgisinternal"
        )
    return sorted(tuple(row) for row in conn.execute(sa.text(query)))


def test_create_all_makes_the_triggers_the_migration_made(db_url, db_kind, tmp_path):
    engine = sa.create_engine(sync_url(db_url))
    with engine.connect() as conn:
        migrated = _triggers(conn)
    engine.dispose()
    assert [t[0] for t in migrated] == ["list_members_added", "list_members_moved", "list_members_removed"]
    if db_kind == "sqlite":
        fresh_url, drop = f"sqlite:///{tmp_path / 'created.db'}", None
    else:
        name = f"sendhouse_test_ca_{uuid.uuid4().hex[:8]}"
        admin = sa.create_engine(sync_url(_pg_url("postgres")), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        fresh_url, drop = _pg_url(name), f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
    try:
        fresh = sa.create_engine(sync_url(fresh_url))
        metadata.create_all(fresh)
        with fresh.connect() as conn:
            created = _triggers(conn)
        fresh.dispose()
        assert created == migrated
    finally:
        if drop:
            with admin.connect() as conn:
                conn.execute(sa.text(drop))
            admin.dispose()
