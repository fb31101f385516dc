"""Turning claimed ledger rows into OutgoingMessages with domain.mime.

A Composer compiles one Skeleton per campaign (with a DkimSigner when the sender's domain is a
verified domain of the project with DKIM) (or per transactional content row) and renders it
per recipient, with the row's own Message-ID. Skeletons are cached for the worker's lifetime, so a
100,000-recipient campaign is compiled once. Content comes from the campaign's columns (its
html_template or its template's html) or from a transactional row's payload["content"].
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from sendhouse.config import Settings
from sendhouse.delivery.dkim import DkimSigner
from sendhouse.domain import mime
from sendhouse.errors import AppError
from sendhouse.services.domains import dkim_signer_material
from sendhouse.services.transactional import transactional_spec
from sendhouse.store import campaigns as campaign_store
from sendhouse.store import ledger
from sendhouse.store.contacts import merge_fields_of
from sendhouse.store.db import Database
from sendhouse.store.templates import get_template

CACHE_LIMIT = 256
RENDER_SLICE = 50  # messages rendered between two yields to the event loop


class ContentMissing(AppError):
    """The message's campaign or content no longer exists."""

    code = "CONTENT_MISSING"


def campaign_spec(campaign: dict, template: dict | None) -> mime.MessageSpec:
    """The MessageSpec of a campaign: its own columns, html from html_template or its template."""
    html = campaign["html_template"] or (template or {}).get("html") or ""
    text = (template or {}).get("plain_text") if not campaign["html_template"] else None
    return mime.MessageSpec(
        project_id=campaign["project_id"],
        kind="campaign",
        from_email=campaign["from_email"] or "",
        from_name=campaign["from_name"],
        reply_to=campaign["reply_to"],
        subject=campaign["subject"],
        html=html,
        text=text,
        preview_text=campaign["preview_text"],
        headers={},
        tracking_open=bool(campaign["tracking_open"]),
        tracking_click=bool(campaign["tracking_click"]),
        unsubscribe_group=campaign["unsubscribe_group_id"],
        campaign_id=campaign["id"],
        attachments=(),
    )


def contact_variables(contact: dict | None, row: dict) -> dict:
    """Merge-tag data of a campaign recipient: its contact's fields and custom fields."""
    if contact is None:
        return {"email": row["email"]}
    custom = dict(contact.get("custom_fields") or {})
    return {
        **custom,
        "email": row["email"],
        "first_name": contact["first_name"],
        "last_name": contact["last_name"],
        "firstName": contact["first_name"],
        "lastName": contact["last_name"],
        "user_id": contact["user_id"],
        "userId": contact["user_id"],
    }


@dataclass
class Composer:
    """Builds messages for claimed rows, caching one compiled skeleton per content."""

    db: Database
    links: mime.LinkSettings
    settings: Settings | None = None  # for DKIM key material (services.domains); None: never sign
    _skeletons: dict[str, object] = field(default_factory=dict)

    async def compose(self, rows: list[dict]) -> dict[str, object]:
        """row id → OutgoingMessage, or the exception that stopped it from being built. What the
        rows need is read in one short read transaction; rendering happens outside it and yields
        to the event loop every RENDER_SLICE messages (so messages already composed keep flowing)."""
        async with self.db.read() as conn:
            await self._load_campaigns(conn, rows)
            skeletons = {
                cid: self._skeletons.get(cid) for cid in {r["campaign_id"] for r in rows if r["campaign_id"]}
            }
            contacts_by_id = await _contacts_of(conn, rows)
            skeletons.update(
                {
                    row["id"]: await self._transactional_or_error(conn, row)
                    for row in rows
                    if row["kind"] == "transactional"
                }
            )
        built = {}
        for n, row in enumerate(rows, 1):
            built[row["id"]] = self._one(row, contacts_by_id, skeletons)
            if n % RENDER_SLICE == 0:
                await asyncio.sleep(0)
        return built

    @staticmethod
    def _one(row: dict, contacts_by_id: dict, skeletons: dict):
        """skeletons: campaign id or transactional row id → Skeleton (or why there is none)."""
        try:
            if row["kind"] == "transactional":
                skeleton, variables = skeletons[row["id"]], transactional_variables(row)
            else:
                skeleton = skeletons[row["campaign_id"]]
                variables = contact_variables(contacts_by_id.get(row["contact_id"]), row)
            if skeleton is None:
                raise ContentMissing()
            if isinstance(skeleton, Exception):
                return skeleton
            return skeleton.render(recipient(row, variables))
        except Exception as error:  # noqa: BLE001 - a broken message must not stop the batch
            return error

    async def _transactional_or_error(self, conn, row: dict):
        try:
            return await self._transactional(conn, row)
        except Exception as error:  # noqa: BLE001 - a broken message must not stop the batch
            return error

    async def _load_campaigns(self, conn, rows: list[dict]) -> None:
        wanted = {r["campaign_id"] for r in rows if r["kind"] != "transactional"} - set(self._skeletons)
        if not wanted:
            return
        for campaign in await campaign_store.get_many(conn, sorted(wanted)):
            template = (
                await get_template(conn, campaign["project_id"], campaign["template_id"])
                if campaign["template_id"] and not campaign["html_template"]
                else None
            )
            spec = campaign_spec(campaign, template)
            self._remember(
                campaign["id"], mime.compile_skeleton(spec, self.links, dkim=await self._dkim(conn, spec))
            )

    async def _transactional(self, conn, row: dict):
        payload = row["payload"] or {}
        content_row = payload.get("contentRowId") or row["id"]
        key = f"tx:{content_row}"
        if key not in self._skeletons:
            content = payload.get("content")
            if content is None:
                content = (await ledger.payload_of(conn, content_row)).get("content")
            if content is None:
                raise ContentMissing()
            spec = transactional_spec({"content": content}, row["project_id"])
            self._remember(key, mime.compile_skeleton(spec, self.links, dkim=await self._dkim(conn, spec)))
        return self._skeletons[key]

    async def _dkim(self, conn, spec: mime.MessageSpec) -> DkimSigner | None:
        """The signer of the sender's domain when the project has a verified domain with DKIM (once
        per skeleton: the key is loaded and unsealed once per campaign or transactional content)."""
        domain = spec.from_email.rpartition("@")[2].lower()
        if self.settings is None or not domain:
            return None
        material = await dkim_signer_material(conn, self.settings, spec.project_id, domain)
        return DkimSigner(*material) if material else None

    def _remember(self, key: str, skeleton) -> None:
        if len(self._skeletons) >= CACHE_LIMIT:
            self._skeletons.pop(next(iter(self._skeletons)))
        self._skeletons[key] = skeleton


def recipient(row: dict, variables: dict) -> mime.Recipient:
    """The Recipient of one ledger row: its address, Message-ID and merge data."""
    return mime.Recipient(
        message_id=row["id"],
        message_id_header=row["message_id_header"],
        email=row["email"],
        name=row["name"],
        variables=variables,
    )


def transactional_variables(row: dict) -> dict:
    """Merge-tag data of a transactional recipient: the mail's dynamicData and the address."""
    payload = row["payload"] or {}
    return {**dict(payload.get("dynamicData") or {}), "email": row["email"]}


async def _contacts_of(conn, rows: list[dict]) -> dict[str, dict]:
    return await merge_fields_of(conn, sorted({r["contact_id"] for r in rows if r["contact_id"]}))
