"""The message builder: one skeleton per campaign (or send), filled per recipient into RFC 5322 bytes.

`compile_skeleton` does the slow work once: compiles the templates (InvalidInput early), inlines CSS,
derives the text part's template from the HTML, plants slots for the open pixel and tracked links,
adds the unsubscribe footer to campaign mail without one, and pre-encodes the fixed headers and
attachments. `Skeleton.render` then renders three templates, signs a few tokens and joins bytes:
multipart/alternative (inside multipart/mixed with attachments), quoted-printable bodies, CRLF lines.
No header value can break out of its line: control characters become spaces before encoding.
"""

from __future__ import annotations

import binascii
import html as htmllib
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Protocol

from sendhouse.domain import tokens
from sendhouse.domain.mimeheaders import custom_header, filename_param, mailbox, unstructured
from sendhouse.domain.templating import (
    Template,
    compile_template,
    derive_text_source,
    escape_html,
    html_to_text,
    inline_css,
)
from sendhouse.domain.urls import LINK_RE, ascii_url
from sendhouse.errors import InvalidInput

KINDS = ("campaign", "transactional")
SUBJECT_MAX_OUTPUT = 4000
_MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
_PREVIEW = (
    '<div style="display:none;font-size:1px;line-height:1px;max-height:0;max-width:0;opacity:0;'
    'overflow:hidden;mso-hide:all;">{{{_preview}}}' + "&#847;&zwnj;&nbsp;" * 12 + "</div>"
)
_PIXEL = '<img src="{{{_pixel}}}" width="1" height="1" alt="" style="display:block;width:1px;height:1px;border:0;">'
_FOOTER_HTML = (
    '<p style="font-size:12px;line-height:18px;color:#6b7280;text-align:center;margin:24px 0 0 0;">'
    '<a href="{{unsubscribe}}" style="color:#6b7280;">Unsubscribe</a> &middot; '
    '<a href="{{unsubscribe_preference}}" style="color:#6b7280;">Manage email preferences</a></p>'
)
_FOOTER_TEXT = "\n\n--\nUnsubscribe: {{unsubscribe}}\nManage email preferences: {{unsubscribe_preference}}\n"
_LINK_RE = LINK_RE
_UNTRACKED_RE = re.compile(
    r"\s*(?:mailto:|tel:|sms:|#)|.*\{\{\{?\s*(?:unsubscribe|#|/|else)", re.IGNORECASE | re.DOTALL
)
_TRACKABLE_RE = re.compile(r"\s*(?:https?://|\{\{)", re.IGNORECASE)
_BODY_OPEN_RE = re.compile(r"<body\b[^>]*>", re.IGNORECASE)
_BODY_CLOSE_RE = re.compile(r"</body\s*>", re.IGNORECASE)
_MESSAGE_ID_RE = re.compile(r"<[!-;=?-~]+@[!-;=?-~]+>")
_CONTENT_TYPE_RE = re.compile(r"[A-Za-z0-9!#$&^_.+-]+/[A-Za-z0-9!#$&^_.+-]+")


class Signer(Protocol):
    """What signs a finished message (delivery/dkim.DkimSigner): the header field to put in front."""

    def sign(self, message: bytes) -> bytes: ...


@dataclass(frozen=True)
class MessageSpec:
    """What to send (template sources), shared by every recipient of a campaign or send."""

    project_id: str
    kind: str
    from_email: str
    from_name: str | None
    reply_to: str | None
    subject: str
    html: str
    text: str | None
    preview_text: str | None
    headers: dict[str, str]
    tracking_open: bool
    tracking_click: bool
    unsubscribe_group: str | None
    campaign_id: str | None
    attachments: tuple = ()


@dataclass(frozen=True)
class LinkSettings:
    """Where tracking and unsubscribe links point and what signs them."""

    public_url: str
    bounce_domain: str
    secret: str


@dataclass(frozen=True)
class Recipient:
    """One ledger row to fill the skeleton for."""

    message_id: str
    message_id_header: str
    email: str
    name: str | None
    variables: dict = field(default_factory=dict)


@dataclass(frozen=True)
class OutgoingMessage:
    """The SMTP envelope and the exact bytes to hand to DATA."""

    mail_from: str
    rcpt_to: tuple[str, ...]
    data: bytes
    message_id_header: str
    crlf: bool = False  # data ends every line with CRLF (no bare CR or LF): SMTP needs no line rewriting


