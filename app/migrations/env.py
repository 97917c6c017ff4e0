"""Alembic environment: the schema is ``app.store``'s SQLModel tables.

The database comes from the connection ``app.store.upgrade`` passes in (the service and
``huashu db upgrade``), or else from DATABASE_URL / the settings (the ``alembic`` command).
"""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

from app import store  # noqa: F401  (defines the tables on SQLModel.metadata)

config = context.config
target_metadata = SQLModel.metadata


def run_migrations(connection) -> None:
    # SQLite cannot ALTER most things in place: batch mode copies the table instead.
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    run_migrations(connection)
else:
    from app.config import get_settings

    database = store.connect(config.get_main_option("sqlalchemy.url") or get_settings().database_url)
    with database.connect() as connection:
        run_migrations(connection)
    database.dispose()
