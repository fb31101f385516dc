"""The dashboard in a real browser (Playwright driving Debian's chromium) against a live
`sendhouse serve`: log in with the login the first start printed, import a CSV, build a segment
with its live count, create and send a campaign, watch its progress bar reach 100 %, open the
captured message in the outbox, see the recipient's open and click in the campaign's funnel, and
abort a second, larger campaign mid-send; see each DNS record of a domain with what the check
found of it (a local DNS server); see the failed part of a campaign's progress bar (a relay that
refuses some recipients). Every page it stops at passes the vendored axe-core check at desktop
and phone width.

Both servers deliver to the capture transport (the outbox); the abort test's server is limited
to SENDHOUSE_SEND_RATE messages per second, so the big campaign is still sending when it is
aborted. Screenshots go to test-artifacts/screenshots/.
"""

from __future__ import annotations

import email.policy
import re
from email.parser import BytesParser
from pathlib import Path

import pytest

from tests.e2e.browser import (
    BROWSER_ZONE,
    api_call,
    both_widths,
    chromium,
    expect,
    log_in,
    needs_chromium,
    new_tab,
    points_at,
    serving,
    shot,
    wait_until_server,
)
from tests.support.dns_server import DnsServer
from tests.support.faulty_smtp import FaultySmtp

pytestmark = needs_chromium
VIPS = 3
CROWD = 300
SEND_RATE = 40  # messages per second in the abort test: the big crowd takes ~30 s
BIG_CROWD = 1200


@pytest.fixture
def send_rate(request) -> str:
    """No limit, or (parametrized indirectly) messages per second."""
    return str(getattr(request, "param", 0))


@pytest.fixture
def server(db_url, tmp_path, send_rate):
    with serving(db_url, tmp_path, send_rate=send_rate) as found:
        yield found


@pytest.fixture
def page(server):
    with chromium(server["kind"]) as browser:
        yield new_tab(browser)


def _csv(path: Path, crowd: int) -> Path:
    lines = ["email,firstName,lastName,plan,city"]
    lines += [f"vip{i}@vip.example,Vip{i},Person,gold,Paris" for i in range(VIPS)]
    lines.append("VIP1@vip.example,,,gold,Paris")  # line VIPS + 2: vip1 again, merged into line 3
    lines += [f"user{i}@crowd.example,User{i},Crowd,free,Lyon" for i in range(crowd)]
    lines.append("not-an-address,Bad,Row,free,Lyon")  # skipped, with its line and reason in the report
    path.write_text("\n".join(lines) + "\n")
    return path


def _login(page, server) -> None:
    wait_until_server(page, server["url"])
    page.get_by_label("Email").fill(server["email"])
    page.get_by_label("Password").fill("wrong password!")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("Wrong email or password")
    page.get_by_label("Password").fill(server["password"])
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Campaigns")).to_be_visible()
    shot(page, "01-campaigns-empty")


def _import(page, server, crowd: int = CROWD) -> None:
    page.get_by_role("link", name="Import", exact=True).click()
    page.get_by_label("CSV file").set_input_files(str(_csv(server["tmp"] / "people.csv", crowd)))
    shot(page, "02-import-form")
    page.get_by_role("button", name="Import").click()
    expect(page.get_by_role("heading", name="Map the columns")).to_be_visible()
    expect(page.locator("tr[data-column=email] td").first).to_contain_text(  # a preview of the first rows
        "vip0@vip.example · vip1@vip.example · vip2@vip.example"
    )
    expect(page.locator("#newName_4")).to_have_value("cityName")
    expect(page.locator("#reason_4")).to_contain_text("reserved name")
    page.reload()  # the upload waiting for its mapping is a row and a file, not one request's memory
    page.locator("#target_2").select_option("skip")
    both_widths(page, "02b-import-mapping")
    page.get_by_role("button", name="Start import").click()
    expect(page.locator("#import-status")).to_have_text("finished", timeout=60_000)
    expect(page.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "100")
    expect(page.locator("#import-report")).to_contain_text(
        f"{VIPS + crowd:,} contacts imported, 1 row skipped"
    )
    expect(page.locator("#import-errors li")).to_have_text(
        [f"line {VIPS + crowd + 3}: invalid email 'not-an-address'"]
    )
    expect(page.locator("#import-report")).to_contain_text("1 row merged into an earlier row's contact")
    expect(page.get_by_role("list", name=re.compile("^Rows whose email appeared earlier"))).to_have_text(
        [f"line {VIPS + 2}: same email as line 3, merged"]
    )
    expect(page.locator("#import-skipped")).to_have_text("Columns you chose to skip: lastName")
    both_widths(page, "03-import-done")
    page.get_by_role("link", name="Properties").click()
    expect(page.locator("[data-property=plan], [data-property=cityName]")).to_have_count(
        2
    )  # created at the mapping


