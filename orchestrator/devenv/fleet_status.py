"""What `gridshift dev status` shows: each cluster's server, reachability, Ready nodes, processes
and memory."""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.devenv import procs
from orchestrator.devenv.fleet import Fleet


@dataclass(frozen=True)
class ClusterStatus:
    """What `gridshift dev status` shows for one cluster."""

    name: str
    server: str
    reachable: bool
    ready_nodes: int
    processes: int
    rss_bytes: int


def status(fleet: Fleet) -> list[ClusterStatus]:
    result = []
    for spec in fleet.specs:
        plane = fleet.control_plane(spec.name)
        mine = procs.find(str(plane.directory)) + procs.find(
            str(fleet.workdir / "nodes" / spec.name)
        )
        known = plane.local_kubeconfig.exists()
        reachable = fleet.reachable(spec.name) if known else False
        ready = 0
        if reachable:
            out = fleet.kubectl(
                spec.name, "get", "nodes", "-o",
                "jsonpath={range .items[*]}{.status.conditions[?(@.type=='Ready')].status}"
                "{'\\n'}{end}",
            )  # fmt: skip
            ready = out.split().count("True")
        server = fleet.server(spec.name) if known else "-"
        result.append(
            ClusterStatus(
                spec.name, server, reachable, ready, len(mine), sum(p.rss_bytes for p in mine)
            )
        )
    return result


def processes(fleet: Fleet) -> list[procs.Process]:
    """Live processes of the fleet: control planes, nodes, proxies, gateways, PostgreSQL."""
    found = procs.find(str(fleet.workdir))
    if fleet.postgres is not None:
        found += procs.find(str(fleet.postgres.data_dir))
    return found
