"""Ledger fixtures shared by the integration tests: the real database at head, emptied per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.ledger.db import make_engine, session_factory
from orchestrator.ledger.handle import Ledger
from orchestrator.ledger.models import Base
from orchestrator.ledger.schema import upgrade_to_head

LEDGER_TABLES = [table.name for table in Base.metadata.sorted_tables]


@pytest.fixture(scope="module")
def engine(database_url: str) -> Iterator[Engine]:
    """The session's database at the head revision."""
    upgrade_to_head(database_url)
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def ledger_door(engine: Engine, database_url: str) -> Iterator[Ledger]:
    """The ledger's door (the handle every other layer uses) on the session's database."""
    door = Ledger(database_url)
    yield door
    door.close()


@pytest.fixture
def factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions on a ledger emptied before each test."""
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {', '.join(LEDGER_TABLES)} RESTART IDENTITY CASCADE"))
    return session_factory(engine)


@pytest.fixture
def session(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One session; its transaction is rolled back at the end unless the test commits."""
    with factory() as session:
        yield session