@dataclass(frozen=True)
class _Links:
    """A link whose href is tracked: its slot, its URL template, and its packed URL when constant."""

    slot: str
    template: Template
    packed: bytes | None


def _link(slot: str, template: Template) -> _Links:
    """A tracked link; a constant http(s) URL is unescaped and packed once here."""
    if template.constant is None:
        return _Links(slot, template, None)
    url = ascii_url(htmllib.unescape(template.constant))
    if not url[:8].lower().startswith(("https://", "http://")):
        return _Links(slot, template, None)
    return _Links(slot, template, tokens.pack((url,)))


def compile_skeleton(spec: MessageSpec, links: LinkSettings, *, dkim: Signer | None = None) -> Skeleton:
    """Compile everything that is the same for all recipients; InvalidInput for bad templates or fields."""
    if spec.kind not in KINDS:
        raise InvalidInput.field("kind", "must be campaign or transactional")
    subject = compile_template(spec.subject, field="subject")
    user_html = compile_template(spec.html, field="html")
    user_text = compile_template(spec.text, field="text") if spec.text is not None else None
    preview = compile_template(spec.preview_text, field="previewText") if spec.preview_text else None
    source = inline_css(spec.html)
    text_source = spec.text if spec.text is not None else derive_text_source(source)
    footer = spec.kind == "campaign" and not user_html.uses("unsubscribe", "unsubscribe_preference")
    html_t, tracked = _html_template(source, spec, footer, preview is not None)
    return Skeleton(
        spec=spec,
        links=links,
        dkim=dkim,
        subject=subject,
        html=html_t,
        text=_text_template(text_source, spec, user_text),
        preview=preview,
        tracked=tracked,
        static=_static_parts(spec),
    )


def _html_template(source: str, spec: MessageSpec, footer: bool, preview: bool) -> tuple[Template, tuple]:
    tracked: tuple = ()
    if spec.tracking_click:
        source, tracked = _plant_link_slots(source)
    if preview:
        source = _insert_after_body_open(source, _PREVIEW)
    tail = (_FOOTER_HTML if footer else "") + (_PIXEL if spec.tracking_open else "")
    return compile_template(_insert_before_body_close(source, tail), field="html", internal=True), tracked


def _text_template(text_source: str | None, spec: MessageSpec, user_text: Template | None) -> Template | None:
    """The text part's template, or None when it must be derived from each rendered HTML."""
    if text_source is None:
        return None
    try:
        text_t = compile_template(text_source, field="text")
    except InvalidInput:
        if user_text is not None:
            raise
        return None
    if spec.kind == "campaign" and not text_t.uses("unsubscribe", "unsubscribe_preference"):
        text_t = compile_template(text_source + _FOOTER_TEXT, field="text")
    return text_t


def _plant_link_slots(source: str) -> tuple[str, tuple]:
    """Replace trackable hrefs with `{{{_linkN}}}` slots; keep each URL as its own template."""
    tracked: list[_Links] = []

    def plant(match: re.Match) -> str:
        quote, value = ('"', match.group(2)) if match.group(2) is not None else ("'", match.group(3))
        if _UNTRACKED_RE.match(value) or not _TRACKABLE_RE.match(value):
            return match.group(0)
        try:
            template = compile_template(value.strip(), field="html")
        except InvalidInput:
            return match.group(0)
        slot = f"_link{len(tracked)}"
        tracked.append(_link(slot, template))
        return f"{match.group(1)}{quote}{{{{{{{slot}}}}}}}{quote}"

    return _LINK_RE.sub(plant, source), tuple(tracked)


def _insert_after_body_open(source: str, snippet: str) -> str:
    match = _BODY_OPEN_RE.search(source)
    at = match.end() if match else 0
    return source[:at] + snippet + source[at:]


def _insert_before_body_close(source: str, snippet: str) -> str:
    matches = list(_BODY_CLOSE_RE.finditer(source))
    at = matches[-1].start() if matches else len(source)
    return source[:at] + snippet + source[at:]


@dataclass(frozen=True)
class _Static:
    """Bytes and strings fixed for the whole skeleton."""

    from_header: str
    middle: str
    one_click: bool
    body_head: bytes
    html_head: bytes
    tail: bytes


