"""The message builder: structure, headers, tracking, footer, tokens, injection and DKIM."""

from __future__ import annotations

import email
import email.policy
import re
from dataclasses import replace
from datetime import UTC, datetime

import dkim
import pytest

from sendhouse.delivery.dkim import DkimSigner, dkim_dns_value, generate_dkim_keypair
from sendhouse.domain import tokens
from sendhouse.domain.ids import new_id
from sendhouse.domain.mime import LinkSettings, MessageSpec, Recipient, compile_skeleton
from sendhouse.errors import InvalidInput

LINKS = LinkSettings(
    public_url="https://mail.example.com/", bounce_domain="bounce.example.com", secret="s3cret"
)
BASE = "https://mail.example.com"
NOW = datetime(2026, 11, 26, 9, 30, 5, tzinfo=UTC)
HTML = (
    "<html><head><style>p { color: #123456 }</style></head><body>"
    '<p>Hello {{first_name | "there"}}</p>'
    '<a href="https://shop.example.com/item?id=7&amp;src=mail">Item</a>'
    '<a href="{{link}}">Dynamic</a>'
    '<a href="mailto:help@example.com">Mail us</a> <a href="#top">Top</a> <a href="/relative">Rel</a>'
    "</body></html>"
)


def spec(**overrides) -> MessageSpec:
    base = MessageSpec(
        project_id=new_id(),
        kind="campaign",
        from_email="news@example.com",
        from_name="Example News",
        reply_to=None,
        subject='Hi {{first_name | "there"}}',
        html=HTML,
        text=None,
        preview_text=None,
        headers={},
        tracking_open=True,
        tracking_click=True,
        unsubscribe_group="NEWS01",
        campaign_id=new_id(),
    )
    return replace(base, **overrides)


def person(**overrides) -> Recipient:
    row = overrides.pop("message_id", new_id())
    base = Recipient(
        message_id=row,
        message_id_header=f"<{row}@example.com>",
        email="ann@example.org",
        name="Ann Lee",
        variables={"first_name": "Ann", "link": "https://docs.example.com/a?b=1&c=2"},
    )
    return replace(base, **overrides)


def build(message_spec: MessageSpec | None = None, recipient: Recipient | None = None, **kwargs):
    skeleton = compile_skeleton(message_spec or spec(), LINKS, **kwargs)
    return skeleton.render(recipient or person(), now=NOW)


def parse(data: bytes) -> email.message.EmailMessage:
    """Parse strictly; fail on any defect of any part or header."""
    message = email.message_from_bytes(data, policy=email.policy.strict)
    for part in message.walk():
        assert part.defects == []
        for name, value in part.items():
            assert getattr(value, "defects", ()) == (), (name, value)
    return message


def part(message, content_type: str) -> str:
    [found] = [p for p in message.walk() if p.get_content_type() == content_type]
    return found.get_content()


def assert_wire_format(data: bytes) -> None:
    assert b"\n" not in data.replace(b"\r\n", b"") and b"\r" not in data.replace(b"\r\n", b"")
    assert data.endswith(b"\r\n")
    assert max(len(line) for line in data.split(b"\r\n")) <= 998
    assert data.isascii()


def test_campaign_message_structure_and_headers():
    recipient = person()
    out = build(spec(reply_to="help@example.com", headers={"X-Campaign": "autumn"}), recipient)
    assert_wire_format(out.data)
    message = parse(out.data)
    assert message.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    assert message["From"] == "Example News <news@example.com>"
    assert message["To"] == "Ann Lee <ann@example.org>"
    assert message["Subject"] == "Hi Ann"
    assert message["Date"] == "Thu, 26 Nov 2026 09:30:05 +0000"
    assert message["Message-ID"] == recipient.message_id_header == out.message_id_header
    assert message["MIME-Version"] == "1.0" and message["Reply-To"] == "help@example.com"
    assert message["X-Campaign"] == "autumn"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert out.rcpt_to == ("ann@example.org",)
    for p in message.iter_parts():
        assert p["Content-Transfer-Encoding"] == "quoted-printable"


def test_envelope_is_a_verp_address_of_the_row():
    recipient = person()
    out = build(recipient=recipient)
    local, domain = out.mail_from.split("@")
    assert domain == "bounce.example.com" and local.startswith("bounces+")
    assert tokens.parse_local_part(LINKS.secret, local) == ("bounce", recipient.message_id)


