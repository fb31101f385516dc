"""The automation step editor in a real browser (Playwright driving Debian's chromium) against one
live `sendhouse serve` per database kind, at desktop (1280×800) and phone (390×844) width: a
welcome series (wait 1 day → email with a template picked → wait 2 days → email) is built with
the editor's buttons, saved, shown again after a reload with the same steps, and activated; a
save with the email first is refused with the message at the top of that step and everything
typed kept; a branch step keeps its condition and where it goes (a known field brings its type
and only the comparisons that fit it); the editor pages pass the vendored axe-core check with no
serious violation and never scroll sideways on a phone. Screenshots go to
test-artifacts/screenshots/."""

from __future__ import annotations

import re

import httpx2
import pytest

from tests.conftest import DB_KINDS
from tests.e2e.browser import (
    DESKTOP,
    PHONE,
    axe_problems,
    chromium,
    expect,
    log_in,
    module_database,
    needs_chromium,
    new_tab,
    serving,
    shot,
)

pytestmark = needs_chromium
AFTER_WAIT = "an email must come directly after a wait step"
WIDTHS = {"desktop": DESKTOP, "phone": PHONE}


@pytest.fixture(scope="module", params=DB_KINDS)
def server(request, tmp_path_factory):
    """One server per database kind, with two templates to pick from."""
    tmp = tmp_path_factory.mktemp(f"steps-{request.param}")
    with serving(module_database(request, tmp), tmp) as found:
        assert httpx2.get(f"{found['url']}/app/login", timeout=30).status_code == 200
        for name in ("Welcome", "Getting started"):
            answer = httpx2.post(
                f"{found['url']}/v1/templates",
                json={"templateName": name, "subject": name, "emailTemplate": f"<p>{name}</p>"},
                headers={"Authorization": f"Bearer {found['key']}"},
                timeout=30,
            )
            assert answer.status_code < 300, answer.text
        yield found


@pytest.fixture(scope="module")
def browser(server):
    with chromium(server["kind"]) as launched:
        yield launched


@pytest.fixture(params=list(WIDTHS))
def page(request, browser, server):
    tab = new_tab(browser)
    tab.set_viewport_size(WIDTHS[request.param])
    tab.width_name = request.param
    try:
        yield tab
    finally:
        tab.context.close()


def step(page, number: int, kind: str):
    return page.get_by_role("group", name=f"Step {number}: {kind}", exact=True)


def _checked(page, name: str) -> None:
    """No serious axe violation and no sideways scrolling at the page's width; a screenshot."""
    width = page.viewport_size["width"]
    assert axe_problems(page) == [], name
    assert page.evaluate("document.documentElement.scrollWidth") <= width, name
    shot(page, f"{name}-{page.width_name}")


def _wait(page, number: int, value: str, unit: str) -> None:
    step(page, number, "wait").get_by_label("Wait for").fill(value)
    step(page, number, "wait").get_by_label("Unit").select_option(unit)


def _email(page, number: int, template: str) -> None:
    step(page, number, "email").get_by_label("Template", exact=True).select_option(label=template)
    step(page, number, "email").get_by_label("From address").fill("team@shop.example")


def _add(page, kind: str, number: int) -> None:
    page.get_by_label("New step").select_option(kind)
    page.get_by_role("button", name="Add step").click()
    expect(step(page, number, kind)).to_be_visible()


def _shows_the_series(page) -> None:
    expect(step(page, 1, "wait").get_by_label("Wait for")).to_have_value("1")
    expect(step(page, 1, "wait").get_by_label("Unit")).to_have_value("days")
    template = step(page, 2, "email").get_by_label("Template", exact=True)
    expect(template.locator("option:checked")).to_have_text("Welcome")
    expect(step(page, 3, "wait").get_by_label("Wait for")).to_have_value("2")
    expect(
        step(page, 4, "email").get_by_label("Template", exact=True).locator("option:checked")
    ).to_have_text("Getting started")
    expect(step(page, 4, "email").get_by_label("From address")).to_have_value("team@shop.example")
    expect(page.locator("ol.steps li")).to_have_count(4)  # the steps with their figures


