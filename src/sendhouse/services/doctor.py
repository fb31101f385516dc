"""`sendhouse doctor`: checks that the configured parts answer, and says in plain words what is wrong.

- database: connects and compares its Alembic revision with the newest migration;
- SMTP relay (unless SENDHOUSE_SMTP_URL is `capture`): connect, EHLO, STARTTLS when asked for,
  AUTH when credentials are given; QUIT, never a MAIL FROM;
- DNS: every sending domain of every project, checked read-only with services.domains' own
  verification queries (nothing is recorded);
- public URL: GET <SENDHOUSE_PUBLIC_URL>/healthz answers 200.
Every check returns a Check; nothing here raises for a failing part.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import aiosmtplib
import httpx2
from sqlalchemy import create_engine

from sendhouse.config import Settings
from sendhouse.delivery.smtp import parse_smtp_url
from sendhouse.domain import dns_records
from sendhouse.errors import AppError
from sendhouse.services import domains as domain_service
from sendhouse.store import domains as domain_store
from sendhouse.store import projects as project_store
from sendhouse.store.db import Database, sync_url
from sendhouse.store.migrate import current_revision, head_revision

TIMEOUT = 10.0
RECORD_NAMES = {
    "ownership_verified": ("ownership", "ownership"),
    "dkim_enabled": ("dkim", "DKIM"),
    "mail_from_enabled": ("mailFrom", "mail-from MX and SPF"),
    "dmarc_enabled": ("dmarc", "DMARC"),
}


@dataclass(frozen=True)
class Check:
    """One thing looked at: its name, whether it is fine, and what was found in plain words."""

    name: str
    ok: bool
    detail: str


async def run_all(settings: Settings) -> list[Check]:
    """Every check, in order; DNS checks only when the database answers."""
    checks = [await check_database(settings)]
    if checks[0].ok:
        checks += await check_domains(settings)
    checks.append(await check_smtp(settings))
    checks.append(await check_public_url(settings))
    return checks


# --- database ---------------------------------------------------------------------------------


async def check_database(settings: Settings) -> Check:
    url = settings.resolved_database_url()
    try:
        current, head = await asyncio.wait_for(asyncio.to_thread(_revisions, url), TIMEOUT)
    except Exception as exc:  # noqa: BLE001 - any failure to connect is the finding
        return Check("database", False, f"cannot use the database at {_safe_url(url)}: {_first_line(exc)}")
    if current != head:
        return Check(
            "database",
            False,
            f"the database schema is at {current or 'no revision'}, the newest is "
            f"{head}: run `sendhouse migrate`",
        )
    return Check("database", True, f"connected to {_safe_url(url)}; schema at the newest revision ({head})")


def _revisions(url: str) -> tuple[str | None, str | None]:
    engine = create_engine(sync_url(url))
    try:
        with engine.connect() as conn:
            current = current_revision(conn)
    finally:
        engine.dispose()
    return current, head_revision()


def _safe_url(url: str) -> str:
    """The URL without its password."""
    scheme, sep, rest = url.partition("://")
    if "@" not in rest:
        return url
    creds, _, host = rest.rpartition("@")
    return f"{scheme}{sep}{creds.partition(':')[0]}@{host}"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


# --- SMTP relay --------------------------------------------------------------------------------


async def check_smtp(settings: Settings) -> Check:
    if settings.smtp_url == "capture":
        return Check(
            "smtp", True, "SENDHOUSE_SMTP_URL is `capture`: mail is stored, not sent (nothing to check)"
        )
    try:
        relay = parse_smtp_url(settings.smtp_url)
    except AppError as exc:
        return Check("smtp", False, f"SENDHOUSE_SMTP_URL is not usable: {exc.message}")
    where = f"{relay.host}:{relay.port}"
    try:
        steps = await asyncio.wait_for(_talk_to_relay(relay), TIMEOUT * 2)
    except _RelayProblem as exc:
        return Check("smtp", False, f"the SMTP relay at {where} {exc}")
    except (TimeoutError, aiosmtplib.SMTPException, OSError) as exc:
        return Check(
            "smtp", False, f"cannot talk to the SMTP relay at {where}: {_first_line(exc) or 'timed out'}"
        )
    return Check("smtp", True, f"the SMTP relay at {where} answered: {', '.join(steps)}")


class _RelayProblem(Exception):
    """The relay answered, but not as the configuration needs."""


async def _talk_to_relay(relay) -> list[str]:
    client = aiosmtplib.SMTP(
        hostname=relay.host, port=relay.port, use_tls=relay.use_tls, start_tls=False, timeout=TIMEOUT
    )
    await client.connect()
    try:
        steps = ["TLS" if relay.use_tls else "connect", await _ehlo(client)]
        if relay.start_tls:
            steps.append(await _starttls(client))
        if relay.username:
            steps.append(await _auth(client, relay))
        return steps
    finally:
        try:
            await client.quit()
        except aiosmtplib.SMTPException:
            client.close()


async def _ehlo(client: aiosmtplib.SMTP) -> str:
    reply = await client.ehlo()
    if reply.code != 250:
        raise _RelayProblem(f"refused EHLO: {reply.code} {reply.message}")
    return "EHLO"


async def _starttls(client: aiosmtplib.SMTP) -> str:
    if not client.supports_extension("starttls"):
        raise _RelayProblem("does not offer STARTTLS, but SENDHOUSE_SMTP_URL asks for starttls=true")
    await client.starttls()
    await client.ehlo()
    return "STARTTLS"


async def _auth(client: aiosmtplib.SMTP, relay) -> str:
    if not client.supports_extension("auth"):
        raise _RelayProblem("does not offer AUTH, but SENDHOUSE_SMTP_URL carries a user name and password")
    try:
        await _login_once(client, relay.username, relay.password or "")
    except aiosmtplib.SMTPAuthenticationError as exc:
        raise _RelayProblem(f"refused the user name and password: {exc.code} {exc.message}") from None
    return f"AUTH as {relay.username}"


async def _login_once(client: aiosmtplib.SMTP, username: str, password: str) -> None:
    """One AUTH attempt (PLAIN or LOGIN when offered): a wrong password is not retried per mechanism."""
    methods = client.server_auth_methods
    if "plain" in methods:
        await client.auth_plain(username, password)
    elif "login" in methods:
        await client.auth_login(username, password)
    else:
        await client.login(username, password)


# --- DNS ---------------------------------------------------------------------------------------


async def check_domains(settings: Settings) -> list[Check]:
    db = Database(settings.resolved_database_url(), pool_size=1)
    try:
        async with db.read() as conn:
            found = [
                (project, await domain_store.list_domains(conn, project["id"]))
                for project in await project_store.list_projects(conn)
            ]
    finally:
        await db.close()
    rows = [(project, row) for project, domains in found for row in domains]
    if not rows:
        return [Check("dns", True, "no sending domain added yet (nothing to check)")]
    return [await check_domain(settings, project["name"], row) for project, row in rows]


async def check_domain(settings: Settings, project_name: str, row: dict) -> Check:
    """One domain's records as published right now (read-only; the stored flags are not updated)."""
    name = f"dns {row['domain_name']} (project {project_name})"
    try:
        results = await asyncio.wait_for(domain_service.check_dns(settings, row), TIMEOUT * 2)
    except (TimeoutError, AppError) as exc:
        return Check(name, False, f"cannot query DNS: {getattr(exc, 'message', None) or 'timed out'}")
    wanted, seen = domain_service.expected_records(row, settings), dns_records.flags(results)
    missing = [_missing_words(flag, wanted) for flag, ok in seen.items() if not ok and flag in RECORD_NAMES]
    if missing:
        return Check(name, False, "; ".join(missing))
    return Check(name, True, "ownership, DKIM, mail-from (MX + SPF) and DMARC records are published")


