"""A signal is one per source, external id, zone and interval start; unprocessed signals are found
by an index.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04

- ``grid_signals``' unique key gains ``zone``: a grid operator's ids are its own per zone, so the
  same id and start for two zones are two signals (before, the second was taken for a repeat of
  the first and dropped). Every row of 0003 stays valid: a key that was unique stays unique.
- ``ix_grid_signals_zone``: a partial index of the signals not yet processed, by zone, so every
  replica's leader can ask often which zones have new signals (ones a follower recorded).

Downgrading restores the narrower key; it fails, naming the key, if the ledger now holds the same
id and start for two zones (delete one of each pair first, knowing it was a separate signal).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_KEY = ["source", "external_id", "interval_start"]
NEW_KEY = ["source", "external_id", "zone", "interval_start"]
COMMENT = (
    "Grid signals as received and normalized: prices, peak levels, demand-response notices, "
    "carbon intensity, green ratio. One row per source, "
)


def upgrade() -> None:
    """Widen the key, then add the index of unprocessed signals."""
    op.create_unique_constraint(
        op.f("uq_grid_signals_source_external_id_zone_interval_start"), "grid_signals", NEW_KEY
    )
    op.drop_constraint(
        op.f("uq_grid_signals_source_external_id_interval_start"), "grid_signals", type_="unique"
    )
    op.create_index(
        op.f("ix_grid_signals_zone"),
        "grid_signals",
        ["zone"],
        postgresql_where=sa.text("processed_at IS NULL"),
    )
    op.create_table_comment("grid_signals", COMMENT + "external id, zone and interval start.")


def downgrade() -> None:
    """Drop the index and narrow the key back to the one before."""
    op.drop_index(op.f("ix_grid_signals_zone"), table_name="grid_signals")
    op.create_unique_constraint(
        op.f("uq_grid_signals_source_external_id_interval_start"), "grid_signals", OLD_KEY
    )
    op.drop_constraint(
        op.f("uq_grid_signals_source_external_id_zone_interval_start"),
        "grid_signals",
        type_="unique",
    )
    op.create_table_comment("grid_signals", COMMENT + "external id and interval start.")
