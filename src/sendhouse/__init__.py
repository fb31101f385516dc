"""Sendhouse: a self-hosted email campaign and transactional email server (AutoSend-compatible API)."""

__version__ = "0.1.0"