def test_list_unsubscribe_carries_signed_url_and_mailto():
    the_spec, recipient = spec(), person()
    message = parse(build(the_spec, recipient).data)
    url, mailto = re.fullmatch(r"<([^>]+)>,\s*<mailto:([^>]+)>", message["List-Unsubscribe"]).groups()
    assert url.startswith(BASE + tokens.UNSUBSCRIBE_PATH)
    target = tokens.verify_unsubscribe(LINKS.secret, url[len(BASE + tokens.UNSUBSCRIBE_PATH) :])
    assert target == tokens.UnsubscribeTarget(
        the_spec.project_id, "ann@example.org", "NEWS01", recipient.message_id
    )
    local, domain = mailto.split("@")
    assert domain == "bounce.example.com"
    assert tokens.parse_local_part(LINKS.secret, local) == ("unsubscribe", recipient.message_id)


def test_transactional_without_group_has_no_list_unsubscribe_or_footer():
    message = parse(build(spec(kind="transactional", unsubscribe_group=None, campaign_id=None)).data)
    assert message["List-Unsubscribe"] is None and message["List-Unsubscribe-Post"] is None
    assert tokens.UNSUBSCRIBE_PATH not in part(message, "text/html").replace(tokens.PREFERENCE_PATH, "")


def test_transactional_with_group_gets_one_click_headers():
    message = parse(build(spec(kind="transactional")).data)
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_tracking_on_rewrites_http_links_and_adds_pixel():
    recipient = person()
    html = part(parse(build(recipient=recipient).data), "text/html")
    clicks = re.findall(r'href="' + re.escape(BASE + tokens.CLICK_PATH) + r'([^"]+)"', html)
    targets = [tokens.verify_click(LINKS.secret, token) for token in clicks]
    assert [t.url for t in targets[:2]] == [
        "https://shop.example.com/item?id=7&src=mail",
        "https://docs.example.com/a?b=1&c=2",
    ]
    assert all(t.message_id == recipient.message_id for t in targets)
    assert 'href="mailto:help@example.com"' in html and 'href="#top"' in html and 'href="/relative"' in html
    [pixel] = re.findall(r'<img src="' + re.escape(BASE + tokens.OPEN_PATH) + r'([^"]+)"', html)
    assert tokens.verify_open(LINKS.secret, pixel) == recipient.message_id


def test_single_quoted_and_unclosed_hrefs():
    source = (
        '<a href=\'https://a.example/x\'>A</a><a title="t" HREF="https://b.example/">B</a><a href="https://c'
    )
    html = part(parse(build(spec(html=source, tracking_open=False)).data), "text/html")
    clicks = [tokens.verify_click(LINKS.secret, t).url for t in re.findall(r"/t/c/([^\"']+)", html)]
    assert clicks == ["https://a.example/x", "https://b.example/"]
    assert "href='https://mail.example.com/t/c/" in html and '<a href="https://c<p' in html


def test_unsubscribe_links_are_never_rewritten():
    html = part(parse(build().data), "text/html")
    clicked = [tokens.verify_click(LINKS.secret, t).url for t in re.findall(r"/t/c/([^\"]+)", html)]
    assert clicked and not any("/u/" in url for url in clicked)
    assert f'href="{BASE}/u/' in html and f'href="{BASE}/u/p/' in html


def test_tracking_off_means_no_pixel_and_no_rewriting():
    data = build(spec(tracking_open=False, tracking_click=False)).data
    html = part(parse(data), "text/html")
    assert "/t/o/" not in html and "/t/c/" not in html and "<img" not in html
    assert 'href="https://shop.example.com/item?id=7&amp;src=mail"' in html


def test_open_only_and_click_only():
    html_open = part(parse(build(spec(tracking_click=False)).data), "text/html")
    assert "/t/o/" in html_open and "/t/c/" not in html_open
    html_click = part(parse(build(spec(tracking_open=False)).data), "text/html")
    assert "/t/o/" not in html_click and "/t/c/" in html_click


def test_footer_added_to_campaign_mail_without_unsubscribe():
    message = parse(build().data)
    html, text = part(message, "text/html"), part(message, "text/plain")
    assert html.index(">Unsubscribe</a>") < html.index("</body>")
    assert f"Unsubscribe: {BASE}/u/" in text and f"Manage email preferences: {BASE}/u/p/" in text


