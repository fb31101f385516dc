"""domain/inbound_mail.parse reads plain ASCII headers without the policy's header classes: what it
reads must be what the policy gives (checked against `policy.default` for generated headers)."""

from __future__ import annotations

from email import policy
from email.parser import BytesParser

from hypothesis import given, settings
from hypothesis import strategies as st

from sendhouse.domain.inbound_mail import mailboxes, parse

WORD = st.text(alphabet="abcXYZ09.,;:!?'()[]-_ \t\"=", min_size=0, max_size=12)
NAME = st.from_regex(r"([A-Za-z]{1,5}( [A-Za-z.]{1,5})?)?", fullmatch=True)
ADDRESS = st.from_regex(r"[a-z0-9]{1,6}([.+_-][a-z0-9]{1,4})?@[a-z0-9]{1,10}\.(com|org|test)", fullmatch=True)


def _fold(value: str, width: int) -> str:
    """Fold at spaces every `width` characters or so (CRLF + the space kept), as mail software does."""
    out, count = [], 0
    for char in value:
        count += 1
        if char == " " and count > width:
            out.append("\r\n")
            count = 0
        out.append(char)
    return "".join(out)


@settings(max_examples=300, deadline=None)
@given(
    subject=st.lists(WORD, min_size=1, max_size=8).map(" ".join),
    names=st.lists(NAME, min_size=1, max_size=3),
    emails=st.lists(ADDRESS, min_size=1, max_size=3),
    width=st.integers(5, 40),
    encoded=st.booleans(),
)
def test_headers_read_as_the_policy_reads_them(subject, names, emails, width, encoded):
    subject_header = "=?utf-8?q?caf=C3=A9?= " + subject if encoded else subject
    to = ", ".join(f'"{n}" <{e}>' if n.strip() else e for n, e in zip(names, emails, strict=False))
    raw = (
        f"From: App <app@shop.example.com>\r\nTo: {_fold(to, width)}\r\nSubject: {_fold(subject_header, width)}\r\n"
        f"Message-ID: <m1@shop.example.com>\r\nIn-Reply-To: <p1@shop.example.com>\r\n\r\nbody\r\n"
    ).encode()
    message = BytesParser(policy=policy.default).parsebytes(raw)
    parsed = parse(raw)
    assert parsed.subject == str(message["subject"])
    assert parsed.addresses["to"] == mailboxes([str(message["to"])])
    assert parsed.in_reply_to == str(message["in-reply-to"])
    assert parsed.message_id == "<m1@shop.example.com>"
    assert (parsed.from_email, parsed.from_name) == ("app@shop.example.com", "App")
