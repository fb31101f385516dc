"""Project settings pages: domains with their DNS records (and receiving on or off), webhooks
with their delivery logs, API keys (project or account keys, optionally expiring; created and shown
once; listed with their last use; revoked) and SMTP keys (created and shown once, revoked)."""

from __future__ import annotations

from datetime import datetime, timedelta
from urllib.parse import urlsplit

from fastapi import APIRouter, Request

from sendhouse.domain.pagination import Page as Paging
from sendhouse.domain.times import utcnow
from sendhouse.errors import AppError, InvalidInput, NotFound, status_of
from sendhouse.services import api_keys as key_service
from sendhouse.services import domains as domain_service
from sendhouse.services import inbound as inbound_service
from sendhouse.services import projects as project_service
from sendhouse.services import smtp_keys
from sendhouse.services import webhooks as webhook_service
from sendhouse.web.dashboard.common import Ctx, Form, Page, flash, problems, redirect, render, text
from sendhouse.web.dashboard.field_errors import refused

router = APIRouter()
MAX_KEY_DAYS = 3650


def _failed(request: Request, exc: AppError) -> None:
    if isinstance(exc, NotFound):
        raise exc
    flash(request, " — ".join(problems(exc)), "error")


# --- domains -------------------------------------------------------------------------------


async def _domains_page(request: Request, ctx: Ctx, *, status: int = 200, values=None, **shown):
    found = await domain_service.list_domains(ctx.db, ctx.settings, ctx.project_id)
    return render(
        request, "dashboard/domains.html", ctx, status=status, domains=found, values=values or {}, **shown
    )


@router.get("/domains")
async def domains(request: Request, ctx: Page):
    return await _domains_page(request, ctx)


@router.post("/domains")
async def add_domain(request: Request, ctx: Page, form: Form):
    try:
        created = await domain_service.add_domain(
            ctx.db, ctx.settings, ctx.project_id, domain=text(form, "domain")
        )
    except AppError as exc:
        shown = refused(exc, codes={"DOMAIN_ALREADY_EXISTS": "domain"})
        return await _domains_page(request, ctx, status=400, values=dict(form), **shown)
    return redirect(request, f"/domains/{created['id']}")


@router.get("/domains/{domain_id}")
async def domain_detail(request: Request, ctx: Page, domain_id: str):
    shown = await domain_service.domain_page(ctx.db, ctx.settings, ctx.project_id, domain_id)
    return render(
        request, "dashboard/domain.html", ctx, **shown, names_this_server=domain_service.NAMES_THIS_SERVER
    )


@router.post("/domains/{domain_id}/inbound/{action}")
async def switch_inbound(request: Request, ctx: Page, _form: Form, domain_id: str, action: str):
    if action not in ("enable", "disable"):
        raise NotFound("Page not found")
    switch = inbound_service.enable_domain if action == "enable" else inbound_service.disable_domain
    try:
        await switch(ctx.db, ctx.settings, ctx.project_id, domain_id)
        flash(request, "Receiving turned on." if action == "enable" else "Receiving turned off.")
    except AppError as exc:
        _failed(request, exc)
    return redirect(request, f"/domains/{domain_id}")


@router.post("/domains/{domain_id}/verify")
async def verify_domain(request: Request, ctx: Page, _form: Form, domain_id: str):
    try:
        await domain_service.verify_domain(ctx.db, ctx.settings, ctx.project_id, domain_id)
        flash(request, "DNS checked.")
    except AppError as exc:
        _failed(request, exc)
    return redirect(request, f"/domains/{domain_id}")


# --- webhooks ------------------------------------------------------------------------------


async def _webhooks_page(request: Request, ctx: Ctx, *, status: int = 200, values=None, **shown):
    found = await webhook_service.list_webhooks(ctx.db, ctx.project_id, is_active=None, page=Paging(1, 100))
    return render(
        request,
        "dashboard/webhooks.html",
        ctx,
        status=status,
        webhooks=found["webhooks"],
        events=webhook_service.available_events(),
        secret=request.session.pop("webhook_secret", None),
        values=values or {"url": "", "events": []},
        **shown,
    )


@router.get("/webhooks")
async def webhooks(request: Request, ctx: Page):
    return await _webhooks_page(request, ctx)


@router.post("/webhooks")
async def create_webhook(request: Request, ctx: Page, form: Form):
    events = [str(e) for e in form.getlist("events")]
    try:
        created = await webhook_service.create_webhook(
            ctx.db, ctx.project_id, url=text(form, "url"), events=events
        )
    except AppError as exc:
        values = {"url": text(form, "url"), "events": events}
        return await _webhooks_page(request, ctx, status=400, values=values, **refused(exc))
    request.session["webhook_secret"] = created["secret"]
    return redirect(request, "/webhooks")


