"""Sending domains: DKIM keys, the DNS records to publish, and verification by real DNS queries.

Adding a domain makes an RSA-2048 DKIM key pair (the private key sealed with the server's secret
key) and an ownership token. Verifying queries the configured resolver (settings.dns_resolver)
for the ownership TXT, the DKIM TXT, the mail-from MX + SPF, the DMARC record and (when receiving
is on) the inbound MX; what was found of each record is kept on the domain (dns_results) for the
dashboard. Each flag only ever turns on; a domain is VERIFIED once ownership and DKIM are seen.
"""

from __future__ import annotations

import asyncio
import base64
import re
import secrets
from datetime import timedelta
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from sendhouse.config import Settings
from sendhouse.domain import dns_records, ids
from sendhouse.domain.campaigns import AUTO_PAUSABLE
from sendhouse.domain.emails import key_of
from sendhouse.domain.times import iso, utcnow
from sendhouse.errors import Conflict, InvalidInput, NotFound, RateLimited
from sendhouse.services import campaigns as campaign_service
from sendhouse.services import dns_checks, secrets_box
from sendhouse.services.senders import domain_candidates
from sendhouse.store import campaigns as campaign_store
from sendhouse.store import domains as store
from sendhouse.store import inbound as inbound_store
from sendhouse.store import projects as project_store
from sendhouse.store import senders as sender_store
from sendhouse.store.db import Database

VERIFY_INTERVAL = timedelta(seconds=5)
OWNERSHIP_PREFIX = "sendhouse-verification="
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def normalize_domain(value: str) -> str:
    """A bare hostname (no protocol, path or port), lower-case, IDNs as punycode; else InvalidInput."""
    name = value.strip().lower().rstrip(".")
    if "://" in name or "/" in name or "?" in name or "#" in name:
        raise InvalidInput.field("domain", "domain must be a bare hostname, without protocol or path")
    try:
        name = name.encode("idna").decode("ascii")
    except UnicodeError:
        raise InvalidInput.field("domain", "domain is not a valid hostname") from None
    labels = name.split(".")
    if len(name) > 253 or len(labels) < 2 or not all(_LABEL.match(x) for x in labels) or labels[-1].isdigit():
        raise InvalidInput.field("domain", "domain is not a valid hostname")
    return name


