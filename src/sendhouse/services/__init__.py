"""Use cases and transaction boundaries. Raise errors from sendhouse.errors only, never HTTP errors."""
