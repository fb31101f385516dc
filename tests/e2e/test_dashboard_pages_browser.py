"""Every dashboard page in a real browser (Playwright driving Debian's chromium) against one live
`sendhouse serve` per database kind, shared by the tests of this module: every page reachable
from the navigation (crawled on SQLite: the markup does not depend on the database) passes the vendored axe-core check with no serious violation at desktop
(1280×800) and phone (390×844) width, labels every field and never scrolls sideways on a phone;
the login works from the keyboard; a scheduled campaign is unscheduled, duplicated and deleted; a
sending campaign is paused and resumed with only the buttons its state allows; a refused form puts
its message next to the field (aria-invalid, aria-describedby); a property made on the Properties
page is offered in the segment builder and the contact form; the axe check also covers an
automation's page and an import's report; API keys show their state in words apart from their
buttons; lifting a suppression asks first; a server on 127.0.0.1 is told which setting to change
instead of being shown an MX record naming 127.0.0.1.
Screenshots go to test-artifacts/screenshots/.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import httpx2
import pytest

from tests.conftest import DB_KINDS
from tests.e2e.browser import (
    BROWSER_ZONE,
    DESKTOP,
    PHONE,
    api_call,
    axe_problems,
    both_widths,
    chromium,
    expect,
    log_in,
    module_database,
    needs_chromium,
    new_tab,
    points_at,
    serving,
    shot,
    shot_path,
    wait_until_server,
)

pytestmark = needs_chromium
UNLABELLED = """[...document.querySelectorAll('input:not([type=hidden]):not([hidden]), select, textarea')]
  .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !e.getAttribute('aria-labelledby'))
  .map(e => e.outerHTML.slice(0, 120))"""
LINKS = "[...document.querySelectorAll('a[href]')].map(a => a.href)"
FIELD_NAMES = re.compile(
    r"\b(humanOpened|spamReported|totalContacts|filterCriteria|sending_gradual|"
    r"(?!SENDHOUSE_)[A-Z]{3,}_[A-Z_]{3,})\b"
)  # API and enum names (PENDING_CONFIGURATION), not settings
NOT_PAGES = re.compile(r"/(raw|logout|attachments)(/|$)|\.(png|ico|css|js)$")
MAX_PAGES = 60


@pytest.fixture(scope="module", params=DB_KINDS)
def server(request, tmp_path_factory):
    """One server per database kind for the whole module, with a little of everything to show."""
    tmp = tmp_path_factory.mktemp(f"pages-{request.param}")
    with serving(module_database(request, tmp), tmp) as found:
        _seed(found)
        yield found


@pytest.fixture(scope="module")
def browser(server):
    with chromium(server["kind"]) as launched:
        yield launched


@pytest.fixture
def page(browser, server):
    tab = new_tab(browser)
    try:
        yield tab
    finally:
        tab.context.close()


_api = api_call


def _seed(server) -> None:
    """Contacts in a list, a segment, a draft campaign, a template, a domain, a webhook, a sender and
    an automation."""
    wait_until_ready = httpx2.get(f"{server['url']}/app/login", timeout=30)
    assert wait_until_ready.status_code == 200
    crowd = _api(server, "POST", "/contact-lists", {"name": "Newsletter"})
    for i in range(3):
        _api(
            server,
            "POST",
            "/contacts",
            {"email": f"reader{i}@shop.example", "firstName": f"Reader{i}", "listIds": [crowd["id"]]},
        )
    _api(
        server,
        "POST",
        "/campaigns",
        {
            "name": "Autumn",
            "subject": "Autumn news",
            "toLists": [crowd["id"]],
            "htmlTemplate": "<p>Hello {{firstName}}</p>",
            "from": {"email": "news@shop.example"},
        },
    )
    _api(
        server,
        "POST",
        "/templates",
        {"templateName": "Welcome", "subject": "Welcome", "emailTemplate": "<p>Welcome {{firstName}}</p>"},
    )
    _api(server, "POST", "/domains", {"domain": "shop.example"})
    _api(server, "POST", "/webhooks", {"url": "https://hooks.shop.example/in", "events": ["email.sent"]})
    _api(server, "POST", "/senders", {"email": "news@shop.example", "name": "Shop news"})
    _api(
        server,
        "POST",
        "/automations",
        {
            "name": "Welcome series",
            "active": True,
            "steps": [
                {"type": "wait", "stepId": "wait_1", "delay": {"value": 1, "unit": "days"}},
                {
                    "type": "email",
                    "stepId": "email_1",
                    "email": {
                        "subject": "Welcome",
                        "htmlTemplate": "<p>Welcome {{firstName}}</p>",
                        "senderEmail": "news@shop.example",
                    },
                },
            ],
        },
    )
    _api(
        server,
        "POST",
        "/contact-lists",
        {
            "name": "Readers",
            "type": "segment",
            "filterCriteria": {
                "logicalOperator": "AND",
                "groups": [
                    {
                        "field": "firstName",
                        "fieldType": "string",
                        "operator": "starts_with",
                        "value": "Reader",
                    }
                ],
            },
        },
    )


def _page_kind(url: str) -> str:
    """A path with its ids replaced, so each kind of page is visited once."""
    return re.sub(r"/[0-9a-f]{24}|/A-[0-9a-f]{20}|/[A-Z0-9]{4,12}(?=/|$)", "/{id}", urlsplit(url).path)


def _crawl(page, start: str) -> list[str]:
    """Every dashboard page reachable by links from `start` (GET only), one per kind."""
    seen, queue, pages = set(), [start], []
    while queue and len(pages) < MAX_PAGES:
        url = queue.pop(0)
        kind = _page_kind(url)
        if kind in seen or NOT_PAGES.search(url) or not urlsplit(url).path.startswith("/app/"):
            continue
        seen.add(kind)
        page.goto(url)
        pages.append(url)
        queue += [
            link.split("#")[0] for link in page.evaluate(LINKS) if link.startswith(start.split("/app/")[0])
        ]
    return pages


def _problems_here(page, width: int) -> list[str]:
    """Unlabelled fields, sideways scrolling and serious axe violations of the page as it is shown."""
    found = [f"unlabelled: {field}" for field in page.evaluate(UNLABELLED)]
    found += [f"shows the field name {name}" for name in FIELD_NAMES.findall(page.inner_text("main"))]
    if page.evaluate("document.documentElement.scrollWidth") > width:
        found.append(f"scrolls sideways at {width} px")
    return found + axe_problems(page)


IMPORTED = "email,firstName\nimported@shop.example,Imp\nnot-an-address,Bad\nIMPORTED@shop.example,Again\n"


def _import_csv(page, server, text: str) -> str:
    """Import a CSV from the Import page with the columns as proposed; the URL of its report."""
    path = server["tmp"] / "people.csv"
    path.write_text(text)
    page.get_by_role("link", name="Import", exact=True).click()
    page.get_by_label("CSV file").set_input_files(str(path))
    page.get_by_role("button", name="Import").click()
    expect(page.get_by_role("heading", name="Map the columns")).to_be_visible()
    page.get_by_role("button", name="Start import").click()
    expect(page.locator("#import-status")).to_have_text("finished", timeout=60_000)
    return page.url


# The markup is the same whatever the database: the crawl runs on SQLite (every page is rendered on
# both databases by tests/integration/test_dashboard_*).
@pytest.mark.parametrize("server", ["sqlite"], indirect=True)
def test_every_page_passes_axe_labels_its_fields_and_fits_a_phone(server, page):
    wait_until_server(page, server["url"])
    problems = []
    for size in (DESKTOP, PHONE):
        page.set_viewport_size(size)
        problems += [f"/app/login at {size['width']}: {p}" for p in _problems_here(page, size["width"])]
    page.set_viewport_size(DESKTOP)
    log_in(page, server)
    pages = [*_crawl(page, f"{server['url']}/app/overview"), _import_csv(page, server, IMPORTED)]
    kinds = {_page_kind(url) for url in pages}
    assert {
        "/app/automations/{id}",
        "/app/imports/{id}",
        "/app/campaigns/{id}",
        "/app/contacts/{id}",
        "/app/lists/{id}",
        "/app/domains/{id}",
        "/app/templates/{id}",
        "/app/webhooks/{id}",
        "/app/account/password",
    } <= kinds, sorted(kinds)
    for url in pages:
        page.goto(url)
        kind = _page_kind(url)
        name = "30-" + (kind.removeprefix("/app/").replace("/", "-").replace("{id}", "x") or "home")
        for size, label in ((DESKTOP, "desktop"), (PHONE, "phone")):
            page.set_viewport_size(size)
            problems += [f"{kind} at {size['width']}: {p}" for p in _problems_here(page, size["width"])]
            shot(page, f"{name}-{label}")
        page.set_viewport_size(DESKTOP)
    assert problems == [], "\n".join(problems)


def _tab_to_login_button(page) -> list[str]:
    """Press Tab from where the login page puts the focus until the submit button has it; the fields passed."""
    seen = [page.evaluate("document.activeElement.name || ''")]
    for _ in range(10):
        page.keyboard.press("Tab")
        seen.append(page.evaluate("document.activeElement.name || document.activeElement.textContent.trim()"))
        if page.evaluate("document.activeElement.type") == "submit":
            break
    return seen


def test_the_login_works_from_the_keyboard(server, page):
    wait_until_server(page, server["url"])
    seen = _tab_to_login_button(page)
    assert seen[-1] == "Log in" and "email" in seen and "password" in seen
    page.keyboard.press("Shift+Tab")
    page.keyboard.type(server["password"])
    page.get_by_label("Email").fill(server["email"])
    page.get_by_label("Password").press("Enter")
    expect(page.get_by_role("heading", name="Campaigns")).to_be_visible()


def _open_campaign(page, name: str) -> None:
    page.get_by_role("link", name="Campaigns", exact=True).click()
    page.get_by_role("link", name=name, exact=True).click()
    expect(page.get_by_role("heading", name=name)).to_be_visible()


def test_a_scheduled_campaign_is_unscheduled_duplicated_and_deleted(server, page):
    log_in(page, server)
    _open_campaign(page, "Autumn")
    expect(page.get_by_label("Time zone")).to_have_value(BROWSER_ZONE)
    page.get_by_label("Date and time").fill("2099-10-01T09:30")
    page.get_by_role("button", name="Schedule").click()
    expect(page.locator("#campaign-status")).to_have_text("scheduled")
    expect(page.locator("#starts-in")).to_contain_text("2099")
    both_widths(page, "31-campaign-scheduled")
    page.get_by_role("button", name="Unschedule").click()
    expect(page.locator(".flash")).to_contain_text("a draft again")
    expect(page.locator("#campaign-status")).to_have_text("draft")
    expect(page.locator("#starts-in")).to_have_count(0)
    expect(page.get_by_role("link", name="Send now…")).to_be_visible()
    page.get_by_role("button", name="Duplicate").click()
    expect(page.get_by_role("heading", name="Copy of Autumn")).to_be_visible()
    expect(page.locator("#campaign-status")).to_have_text("draft")
    page.once("dialog", lambda dialog: dialog.dismiss())  # a second thought keeps it
    page.get_by_role("button", name="Delete").click()
    expect(page.get_by_role("heading", name="Copy of Autumn")).to_be_visible()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete").click()
    expect(page.locator(".flash")).to_contain_text("Draft deleted")
    expect(page.get_by_role("link", name="Copy of Autumn")).to_have_count(0)
    expect(page.get_by_role("link", name="Autumn", exact=True)).to_be_visible()
    both_widths(page, "32-campaigns-after-delete")


LOCAL_DATES = """[...document.querySelectorAll('time[data-local]')].map(t => [t.textContent,
  new Intl.DateTimeFormat(undefined, {dateStyle: 'medium', timeStyle: 'short', timeZone: '%s'})
    .format(new Date(t.getAttribute('datetime')))])"""


def test_the_menu_groups_the_pages_marks_the_current_one_and_folds_on_a_phone(server, page):
    log_in(page, server)
    menu = page.get_by_role("navigation", name="Main")
    expect(menu.locator(".group")).to_have_text(
        ["Campaigns", "Audience", "Content", "Deliverability", "Settings"]
    )
    expect(menu.get_by_role("list", name="Audience").get_by_role("link")).to_have_text(
        ["Contacts", "Lists & segments", "Import", "Properties", "Suppressions"]
    )
    expect(menu.locator("[aria-current=page]")).to_have_text(["Campaigns"])
    menu.get_by_role("link", name="Contacts").click()
    page.get_by_role("link", name="reader1@shop.example").click()
    expect(menu.locator("[aria-current=page]")).to_have_text(
        ["Contacts"]
    )  # a contact's page is under Contacts
    page.set_viewport_size(PHONE)
    expect(menu.get_by_role("link", name="Contacts")).to_be_hidden()
    expect(page.locator("summary")).to_have_text("Menu · Contacts")
    shot(page, "33-menu-folded-phone")
    page.locator("summary").click()
    expect(menu.get_by_role("link", name="Templates")).to_be_visible()
    shot(page, "33-menu-open-phone")
    menu.get_by_role("link", name="Templates").click()
    expect(page.get_by_role("heading", name="Templates")).to_be_visible()
    expect(menu.get_by_role("link", name="Templates")).to_be_hidden()  # folded again on the next page
    page.set_viewport_size(DESKTOP)
    expect(menu.locator("[aria-current=page]")).to_have_text(["Templates"])
    shot(page, "33-menu-desktop")


def test_a_favicon_and_dates_in_the_viewers_time_zone(server, page):
    log_in(page, server)
    icon = page.locator("link[rel=icon]").get_attribute("href")
    answer = page.request.get(server["url"] + icon)
    assert answer.ok and answer.headers["content-type"].startswith("image/svg+xml")
    assert page.request.get(server["url"] + "/favicon.ico").body() == answer.body()
    page.get_by_role("link", name="Templates").click()
    expect(page.get_by_role("heading", name="Templates")).to_be_visible()
    expect(page.locator("time[data-local]").first).to_be_attached()
    page.wait_for_load_state("load")  # the script that rewrites the dates has run
    shown = page.evaluate(LOCAL_DATES % BROWSER_ZONE)
    assert shown and all(text == expected and "UTC" not in text for text, expected in shown), shown


def test_a_contact_is_added_edited_unsubscribed_and_deleted(server, page):
    log_in(page, server)
    page.get_by_role("link", name="Contacts").click()
    page.get_by_role("link", name="Add a contact").click()
    page.get_by_label("Email").fill("grace@shop.example")
    page.get_by_label("First name").fill("Grace")
    page.get_by_label("Newsletter").check()
    both_widths(page, "34-contact-add")
    kept = shot_path(page, "34-contact-add-desktop")  # a PostgreSQL run keeps the SQLite run's
    assert kept.name == f"34-contact-add-desktop-{server['kind']}.png" and kept.exists()
    page.get_by_role("button", name="Add contact").click()
    expect(page.locator(".flash")).to_contain_text("grace@shop.example added")
    expect(page.get_by_role("link", name="Newsletter")).to_be_visible()
    page.get_by_role("link", name="Edit").click()
    page.get_by_label("Last name").fill("Hopper")
    page.get_by_role("button", name="Save contact").click()
    expect(page.locator(".fields")).to_contain_text("Hopper")
    page.get_by_label("Unsubscribe from", exact=True).select_option(label="everything (no mail at all)")
    page.get_by_role("button", name="Unsubscribe").click()
    unsubscribed = page.get_by_role("list", name="Unsubscribed from").get_by_role("listitem")
    expect(unsubscribed).to_have_count(1)
    expect(page.locator(".flash")).to_contain_text("no more mail at all")
    both_widths(page, "35-contact-unsubscribed")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Resubscribe").click()
    expect(unsubscribed).to_have_text(["Nothing: this contact gets every mail it is sent."])
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete").click()
    expect(page.locator(".flash")).to_contain_text("grace@shop.example deleted")
    expect(page.get_by_role("link", name="grace@shop.example")).to_have_count(0)


def test_a_campaign_takes_its_from_address_from_a_sender(server, page):
    log_in(page, server)
    page.get_by_role("link", name="New campaign").click()
    expect(page.get_by_label("From", exact=True)).to_have_value(re.compile(r"^[0-9a-f]{24}$"))
    expect(page.get_by_label("From", exact=True).locator("option:checked")).to_have_text(
        "Shop news <news@shop.example>"
    )
    expect(page.get_by_label("From address")).to_be_hidden()  # another address only on demand
    page.get_by_label("Name", exact=True).fill("Winter")
    page.get_by_label("Subject", exact=True).fill("Winter news")
    page.get_by_label("HTML (used when no template is chosen)").fill("<p>Hello {{firstName}}</p>")
    page.get_by_role("group", name="Send to").get_by_label("Newsletter").check()
    both_widths(page, "36-campaign-form-senders")
    page.get_by_role("button", name="Save campaign").click()
    expect(page.locator("#campaign-status")).to_have_text("draft")
    expect(page.get_by_text("From: news@shop.example")).to_be_visible()


def test_a_segment_is_edited_with_its_conditions_in_place(server, page):
    log_in(page, server)
    page.get_by_role("link", name="Lists & segments").click()
    page.get_by_role("link", name="Readers").click()
    expect(page.locator("#conditions li")).to_have_text(["firstName starts with Reader"])
    page.get_by_role("link", name="Edit segment").click()
    expect(page.locator("#field_0")).to_have_value("firstName")
    expect(page.locator("#operator_0 option:checked")).to_have_text("starts with")
    expect(page.locator("#operator_0 option:not([disabled])")).to_have_text(
        [
            "is",
            "is not",
            "contains",
            "does not contain",
            "starts with",
            "ends with",
            "is empty",
            "is not empty",
        ]
    )
    page.locator("#value_0").fill("Reader1")
    expect(page.locator("#segment-count [data-count]")).to_have_text("1")
    both_widths(page, "37-segment-edit")
    page.get_by_role("button", name="Save segment").click()
    expect(page.locator(".flash")).to_contain_text("1 contact matches now")
    expect(page.locator("#member-count")).to_have_text("1")
    expect(page.locator("#conditions li")).to_have_text(["firstName starts with Reader1"])


def test_a_template_is_begun_from_a_starter(server, page):
    log_in(page, server)
    page.get_by_role("link", name="Templates").click()
    expect(page.locator("[data-starter]")).to_have_count(2)
    page.get_by_role("link", name="Use this starter (Monthly newsletter)").click()
    expect(page.get_by_label("Name", exact=True)).to_have_value("Monthly newsletter")
    preview = page.frame_locator("iframe.mobile")
    expect(preview.locator("h1")).to_have_text("What’s new this month")
    expect(preview.get_by_text("Hi Ada,")).to_be_visible()
    both_widths(page, "38-template-from-starter")
    page.get_by_role("button", name="Save template").click()
    expect(page.locator(".flash")).to_contain_text("Monthly newsletter")
    page.get_by_role("link", name="Templates").click()
    expect(page.get_by_role("link", name="Monthly newsletter", exact=True)).to_be_visible()


def _change_password(page, current: str, new: str) -> None:
    page.get_by_role("link", name="Password").click()
    page.get_by_label("Current password").fill(current)
    page.get_by_label("New password (10 to 200 characters)").fill(new)
    page.get_by_label("New password again").fill(new + "!")
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_role("alert")).to_contain_text("the two new passwords differ")
    page.get_by_label("Current password").fill(current)
    page.get_by_label("New password (10 to 200 characters)").fill(new)
    page.get_by_label("New password again").fill(new)
    both_widths(page, "40-password-change")
    page.get_by_role("button", name="Change password").click()
    expect(page.locator(".flash")).to_contain_text("Password changed")


def test_a_user_is_invited_given_a_new_password_and_removed(server, browser, page):
    log_in(page, server)
    page.get_by_role("link", name="Users").click()
    expect(page.get_by_role("heading", name="Users")).to_be_visible()
    page.get_by_label("Email").fill("colleague@shop.example")
    page.get_by_role("button", name="Invite").click()
    expect(page.locator("#new-password")).to_contain_text("Login created for colleague@shop.example")
    first = page.locator("#new-password code").inner_text()
    both_widths(page, "39-users-invited")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Reset password of colleague@shop.example").click()
    expect(page.locator("#new-password")).to_contain_text("New password for colleague@shop.example")
    second = page.locator("#new-password code").inner_text()
    assert second != first
    colleague = new_tab(browser)  # a browser of their own logs in with the password they were given
    log_in(colleague, {"url": server["url"], "email": "colleague@shop.example", "password": second})
    _change_password(colleague, second, "a passphrase of my own")
    colleague.get_by_role("button", name="Log out").click()
    log_in(
        colleague,
        {"url": server["url"], "email": "colleague@shop.example", "password": "a passphrase of my own"},
    )
    colleague.context.close()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Remove colleague@shop.example").click()
    expect(page.locator(".flash")).to_contain_text("no longer belongs")
    expect(page.locator("[data-member='colleague@shop.example']")).to_have_count(0)


def test_the_overview_names_what_needs_attention(server, page):
    log_in(page, server)
    page.get_by_role("link", name="Overview").click()
    attention = page.get_by_role("region", name="Needs attention")
    expect(attention.locator("[data-attention=domain]")).to_contain_text("shop.example is not verified yet")
    attention.get_by_role("link", name="shop.example").click()
    expect(page.get_by_role("heading", name=re.compile("shop.example"))).to_be_visible()
    expect(page.locator("main")).to_contain_text("waiting for its DNS records")


def test_a_refused_form_puts_its_message_next_to_the_field(server, page):
    log_in(page, server)
    page.get_by_role("link", name="Contacts").click()
    page.get_by_role("link", name="Add a contact").click()
    page.get_by_label("Email").fill("ada@shop")  # a browser takes it; the server does not
    page.get_by_label("First name").fill("Ada")
    page.get_by_role("button", name="Add contact").click()
    points_at(page.get_by_label("Email"), "The part after the @-sign is not valid. It should have a period.")
    expect(page.get_by_label("First name")).not_to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("First name")).to_have_value("Ada")
    both_widths(page, "41-contact-refused")
    page.get_by_role("link", name="Properties").click()
    new_property = page.get_by_role("form", name="New property")
    new_property.get_by_label("Name", exact=True).fill("city")
    new_property.get_by_role("button", name="Create property").click()
    name = page.get_by_role("form", name="New property").get_by_label("Name", exact=True)
    points_at(name, "Name: 'city' is reserved by the API; choose another name")
    expect(name).to_have_accessible_description(re.compile("use e.g. cityName"))  # its help is still read
    both_widths(page, "42-property-refused")
    page.get_by_role("link", name="Lists & segments").click()
    page.get_by_role("form", name="New segment").get_by_label("Name", exact=True).fill("Recent")
    page.locator("#field_0").fill("createdAt")
    page.locator("#operator_0").select_option(label="is after")
    page.locator("#value_0").fill("last week")
    page.get_by_role("button", name="Create segment").click()
    points_at(page.locator("#value_0"), "Condition 1, value: must be a date such as 2026-12-31")
    expect(page.locator("#list-name")).not_to_have_attribute("aria-invalid", "true")  # not the refused form
    both_widths(page, "42b-segment-refused")
    _open_campaign(page, "Autumn")
    page.get_by_label("Date and time").fill("2020-01-01T09:30")
    page.get_by_role("button", name="Schedule").click()
    points_at(page.get_by_label("Date and time"), f"01 Jan 2020 09:30 in {BROWSER_ZONE} has already passed")
    expect(page.get_by_label("Time zone")).to_have_value(BROWSER_ZONE)
    expect(page.locator("#campaign-status")).to_have_text("draft")
    both_widths(page, "43-schedule-refused")


def test_a_wrong_login_and_refused_settings_forms_point_at_their_fields(server, page):
    wait_until_server(page, server["url"])
    page.get_by_label("Email").fill(server["email"])
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Log in").click()
    for label in ("Email", "Password"):  # both, with one message: it does not say which was wrong
        expect(page.get_by_label(label)).to_have_attribute("aria-invalid", "true")
        expect(page.get_by_label(label)).to_have_accessible_description("Wrong email or password")
    expect(page.get_by_label("Email")).to_have_value(server["email"])
    expect(page.get_by_label("Password")).to_be_focused()
    both_widths(page, "44-login-refused")
    log_in(page, server)
    page.get_by_role("link", name="Webhooks").click()
    page.get_by_label("URL").fill("ftp://hooks.shop.example/in")
    page.get_by_label("contact.created").check()
    page.get_by_role("button", name="Create webhook").click()
    points_at(page.get_by_label("URL"), "URL must be an http(s) URL with a host")
    expect(page.get_by_label("contact.created")).to_be_checked()
    both_widths(page, "45-webhook-refused")
    page.get_by_role("link", name="API keys").click()
    page.get_by_label("Name", exact=True).first.fill("deploy")
    page.get_by_label(re.compile("^Expires after")).fill("0")
    page.get_by_role("button", name="Create key", exact=True).click()
    points_at(page.get_by_label(re.compile("^Expires after")), "from 1 to 3650")
    expect(page.get_by_label("Name", exact=True).first).to_have_value("deploy")
    both_widths(page, "46-key-refused")


def _drip(server) -> None:
    """A gradual campaign of one message a day to three readers, starting now: it stays sending."""
    readers = _api(server, "POST", "/contact-lists", {"name": "Drip readers"})
    for i in range(3):
        _api(server, "POST", "/contacts", {"email": f"drip{i}@shop.example", "listIds": [readers["id"]]})
    _api(
        server,
        "POST",
        "/campaigns",
        {
            "name": "Drip",
            "subject": "One a day",
            "toLists": [readers["id"]],
            "htmlTemplate": "<p>Hello {{firstName}}</p>",
            "from": {"email": "news@shop.example"},
            "sendMode": "gradual",
            "dailyBatchSize": 1,
            "gradualStrategy": "fixed",
            "sendNow": True,
        },
    )


def test_a_sending_campaign_is_paused_and_resumed_from_its_page(server, page):
    _drip(server)
    log_in(page, server)
    _open_campaign(page, "Drip")
    status = page.locator("#campaign-status")
    expect(status).to_have_text("sending gradually", timeout=60_000)  # the page reloads once it starts
    actions = page.get_by_role("region", name="Actions")
    expect(actions.get_by_role("button")).to_have_text(["Pause", "Abort", "Duplicate"])
    expect(actions.get_by_role("link")).to_have_count(0)  # neither send nor edit while it sends
    actions.get_by_role("button", name="Pause").click()
    expect(page.locator(".flash")).to_contain_text("Campaign paused")
    expect(status).to_have_text("paused")
    expect(actions.get_by_role("button")).to_have_text(["Resume", "Abort", "Duplicate"])
    both_widths(page, "44-campaign-paused")
    actions.get_by_role("button", name="Resume").click()
    expect(page.locator(".flash")).to_contain_text("Campaign resumed")
    expect(status).to_have_text("sending gradually")
    expect(actions.get_by_role("button")).to_have_text(["Pause", "Abort", "Duplicate"])
    expect(actions.get_by_role("link")).to_have_count(0)


def test_a_property_made_on_its_page_is_offered_in_the_builder_and_the_contact_form(server, page):
    log_in(page, server)
    page.get_by_role("link", name="Properties").click()
    new_property = page.get_by_role("form", name="New property")
    new_property.get_by_label("Name", exact=True).fill("loyaltyPoints")
    new_property.get_by_label("Type").select_option("number")
    new_property.get_by_label("Description").fill("Points on the loyalty card")
    new_property.get_by_role("button", name="Create property").click()
    expect(page.locator(".flash")).to_contain_text("Property “loyaltyPoints” created")
    expect(page.locator("[data-property=loyaltyPoints]")).to_contain_text("custom")
    page.get_by_role("link", name="Lists & segments").click()
    expect(page.locator("#segment-fields option[value=loyaltyPoints]")).to_have_attribute(
        "data-type", "number"
    )
    page.locator("#field_0").fill("loyaltyPoints")
    expect(page.locator("#fieldType_0")).to_have_value("number")
    expect(page.locator("#fieldType_0")).to_be_disabled()
    expect(page.locator("#operator_0 option[value=greater_than]")).to_be_enabled()
    expect(page.locator("#operator_0 option[value=contains]")).to_be_disabled()
    page.get_by_role("link", name="Contacts", exact=True).click()
    page.get_by_role("link", name="reader2@shop.example").click()
    page.get_by_role("link", name="Edit").click()
    page.get_by_label("loyaltyPoints (number)").fill("120")
    page.get_by_role("button", name="Save contact").click()
    expect(page.locator(".fields [data-field=loyaltyPoints] dd")).to_have_text("120")


def test_api_keys_show_their_state_in_words_and_their_buttons_apart(server, page):
    log_in(page, server)
    page.get_by_role("link", name="API keys").click()
    page.get_by_label("Name", exact=True).first.fill("nightly export")
    page.get_by_label(re.compile("^Expires after")).fill("30")
    page.get_by_role("button", name="Create key", exact=True).click()
    expect(page.locator("#new-key")).to_be_visible()
    keys = page.locator("table").first
    expect(keys.locator("thead th")).to_have_text(
        ["Name", "Kind", "Starts with", "Created", "Expires", "Last used", "State", "Actions"]
    )
    export = keys.locator("tbody tr", has_text="nightly export")
    expect(export.locator(".key-state")).to_have_text(re.compile(r"^active, expires \w.*\d{4}"))
    expect(export.locator(".key-actions").get_by_role("button")).to_have_text(["Revoke"])
    expect(keys.locator("tbody tr .key-state").first).to_have_text("active")  # the first start's key
    page.once("dialog", lambda dialog: dialog.accept())
    export.get_by_role("button", name="Revoke key nightly export").click()
    expect(page.locator(".flash")).to_contain_text("Key revoked")
    expect(export.locator(".key-state")).to_have_text(re.compile(r"^revoked \w.*\d{4}"))
    expect(export.locator(".key-actions")).to_have_text("none")
    expect(export.locator(".key-actions button")).to_have_count(0)
    both_widths(page, "47-api-keys-states")


def test_lifting_a_suppression_asks_first(server, page):
    log_in(page, server)
    page.get_by_role("link", name="Suppressions").click()
    addresses = page.get_by_label("Addresses (one per line or comma-separated)")
    addresses.fill("gone@shop.example")
    page.get_by_role("button", name="Suppress", exact=True).click()
    expect(page.locator(".flash")).to_contain_text("1 address suppressed")
    entry = page.locator("[data-entry='gone@shop.example']")
    expect(entry).to_have_count(1)
    asked: list[str] = []
    addresses.fill("gone@shop.example")
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
    page.get_by_role("button", name="Lift suppression").click()
    expect(entry).to_have_count(1)  # a second thought keeps it
    assert asked and asked[0].startswith("Lift the suppression of these addresses"), asked
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Lift suppression").click()
    expect(page.locator(".flash")).to_contain_text("1 address lifted")
    expect(entry).to_have_count(0)
    page.once("dialog", lambda dialog: dialog.dismiss())  # suppressing asks nothing: no dialog to dismiss
    addresses.fill("again@shop.example")
    page.get_by_role("button", name="Suppress", exact=True).click()
    expect(page.locator("[data-entry='again@shop.example']")).to_have_count(1)


def test_a_server_on_a_local_address_is_told_to_set_a_host_name_not_shown_an_mx_naming_it(server, page):
    log_in(page, server)  # `serve --port` without SENDHOUSE_PUBLIC_URL: the server calls itself 127.0.0.1
    page.get_by_role("link", name="Domains").click()
    page.get_by_role("link", name="shop.example").click()
    note = page.locator("#host-problem")
    expect(note).to_contain_text("it calls itself 127.0.0.1, an IP address")
    expect(note).to_contain_text("Set SENDHOUSE_PUBLIC_URL to the address people reach this Sendhouse at")
    for purpose in ("mail_from", "spf"):
        expect(page.locator(f"[data-record={purpose}] .needs-host")).to_have_text(
            "needs a host name for this server (see above)"
        )
    values = page.locator("textarea").evaluate_all("fields => fields.map(f => f.value)")
    assert len(values) == 3 and not any("127.0.0.1" in v for v in values), values
    expect(page.locator("[data-record=dkim] .record-check")).to_have_text("not checked yet")
    both_widths(page, "48-domain-local-host")
