"""`sendhouse doctor` against real parts: SQLite / PostgreSQL, aiosmtpd relays (with and without
AUTH), the test DNS server and the app served by uvicorn; plus the command's output and exit code."""

from __future__ import annotations

from typing import Self

import sqlalchemy as sa
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from typer.testing import CliRunner

from sendhouse.cli import app as cli_app
from sendhouse.services import doctor
from sendhouse.store.schema.content import domains
from tests.support.dns_server import DnsServer, publish
from tests.support.http_receiver import HttpReceiver
from tests.support.live_server import LiveServer
from tests.support.smtp_sink import SinkHandler, free_port

USER, PASSWORD = "relay-user", "s3cret pass"


class Relay:
    """An aiosmtpd relay on 127.0.0.1, optionally demanding AUTH with USER / PASSWORD."""

    def __init__(self, *, auth: bool):
        self.logins: list[tuple[bytes, bytes]] = []
        extra = {"authenticator": self._authenticate, "auth_require_tls": False} if auth else {}
        self.controller = Controller(SinkHandler(), hostname="127.0.0.1", port=free_port(), **extra)

    def _authenticate(self, _server, _session, _envelope, _mechanism, data) -> AuthResult:
        self.logins.append((data.login, data.password))
        return AuthResult(
            success=(data.login, data.password) == (USER.encode(), PASSWORD.encode()), handled=False
        )

    def url(self, credentials: str = "") -> str:
        return f"smtp://{credentials}127.0.0.1:{self.controller.port}"

    def __enter__(self) -> Self:
        self.controller.start()
        return self

    def __exit__(self, *_exc) -> None:
        self.controller.stop()


def _with(settings, **changes):
    return settings.model_copy(update=changes)


# --- database ----------------------------------------------------------------------------------


async def test_database_at_head_is_fine(settings):
    check = await doctor.check_database(settings)
    assert check.ok, check.detail
    assert "newest revision" in check.detail


async def test_unmigrated_database_says_to_migrate(settings, tmp_path):
    check = await doctor.check_database(_with(settings, database_url=f"sqlite:///{tmp_path / 'empty.db'}"))
    assert not check.ok
    assert "no revision" in check.detail and "sendhouse migrate" in check.detail


async def test_database_one_revision_behind_names_both_revisions(settings):
    from alembic import command

    from sendhouse.store.migrate import alembic_config, head_revision, upgrade_to_head

    url = settings.resolved_database_url()
    command.downgrade(alembic_config(url), "-1")
    try:
        check = await doctor.check_database(settings)
    finally:
        upgrade_to_head(url)  # PostgreSQL's database is the session's
    assert not check.ok
    assert f"the newest is {head_revision()}: run `sendhouse migrate`" in check.detail
    assert f"at {head_revision()}," not in check.detail


async def test_unreachable_database_is_named_without_its_password(settings):
    url = f"postgresql://sendhouse:topsecret@127.0.0.1:{free_port()}/nowhere"
    check = await doctor.check_database(_with(settings, database_url=url))
    assert not check.ok
    assert "cannot use the database" in check.detail and "127.0.0.1" in check.detail
    assert "topsecret" not in check.detail


# --- SMTP relay --------------------------------------------------------------------------------


async def test_capture_needs_no_relay(settings):
    check = await doctor.check_smtp(_with(settings, smtp_url="capture"))
    assert check.ok and "capture" in check.detail


async def test_relay_without_auth_answers_ehlo(settings):
    with Relay(auth=False) as relay:
        check = await doctor.check_smtp(_with(settings, smtp_url=relay.url()))
    assert check.ok, check.detail
    assert "EHLO" in check.detail and "AUTH" not in check.detail
    assert relay.controller.handler.messages == []  # no mail was sent


async def test_relay_with_auth_accepts_the_configured_credentials(settings):
    with Relay(auth=True) as relay:
        check = await doctor.check_smtp(_with(settings, smtp_url=relay.url("relay-user:s3cret%20pass@")))
    assert check.ok, check.detail
    assert f"AUTH as {USER}" in check.detail
    assert relay.logins == [(USER.encode(), PASSWORD.encode())]


async def test_wrong_password_is_reported_in_plain_words(settings):
    with Relay(auth=True) as relay:
        check = await doctor.check_smtp(_with(settings, smtp_url=relay.url("relay-user:wrong@")))
    assert not check.ok
    assert "refused the user name and password" in check.detail and "535" in check.detail


async def test_credentials_for_a_relay_without_auth(settings):
    with Relay(auth=False) as relay:
        check = await doctor.check_smtp(_with(settings, smtp_url=relay.url("relay-user:x@")))
    assert not check.ok and "does not offer AUTH" in check.detail