@pytest.mark.parametrize("tag", ["{{unsubscribe}}", "{{unsubscribe_preference}}"])
def test_no_footer_when_template_has_its_own_link(tag):
    own = HTML.replace("</body>", f'<a href="{tag}">Leave</a></body>')
    html = part(parse(build(spec(html=own, tracking_open=False)).data), "text/html")
    assert ">Unsubscribe</a>" not in html and ">Leave</a>" in html
    assert html.count(f"{BASE}/u/") == 1


def test_no_footer_for_transactional_mail():
    html = part(parse(build(spec(kind="transactional")).data), "text/html")
    assert ">Unsubscribe</a>" not in html


def test_preview_text_is_hidden_at_the_top():
    html = part(parse(build(spec(preview_text="Sale ends {{day | 'soon'}} <3")).data), "text/html")
    body = html[html.index("<body>") + len("<body>") :]
    assert body.startswith('<div style="display:none;')
    assert body.index("Sale ends soon &lt;3") < body.index("Hello Ann")


def test_css_is_inlined():
    html = part(parse(build().data), "text/html")
    assert '<p style="color: #123456;">Hello Ann</p>' in html


def test_text_part_derived_from_html_or_given():
    derived = part(parse(build().data), "text/plain")
    assert "Hello Ann" in derived and "<p>" not in derived
    given = part(parse(build(spec(text="Plain {{first_name}} {{unsubscribe}}")).data), "text/plain")
    assert given.startswith("Plain Ann https://mail.example.com/u/") and "Manage email" not in given


def test_non_ascii_subject_names_and_body():
    the_spec = spec(subject="Привет {{first_name}} — €5 off ✓", from_name="Café Ünïcode")
    recipient = person(name="Zoë Ōtsuka", variables={"first_name": "Зоя"})
    out = build(the_spec, recipient)
    assert_wire_format(out.data)
    message = parse(out.data)
    assert message["Subject"] == "Привет Зоя — €5 off ✓"
    assert message["From"] == "Café Ünïcode <news@example.com>"
    assert message["To"] == "Zoë Ōtsuka <ann@example.org>"
    assert "Hello Зоя" in part(message, "text/html") and "Hello Зоя" in part(message, "text/plain")


def test_long_subjects_fold_and_decode_back():
    for subject in ("word " * 199 + "end", "x" * 990, "é" * 500):
        out = build(spec(subject=subject))
        assert_wire_format(out.data)
        assert parse(out.data)["Subject"] == subject.strip()


@pytest.mark.parametrize(
    "evil",
    [
        "Hi\r\nBcc: victim@example.net",
        "Hi\nBcc: victim@example.net",
        "Hi\rBcc: victim@example.net",
        "Hi\x00\x0bthere",
    ],
)
def test_header_injection_through_variables_and_names(evil):
    recipient = person(name=evil, variables={"first_name": evil})
    the_spec = spec(from_name=evil, headers={"X-Note": evil})
    out = build(the_spec, recipient)
    assert_wire_format(out.data)
    message = parse(out.data)
    assert message["Bcc"] is None
    header_names = [
        line.split(":")[0]
        for line in out.data.split(b"\r\n\r\n")[0].decode().split("\r\n")
        if line[:1] not in " \t"
    ]
    assert "Bcc" not in header_names
    assert message["Subject"].startswith("Hi ")


@pytest.mark.parametrize(
    ("recipient", "field"),
    [
        (person(email="ann@example.org\r\nBcc: x@y.z"), "to"),
        (person(email="not-an-address"), "to"),
        (person(message_id_header="<a@b>\r\nBcc: x@y.z"), "messageId"),
        (person(message_id_header="no-brackets@x"), "messageId"),
    ],
)
def test_bad_recipient_fields_are_refused(recipient, field):
    with pytest.raises(InvalidInput) as caught:
        build(recipient=recipient)
    assert caught.value.details[0]["field"] == field


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"subject": "Hi {{#if x}}"}, "subject"),
        ({"html": "<p>{{name</p>"}, "html"),
        ({"text": "{{/if}}"}, "text"),
        ({"preview_text": "{{else}}"}, "previewText"),
        ({"from_email": "news@example.com>\r\nBcc: x@y.z"}, "from"),
        ({"reply_to": "nope"}, "replyTo"),
        ({"headers": {"Bad Name": "x"}}, "headers.Bad Name"),
        ({"kind": "marketing"}, "kind"),
    ],
)
def test_bad_specs_fail_at_compile_time(overrides, field):
    with pytest.raises(InvalidInput) as caught:
        compile_skeleton(spec(**overrides), LINKS)
    assert caught.value.details[0]["field"] == field


