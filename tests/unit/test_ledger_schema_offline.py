"""The ledger's models and revisions, checked without a database."""

from __future__ import annotations

import io

import pytest
from alembic import command
from sqlalchemy import CheckConstraint

from orchestrator.errors import ConfigError
from orchestrator.ledger import vocab
from orchestrator.ledger.models import Base
from orchestrator.ledger.schema import MIGRATIONS_DIR, alembic_config, head_revision
from orchestrator.settings import get_settings

TABLES = (
    "grid_signals",
    "dr_events",
    "dr_event_transitions",
    "dr_event_samples",
    "decisions",
    "decision_signals",
    "migrations",
    "migration_phases",
)


def test_the_models_define_the_ledger_tables() -> None:
    """The metadata holds exactly DESIGN.md's five tables and the three that join them."""
    assert set(Base.metadata.tables) == set(TABLES)


def test_every_table_and_column_is_commented() -> None:
    """\\d+ teaches the schema: no table or column is left without a comment."""
    for table in Base.metadata.tables.values():
        assert table.comment, table.name
        assert [c.name for c in table.columns if not c.comment] == [], table.name


def test_constraints_and_indexes_are_named_by_the_convention() -> None:
    """Names come from the naming convention, so revisions and models agree on them."""
    signals = Base.metadata.tables["grid_signals"]
    names = {c.name for c in signals.constraints} | {i.name for i in signals.indexes}
    assert names == {
        "pk_grid_signals",
        "uq_grid_signals_source_external_id_zone_interval_start",
        "ck_grid_signals_kind",
        "ck_grid_signals_interval_ordered",
        "ix_grid_signals_zone_interval_start",
        "ix_grid_signals_dr_event_id",
        "ix_grid_signals_zone",
        "fk_grid_signals_dr_event_id_dr_events",
    }
    phases = Base.metadata.tables["migration_phases"]
    assert {fk.name for fk in phases.foreign_key_constraints} == {
        "fk_migration_phases_migration_id_migrations"
    }
    everything = [
        str(c.name)
        for table in Base.metadata.tables.values()
        for c in [*table.constraints, *table.indexes]
    ]
    assert max(len(name) for name in everything) <= 63  # PostgreSQL's identifier limit


@pytest.mark.parametrize(
    ("table", "constraint", "values"),
    [
        ("grid_signals", "ck_grid_signals_kind", vocab.SIGNAL_KINDS),
        ("dr_events", "ck_dr_events_kind", vocab.DR_EVENT_KINDS),
        ("dr_events", "ck_dr_events_state", vocab.DR_EVENT_STATES),
        ("dr_events", "ck_dr_events_outcome", vocab.DR_EVENT_OUTCOMES),
        ("dr_event_transitions", "ck_dr_event_transitions_state", vocab.DR_EVENT_STATES),
        ("dr_event_samples", "ck_dr_event_samples_state", vocab.DR_EVENT_STATES),
        ("decisions", "ck_decisions_trigger", vocab.MIGRATION_TRIGGERS),
        ("decisions", "ck_decisions_action", vocab.DECISION_ACTIONS),
        ("migrations", "ck_migrations_trigger", vocab.MIGRATION_TRIGGERS),
        ("migrations", "ck_migrations_phase", vocab.MIGRATION_PHASES),
        ("migrations", "ck_migrations_outcome", vocab.MIGRATION_OUTCOMES),
        ("migration_phases", "ck_migration_phases_phase", vocab.MIGRATION_PHASES),
    ],
)
def test_closed_sets_are_held_by_check_constraints(
    table: str, constraint: str, values: tuple[str, ...]
) -> None:
    """Each closed set's CHECK constraint names every value of the set."""
    [check] = [
        c
        for c in Base.metadata.tables[table].constraints
        if isinstance(c, CheckConstraint) and c.name == constraint
    ]
    sql = str(check.sqltext)
    assert all(f"'{value}'" in sql for value in values), sql


def _offline_sql(*revisions: str) -> str:
    """The SQL Alembic renders for ``upgrade``/``downgrade`` to the given target, offline."""
    config = alembic_config()
    config.output_buffer = io.StringIO()
    direction, target = revisions
    if direction == "upgrade":
        command.upgrade(config, target, sql=True)
    else:
        command.downgrade(config, target, sql=True)
    return config.output_buffer.getvalue()


def test_the_revisions_render_as_sql_without_a_database() -> None:
    """--sql mode renders every table on the way up and drops every one on the way down."""
    up = _offline_sql("upgrade", "head")
    down = _offline_sql("downgrade", f"{head_revision()}:base")
    for table in TABLES:
        assert f"CREATE TABLE {table} (" in up
        assert f"DROP TABLE {table};" in down
    assert "COMMENT ON COLUMN migrations.id IS" in up
    assert up.index("CREATE TABLE dr_events") < up.index("CREATE TABLE migrations (")
    assert up.index("CREATE TABLE migrations (") < up.index("ALTER TABLE migrations ADD COLUMN")


def test_migrations_live_in_the_repository_directory() -> None:
    """The schema module finds migrations/ next to the package, with one head revision."""
    assert (MIGRATIONS_DIR / "env.py").is_file()
    assert head_revision() == "0004"


def test_migrating_without_a_database_url_says_how_to_give_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With no URL anywhere, env.py stops with a message naming GRIDSHIFT_DATABASE_URL."""
    monkeypatch.delenv("GRIDSHIFT_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    try:
        with pytest.raises(ConfigError, match="set GRIDSHIFT_DATABASE_URL, or pass -x url="):
            command.upgrade(alembic_config(), "head")
    finally:
        get_settings.cache_clear()
