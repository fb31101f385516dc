"""The dashboard in a real browser (Playwright driving Debian's chromium) against a live
`sendhouse serve`: log in with the login the first start printed, import a CSV, build a segment
with its live count, create and send a campaign, watch its progress bar reach 100 %, open the
captured message in the outbox, and abort a second, larger campaign mid-send.

Both servers deliver to the capture transport (the outbox); the abort test's server is limited
to SENDHOUSE_SEND_RATE messages per second, so the big campaign is still sending when it is
aborted. Screenshots go to test-artifacts/screenshots/.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

playwright_sync = pytest.importorskip("playwright.sync_api")
CHROMIUM = "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")

SENDHOUSE = str(Path(sys.executable).parent / "sendhouse")
SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
               "--disable-component-update", "--disable-sync"]
VIPS = 3
CROWD = 1200
SEND_RATE = 40  # messages per second in the abort test: the big crowd takes ~30 s
BIG_CROWD = 1200
BROWSER_ZONE = "Europe/Paris"
DESKTOP, PHONE = {"width": 1280, "height": 800}, {"width": 390, "height": 844}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _env(db_url: str, data_dir: Path, extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENDHOUSE_")}
    env.update({"SENDHOUSE_DATABASE_URL": db_url, "SENDHOUSE_DATA_DIR": str(data_dir),
                "SENDHOUSE_SEND_NOW_DELAY": "1", "SENDHOUSE_SECRET_KEY": "browser-test-secret", **extra})
    return env


def _read_login(proc: subprocess.Popen) -> tuple[str, str]:
    """The email and password the first start prints."""
    found: dict[str, str] = {}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(found) < 2:
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            break
        match = re.match(r"\s*(email|password):\s+(\S+)", line)
        if match:
            found[match[1]] = match[2]
    assert len(found) == 2, "the first start did not print a dashboard login"
    return found["email"], found["password"]


@pytest.fixture
def send_rate(request) -> str:
    """No limit, or (parametrized indirectly) messages per second."""
    return str(getattr(request, "param", 0))


@pytest.fixture
def server(db_url, tmp_path, send_rate):
    port = _free_port()
    extra = {"SENDHOUSE_SEND_RATE": send_rate}
    proc = subprocess.Popen([SENDHOUSE, "serve", "--port", str(port)], env=_env(db_url, tmp_path / "data", extra),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        email, password = _read_login(proc)
        yield {"url": f"http://127.0.0.1:{port}", "email": email, "password": password, "tmp": tmp_path}
    finally:
        proc.terminate()
        print(proc.stdout.read()[-3000:] if proc.stdout else "")
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture
def page(server):
    SHOTS.mkdir(parents=True, exist_ok=True)
    with playwright_sync.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
        try:
            tab = browser.new_page(viewport={"width": 1280, "height": 900}, timezone_id=BROWSER_ZONE)
            tab.set_default_timeout(30_000)
            yield tab
        finally:
            browser.close()


def _shot(page, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _csv(path: Path, crowd: int) -> Path:
    lines = ["email,firstName,lastName,plan,city"]
    lines += [f"vip{i}@vip.example,Vip{i},Person,gold,Paris" for i in range(VIPS)]
    lines += [f"user{i}@crowd.example,User{i},Crowd,free,Lyon" for i in range(crowd)]
    path.write_text("\n".join(lines) + "\n")
    return path


def _wait_until_server(page, url: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            page.goto(url + "/app/login")
            return
        except playwright_sync.Error:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def _login(page, server) -> None:
    _wait_until_server(page, server["url"])
    page.get_by_label("Email").fill(server["email"])
    page.get_by_label("Password").fill("wrong password!")
    page.get_by_role("button", name="Log in").click()
    playwright_sync.expect(page.get_by_role("alert")).to_contain_text("Wrong email or password")
    page.get_by_label("Password").fill(server["password"])
    page.get_by_role("button", name="Log in").click()
    playwright_sync.expect(page.get_by_role("heading", name="Campaigns")).to_be_visible()
    _shot(page, "01-campaigns-empty")


def _import(page, server, crowd: int = CROWD) -> None:
    page.get_by_role("link", name="Import", exact=True).click()
    page.get_by_label("CSV file").set_input_files(str(_csv(server["tmp"] / "people.csv", crowd)))
    _shot(page, "02-import-form")
    page.get_by_role("button", name="Import").click()
    playwright_sync.expect(page.get_by_role("heading", name="Map the columns")).to_be_visible()
    playwright_sync.expect(page.locator("#newName_4")).to_have_value("cityName")
    playwright_sync.expect(page.locator("#reason_4")).to_contain_text("reserved name")
    _both_widths(page, "02b-import-mapping")
    page.get_by_role("button", name="Start import").click()
    playwright_sync.expect(page.locator("#import-status")).to_have_text("finished", timeout=60_000)
    playwright_sync.expect(page.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "100")
    playwright_sync.expect(page.locator("#import-report")).to_contain_text(f"{VIPS + crowd} contacts imported")
    _shot(page, "03-import-done")


def _segment(page) -> None:
    page.get_by_role("link", name="Lists & segments").click()
    page.get_by_label("Name", exact=True).nth(1).fill("VIPs")
    page.locator("#field_0").fill("email")
    page.locator("#fieldType_0").select_option("string")
    page.locator("#operator_0").select_option("ends_with")
    page.locator("#value_0").fill("@vip.example")
    playwright_sync.expect(page.locator("#segment-count [data-count]")).to_have_text(str(VIPS))
    page.locator("#operator_0").select_option("greater_than")  # not a string operator: the service's error shows
    playwright_sync.expect(page.locator("#segment-count")).to_contain_text("must be one of")
    page.locator("#operator_0").select_option("ends_with")
    playwright_sync.expect(page.locator("#segment-count [data-count]")).to_have_text(str(VIPS))
    _shot(page, "04-segment-builder")
    page.get_by_role("button", name="Create segment").click()
    playwright_sync.expect(page.locator("#member-count")).to_have_text(str(VIPS))


def _create_campaign(page, name: str, audience: str) -> None:
    page.get_by_role("link", name="Campaigns", exact=True).click()
    page.get_by_role("link", name="New campaign").click()
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Subject", exact=True).fill(f"{name} news")
    page.get_by_label("From address").fill("news@shop.example")
    page.get_by_label("HTML (used when no template is chosen)").fill(
        '<h1>Hello {{firstName}}</h1><p><a href="https://shop.example/sale">Sale</a></p>')
    page.get_by_role("group", name="Send to").get_by_label(audience).check()
    preview = page.frame_locator("iframe.mobile")
    playwright_sync.expect(preview.locator("h1")).to_have_text("Hello Ada")
    _shot(page, f"05-campaign-form-{name}")
    page.get_by_role("button", name="Save campaign").click()
    playwright_sync.expect(page.locator("#campaign-status")).to_have_text("draft")


def _both_widths(page, name: str) -> None:
    """Screenshots at desktop and phone width; the page never scrolls sideways on the phone."""
    for size, label in ((DESKTOP, "desktop"), (PHONE, "phone")):
        page.set_viewport_size(size)
        _shot(page, f"{name}-{label}")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], name
    page.set_viewport_size(DESKTOP)


def _confirm_send(page, recipients: int) -> None:
    page.get_by_role("link", name="Send now…").click()
    playwright_sync.expect(page.locator("#recipient-count strong")).to_have_text(f"{recipients:,}")
    _both_widths(page, f"05b-send-confirmation-{recipients}")
    page.get_by_role("button", name=f"Send to {recipients:,} recipients").click()


def _send_and_watch(page) -> None:
    _confirm_send(page, VIPS)
    playwright_sync.expect(page.locator("#starts-in")).to_be_visible()
    playwright_sync.expect(page.locator("#campaign-status")).to_have_text("sent", timeout=90_000)
    playwright_sync.expect(page.locator("#starts-in")).to_have_count(0)
    bar = page.locator("#progress [role=progressbar]")
    playwright_sync.expect(bar).to_have_attribute("aria-valuenow", "100")
    playwright_sync.expect(page.locator("[data-metric=sent] dd")).to_have_text(str(VIPS))  # no reload by hand
    playwright_sync.expect(page.locator("section[aria-label=Actions] button")).to_have_text(["Duplicate"])
    _both_widths(page, "06-campaign-sent")


def _outbox(page, server) -> None:
    page.get_by_role("link", name="Outbox").click()
    rows = page.locator("tbody tr")
    playwright_sync.expect(rows).to_have_count(VIPS)
    page.get_by_label("Recipient").fill("vip1@")
    page.get_by_role("button", name="Filter").click()
    playwright_sync.expect(rows).to_have_count(1)
    _both_widths(page, "07-outbox-filtered")
    tracked: list[str] = []
    page.on("request", lambda request: tracked.append(request.url) if "/t/" in request.url else None)
    rows.first.get_by_role("link").click()
    playwright_sync.expect(page.frame_locator("iframe.message").locator("h1")).to_contain_text("Hello Vip1")
    href = page.frame_locator("iframe.message").get_by_role("link", name="Sale").get_attribute("href")
    assert href == "https://shop.example/sale" and tracked == []  # no pixel, no tracked link
    playwright_sync.expect(page.locator("#message-from")).to_have_text("news@shop.example")
    assert server["url"] + "/u/" in page.content()  # List-Unsubscribe follows `serve --port` (no SENDHOUSE_PUBLIC_URL)
    _both_widths(page, "08-captured-message")
    page.get_by_role("link", name="Raw source").click()
    source = page.content()
    assert "Message-ID:" in source and "List-Unsubscribe:" in source and "/t/o/" in source
    page.go_back()


def _overview(page) -> None:
    page.get_by_role("link", name="Overview").click()
    playwright_sync.expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    playwright_sync.expect(page.locator("[data-metric=contacts] dd")).to_have_text(f"{VIPS + CROWD:,}")
    playwright_sync.expect(page.locator("tr[data-campaign] td").nth(2)).to_have_text(str(VIPS))
    _both_widths(page, "13-overview")


def _abort_mid_send(page) -> None:
    _confirm_send(page, VIPS + BIG_CROWD)
    playwright_sync.expect(page.locator("#campaign-status")).to_have_text("sending", timeout=60_000)
    bar = page.locator("#progress [role=progressbar]")
    playwright_sync.expect(bar).not_to_have_attribute("aria-valuenow", "0", timeout=60_000)
    playwright_sync.expect(page.get_by_role("button", name="Pause")).to_be_visible()
    _shot(page, "09-campaign-sending")
    page.once("dialog", lambda dialog: dialog.accept() if "not recalled" in dialog.message else dialog.dismiss())
    page.get_by_role("button", name="Abort").click()
    playwright_sync.expect(page.locator("#campaign-status")).to_have_text("aborted")
    playwright_sync.expect(page.locator(".flash")).to_contain_text("not recalled")
    cancelled = int(page.locator("[data-part=cancelled] strong").inner_text().replace(",", ""))
    sent = int(page.locator("[data-part=sent] strong").inner_text().replace(",", ""))
    assert cancelled > 0 and sent > 0 and sent + cancelled <= VIPS + BIG_CROWD
    playwright_sync.expect(bar).to_have_attribute("aria-valuenow", "100")
    assert page.locator("#progress .bar span.cancelled").count() == 1  # grey, not a full green bar
    playwright_sync.expect(page.locator("section[aria-label=Actions] button")).to_have_text(["Duplicate"])
    _both_widths(page, "10-campaign-aborted")


def _schedule_refuses_the_past(page) -> None:
    playwright_sync.expect(page.locator("[data-browser-zone]")).to_have_text(BROWSER_ZONE)
    playwright_sync.expect(page.get_by_label("Time zone")).to_have_value(BROWSER_ZONE)
    page.get_by_label("Date and time").fill("2020-01-01T09:00")
    page.get_by_role("button", name="Schedule").click()
    playwright_sync.expect(page.locator(".flash.error")).to_contain_text("has already passed")
    playwright_sync.expect(page.locator("#campaign-status")).to_have_text("draft")
    _both_widths(page, "05a-campaign-draft")


def test_a_user_runs_campaigns_from_the_dashboard(server, page):
    _login(page, server)
    _import(page, server)
    _segment(page)
    _create_campaign(page, "Spring", "VIPs")
    _schedule_refuses_the_past(page)
    _send_and_watch(page)
    _outbox(page, server)
    _overview(page)
    page.get_by_role("link", name="Campaigns", exact=True).click()
    playwright_sync.expect(page.locator("tbody tr")).to_have_count(1)
    playwright_sync.expect(page.locator("td[data-sent]")).to_have_text(str(VIPS))
    _shot(page, "11-campaigns")
    page.set_viewport_size({"width": 360, "height": 800})
    _shot(page, "12-campaigns-360px")
    assert page.evaluate("document.documentElement.scrollWidth") <= 360


@pytest.mark.parametrize("send_rate", [SEND_RATE], indirect=True)
def test_a_user_aborts_a_campaign_mid_send(server, page):
    _login(page, server)
    _import(page, server, BIG_CROWD)
    _create_campaign(page, "Everyone", "All Contacts")
    _abort_mid_send(page)


MAIN_PAGES = ("overview", "properties", "campaigns", "campaigns/new", "contacts", "lists", "imports/new", "templates", "templates/new",
              "suppressions", "senders", "domains", "webhooks", "keys", "outbox")
UNLABELLED = """[...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
  .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !e.getAttribute('aria-labelledby'))
  .map(e => e.outerHTML.slice(0, 120))"""


def _tab_to_login_button(page) -> list[str]:
    """Press Tab from where the login page puts the focus until the submit button has it; the fields passed."""
    seen = [page.evaluate("document.activeElement.name || ''")]
    for _ in range(10):
        page.keyboard.press("Tab")
        seen.append(page.evaluate("document.activeElement.name || document.activeElement.textContent.trim()"))
        if page.evaluate("document.activeElement.type") == "submit":
            break
    return seen


def test_pages_are_labelled_keyboard_usable_and_fit_360px(server, page):
    _wait_until_server(page, server["url"])
    seen = _tab_to_login_button(page)
    assert seen[-1] == "Log in" and "email" in seen and "password" in seen
    page.keyboard.press("Shift+Tab")
    page.keyboard.type(server["password"])
    page.get_by_label("Email").fill(server["email"])
    page.get_by_label("Password").press("Enter")
    playwright_sync.expect(page.get_by_role("heading", name="Campaigns")).to_be_visible()
    for width in (1280, 360):
        page.set_viewport_size({"width": width, "height": 800})
        for path in MAIN_PAGES:
            page.goto(f"{server['url']}/app/{path}")
            assert page.evaluate(UNLABELLED) == [], path
            assert page.evaluate("document.documentElement.scrollWidth") <= width, (path, width)
            if path in ("suppressions", "senders", "templates/new", "domains", "webhooks", "lists") or width == 360:
                _shot(page, f"20-{path.replace('/', '-')}-{width}px")
