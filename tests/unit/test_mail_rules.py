"""The rules of a transactional mail request (domain/mails.py): every bound at and beyond its limit."""

from __future__ import annotations

import base64

import pytest

from sendhouse.domain import mails as rules
from sendhouse.errors import InvalidInput


def body(**extra):
    base = {
        "from": {"email": "app@example.com"},
        "to": {"email": "ann@example.org", "name": "Ann"},
        "subject": "Hi",
        "html": "<p>Hi {{name}}</p>",
    }
    return {**base, **extra}


def fields_of(call) -> list[str]:
    with pytest.raises(InvalidInput) as caught:
        call()
    return [d["field"] for d in caught.value.details]


def test_minimal_send_is_normalized():
    mail = rules.check_send(body(cc={"email": "Cc@Example.COM"}))
    assert mail["to"] == [{"email": "ann@example.org", "name": "Ann"}]
    assert mail["cc"] == [{"email": "Cc@example.com", "name": None}]
    assert mail["bcc"] == [] and mail["attachments"] == [] and mail["headers"] == {}


def test_from_and_to_are_required_and_valid():
    assert fields_of(lambda: rules.check_send({k: v for k, v in body().items() if k != "from"})) == ["from"]
    assert fields_of(lambda: rules.check_send(body(to=None))) == ["to"]
    assert fields_of(lambda: rules.check_send(body(to={"email": "not-an-address"}))) == ["to.email"]
    assert fields_of(lambda: rules.check_send(body(to=[{"email": "a@b.co"}, {"email": "x"}]))) == [
        "to[1].email"
    ]


def test_template_or_body_required_and_subject_unless_template():
    assert fields_of(lambda: rules.check_send(body(html=None))) == ["html"]
    assert rules.check_send(body(html=None, text="plain"))["text"] == "plain"
    assert fields_of(lambda: rules.check_send(body(subject=None))) == ["subject"]
    assert rules.check_send(body(subject=None, html=None, templateId="A-1"))["templateId"] == "A-1"


def test_subject_at_and_beyond_998():
    assert rules.check_send(body(subject="s" * 998))["subject"] == "s" * 998
    assert fields_of(lambda: rules.check_send(body(subject="s" * 999))) == ["subject"]
    assert fields_of(lambda: rules.check_send(body(subject="a\r\nBcc: x@y.z"))) == ["subject"]


def test_html_at_and_beyond_4_mb():
    limit = 4 * 1024 * 1024
    assert rules.check_send(body(html="x" * limit))["html"] == "x" * limit
    assert fields_of(lambda: rules.check_send(body(html="x" * (limit + 1)))) == ["html"]


def test_recipients_at_and_beyond_50():
    many = [{"email": f"u{i}@example.org"} for i in range(48)]
    mail = rules.check_send(body(cc=many[:24], bcc=many[24:], to={"email": "t@example.org"}))
    assert len(mail["cc"]) + len(mail["bcc"]) + len(mail["to"]) == 49
    fifty = rules.check_send(
        body(cc=many[:24], bcc=many[24:], to=[{"email": "t@example.org"}, {"email": "s@example.org"}])
    )
    assert len(fifty["to"]) == 2
    assert fields_of(
        lambda: rules.check_send(
            body(
                cc=[*many, {"email": "z@example.org"}],
                to=[{"email": "t@example.org"}, {"email": "s@example.org"}],
            )
        )
    ) == ["to"]


def test_headers_count_name_value_and_reserved():
    twenty = {f"X-H{i}": "v" for i in range(20)}
    assert rules.check_send(body(headers=twenty))["headers"] == twenty
    assert fields_of(lambda: rules.check_send(body(headers={**twenty, "X-More": "v"}))) == ["headers"]
    assert rules.check_send(body(headers={"X-" + "a" * 74: "v"}))["headers"]
    assert fields_of(lambda: rules.check_send(body(headers={"X-" + "a" * 75: "v"}))) == [
        "headers.X-" + "a" * 75
    ]
    assert fields_of(lambda: rules.check_send(body(headers={"X Bad": "v"}))) == ["headers.X Bad"]
    assert rules.check_send(body(headers={"X-Long": "v" * 1000}))["headers"]["X-Long"] == "v" * 1000
    assert fields_of(lambda: rules.check_send(body(headers={"X-Long": "v" * 1001}))) == ["headers.X-Long"]
    assert fields_of(lambda: rules.check_send(body(headers={"X-Inject": "a\r\nBcc: evil@x.y"}))) == [
        "headers.X-Inject"
    ]


