"""The declarative base of the ledger's tables, its naming convention and column helpers."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import DateTime, MetaData, Numeric
from sqlalchemy.orm import DeclarativeBase, MappedColumn, mapped_column

from orchestrator.ledger import vocab

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

KW_PRECISION, KW_SCALE = vocab.KW_DIGITS


class Base(DeclarativeBase):
    """Base of the ledger's models; its metadata names every constraint and index."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def one_of(column: str, values: Iterable[str]) -> str:
    """SQL for a CHECK that ``column`` holds one of ``values`` (our own constants, never input)."""
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def timestamp(comment: str, *, nullable: bool = False) -> MappedColumn[Any]:
    """A ``timestamptz`` column."""
    return mapped_column(DateTime(timezone=True), nullable=nullable, comment=comment)


def kw(comment: str, *, nullable: bool = True) -> MappedColumn[Any]:
    """A power in kW, ``Numeric(14, 3)``."""
    return mapped_column(Numeric(KW_PRECISION, KW_SCALE), nullable=nullable, comment=comment)
