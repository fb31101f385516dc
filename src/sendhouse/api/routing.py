"""PrefixRouter, the router class of the API's resources: a router with a path prefix turns away a
request outside it before trying any of its routes.

FastAPI matches a request by trying each route of each included router in turn, and a miss costs
a few microseconds per route; without this, every /v1 request tried the routes of all the routers
mounted before its own.
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette._utils import get_route_path
from starlette.routing import Match
from starlette.types import Scope


class PrefixRouter(APIRouter):
    """An APIRouter that matches nothing outside its prefix."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if self.prefix and not get_route_path(scope).startswith(self.prefix):
            return Match.NONE, {}
        return super().matches(scope)
