"""Shared bench helpers: a fresh database, a project, a list of N contacts (bulk inserts), a campaign,
a verified DKIM domain (marked verified in SQL: the bench has no DNS)."""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path

import sqlalchemy as sa

from sendhouse.bootstrap import build_container
from sendhouse.config import Settings
from sendhouse.domain import ids
from sendhouse.domain.times import utcnow
from sendhouse.services import campaigns as campaign_service
from sendhouse.services import domains as domain_service
from sendhouse.services import projects as project_service
from sendhouse.store.migrate import upgrade_to_head
from sendhouse.store.schema.audience import contact_lists, contacts, list_members
from sendhouse.store.schema.content import domains

CHUNK = 5000
HTML = (
    '<html><head><style>p{color:#333}</style></head><body><h1>News for {{first_name | "you"}}</h1>'
    + "<p>Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 30
    + '</p><a href="https://example.com/a">Read</a> <a href="https://example.com/b">More</a></body></html>'
)


def fresh_database(url: str | None) -> tuple[str, Path]:
    """A new empty migrated database: SQLite in a temp dir, or a new database on the given server."""
    data_dir = Path(tempfile.mkdtemp(prefix="sendhouse-bench-"))
    if not url:
        url = f"sqlite:///{data_dir / 'bench.db'}"
    else:
        name = f"sendhouse_bench_{uuid.uuid4().hex[:8]}"
        admin = sa.create_engine(
            url.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT"
        )
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        url = url.rsplit("/", 1)[0] + "/" + name
    upgrade_to_head(url)
    return url, data_dir


def drop_database(url: str) -> None:
    if url.startswith("postgresql"):
        base, name = url.rsplit("/", 1)
        admin = sa.create_engine(
            base.replace("postgresql://", "postgresql+psycopg://") + "/postgres", isolation_level="AUTOCOMMIT"
        )
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def container(url: str, data_dir: Path, **overrides):
    settings = Settings(data_dir=data_dir, database_url=url, secret_key="bench-secret", **overrides)
    return build_container(settings, migrate=False)


async def seed(db, size: int) -> tuple[str, str]:
    """(project id, list id) with `size` contacts on the list."""
    project = await project_service.create_project(db, name=f"bench-{uuid.uuid4().hex[:6]}")
    now, list_id = utcnow(), ids.new_id()
    async with db.write() as conn:
        await conn.execute(
            contact_lists.insert().values(
                id=list_id, project_id=project["id"], name="All", type="list", created_at=now, updated_at=now
            )
        )
    for start in range(0, size, CHUNK):
        people = [
            {
                "id": ids.new_id(),
                "project_id": project["id"],
                "email": f"user{i}@example.com",
                "custom_fields": {},
                "first_name": f"User{i}",
                "created_at": now,
                "updated_at": now,
            }
            for i in range(start, min(size, start + CHUNK))
        ]
        async with db.write() as conn:
            await conn.execute(contacts.insert(), people)
            await conn.execute(
                list_members.insert(),
                [{"list_id": list_id, "contact_id": p["id"], "created_at": now} for p in people],
            )
    return project["id"], list_id


def campaign_body(list_id: str) -> dict:
    """The bench campaign, as a client publishes it: to one list, sent now, tracking on."""
    return {
        "name": "Bench",
        "subject": "Bench {{first_name}}",
        "htmlTemplate": HTML,
        "from": {"email": "news@example.com", "name": "News"},
        "toLists": [list_id],
        "sendNow": True,
        "trackingOpen": True,
        "trackingClick": True,
    }


async def scheduled_campaign(db, project_id: str, list_id: str) -> str:
    created = await campaign_service.create_campaign(db, project_id, campaign_body(list_id), send_now_delay=0)
    return created["id"]


async def verified_dkim_domain(built, project_id: str, name: str, dkim: bool = True) -> None:
    """A sending domain with a fresh DKIM key, marked VERIFIED with DKIM on or off (as the DNS check would)."""
    added = await domain_service.add_domain(built.db, built.settings, project_id, domain=name)
    async with built.db.write() as conn:
        await conn.execute(
            domains.update()
            .where(domains.c.id == added["id"])
            .values(
                verification_status="VERIFIED",
                ownership_verified=True,
                dkim_enabled=dkim,
                verified_at=utcnow(),
            )
        )
