"""The local fleet: real Kubernetes control planes (one per province) and a real PostgreSQL.

Used by ``gridshift dev up | status | down``, by ``make demo`` and by the test suite. Each cluster
is a real etcd, kube-apiserver, kube-controller-manager and kube-scheduler started by
``kwokctl --runtime binary``, with KWOK simulating GPU nodes and model-server readiness (see
``kwok-stages.yaml``). Everything binds to 127.0.0.1.
"""

from __future__ import annotations

from orchestrator.devenv.binaries import Binaries, locate_binaries
from orchestrator.devenv.fleet import Fleet, default_cluster_specs
from orchestrator.devenv.nodes import ClusterSpec
from orchestrator.devenv.postgres import LocalPostgres

__all__ = [
    "Binaries",
    "ClusterSpec",
    "Fleet",
    "LocalPostgres",
    "default_cluster_specs",
    "locate_binaries",
]