def _static_parts(spec: MessageSpec) -> _Static:
    boundary = "=_sh_alt_" + secrets.token_hex(12)  # "=_" never occurs in quoted-printable or base64
    middle = ""
    if spec.reply_to:
        middle += f"Reply-To: {mailbox(None, spec.reply_to, field='replyTo')}\r\n"
    for name, value in spec.headers.items():
        middle += custom_header(name, value)
    one_click = spec.kind == "campaign" or spec.unsubscribe_group is not None
    if one_click:
        middle += "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
    middle += "MIME-Version: 1.0\r\n"
    head, tail = _bodies_frame(spec, boundary)
    return _Static(
        from_header=f"From: {mailbox(spec.from_name, spec.from_email, field='from')}\r\n",
        middle=middle,
        one_click=one_click,
        body_head=head,
        html_head=(f"\r\n--{boundary}\r\n" + _QP_HEADERS.format("html")).encode(),
        tail=tail,
    )


_QP_HEADERS = 'Content-Type: text/{}; charset="utf-8"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n'


def _bodies_frame(spec: MessageSpec, alt: str) -> tuple[bytes, bytes]:
    """What goes before the text part (from Content-Type on) and after the HTML part."""
    alt_head = (
        f'Content-Type: multipart/alternative; boundary="{alt}"\r\n\r\n--{alt}\r\n'
        + _QP_HEADERS.format("plain")
    )
    if not spec.attachments:
        return alt_head.encode(), f"\r\n--{alt}--\r\n".encode()
    mixed = alt.replace("_alt_", "_mix_")
    head = f'Content-Type: multipart/mixed; boundary="{mixed}"\r\n\r\n--{mixed}\r\n' + alt_head
    parts = [f"\r\n--{alt}--\r\n".encode()]
    for index, attachment in enumerate(spec.attachments):
        parts.append(_attachment_part(mixed, attachment, index))
    parts.append(f"--{mixed}--\r\n".encode())
    return head.encode(), b"".join(parts)


def _attachment_part(boundary: str, attachment: tuple, index: int) -> bytes:
    filename, content_type, content = attachment
    if not isinstance(content, (bytes, bytearray)) or not isinstance(filename, str):
        raise InvalidInput.field(f"attachments[{index}]", "needs a file name and bytes")
    content_type = (
        content_type if _CONTENT_TYPE_RE.fullmatch(content_type or "") else "application/octet-stream"
    )
    head = (
        f"--{boundary}\r\nContent-Type: {content_type}; {filename_param('name', filename)}\r\n"
        f"Content-Disposition: attachment; {filename_param('filename', filename)}\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\n"
    )
    return head.encode() + _base64_lines(bytes(content))


def _base64_lines(content: bytes) -> bytes:
    lines = [binascii.b2a_base64(content[i : i + 57], newline=False) for i in range(0, len(content), 57)]
    return b"\r\n".join(lines) + b"\r\n"


