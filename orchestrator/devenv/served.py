"""InferenceWorkloads that serve for real: the model-server stand-in on the fleet's real nodes.

:func:`served_workload` is the InferenceWorkload the tests, the benchmarks and the demo use to
see requests answered while a workload moves: the ``modelserver`` image (:mod:`.images`), one
GPU per replica, scheduled only on real nodes (their label and taint, see kubelet.py), ready
when ``/health`` answers, reached through the edge by its host name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from orchestrator.api.common import API_VERSION
from orchestrator.devenv.kubelet import REAL_NODE_LABEL, REAL_NODE_TAINT

PORT = 8000
MODEL = "gridshift/standin-8b"


@dataclass(frozen=True)
class ServedModel:
    """How the stand-in behaves: its load time and its generation rate."""

    init_seconds: float = 3.0
    model_size_gb: float = 6.0
    """With the cold 1.5 GB/s that is 4 s of weights: 7 s from start to ready."""
    cold_load_gbps: float = 1.5
    """Disk to GPU, cold, as measured on one H200."""
    tokens_per_second: float = 20.0
    max_num_seqs: int = 256
    shutdown_timeout_seconds: float = 30.0


def host_name(namespace: str, name: str) -> str:
    """The host name the edge route of a served workload answers for."""
    return f"{name}.{namespace}.gridshift.test"


def served_workload(
    name: str,
    namespace: str,
    *,
    image: str,
    home: str,
    replicas: int = 2,
    model: ServedModel = ServedModel(),
    deadline_seconds: int = 180,
    drain_seconds: int = 30,
    labels: dict[str, str] | None = None,
    kw_per_replica: float | None = None,
) -> dict[str, Any]:
    """The InferenceWorkload of a model-server stand-in called ``name`` at home in ``home``."""
    env = {
        "MODELSERVER_MODEL": MODEL,
        "MODELSERVER_INIT_SECONDS": str(model.init_seconds),
        "MODELSERVER_MODEL_SIZE_GB": str(model.model_size_gb),
        "MODELSERVER_COLD_LOAD_GBPS": str(model.cold_load_gbps),
        "MODELSERVER_TOKENS_PER_SECOND": str(model.tokens_per_second),
        "MODELSERVER_MAX_NUM_SEQS": str(model.max_num_seqs),
        "MODELSERVER_SHUTDOWN_TIMEOUT": str(model.shutdown_timeout_seconds),
    }
    power: dict[str, Any] = {"gpusPerReplica": 1}
    if kw_per_replica is None:
        power["wattsPerGPU"] = 700
    else:
        power["kwPerReplica"] = kw_per_replica
    return {
        "apiVersion": API_VERSION,
        "kind": "InferenceWorkload",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(labels or {})},
        "spec": {
            "template": {
                "replicas": replicas,
                "template": {
                    "metadata": {"labels": {"app.kubernetes.io/name": name}},
                    "spec": {
                        "nodeSelector": {REAL_NODE_LABEL: "true"},
                        "tolerations": [{"key": REAL_NODE_TAINT, "operator": "Exists"}],
                        "containers": [
                            {
                                "name": "server",
                                "image": image,
                                "imagePullPolicy": "Never",
                                "env": [{"name": k, "value": v} for k, v in env.items()],
                                "ports": [{"name": "http", "containerPort": PORT}],
                                "readinessProbe": {
                                    "httpGet": {"path": "/health", "port": PORT},
                                    "periodSeconds": 1,
                                    "failureThreshold": 2,
                                },
                                "resources": {
                                    "requests": {
                                        "cpu": "20m",
                                        "memory": "48Mi",
                                        "nvidia.com/gpu": "1",
                                    },
                                    "limits": {"nvidia.com/gpu": "1"},
                                },
                            }
                        ],
                    },
                },
            },
            "servicePorts": [{"name": "http", "port": PORT, "targetPort": PORT}],
            "power": power,
            "placement": {"homeCluster": home},
            "migration": {
                "deadlineSeconds": deadline_seconds,
                "drainSeconds": drain_seconds,
            },
            "traffic": {"hostnames": [host_name(namespace, name)]},
        },
    }
