"""One move of a real model server, under load, timed part by part.

    uv run python bench/real_move.py [--runs 3] [--init-seconds 15] [--model-size-gb 16]

Needs root: it starts its own fleet with real nodes in Shanghai and Hubei (kubelet, containerd,
the WAN proxy, the Traefik edge), PostgreSQL and a `gridshift run` process. The model-server
stand-in is given the H200 floor of an 8B bf16 model by default (15 s init + 16 GB at 1.5 GB/s:
25.7 s from process start to first token, cold). For each run it places the workload in
Shanghai, sends 10 requests/s through the edge (a third streaming), moves it to Hubei and
prints, from the Migration's phase times, the edge's live configuration (Traefik's API, polled
every 50 ms) and the answers' cluster header:

- total: the move's durationSeconds (start to Completed);
- readiness: WarmingUp's length — the target's pods loading and answering;
- overhead: total minus readiness — what gridshift adds (preflight, provisioning, the weight
  steps and their confirmations, draining, release);
- steps: from the first weight step applied to the data plane routing all traffic to Hubei;
- last step lag: from the route's last weight change stored to the data plane routing by it;
- total/readiness, against the 3-minute deadline.

Figures, not pass/fail.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from kubernetes import client, config

from orchestrator.api.common import GROUP, VERSION
from orchestrator.devenv import Fleet, LocalPostgres, default_cluster_specs, hub, locate_binaries
from orchestrator.devenv.dataplane import EDGE_GATEWAY, EDGE_NAMESPACE
from orchestrator.devenv.images import ensure_image
from orchestrator.devenv.loadgen import LoadPlan, run_load
from orchestrator.devenv.served import MODEL, ServedModel, host_name, served_workload
from orchestrator.ledger.schema import upgrade_to_head
from orchestrator.migration.routers.base import Backend, Route
from orchestrator.migration.routers.traefik import live_weights

NS = "bench"
CLUSTERS = ("shanghai", "hubei")
GRIDSHIFT = Path(sys.executable).parent / "gridshift"


def _wait(check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    raise SystemExit(f"timed out after {timeout:.0f} s waiting for {what}")


def _time(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


class EdgeWatch(threading.Thread):
    """Polls Traefik's live weights for one route every 50 ms; when did it first show each."""

    def __init__(self, api: str, route: Route) -> None:
        super().__init__(daemon=True)
        self.api, self.route = api, route
        self.first_seen: dict[tuple[tuple[str, int], ...], float] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        with httpx.Client(timeout=2) as http:
            while not self.stop.is_set():
                try:
                    services = http.get(f"{self.api}/api/http/services").json()
                    weights = live_weights(
                        services, self.route, gateway=(EDGE_NAMESPACE, EDGE_GATEWAY)
                    )
                except (httpx.HTTPError, ValueError):
                    weights = None
                if weights:
                    self.first_seen.setdefault(tuple(sorted(weights.items())), time.time())
                time.sleep(0.05)


def _run(
    fleet: Fleet, objects: client.CustomObjectsApi, image: str, model: ServedModel, index: int
) -> dict[str, float]:
    name = f"bench-{index}"
    body = served_workload(name, NS, image=image, home="shanghai", model=model)
    objects.create_namespaced_custom_object(GROUP, VERSION, NS, "inferenceworkloads", body)
    edge = fleet.dataplane
    _wait(
        lambda: (
            httpx.post(
                f"{edge.edge_url}/v1/completions",
                headers={"Host": host_name(NS, name)},
                json={"model": MODEL, "prompt": "x", "max_tokens": 1},
                timeout=5,
            ).status_code
            == 200
        ),
        model.init_seconds + model.model_size_gb / model.cold_load_gbps + 120,
        f"{name} answering through the edge",
    )
    route = Route(NS, name, {c: Backend(f"{name}-{c}", NS, 8000) for c in CLUSTERS})
    watch = EdgeWatch(edge.edge_api, route)
    watch.start()
    load_seconds = model.init_seconds + model.model_size_gb / model.cold_load_gbps
    plan = LoadPlan(
        url=edge.edge_url, host=host_name(NS, name), model=MODEL, rate_per_second=10,
        seconds=load_seconds + 45, stream_seconds=(5, 15),
        tokens_per_second=model.tokens_per_second, short_tokens=2,
    )  # fmt: skip
    report: dict[str, Any] = {}
    loader = threading.Thread(target=lambda: report.setdefault("r", asyncio.run(run_load(plan))))
    loader.start()
    time.sleep(3)
    migration = f"{name}-east"
    objects.create_namespaced_custom_object(
        GROUP, VERSION, NS, "migrations",
        {"apiVersion": f"{GROUP}/{VERSION}", "kind": "Migration",
         "metadata": {"name": migration, "namespace": NS},
         "spec": {"workload": name, "fromCluster": "shanghai", "toCluster": "hubei",
                  "reason": {"trigger": "Manual", "message": "benchmark"}}},
    )  # fmt: skip
    status = _wait(
        lambda: (
            s
            if (s := objects.get_namespaced_custom_object(GROUP, VERSION, NS, "migrations",
                                                          migration).get("status", {}))
            .get("phase") in ("Completed", "RolledBack", "Failed")
            else None
        ),
        300,
        f"{migration} to end",
    )  # fmt: skip
    loader.join()
    watch.stop.set()
    times = status["phaseTimes"]
    total = float(status["durationSeconds"])
    readiness = _time(times["shiftingTraffic"]) - _time(times["warmingUp"])
    all_there = watch.first_seen.get((("hubei", 100), ("shanghai", 0)))
    steps = (all_there - _time(times["shiftingTraffic"])) if all_there else float("nan")
    lag = (all_there - _last_route_change(objects, name)) if all_there else float("nan")
    loaded = report["r"]
    objects.delete_namespaced_custom_object(GROUP, VERSION, NS, "inferenceworkloads", name)
    return {
        "phase_ok": float(status["phase"] == "Completed"),
        "total": total,
        "readiness": readiness,
        "overhead": total - readiness,
        "steps": steps,
        "last_step_lag": lag,
        "ratio": total / readiness if readiness else float("nan"),
        "requests": float(len(loaded.results)),
        "failed": float(len(loaded.failures)),
    }


