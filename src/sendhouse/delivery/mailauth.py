"""SPF, DKIM and DMARC verdicts of a received message, with pyspf, dkimpy and authheaders.

`verdicts(raw, ip=..., mail_from=..., helo=..., resolver=...)` is blocking (the libraries query DNS
synchronously): call it in a thread. DNS goes through the resolver named by SENDHOUSE_DNS_RESOLVER
(tests point it at a local DNS server); pyspf reads its lookup function from a module global, so it
is replaced once by one that uses the resolver of the current context (a ContextVar, which
asyncio.to_thread carries into the thread). Verdicts are AutoSend's strings: PASS, FAIL, GRAY (no
policy or no signature: nothing to judge) and PROCESSING_FAILED (DNS errors, broken input).
"""

from __future__ import annotations

import contextvars
import logging
from dataclasses import dataclass

import authheaders
import dkim
import dns.exception
import dns.resolver
import spf
from authres import DKIMAuthenticationResult, SPFAuthenticationResult

log = logging.getLogger("sendhouse.mailauth")
PASS, FAIL, GRAY, FAILED = "PASS", "FAIL", "GRAY", "PROCESSING_FAILED"
SPF_VERDICT = {
    "pass": PASS,
    "fail": FAIL,
    "softfail": FAIL,
    "neutral": GRAY,
    "none": GRAY,
    "temperror": FAILED,
    "permerror": FAILED,
}
DNS_TIMEOUT = 5.0
_resolver: contextvars.ContextVar[dns.resolver.Resolver | None] = contextvars.ContextVar(
    "dns_resolver", default=None
)
_library_lookup = spf.DNSLookup


@dataclass(frozen=True)
class Verdicts:
    spf: str
    dkim: str
    dmarc: str


def make_resolver(address: str) -> dns.resolver.Resolver:
    """A blocking resolver for "host[:port]" ("[ipv6]:port"), or the system's for ""."""
    if not address:
        return dns.resolver.Resolver()
    if address.startswith("["):
        host, _, rest = address[1:].partition("]")
        port = int(rest.lstrip(":") or 53)
    else:
        host, _, port_text = address.partition(":")
        port = int(port_text or 53)
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers, resolver.port, resolver.lifetime = [host], port, DNS_TIMEOUT
    return resolver


def _spf_lookup(name, qtype, strict=True, timeout=DNS_TIMEOUT):
    """pyspf's dnspython lookup on the context's resolver (the library's own when none is set)."""
    resolver = _resolver.get()
    if resolver is None:
        return _library_lookup(name, qtype, strict, timeout)
    try:
        answers = resolver.resolve(name, qtype, lifetime=timeout)
    except (dns.resolver.NoAnswer, dns.resolver.NXDOMAIN):
        return []
    except dns.exception.DNSException as exc:
        raise spf.TempError(f"DNS {exc}") from None
    return [((name, qtype), _spf_value(qtype, rdata)) for rdata in answers]


def _spf_value(qtype: str, rdata):
    if qtype in ("A", "AAAA"):
        return rdata.address
    if qtype == "MX":
        return rdata.preference, rdata.exchange
    if qtype == "PTR":
        return rdata.target.to_text(True)
    return rdata.strings


spf.DNSLookup = _spf_lookup


def _txt(resolver: dns.resolver.Resolver, name: str) -> list[bytes]:
    try:
        return [b"".join(r.strings) for r in resolver.resolve(name, "TXT", lifetime=DNS_TIMEOUT)]
    except (dns.resolver.NoAnswer, dns.resolver.NXDOMAIN):
        return []


def check_spf(ip: str, mail_from: str, helo: str) -> SPFAuthenticationResult:
    result, reason = spf.check2(i=ip, s=mail_from, h=helo or "unknown")
    return SPFAuthenticationResult(result=result, reason=reason, smtp_mailfrom=mail_from, smtp_helo=helo)


def check_dkim(raw: bytes, resolver: dns.resolver.Resolver) -> DKIMAuthenticationResult | None:
    """The first signature's result, or None when the message carries no DKIM-Signature."""
    if b"dkim-signature:" not in raw.lower():
        return None
    signed = dkim.DKIM(raw)
    try:
        result = (
            "pass"
            if signed.verify(dnsfunc=lambda name, timeout=5: b"".join(_txt(resolver, name.decode())))
            else "fail"
        )
    except dns.exception.DNSException:
        result = "temperror"
    except Exception:  # noqa: BLE001 - a broken signature or key is a failed verification
        result = "fail"
    fields = signed.signature_fields or {}
    return DKIMAuthenticationResult(result=result, header_d=fields.get(b"d", b"").decode("ascii", "replace"))


def check_dmarc(from_domain: str, spf_result, dkim_result, resolver: dns.resolver.Resolver) -> str:
    """pass / fail / none for the From domain (authheaders: alignment, org-domain fallback)."""
    if not from_domain:
        return "none"

    def lookup(name: str) -> str | None:
        found = _txt(resolver, name)
        return found[0].decode("utf-8", "replace") if found else None

    result, *_rest = authheaders.dmarc_per_from(from_domain, spf_result, dkim_result, dnsfunc=lookup)
    return result


def verdicts(
    raw: bytes, *, ip: str, mail_from: str, helo: str, from_domain: str, resolver_address: str
) -> Verdicts:
    """SPF (envelope sender and client IP), DKIM (first signature) and DMARC (From domain)."""
    resolver = make_resolver(resolver_address)
    token = _resolver.set(resolver)
    try:
        spf_result = _safely(lambda: check_spf(ip, mail_from, helo), None)
        dkim_result = _safely(lambda: check_dkim(raw, resolver), "error")
        dmarc = _safely(lambda: check_dmarc(from_domain.lower(), spf_result, dkim_result, resolver), "error")
    finally:
        _resolver.reset(token)
    return Verdicts(
        spf=SPF_VERDICT.get(spf_result.result, FAILED) if spf_result else FAILED,
        dkim=_dkim_verdict(dkim_result),
        dmarc={"pass": PASS, "fail": FAIL, "none": GRAY}.get(dmarc, FAILED),
    )


def _dkim_verdict(result) -> str:
    if result is None:
        return GRAY
    if result == "error":
        return FAILED
    return {"pass": PASS, "fail": FAIL}.get(result.result, FAILED)


def _safely(check, fallback):
    try:
        return check()
    except Exception:
        log.warning("an authentication check failed", exc_info=True)
        return fallback
