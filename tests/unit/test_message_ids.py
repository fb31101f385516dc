"""Message-IDs carry the sending (From) domain on their right-hand side."""

from __future__ import annotations

import pytest

from sendhouse.domain import ids
from sendhouse.domain.mime import _MESSAGE_ID_RE


@pytest.mark.parametrize(
    ("from_email", "domain"),
    [
        ("news@Example.COM", "example.com"),
        ("a@mail.example.co.uk.", "mail.example.co.uk"),
        ("info@bücher.example", "xn--bcher-kva.example"),
        ("", "localhost"),
        (None, "localhost"),
        ("broken@", "localhost"),
        ("x@no_dots", "localhost"),
        ("x@bad domain.com", "localhost"),
    ],
)
def test_the_domain_is_the_senders(from_email, domain):
    assert ids.message_id_domain(from_email) == domain


def test_the_header_is_a_valid_message_id():
    row_id = ids.new_id()
    header = ids.message_id_header(row_id, "info@bücher.example")
    assert header == f"<{row_id}@xn--bcher-kva.example>" and _MESSAGE_ID_RE.fullmatch(header)
