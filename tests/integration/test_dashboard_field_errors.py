"""Refused dashboard forms point at the field, over the ASGI app on both databases: the field gets
aria-invalid="true" and an aria-describedby naming the element next to it that holds the message in
plain words (never an API field path), its other help text still named, and the summary alert at
the top of the page stays. Covered: contact add (bad email, duplicate, bad property value),
campaign create and schedule (a past date, an unknown zone), template, segment (numbered as the
builder's rows), property (reserved and duplicate names), password change, user invite, sender,
webhook, API key, suppressions (new group, addresses, their group), domain, automation create and
edit, the template's test send; and a wrong login, which marks both fields with one message."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from tests.integration.test_dashboard_campaign_page import PASSWORD, _csrf, _draft, _login

VOID = {"input", "img", "br", "hr", "meta", "link", "option"}


class _Elements(HTMLParser):
    """Every element with an id: its tag, attributes and text; and the page's whole text."""

    def __init__(self) -> None:
        super().__init__()
        self.found: dict[str, dict] = {}
        self.open: list[tuple[str, str | None]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        named = dict(attrs)
        if named.get("id"):
            self.found[named["id"]] = {"tag": tag, "attrs": named, "text": ""}
        if tag not in VOID:
            self.open.append((tag, named.get("id")))

    def handle_endtag(self, tag):
        while self.open:
            if self.open.pop()[0] == tag:
                break

    def handle_data(self, data):
        self.text.append(data)
        for _, element_id in self.open:
            if element_id:
                self.found[element_id]["text"] += data


def _elements(html: str) -> dict[str, dict]:
    parser = _Elements()
    parser.feed(html)
    return parser.found


def _shown_text(html: str) -> str:
    parser = _Elements()
    parser.feed(html)
    return " ".join(parser.text)


def invalid_fields(html: str) -> dict[str, list[str]]:
    """{id of each field marked aria-invalid: [the texts its aria-describedby names]}."""
    found = _elements(html)
    return {
        element_id: [found[ref]["text"].strip() for ref in e["attrs"].get("aria-describedby", "").split()]
        for element_id, e in found.items()
        if e["attrs"].get("aria-invalid") == "true"
    }


def summary(html: str) -> str:
    return html[html.index('class="errors" role="alert"') :].split("</div>", 1)[0]


def _plain(html: str) -> None:
    """No API field path or raw wording in what the page shows."""
    shown = _shown_text(html)
    for raw in (
        "filterCriteria",
        "customFields",
        "from.email",
        "confirm_password",
        "POST /",
        "Validation failed",
        "entryCriteria",
        "eventName",
        "steps[",
        "to.email",
        "expiresAt",
        "expires_days",
        "emails[",
    ):
        assert raw not in shown, raw


async def _post(api, path: str, token: str, **fields):
    return await api.client.post(f"/app{path}", data={"csrf_token": token, **fields})


async def test_contact_add_points_at_the_email_and_the_property(api, tenant):
    token = await _login(api, tenant)
    await _post(api, "/properties", token, name="score", type="number")
    bad = await _post(api, "/contacts/new", token, email="nobody.example", firstName="Bo")
    assert bad.status_code == 400
    assert invalid_fields(bad.text) == {"email": ["Email: An email address must have an @-sign."]}
    assert '<p class="field-error" id="email-error"' in bad.text and "An email address must" in summary(
        bad.text
    )
    assert 'id="email" name="email" type="email" required value="nobody.example"' in bad.text  # kept
    await _post(api, "/contacts/new", token, email="bo@shop.example")
    again = await _post(api, "/contacts/new", token, email="bo@shop.example")
    assert invalid_fields(again.text) == {"email": ["A contact with this email already exists"]}
    score = await _post(api, "/contacts/new", token, email="cy@shop.example", cf_score="lots")
    assert list(invalid_fields(score.text)) == ["cf_score"]
    assert invalid_fields(score.text)["cf_score"][0].startswith("Property “score”: ")
    for page in (bad.text, again.text, score.text):
        _plain(page)


async def test_campaign_create_and_a_past_start_point_at_their_fields(api, tenant):
    token = await _login(api, tenant)
    made = await _post(
        api, "/campaigns/new", token, name="x" * 201, subject="S", htmlTemplate="<p>x</p>", fromEmail="nope"
    )
    assert made.status_code == 400
    fields = invalid_fields(made.text)
    assert set(fields) == {"name", "fromEmail"} and fields["name"] == ["Name must be at most 200 characters"]
    assert fields["fromEmail"][0].startswith("From address: ") and "From address" in summary(made.text)
    campaign_id = await _draft(api, tenant)
    past = await _post(
        api,
        f"/campaigns/{campaign_id}/schedule",
        token,
        scheduledAt="2020-01-01T09:00",
        timezone="Asia/Tokyo",
    )
    assert past.status_code == 400 and 'id="campaign-status">draft<' in past.text
    shown = _elements(past.text)
    assert shown["scheduledAt"]["attrs"]["aria-describedby"] == "scheduledAt-error zone-help"
    assert shown["scheduledAt"]["attrs"]["value"] == "2020-01-01T09:00"
    assert invalid_fields(past.text)["scheduledAt"][0] == (
        "Date and time: 01 Jan 2020 09:00 in Asia/Tokyo has already passed; choose a time in the future"
    )
    assert '<option value="Asia/Tokyo" selected>' in past.text and "data-touched" in past.text
    zone = await _post(
        api,
        f"/campaigns/{campaign_id}/schedule",
        token,
        scheduledAt="2099-01-01T09:00",
        timezone="Mars/Olympus",
    )
    assert list(invalid_fields(zone.text)) == ["timezone"] and "Choose a time zone" in summary(zone.text)
    for page in (made.text, past.text, zone.text):
        _plain(page)


async def test_every_template_error_stands_next_to_its_own_field(api, tenant):
    token = await _login(api, tenant)
    answer = await _post(
        api,
        "/templates/new",
        token,
        templateName="Broken",
        templateType="marketing",
        subject="Hi {{name",
        emailTemplate="<p>{{#if vip}}VIP</p>",
    )
    assert answer.status_code == 400
    assert invalid_fields(answer.text) == {
        "subject": ["Subject: line 1, column 4: unclosed {{ (expected }})"],
        "emailTemplate": ["HTML: line 1, column 4: unclosed {{#if}}"],
    }


async def test_a_segment_error_points_at_the_builders_row(api, tenant):
    token = await _login(api, tenant)
    rows = {"type": "segment", "name": "Big", "logicalOperator": "AND"}
    rows |= {
        "field_0": "email",
        "fieldType_0": "string",
        "operator_0": "ends_with",
        "value_0": "@shop.example",
    }
    rows |= {"field_2": "score", "fieldType_2": "number", "operator_2": "greater_than", "value_2": "lots"}
    made = await _post(api, "/lists", token, **rows)  # the second row left empty: the API's 2nd is row 3
    assert made.status_code == 400
    assert invalid_fields(made.text) == {"value_2": ["Condition 3, value: must be a number"]}
    assert "Condition 3, value: must be a number" in summary(made.text)
    assert 'id="list-name" name="name" required value=""' in made.text  # the list form is not the refused one
    _plain(made.text)
    segment = (
        await api.client.post(
            "/v1/contact-lists",
            headers=tenant.headers,
            json={
                "name": "Shop",
                "type": "segment",
                "filterCriteria": {
                    "groups": [
                        {
                            "field": "email",
                            "fieldType": "string",
                            "operator": "ends_with",
                            "value": "@shop.example",
                        }
                    ]
                },
            },
        )
    ).json()["data"]
    edited = await _post(api, f"/lists/{segment['id']}/edit", token, **{**rows, "name": "Shop"})
    assert edited.status_code == 400 and list(invalid_fields(edited.text)) == ["value_2"]
    nothing = await _post(api, f"/lists/{segment['id']}/edit", token, type="segment", name="Shop")
    assert list(invalid_fields(nothing.text)) == ["field_0"] and "Conditions: must be a list" in nothing.text
    _plain(nothing.text)


async def test_a_property_name_refused_says_why_next_to_the_name(api, tenant):
    token = await _login(api, tenant)
    reserved = await _post(api, "/properties", token, name="city", type="string")
    assert reserved.status_code == 400
    name = _elements(reserved.text)["prop-name"]["attrs"]
    assert name["aria-invalid"] == "true" and name["aria-describedby"] == "prop-name-error prop-help"
    assert (
        invalid_fields(reserved.text)["prop-name"][0]
        == "Name: 'city' is reserved by the API; choose another name"
    )
    bad = await _post(api, "/properties", token, name="9lives", type="string")
    assert invalid_fields(bad.text)["prop-name"][0].startswith("Name: must start with a letter")
    await _post(api, "/properties", token, name="plan", type="string")
    twice = await _post(api, "/properties", token, name="Plan", type="string")
    assert twice.status_code == 400 and list(invalid_fields(twice.text)) == ["prop-name"]
    kind = await _post(api, "/properties", token, name="size", type="blob")
    assert list(invalid_fields(kind.text)) == ["prop-type"]


async def test_a_password_change_refused_points_at_the_right_password(api, tenant):
    await _login(api, tenant)
    page = await api.client.get("/app/account/password")
    token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    long_enough = "a new passphrase"
    differ = await _post(
        api,
        "/account/password",
        token,
        password=PASSWORD,
        new_password=long_enough,
        confirm_password="other one!",
    )
    assert invalid_fields(differ.text) == {
        "confirm_password": ["New password again: the two new passwords differ"]
    }
    assert "the two new passwords differ" in summary(differ.text)
    wrong = await _post(
        api,
        "/account/password",
        token,
        password="not it at all",
        new_password=long_enough,
        confirm_password=long_enough,
    )
    assert invalid_fields(wrong.text) == {"password": ["The current password is wrong"]}
    short = await _post(
        api, "/account/password", token, password=PASSWORD, new_password="short", confirm_password="short"
    )
    assert list(invalid_fields(short.text)) == ["new_password"]
    for answer in (differ, wrong, short):
        assert answer.status_code in (400, 401)
        _plain(answer.text)


async def test_user_invite_and_sender_point_at_the_email(api, tenant):
    token = await _login(api, tenant)
    invite = await _post(api, "/users", token, email="not an address")
    field = _elements(invite.text)["invite-email"]["attrs"]
    assert field["aria-describedby"] == "invite-email-error invite-help"
    assert list(invalid_fields(invite.text)) == ["invite-email"]
    sender = await _post(api, "/senders", token, email="news@shop.example", replyTo="nope")
    assert list(invalid_fields(sender.text)) == ["sender-reply"]
    assert invalid_fields(sender.text)["sender-reply"][0].startswith("Reply-to address: ")


def _described(html: str, element_id: str) -> str:
    """The aria-describedby of a field (a fieldset is described, not marked invalid)."""
    return _elements(html)[element_id]["attrs"].get("aria-describedby", "")


async def test_a_refused_webhook_keeps_the_url_and_events_and_points_at_them(api, tenant):
    token = await _login(api, tenant)
    url = await _post(api, "/webhooks", token, url="ftp://hooks.shop.example/x", events="contact.created")
    assert url.status_code == 400
    assert invalid_fields(url.text) == {"url": ["URL must be an http(s) URL with a host"]}
    assert _elements(url.text)["url"]["attrs"]["value"] == "ftp://hooks.shop.example/x"
    assert 'value="contact.created" checked' in url.text and "URL must be" in summary(url.text)
    events = await _post(api, "/webhooks", token, url="https://hooks.shop.example/x")
    assert events.status_code == 400 and invalid_fields(events.text) == {}
    assert 'aria-describedby="events-error"' in events.text
    assert _elements(events.text)["events-error"]["text"] == "Events: at least one event is required"
    assert _elements(events.text)["url"]["attrs"]["value"] == "https://hooks.shop.example/x"
    for answer in (url, events):
        _plain(answer.text)
    assert "No webhook yet" in (await api.client.get("/app/webhooks")).text


async def test_a_refused_api_key_points_at_the_expiry(api, tenant):
    token = await _login(api, tenant)
    bad = await _post(api, "/keys", token, name="deploy", kind="account", expires_days="0")
    assert bad.status_code == 400
    assert invalid_fields(bad.text) == {
        "key-expiry": ["Expiry: expiry must be a whole number of days from 1 to 3650"]
    }
    shown = _elements(bad.text)
    assert shown["key-expiry"]["attrs"]["value"] == "0" and shown["key-name"]["attrs"]["value"] == "deploy"
    assert '<option value="account" selected>' in bad.text and "from 1 to 3650" in summary(bad.text)
    _plain(bad.text)
    assert (await api.client.get("/app/keys")).text.count("data-key=") == 1  # the tenant's own key only


async def test_refused_suppressions_point_at_the_addresses_the_group_or_the_name(api, tenant):
    token = await _login(api, tenant)
    typed = "ok@a.example not-an-address"
    bad = await _post(api, "/suppressions/entries", token, emails=typed)
    assert bad.status_code == 400 and list(invalid_fields(bad.text)) == ["emails"]
    assert invalid_fields(bad.text)["emails"][0].startswith("Address 2: ")
    assert _elements(bad.text)["emails"]["text"] == typed
    gone = await _post(api, "/suppressions/entries", token, emails="x@y.example", group="no-such-group")
    assert gone.status_code == 400
    assert invalid_fields(gone.text) == {
        "entry-group": ["Group: this group no longer exists; choose another"]
    }
    assert _elements(gone.text)["emails"]["text"] == "x@y.example"
    group = await _post(api, "/suppressions/groups", token, name="  ", description="Kept")
    assert group.status_code == 400 and list(invalid_fields(group.text)) == ["group-name"]
    assert _elements(group.text)["group-description"]["attrs"]["value"] == "Kept"
    assert "emails-error" not in group.text  # the addresses form is not the refused one
    made = await api.client.post("/v1/suppression-groups", headers=tenant.headers, json={"name": "News"})
    code = made.json()["data"]["groupId"]
    renamed = await _post(api, f"/suppressions/groups/{code}", token, name=" ", description="Typed")
    assert renamed.status_code == 400 and list(invalid_fields(renamed.text)) == ["name"]
    assert _elements(renamed.text)["description"]["attrs"]["value"] == "Typed"
    for answer in (bad, gone, group, renamed):
        _plain(answer.text)
    page = (await api.client.get("/app/suppressions")).text
    assert 'id="entry-total">0 entries' in page and "Kept" not in page and ">News<" in page


async def test_a_refused_domain_keeps_the_name_and_points_at_it(api, tenant):
    token = await _login(api, tenant)
    bad = await _post(api, "/domains", token, domain="https://shop.example/x")
    assert bad.status_code == 400
    assert invalid_fields(bad.text) == {
        "domain": ["Domain must be a bare hostname, without protocol or path"]
    }
    assert _elements(bad.text)["domain"]["attrs"]["value"] == "https://shop.example/x"
    assert "No domain yet" in (await api.client.get("/app/domains")).text
    assert (await _post(api, "/domains", token, domain="mail.shop.example")).status_code == 303
    twice = await _post(api, "/domains", token, domain="mail.shop.example")
    assert twice.status_code == 400
    assert invalid_fields(twice.text) == {"domain": ["This domain has already been added"]}
    for answer in (bad, twice):
        _plain(answer.text)
    assert (await api.client.get("/app/domains")).text.count("mail.shop.example<") == 1


async def test_a_refused_automation_points_at_the_event_or_the_steps(api, tenant):
    token = await _login(api, tenant)
    event = await _post(api, "/automations", token, name="Welcome", triggerType="event_trigger", steps="[]")
    assert event.status_code == 400
    assert invalid_fields(event.text) == {"a-event": ["Choose the event that starts this automation"]}
    assert "event_trigger" not in summary(event.text)  # the trigger's API name is only the select's
    assert _elements(event.text)["a-name"]["attrs"]["value"] == "Welcome"
    steps = '[{"type": "wait", "delay": {"value": -1, "unit": "minutes"}}]'
    wait = await _post(api, "/automations", token, name="Welcome", triggerType="contact_created", steps=steps)
    assert wait.status_code == 400
    assert invalid_fields(wait.text) == {}  # the message stands at the top of the step it is about
    shown = _elements(wait.text)
    assert shown["s0"]["attrs"]["aria-describedby"] == "s0-error"
    assert shown["s0-error"]["text"] == "Step 1, delay value: must be a non-negative integer"
    assert shown["a-steps"]["text"] == steps
    assert "No automation yet" in (await api.client.get("/app/automations")).text
    made = await _post(api, "/automations", token, name="Welcome", triggerType="contact_created", steps="[]")
    automation_id = made.headers["location"].rsplit("/", 1)[1]
    edited = await _post(
        api, f"/automations/{automation_id}", token, name="Renamed", triggerType="contact_created", steps="[{"
    )
    assert edited.status_code == 400 and list(invalid_fields(edited.text)) == ["a-steps"]
    assert invalid_fields(edited.text)["a-steps"][0].startswith("Steps: the steps are not valid JSON")
    assert _elements(edited.text)["a-name"]["attrs"]["value"] == "Renamed"
    for answer in (event, wait, edited):
        _plain(answer.text)
    kept = await api.client.get(f"/v1/automations/{automation_id}", headers=tenant.headers)
    assert kept.json()["data"]["name"] == "Welcome"


async def test_a_refused_test_send_points_at_the_recipient(api, tenant):
    token = await _login(api, tenant)
    made = await _post(
        api,
        "/templates/new",
        token,
        templateName="Hi",
        subject="Hi",
        templateType="transactional",
        emailTemplate="<p>Hi</p>",
    )
    template_id = made.headers["location"].rsplit("/", 1)[1]
    bad = await _post(
        api,
        f"/templates/{template_id}/test",
        token,
        to="nope",
        fromEmail="news@shop.example",
        fromName="News",
    )
    assert bad.status_code == 400 and list(invalid_fields(bad.text)) == ["test-to"]
    assert invalid_fields(bad.text)["test-to"][0].startswith("To: ")
    shown = _elements(bad.text)
    assert shown["test-to"]["attrs"]["value"] == "nope" and shown["test-from"]["attrs"]["value"] == (
        "news@shop.example"
    )
    assert shown["templateName"]["attrs"]["value"] == "Hi"  # the editor shows the saved template
    _plain(bad.text)
    assert not re.search(r'/app/outbox/[0-9a-f]{24}"', (await api.client.get("/app/outbox")).text)


async def test_a_wrong_login_marks_both_fields_with_one_message(api, tenant):
    await api.client.post("/app/logout", data={"csrf_token": await _login(api, tenant)})
    page = await api.client.get("/app/login")
    wrong = await api.client.post(
        "/app/login",
        data={"email": "ada@shop.example", "password": "not it", "csrf_token": _csrf(page.text)},
    )
    assert wrong.status_code == 401
    assert invalid_fields(wrong.text) == {
        "email": ["Wrong email or password"],
        "password": ["Wrong email or password"],
    }
    assert wrong.text.count('id="login-error"') == 1 and "Wrong email or password" in summary(wrong.text)
    assert _elements(wrong.text)["email"]["attrs"]["value"] == "ada@shop.example"
    assert "not it" not in wrong.text
    assert (await api.client.get("/app/campaigns")).status_code == 303  # still logged out
