"""Objects that live for one write transaction (store/db.py's `Database.write()`): each is made on
first use by `transaction_scoped` and flushed (`flush(conn)`) just before the transaction commits.
The campaign counters (store/counters.py) gather a transaction's changes this way."""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar, Token
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection


class _Scoped:
    """The objects of one write transaction (`transaction_scoped`), flushed before its commit."""

    def __init__(self, conn: AsyncConnection):
        self.conn = conn
        self.items: dict[Any, Any] = {}

    async def flush(self) -> None:
        for item in self.items.values():
            await item.flush(self.conn)


_scoped: ContextVar[_Scoped | None] = ContextVar("sendhouse_transaction_scoped", default=None)


def transaction_scoped(conn: AsyncConnection, name: str, factory: Callable[[], Any]) -> Any | None:
    """Inside the `Database.write()` transaction of `conn`: its object named `name` (made by
    `factory` on first use), whose `flush(conn)` is awaited just before the commit. None otherwise."""
    scoped = _scoped.get()
    if scoped is None or scoped.conn is not conn:
        return None
    if name not in scoped.items:
        scoped.items[name] = factory()
    return scoped.items[name]


def transaction_scope(conn: AsyncConnection) -> tuple[_Scoped, Token]:
    """Open the scope of the write transaction on `conn` (store/db.py)."""
    scoped = _Scoped(conn)
    return scoped, _scoped.set(scoped)


def scope_ended(token: Token) -> None:
    _scoped.reset(token)
