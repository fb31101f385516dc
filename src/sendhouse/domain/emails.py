"""Email addresses: the one place they are checked and normalised (email-validator, no DNS).

A valid address has two forms:

- normalized: the form mail is sent to and shown. Surrounding whitespace dropped, the local part
  kept as given ("Ann.Lee@" stays so: a receiving server may treat local parts case-sensitively),
  the domain lower-cased and IDNA-normalised to Unicode, which is email-validator's `normalized`.
  From, Reply-To and the recipients of a mail are kept in this form.
- key: the normalized form lower-cased whole, which identifies a recipient. Contacts,
  suppressions, users and senders are stored under it (their unique indexes are on it), and two
  addresses are compared, or one is looked up, by key (`key_of`).

A strict ASCII pattern accepts the common case without email-validator; anything it is unsure
about (unicode, IDNA, special-use names) goes through email-validator, so the fast path never
accepts or shapes an address differently (tests/unit/test_emails.py checks). Errors name the field
with bracketed indexes (`emails[2]`), as every field path the API reports.
"""

from __future__ import annotations

import re
from typing import Any

from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email

from sendhouse.errors import InvalidInput

INVALID = "Invalid email format"
REQUIRED = "is required"
_ATEXT = r"[a-z0-9!#$%&'*+/=?^_`{|}~-]"
# A dot-atom local part of at most 64 characters, then DNS labels (none with "--" in positions 3-4,
# the IDNA/reserved form) and an alphabetic top-level label.
_FAST_EMAIL = re.compile(
    rf"(?=[^@]{{1,64}}@){_ATEXT}+(?:\.{_ATEXT}+)*"
    rf"@(?:(?![a-z0-9-]{{2}}--)[a-z0-9](?:[a-z0-9-]{{0,61}}[a-z0-9])?\.)+([a-z]{{2,63}})"
)
_SPECIAL_TLDS = frozenset(name for name in SPECIAL_USE_DOMAIN_NAMES if "." not in name)
_SPECIAL_SUFFIXES = tuple("." + name for name in SPECIAL_USE_DOMAIN_NAMES if "." in name)  # none today


def _fast(lowered: str) -> bool:
    """True when the plain ASCII pattern alone proves the (lower-cased) address valid."""
    match = _FAST_EMAIL.fullmatch(lowered)
    return (
        match is not None
        and len(lowered) <= 254
        and match[1] not in _SPECIAL_TLDS
        and not lowered.endswith(_SPECIAL_SUFFIXES)
    )


def checked(value: Any) -> tuple[str | None, str | None]:
    """(the normalized form, None) of a valid address, else (None, what is wrong with it)."""
    if not isinstance(value, str):
        return None, REQUIRED if value is None else "must be a string"
    text = value.strip()
    if not text:
        return None, REQUIRED
    if _fast(text.lower()):
        local, _, domain = text.rpartition("@")
        return f"{local}@{domain.lower()}", None
    try:
        return validate_email(text, check_deliverability=False).normalized, None
    except EmailNotValidError as exc:
        return None, f"{INVALID}: {exc}"


def normalized_or_none(value: Any) -> str | None:
    """The normalized form of a valid address, or None."""
    return checked(value)[0]


def key_or_none(value: Any) -> str | None:
    """The key of a valid address, or None."""
    found = checked(value)[0]
    return found.lower() if found is not None else None


def key_of(value: str) -> str:
    """The key to look an address up by or to compare it with: its key when it is valid, else the
    text lower-cased (which matches no stored key)."""
    return key_or_none(value) or value.strip().lower()


def normalized(value: Any, field: str) -> str:
    """The normalized form of a valid address, or InvalidInput naming `field`."""
    found, problem = checked(value)
    if found is None:
        raise InvalidInput.field(field, problem or INVALID)
    return found


def key(value: Any, field: str) -> str:
    """The key of a valid address, or InvalidInput naming `field`."""
    return normalized(value, field).lower()


def keys(values: Any, field: str, *, most: int) -> list[str]:
    """The keys of 1 to `most` addresses, de-duplicated in their order, or InvalidInput naming the
    list or its first bad item (`field[index]`)."""
    if not isinstance(values, list) or not 1 <= len(values) <= most:
        raise InvalidInput.field(field, f"must be an array of 1 to {most} emails")
    return list(dict.fromkeys(key(value, f"{field}[{index}]") for index, value in enumerate(values)))
