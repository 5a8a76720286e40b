"""The Alembic revisions build exactly the models' schema, and undo it, on a real PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import CheckConstraint, Engine, inspect, text
from sqlalchemy.exc import IntegrityError

from orchestrator.ledger.db import make_engine
from orchestrator.ledger.models import Base
from orchestrator.ledger.schema import (
    MIGRATION_LOCK_KEY,
    current_revision,
    downgrade_to,
    downgrade_to_base,
    head_revision,
    upgrade_to,
    upgrade_to_head,
)

REPO = Path(__file__).resolve().parents[2]
LEDGER_TABLES = set(Base.metadata.tables)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """An engine on the session's database, left at the head revision afterwards; other modules'
    signals are removed first, since some (one id in two zones) could not go back to 0002."""
    engine = make_engine(database_url)
    if current_revision(database_url) is not None:
        with engine.begin() as connection:
            connection.execute(text("TRUNCATE grid_signals RESTART IDENTITY CASCADE"))
    yield engine
    engine.dispose()
    upgrade_to_head(database_url)


def tables(engine: Engine) -> set[str]:
    """The tables in the public schema now."""
    return set(inspect(engine).get_table_names())


def sequences(engine: Engine) -> set[str]:
    """The sequences in the public schema now (identity columns own one each)."""
    with engine.connect() as connection:
        names = connection.execute(
            text("SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'")
        ).scalars()
        return set(names)


def test_upgrade_downgrade_upgrade_round_trips(database_url: str, engine: Engine) -> None:
    """Upgrade builds the ledger's tables, downgrade leaves none of them, and upgrade works
    again."""
    upgrade_to_head(database_url)
    assert tables(engine) >= LEDGER_TABLES
    assert current_revision(database_url) == head_revision() == "0004"

    downgrade_to_base(database_url)
    assert tables(engine) <= {"alembic_version"}
    assert sequences(engine) == set()
    assert current_revision(database_url) is None

    upgrade_to_head(database_url)
    assert tables(engine) >= LEDGER_TABLES
    assert current_revision(database_url) == "0004"


CHAIN_TABLES = {"dr_event_transitions", "dr_event_samples", "decision_signals"}
ROWS_OF_0001 = (
    "INSERT INTO dr_events (id, source, external_id, zone, kind, target_kw, window_start, "
    "response_deadline_seconds, state, k8s_name) OVERRIDING SYSTEM VALUE VALUES (7, 'native:sgcc', "
    "'shanghai/dr-1', 'shanghai', 'shed', 500, '2026-07-15T06:00Z', 180, 'Scheduled', 'sh-dr-1')",
    "INSERT INTO decisions (id, decided_at, namespace, workload, action, reason, chosen_cluster, "
    "candidates) OVERRIDING SYSTEM VALUE VALUES (3, '2026-07-15T06:00:05Z', 'inference', "
    "'chat-72b', 'move', 'shed 500 kW', 'hubei', '[]')",
    "INSERT INTO migrations (id, namespace, name, workload, from_cluster, to_cluster, reason, "
    "trigger, dr_event_id, deadline_seconds, started_at, phase, replicas) VALUES "
    "('6f1c1f36-3a5b-4c1e-9d38-0d5f3c0e9a11', 'inference', 'chat-72b-x', 'chat-72b', "
    "'shanghai', 'hubei', 'shed', 'DemandResponse', 7, 180, '2026-07-15T06:00:06Z', "
    "'Pending', 2)",
)


def test_0002_keeps_the_rows_of_0001_both_ways(database_url: str, engine: Engine) -> None:
    """Rows written at 0001 survive the upgrade with an empty chain, the chain can be filled,
    and downgrading to 0001 drops the chain and keeps the rows."""
    downgrade_to_base(database_url)
    upgrade_to(database_url, "0001")
    with engine.begin() as connection:
        for statement in ROWS_OF_0001:
            connection.execute(text(statement))
    upgrade_to(database_url, "0002")
    assert tables(engine) >= CHAIN_TABLES
    with engine.begin() as connection:
        kept = connection.execute(
            text("SELECT dr_event_id, decision_id, signal_external_id FROM migrations")
        ).one()
        assert tuple(kept) == (7, None, None)
        connection.execute(text("UPDATE migrations SET decision_id = 3"))
        connection.execute(
            text(
                "INSERT INTO dr_event_transitions (dr_event_id, state, entered_at) "
                "VALUES (7, 'Active', '2026-07-15T06:00Z')"
            )
        )
    downgrade_to(database_url, "0001")
    assert current_revision(database_url) == "0001"
    assert not tables(engine) & CHAIN_TABLES
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM migrations")).scalar_one() == 1
        assert connection.execute(text("SELECT count(*) FROM decisions")).scalar_one() == 1
        columns = {c["name"] for c in inspect(connection).get_columns("migrations")}
    assert "decision_id" not in columns
    upgrade_to_head(database_url)
    assert current_revision(database_url) == head_revision()


def test_0003_adds_the_report_columns_and_keeps_the_rows_both_ways(
    database_url: str, engine: Engine
) -> None:
    """A DR event written at 0002 gets empty report columns, which accept Sent or Refused only;
    downgrading to 0002 drops them and keeps the row."""
    downgrade_to_base(database_url)
    upgrade_to(database_url, "0002")
    with engine.begin() as connection:
        for statement in ROWS_OF_0001:
            connection.execute(text(statement))
    upgrade_to(database_url, "0003")
    with engine.begin() as connection:
        row = connection.execute(
            text("SELECT report_state, reported_at, report_detail FROM dr_events WHERE id = 7")
        ).one()
        assert tuple(row) == (None, None, None)
        connection.execute(
            text(
                "UPDATE dr_events SET report_state = 'Refused', reported_at = now(), "
                "report_detail = 'HTTP 409' WHERE id = 7"
            )
        )
    with pytest.raises(IntegrityError), engine.begin() as connection:
        connection.execute(text("UPDATE dr_events SET report_state = 'Maybe' WHERE id = 7"))
    downgrade_to(database_url, "0002")
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM dr_events")).scalar_one() == 1
        columns = {c["name"] for c in inspect(connection).get_columns("dr_events")}
    assert not columns & {"report_state", "reported_at", "report_detail"}
    upgrade_to_head(database_url)


def test_0004_keys_signals_by_zone_and_downgrades_while_no_pair_collides(
    database_url: str, engine: Engine
) -> None:
    """At 0004 the same source, id and start for two zones are two rows; back at 0003 they could
    not be, so the downgrade refuses while such a pair exists and succeeds once it is gone."""
    insert = (
        "INSERT INTO grid_signals (source, external_id, zone, kind, interval_start, unit, payload) "
        "VALUES ('native:op', 'same-id', :zone, 'price', '2026-07-15T04:00Z', 'CNY/kWh', '{}')"
    )
    upgrade_to_head(database_url)
    with engine.begin() as connection:
        connection.execute(text("TRUNCATE grid_signals RESTART IDENTITY CASCADE"))
        for zone in ("shanghai", "hubei"):
            connection.execute(text(insert), {"zone": zone})
    with pytest.raises(Exception, match="uq_grid_signals_source_external_id_interval_start"):
        downgrade_to(database_url, "0003")
    assert current_revision(database_url) == "0004"
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM grid_signals WHERE zone = 'hubei'"))
    downgrade_to(database_url, "0003")
    with engine.begin() as connection, pytest.raises(Exception, match="duplicate key"):
        connection.execute(text(insert), {"zone": "hubei"})
    upgrade_to_head(database_url)
    with engine.begin() as connection:
        connection.execute(text(insert), {"zone": "hubei"})
        count = connection.execute(text("SELECT count(*) FROM grid_signals")).scalar_one()
        connection.execute(text("TRUNCATE grid_signals RESTART IDENTITY CASCADE"))
    assert count == 2


def test_autogenerate_finds_no_difference(database_url: str, engine: Engine) -> None:
    """Comparing the models with the migrated database finds nothing to change."""
    upgrade_to_head(database_url)
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "compare_server_default": True}
        )
        assert compare_metadata(context, Base.metadata) == []


def test_check_constraints_match_the_models(database_url: str, engine: Engine) -> None:
    """Every CHECK constraint of the models exists in the database, and no other (autogenerate
    does not compare them)."""
    upgrade_to_head(database_url)
    inspector = inspect(engine)
    for name, table in Base.metadata.tables.items():
        modelled = {c.name for c in table.constraints if isinstance(c, CheckConstraint)}
        live = {c["name"] for c in inspector.get_check_constraints(name)}
        assert live == modelled, name


def test_every_column_is_commented_in_the_database(database_url: str, engine: Engine) -> None:
    """\\d+ explains the schema: every table and column has a comment in PostgreSQL."""
    upgrade_to_head(database_url)
    inspector = inspect(engine)
    for name in LEDGER_TABLES:
        assert inspector.get_table_comment(name)["text"], name
        uncommented = [c["name"] for c in inspector.get_columns(name) if not c.get("comment")]
        assert uncommented == [], name


UPGRADE = (
    "import os; from orchestrator.ledger.schema import upgrade_to_head; "
    "upgrade_to_head(os.environ['LEDGER_URL'])"
)


def waiting_for_the_lock(engine: Engine) -> int:
    """How many sessions are waiting for the migration lock."""
    with engine.connect() as connection:
        return connection.execute(
            text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
                "AND objid = :key"
            ),
            {"key": MIGRATION_LOCK_KEY},
        ).scalar_one()


def test_processes_upgrading_together_take_turns(database_url: str, engine: Engine) -> None:
    """Two processes upgrading an empty database at once queue on one lock, and both succeed."""
    downgrade_to_base(database_url)
    env = os.environ | {"LEDGER_URL": database_url}
    with engine.connect() as holder:
        holder.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        upgrades = [
            subprocess.Popen(
                [sys.executable, "-c", UPGRADE],
                cwd=REPO,
                env=env,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        try:
            deadline = time.monotonic() + 30
            while waiting_for_the_lock(engine) < 2 and time.monotonic() < deadline:
                time.sleep(0.1)
            queued = waiting_for_the_lock(engine)
        finally:
            holder.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY})
            holder.commit()
            outputs = [upgrade.communicate(timeout=60)[1] for upgrade in upgrades]
    assert queued == 2
    assert [upgrade.returncode for upgrade in upgrades] == [0, 0], outputs
    assert current_revision(database_url) == "0004"
    assert tables(engine) >= LEDGER_TABLES


def test_threads_upgrading_together_take_turns(database_url: str, engine: Engine) -> None:
    """Two threads of one process upgrading at once both succeed (Alembic's state is global)."""
    downgrade_to_base(database_url)
    start_line = threading.Barrier(2, timeout=10)
    errors: list[BaseException] = []

    def upgrade() -> None:
        try:
            start_line.wait()
            upgrade_to_head(database_url)
        except BaseException as exc:  # handed to the main thread below
            errors.append(exc)

    threads = [threading.Thread(target=upgrade) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert current_revision(database_url) == "0004"


def test_the_alembic_command_line_reads_pyproject_and_takes_a_url(database_url: str) -> None:
    """`alembic -x url=... current` runs from the repository root with no alembic.ini."""
    upgrade_to_head(database_url)
    result = subprocess.run(
        [sys.executable, "-m", "alembic", "-x", f"url={database_url}", "current"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "0004 (head)" in result.stdout
