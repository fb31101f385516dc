"""Entries into automations, made inside the transaction of the change that causes them.

Every path that changes contacts (the contacts API and its duplicate, bulk update when
`runWorkflow` is not false, adding to a list, CSV import, the dashboard through the same services)
calls `contacts_changed` with the rows before and after, and `/events/send` calls
`event_received`. Matching active automations get a run row in that same transaction, so a crash
can never lose an entry, and an entry is made at most once (a unique key per automation, contact
and entry).

Who enters (our decisions where the reference is silent, as Customer.io and Loops users expect):
- contact_created: a contact created after activation; contact_added_to_list: a contact added to
  the list that was not in it already (or, for a segment, a contact a change leaves in the
  segment); property triggers: a change that makes the filter match (it did not before), or
  from→to of `propertyName` (`fromValue`/`toValue`, either may be omitted; a first value is not a
  change). A `contactListId` on another trigger limits entries to its members; `filterCriteria`
  must match.
- Contact triggers enter a contact once per automation. An event enters anew for each event,
  unless the contact is still in the automation (allowReentry = true for event triggers only).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from sendhouse.domain import ids
from sendhouse.domain.automations import facts, matches
from sendhouse.domain.times import utcnow
from sendhouse.store import automation_runs as runs
from sendhouse.store import automations as store
from sendhouse.store import contacts as contact_store
from sendhouse.store import segments as segment_store

CONTACT_TRIGGERS = (
    "contact_created",
    "contact_added_to_list",
    "contact_property_matches_with",
    "contact_property_changes_from_to",
)


async def watching(conn: AsyncConnection, project_id: str) -> list[dict]:
    """The project's active automations entered by contact changes."""
    return await store.active_with_triggers(conn, project_id, CONTACT_TRIGGERS)


async def contacts_changed(
    conn: AsyncConnection,
    project_id: str,
    pairs: Sequence[tuple[dict | None, dict | None]],
    *,
    added_to: Sequence[str] = (),
    flows: list[dict] | None = None,
    now: datetime | None = None,
) -> None:
    """Enrol the contacts of (before, after) pairs into the automations the change triggers;
    `added_to`: the list ids every one of these contacts was just added to."""
    flows = await watching(conn, project_id) if flows is None else flows
    changed = [(before, after) for before, after in pairs if after is not None]
    if not flows or not changed:
        return
    members, segments = await _memberships(conn, project_id, flows, [after["id"] for _, after in changed])
    now, added = now or utcnow(), set(added_to)
    rows = [
        _run_row(flow, after, now, "once", None)
        for flow in flows
        for before, after in changed
        if _enters(
            flow["entry_criteria"],
            before,
            after,
            added | segments.get(after["id"], set()),
            members.get(after["id"], set()),
        )
    ]
    await runs.enroll(conn, rows)


async def _memberships(
    conn: AsyncConnection, project_id: str, flows: list[dict], contact_ids: list[str]
) -> tuple[dict[str, set], dict[str, set]]:
    """({contact id: its lists and segments}, {contact id: its segments}), read only when some
    automation names a list."""
    if not any(f["entry_criteria"].get("contactListId") for f in flows):
        return {}, {}
    lists = await contact_store.list_ids_of(conn, contact_ids)
    segments = await segment_store.segment_ids_for_contacts(conn, project_id, contact_ids)
    in_segments = {cid: set(segments.get(cid, [])) for cid in contact_ids}
    return {cid: set(lists.get(cid, [])) | in_segments[cid] for cid in contact_ids}, in_segments


def _enters(entry: dict, before: dict | None, after: dict, added: set[str], member_of: set[str]) -> bool:
    """added: the lists the contact was just added to and the segments it is now in."""
    kind, list_id = entry["type"], entry.get("contactListId")
    if kind == "contact_added_to_list":
        return bool(list_id) and list_id in added and matches(entry["filterCriteria"], facts(after, None))
    if list_id and list_id not in member_of:
        return False
    if kind == "contact_created":
        return before is None and matches(entry["filterCriteria"], facts(after, None))
    if kind == "contact_property_matches_with":
        now_matching = matches(entry["filterCriteria"], facts(after, None))
        return now_matching and (before is None or not matches(entry["filterCriteria"], facts(before, None)))
    return _changed_from_to(entry, before, after)


def _changed_from_to(entry: dict, before: dict | None, after: dict) -> bool:
    name = entry.get("propertyName")
    if before is None or not name:
        return False
    old, new = facts(before, None).get(name), facts(after, None).get(name)
    if old is None or old == new:
        return False
    return (
        (entry.get("fromValue") is None or old == entry["fromValue"])
        and (entry.get("toValue") is None or new == entry["toValue"])
        and matches(entry["filterCriteria"], facts(after, None))
    )


async def event_received(conn: AsyncConnection, project_id: str, contact: dict, event_row: dict) -> None:
    """Enrol the contact into the active automations this event triggers (filters checked)."""
    flows = [
        f
        for f in await store.active_with_triggers(conn, project_id, ("event_trigger",))
        if f["entry_criteria"].get("eventName") == event_row["event_name"]
    ]
    if not flows:
        return
    event = {"name": event_row["event_name"], "properties": event_row["properties"]}
    members, _segments = await _memberships(conn, project_id, flows, [contact["id"]])
    busy = await runs.active_contacts(conn, [f["id"] for f in flows], [contact["id"]])
    rows = [
        _run_row(f, contact, event_row["created_at"], event_row["id"], event)
        for f in flows
        if (f["id"], contact["id"]) not in busy
        and _event_enters(f["entry_criteria"], contact, event, members.get(contact["id"], set()))
    ]
    await runs.enroll(conn, rows)


def _event_enters(entry: dict, contact: dict, event: dict, member_of: set[str]) -> bool:
    list_id = entry.get("contactListId")
    return (not list_id or list_id in member_of) and matches(entry["filterCriteria"], facts(contact, event))


def _run_row(flow: dict, contact: dict, now: datetime, entry_key: str, event: dict | None) -> dict:
    steps = flow["steps"] or []
    return {
        "id": ids.new_id(),
        "project_id": flow["project_id"],
        "automation_id": flow["id"],
        "contact_id": contact["id"],
        "entry_key": entry_key,
        "status": "active",
        "step_id": steps[0]["stepId"] if steps else None,
        "due_at": now,
        "event": event,
        "entered_at": now,
        "updated_at": now,
    }
