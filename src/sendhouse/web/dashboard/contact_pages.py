"""Contact pages: the list with search, a contact's page (fields, lists, unsubscribes, events), and
adding, editing, deleting, unsubscribing (from one group or from everything) and resubscribing a
contact, through the same services as the API."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.datastructures import FormData

from sendhouse.domain.contacts import GLOBAL_CONTACT_LIST, csv_value
from sendhouse.domain.pagination import Page as Paging
from sendhouse.errors import AppError, InvalidInput
from sendhouse.services import contacts as contact_service
from sendhouse.services import events as event_service
from sendhouse.services import lists as list_service
from sendhouse.services import properties as property_service
from sendhouse.services import suppressions as suppression_service
from sendhouse.web.dashboard.common import Ctx, Form, Page, flash, problems, redirect, render, text
from sendhouse.web.dashboard.field_errors import refused

router = APIRouter()
PAGE_SIZE = 50
TEXT_FIELDS = ("firstName", "lastName", "userId", "mobile")
EVERYTHING = "global"  # the unsubscribe choice that stops all mail to the address


@router.get("/contacts")
async def contacts(request: Request, ctx: Page, q: str = "", page: int = 1):
    paging = Paging(max(page, 1), PAGE_SIZE)
    found, total = await list_service.search_contacts(
        ctx.db, ctx.project_id, GLOBAL_CONTACT_LIST, q or None, paging
    )
    return render(
        request,
        "dashboard/contacts.html",
        ctx,
        contacts=found,
        total=total,
        q=q,
        pagination=paging.describe(total),
    )


async def _properties(ctx: Ctx) -> list[dict]:
    return [
        {"name": r["name"], "type": r["type"]}
        for r in await property_service.list_property_rows(ctx.db, ctx.project_id)
    ]


async def _form_choices(ctx: Ctx, contact: dict | None = None) -> dict:
    """The properties to fill in, and the lists to add to (those the contact is not in yet)."""
    lists = await list_service.list_lists(ctx.db, ctx.project_id, "list")
    member_of = {GLOBAL_CONTACT_LIST, *((contact or {}).get("listIds") or [])}
    return {"properties": await _properties(ctx), "lists": [x for x in lists if x["id"] not in member_of]}


def _custom_fields(form: FormData, properties: list[dict], *, blank_removes: bool) -> dict[str, Any]:
    """The properties' form values typed as their property (a blank one removed, or left out)."""
    fields: dict[str, Any] = {}
    for prop in properties:
        raw = text(form, f"cf_{prop['name']}")
        if not raw:
            if blank_removes:
                fields[prop["name"]] = None
            continue
        value, problem = csv_value(prop["type"], raw)
        if problem:
            raise InvalidInput.field(f"customFields.{prop['name']}", problem)
        fields[prop["name"]] = value
    return fields


def _body(form: FormData, email: str, properties: list[dict], *, editing: bool) -> dict:
    """An API contact body from the form ("" clears a text field when editing)."""
    body: dict[str, Any] = {"email": email, **{name: text(form, name) for name in TEXT_FIELDS}}
    body["customFields"] = _custom_fields(form, properties, blank_removes=editing)
    body["listIds"] = [str(v) for v in form.getlist("listIds") if v]
    return body


def _values(contact: dict) -> dict:
    """A stored contact as the form's values."""
    return {
        **{name: contact.get(name) or "" for name in TEXT_FIELDS},
        "email": contact["email"],
        **{
            f"cf_{k}": "" if v is None else str(v).lower() if isinstance(v, bool) else str(v)
            for k, v in (contact.get("customFields") or {}).items()
        },
        "listIds": [],
    }


@router.get("/contacts/new")
async def new_contact(request: Request, ctx: Page):
    return render(
        request,
        "dashboard/contact_form.html",
        ctx,
        contact=None,
        values={"listIds": []},
        **await _form_choices(ctx),
    )


