"""Every router of the API, in the order they are mounted. Add new resources here."""

from sendhouse.api.routes import (
    account,
    account_keys,
    automations,
    campaigns,
    contact_lists,
    contact_properties,
    contacts,
    domains,
    events,
    inbound,
    inbound_messages,
    mails,
    senders,
    suppression_groups,
    templates,
    webhooks,
)

ROUTERS = [
    account.router,
    account_keys.router,
    campaigns.router,
    templates.router,
    senders.router,
    domains.router,
    mails.router,
    webhooks.router,
    contacts.router,
    contact_properties.router,
    suppression_groups.router,
    contact_lists.router,
    inbound.router,
    inbound_messages.router,
    events.router,
    automations.router,
]