def _missing_words(flag: str, wanted: dict) -> str:
    key, words = RECORD_NAMES[flag]
    records = wanted[key] if isinstance(wanted[key], list) else [wanted[key]]
    shown = ", ".join(f"{r['type']} {r['name']} = {r['value'][:60]}" for r in records)
    return f"the {words} record is missing or different (publish {shown})"


# --- public URL --------------------------------------------------------------------------------

SET_PUBLIC_URL = (
    "Set SENDHOUSE_PUBLIC_URL to the address people reach this Sendhouse at "
    "(e.g. SENDHOUSE_PUBLIC_URL=https://mail.example.com)"
)


async def check_public_url(settings: Settings) -> Check:
    url = settings.public_url.rstrip("/") + "/healthz"
    try:
        async with httpx2.AsyncClient(timeout=TIMEOUT, follow_redirects=True) as client:
            response = await client.get(url)
    except httpx2.HTTPError as exc:
        return Check(
            "public url",
            False,
            f"{url} cannot be reached: {_first_line(exc) or type(exc).__name__}; "
            "tracking and unsubscribe links would not work. " + SET_PUBLIC_URL,
        )
    if response.status_code != 200 or not _is_sendhouse(response):
        return Check(
            "public url",
            False,
            f"{url} answered {response.status_code} without Sendhouse's health "
            "report: is SENDHOUSE_PUBLIC_URL pointing at this Sendhouse? " + SET_PUBLIC_URL,
        )
    return Check("public url", True, f"{url} answered 200")


def _is_sendhouse(response: httpx2.Response) -> bool:
    try:
        return response.json()["data"]["status"] == "ok"
    except (ValueError, KeyError, TypeError):
        return False
