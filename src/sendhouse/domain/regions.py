"""AutoSend's region keys, shared by domains and projects (`regionKey`)."""

from __future__ import annotations

from typing import Literal

REGIONS = ("us-east-1", "us-east-2", "ap-south-1", "eu-central-1")
RegionKey = Literal["us-east-1", "us-east-2", "ap-south-1", "eu-central-1"]