@router.get("/webhooks/{webhook_id}")
async def webhook_detail(request: Request, ctx: Page, webhook_id: str, page: int = 1):
    hook = await webhook_service.get_webhook(ctx.db, ctx.project_id, webhook_id)
    logs = await webhook_service.list_logs(ctx.db, ctx.project_id, webhook_id, page=Paging(max(page, 1), 50))
    return render(request, "dashboard/webhook.html", ctx, hook=hook, logs=logs["logs"])


@router.post("/webhooks/{webhook_id}/delete")
async def delete_webhook(request: Request, ctx: Page, _form: Form, webhook_id: str):
    await webhook_service.delete_webhook(ctx.db, ctx.project_id, webhook_id)
    flash(request, "Webhook deleted.")
    return redirect(request, "/webhooks")


# --- API keys ------------------------------------------------------------------------------


def smtp_settings(settings) -> dict:
    """What an app needs to send over SMTP submission (host, port, security)."""
    host, _, port = settings.submission_smtp.rpartition(":")
    if not host or host in ("0.0.0.0", "::", "[::]"):
        host = urlsplit(settings.public_url).hostname or "localhost"
    security = "STARTTLS" if settings.submission_tls_cert else "none (loopback connections only)"
    implicit = settings.submission_smtps.rpartition(":")[2] if settings.submission_tls_cert else ""
    if implicit:
        security += f"; implicit TLS (SMTPS) on port {implicit}"
    return {
        "host": host.strip("[]"),
        "port": port or "off (set SENDHOUSE_SUBMISSION_SMTP)",
        "security": security,
    }


async def _keys_page(
    request: Request,
    ctx: Ctx,
    new_key: str | None = None,
    status: int = 200,
    new_smtp_key: str | None = None,
    values: dict | None = None,
    **shown,
):
    keys = await key_service.list_project_keys(ctx.db, ctx.project_id)
    return render(
        request,
        "dashboard/keys.html",
        ctx,
        keys=keys,
        new_key=new_key,
        status=status,
        new_smtp_key=new_smtp_key,
        values=values or {},
        **shown,
        smtp_keys=await smtp_keys.list_keys(ctx.db, ctx.project_id),
        smtp=smtp_settings(ctx.settings),
    )


@router.get("/keys")
async def keys(request: Request, ctx: Page):
    return await _keys_page(request, ctx)


def _expiry(form) -> datetime | None:
    days = text(form, "expires_days")
    if not days:
        return None
    if not days.isdigit() or not 1 <= int(days) <= MAX_KEY_DAYS:
        raise InvalidInput.field(
            "expires_days", f"expiry must be a whole number of days from 1 to {MAX_KEY_DAYS}"
        )
    return utcnow() + timedelta(days=int(days))


@router.post("/keys")
async def create_key(request: Request, ctx: Page, form: Form):
    """The secret is shown in this response only (never stored, never shown again)."""
    try:
        _, secret = await project_service.create_api_key(
            ctx.db,
            project_id=ctx.project_id,
            name=text(form, "name")[:200],
            account=text(form, "kind") == "account",
            expires_at=_expiry(form),
        )
    except AppError as exc:
        shown = refused(exc, {"expiresAt": "expires_days"})
        return await _keys_page(request, ctx, status=status_of(exc), values=dict(form), **shown)
    return await _keys_page(request, ctx, new_key=secret)


@router.post("/keys/smtp")
async def create_smtp_key(request: Request, ctx: Page, form: Form):
    """The SMTP key is shown in this response only."""
    _, secret = await smtp_keys.create_key(ctx.db, project_id=ctx.project_id, name=text(form, "name")[:200])
    return await _keys_page(request, ctx, new_smtp_key=secret)


@router.post("/keys/smtp/{key_id}/revoke")
async def revoke_smtp_key(request: Request, ctx: Page, _form: Form, key_id: str):
    await smtp_keys.revoke_key(ctx.db, project_id=ctx.project_id, key_id=key_id)
    flash(request, "SMTP key revoked: apps using it can no longer sign in.")
    return redirect(request, "/keys")


@router.post("/keys/{key_id}/revoke")
async def revoke_key(request: Request, ctx: Page, _form: Form, key_id: str):
    await key_service.revoke(ctx.db, key_id, project_id=ctx.project_id)
    flash(request, "Key revoked: requests with it are refused from now on.")
    return redirect(request, "/keys")
