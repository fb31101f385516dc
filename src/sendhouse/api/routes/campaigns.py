"""/v1/campaigns (issue 2)."""

from fastapi import APIRouter

router = APIRouter(prefix="/v1/campaigns", tags=["campaigns"])