@pytest.mark.parametrize("name", sorted(rules.RESERVED_HEADERS))
def test_every_reserved_header_is_refused_in_any_case(name):
    spelled = name.upper() if len(name) % 2 else name.title()
    assert fields_of(lambda: rules.check_send(body(headers={spelled: "v"}))) == [f"headers.{spelled}"]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_attachments_count_and_content():
    files = [{"fileName": f"f{i}.pdf", "content": b64(b"%PDF")} for i in range(20)]
    assert len(rules.check_send(body(attachments=files))["attachments"]) == 20
    assert fields_of(lambda: rules.check_send(body(attachments=[*files, files[0]]))) == ["attachments"]
    assert fields_of(
        lambda: rules.check_send(body(attachments=[{"fileName": "a.txt", "content": "@@not base64"}]))
    ) == ["attachments[0].content"]
    assert fields_of(lambda: rules.check_send(body(attachments=[{"fileName": "a.txt"}]))) == [
        "attachments[0].content"
    ]
    assert fields_of(lambda: rules.check_send(body(attachments=[{"content": b64(b"x")}]))) == [
        "attachments[0].fileName"
    ]
    wrapped = b64(b"x" * 200)
    split = "\n".join(wrapped[i : i + 76] for i in range(0, len(wrapped), 76))
    assert (
        rules.check_send(body(attachments=[{"fileName": "a.txt", "content": split}]))["attachments"][0][
            "content"
        ]
        == wrapped
    )


@pytest.mark.parametrize(
    "name",
    [
        "setup.exe",
        "run.BAT",
        "x.cmd",
        "y.com",
        "app.js",
        "v.vbs",
        "i.msi",
        "s.scr",
        "p.pif",
        "lib.jar",
        "go.ps1",
        "do.sh",
        "report.pdf.exe",
    ],
)
def test_blocked_extensions_are_refused(name):
    assert fields_of(
        lambda: rules.check_send(body(attachments=[{"fileName": name, "content": b64(b"x")}]))
    ) == ["attachments[0].fileName"]


@pytest.mark.parametrize("name", ["report.pdf", "photo.jpeg", "notes.txt", "archive.zip", "exe", "Makefile"])
def test_ordinary_files_are_allowed(name):
    assert rules.check_send(body(attachments=[{"fileName": name, "content": b64(b"x")}]))["attachments"]


def test_whole_email_at_and_beyond_40_mb():
    limit = 40 * 1024 * 1024
    fixed = rules.email_size(body(), [])
    content = "A" * ((limit - fixed) // 4 * 4)
    assert rules.check_send(body(attachments=[{"fileName": "big.bin", "content": content}]))
    over = "A" * (len(content) + 4)
    assert fields_of(
        lambda: rules.check_send(body(attachments=[{"fileName": "big.bin", "content": over}]))
    ) == ["attachments"]


def test_bulk_recipients_bounds_and_data_merge():
    shared = {k: v for k, v in body(dynamicData={"a": 1, "b": 2}).items() if k != "to"}
    people = [{"email": f"u{i}@example.org", "dynamicData": {"b": i}} for i in range(100)]
    mail = rules.check_bulk({**shared, "recipients": people})
    assert len(mail["recipients"]) == 100
    assert mail["recipients"][7]["dynamicData"] == {"a": 1, "b": 7}
    assert fields_of(
        lambda: rules.check_bulk({**shared, "recipients": [*people, {"email": "x@example.org"}]})
    ) == ["recipients"]
    assert fields_of(lambda: rules.check_bulk({**shared, "recipients": []})) == ["recipients"]
    assert fields_of(lambda: rules.check_bulk({**shared, "recipients": [{"email": "bad"}]})) == [
        "recipients[0].email"
    ]


def test_all_problems_are_reported_together():
    fields = fields_of(lambda: rules.check_send({"to": {"email": "x"}, "headers": {"From": "a"}}))
    assert set(fields) == {"from", "html", "subject", "to.email", "headers.From"}


def test_bulk_leaves_out_broken_recipients_and_says_why():
    shared = {"from": {"email": "a@example.com"}, "subject": "s", "html": "h"}
    people = [
        {"email": "ok@example.org"},
        {"email": "bad"},
        {"email": "ok2@example.org", "bcc": [{"email": "@"}]},
    ]
    mail = rules.check_bulk({**shared, "recipients": people})
    assert [(r["index"], r["email"]) for r in mail["recipients"]] == [(0, "ok@example.org")]
    assert [(r["index"], r["email"], r["code"]) for r in mail["refused"]] == [
        (1, "bad", "INVALID_RECIPIENT"),
        (2, "ok2@example.org", "INVALID_RECIPIENT"),
    ]
    assert mail["refused"][1]["reason"].startswith("recipients[2].bcc[0].email:")
