"""`gridshift dev up`, `status` and `down` as a person runs them: nothing is left behind."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from orchestrator.devenv import Fleet, procs
from orchestrator.devenv.binaries import Binaries

GRIDSHIFT = Path(sys.executable).parent / "gridshift"


def _gridshift(*args: str, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(GRIDSHIFT), "dev", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_dev_up_then_down_leaves_no_process_running(binaries: Binaries) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="gridshift-dev-cli-")) / "fleet"
    env = {**os.environ, "GRIDSHIFT_BIN_DIR": str(binaries.directory)}
    up = _gridshift(
        "up",
        "--clusters",
        "solo",
        "--gpu-nodes",
        "1",
        "--workdir",
        str(workdir),
        env=env,
        timeout=400,
    )
    try:
        assert up.returncode == 0, up.stderr + up.stdout
        assert "export GRIDSHIFT_KUBECONFIGS=solo=" in up.stdout
        assert "export GRIDSHIFT_DATABASE_URL=postgresql+psycopg://" in up.stdout
        running = {p.name for p in procs.find(str(workdir))}
        control_plane = {"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"}
        assert control_plane | {"kwok-controller"} <= running, running
        status = _gridshift("status", "--workdir", str(workdir), env=env, timeout=60)
        assert status.returncode == 0, status.stderr
        assert "solo" in status.stdout
        assert "yes" in status.stdout
        assert "postgresql 127.0.0.1" in status.stdout
        postgres = Fleet.load(workdir).postgres
        assert postgres is not None
        assert procs.find(str(postgres.data_dir)), "no PostgreSQL process found"
    finally:
        down = _gridshift("down", "--workdir", str(workdir), env=env, timeout=200)
    assert down.returncode == 0, down.stderr + down.stdout
    assert procs.find(str(workdir)) == []
    assert procs.find(str(postgres.data_dir)) == []
    assert not workdir.exists()
    assert not postgres.directory.exists()
    assert "postgresql: stopping" in down.stdout


def test_dev_status_without_a_fleet_says_how_to_start_one(tmp_path: Path) -> None:
    done = _gridshift(
        "status", "--workdir", str(tmp_path / "none"), env=dict(os.environ), timeout=30
    )
    assert done.returncode == 1
    assert "run `gridshift dev up`" in done.stderr
