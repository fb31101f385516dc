"""Public web pages: the tracking endpoints (open pixel, click redirect) and the unsubscribe and
preference pages that recipients reach from the links in every message (web/tracking.py)."""
