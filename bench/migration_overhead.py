"""How much time gridshift adds to a move, beyond waiting for the target's model to load.

    uv run python bench/migration_overhead.py [--cases 1,10,50] [--load-seconds 30]

Starts its own fleet (shanghai, hubei; enough simulated GPU nodes), PostgreSQL and a
`gridshift run` process, then for each case moves N workloads (1 replica, 1 GPU, drain 0)
from shanghai to hubei at once. For each move:

    overhead = durationSeconds - (phaseTimes.shiftingTraffic - phaseTimes.warmingUp)

that is, the whole move minus the time the engine spent waiting for the target to be ready
(the simulated model load plus scheduling). Prints p50 / p95 / max per case. Figures, not a
pass/fail: the goal is p95 under 2 s at 50 concurrent moves.
"""

from __future__ import annotations

import argparse
import itertools
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from kubernetes import client, config

from orchestrator.api.common import API_VERSION, GROUP, VERSION
from orchestrator.devenv import Fleet, LocalPostgres, default_cluster_specs, hub, locate_binaries
from orchestrator.ledger.schema import upgrade_to_head

NS = "bench"
GRIDSHIFT = Path(sys.executable).parent / "gridshift"


def _setup_hub(fleet: Fleet) -> client.CustomObjectsApi:
    hub.install_api(fleet, "shanghai")
    hub.register_members(fleet, "shanghai", ["shanghai", "hubei"])
    hub.apply(fleet, "shanghai", [hub.namespace_manifest(NS)])
    return client.CustomObjectsApi(config.new_client_from_config(str(fleet.kubeconfig("shanghai"))))


def _workload(name: str, load_seconds: int) -> dict[str, Any]:
    gpu = {"nvidia.com/gpu": "1"}
    return {
        "apiVersion": API_VERSION,
        "kind": "InferenceWorkload",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "template": {
                "replicas": 1,
                "template": {
                    "metadata": {
                        "annotations": {"sim.gridshift.io/ready-after": f"{load_seconds}s"}
                    },
                    "spec": {
                        "containers": [
                            {
                                "name": "server",
                                "image": "registry.invalid/m:1",
                                "resources": {"requests": gpu, "limits": gpu},
                            }
                        ]
                    },
                },
            },
            "power": {"gpusPerReplica": 1, "wattsPerGPU": 700},
            "placement": {"homeCluster": "shanghai"},
            "migration": {"drainSeconds": 0},
        },
    }


def _wait(check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    raise SystemExit(f"timed out waiting for {what}")


ORDER = [
    "pending",
    "preflight",
    "provisioning",
    "warmingUp",
    "shiftingTraffic",
    "draining",
    "releasing",
    "completed",
]


def _phase_seconds(times: dict[str, datetime]) -> dict[str, float]:
    """Seconds spent in each phase, from the start of one to the start of the next."""
    present = [p for p in ORDER if p in times]
    return {a: (times[b] - times[a]).total_seconds() for a, b in itertools.pairwise(present)}


def _case(objects: client.CustomObjectsApi, n: int, load: int, tag: str) -> list[float]:
    names = [f"{tag}-{i:02d}" for i in range(n)]
    for name in names:
        objects.create_namespaced_custom_object(
            GROUP, VERSION, NS, "inferenceworkloads", _workload(name, load)
        )

    def status(plural: str, name: str) -> dict[str, Any]:
        return dict(
            objects.get_namespaced_custom_object(GROUP, VERSION, NS, plural, name).get("status")
            or {}
        )

    _wait(
        lambda: all(status("inferenceworkloads", w).get("readyReplicas") == 1 for w in names),
        load + 120,
        "the workloads to be ready at home",
    )
    for name in names:
        objects.create_namespaced_custom_object(
            GROUP,
            VERSION,
            NS,
            "migrations",
            {
                "apiVersion": API_VERSION,
                "kind": "Migration",
                "metadata": {"name": f"{name}-move", "namespace": NS},
                "spec": {"workload": name, "fromCluster": "shanghai", "toCluster": "hubei"},
            },
        )

    def ended() -> bool:
        listed = objects.list_namespaced_custom_object(GROUP, VERSION, NS, "migrations")
        phases = {
            m["metadata"]["name"]: (m.get("status") or {}).get("phase") for m in listed["items"]
        }
        return all(phases.get(f"{w}-move") in ("Completed", "RolledBack", "Failed") for w in names)

    _wait(
        ended,
        load + 240,
        "the moves to end",
    )
    overheads = []
    spent: dict[str, list[float]] = {}
    for name in names:
        s = status("migrations", f"{name}-move")
        if s["phase"] != "Completed":
            print(f"  {name}: {s['phase']} {s.get('message', '')}")
            continue
        times = {k: datetime.fromisoformat(v) for k, v in s["phaseTimes"].items() if v}
        waiting = (times["shiftingTraffic"] - times["warmingUp"]).total_seconds()
        overheads.append(float(s["durationSeconds"]) - waiting)
        for phase, seconds in _phase_seconds(times).items():
            spent.setdefault(phase, []).append(seconds)
    print(
        "  mean seconds per phase: "
        + ", ".join(f"{p} {statistics.mean(v):.2f}" for p, v in spent.items()),
        flush=True,
    )
    return overheads


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1] if __doc__ else None)
    parser.add_argument("--cases", default="1,10,50")
    parser.add_argument("--load-seconds", type=int, default=30)
    args = parser.parse_args()
    cases = [int(c) for c in args.cases.split(",")]
    nodes = max(2, (2 * max(cases) + 7) // 8)
    work = Path(tempfile.mkdtemp(prefix="gridshift-bench-"))
    fleet = Fleet(
        work / "fleet",
        locate_binaries(),
        default_cluster_specs(("shanghai", "hubei"), gpu_nodes=nodes, gpus_per_node=8),
    )
    postgres = LocalPostgres.create()
    operator: subprocess.Popen[bytes] | None = None
    try:
        fleet.up(progress=lambda m: print(f"[fleet] {m}", flush=True))
        postgres.start()
        upgrade_to_head(postgres.url)
        objects = _setup_hub(fleet)
        env = {
            **os.environ,
            "GRIDSHIFT_KUBECONFIG": str(fleet.kubeconfig("shanghai")),
            "GRIDSHIFT_DATABASE_URL": postgres.url,
            "GRIDSHIFT_LOG_LEVEL": "WARNING",
        }
        log = (work / "operator.log").open("wb")
        operator = subprocess.Popen(
            [str(GRIDSHIFT), "run"], env=env, stdout=log, stderr=subprocess.STDOUT
        )
        print(f"moves shanghai -> hubei, {args.load_seconds} s model load, drain 0 s")
        print(f"{'concurrent':>10} {'done':>5} {'p50 s':>7} {'p95 s':>7} {'max s':>7}")
        for n in cases:
            found = _case(objects, n, args.load_seconds, f"c{n}")
            if not found:
                print(f"{n:>10} {0:>5}")
                continue
            print(
                f"{n:>10} {len(found):>5} {statistics.median(found):7.2f} "
                f"{_quantile(found, 0.95):7.2f} {max(found):7.2f}",
                flush=True,
            )
    finally:
        if operator is not None:
            operator.send_signal(signal.SIGTERM)
            try:
                operator.wait(timeout=20)
            except subprocess.TimeoutExpired:
                operator.kill()
        fleet.down()
        postgres.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
