"""Alembic's environment for the ledger: which database, which metadata, and one lock.

The database is, in order of precedence:

1. ``config.attributes["connection"]``: an open connection (``orchestrator.ledger.schema`` passes
   one, inside a transaction it commits);
2. ``config.attributes["url"]``, or ``-x url=postgresql+psycopg://...`` on the command line;
3. ``GRIDSHIFT_DATABASE_URL`` (``orchestrator.settings``).

Every online run takes a transaction-scoped advisory lock first, so processes migrating the same
database at once take turns, and the second finds the work done. ``--sql`` (offline) mode needs
no database: it renders PostgreSQL DDL.
"""

from __future__ import annotations

import logging

from alembic import context
from sqlalchemy import Connection, text

from orchestrator.errors import ConfigError
from orchestrator.ledger.db import make_engine
from orchestrator.ledger.models import Base
from orchestrator.ledger.schema import MIGRATION_LOCK_KEY
from orchestrator.settings import get_settings

config = context.config
target_metadata = Base.metadata

if config.cmd_opts is not None:
    # Run from the `alembic` command line: say which revisions ran.
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")


def database_url() -> str:
    """The URL to migrate: attributes, then ``-x url=``, then the settings; fail if none."""
    given = config.attributes.get("url") or context.get_x_argument(as_dictionary=True).get("url")
    if given:
        return str(given)
    configured = get_settings().database_url
    if configured is None:
        raise ConfigError(
            "no database to migrate: set GRIDSHIFT_DATABASE_URL, or pass "
            "-x url=postgresql+psycopg://user:password@host:port/database"
        )
    return configured.get_secret_value()


def migrate(connection: Connection) -> None:
    """Run the pending revisions on ``connection`` while holding the migration lock."""
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
    )
    with context.begin_transaction():
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        context.run_migrations()


def run_migrations_online() -> None:
    """Migrate the given connection, or connect to the configured database."""
    given = config.attributes.get("connection")
    if isinstance(given, Connection):
        migrate(given)
        return
    engine = make_engine(database_url())
    try:
        with engine.connect() as connection:
            migrate(connection)
    finally:
        engine.dispose()


def run_migrations_offline() -> None:
    """Render the revisions as PostgreSQL SQL, without connecting."""
    context.configure(
        dialect_name="postgresql",
        target_metadata=target_metadata,
        literal_binds=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
