"""HTTP delivery of one webhook attempt: httpx2, a total deadline (10 s by default: connecting,
sending and reading the whole answer, so an endpoint dripping a byte at a time cannot hold an
attempt longer), no redirects, and an SSRF guard.

With the guard on (the default), the target host is resolved first; any address that is not
globally routable (private, loopback, link-local, multicast, reserved, ...) refuses the attempt,
and the request is pinned to the checked address (Host header and TLS SNI keep the name), so a
second DNS answer cannot point the request elsewhere.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from dataclasses import dataclass

import httpx2

from sendhouse import __version__

TIMEOUT_SECONDS = 10.0
USER_AGENT = f"Sendhouse-Webhooks/{__version__}"


@dataclass(frozen=True)
class Outcome:
    """What one attempt came to."""

    ok: bool
    status_code: int | None
    error: str | None
    duration_ms: int


class TargetRefused(Exception):
    """The target resolves to an address webhooks may not reach."""


NAT64_WELL_KNOWN = ipaddress.IPv6Network("64:ff9b::/96")
NAT64_LOCAL_USE = ipaddress.IPv6Network("64:ff9b:1::/48")
IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")


def is_forbidden_address(address: str) -> bool:
    """Whether an IP is off limits for webhooks (anything not globally routable).

    An IPv4-mapped address is judged as its IPv4 address; NAT64 (64:ff9b::/96) and 6to4
    (2002::/16) addresses are refused when the IPv4 address they carry is; the deprecated
    IPv4-compatible `::a.b.c.d` and the local-use NAT64 prefix are refused outright.
    """
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv4Address):
        return _forbidden_ip(ip)
    if ip.ipv4_mapped is not None:
        return _forbidden_ip(ip.ipv4_mapped)
    if ip in IPV4_COMPATIBLE or ip in NAT64_LOCAL_USE:
        return True
    embedded = _embedded_ipv4(ip)
    return _forbidden_ip(ip) or (embedded is not None and _forbidden_ip(embedded))


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address a NAT64 or 6to4 address carries (Teredo is not global, so refused)."""
    if ip in NAT64_WELL_KNOWN:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip.sixtofour


def _forbidden_ip(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return not ip.is_global or ip.is_multicast


async def resolve_allowed(host: str, port: int) -> str:
    """The first address of `host`, provided none of its addresses is forbidden."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise TargetRefused(f"cannot resolve {host}: {exc.strerror}") from None
    addresses = [str(info[4][0]) for info in infos]
    bad = [a for a in addresses if is_forbidden_address(a)]
    if bad or not addresses:
        raise TargetRefused(
            f"{host} resolves to a private, loopback or link-local address ({bad[0] if bad else '-'})"
        )
    return addresses[0]


class WebhookSender:
    """Posts signed bodies; one instance (one connection pool) per dispatcher."""

    def __init__(self, *, allow_private: bool, timeout: float = TIMEOUT_SECONDS):
        self.allow_private, self.deadline = allow_private, timeout
        self._client = httpx2.AsyncClient(
            timeout=timeout,
            follow_redirects=False,
            trust_env=False,
            headers={"User-Agent": USER_AGENT},
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> Outcome:
        """One attempt: any 2xx is success; everything else (3xx included) is a failure."""
        started = time.monotonic()
        try:
            async with asyncio.timeout(self.deadline):
                response = await self._send(url, body, headers)
        except TargetRefused as exc:
            return Outcome(False, None, str(exc), _ms_since(started))
        except (httpx2.TimeoutException, TimeoutError):
            return Outcome(False, None, f"no complete answer within {self.deadline:g} s", _ms_since(started))
        except httpx2.HTTPError as exc:
            return Outcome(False, None, f"{type(exc).__name__}: {exc}"[:500], _ms_since(started))
        success = 200 <= response.status_code < 300
        error = None if success else f"HTTP {response.status_code}"
        return Outcome(success, response.status_code, error, _ms_since(started))

    async def _send(self, url: str, body: bytes, headers: dict[str, str]) -> httpx2.Response:
        target = httpx2.URL(url)
        extensions: dict = {}
        if not self.allow_private:
            address = await resolve_allowed(target.host, target.port or _default_port(target.scheme))
            headers = {**headers, "Host": target.netloc.decode("ascii")}
            if target.scheme == "https":
                extensions["sni_hostname"] = target.host
            target = target.copy_with(host=address)
        return await self._client.post(target, content=body, headers=headers, extensions=extensions)


def _default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80


def _ms_since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
