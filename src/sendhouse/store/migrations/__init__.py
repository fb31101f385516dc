"""Alembic migrations of the schema in store/schema (run with `sendhouse migrate`)."""