def test_a_welcome_series_is_built_saved_shown_again_and_activated(server, page):
    log_in(page, server)
    page.goto(f"{server['url']}/app/automations/new")
    page.get_by_label("Name", exact=True).fill(f"Welcome series ({page.width_name})")
    _wait(page, 1, "1", "days")
    _email(page, 2, "Welcome")
    _checked(page, "40-automation-editor-new")
    _add(page, "wait", 3)
    expect(page.get_by_label("Name", exact=True)).to_have_value(f"Welcome series ({page.width_name})")
    expect(step(page, 2, "email").get_by_label("From address")).to_have_value("team@shop.example")
    _wait(page, 3, "2", "days")
    _add(page, "email", 4)
    _email(page, 4, "Getting started")
    page.get_by_role("button", name="Create draft").click()
    expect(page.locator(".flash")).to_contain_text("created as a draft")
    page.reload()
    _shows_the_series(page)
    _checked(page, "41-automation-editor-saved")
    page.get_by_role("button", name="Activate").click()
    expect(page.locator(".flash")).to_contain_text("Automation active")
    expect(page.locator("h1 .status")).to_have_text("active")


def test_a_refused_save_shows_the_message_at_its_step(server, page):
    log_in(page, server)
    page.goto(f"{server['url']}/app/automations/new")
    page.get_by_label("Name", exact=True).fill("Backwards")
    _email(page, 2, "Welcome")
    page.get_by_role("button", name="Move up step 2").click()
    first = step(page, 1, "email")
    expect(first.get_by_label("From address")).to_have_value("team@shop.example")
    page.get_by_role("button", name="Create draft").click()
    expect(first).to_have_accessible_description(re.compile(AFTER_WAIT))
    expect(first.locator(".field-error")).to_have_text(f"Step 1: {AFTER_WAIT}")
    expect(page.get_by_role("alert")).to_contain_text(AFTER_WAIT)
    expect(step(page, 2, "wait").locator(".field-error")).to_have_count(0)
    expect(first.get_by_label("Template", exact=True).locator("option:checked")).to_have_text("Welcome")
    expect(page.get_by_label("Name", exact=True)).to_have_value("Backwards")
    _checked(page, "42-automation-editor-refused")
    page.get_by_role("button", name="Move down step 1").click()
    page.get_by_label("Name", exact=True).press("Enter")  # Enter saves; it never presses a step's button
    expect(page.locator(".flash")).to_contain_text("created as a draft")
    expect(
        step(page, 2, "email").get_by_label("Template", exact=True).locator("option:checked")
    ).to_have_text("Welcome")


def test_a_branch_step_keeps_its_condition_and_targets(server, page):
    log_in(page, server)
    page.goto(f"{server['url']}/app/automations/new")
    page.get_by_label("Name", exact=True).fill(f"Split ({page.width_name})")
    _email(page, 2, "Welcome")
    _add(page, "branch", 3)
    page.get_by_role("button", name="Add a branch to step 3").click()
    _add(page, "wait", 4)
    _add(page, "email", 5)
    _email(page, 5, "Getting started")
    pro = step(page, 3, "branch").get_by_role("group", name="Branch 1")
    pro.get_by_label("Label").fill("Pro plan")
    pro.get_by_label("Field").fill("plan")
    pro.get_by_label("Comparison").select_option(label="is")
    pro.get_by_label("Value").fill("pro")
    rest = step(page, 3, "branch").get_by_role("group", name="Branch 2")
    rest.get_by_label("Label").fill("Everyone else")
    rest.get_by_label("Field").fill("createdAt")  # a known field brings its type and its comparisons
    expect(rest.get_by_label("Type")).to_have_value("date")
    expect(rest.get_by_label("Type")).to_be_disabled()
    expect(rest.get_by_label("Comparison").locator("option[value=greater_than]")).to_be_disabled()
    rest.get_by_label("Field").fill("")
    expect(rest.get_by_label("Type")).to_be_enabled()
    rest.get_by_label("Goes to").select_option(label="the end of the automation")
    _checked(page, "43-automation-editor-branch")
    page.get_by_role("button", name="Create draft").click()
    expect(page.locator(".flash")).to_contain_text("created as a draft")
    page.reload()
    expect(pro.get_by_label("Field")).to_have_value("plan")
    expect(pro.get_by_label("Value")).to_have_value("pro")
    expect(pro.get_by_label("Goes to").locator("option:checked")).to_have_text("the following step")
    expect(rest.get_by_label("Label")).to_have_value("Everyone else")
    expect(rest.get_by_label("Goes to").locator("option:checked")).to_have_text("the end of the automation")
    page.get_by_role("button", name="Activate").click()
    expect(page.locator("h1 .status")).to_have_text("active")