def generate_dkim_keys() -> tuple[str, str]:
    """A new RSA-2048 key pair: (private key PEM, public key as base64 DER for the DNS record)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")
    public_der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private_pem, base64.b64encode(public_der).decode("ascii")


def _record(name: str, value: str, rtype: str, purpose: str, priority: int | None = None) -> dict:
    record: dict[str, Any] = {"name": name, "value": value, "type": rtype, "purpose": purpose}
    if priority is not None:
        record["priority"] = priority
    return record


def expected_records(row: dict, settings: Settings) -> dict:
    """The DNS records the owner publishes for this domain (AutoSend's dnsRecords)."""
    d, bounce = row["domain_name"], settings.resolved_bounce_domain()
    return {
        "ownership": _record(
            f"_autosend-verify.{d}", OWNERSHIP_PREFIX + row["ownership_token"], "TXT", "ownership"
        ),
        "dkim": _record(
            f"{row['dkim_selector']}._domainkey.{d}",
            f"v=DKIM1; k=rsa; p={row['dkim_public_key']}",
            "TXT",
            "dkim",
        ),
        "mailFrom": [
            _record(f"mail.{d}", bounce, "MX", "mail_from", 10),
            _record(f"mail.{d}", f"v=spf1 a:{bounce} mx ~all", "TXT", "spf"),
        ],
        "dmarc": _record(f"_dmarc.{d}", "v=DMARC1; p=none;", "TXT", "dmarc"),
    }


def inbound_record(row: dict, settings: Settings) -> dict:
    """The MX record that brings the domain's mail to this server (when receiving is on)."""
    return _record(row["domain_name"], settings.resolved_bounce_domain(), "MX", "inbound", 10)


def present_domain(row: dict, settings: Settings, inbound: dict | None = None) -> dict:
    """AutoSend's domain object (`inbound`: its inbound_domains row when receiving is enabled)."""
    records = expected_records(row, settings)
    if inbound:
        records["inboundMx"] = inbound_record(row, settings)
    return {
        "id": row["id"],
        "domainName": row["domain_name"],
        "verificationStatus": row["verification_status"],
        "ownershipVerified": row["ownership_verified"],
        "dkimEnabled": row["dkim_enabled"],
        "mailFromEnabled": row["mail_from_enabled"],
        "dmarcEnabled": row["dmarc_enabled"],
        "dnsRecords": records,
        "createdAt": iso(row["created_at"]),
        "lastCheckedAt": iso(row["last_checked_at"]),
        "verifiedAt": iso(row["verified_at"]),
        "regionKey": row["region_key"],
        "verificationInProgress": False,
        "inboundEnabledAt": iso(inbound["enabled_at"]) if inbound else None,
        "inboundDomainVerifiedAt": iso(inbound["verified_at"]) if inbound else None,
    }


async def _new_domain_row(project_id: str, name: str, region_key: str, settings: Settings) -> dict:
    private_pem, public_b64 = await asyncio.to_thread(generate_dkim_keys)
    now = utcnow()
    return {
        "id": ids.new_id(),
        "project_id": project_id,
        "domain_name": name,
        "region_key": region_key,
        "verification_status": "PENDING_CONFIGURATION",
        "ownership_token": secrets.token_hex(16),
        "dkim_selector": "sendhouse" + now.strftime("%Y%m"),
        "dkim_private_key": secrets_box.seal(settings, private_pem),
        "dkim_public_key": public_b64,
        "ownership_verified": False,
        "dkim_enabled": False,
        "mail_from_enabled": False,
        "dmarc_enabled": False,
        "last_checked_at": None,
        "verified_at": None,
        "created_at": now,
        "updated_at": now,
    }


async def add_domain(
    db: Database, settings: Settings, project_id: str, *, domain: str, region_key: str | None = None
) -> dict:
    """Add a sending domain (PENDING_CONFIGURATION) with a fresh DKIM key; 409 when already added."""
    name = normalize_domain(domain)
    async with db.read() as conn:
        if await store.find_domain_by_name(conn, project_id, name):
            raise _already_added()
        project = await project_store.get_project(conn, project_id)
    assert project is not None  # the caller's own project
    row = await _new_domain_row(project_id, name, region_key or project["region_key"], settings)
    async with db.write() as conn:
        if not await store.insert_domain(conn, row):
            raise _already_added()
    return present_domain(row, settings)


def _already_added() -> Conflict:
    return Conflict("This domain has already been added", code="DOMAIN_ALREADY_EXISTS")


def _not_found() -> NotFound:
    return NotFound("Domain not found", code="DOMAIN_NOT_FOUND")


async def get_domain(db: Database, settings: Settings, project_id: str, domain_id: str) -> dict:
    async with db.read() as conn:
        row = await store.get_domain(conn, project_id, domain_id)
        inbound = await inbound_store.inbound_states(conn, [domain_id]) if row else {}
    if row is None:
        raise _not_found()
    return present_domain(row, settings, inbound.get(domain_id))


NAMES_THIS_SERVER = ("mail_from", "spf", "inbound")  # records whose value is this server's host


def mail_host_problem(settings: Settings) -> dict | None:
    """Why the records naming this server cannot be published ({host, why, setting}: the setting
    to change), or None when its host (the bounce domain) is a real host name."""
    host = settings.resolved_bounce_domain()
    why = dns_records.why_not_a_mail_host(host)
    if why is None:
        return None
    setting = "SENDHOUSE_BOUNCE_DOMAIN" if settings.bounce_domain else "SENDHOUSE_PUBLIC_URL"
    return {"host": host, "why": why, "setting": setting}


async def domain_page(db: Database, settings: Settings, project_id: str, domain_id: str) -> dict:
    """The domain as its dashboard page shows it: each record to publish with what the last DNS
    check found of it (`check`: {state, seen}, None before any check), and `hostProblem` when the
    records naming this server cannot be published (mail_host_problem)."""
    async with db.read() as conn:
        row = await store.get_domain(conn, project_id, domain_id)
        inbound = await inbound_store.inbound_states(conn, [domain_id]) if row else {}
    if row is None:
        raise _not_found()
    domain, results = present_domain(row, settings, inbound.get(domain_id)), row["dns_results"] or {}
    shown = _checked(row, settings, domain_id in inbound)
    return {
        "domain": domain,
        "records": [{**r, "check": results.get(r["purpose"])} for r in shown],
        "hostProblem": mail_host_problem(settings),
    }


async def list_domains(db: Database, settings: Settings, project_id: str) -> list[dict]:
    async with db.read() as conn:
        rows = await store.list_domains(conn, project_id)
        inbound = await inbound_store.inbound_states(conn, [r["id"] for r in rows])
    return [present_domain(r, settings, inbound.get(r["id"])) for r in rows]


async def delete_domain(db: Database, project_id: str, domain_id: str) -> dict:
    """Delete a domain, the senders on it, and pause (with a pausedReason) the scheduled and sending
    campaigns that send from it, in one transaction (AutoSend's changelog, 2026-09-17). Addresses a
    remaining VERIFIED domain of the project still covers (a parent domain) are left alone."""
    async with db.write() as conn:
        row = await store.get_domain(conn, project_id, domain_id)
        if row is not None:
            await inbound_store.disable_domain(conn, domain_id)  # it stops receiving with it
        if row is None or not await store.delete_domain(conn, project_id, domain_id):
            raise _not_found()
        senders, paused, reason = await _release_dependents(conn, project_id, row["domain_name"])
    for campaign in paused:
        await campaign_service.stop_fence(db, campaign["id"])
    return {
        "id": row["id"],
        "domainName": row["domain_name"],
        "deletedSenders": [{"id": s["id"], "email": s["email"]} for s in senders],
        "pausedCampaigns": [{"id": c["id"], "name": c["name"], "pausedReason": reason} for c in paused],
    }


async def _release_dependents(conn, project_id: str, name: str) -> tuple[list[dict], list[dict], str]:
    """Delete the senders on a deleted domain and pause its campaigns: (senders, campaigns, reason)."""
    orphaned = await _orphaned(conn, project_id, name)
    senders = [s for s in await sender_store.list_senders(conn, project_id) if key_of(s["email"]) in orphaned]
    await sender_store.delete_senders(conn, project_id, [s["id"] for s in senders])
    reason, now = f"Paused: its sending domain {name} was deleted", utcnow()
    paused = []
    for campaign in await campaign_store.with_sender_in(conn, project_id, AUTO_PAUSABLE):
        if key_of(campaign["from_email"]) in orphaned and await campaign_service.pause_for_reason(
            conn, campaign["id"], reason, now
        ):
            paused.append(campaign)
    return senders, paused, reason


async def _orphaned(conn, project_id: str, name: str) -> set[str]:
    """The project's sender and campaign addresses on `name` (or its subdomains) that no remaining
    VERIFIED domain of the project covers, as keys (domain/emails.py)."""
    addresses = {key_of(s["email"]) for s in await sender_store.list_senders(conn, project_id)}
    addresses |= {
        key_of(c["from_email"]) for c in await campaign_store.with_sender_in(conn, project_id, AUTO_PAUSABLE)
    }
    found = set()
    for email in addresses:
        candidates = domain_candidates(email)
        if name in candidates and not await _covered(conn, project_id, candidates):
            found.add(email)
    return found


async def _covered(conn, project_id: str, candidates: list[str]) -> bool:
    for candidate in candidates:
        if await store.find_verified(conn, project_id, candidate):
            return True
    return False


def deletion_message(result: dict) -> str:
    """'Domain deleted successfully', and what else the deletion did."""
    senders, campaigns = len(result["deletedSenders"]), len(result["pausedCampaigns"])
    if not senders and not campaigns:
        return "Domain deleted successfully"
    return (
        f"Domain deleted successfully; {senders} sender(s) on it deleted and {campaigns} campaign(s) "
        "sending from it paused"
    )


def _checked(row: dict, settings: Settings, inbound: bool) -> list[dict]:
    want = expected_records(row, settings)
    records = [want["ownership"], want["dkim"], *want["mailFrom"], want["dmarc"]]
    return records + ([inbound_record(row, settings)] if inbound else [])


async def check_dns(settings: Settings, row: dict, *, inbound: bool = False) -> dict[str, dict]:
    """Query DNS for every record of the domain (and its inbound MX): {purpose: {state, seen}}."""
    return await dns_checks.check_records(settings, _checked(row, settings, inbound))


async def verify_domain(db: Database, settings: Settings, project_id: str, domain_id: str) -> dict:
    """Check the domain's DNS now and record what was found, record by record (429 when checked a
    few seconds ago)."""
    now = utcnow()
    async with db.write() as conn:
        row = await store.claim_check(conn, project_id, domain_id, now, now - VERIFY_INTERVAL)
        if row is None:
            raise await _why_not_claimed(conn, project_id, domain_id, now)
        receiving = bool(await inbound_store.inbound_states(conn, [domain_id]))
    results = await check_dns(settings, row, inbound=receiving)
    async with db.write() as conn:
        row = await store.record_check(conn, domain_id, dns_records.flags(results), results, utcnow())
    if row is None:
        raise _not_found()
    seen = results.get("inbound", {}).get("state") == dns_records.FOUND
    return _verify_result(present_domain(row, settings, await check_inbound_mx(db, settings, row, seen)))


async def inbound_mx_seen(settings: Settings, domain_name: str) -> bool:
    """Whether the domain's MX names this server's receiver (the bounce domain)."""
    hosts = await dns_checks.mx(dns_checks.make_resolver(settings), domain_name)
    return settings.resolved_bounce_domain().lower() in (hosts or [])


async def check_inbound_mx(
    db: Database, settings: Settings, row: dict, seen: bool | None = None
) -> dict | None:
    """The domain's inbound state, marked verified once its MX is seen pointing here (None: not
    enabled); `seen`: whether a check just made saw it (else DNS is asked)."""
    async with db.read() as conn:
        inbound = (await inbound_store.inbound_states(conn, [row["id"]])).get(row["id"])
    if inbound is None or inbound["verified_at"] is not None:
        return inbound
    if seen if seen is not None else await inbound_mx_seen(settings, row["domain_name"]):
        async with db.write() as conn:
            await inbound_store.mark_verified(conn, row["id"], utcnow())
            inbound = (await inbound_store.inbound_states(conn, [row["id"]])).get(row["id"])
    return inbound


async def _why_not_claimed(conn, project_id: str, domain_id: str, now) -> Exception:
    row = await store.get_domain(conn, project_id, domain_id)
    if row is None:
        return _not_found()
    wait = (row["last_checked_at"] + VERIFY_INTERVAL - now).total_seconds()
    return RateLimited(
        max(1, int(wait + 0.999)), "Domain verification was requested too often; try again shortly"
    )


def _verify_result(domain: dict) -> dict:
    keys = (
        "verificationInProgress",
        "ownershipVerified",
        "verificationStatus",
        "dkimEnabled",
        "mailFromEnabled",
        "dmarcEnabled",
    )
    return {"domain": domain, **{k: domain[k] for k in keys}}


async def dkim_signer_material(
    conn, settings: Settings, project_id: str, from_domain: str
) -> tuple[str, str, str] | None:
    """(domain, selector, private key PEM) to sign mail from this domain (or a subdomain), or None.

    Only a VERIFIED domain of the project with DKIM seen in DNS signs.
    """
    for name in domain_candidates("@" + from_domain):
        row = await store.find_verified(conn, project_id, name)
        if row and row["dkim_enabled"]:
            return (
                row["domain_name"],
                row["dkim_selector"],
                secrets_box.open_sealed(settings, row["dkim_private_key"]),
            )
    return None
