"""The local PostgreSQL is a real server that takes connections and writes, on loopback and
on the one more address it is told to listen on."""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy.engine import make_url

from orchestrator.devenv import LocalPostgres


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


def test_a_second_address_takes_its_clients_and_no_other_address_answers() -> None:
    """listen_on: the server restarts on loopback plus that address, keeps its data, lets the
    named client network in there, and still answers on no other address."""
    server = LocalPostgres.create().start()
    try:
        with psycopg.connect(_conninfo(server.url), autocommit=True) as conn:
            conn.execute("CREATE TABLE kept (note text)")
            conn.execute("INSERT INTO kept VALUES ('before the restart')")
        server.listen_on("127.0.0.2", clients="127.0.0.2/32")
        there = server.url.replace("@127.0.0.1:", "@127.0.0.2:")
        with psycopg.connect(_conninfo(there), connect_timeout=5) as conn:
            assert conn.execute("SELECT note FROM kept").fetchall() == [("before the restart",)]
        with psycopg.connect(_conninfo(server.url), connect_timeout=5) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        elsewhere = server.url.replace("@127.0.0.1:", "@127.0.0.3:")
        with pytest.raises(psycopg.OperationalError, match="refused"):
            psycopg.connect(_conninfo(elsewhere), connect_timeout=5)
        assert server.addresses == ("127.0.0.1", "127.0.0.2")
    finally:
        server.stop()
