"""Identifier formats: 24-hex time-ordered ids, template ids, short group codes, API keys."""

from __future__ import annotations

import functools
import hashlib
import itertools
import os
import re
import secrets
import threading
import time
from collections.abc import Iterator

import idna

_lock = threading.Lock()
_PROCESS_RANDOM: str
_counter: Iterator[int]


def _reseed() -> None:
    """A process's own random part and counter start; a forked child draws new ones (the
    supervisor imports this module before it forks, and two children must never share ids)."""
    global _PROCESS_RANDOM, _counter, _lock
    _lock = threading.Lock()
    _PROCESS_RANDOM = os.urandom(5).hex()
    _counter = itertools.count(int.from_bytes(os.urandom(3), "big"))


_reseed()
os.register_at_fork(after_in_child=_reseed)
_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def new_id() -> str:
    """A 24-hex id ordered by creation time (4-byte seconds, 5 random bytes, 3-byte counter)."""
    with _lock:
        count = next(_counter) & 0xFFFFFF
    return f"{int(time.time()) & 0xFFFFFFFF:08x}{_PROCESS_RANDOM}{count:06x}"


def is_object_id(value: str) -> bool:
    """Whether a string looks like one of our 24-hex ids."""
    return len(value) == 24 and all(c in "0123456789abcdef" for c in value)


def new_template_id() -> str:
    """A template id: `A-` followed by 20 hex characters."""
    return "A-" + secrets.token_hex(10)


def new_group_code(length: int = 6) -> str:
    """A short upper-case code for a suppression group (no look-alike characters)."""
    return "".join(secrets.choice(_CODE_ALPHABET) for _ in range(length))


def new_api_key(*, account: bool) -> str:
    """A new secret API key: `AS_…` for a project, `ASA_…` for an account."""
    return ("ASA_" if account else "AS_") + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> str:
    """The stored form of a key: its SHA-256 hex digest (keys are high-entropy, so no salt)."""
    return hashlib.sha256(key.encode()).hexdigest()


_DOMAIN_RE = re.compile(r"[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?")
FALLBACK_MESSAGE_ID_DOMAIN = "localhost"


@functools.lru_cache(maxsize=1024)
def message_id_domain(from_email: str | None) -> str:
    """The right-hand side of our Message-IDs: the sending (From) domain, lowercased and in its
    ASCII form (IDNA 2008 with UTS #46 mapping, as the envelope and the From header encode it),
    as receivers and spam filters expect; `localhost` when there is none."""
    domain = (from_email or "").rpartition("@")[2].strip().rstrip(".").lower()
    try:
        domain = idna.encode(domain, uts46=True).decode("ascii") if domain else domain
    except (idna.IDNAError, UnicodeError):
        return FALLBACK_MESSAGE_ID_DOMAIN
    return domain if _DOMAIN_RE.fullmatch(domain) and "." in domain else FALLBACK_MESSAGE_ID_DOMAIN


def message_id_header(row_id: str, from_email: str | None) -> str:
    """The Message-ID header value of a ledger row: `<row id@sending domain>`."""
    return f"<{row_id}@{message_id_domain(from_email)}>"