def _last_route_change(objects: client.CustomObjectsApi, name: str) -> float:
    """When the edge route's last spec change was stored (its managedFields' time)."""
    route: Any = objects.get_namespaced_custom_object(
        "gateway.networking.k8s.io", "v1", NS, "httproutes", name
    )
    stamps = [
        _time(m["time"]) for m in route["metadata"].get("managedFields", [])
        if m.get("manager") == "gridshift" and m.get("operation") == "Apply"
    ]  # fmt: skip
    return max(stamps)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--init-seconds", type=float, default=15.0)
    parser.add_argument("--model-size-gb", type=float, default=16.0)
    args = parser.parse_args()
    model = ServedModel(init_seconds=args.init_seconds, model_size_gb=args.model_size_gb)
    work = Path(tempfile.mkdtemp(prefix="gridshift-bench-"))
    specs = default_cluster_specs(CLUSTERS, gpu_nodes=1, real_nodes=CLUSTERS)
    fleet = Fleet(work / "fleet", locate_binaries(), specs)
    postgres = LocalPostgres.create()
    operator: subprocess.Popen[bytes] | None = None
    try:
        fleet.up(progress=lambda m: print(f"[fleet] {m}", flush=True))
        postgres.start()
        upgrade_to_head(postgres.url)
        hub.install_api(fleet, "shanghai")
        hub.register_members(fleet, "shanghai", list(CLUSTERS))
        hub.apply(fleet, "shanghai", [hub.namespace_manifest(NS)])
        objects = client.CustomObjectsApi(
            config.new_client_from_config(str(fleet.kubeconfig("shanghai")))
        )
        env = {
            **os.environ, "GRIDSHIFT_KUBECONFIG": str(fleet.kubeconfig("shanghai")),
            "GRIDSHIFT_DATABASE_URL": postgres.url, "GRIDSHIFT_LOG_LEVEL": "WARNING",
            **hub.operator_env(fleet),
        }  # fmt: skip
        log = (work / "operator.log").open("wb")
        operator = subprocess.Popen(
            [str(GRIDSHIFT), "run"], env=env, stdout=log, stderr=subprocess.STDOUT
        )
        image = ensure_image("modelserver").ref
        load = model.init_seconds + model.model_size_gb / model.cold_load_gbps
        print(f"one move shanghai -> hubei, model load {load:.1f} s (cold), 10 requests/s")
        keys = ("total", "readiness", "overhead", "steps", "last_step_lag", "ratio")
        print(f"{'run':>3} " + " ".join(f"{k:>13}" for k in keys) + "  requests failed")
        rows = []
        for index in range(args.runs):
            row = _run(fleet, objects, image, model, index)
            rows.append(row)
            print(
                f"{index:>3} " + " ".join(f"{row[k]:13.2f}" for k in keys)
                + f"  {row['requests']:8.0f} {row['failed']:6.0f}",
                flush=True,
            )  # fmt: skip
        print("med " + " ".join(f"{statistics.median(r[k] for r in rows):13.2f}" for k in keys))
    finally:
        if operator is not None:
            operator.send_signal(signal.SIGTERM)
            try:
                operator.wait(timeout=30)
            except subprocess.TimeoutExpired:
                operator.kill()
        fleet.down()
        postgres.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
