"""A live `sendhouse serve` for the compatibility suite, on the test's database (SQLite and
PostgreSQL), with verified domains required (as with a real relay) and a DNS server the test
controls, so a sending domain can really be verified before the SDKs send from it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx2
import pytest

from tests.support.dns_server import DnsServer, publish
from tests.support.smtp_sink import free_port

SENDHOUSE = str(Path(sys.executable).parent / "sendhouse")
SENDING_DOMAIN = "compat.example"


@dataclass
class Live:
    """The running server: its /v1 base URL, a project key and the DNS server it asks."""

    base: str
    key: str
    dns: DnsServer

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    def call(self, method: str, path: str, **kwargs) -> httpx2.Response:
        return httpx2.request(method, self.base + path, headers=self.headers, timeout=30, **kwargs)

    def verify_domain(self, name: str = SENDING_DOMAIN) -> dict:
        """Add the domain, publish its ownership and DKIM records, verify it through DNS."""
        domain = self.call("POST", "/domains", json={"domain": name}).json()["data"]
        publish(self.dns, domain["dnsRecords"], only=("ownership", "dkim"))
        verified = self.call("POST", f"/domains/{domain['id']}/verify").json()["data"]
        assert verified["verificationStatus"] == "VERIFIED", verified
        return domain


def _env(db_url: str, data_dir: Path, dns: DnsServer) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENDHOUSE_")}
    env.update(
        {
            "SENDHOUSE_DATABASE_URL": db_url,
            "SENDHOUSE_DATA_DIR": str(data_dir),
            "SENDHOUSE_RATE_LIMIT": "1000",
            "SENDHOUSE_SEND_NOW_DELAY": "600",
            "SENDHOUSE_REQUIRE_VERIFIED_DOMAIN": "true",
            "SENDHOUSE_DNS_RESOLVER": dns.address,
            "SENDHOUSE_SECRET_KEY": "compat-secret",
        }
    )
    return env


def _wait_until_up(base: str, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            httpx2.get(f"{base}/healthz", timeout=1)
            return
        except httpx2.HTTPError:
            time.sleep(0.2)
    raise AssertionError(f"sendhouse serve did not come up (exit code {proc.poll()})")


@pytest.fixture
def live(db_url, tmp_path):
    port = free_port()
    with DnsServer() as dns, open(tmp_path / "serve.log", "w") as log:
        env = _env(db_url, tmp_path / "data", dns)
        proc = subprocess.Popen(
            [SENDHOUSE, "serve", "--port", str(port), "--no-worker"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            _wait_until_up(base, proc)
            made = subprocess.run(
                [SENDHOUSE, "keys", "create", "--project", "default"],
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert made.returncode == 0, made.stderr
            yield Live(base + "/v1", made.stdout.strip().splitlines()[-1], dns)
        finally:
            proc.terminate()
            proc.wait(timeout=60)
