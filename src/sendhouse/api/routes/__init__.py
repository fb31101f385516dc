"""Every router of the API, in the order they are mounted. Add new resources here."""

from sendhouse.api.routes import account, campaigns

ROUTERS = [account.router, campaigns.router]