def test_idn_domain_is_encoded():
    message = parse(build(recipient=person(email="ann@bücher.example")).data)
    assert message["To"].addresses[0].domain == "xn--bcher-kva.example"


def test_attachments_make_multipart_mixed():
    payload = bytes(range(256)) * 40
    the_spec = spec(
        attachments=(("rapport é.pdf", "application/pdf", payload), ("notes.txt", "bad type", b""))
    )
    out = build(the_spec)
    assert_wire_format(out.data)
    message = parse(out.data)
    assert message.get_content_type() == "multipart/mixed"
    alternative, pdf, notes = message.iter_parts()
    assert alternative.get_content_type() == "multipart/alternative"
    assert pdf.get_filename() == "rapport é.pdf" and pdf.get_content() == payload
    assert notes.get_content_type() == "application/octet-stream" and notes.get_content() == b""


def test_each_recipient_gets_own_tokens_and_body():
    skeleton = compile_skeleton(spec(), LINKS)
    first, second = person(), person(email="bob@example.org", variables={"first_name": "Bob"})
    a, b = skeleton.render(first, now=NOW), skeleton.render(second, now=NOW)
    html_b = part(parse(b.data), "text/html")
    assert "Hello Bob" in html_b and "Hello Ann" not in html_b
    targets = [tokens.verify_click(LINKS.secret, t) for t in re.findall(r"/t/c/([^\"]+)", html_b)]
    assert targets and {t.message_id for t in targets} == {second.message_id}
    assert a.mail_from != b.mail_from


def test_merge_data_precedence_and_builtins_win():
    recipient = person(
        variables={
            "plan": "base",
            "customFields": {"plan": "custom", "city": "Lyon"},
            "dynamicData": {"plan": "dyn"},
            "email": "spoof@evil.test",
            "unsubscribe": "https://evil.test",
        }
    )
    html = "{{plan}} {{city}} {{email}} {{date}} <a href='{{unsubscribe}}'>u</a>"
    out = part(parse(build(spec(html=html, tracking_open=False), recipient).data), "text/html")
    assert out.startswith("dyn Lyon ann@example.org November 26, 2026 <a href='https://mail.example.com/u/")


def test_dkim_signed_messages_verify_with_dkimpy():
    private_pem, public_b64 = generate_dkim_keypair()
    signer = DkimSigner("example.com", "mail", private_pem)
    skeleton = compile_skeleton(
        spec(subject="Ça {{first_name}}", attachments=(("a.bin", "application/x", b"\x00" * 99),)),
        LINKS,
        dkim=signer,
    )
    for index in range(3):
        out = skeleton.render(person(variables={"first_name": f"N°{index}"}), now=NOW)
        assert_wire_format(out.data)
        parse(out.data)
        assert out.data.startswith(b"DKIM-Signature:")
        assert dkim.verify(out.data, dnsfunc=lambda name, timeout=5: dkim_dns_value(public_b64).encode())


def test_message_bytes_are_stable_for_the_same_input():
    skeleton = compile_skeleton(spec(), LINKS)
    recipient = person()
    assert skeleton.render(recipient, now=NOW).data == skeleton.render(recipient, now=NOW).data
    assert replace(recipient, name=None) != recipient
    assert parse(skeleton.render(replace(recipient, name=None), now=NOW).data)["To"] == "ann@example.org"


@pytest.mark.parametrize("dkim_on", [False, True])
def test_a_built_message_keeps_its_crlf_promise_and_dot_stuffs_as_if_checked(dkim_on):
    from sendhouse.delivery.smtp import dot_stuffed

    signer = DkimSigner("example.com", "sh", generate_dkim_keypair()[0]) if dkim_on else None
    html = HTML.replace("<p>Hello", "<p>\n.dot line\r\n.another\rHello")
    msg = build(spec(html=html, text=".text\nline\r\n.two", headers={"X-Tag": "a\nb"}), dkim=signer)
    assert msg.crlf
    assert msg.data.count(b"\r") == msg.data.count(b"\n") == msg.data.count(b"\r\n")
    assert dot_stuffed(msg.data, crlf=True) == dot_stuffed(msg.data)
