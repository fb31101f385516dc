"""Captured messages made safe to look at: the open pixel removed and every click-tracked link
turned back into the URL signed into it, so reading a message in the outbox records nothing.
Pure: no I/O."""

from __future__ import annotations

import html as htmllib
import re

from sendhouse.domain import tokens

_TOKEN = r"([A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+)"
_PIXEL = re.compile(r"<img\b[^>]*?" + re.escape(tokens.OPEN_PATH) + r"[^>]*>", re.IGNORECASE)
_HTML_LINK = re.compile(
    r"(\bhref\s*=\s*[\"'])[^\"']*?" + re.escape(tokens.CLICK_PATH) + _TOKEN + r"(?=[\"'])", re.IGNORECASE
)
_TEXT_LINK = re.compile(r"https?://\S*?" + re.escape(tokens.CLICK_PATH) + _TOKEN)


def _target(secret: str, token: str) -> str:
    found = tokens.verify_click(secret, token)
    return found.url if found is not None else "#"


def inert_html(html: str, secret: str) -> str:
    """The HTML without its open pixel, its tracked links pointing at their real targets."""
    html = _PIXEL.sub("", html)
    return _HTML_LINK.sub(lambda m: m[1] + htmllib.escape(_target(secret, m[2])), html)


def inert_text(text: str, secret: str) -> str:
    """The text part with its tracked links replaced by their real targets."""
    return _TEXT_LINK.sub(lambda m: _target(secret, m[1]), text)