def _segment(page) -> None:
    """Build a segment: a known field brings its type and only the comparisons that fit it; a bad
    value is explained in words next to the live count; one condition at a time."""
    page.get_by_role("link", name="Lists & segments").click()
    page.get_by_label("Name", exact=True).nth(1).fill("VIPs")
    expect(page.locator("fieldset.condition:visible")).to_have_count(1)
    page.locator("#field_0").fill("email")
    expect(page.locator("#fieldType_0")).to_be_disabled()
    expect(page.locator("#fieldType_0")).to_have_value("string")
    expect(page.locator("#operator_0 option[value=greater_than]")).to_be_disabled()
    page.locator("#operator_0").select_option(label="ends with")
    page.locator("#value_0").fill("@vip.example")
    expect(page.locator("#segment-count [data-count]")).to_have_text(str(VIPS))
    page.get_by_role("button", name="Add a condition").click()
    page.locator("#field_1").fill("createdAt")
    expect(page.locator("#fieldType_1")).to_have_value("date")
    page.locator("#operator_1").select_option(label="is after")
    page.locator("#value_1").fill("soon")
    expect(page.locator("#segment-count")).to_contain_text("Condition 2, value")
    page.locator("#value_1").fill("2000-01-01")
    expect(page.locator("#segment-count [data-count]")).to_have_text(str(VIPS))
    both_widths(page, "04-segment-builder")
    page.get_by_role("button", name="Create segment").click()
    expect(page.locator("#member-count")).to_have_text(str(VIPS))
    expect(page.locator("#conditions li")).to_have_text(
        ["email ends with @vip.example", re.compile(r"^createdAt is after 2000-01-01")]
    )


def _create_campaign(page, name: str, audience: str) -> None:
    page.get_by_role("link", name="Campaigns", exact=True).click()
    page.get_by_role("link", name="New campaign").click()
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Subject", exact=True).fill(f"{name} news")
    page.get_by_label("From address").fill("news@shop.example")
    page.get_by_label("HTML (used when no template is chosen)").fill(
        '<h1>Hello {{firstName}}</h1><p><a href="https://shop.example/sale">Sale</a></p>'
    )
    page.get_by_role("group", name="Send to").get_by_label(audience).check()
    preview = page.frame_locator("iframe.mobile")
    expect(preview.locator("h1")).to_have_text("Hello Ada")
    shot(page, f"05-campaign-form-{name}")
    page.get_by_role("button", name="Save campaign").click()
    expect(page.locator("#campaign-status")).to_have_text("draft")


def _confirm_send(page, recipients: int) -> None:
    page.get_by_role("link", name="Send now…").click()
    expect(page.locator("#recipient-count strong")).to_have_text(f"{recipients:,}")
    both_widths(page, f"05b-send-confirmation-{recipients}")
    page.get_by_role("button", name=f"Send to {recipients:,} recipients").click()


def _send_and_watch(page) -> None:
    _confirm_send(page, VIPS)
    expect(page.locator("#starts-in")).to_be_visible()
    expect(page.locator("#campaign-status")).to_have_text("sent", timeout=90_000)
    expect(page.locator("#starts-in")).to_have_count(0)
    bar = page.locator("#progress [role=progressbar]")
    expect(bar).to_have_attribute("aria-valuenow", "100")
    expect(page.locator("[data-metric=sent] dd")).to_have_text(str(VIPS))  # no reload by hand
    expect(page.locator("section[aria-label=Actions] button")).to_have_text(["Duplicate"])
    both_widths(page, "06-campaign-sent")


def _outbox(page, server) -> None:
    page.get_by_role("link", name="Outbox").click()
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(VIPS)
    page.get_by_label("Campaign", exact=True).select_option(label="Spring")
    page.get_by_label("Status", exact=True).select_option("failed")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#outbox-total")).to_have_text("0 messages")
    page.get_by_label("Status", exact=True).select_option("sent")
    page.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(VIPS)
    page.get_by_label("Recipient").fill("vip1@")
    page.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(1)
    both_widths(page, "07-outbox-filtered")
    tracked: list[str] = []
    page.on("request", lambda request: tracked.append(request.url) if "/t/" in request.url else None)
    rows.first.get_by_role("link").click()
    expect(page.frame_locator("iframe.message").locator("h1")).to_contain_text("Hello Vip1")
    href = page.frame_locator("iframe.message").get_by_role("link", name="Sale").get_attribute("href")
    assert href == "https://shop.example/sale" and tracked == []  # no pixel, no tracked link
    expect(page.locator("#message-from")).to_have_text("news@shop.example")
    assert (
        server["url"] + "/u/" in page.content()
    )  # List-Unsubscribe follows `serve --port` (no SENDHOUSE_PUBLIC_URL)
    both_widths(page, "08-captured-message")
    page.get_by_role("link", name="Raw source").click()
    page.wait_for_url("**/raw")
    page.wait_for_load_state()  # content() read mid-navigation returns an empty document
    source = page.content()
    assert "Message-ID:" in source and "List-Unsubscribe:" in source and "/t/o/" in source
    _open_and_click_as_the_recipient(page, page.request.get(page.url).body())
    page.go_back()


