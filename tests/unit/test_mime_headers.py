"""Header encoding: folding, encoded words, display names, attachment names, injection-proofing."""

from __future__ import annotations

import base64
import email.policy
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sendhouse.domain.mimeheaders import custom_header, encode_words, filename_param, mailbox, unstructured
from sendhouse.errors import InvalidInput


def parse_header(line: str) -> str:
    message = email.message_from_bytes((line + "\r\n").encode(), policy=email.policy.strict)
    [(_, value)] = message.items()
    assert getattr(value, "defects", ()) == ()
    return str(value)


def test_short_ascii_stays_as_is():
    assert unstructured("Subject", "Hello there") == "Subject: Hello there\r\n"


def test_long_ascii_folds_at_spaces_under_78():
    line = unstructured("Subject", "lorem ipsum " * 40)
    assert all(len(physical) <= 78 for physical in line.rstrip("\r\n").split("\r\n"))
    assert line.replace("\r\n ", " ").rstrip("\r\n") == "Subject: " + ("lorem ipsum " * 40)


def test_lookalike_encoded_word_is_encoded_itself():
    line = unstructured("Subject", "=?utf-8?b?SGk=?=")
    assert "=?utf-8?b?PT91dGYtOD9iP1NHaz0/PQ==?=" in line
    assert parse_header(line.rstrip("\r\n")) == "=?utf-8?b?SGk=?="


def test_encoded_words_never_split_a_character():
    words = re.findall(r"=\?utf-8\?b\?([^?]+)\?=", encode_words("€😀é" * 40))
    assert len(words) > 1
    assert "".join(base64.b64decode(w).decode("utf-8") for w in words) == "€😀é" * 40
    assert all(len(f"=?utf-8?b?{w}?=") <= 75 for w in words)


@given(st.text(max_size=300))
def test_any_text_makes_exactly_one_header_that_decodes_back(text):
    line = unstructured("Subject", text)
    assert line.endswith("\r\n") and line.isascii()
    continuation = line[:-2].split("\r\n")[1:]
    assert all(physical.startswith(" ") for physical in continuation)
    expected = re.sub(r"[\x00-\x1f\x7f]", " ", text)
    assert parse_header(line[:-2]).strip() == expected.strip()


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Ann Lee", "Ann Lee <ann@example.org>"),
        ("Lee, Ann", '"Lee, Ann" <ann@example.org>'),
        ('A "B" \\ C', '"A \\"B\\" \\\\ C" <ann@example.org>'),
        ("Dr. Who", '"Dr. Who" <ann@example.org>'),
        ("Zoë", "=?utf-8?b?Wm/Dqw==?= <ann@example.org>"),
        ("   ", "ann@example.org"),
        (None, "ann@example.org"),
    ],
)
def test_mailbox_display_names(name, expected):
    assert mailbox(name, "ann@example.org", field="to") == expected


@pytest.mark.parametrize(
    "address",
    ["", "ann", "ann@", "@example.org", "a b@example.org", "ann@example.org>", "a@b@c", "ann@exa\nmple.org"],
)
def test_bad_addresses(address):
    with pytest.raises(InvalidInput) as caught:
        mailbox("Ann", address, field="from")
    assert caught.value.details == [{"field": "from", "message": "must be an email address"}]


@pytest.mark.parametrize("name", ["X Bad", "X:Bad", "", "X" * 77, "Ünï", "From", "bcc", "DKIM-Signature"])
def test_custom_header_names_are_tokens(name):
    with pytest.raises(InvalidInput):
        custom_header(name, "v")


def test_cc_may_be_passed_as_a_custom_header():
    assert custom_header("Cc", "Cee <cc@example.org>") == "Cc: Cee <cc@example.org>\r\n"


def test_custom_header_value_cannot_inject():
    line = custom_header("X-Tag", "a\r\nBcc: x@y.z")
    assert line == "X-Tag: a  Bcc: x@y.z\r\n"


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        ("report.pdf", 'filename="report.pdf"'),
        ('we"ird.txt', "filename*=utf-8''we%22ird.txt"),
        ("été.csv", "filename*=utf-8''%C3%A9t%C3%A9.csv"),
        ("a\r\nb.txt", 'filename="a  b.txt"'),
        ("", 'filename="attachment"'),
    ],
)
def test_attachment_names(filename, expected):
    assert filename_param("filename", filename) == expected
