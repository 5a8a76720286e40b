"""DR reports: whether the outcome of a DR event reached its VTN, or the VTN refused it.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04

What it adds to ``dr_events``, all nullable, so every row of 0002 stays valid as it is:

- ``report_state``: ``Sent`` (the VTN accepted the report) or ``Refused`` (it answered 4xx:
  gridshift does not send it again);
- ``reported_at``: when that was;
- ``report_detail``: what the VTN answered, for people.

Downgrading drops exactly these.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DR_REPORT_STATES = ("Sent", "Refused")


def upgrade() -> None:
    """Add the report columns and their check."""
    op.add_column(
        "dr_events",
        sa.Column(
            "report_state",
            sa.String(32),
            nullable=True,
            comment="Sent (the VTN accepted the outcome's report) or Refused (it answered 4xx; "
            "not sent again); NULL until reported.",
        ),
    )
    op.add_column(
        "dr_events",
        sa.Column(
            "reported_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="When the report was sent or refused.",
        ),
    )
    op.add_column(
        "dr_events",
        sa.Column(
            "report_detail",
            sa.Text(),
            nullable=True,
            comment="What the VTN answered to the report, for people.",
        ),
    )
    values = ", ".join(f"'{v}'" for v in DR_REPORT_STATES)
    op.create_check_constraint(
        op.f("ck_dr_events_report_state"),
        "dr_events",
        f"report_state IS NULL OR report_state IN ({values})",
    )


def downgrade() -> None:
    """Remove what ``upgrade`` added."""
    op.drop_constraint(op.f("ck_dr_events_report_state"), "dr_events", type_="check")
    op.drop_column("dr_events", "report_detail")
    op.drop_column("dr_events", "reported_at")
    op.drop_column("dr_events", "report_state")
