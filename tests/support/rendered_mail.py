"""A campaign message built straight from domain/mime (no database), as the worker would build it,
with its quoted-printable body unfolded for assertions about links."""

from __future__ import annotations

from sendhouse.domain import mime

SECRET = "test-secret-key"
PUBLIC_URL = "http://sendhouse.test"


def rendered_body(html: str, *, variables: dict | None = None, tracking_open: bool = False) -> str:
    """The body of one campaign message for u@example.com, click tracking on, soft line breaks removed."""
    spec = mime.MessageSpec(
        project_id="p" * 24,
        kind="campaign",
        from_email="news@example.com",
        from_name=None,
        reply_to=None,
        subject="Hi",
        html=html,
        text=None,
        preview_text=None,
        headers={},
        tracking_open=tracking_open,
        tracking_click=True,
        unsubscribe_group=None,
        campaign_id="c" * 24,
        attachments=(),
    )
    links = mime.LinkSettings(public_url=PUBLIC_URL, bounce_domain="sendhouse.test", secret=SECRET)
    recipient = mime.Recipient(
        message_id="a" * 24,
        message_id_header="<x@sendhouse.test>",
        email="u@example.com",
        name=None,
        variables=variables or {},
    )
    message = mime.compile_skeleton(spec, links).render(recipient)
    return message.data.decode().replace("=\r\n", "").replace("=3D", "=")