@router.post("/contacts/new")
async def create_contact(request: Request, ctx: Page, form: Form):
    choices = await _form_choices(ctx)
    try:
        body = _body(form, text(form, "email"), choices["properties"], editing=False)
        made = await contact_service.create_contact(ctx.db, ctx.project_id, body)
    except AppError as exc:
        return render(
            request,
            "dashboard/contact_form.html",
            ctx,
            status=400,
            contact=None,
            **refused(exc, codes={"CONTACT_ALREADY_EXISTS": "email"}),
            values={**dict(form), "listIds": form.getlist("listIds")},
            **choices,
        )
    flash(request, f"Contact {made['email']} added.")
    return redirect(request, f"/contacts/{made['id']}")


@router.get("/contacts/{contact_id}")
async def contact_detail(request: Request, ctx: Page, contact_id: str):
    contact = await contact_service.get_contact(ctx.db, ctx.project_id, contact_id)
    groups = await contact_service.unsubscribe_groups(ctx.db, ctx.project_id, contact_id)
    lists = {x["id"]: x["name"] for x in await list_service.list_lists(ctx.db, ctx.project_id, None)}
    events = await event_service.contact_events(ctx.db, ctx.project_id, contact_id)
    all_groups = [
        suppression_service.present_group(g)
        for g in await suppression_service.list_groups(ctx.db, ctx.project_id)
    ]
    return render(
        request,
        "dashboard/contact.html",
        ctx,
        contact=contact,
        groups=groups,
        list_names=lists,
        events=events,
        all_groups=all_groups,
    )


@router.get("/contacts/{contact_id}/edit")
async def edit_contact(request: Request, ctx: Page, contact_id: str):
    contact = await contact_service.get_contact(ctx.db, ctx.project_id, contact_id)
    return render(
        request,
        "dashboard/contact_form.html",
        ctx,
        contact=contact,
        values=_values(contact),
        **await _form_choices(ctx, contact),
    )


@router.post("/contacts/{contact_id}/edit")
async def update_contact(request: Request, ctx: Page, form: Form, contact_id: str):
    contact = await contact_service.get_contact(ctx.db, ctx.project_id, contact_id)
    choices = await _form_choices(ctx, contact)
    try:
        body = _body(form, contact["email"], choices["properties"], editing=True)
        await contact_service.upsert_contact(ctx.db, ctx.project_id, body)
    except AppError as exc:
        return render(
            request,
            "dashboard/contact_form.html",
            ctx,
            status=400,
            contact=contact,
            **refused(exc),
            values={**dict(form), "listIds": form.getlist("listIds")},
            **choices,
        )
    flash(request, "Contact saved.")
    return redirect(request, f"/contacts/{contact_id}")


@router.post("/contacts/{contact_id}/delete")
async def delete_contact(request: Request, ctx: Page, _form: Form, contact_id: str):
    contact = await contact_service.get_contact(ctx.db, ctx.project_id, contact_id)
    await contact_service.delete_contact(ctx.db, ctx.project_id, contact_id)
    flash(request, f"Contact {contact['email']} deleted.")
    return redirect(request, "/contacts")


@router.post("/contacts/{contact_id}/{action}")
async def change_subscription(request: Request, ctx: Page, form: Form, contact_id: str, action: str):
    """unsubscribe (from a group, or from everything) or resubscribe (lift it)."""
    contact = await contact_service.get_contact(ctx.db, ctx.project_id, contact_id)
    group = text(form, "group")
    everything = group == EVERYTHING
    try:
        if action == "unsubscribe":
            await suppression_service.suppress_emails(
                ctx.db,
                ctx.project_id,
                [contact["email"]],
                reason="UNSUBSCRIBE",
                group_code=None if everything else group,
                is_global=everything,
            )
            flash(request, "Unsubscribed: no more mail " + ("at all." if everything else "of that group."))
        elif action == "resubscribe":
            await suppression_service.unsuppress_emails(
                ctx.db, ctx.project_id, [contact["email"]], group_code=group, is_global=False
            )
            flash(request, "Resubscribed to that group.")
        else:
            return redirect(request, f"/contacts/{contact_id}")
    except AppError as exc:
        flash(request, " — ".join(problems(exc)), "error")
    return redirect(request, f"/contacts/{contact_id}")
