"""DKIM signing with `cryptography`, checked by dkimpy (the reference verifier) on every message."""

from __future__ import annotations

import base64

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from dkim.canonicalization import Relaxed
from hypothesis import given, settings
from hypothesis import strategies as st

from sendhouse.delivery.dkim import (
    DkimSigner,
    dkim_dns_name,
    dkim_dns_value,
    generate_dkim_keypair,
    header_fields,
    relaxed_body,
    relaxed_header,
)
from sendhouse.errors import InvalidInput


@pytest.fixture(scope="module")
def keypair():
    return generate_dkim_keypair()


@pytest.fixture(scope="module")
def signer(keypair):
    return DkimSigner("example.com", "s2026", keypair[0])


def verify(
    message: bytes, public_b64: str, *, selector: bytes = b"s2026", domain: bytes = b"example.com"
) -> bool:
    def dns(name: bytes, timeout: int = 5) -> bytes | None:
        if name == selector + b"._domainkey." + domain + b".":
            return dkim_dns_value(public_b64).encode()
        return None

    return dkim.verify(message, dnsfunc=dns)


PLAIN = (
    b"From: Ann <ann@example.com>\r\nTo: bob@example.org\r\nSubject:   folded\r\n\t subject  here \r\n"
    b"Date: Thu, 26 Nov 2026 06:51:11 +0000\r\nMessage-ID: <1@example.com>\r\nX-Other: not signed\r\n"
    b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
    b"Hello  there\t \r\n  indented line\r\n\r\n\r\n"
)


def test_signature_verifies_with_dkimpy(signer, keypair):
    signed = signer.sign_message(PLAIN)
    assert signed.startswith(b"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.com; s=s2026;")
    assert verify(signed, keypair[1])


def test_signed_headers_are_the_ones_present(signer):
    header = signer.sign(PLAIN, timestamp=1_800_000_000).decode()
    assert " h=from:to:subject:date:message-id;" in header and " t=1800000000;" in header
    assert all(len(line) <= 998 for line in header.split("\r\n"))


def test_list_unsubscribe_headers_are_signed(signer, keypair):
    message = PLAIN.replace(
        b"MIME-Version",
        b"List-Unsubscribe: <https://x.test/u/1>,\r\n <mailto:u@x.test>\r\n"
        b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\nMIME-Version",
    )
    header = signer.sign(message).decode()
    assert "h=from:to:subject:date:message-id:list-unsubscribe:list-unsubscribe-post;" in header
    assert verify(header.encode() + message, keypair[1])


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (b"Hello  there", b"Hello  where"),
        (b"Subject:   folded", b"Subject:   faded"),
        (b"To: bob@example.org", b"To: eve@example.org"),
        (b"Message-ID: <1@", b"Message-ID: <2@"),
    ],
)
def test_tampering_breaks_the_signature(signer, keypair, old, new):
    signed = signer.sign_message(PLAIN)
    assert verify(signed.replace(old, new), keypair[1]) is False


def test_unsigned_header_may_change(signer, keypair):
    signed = signer.sign_message(PLAIN)
    assert verify(signed.replace(b"X-Other: not signed", b"X-Other: changed"), keypair[1])


def test_whitespace_changes_survive_relaxed(signer, keypair):
    signed = signer.sign_message(PLAIN)
    assert verify(
        signed.replace(b"Hello  there", b"Hello there").replace(b"\r\n\r\n\r\n", b"\r\n"), keypair[1]
    )


def test_another_key_does_not_verify(signer):
    _, other_public = generate_dkim_keypair()
    assert verify(signer.sign_message(PLAIN), other_public) is False


def test_empty_body_and_no_body(signer, keypair):
    head = PLAIN.split(b"\r\n\r\n")[0] + b"\r\n\r\n"
    assert verify(signer.sign_message(head), keypair[1])


def test_keypair_and_dns_record_formats(keypair):
    private_pem, public_b64 = keypair
    key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey) and key.key_size == 2048
    public = serialization.load_der_public_key(base64.b64decode(public_b64))
    assert public.public_numbers() == key.public_key().public_numbers()
    assert dkim_dns_value(public_b64) == f"v=DKIM1; k=rsa; p={public_b64}"
    assert dkim_dns_name("s1", "example.com") == "s1._domainkey.example.com"


@pytest.mark.parametrize(
    ("domain", "selector", "pem", "field"),
    [
        ("example.com", "s1", "not a key", "privateKey"),
        ("exa mple.com", "s1", None, "domain"),
        ("example.com;x=y", "s1", None, "domain"),
        ("example.com", "s1;", None, "selector"),
        ("example.com", "", None, "selector"),
    ],
)
def test_bad_signer_settings(keypair, domain, selector, pem, field):
    with pytest.raises(InvalidInput) as caught:
        DkimSigner(domain, selector, keypair[0] if pem is None else pem)
    assert caught.value.details[0]["field"] == field


def test_ec_key_is_refused():
    from cryptography.hazmat.primitives.asymmetric import ec

    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(InvalidInput):
        DkimSigner("example.com", "s1", pem)


def test_header_fields_keep_continuations():
    fields = header_fields(b"A: 1\r\nB: 2\r\n\tcont\r\nc: 3\r\n")
    assert fields == [("a", b"A: 1"), ("b", b"B: 2\r\n\tcont"), ("c", b"c: 3")]


_BODY_BYTES = st.lists(st.sampled_from([b"a", b"b", b" ", b"\t", b"\r\n", b"=", b"."]), max_size=40).map(
    b"".join
)


@settings(max_examples=300)
@given(_BODY_BYTES)
def test_body_canonicalisation_matches_dkimpy(body):
    assert relaxed_body(body) == Relaxed.canonicalize_body(body)


@settings(max_examples=300)
@given(
    st.sampled_from([b"Subject", b"SUBJECT ", b"x-a"]),
    st.lists(st.sampled_from([b"a", b"Z", b" ", b"\t", b"\r\n ", b"\r\n\t", b":"]), max_size=20).map(
        b"".join
    ),
)
def test_header_canonicalisation_matches_dkimpy(name, value):
    [(expected_name, expected_value)] = Relaxed.canonicalize_headers([(name, value)])
    assert relaxed_header(name + b":" + value) + b"\r\n" == expected_name + b":" + expected_value
