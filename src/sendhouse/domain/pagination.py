"""Page arithmetic and AutoSend's pagination object."""

from __future__ import annotations

from dataclasses import dataclass

MAX_PAGE = 1_000_000  # past it an offset overflows PostgreSQL's bigint long before any list is that long


@dataclass(frozen=True)
class Page:
    """A requested page (1-based) and its size."""

    page: int = 1
    limit: int = 20

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.limit

    def describe(self, total: int) -> dict:
        """`{page, limit, total, pages, totalPages}` (both names: AutoSend used each at some time)."""
        pages = (total + self.limit - 1) // self.limit if self.limit else 0
        return {"page": self.page, "limit": self.limit, "total": total, "pages": pages, "totalPages": pages}
