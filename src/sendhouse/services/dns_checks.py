"""DNS queries of a domain's records through the configured resolver (settings.dns_resolver, else
the system's), each record judged on its own (domain/dns_records.py)."""

from __future__ import annotations

import asyncio

import dns.asyncresolver
import dns.exception
import dns.resolver

from sendhouse.config import Settings
from sendhouse.domain import dns_records
from sendhouse.errors import InvalidOperation

_NOTHING_THERE = (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer)


def make_resolver(settings: Settings) -> dns.asyncresolver.Resolver:
    """The resolver named by settings.dns_resolver ("ip[:port]", "[ipv6]:port"), or the system's when empty."""
    if not settings.dns_resolver:
        try:
            return dns.asyncresolver.Resolver()
        except dns.exception.DNSException:
            raise InvalidOperation(
                "No DNS resolver is configured on this server (set SENDHOUSE_DNS_RESOLVER)",
                code="DNS_RESOLVER_UNAVAILABLE",
            ) from None
    host, port = _host_port(settings.dns_resolver)
    resolver = dns.asyncresolver.Resolver(configure=False)
    resolver.nameservers = [host]
    resolver.port = port
    resolver.use_edns(0, 0, 1232)
    return resolver


def _host_port(value: str) -> tuple[str, int]:
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        return host, int(rest.lstrip(":") or 53)
    host, _, port = value.partition(":")
    return host, int(port or 53)


async def txt(resolver: dns.asyncresolver.Resolver, name: str) -> list[str] | None:
    """The TXT values at `name` ([] when there are none; None when DNS gave no answer)."""
    try:
        answer = await resolver.resolve(name, "TXT")
    except _NOTHING_THERE:
        return []
    except dns.exception.DNSException:
        return None
    return [b"".join(rdata.strings).decode("utf-8", "replace") for rdata in answer]


async def mx(resolver: dns.asyncresolver.Resolver, name: str) -> list[str] | None:
    """The mail hosts the MX records at `name` name ([] when none; None when DNS gave no answer)."""
    try:
        answer = await resolver.resolve(name, "MX")
    except _NOTHING_THERE:
        return []
    except dns.exception.DNSException:
        return None
    return [rdata.exchange.to_text(omit_final_dot=True).lower() for rdata in answer]


async def check_records(settings: Settings, records: list[dict]) -> dict[str, dict]:
    """Ask DNS for each record ({name, type, value, purpose}) at once; {purpose: {state, seen}}."""
    resolver = make_resolver(settings)
    answers = await asyncio.gather(
        *((mx if r["type"] == "MX" else txt)(resolver, r["name"]) for r in records)
    )
    return {
        r["purpose"]: dns_records.judge(r["purpose"], r["value"], seen)
        for r, seen in zip(records, answers, strict=True)
    }
