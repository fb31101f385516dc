"""Settings: every one read from a SENDHOUSE_* environment variable, each with a default and help.

README.md's settings table must list every field here (tests/unit/test_config.py checks it).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """All of Sendhouse's configuration, loaded once at start-up."""

    model_config = SettingsConfigDict(env_prefix="SENDHOUSE_", frozen=True, extra="ignore")

    data_dir: Path = Field(Path("./data"), description="SQLite file, captured mail, generated secret")
    database_url: str = Field(
        "", description="database URL; empty means SQLite in the data dir, or postgresql://…"
    )
    smtp_url: str = Field(
        "capture",
        description="`capture`, or smtp://[user:pass@]host:port[?starttls=true], or smtps://…",
    )
    smtp_connections: int = Field(10, ge=1, le=500, description="concurrent SMTP connections per worker")
    send_rate: float = Field(
        0, ge=0, description="messages per second per relay, shared by all workers (0: no limit)"
    )
    public_url: str = Field("http://127.0.0.1:8080", description="base of tracking and unsubscribe links")
    secret_key: str = Field(
        "", description="signs tokens and sessions; generated into the data dir when empty"
    )
    send_now_delay: int = Field(120, ge=0, description="seconds between `sendNow` and the start")
    stale_schedule_after: int = Field(
        3600, ge=60, description="seconds after which a missed schedule pauses the campaign instead of firing"
    )
    bounce_domain: str = Field(
        "", description="domain of VERP return paths; empty means the host of the public URL"
    )
    inbound_smtp: str = Field(
        "",
        description="host:port of the built-in receiver for bounces, complaints and the inbox (off when empty)",
    )
    submission_smtp: str = Field(
        "", description="host:port of the authenticated SMTP submission server for apps (off when empty)"
    )
    submission_smtps: str = Field(
        "",
        description="host:port of the submission server with implicit TLS (SMTPS, like port 465; off when empty)",
    )
    submission_tls_cert: str = Field(
        "", description="PEM certificate (chain) file for STARTTLS on the submission server"
    )
    submission_tls_key: str = Field("", description="PEM private key file of that certificate")
    submission_connections: int = Field(
        20, ge=1, description="SMTP connections one SMTP key may hold at once"
    )
    submission_rate: int = Field(6000, ge=1, description="messages per minute one SMTP key may submit")
    require_verified_domain: bool | None = Field(
        None,
        description="refuse `from` addresses on unverified domains; unset means on with a real relay, "
        "off with `capture`",
    )
    rate_limit: int = Field(100, ge=1, description="API requests per second allowed per key")
    max_body_bytes: int = Field(
        8 * 1024 * 1024,
        ge=1024,
        description="largest request body of a route without its own limit (413 beyond); sized for a 4 MB template",
    )
    max_mail_body_bytes: int = Field(
        48 * 1024 * 1024,
        ge=1024,
        description="largest body of /v1/mails/send and /v1/mails/bulk: a 40 MB email (base64 attachments) in JSON",
    )
    webhook_allow_private: bool = Field(
        False, description="allow webhook targets on private, loopback or link-local addresses"
    )
    webhook_retry_schedule: str = Field(
        "5,10,20",
        pattern=r"^\s*(\d+(\.\d+)?(\s*,\s*\d+(\.\d+)?)*)?\s*$",
        description="seconds to wait before each webhook retry, comma-separated (3 retries = 4 attempts)",
    )
    webhook_timeout: float = Field(
        10.0,
        gt=0,
        le=300,
        description="seconds one webhook attempt may take in all (connect, send, whole answer)",
    )
    webhook_concurrency: int = Field(
        32,
        ge=1,
        le=1000,
        description="webhook deliveries in flight at once per dispatcher (at most 4 per endpoint)",
    )
    dns_resolver: str = Field(
        "",
        description="host[:port] of the DNS resolver for domain checks and SPF/DKIM/DMARC of received mail "
        "(system resolver when empty)",
    )
    soft_bounce_limit: int = Field(3, ge=1, description="soft bounces of one address before it is suppressed")
    automated_open_window: float = Field(
        5,
        ge=0,
        description="seconds after sending within which an open counts as automated (left out of humanOpened)",
    )
    max_attempts: int = Field(6, ge=1, description="delivery attempts of one message before it fails")
    lease_seconds: float = Field(
        120,
        gt=0,
        description="how long a worker's claim lasts without renewal; a dead worker's rows return once unrenewed for 10 s (or the lease, if shorter), "
        "a live worker's only after 10 leases without renewal",
    )
    sqlite_busy_timeout: float = Field(
        30,
        gt=0,
        description="seconds a SQLite write waits for the write lock before it fails (failed outcome writes are retried)",
    )
    retry_base_seconds: float = Field(
        60,
        ge=0,
        description="first retry delay after a temporary failure; doubles each attempt (with jitter)",
    )
    workers: int = Field(
        default_factory=lambda: cores(),
        ge=1,
        le=1024,
        description="delivery worker processes started by `serve` (default: the number of cores)",
    )
    api_processes: int = Field(
        1, ge=1, le=256, description="HTTP processes started by `serve`; more than one share the port"
    )
    relay_failure_limit: int = Field(
        25, ge=1, description="consecutive connection failures to the relay before its campaigns are paused"
    )

    def for_listener(self, host: str, port: int) -> Settings:
        """These settings with the public URL following the address served, unless
        SENDHOUSE_PUBLIC_URL was set explicitly."""
        if self.public_url_is_explicit():
            return self
        return self.model_copy(update={"public_url": listening_url(host, port)})

    def public_url_is_explicit(self) -> bool:
        return "public_url" in self.model_fields_set

    def resolved_database_url(self) -> str:
        """The database URL, defaulting to SQLite inside the data dir."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'sendhouse.db').resolve()}"

    @field_validator("require_verified_domain", mode="before")
    @classmethod
    def _blank_is_unset(cls, value):
        return None if isinstance(value, str) and not value.strip() else value

    def verified_domain_required(self) -> bool:
        """Whether senders and `from` addresses must be on a VERIFIED domain of the project: the
        setting when given, else on whenever mail goes to a real relay (not `capture`)."""
        if self.require_verified_domain is not None:
            return self.require_verified_domain
        return self.smtp_url.strip().lower() != "capture"

    def resolved_bounce_domain(self) -> str:
        """The VERP domain: the setting, or the public URL's host."""
        return self.bounce_domain or (urlsplit(self.public_url).hostname or "localhost")

    def resolved_secret_key(self) -> str:
        """The signing secret: the setting, or one generated once and kept in the data dir."""
        if self.secret_key:
            return self.secret_key
        path = self.data_dir / "secret.key"
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(48))
            path.chmod(0o600)
        return path.read_text().strip()


def cores() -> int:
    """The cores this process may run on (its CPU affinity, where the system tells it)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


def listening_url(host: str, port: int) -> str:
    """The http:// URL a server on host:port answers at (a wildcard address reads as loopback)."""
    shown = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    return f"http://[{shown}]:{port}" if ":" in shown else f"http://{shown}:{port}"


def setting_env_names() -> list[str]:
    """The environment variable of every setting (for the docs check)."""
    return [f"SENDHOUSE_{name.upper()}" for name in Settings.model_fields]