class Skeleton:
    """A compiled message: `render(recipient)` fills it for one ledger row."""

    def __init__(self, *, spec, links, dkim, subject, html, text, preview, tracked, static):
        self.spec, self.dkim = spec, dkim
        self.secret, self.bounce_domain = links.secret, links.bounce_domain
        base = links.public_url.rstrip("/")
        self.base, self.escaped_base = base, escape_html(base)
        self.subject, self.html, self.text, self.preview, self.tracked = subject, html, text, preview, tracked
        self.static = static
        self.crlf = all(_crlf_only(part) for part in vars(static).values() if isinstance(part, str | bytes))
        self.keys = {
            kind: tokens.web_key(links.secret, kind)
            for kind in ("open", "click", "unsubscribe", "preference")
        }
        self.unsubscribe_prefix = base + tokens.UNSUBSCRIBE_PATH
        self.preference_prefix = base + tokens.PREFERENCE_PATH
        self.open_prefix = self.escaped_base + tokens.OPEN_PATH
        self.click_prefix = self.escaped_base + tokens.CLICK_PATH
        self._date_cache: tuple[int, str] = (-1, "")

    def render(self, recipient: Recipient, *, now: datetime | None = None) -> OutgoingMessage:
        """The message for one recipient (DKIM-signed when the skeleton has a signer)."""
        now = now or datetime.now(UTC)
        data = self._data(recipient, now)
        html = self.html.render(data)
        text = self.text.render(data, escape=False) if self.text is not None else html_to_text(html)
        subject = self.subject.render(data, escape=False, max_output=SUBJECT_MAX_OUTPUT)
        head = self._headers(recipient, subject, now, data)
        static = self.static
        body = b"".join((static.body_head, _qp(text), static.html_head, _qp(html), static.tail))
        message = head.encode("ascii") + body
        if self.dkim is not None:
            message = self.dkim.sign(message) + message
        return OutgoingMessage(
            mail_from=tokens.bounce_address(self.secret, recipient.message_id, self.bounce_domain),
            rcpt_to=(recipient.email,),
            data=message,
            message_id_header=recipient.message_id_header,
            crlf=self.crlf,  # the per-recipient header lines and the quoted-printable parts are CRLF by construction
        )

    def _data(self, recipient: Recipient, now: datetime) -> dict:
        data = merge_variables(recipient.variables)
        spec, row = self.spec, recipient.message_id
        target = tokens.pack((spec.project_id, recipient.email, spec.unsubscribe_group or "", row))
        data["email"] = recipient.email
        data["date"] = f"{_MONTHS[now.month - 1]} {now.day}, {now.year}"
        data["unsubscribe"] = self.unsubscribe_prefix + tokens.sign_packed(self.keys["unsubscribe"], target)
        data["unsubscribe_preference"] = self.preference_prefix + tokens.sign_packed(
            self.keys["preference"], target
        )
        self._slots(data, tokens.pack((row,)))
        return data

    def _slots(self, data: dict, packed_row: bytes) -> None:
        """The pixel, preview and tracked-link values the HTML template's internal slots read."""
        if self.spec.tracking_open:
            data["_pixel"] = self.open_prefix + tokens.sign_packed(self.keys["open"], packed_row)
        if self.preview is not None:
            data["_preview"] = escape_html(self.preview.render(data, escape=False))
        click_key = self.keys["click"]
        for link in self.tracked:
            if link.packed is not None:
                token = tokens.sign_packed(click_key, packed_row + tokens.SEPARATOR + link.packed)
                data[link.slot] = self.click_prefix + token
            else:
                data[link.slot] = self._tracked_url(link.template.render(data), packed_row)

    def _tracked_url(self, rendered: str, packed_row: bytes) -> str:
        """The click-tracking URL (HTML-escaped) for a rendered href, or the href itself if not http(s)."""
        url = ascii_url(htmllib.unescape(rendered) if "&" in rendered else rendered)
        if not url[:8].lower().startswith(("https://", "http://")):
            return rendered
        payload = packed_row + tokens.SEPARATOR + tokens.pack((url,))
        return self.click_prefix + tokens.sign_packed(self.keys["click"], payload)

    def _headers(self, recipient: Recipient, subject: str, now: datetime, data: dict) -> str:
        if not _MESSAGE_ID_RE.fullmatch(recipient.message_id_header):
            raise InvalidInput.field("messageId", "must look like <id@domain>")
        static = self.static
        parts = [
            static.from_header,
            f"To: {mailbox(recipient.name, recipient.email, field='to')}\r\n",
            unstructured("Subject", subject),
            f"Date: {self._date(now)}\r\n",
            f"Message-ID: {recipient.message_id_header}\r\n",
        ]
        if static.one_click:
            mailto = tokens.unsubscribe_address(self.secret, recipient.message_id, self.bounce_domain)
            parts.append(f"List-Unsubscribe: <{data['unsubscribe']}>,\r\n <mailto:{mailto}>\r\n")
        parts.append(static.middle)
        return "".join(parts)

    def _date(self, now: datetime) -> str:
        second = int(now.timestamp())
        if self._date_cache[0] != second:
            aware = now if now.tzinfo else now.replace(tzinfo=UTC)
            self._date_cache = (second, format_datetime(aware.replace(microsecond=0)))
        return self._date_cache[1]


def _crlf_only(part: str | bytes) -> bool:
    """Whether every line break of `part` is a CRLF (checked once per skeleton for its fixed parts)."""
    text = part.encode("utf-8", "surrogatepass") if isinstance(part, str) else part
    return text.count(b"\r") == text.count(b"\n") == text.count(b"\r\n")


def merge_variables(variables: dict) -> dict:
    """Merge data for one recipient: contact fields, then customFields, then dynamicData on top."""
    data = dict(variables)
    for nested in ("customFields", "dynamicData"):
        extra = variables.get(nested)
        if type(extra) is dict:
            data.update(extra)
    return data


def _qp(text: str) -> bytes:
    """Quoted-printable UTF-8 with CRLF lines (76 characters at most)."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return binascii.b2a_qp(text.encode("utf-8", "surrogatepass"), istext=True).replace(b"\n", b"\r\n")
