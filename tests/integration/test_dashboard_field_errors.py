"""Refused dashboard forms point at the field, over the ASGI app on both databases: the field gets
aria-invalid="true" and an aria-describedby naming the element next to it that holds the message in
plain words (never an API field path), its other help text still named, and the summary alert at
the top of the page stays. Covered: contact add (bad email, duplicate, bad property value),
campaign create and schedule (a past date, an unknown zone), template, segment (numbered as the
builder's rows), property (reserved and duplicate names), password change, user invite, sender."""

from __future__ import annotations

from html.parser import HTMLParser

from tests.integration.test_dashboard_campaign_page import PASSWORD, _draft, _login

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
