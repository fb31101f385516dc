"""Envelope addresses: ASCII as is, UTF-8 with SMTPUTF8, IDNA domains without it, and a clear
refusal for what cannot be expressed; the message body's dot-stuffing."""

from __future__ import annotations

import pytest

from sendhouse.delivery.envelope import UnsendableAddress, encode_address, encode_envelope
from sendhouse.delivery.smtp import dot_stuffed
from sendhouse.domain.mimeheaders import mailbox


def test_ascii_addresses_go_out_unchanged_and_need_no_smtputf8():
    env = encode_envelope("bounce+x@b.example.com", ("ann@example.org",), smtputf8=True)
    assert env.mail_line() == b"MAIL FROM:<bounce+x@b.example.com>\r\n"
    assert env.rcpt_lines() == [b"RCPT TO:<ann@example.org>\r\n"]


def test_idn_domain_without_smtputf8_is_idna_encoded():
    assert encode_address("kunde@bücher.example", smtputf8=False) == b"kunde@xn--bcher-kva.example"
    assert encode_address("kunde@BÜCHER.example", smtputf8=False) == b"kunde@xn--bcher-kva.example"


def test_utf8_with_smtputf8_and_the_mail_from_parameter():
    env = encode_envelope("b@example.com", ("jürgen@bücher.example",), smtputf8=True)
    assert env.utf8 and env.mail_line() == b"MAIL FROM:<b@example.com> SMTPUTF8\r\n"
    assert env.rcpt_lines() == ["RCPT TO:<jürgen@bücher.example>\r\n".encode()]


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("jürgen@example.com", "not ASCII"),
        ("kunde@bü cher.example", "not an address"),
        ("a@b\r\nRSET", "not an address"),
        ("nobody", "not an address"),
        ("x@a\u200d\u200d.example", "IDNA"),
    ],
)
def test_what_cannot_be_expressed_is_refused_with_a_reason(address, why):
    with pytest.raises(UnsendableAddress, match=why):
        encode_address(address, smtputf8=False)


def test_null_reverse_path_is_allowed_for_the_sender_only():
    assert encode_envelope("", ("a@example.org",), smtputf8=False).mail_line() == b"MAIL FROM:<>\r\n"
    with pytest.raises(UnsendableAddress):
        encode_address("", smtputf8=False)


@pytest.mark.parametrize(
    ("data", "wire"),
    [
        (b"A\r\n.b\r\n", b"A\r\n..b\r\n.\r\n"),
        (b".start\r\nend", b"..start\r\nend\r\n.\r\n"),
        (b"lf only\n.dot\n", b"lf only\r\n..dot\r\n.\r\n"),
        (b"mixed\r\nlone\rcr\n", b"mixed\r\nlone\r\ncr\r\n.\r\n"),
    ],
)
def test_dot_stuffing(data, wire):
    assert dot_stuffed(data) == wire


@pytest.mark.parametrize("address", ["kunde@bücher.example", "a@straße.de", "b@ÉCOLE.fr"])
def test_the_to_header_and_the_envelope_name_the_same_domain(address):
    assert mailbox(None, address, field="to").encode() == encode_address(address, smtputf8=False)
