"""The shared MetaData, with a naming convention so constraint names match on both databases."""

import sqlalchemy as sa

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def id_column(name: str = "id") -> sa.Column:
    """A 24-hex primary key."""
    return sa.Column(name, sa.String(24), primary_key=True)