def _open_and_click_as_the_recipient(page, raw: bytes) -> None:
    """Load the message's open pixel and follow its tracked link, as vip1's mail client would."""
    html = (
        BytesParser(policy=email.policy.default)
        .parsebytes(raw)
        .get_body(preferencelist=("html",))
        .get_content()
    )
    pixel, link = (
        re.search(r'src="([^"]+/t/o/[^"]+)"', html)[1],
        re.search(r'href="([^"]+/t/c/[^"]+)"', html)[1],
    )
    assert page.request.get(pixel).ok
    assert page.request.get(link, max_redirects=0).headers["location"] == "https://shop.example/sale"


def _funnel(page) -> None:
    """The campaign's funnel counts vip1's open and click (the page refreshes itself)."""
    page.get_by_role("link", name="Campaigns", exact=True).click()
    page.get_by_role("link", name="Spring", exact=True).click()
    steps = page.locator(".funnel li")
    expect(steps).to_have_count(4)
    expect(page.locator("[data-step=clicked]")).to_contain_text(
        "1 100.0 % of opened · 33.3 % of delivered", timeout=30_000
    )
    expect(page.locator("[data-step=opened]")).to_contain_text("1 33.3 % of delivered")
    expect(page.locator("[data-step=delivered]")).to_contain_text(f"{VIPS} 100.0 % of sent")
    both_widths(page, "06b-campaign-funnel")


def _overview(page) -> None:
    page.get_by_role("link", name="Overview").click()
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    expect(page.locator("[data-metric=contacts] dd")).to_have_text(f"{VIPS + CROWD:,}")
    expect(page.locator("[data-metric=added] dd")).to_have_text(f"+{VIPS + CROWD:,}")
    expect(page.locator("tr[data-campaign] td").nth(2)).to_have_text(str(VIPS))
    spring = page.locator("tr[data-campaign]").first  # vip1 of the three opened and clicked
    expect(spring.locator("[data-open-rate]")).to_have_text("33.3 %")
    expect(spring.locator("[data-click-rate]")).to_have_text("33.3 %")
    both_widths(page, "13-overview")


def _abort_mid_send(page) -> None:
    _confirm_send(page, VIPS + BIG_CROWD)
    expect(page.locator("#campaign-status")).to_have_text("sending", timeout=60_000)
    bar = page.locator("#progress [role=progressbar]")
    expect(bar).not_to_have_attribute("aria-valuenow", "0", timeout=60_000)
    expect(page.get_by_role("button", name="Pause")).to_be_visible()
    shot(page, "09-campaign-sending")
    page.once(
        "dialog", lambda dialog: dialog.accept() if "not recalled" in dialog.message else dialog.dismiss()
    )
    page.get_by_role("button", name="Abort").click()
    expect(page.locator("#campaign-status")).to_have_text("aborted")
    expect(page.locator(".flash")).to_contain_text("not recalled")
    cancelled = int(page.locator("[data-part=cancelled] strong").inner_text().replace(",", ""))
    sent = int(page.locator("[data-part=sent] strong").inner_text().replace(",", ""))
    assert cancelled > 0 and sent > 0 and sent + cancelled <= VIPS + BIG_CROWD
    expect(bar).to_have_attribute("aria-valuenow", "100")
    assert page.locator("#progress .bar span.cancelled").count() == 1  # grey, not a full green bar
    expect(page.locator("section[aria-label=Actions] button")).to_have_text(["Duplicate"])
    both_widths(page, "10-campaign-aborted")


def _schedule_refuses_the_past(page) -> None:
    expect(page.locator("[data-browser-zone]")).to_have_text(BROWSER_ZONE)
    expect(page.get_by_label("Time zone")).to_have_value(BROWSER_ZONE)
    page.get_by_label("Date and time").fill("2020-01-01T09:00")
    page.get_by_role("button", name="Schedule").click()
    points_at(page.get_by_label("Date and time"), "has already passed")
    expect(page.locator("#campaign-status")).to_have_text("draft")
    both_widths(page, "05a-campaign-draft")


