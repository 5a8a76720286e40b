"""Engines, sessions, transactions, and the one place database errors become ``LedgerError``.

:class:`orchestrator.ledger.handle.Ledger` builds an engine once per process with
``make_engine``, and opens every transaction with :func:`transaction`. Repository functions
take that transaction's session; whatever PostgreSQL or the driver raises inside them, or at
COMMIT, leaves as ``LedgerError``, chained to the original with ``raise ... from``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import URL, Engine, create_engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.errors import ConfigError, LedgerError

DRIVER = "postgresql+psycopg"
APPLICATION_NAME = "gridshift"
_ACCEPTED_DRIVERS = ("postgresql", DRIVER)
_DETAIL_MAX = 1000


def psycopg_url(url: str) -> URL:
    """Parse a PostgreSQL URL and pin it to the psycopg 3 driver.

    ``postgresql://`` and ``postgresql+psycopg://`` are accepted; anything else is a
    ``ConfigError``. The URL is never echoed back, since it may carry a password.
    """
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(
            "the database URL could not be parsed; expected "
            "postgresql+psycopg://user:password@host:port/database"
        ) from exc
    if parsed.drivername not in _ACCEPTED_DRIVERS:
        raise ConfigError(
            f"the database URL must use {DRIVER}:// (or postgresql://), not {parsed.drivername}://"
        )
    return parsed.set(drivername=DRIVER)


def make_engine(url: str, *, connect_timeout_seconds: int = 10) -> Engine:
    """An engine for the ledger's PostgreSQL: psycopg 3, connections checked before use.

    Statement parameters are kept out of error messages (``hide_parameters``), so a failing
    insert does not copy a signal's payload into logs. Connecting happens lazily, on first use.
    """
    return create_engine(
        psycopg_url(url),
        pool_pre_ping=True,
        hide_parameters=True,
        connect_args={
            "connect_timeout": connect_timeout_seconds,
            "application_name": APPLICATION_NAME,
        },
    )


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions on ``engine``; objects stay readable after commit (``expire_on_commit=False``)."""
    return sessionmaker(bind=engine, expire_on_commit=False)


def describe(exc: SQLAlchemyError) -> str:
    """The useful part of a database error: the driver's message, on one line, bounded."""
    cause: BaseException = exc.orig if isinstance(exc, DBAPIError) and exc.orig else exc
    detail = " ".join(str(cause).split()) or type(cause).__name__
    return detail if len(detail) <= _DETAIL_MAX else detail[: _DETAIL_MAX - 3] + "..."


@contextmanager
def ledger_errors(action: str) -> Iterator[None]:
    """Turn any SQLAlchemy or driver error raised inside into ``LedgerError("<action>: ...")``."""
    try:
        yield
    except SQLAlchemyError as exc:
        raise LedgerError(f"{action} failed: {describe(exc)}") from exc


@contextmanager
def transaction(sessions: sessionmaker[Session], action: str) -> Iterator[Session]:
    """A session in one transaction: committed when the block ends, rolled back if it raises.

    A database error anywhere, the COMMIT included, leaves as ``LedgerError("<action> failed:
    ...")``; a ``LedgerError`` raised inside passes through as it is.
    """
    with ledger_errors(action), sessions.begin() as session:
        yield session
