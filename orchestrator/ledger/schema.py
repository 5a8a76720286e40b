"""Bring a database's ledger schema up or down with Alembic, from Python.

The revisions live in the repository's ``migrations/`` directory (resolved from this package's
location, so it works from a source checkout wherever it is). The operator calls
``upgrade_to_head`` at start; the tests call both directions. Each command runs in one
transaction on one connection, under an advisory lock taken by ``migrations/env.py``, so two
replicas starting together migrate once. Alembic keeps its running environment in a module
global, so within one process the commands also take turns on a thread lock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError

from orchestrator.errors import ConfigError, LedgerError
from orchestrator.ledger.db import ledger_errors, make_engine

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"
MIGRATION_LOCK_KEY = 0x67726964
"""Key of the PostgreSQL advisory lock held while migrating ("grid" in ASCII)."""
_ONE_COMMAND_AT_A_TIME = threading.Lock()


def alembic_config(url: str | None = None) -> Config:
    """An Alembic config for ``migrations/``; ``url`` (if given) is what ``env.py`` connects to."""
    if not (MIGRATIONS_DIR / "env.py").is_file():
        raise ConfigError(
            f"Alembic's migrations directory was not found at {MIGRATIONS_DIR}; "
            "run gridshift from a checkout of its repository"
        )
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    if url is not None:
        config.attributes["url"] = url
    return config


def _run(url: str, action: str, step: Callable[[Config], None]) -> None:
    """Run one Alembic command on one connection to ``url``, in one transaction."""
    config = alembic_config()
    engine = make_engine(url)
    try:
        with _ONE_COMMAND_AT_A_TIME, ledger_errors(action), engine.begin() as connection:
            config.attributes["connection"] = connection
            step(config)
    except CommandError as exc:
        raise LedgerError(f"{action} failed: {exc}") from exc
    finally:
        engine.dispose()


def upgrade_to_head(url: str) -> None:
    """Apply every revision not yet applied to the database at ``url``."""
    upgrade_to(url, "head")


def upgrade_to(url: str, revision: str) -> None:
    """Apply the revisions up to ``revision`` (an id such as ``0002``, or ``head``)."""
    action = f"upgrading the ledger schema to {revision}"
    _run(url, action, lambda config: command.upgrade(config, revision))


def downgrade_to(url: str, revision: str) -> None:
    """Revert the revisions after ``revision`` (an id, or ``base``: every table dropped)."""
    action = f"downgrading the ledger schema to {revision}"
    _run(url, action, lambda config: command.downgrade(config, revision))


def downgrade_to_base(url: str) -> None:
    """Revert every revision: the ledger's tables are dropped, and their data with them."""
    downgrade_to(url, "base")


def head_revision() -> str:
    """The newest revision in ``migrations/versions``."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise ConfigError(f"no Alembic revisions found under {MIGRATIONS_DIR}")
    return head


def current_revision(url: str) -> str | None:
    """The revision the database at ``url`` is at; ``None`` before the first upgrade."""
    engine = make_engine(url)
    try:
        with ledger_errors("reading the ledger schema's revision"), engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()
