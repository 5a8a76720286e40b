"""The gridshift operator as the tests run it: a real `gridshift run` process against the fleet.

The hub is the fleet's ``shanghai`` cluster (a member doubles as hub to save memory). Each
member's kubeconfig (certificates inline) is a Secret in the hub, as in production.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.devenv import Fleet, hub, procs

GRIDSHIFT = Path(sys.executable).parent / "gridshift"
HUB = "shanghai"
NAMESPACE = "gridshift-system"


def install_api(fleet: Fleet) -> None:
    """CRDs in the hub, Established."""
    hub.install_api(fleet, HUB)


def register_members(fleet: Fleet, names: list[str]) -> None:
    """A kubeconfig Secret and a MemberCluster in the hub for each member."""
    hub.register_members(fleet, HUB, names, NAMESPACE)


@dataclass
class Operator:
    """One `gridshift run` process; kill it, start another."""

    kubeconfig: Path
    database_url: str
    log_dir: Path
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0
    env: dict[str, str] = field(default_factory=dict)
    webhook_port: int = field(default_factory=procs.free_port)
    api_port: int = field(default_factory=procs.free_port)
    pod_name: str = field(default_factory=lambda: f"gridshift-{uuid.uuid4().hex[:8]}")
    """Its identity in the leader Lease, kept across restarts as a Pod's name is."""

    def start(self) -> None:
        self.starts += 1
        log = (self.log_dir / f"operator-{self.starts}.log").open("wb")
        env = {
            **os.environ,
            "GRIDSHIFT_KUBECONFIG": str(self.kubeconfig),
            "GRIDSHIFT_DATABASE_URL": self.database_url,
            "GRIDSHIFT_LOG_LEVEL": "INFO",
            "GRIDSHIFT_WEBHOOK_PORT": str(self.webhook_port),
            "GRIDSHIFT_API_PORT": str(self.api_port),
            "GRIDSHIFT_POD_NAME": self.pod_name,
            **self.env,
        }
        self.process = subprocess.Popen(
            [str(GRIDSHIFT), "run"], stdout=log, stderr=subprocess.STDOUT, env=env
        )

    def kill(self) -> None:
        """SIGKILL: no goodbye, no cleanup, as a crash."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)
        self.process = None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log(self) -> str:
        path = self.log_dir / f"operator-{self.starts}.log"
        return path.read_text(errors="replace") if path.exists() else ""
