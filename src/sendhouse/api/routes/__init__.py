"""Every router of the API, in the order they are mounted. Add new resources here."""

from sendhouse.api.routes import account, campaigns
from sendhouse.api.routes import domains, senders, templates
from sendhouse.api.routes import mails
from sendhouse.api.routes import webhooks

ROUTERS = [account.router, campaigns.router]
ROUTERS += [templates.router, senders.router, domains.router]
ROUTERS += [mails.router]
ROUTERS += [webhooks.router]
from sendhouse.api.routes import contact_properties, contacts  # noqa: E402

ROUTERS += [contacts.router, contact_properties.router]
from sendhouse.api.routes import suppression_groups  # noqa: E402

ROUTERS += [suppression_groups.router]
from sendhouse.api.routes import contact_lists  # noqa: E402

ROUTERS += [contact_lists.router]
from sendhouse.api.routes import inbound  # noqa: E402
from sendhouse.web import tracking as web_tracking  # noqa: E402

ROUTERS += [inbound.router, web_tracking.router]
