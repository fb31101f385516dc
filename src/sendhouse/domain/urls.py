"""Link URLs in HTML: the ASCII form a tracked URL is signed in, and the links a saved source may not hold.

A tracked link's URL is signed into its click token and later sent back as a `Location` header,
which is ASCII only: `ascii_url` turns the host into IDNA (`москва.рф` -> `xn--80adxhks.xn--p1ai`)
and percent-encodes every other byte that is not printable ASCII (UTF-8 first), leaving what is
already ASCII (existing `%xx` escapes included) exactly as written. Like browsers, it drops tabs
and line breaks and trims control characters and spaces at both ends. Sources saved with a control
character inside an href are refused (`link_problems`), since such a link is dead in most clients.
"""

from __future__ import annotations

import re
from urllib.parse import quote

import idna

LINK_RE = re.compile(
    r"""(<a(?:rea)?\b[^>]*?\bhref\s*=\s*)(?:"([^"]{0,8000})"|'([^']{0,8000})')""", re.IGNORECASE
)
_URL_RE = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)([^/?#\\]*)(.*)", re.DOTALL)
_NOT_PRINTABLE_RE = re.compile(r"[^\x21-\x7e]+")
_TAB_OR_NEWLINE_RE = re.compile(r"[\t\n\r]")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_EDGES = "".join(chr(c) for c in range(0x21))


def ascii_url(url: str) -> str:
    """The ASCII form of an absolute URL (IDNA host, the rest percent-encoded); unparsable hosts kept encoded."""
    url = _TAB_OR_NEWLINE_RE.sub("", url).strip(_EDGES)
    match = _URL_RE.fullmatch(url)
    if match is None:
        return _encode(url)
    scheme, netloc, rest = match.groups()
    return scheme + _ascii_netloc(netloc) + _encode(rest)


def _ascii_netloc(netloc: str) -> str:
    userinfo, at, hostport = netloc.rpartition("@")
    host, port = hostport, ""
    if not hostport.endswith("]") and ":" in hostport:
        host, _, port = hostport.rpartition(":")
        port = ":" + port
    return _encode(userinfo) + at + _ascii_host(host) + _encode(port)


def _ascii_host(host: str) -> str:
    if host.isascii():
        return _encode(host)
    try:
        return idna.encode(host, uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError):
        return _encode(host)


def _encode(text: str) -> str:
    return _NOT_PRINTABLE_RE.sub(lambda m: quote(m.group(), safe="", errors="replace"), text)


def link_problems(field: str, source: object) -> list[dict]:
    """A problem for each href of an HTML source holding a control character (CR, LF, tab, NUL, ...)."""
    if not isinstance(source, str):
        return []
    found = []
    for match in LINK_RE.finditer(source):
        href = match.group(2) if match.group(2) is not None else match.group(3)
        if _CONTROL_RE.search(href):
            shown = _CONTROL_RE.sub(lambda m: f"\\x{ord(m.group()):02x}", href)[:120]
            found.append({"field": field, "message": f"link '{shown}' contains a control character"})
    return found
