"""Persistence: SQLAlchemy Core tables, Alembic migrations and queries, on SQLite and PostgreSQL."""
