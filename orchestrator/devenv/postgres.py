"""A throwaway PostgreSQL server on a free loopback port, from the system's server binaries.

``initdb`` and ``pg_ctl`` come from Debian's PostgreSQL packages (``/usr/lib/postgresql/N/bin``).
PostgreSQL refuses to run as root, so when we are root the server runs as the ``postgres`` system
user in a directory handed to it. It listens on 127.0.0.1, with no Unix socket, and is tuned for
tests (no fsync): it is for development and tests, never for a real ledger.

:meth:`LocalPostgres.listen_on` adds one more address (a real node's province reaches the host at
its host-side address, never at the host's loopback) for one client network, and restarts the
server: the operator's Pods on a real node reach the ledger there.

Two options serve other tests than the ledger's: ``bin_dir`` names another PostgreSQL's server
binaries (the OpenADR VTN needs 16 or newer), and ``prefix`` runs every command behind another
(``nsenter --net=...``), so the server's loopback is that network namespace's.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.devenv import procs
from orchestrator.errors import ConfigError, DevEnvError

DB_NAME = "gridshift"
DB_USER = "gridshift"


def postgres_bin_dir() -> Path:
    """The directory with ``initdb`` and ``pg_ctl``: $GRIDSHIFT_PG_BIN_DIR, Debian's, or PATH."""
    given = os.environ.get("GRIDSHIFT_PG_BIN_DIR")
    candidates = [Path(given)] if given else []
    candidates += sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    for directory in candidates:
        if (directory / "initdb").is_file() and (directory / "pg_ctl").is_file():
            return directory
    raise ConfigError(
        "PostgreSQL server binaries (initdb, pg_ctl) not found: install Debian's "
        "postgresql-15 package, or set GRIDSHIFT_PG_BIN_DIR, or give GRIDSHIFT_DATABASE_URL"
    )


