"""`gridshift migrations` and `gridshift decisions` read the real ledger in PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import Result
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from orchestrator.cli import app
from orchestrator.devenv.procs import free_port
from orchestrator.ledger import decision_repo, migration_repo
from orchestrator.ledger.records import CandidateScore

NOW = datetime.now(UTC).replace(microsecond=0)
TERMS = {"energy_cost": -0.25, "peak": 0.5, "green": 0.125, "latency": -1.0, "capacity": 0.0}


def gridshift(*args: str, env: dict[str, str | None] | None = None) -> Result:
    """The command, in process, on a wide terminal."""
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "250", **(env or {})})


def row_of(output: str, needle: str) -> list[str]:
    """The cells of the one table row containing ``needle``."""
    found = [line for line in output.splitlines() if needle in line]
    assert len(found) == 1, output
    return [cell.strip() for cell in found[0].split("│")[1:-1]]


def record_move(
    session: Session,
    name: str,
    *,
    workload: str,
    started: datetime,
    seconds: float | None,
    outcome: str = "Completed",
    met: bool = True,
) -> None:
    """A move with Preflight and WarmingUp phases, finished after ``seconds`` unless None."""
    uid = uuid.uuid4()
    migration_repo.record_migration_start(
        session,
        uid=uid,
        namespace="inference",
        name=name,
        workload=workload,
        from_cluster="shanghai",
        to_cluster="hubei",
        reason="peak",
        trigger="PeakLevel",
        deadline_seconds=180,
        started_at=started,
        replicas=2,
    )
    migration_repo.record_phase(
        session,
        migration_uid=uid,
        phase="Preflight",
        started_at=started,
        finished_at=started + timedelta(seconds=2),
    )
    migration_repo.record_phase(
        session, migration_uid=uid, phase="WarmingUp", started_at=started + timedelta(seconds=2)
    )
    if seconds is not None:
        migration_repo.finish_migration(
            session,
            uid=uid,
            outcome=outcome,
            finished_at=started + timedelta(seconds=seconds),
            deadline_met=met,
        )


@pytest.fixture
def ledger(factory: sessionmaker[Session], database_url: str) -> str:
    """A ledger holding four moves and two decisions; its URL."""
    with factory.begin() as session:
        record_move(
            session, "chat-fast", workload="chat", started=NOW - timedelta(minutes=5), seconds=96
        )
        record_move(
            session,
            "chat-late",
            workload="chat",
            started=NOW - timedelta(minutes=20),
            seconds=200,
            outcome="Completed",
            met=False,
        )
        record_move(
            session,
            "embed-now",
            workload="embed",
            started=NOW - timedelta(seconds=30),
            seconds=None,
        )
        record_move(
            session, "chat-old", workload="chat", started=NOW - timedelta(days=2), seconds=60
        )
        for minutes, action, chosen in ((10, "hold", None), (2, "move", "hubei")):
            decision_repo.record_decision(
                session,
                decided_at=NOW - timedelta(minutes=minutes),
                namespace="inference",
                workload="chat",
                zone="shanghai",
                action=action,
                reason=f"{action} because shanghai peaks",
                chosen_cluster=chosen,
                candidates=[
                    CandidateScore("hubei", 0.875, TERMS),
                    CandidateScore("ningxia", 0.5, {**TERMS, "latency": -2.0}),
                ],
            )
    return database_url


def test_migrations_lists_moves_newest_first_with_durations_and_phases(ledger: str) -> None:
    """Every move: route, trigger, outcome, duration against deadline, met, phase times."""
    done = gridshift("migrations", "--database-url", ledger)
    assert done.exit_code == 0, done.output
    names = [n for n in ("embed-now", "chat-fast", "chat-late", "chat-old") if n in done.stdout]
    assert names == ["embed-now", "chat-fast", "chat-late", "chat-old"]
    assert (
        done.stdout.index("embed-now")
        < done.stdout.index("chat-fast")
        < done.stdout.index("chat-late")
    )
    fast = row_of(done.stdout, "chat-fast")
    assert fast[3:8] == ["shanghai → hubei", "PeakLevel", "Completed", "1 min 36 s / 180 s", "yes"]
    assert fast[8].startswith("Preflight 2.0 s · WarmingUp 1 min 34 s")
    assert row_of(done.stdout, "chat-late")[7] == "MISSED"
    assert row_of(done.stdout, "embed-now")[5] == "WarmingUp (in flight)"


def test_migrations_filters_by_workload_since_and_limit(ledger: str) -> None:
    """--workload NS/NAME, --since 1h and --limit narrow the history."""
    done = gridshift(
        "migrations", "--workload", "inference/chat", "--since", "1h", "--database-url", ledger
    )
    assert done.exit_code == 0, done.output
    assert "chat-fast" in done.stdout
    assert "chat-late" in done.stdout
    assert "chat-old" not in done.stdout
    assert "embed-now" not in done.stdout
    one = gridshift("migrations", "--limit", "1", "--database-url", ledger)
    assert "embed-now" in one.stdout
    assert "chat-fast" not in one.stdout


def test_migrations_reads_the_database_url_from_the_environment(ledger: str) -> None:
    """GRIDSHIFT_DATABASE_URL is used when --database-url is not given; none found says so."""
    done = gridshift("migrations", "--since", "10m", env={"GRIDSHIFT_DATABASE_URL": ledger})
    assert done.exit_code == 0, done.output
    assert "chat-fast" in done.stdout
    empty = gridshift(
        "migrations", "--workload", "inference/none", env={"GRIDSHIFT_DATABASE_URL": ledger}
    )
    assert empty.exit_code == 0
    assert "No migration recorded." in empty.stdout


def test_decisions_show_each_candidates_terms(ledger: str) -> None:
    """The workload's decisions newest first, each candidate's total and terms."""
    done = gridshift("decisions", "inference/chat", "--database-url", ledger)
    assert done.exit_code == 0, done.output
    out = done.stdout
    assert out.index("move → hubei  move because shanghai peaks") < out.index("hold  hold because")
    assert next(line.split() for line in out.splitlines() if "energy_cost" in line) == [
        "candidate",
        "total",
        *TERMS,
    ]
    hubei_rows = [line.split() for line in out.splitlines() if "hubei" in line and "+0.875" in line]
    assert ["*", "hubei", "+0.875", "-0.250", "+0.500", "+0.125", "-1.000", "+0.000"] in hubei_rows
    assert any("-2.000" in line for line in out.splitlines() if "ningxia" in line)
    limited = gridshift("decisions", "inference/chat", "--limit", "1", "--database-url", ledger)
    assert "hold because" not in limited.stdout


def test_missing_database_url_names_the_variable() -> None:
    """Without --database-url or GRIDSHIFT_DATABASE_URL the error says what to set; exit 1."""
    done = gridshift("migrations", env={"GRIDSHIFT_DATABASE_URL": None})
    assert done.exit_code == 1
    assert "GRIDSHIFT_DATABASE_URL" in done.stderr
    assert "postgresql+psycopg://" in done.stderr
    decided = gridshift("decisions", "inference/chat", env={"GRIDSHIFT_DATABASE_URL": None})
    assert decided.exit_code == 1
    assert "GRIDSHIFT_DATABASE_URL" in decided.stderr


def test_an_unreachable_database_is_an_error_not_a_traceback() -> None:
    """A ledger nobody listens for fails with one error line and exit 1."""
    url = f"postgresql+psycopg://gridshift:x@127.0.0.1:{free_port()}/ledger"
    done = gridshift("migrations", "--database-url", url)
    assert done.exit_code == 1
    assert done.stderr.startswith("error: reading migration history failed")
    assert "Traceback" not in done.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("migrations", "--since", "yesterday"), "neither a duration"),
        (("migrations", "--workload", "chat"), "NAMESPACE/NAME"),
        (("decisions", "chat"), "NAMESPACE/NAME"),
    ],
)
def test_bad_arguments_are_usage_errors(args: tuple[str, ...], message: str) -> None:
    """A bad --since or workload is refused before anything is read, with exit 2."""
    done = gridshift(*args, "--database-url", "postgresql+psycopg://u:p@127.0.0.1:1/x")
    assert done.exit_code == 2
    assert message in done.stderr
