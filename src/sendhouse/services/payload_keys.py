"""Encrypted request bodies (AutoSend's JWE payloads): the server's RSA key pair and decryption.

A client fetches the public key from `GET /v1/jwks.json`, encrypts its JSON body as a JWE
(alg RSA-OAEP-256, enc A256GCM) and posts `{"encryptedData": "<compact JWE>"}` with the header
`X-Payload-Encryption: jwe` (and optionally `X-Key-Id`). The key pair is made once, on first
need, and kept in `kv_state` (key `jwe-key:<kid>`, the private key sealed with the server's
secret key), so every API replica on the same database uses the same keys.
"""

from __future__ import annotations

import asyncio
import base64
import binascii

import orjson
from joserfc import jwe
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey

from sendhouse.config import Settings
from sendhouse.domain.times import utcnow
from sendhouse.errors import InvalidOperation
from sendhouse.services import secrets_box
from sendhouse.store import kv
from sendhouse.store.db import Database

ALG, ENC = "RSA-OAEP-256", "A256GCM"
ALGORITHMS = [ALG, ENC]
PREFIX = "jwe-key:"


def invalid(detail: str) -> InvalidOperation:
    """AutoSend's refusal of a payload that cannot be decrypted (the reason in `details`)."""
    return InvalidOperation("Invalid encrypted payload", code="INVALID_ENCRYPTED_PAYLOAD", details=detail)


def new_kid() -> str:
    """A key id in AutoSend's style, `key_2026_06`."""
    return utcnow().strftime("key_%Y_%m")


def _generate(kid: str) -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": kid, "use": "enc", "alg": ALG})


def public_jwk(key: RSAKey) -> dict:
    """{kty, n, e, kid, alg, use} of a key."""
    found = key.as_dict(private=False)
    return {"kty": "RSA", "n": found["n"], "e": found["e"], "kid": key.kid, "alg": ALG, "use": "enc"}


def header_kid(compact: str) -> str | None:
    """The `kid` of a compact JWE's protected header (read before decrypting), or None."""
    head = compact.split(".", 1)[0]
    try:
        header = orjson.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    except (binascii.Error, ValueError):
        raise invalid("the JWE header is not base64url JSON") from None
    kid = header.get("kid") if isinstance(header, dict) else None
    return kid if isinstance(kid, str) else None


class PayloadKeys:
    """The server's decryption keys, read from the database once and kept in memory."""

    def __init__(self, db: Database, settings: Settings):
        self.db, self.settings = db, settings
        self._keys: dict[str, RSAKey] = {}
        self._lock = asyncio.Lock()

    async def public(self) -> list[dict]:
        """The JWKS `keys`, the active (newest) one first."""
        await self._ensure()
        return [public_jwk(k) for k in self._keys.values()]

    async def decrypt(self, compact: str, kid: str | None = None) -> bytes:
        """The plaintext of a compact JWE made with one of our keys; else INVALID_ENCRYPTED_PAYLOAD."""
        if not isinstance(compact, str) or compact.count(".") != 4:
            raise invalid("encryptedData must be a JWE in compact serialization")
        kid = kid or header_kid(compact)
        key = await self._find(kid)
        try:
            return jwe.decrypt_compact(compact, key, algorithms=ALGORITHMS).plaintext or b""
        except (JoseError, ValueError, TypeError, KeyError) as exc:
            raise invalid(f"the JWE could not be decrypted ({type(exc).__name__})") from None

    async def _find(self, kid: str | None) -> RSAKey:
        await self._ensure()
        if kid is None:
            return next(iter(self._keys.values()))
        if kid not in self._keys:
            await self._load()  # another replica may have made it
        if kid not in self._keys:
            raise invalid(f"unknown key id {kid!r}")
        return self._keys[kid]

    async def _ensure(self) -> None:
        if self._keys:
            return
        async with self._lock:
            await self._load()
            if not self._keys:
                await self._create()
                await self._load()

    async def _load(self) -> None:
        async with self.db.read() as conn:
            rows = await kv.texts_with_prefix(conn, PREFIX)
        self._keys = {
            key.removeprefix(PREFIX): self._open(key.removeprefix(PREFIX), text) for key, text in rows
        }

    def _open(self, kid: str, sealed: str) -> RSAKey:
        pem = secrets_box.open_sealed(self.settings, sealed)
        return RSAKey.import_key(pem, parameters={"kid": kid, "use": "enc", "alg": ALG})

    async def _create(self) -> None:
        kid = new_kid()
        key = await asyncio.to_thread(_generate, kid)
        sealed = secrets_box.seal(self.settings, key.as_pem(private=True).decode("ascii"))
        async with self.db.write() as conn:
            await kv.add_text(conn, PREFIX + kid, sealed, utcnow())
