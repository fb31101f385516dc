"""Every router of the API, in the order they are mounted. Add new resources here."""

from sendhouse.api.routes import (
    account,
    automations,
    campaigns,
    contact_lists,
    contact_properties,
    contacts,
    domains,
    events,
    inbound,
    mails,
    senders,
    suppression_groups,
    templates,
    webhooks,
)
from sendhouse.web import tracking as web_tracking

ROUTERS = [
    account.router, campaigns.router, templates.router, senders.router, domains.router, mails.router,
    webhooks.router, contacts.router, contact_properties.router, suppression_groups.router,
    contact_lists.router, inbound.router, events.router, automations.router, web_tracking.router,
]