@dataclass
class LocalPostgres:
    """One PostgreSQL server under ``directory`` (data, log), reachable at ``url``."""

    directory: Path
    port: int
    password: str = field(repr=False)
    run_as: str | None = None
    bin_dir: Path | None = None
    prefix: tuple[str, ...] = ()
    addresses: tuple[str, ...] = ("127.0.0.1",)
    """Where the server listens: loopback, and what :meth:`listen_on` added."""

    @classmethod
    def create(
        cls,
        directory: Path | None = None,
        *,
        bin_dir: Path | None = None,
        prefix: tuple[str, ...] = (),
    ) -> LocalPostgres:
        """A server not yet started: a fresh directory, a free port, a random password."""
        run_as = "postgres" if os.geteuid() == 0 else None
        target = directory or Path(tempfile.mkdtemp(prefix="gridshift-pg-"))
        target.mkdir(parents=True, exist_ok=True)
        if run_as is not None:
            shutil.chown(target, user=run_as, group=None)
        return cls(
            target, procs.free_port(), secrets.token_urlsafe(18), run_as, bin_dir, tuple(prefix)
        )

    @property
    def bins(self) -> Path:
        """The directory of ``initdb``, ``pg_ctl``, ``createdb`` and ``psql`` used."""
        return self.bin_dir or postgres_bin_dir()

    @property
    def data_dir(self) -> Path:
        return self.directory / "data"

    @property
    def log_file(self) -> Path:
        return self.directory / "postgres.log"

    @property
    def url(self) -> str:
        """The SQLAlchemy URL (psycopg 3 driver) of the ``gridshift`` database."""
        return f"postgresql+psycopg://{DB_USER}:{self.password}@127.0.0.1:{self.port}/{DB_NAME}"

    def _run(self, args: list[str], *, timeout: float, env: dict[str, str] | None = None) -> None:
        command = list(args)
        if self.run_as is not None:
            command = ["runuser", "-u", self.run_as, "--", *command]
        command = [*self.prefix, *command]
        try:
            subprocess.run(
                command,
                check=True,
                capture_output=True,
                text=True,
                timeout=timeout,
                cwd=self.directory,
                env={**os.environ, **(env or {})},
            )
        except subprocess.CalledProcessError as exc:
            raise DevEnvError(
                f"{Path(args[0]).name} failed ({exc.returncode}): {exc.stderr.strip()[-2000:]}"
            ) from exc
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise DevEnvError(f"{Path(args[0]).name} failed: {exc}") from exc

    def start(self) -> LocalPostgres:
        """Initialise (once) and start the server; wait until it accepts connections."""
        bins = self.bins
        fresh = not (self.data_dir / "PG_VERSION").exists()
        if fresh:
            pwfile = self.directory / ".pwfile"
            pwfile.write_text(self.password + "\n")
            if self.run_as is not None:
                shutil.chown(pwfile, user=self.run_as, group=None)
            pwfile.chmod(0o600)
            try:
                self._run(
                    [
                        str(bins / "initdb"),
                        "-D",
                        str(self.data_dir),
                        "-U",
                        DB_USER,
                        "--auth=scram-sha-256",
                        f"--pwfile={pwfile}",
                        "--encoding=UTF8",
                        "--locale=C",
                    ],
                    timeout=120,
                )
            finally:
                pwfile.unlink(missing_ok=True)
        self._pg_ctl(bins, "start")
        if fresh:
            self._create_database(bins)
        return self

    def listen_on(self, address: str, *, clients: str) -> None:
        """Also listen on ``address`` and let ``clients`` (a network, ``10.250.1.2/32``) in with
        the password; restart the running server so that it binds the address (open
        connections are cut, as by any restart)."""
        if address in self.addresses:
            return
        hba = self.data_dir / "pg_hba.conf"
        with hba.open("a") as file:
            file.write(f"host {DB_NAME} {DB_USER} {clients} scram-sha-256\n")
        self.addresses = (*self.addresses, address)
        self._pg_ctl(self.bins, "restart", "-m", "fast")

    def _pg_ctl(self, bins: Path, *action: str) -> None:
        options = " ".join(
            [
                f"-c listen_addresses={','.join(self.addresses)}",
                f"-p {self.port}",
                "-c unix_socket_directories=''",
                "-c fsync=off",
                "-c synchronous_commit=off",
                "-c full_page_writes=off",
                "-c max_connections=100",
            ]
        )
        self._run(
            [
                str(bins / "pg_ctl"),
                "-D",
                str(self.data_dir),
                "-l",
                str(self.log_file),
                "-o",
                options,
                "-w",
                "-t",
                "60",
                *action,
            ],
            timeout=90,
        )

    def _create_database(self, bins: Path) -> None:
        self._run(
            [
                str(bins / "createdb"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                DB_USER,
                DB_NAME,
            ],
            timeout=30,
            env={"PGPASSWORD": self.password},
        )

    def run_sql(self, sql_file: Path, *, timeout: float = 60) -> None:
        """Run the statements of ``sql_file`` in the ``gridshift`` database with ``psql``."""
        self._run(
            [
                str(self.bins / "psql"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                DB_USER,
                "-v",
                "ON_ERROR_STOP=1",
                "-q",
                "-f",
                str(sql_file),
                DB_NAME,
            ],
            timeout=timeout,
            env={"PGPASSWORD": self.password},
        )

    def is_running(self) -> bool:
        """Whether the server's postmaster is alive."""
        pid_file = self.data_dir / "postmaster.pid"
        try:
            pid = int(pid_file.read_text().splitlines()[0])
        except (OSError, ValueError, IndexError):
            return False
        return procs.is_alive(pid)

    def stop(self, *, remove: bool = True) -> None:
        """Stop the server (fast shutdown) and, by default, delete its directory."""
        if self.is_running():
            try:
                self._run(
                    [
                        str(self.bins / "pg_ctl"),
                        "-D",
                        str(self.data_dir),
                        "-m",
                        "fast",
                        "-w",
                        "-t",
                        "30",
                        "stop",
                    ],
                    timeout=60,
                )
            except DevEnvError:
                procs.terminate([p.pid for p in procs.find(str(self.data_dir))])
        if remove:
            shutil.rmtree(self.directory, ignore_errors=True)

    def to_state(self) -> dict[str, str | int | None]:
        """What `gridshift dev down` needs to find this server again."""
        return {
            "directory": str(self.directory),
            "port": self.port,
            "password": self.password,
            "run_as": self.run_as,
        }

    @classmethod
    def from_state(cls, state: dict[str, str | int | None]) -> LocalPostgres:
        run_as = state.get("run_as")
        return cls(
            Path(str(state["directory"])),
            int(str(state["port"])),
            str(state["password"]),
            str(run_as) if run_as else None,
        )