def test_a_user_runs_campaigns_from_the_dashboard(server, page):
    _login(page, server)
    _import(page, server)
    _segment(page)
    _create_campaign(page, "Spring", "VIPs")
    _schedule_refuses_the_past(page)
    _send_and_watch(page)
    _outbox(page, server)
    _funnel(page)
    _overview(page)
    page.get_by_role("link", name="Campaigns", exact=True).click()
    expect(page.locator("tbody tr")).to_have_count(1)
    expect(page.locator("td[data-sent]")).to_have_text(str(VIPS))
    shot(page, "11-campaigns")
    page.set_viewport_size({"width": 360, "height": 800})
    shot(page, "12-campaigns-360px")
    assert page.evaluate("document.documentElement.scrollWidth") <= 360


@pytest.mark.parametrize("send_rate", [SEND_RATE], indirect=True)
def test_a_user_aborts_a_campaign_mid_send(server, page):
    _login(page, server)
    _import(page, server, BIG_CROWD)
    _create_campaign(page, "Everyone", "All Contacts")
    _abort_mid_send(page)


def _open(browser, server):
    page = new_tab(browser)
    log_in(page, server)
    return page


def test_each_dns_record_of_a_domain_shows_what_the_check_found(db_url, tmp_path):
    bounce = "bounces.sendhouse.example"
    with (
        DnsServer() as dns,
        serving(db_url, tmp_path, dns_resolver=dns.address, bounce_domain=bounce) as server,
        chromium(server["kind"]) as browser,
    ):
        page = _open(browser, server)
        page.get_by_role("link", name="Domains").click()
        page.get_by_label("Domain name").fill("shop.example")
        page.get_by_role("button", name="Add domain").click()
        checks = page.locator("[data-record] .record-check")
        expect(checks).to_have_text(["not checked yet"] * 5)
        expect(page.locator("#host-problem")).to_have_count(0)
        ownership = page.get_by_label("Ownership record value").input_value()
        dns.add("_autosend-verify.shop.example", "TXT", ownership)
        dns.add(
            page.get_by_label("DKIM signature record name").input_value(), "TXT", "v=DKIM1; k=rsa; p=QUJD"
        )
        dns.add("mail.shop.example", "MX", f"10 {bounce}.")
        dns.add("_dmarc.shop.example", "TXT", "p=none")
        page.get_by_role("button", name="Check DNS now").click()
        expect(page.locator(".flash")).to_contain_text("DNS checked")
        expect(checks).to_have_text(
            [
                "found",
                "wrong value: found v=DKIM1; k=rsa; p=QUJD",
                "found",
                "missing: nothing is published at this name",
                "wrong value: found p=none",
            ]
        )
        expect(page.locator("[data-record=mail_from] textarea")).to_have_value(bounce)
        both_widths(page, "14-domain-record-checks")


def _failing_campaign(server, crowd: int) -> None:
    """`crowd` contacts in a list and a campaign sent to them now."""
    readers = api_call(server, "POST", "/contact-lists", {"name": "Readers"})
    for i in range(crowd):
        api_call(
            server, "POST", "/contacts", {"email": f"reader{i}@shop.example", "listIds": [readers["id"]]}
        )
    body = {
        "name": "Refused",
        "subject": "Hello",
        "toLists": [readers["id"]],
        "htmlTemplate": "<p>Hello</p>",
        "from": {"email": "news@shop.example"},
        "sendNow": True,
    }
    api_call(server, "POST", "/campaigns", body)


def test_failed_messages_draw_the_failed_part_of_the_progress_bar(db_url, tmp_path):
    crowd = 6  # with this seed the relay refuses reader1, 2, 3 and 5 (550 at RCPT TO)
    with (
        FaultySmtp(seed=7, rates={"550@rcpt": 0.5}) as relay,
        serving(db_url, tmp_path, smtp_url=relay.url(10), require_verified_domain="false") as server,
        chromium(server["kind"]) as browser,
    ):
        _failing_campaign(server, crowd)
        page = _open(browser, server)
        page.get_by_role("link", name="Refused", exact=True).click()
        expect(page.locator("#campaign-status")).to_have_text("sent", timeout=90_000)
        expect(page.locator("[data-part=failed] strong")).to_have_text("4")
        expect(page.locator("[data-part=sent] strong")).to_have_text("2")
        expect(page.locator("[data-part=remaining] strong")).to_have_text("0")
        bar = page.locator("#progress [role=progressbar]")
        expect(bar).to_have_attribute("aria-valuetext", f"2 sent, 4 undelivered of {crowd}")
        expect(bar.locator("span")).to_have_count(2)
        expect(bar.locator("span.failed")).to_have_attribute("style", "width: 66.67%")
        expect(bar.locator("span.sent")).to_have_attribute("style", "width: 33.33%")
        color = bar.locator("span.failed").evaluate("span => getComputedStyle(span).backgroundColor")
        assert color == "rgb(180, 35, 24)", color  # the danger red, not the green of sent
        both_widths(page, "15-campaign-with-failures")
