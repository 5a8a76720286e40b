"""The gridshift operator as the tests run it: a real `gridshift run` process against the fleet.

The hub is the fleet's ``shanghai`` cluster (a member doubles as hub to save memory). Each
member's kubeconfig (certificates inline) is a Secret in the hub, as in production.
"""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from kubernetes import client, config

from orchestrator.api.common import API_VERSION, GROUP
from orchestrator.api.kinds import KINDS
from orchestrator.devenv import Fleet, procs

REPO = Path(__file__).resolve().parents[1]
GRIDSHIFT = Path(sys.executable).parent / "gridshift"
HUB = "shanghai"
NAMESPACE = "gridshift-system"


def install_api(fleet: Fleet) -> None:
    """CRDs in the hub, Established."""
    crds = REPO / "manifests" / "crds"
    fleet.kubectl(HUB, "apply", "--server-side", "--field-manager=gridshift-tests", "-f", str(crds))
    fleet.kubectl(
        HUB, "wait", "--for=condition=Established", "--timeout=60s",
        *[f"crd/{k.plural}.{GROUP}" for k in KINDS],
    )  # fmt: skip


def register_members(fleet: Fleet, names: list[str]) -> None:
    """A kubeconfig Secret and a MemberCluster in the hub for each member."""
    core = client.CoreV1Api(config.new_client_from_config(str(fleet.kubeconfig(HUB))))
    objects = client.CustomObjectsApi(core.api_client)
    try:
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=NAMESPACE)))
    except client.ApiException as exc:
        if exc.status != 409:
            raise
    for name in names:
        data = {"kubeconfig": base64.b64encode(fleet.portable_kubeconfig(name).encode()).decode()}
        secret = client.V1Secret(metadata=client.V1ObjectMeta(name=f"member-{name}"), data=data)
        try:
            core.create_namespaced_secret(NAMESPACE, secret)
        except client.ApiException as exc:
            if exc.status != 409:
                raise
        member = {
            "apiVersion": API_VERSION,
            "kind": "MemberCluster",
            "metadata": {"name": name},
            "spec": {
                "zone": name,
                "kubeconfigSecretRef": {"name": f"member-{name}", "namespace": NAMESPACE},
            },
        }
        try:
            objects.create_cluster_custom_object(GROUP, "v1alpha1", "memberclusters", member)
        except client.ApiException as exc:
            if exc.status != 409:
                raise


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

    def start(self) -> None:
        self.starts += 1
        log = (self.log_dir / f"operator-{self.starts}.log").open("wb")
        env = {
            **os.environ,
            "GRIDSHIFT_KUBECONFIG": str(self.kubeconfig),
            "GRIDSHIFT_DATABASE_URL": self.database_url,
            "GRIDSHIFT_LOG_LEVEL": "INFO",
            "GRIDSHIFT_WEBHOOK_PORT": str(self.webhook_port),
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
