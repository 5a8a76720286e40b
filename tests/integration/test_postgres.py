"""The local PostgreSQL is a real server that takes connections and writes."""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy.engine import make_url


def _conninfo(url: str, *, password: str | None = None) -> str:
    parsed = make_url(url).set(drivername="postgresql")
    if password is not None:
        parsed = parsed.set(password=password)
    return parsed.render_as_string(hide_password=False)


def test_postgres_accepts_a_connection_and_a_write(database_url: str) -> None:
    with psycopg.connect(_conninfo(database_url), autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS harness_probe (id int PRIMARY KEY, note text)")
        conn.execute("DELETE FROM harness_probe")
        conn.execute("INSERT INTO harness_probe VALUES (1, 'written')")
    with psycopg.connect(_conninfo(database_url)) as conn:
        row = conn.execute("SELECT note FROM harness_probe WHERE id = 1").fetchone()
        version = conn.execute("SHOW server_version_num").fetchone()
        conn.execute("DROP TABLE harness_probe")
        conn.commit()
    assert row == ("written",)
    assert version is not None
    assert int(version[0]) >= 150000


def test_postgres_refuses_a_wrong_password(database_url: str) -> None:
    """The server is not open to anyone on loopback: it checks the password."""
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(_conninfo(database_url, password="not-the-password"), connect_timeout=5)
