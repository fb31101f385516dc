"""JSON request bodies: parsed once at the door (in a thread when large), checked, handed to the routes.

`parse_body` refuses, as InvalidInput on the field `body`, what no route can store faithfully on
both databases: malformed JSON or UTF-8, lone surrogates (`"\\ud800"`), numbers beyond ±2^63 (a
30-digit integer, `1e400`), and nesting deeper than MAX_DEPTH. The request gate stores the parsed
value in the ASGI scope; `JsonRoute` (the route class of every API router) hands it to FastAPI so
the body is never parsed a second time on the event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Any

import orjson
from fastapi import Request
from fastapi.routing import APIRoute

from sendhouse.errors import InvalidInput

SCOPE_KEY = "sendhouse.json"
MAX_DEPTH = 64
NUMBER_LIMIT = 2**63
THREAD_FROM_BYTES = 64 * 1024  # smaller bodies parse faster than a hop to a thread


def parse(body: bytes) -> Any:
    """The checked value of a JSON body; InvalidInput naming the problem."""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput.field("body", _decode_message(str(exc))) from None
    check_value(value)
    return value


async def parse_body(body: bytes) -> Any:
    """`parse`, off the event loop for bodies of THREAD_FROM_BYTES or more."""
    if len(body) < THREAD_FROM_BYTES:
        return parse(body)
    return await asyncio.to_thread(parse, body)


def _decode_message(text: str) -> str:
    if "surrogate" in text:
        return f"strings must be valid Unicode (no lone surrogates): {text}"
    if "infinity" in text:
        return f"numbers must be between -2^63 and 2^63: {text}"
    if "depth" in text:
        return f"JSON nested deeper than {MAX_DEPTH} levels"
    return f"malformed JSON: {text}"


def check_value(value: Any) -> None:
    """Refuse numbers beyond ±2^63 and nesting deeper than MAX_DEPTH (iteratively: no recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children: Iterable[Any]
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            if (
                isinstance(item, (int, float))
                and not isinstance(item, bool)
                and not -NUMBER_LIMIT <= item < NUMBER_LIMIT
            ):
                raise InvalidInput.field("body", f"numbers must be between -2^63 and 2^63 (got {item:.3g})")
            continue
        if depth > MAX_DEPTH:
            raise InvalidInput.field("body", f"JSON nested deeper than {MAX_DEPTH} levels")
        stack.extend((child, depth + 1) for child in children)


class _ParsedJsonRequest(Request):
    """A request whose JSON the gate has already parsed and checked."""

    async def json(self) -> Any:
        if SCOPE_KEY in self.scope:
            return self.scope[SCOPE_KEY]
        return await super().json()


class JsonRoute(APIRoute):
    """The route class of the API routers: FastAPI reads the body the gate parsed."""

    def get_route_handler(self) -> Callable:
        handler = super().get_route_handler()

        async def handle(request: Request):
            return await handler(_ParsedJsonRequest(request.scope, request.receive))

        return handle