async def test_starttls_asked_but_not_offered(settings):
    with Relay(auth=False) as relay:
        check = await doctor.check_smtp(_with(settings, smtp_url=relay.url() + "?starttls=true"))
    assert not check.ok and "does not offer STARTTLS" in check.detail


async def test_nothing_listening_on_the_relay_port(settings):
    check = await doctor.check_smtp(_with(settings, smtp_url=f"smtp://127.0.0.1:{free_port()}"))
    assert not check.ok and "cannot talk to the SMTP relay" in check.detail


async def test_malformed_relay_url(settings):
    check = await doctor.check_smtp(_with(settings, smtp_url="http://relay.example.com"))
    assert not check.ok and "SENDHOUSE_SMTP_URL is not usable" in check.detail


# --- DNS ---------------------------------------------------------------------------------------


async def _add_domain(api, tenant, name: str) -> dict:
    response = await api.client.post("/v1/domains", json={"domain": name}, headers=tenant.headers)
    assert response.status_code == 200, response.text
    return response.json()["data"]


async def _status(api, domain_id: str) -> str:
    async with api.db.read() as conn:
        return (
            await conn.execute(sa.select(domains.c.verification_status).where(domains.c.id == domain_id))
        ).scalar_one()


async def test_no_domain_is_not_a_problem(settings):
    with DnsServer() as dns_server:
        checks = await doctor.check_domains(_with(settings, dns_resolver=dns_server.address))
    assert [c.ok for c in checks] == [True]


async def test_each_domain_reports_the_records_that_are_missing(api, tenant, other_tenant, settings):
    done = await _add_domain(api, tenant, "published.example")
    half = await _add_domain(api, other_tenant, "half.example")
    with DnsServer() as dns_server:
        publish(dns_server, done["dnsRecords"])
        publish(dns_server, half["dnsRecords"], only=("ownership", "dkim"))
        checks = await doctor.check_domains(_with(settings, dns_resolver=dns_server.address))
    by_name = {c.name: c for c in checks}
    assert by_name["dns published.example (project main)"].ok
    missing = by_name["dns half.example (project other)"]
    assert not missing.ok
    assert "DMARC" in missing.detail and "mail-from" in missing.detail and "DKIM" not in missing.detail
    assert half["dnsRecords"]["dmarc"]["name"] in missing.detail
    assert await _status(api, half["id"]) == "PENDING_CONFIGURATION"  # read-only: nothing recorded


# --- public URL --------------------------------------------------------------------------------


def test_public_url_reaching_this_sendhouse(settings):
    with LiveServer(settings) as server:
        import asyncio

        check = asyncio.run(doctor.check_public_url(_with(settings, public_url=server.url + "/")))
    assert check.ok, check.detail


async def test_public_url_where_nothing_listens(settings):
    check = await doctor.check_public_url(_with(settings, public_url=f"http://127.0.0.1:{free_port()}"))
    assert (
        not check.ok and "cannot be reached" in check.detail and "Set SENDHOUSE_PUBLIC_URL to" in check.detail
    )


async def test_public_url_answered_by_something_else(settings):
    with HttpReceiver() as other:
        check = await doctor.check_public_url(_with(settings, public_url=other.url().rstrip("/")))
    assert (
        not check.ok
        and "pointing at this Sendhouse" in check.detail
        and "Set SENDHOUSE_PUBLIC_URL" in check.detail
    )


# --- the command -------------------------------------------------------------------------------


def _env(settings, monkeypatch, **extra) -> None:
    values = {
        "DATA_DIR": str(settings.data_dir),
        "DATABASE_URL": settings.database_url,
        "SECRET_KEY": "test-secret-key",
        **extra,
    }
    for name, value in values.items():
        monkeypatch.setenv(f"SENDHOUSE_{name}", value)


def test_command_exits_zero_when_everything_answers(settings, monkeypatch):
    with LiveServer(settings) as server, Relay(auth=True) as relay:
        _env(settings, monkeypatch, PUBLIC_URL=server.url, SMTP_URL=relay.url("relay-user:s3cret%20pass@"))
        result = CliRunner().invoke(cli_app, ["doctor"])
    assert result.exit_code == 0, result.output
    assert "PROBLEM" not in result.output and "everything answers" in result.output


def test_command_prints_problems_and_exits_non_zero(settings, monkeypatch):
    _env(
        settings,
        monkeypatch,
        PUBLIC_URL=f"http://127.0.0.1:{free_port()}",
        SMTP_URL=f"smtp://127.0.0.1:{free_port()}",
    )
    result = CliRunner().invoke(cli_app, ["doctor"])
    assert result.exit_code == 1
    assert result.output.count("PROBLEM") == 2
    assert "cannot talk to the SMTP relay" in result.output and "cannot be reached" in result.output
