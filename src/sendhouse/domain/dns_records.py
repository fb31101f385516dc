"""How one published DNS record of a sending domain compares with the record it should be.

A check of a domain asks DNS for each record it needs (ownership TXT, DKIM TXT, the mail-from MX
and SPF TXT of the return path, DMARC TXT, and the inbound MX when receiving is on) and judges
each on its own: `found` (a record as wanted is there), `wrong` (records are there at that name,
none as wanted; what was seen is kept), `missing` (nothing there) or `unanswered` (DNS gave no
answer: a timeout or a failing server). The four verification flags follow from these results.

An MX record names a host, so the host the return path and the inbound MX point at (the bounce
domain) must be a real host name: an IP address, `localhost` or a one-label name cannot be
published.
"""

from __future__ import annotations

import ipaddress
import re

FOUND, WRONG, MISSING, UNANSWERED = "found", "wrong", "missing", "unanswered"
SEEN_KEPT, SEEN_CHARS = 5, 255  # what a result keeps of the records seen
# Which results turn each verification flag on (all of them must be found).
FLAG_RECORDS = {
    "ownership_verified": ("ownership",),
    "dkim_enabled": ("dkim",),
    "mail_from_enabled": ("mail_from", "spf"),
    "dmarc_enabled": ("dmarc",),
}


def _compact(text: str) -> str:
    return re.sub(r"\s+", "", text)


def matches(purpose: str, wanted: str, seen: str) -> bool:
    """Whether one record seen at the name is the record wanted for this purpose."""
    if purpose == "dkim":
        return _compact(wanted).split(";")[-1] in _compact(seen).split(";")  # the same public key
    if purpose == "spf":
        return seen.startswith("v=spf1")
    if purpose == "dmarc":
        return _compact(seen).upper().startswith("V=DMARC1")
    if purpose in ("mail_from", "inbound"):
        return seen.lower().rstrip(".") == wanted.lower().rstrip(".")
    return seen == wanted


def judge(purpose: str, wanted: str, seen: list[str] | None) -> dict:
    """{state, seen} of one record: `seen` is what DNS answered at its name (None: no answer)."""
    if seen is None:
        return {"state": UNANSWERED, "seen": []}
    kept = [value[:SEEN_CHARS] for value in seen[:SEEN_KEPT]]
    if any(matches(purpose, wanted, value) for value in seen):
        return {"state": FOUND, "seen": kept}
    return {"state": WRONG if seen else MISSING, "seen": kept}


def flags(results: dict[str, dict]) -> dict[str, bool]:
    """The verification flags a check's results turn on."""
    return {
        flag: all(results.get(p, {}).get("state") == FOUND for p in purposes)
        for flag, purposes in FLAG_RECORDS.items()
    }


def why_not_a_mail_host(host: str) -> str | None:
    """Why `host` cannot be named by an MX record (an IP address, a local name), or None."""
    name = host.strip("[]").rstrip(".").lower()
    try:
        ipaddress.ip_address(name)
    except ValueError:
        pass
    else:
        return "an IP address"
    if name == "localhost" or name.endswith(".localhost"):
        return "a local name"
    if "." not in name:
        return "a name without a domain"
    return None
