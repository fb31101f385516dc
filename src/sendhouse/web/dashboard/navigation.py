"""The dashboard's menu: pages grouped as a marketer looks for them (Campaigns, Audience, Content,
Deliverability, Settings), with the page being shown marked as current."""

from __future__ import annotations

# (group, [(label, link, the path prefix that makes it current)]).
MENU = (
    (
        "Campaigns",
        (
            ("Overview", "/overview", "/overview"),
            ("Campaigns", "/campaigns", "/campaigns"),
            ("Automations", "/automations", "/automations"),
            ("Events", "/events", "/events"),
        ),
    ),
    (
        "Audience",
        (
            ("Contacts", "/contacts", "/contacts"),
            ("Lists & segments", "/lists", "/lists"),
            ("Import", "/imports/new", "/imports"),
            ("Properties", "/properties", "/properties"),
            ("Suppressions", "/suppressions", "/suppressions"),
        ),
    ),
    ("Content", (("Templates", "/templates", "/templates"),)),
    (
        "Deliverability",
        (
            ("Senders", "/senders", "/senders"),
            ("Domains", "/domains", "/domains"),
            ("Outbox", "/outbox", "/outbox"),
            ("Inbox", "/inbox", "/inbox"),
        ),
    ),
    (
        "Settings",
        (
            ("Users", "/users", "/users"),
            ("Webhooks", "/webhooks", "/webhooks"),
            ("API keys", "/keys", "/keys"),
            ("Password", "/account/password", "/account"),
        ),
    ),
)


def _matches(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + "/")


def menu(path: str) -> dict:
    """The groups with their links, each link knowing whether `path` (inside the dashboard) is
    its page, and the label of the current page (None when none is)."""
    groups, current = [], None
    for name, links in MENU:
        items = []
        for label, href, prefix in links:
            here = _matches(path, prefix)
            current = label if here else current
            items.append({"label": label, "href": href, "current": here})
        groups.append({"name": name, "links": items})
    return {"groups": groups, "current": current}
