"""The HTTP JSON API (AutoSend-compatible /v1): thin routers over services, one error-to-status table."""
