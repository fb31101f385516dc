"""Each DNS record of a domain judged on its own, and which hosts an MX record cannot name."""

from __future__ import annotations

import pytest

from sendhouse.config import Settings
from sendhouse.domain import dns_records
from sendhouse.services.domains import mail_host_problem

DKIM = "v=DKIM1; k=rsa; p=QUJD"


@pytest.mark.parametrize(
    ("purpose", "wanted", "seen", "state"),
    [
        ("dkim", DKIM, ["v=DKIM1;k=rsa; p=QUJD;"], "found"),
        ("dkim", DKIM, ["v=DKIM1; k=rsa; p=REVG"], "wrong"),
        ("dkim", DKIM, [], "missing"),
        ("dkim", DKIM, None, "unanswered"),
        ("ownership", "sendhouse-verification=ab", ["google-site=1", "sendhouse-verification=ab"], "found"),
        ("spf", "v=spf1 a:b.example mx ~all", ["hello"], "wrong"),
        ("dmarc", "v=DMARC1; p=none;", ["v=dmarc1; p=reject"], "found"),
        ("mail_from", "bounces.example", ["elsewhere.example"], "wrong"),
        ("inbound", "bounces.example", ["Bounces.Example."], "found"),
    ],
)
def test_a_record_is_found_wrong_missing_or_unanswered(purpose, wanted, seen, state):
    assert dns_records.judge(purpose, wanted, seen)["state"] == state


def test_a_result_keeps_what_was_seen_within_bounds():
    seen = [f"v=spf1 include:{i}.example" + "x" * 300 for i in range(8)]
    kept = dns_records.judge("dmarc", "v=DMARC1;", seen)["seen"]
    assert len(kept) == dns_records.SEEN_KEPT and all(len(v) == dns_records.SEEN_CHARS for v in kept)


def test_flags_need_every_record_of_theirs():
    results = {p: {"state": "found"} for p in ("ownership", "dkim", "mail_from", "dmarc")}
    results["spf"] = {"state": "missing"}
    assert dns_records.flags(results) == {
        "ownership_verified": True,
        "dkim_enabled": True,
        "mail_from_enabled": False,
        "dmarc_enabled": True,
    }


@pytest.mark.parametrize(
    ("host", "why"),
    [
        ("127.0.0.1", "an IP address"),
        ("[::1]", "an IP address"),
        ("localhost", "a local name"),
        ("app.localhost", "a local name"),
        ("mailhost", "a name without a domain"),
        ("mail.example.com", None),
    ],
)
def test_an_mx_record_needs_a_host_name(host, why):
    assert dns_records.why_not_a_mail_host(host) == why


def test_the_setting_to_change_is_named():
    assert mail_host_problem(Settings(public_url="http://127.0.0.1:8080")) == {
        "host": "127.0.0.1",
        "why": "an IP address",
        "setting": "SENDHOUSE_PUBLIC_URL",
    }
    assert mail_host_problem(Settings(bounce_domain="localhost"))["setting"] == "SENDHOUSE_BOUNCE_DOMAIN"
    assert mail_host_problem(Settings(public_url="https://mail.example.com")) is None
