"""Template pages: list, two starter templates to begin from, editor with a live preview, and a
test send through transactional mail."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.datastructures import FormData

from sendhouse.errors import AppError
from sendhouse.services import templates as service
from sendhouse.services import transactional
from sendhouse.web.dashboard import starters
from sendhouse.web.dashboard.common import Ctx, Form, Page, flash, optional, problems, redirect, render, text
from sendhouse.web.dashboard.field_errors import field_errors, refused

router = APIRouter()
TEMPLATE_TYPES = service.TEMPLATE_TYPES
# The test send's fields under the mail API's names.
TEST_NAMES = {"to.email": "to", "from": "fromEmail", "from.email": "fromEmail", "from.name": "fromName"}


@router.get("/templates")
async def template_list(request: Request, ctx: Page):
    found = await service.list_templates(ctx.db, ctx.project_id)
    return render(request, "dashboard/templates.html", ctx, templates=found, starters=starters.STARTERS)


def fields_of(form: FormData) -> dict:
    return {
        "templateName": text(form, "templateName"),
        "subject": text(form, "subject"),
        "previewText": optional(form, "previewText"),
        "description": optional(form, "description"),
        "emailTemplate": str(form.get("emailTemplate") or ""),
        "templateType": text(form, "templateType") or "transactional",
    }


def _page(
    request: Request,
    ctx: Ctx,
    values: dict,
    template: dict | None,
    *,
    status: int = 200,
    **shown,
):
    return render(
        request,
        "dashboard/template_form.html",
        ctx,
        status=status,
        values=values,
        template=template,
        types=TEMPLATE_TYPES,
        **shown,
    )


@router.get("/templates/new")
async def new_template(request: Request, ctx: Page, starter: str = ""):
    """A blank template, or one begun from a starter (nothing is saved before "Save template")."""
    values = starters.starter(starter) if starter else {"templateType": "marketing"}
    return _page(request, ctx, values, None)


@router.post("/templates/new")
async def create_template(request: Request, ctx: Page, form: Form):
    fields = fields_of(form)
    try:
        created = await service.create_template(ctx.db, ctx.project_id, fields)
    except AppError as exc:
        return _page(request, ctx, fields, None, status=400, **refused(exc))
    flash(request, f"Template “{created['templateName']}” saved.")
    return redirect(request, f"/templates/{created['templateId']}")


@router.get("/templates/{template_id}")
async def edit_template(request: Request, ctx: Page, template_id: str):
    template = await service.get_template(ctx.db, ctx.project_id, template_id)
    return _page(request, ctx, template, template)


@router.post("/templates/{template_id}")
async def update_template(request: Request, ctx: Page, form: Form, template_id: str):
    fields = fields_of(form)
    try:
        await service.update_template(ctx.db, ctx.project_id, template_id, fields)
    except AppError as exc:
        template = await service.get_template(ctx.db, ctx.project_id, template_id)
        return _page(request, ctx, {**template, **fields}, template, status=400, **refused(exc))
    flash(request, "Template saved.")
    return redirect(request, f"/templates/{template_id}")


@router.post("/templates/{template_id}/test")
async def test_send(request: Request, ctx: Page, form: Form, template_id: str):
    """Queue the saved template to one address, as POST /v1/mails/send would; refused, the page
    shows again (400) with what was typed and the fields at fault marked."""
    template = await service.get_template(ctx.db, ctx.project_id, template_id)
    body = {
        "to": {"email": text(form, "to")},
        "templateId": template_id,
        "from": {"email": text(form, "fromEmail"), "name": optional(form, "fromName")}
        if text(form, "fromEmail")
        else None,
        "dynamicData": {"firstName": "Ada", "lastName": "Lovelace"},
    }
    try:
        sent = await transactional.send_mail(ctx.db, ctx.settings, ctx.project_id, body)
    except AppError as exc:
        shown = {"errors": problems(exc), "test_errors": field_errors(exc, TEST_NAMES)}
        return _page(request, ctx, template, template, status=400, test_values=dict(form), **shown)
    flash(request, f"Test email queued ({sent['emailId']}); see it in the outbox.")
    return redirect(request, f"/templates/{template_id}")


@router.post("/templates/{template_id}/delete")
async def delete_template(request: Request, ctx: Page, _form: Form, template_id: str):
    await service.get_template(ctx.db, ctx.project_id, template_id)  # another project's template: 404
    await service.delete_template(ctx.db, ctx.project_id, template_id)
    flash(request, "Template deleted.")
    return redirect(request, "/templates")
