"""JWE-encrypted request bodies (reference §1.7): `GET /v1/jwks.json` and a pure ASGI middleware.

A /v1 request with `X-Payload-Encryption: jwe` carries `{"encryptedData": "<compact JWE>"}`;
the middleware decrypts it (key from `X-Key-Id`, else the JWE header's kid) and hands the
plaintext JSON to the route as if it had been sent in clear. Anything it cannot decrypt is 400
INVALID_ENCRYPTED_PAYLOAD. It sits inside the body-size limit and outside the NUL guard, so the
decrypted body is checked like any other.
"""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sendhouse.api import json_body
from sendhouse.api.envelope import EnvelopeResponse, error_body
from sendhouse.api.input_guard import NUL_MARKS
from sendhouse.errors import AppError, InvalidInput
from sendhouse.services.payload_keys import PayloadKeys, invalid

router = APIRouter(tags=["encryption"])


@router.get("/v1/jwks.json", openapi_extra={"security": []})
async def jwks(request: Request):
    """The public keys to encrypt request bodies with (the active one first), as a plain JWKS
    (no envelope, as AutoSend serves it). No API key needed."""
    keys: PayloadKeys = request.app.state.payload_keys
    return EnvelopeResponse({"keys": await keys.public()})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key.lower() == name:
            return value.decode("latin-1").strip()
    return None


class EncryptedPayloadMiddleware:
    """Decrypt `X-Payload-Encryption: jwe` bodies of /v1 requests before routing."""

    def __init__(self, app: ASGIApp, keys: PayloadKeys):
        self.app, self.keys = app, keys

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or not scope["path"].startswith("/v1/")
            or (_header(scope, b"x-payload-encryption") or "").lower() != "jwe"
        ):
            return await self.app(scope, receive, send)
        try:
            plaintext = await self._plaintext(scope, await _read(receive))
            if any(mark in plaintext for mark in NUL_MARKS):
                raise InvalidInput(
                    "Validation failed",
                    details=[{"field": "body", "message": "must not contain NUL characters"}],
                )
            decrypted = _with_json_body(scope, plaintext)
            decrypted[json_body.SCOPE_KEY] = await json_body.parse_body(
                plaintext
            )  # checked as a plain body is
        except AppError as exc:
            body = error_body(exc.message, exc.code, 400, exc.details)
            return await EnvelopeResponse(body, status_code=400)(scope, receive, send)
        await self.app(decrypted, _replay(plaintext, receive), send)

    async def _plaintext(self, scope: Scope, raw: bytes) -> bytes:
        try:
            wrapper = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise invalid('the body must be JSON: {"encryptedData": "<compact JWE>"}') from None
        if not isinstance(wrapper, dict) or not isinstance(wrapper.get("encryptedData"), str):
            raise invalid('the body must be JSON: {"encryptedData": "<compact JWE>"}')
        return await self.keys.decrypt(wrapper["encryptedData"], _header(scope, b"x-key-id") or None)


def _with_json_body(scope: Scope, body: bytes) -> Scope:
    """The scope with Content-Type and Content-Length of the decrypted JSON body."""
    dropped = (b"content-type", b"content-length", b"transfer-encoding")
    headers = [(k, v) for k, v in scope["headers"] if k.lower() not in dropped]
    headers += [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    return {**scope, "headers": headers}


async def _read(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay
