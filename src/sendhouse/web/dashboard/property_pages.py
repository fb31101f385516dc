"""Contact properties: the built-in fields and the project's own properties, created and deleted
here (the same service as the API's /contact-properties)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from sendhouse.domain.contacts import PROPERTY_TYPES
from sendhouse.errors import AppError
from sendhouse.services import properties as service
from sendhouse.web.dashboard.common import Form, Page, flash, optional, redirect, render, text
from sendhouse.web.dashboard.field_errors import refused

router = APIRouter()


async def _page(request: Request, ctx, *, status: int = 200, values=None, **shown):
    found = await service.list_properties(ctx.db, ctx.project_id)
    return render(
        request,
        "dashboard/properties.html",
        ctx,
        status=status,
        properties=found,
        types=PROPERTY_TYPES,
        **shown,
        values=values or {},
    )


@router.get("/properties")
async def properties(request: Request, ctx: Page):
    return await _page(request, ctx)


@router.post("/properties")
async def create_property(request: Request, ctx: Page, form: Form):
    try:
        await service.create_property(
            ctx.db,
            ctx.project_id,
            name=text(form, "name"),
            kind=text(form, "type"),
            description=optional(form, "description"),
        )
    except AppError as exc:
        shown = refused(exc, codes={"CONTACT_PROPERTY_ALREADY_EXISTS": "name"})
        return await _page(request, ctx, status=400, values=dict(form), **shown)
    flash(request, f"Property “{text(form, 'name')}” created.")
    return redirect(request, "/properties")


@router.post("/properties/{name}/delete")
async def delete_property(request: Request, ctx: Page, _form: Form, name: str):
    await service.delete_property(ctx.db, ctx.project_id, name)
    flash(request, f"Property “{name}” deleted; the values stored under it stay on the contacts.")
    return redirect(request, "/properties")
