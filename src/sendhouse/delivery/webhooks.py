"""HTTP delivery of one webhook attempt: httpx2, 10 s timeout, no redirects, and an SSRF guard.

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


def is_forbidden_address(address: str) -> bool:
    """Whether an IP is off limits for webhooks (anything not globally routable)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


async def resolve_allowed(host: str, port: int) -> str:
    """The first address of `host`, provided none of its addresses is forbidden."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise TargetRefused(f"cannot resolve {host}: {exc.strerror}") from None
    addresses = [info[4][0] for info in infos]
    bad = [a for a in addresses if is_forbidden_address(a)]
    if bad or not addresses:
        raise TargetRefused(f"{host} resolves to a private, loopback or link-local address ({bad[0] if bad else '-'})")
    return addresses[0]


class WebhookSender:
    """Posts signed bodies; one instance (one connection pool) per dispatcher."""

    def __init__(self, *, allow_private: bool, timeout: float = TIMEOUT_SECONDS):
        self.allow_private = allow_private
        self._client = httpx2.AsyncClient(
            timeout=timeout, follow_redirects=False, trust_env=False, headers={"User-Agent": USER_AGENT},
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> Outcome:
        """One attempt: any 2xx is success; everything else (3xx included) is a failure."""
        started = time.monotonic()
        try:
            response = await self._send(url, body, headers)
        except TargetRefused as exc:
            return Outcome(False, None, str(exc), _ms_since(started))
        except httpx2.TimeoutException:
            return Outcome(False, None, f"timed out after {TIMEOUT_SECONDS:g} s", _ms_since(started))
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
