"""InferenceWorkload: a model server that gridshift places and moves between clusters."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, StringConstraints, model_validator

from orchestrator.api.common import MAX_GENERATION, Conditions, DNSLabel, DNSSubdomain, Model

ReleaseMode = Literal["ScaleToZero", "Delete"]


class DeploymentTemplate(Model):
    """A plain apps/v1 Deployment spec. gridshift adds its labels and the selector.

    Only ``replicas`` and ``template`` are checked here; the rest (strategy, minReadySeconds,
    the whole pod template) is kept as written and validated by the target cluster's
    server-side dry-run before any move.
    """

    model_config = ConfigDict(extra="allow")

    replicas: int = Field(default=1, ge=1, le=1000, description="replicas the workload needs.")
    template: dict[str, Any] = Field(
        description="template: the pod template (apps/v1 PodTemplateSpec), kept as written.",
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True},
    )


class ServicePort(Model):
    """A port the workload's Service exposes."""

    name: DNSLabel = Field(description="name of the port.")
    port: int = Field(ge=1, le=65535, description="port the Service listens on.")
    target_port: int = Field(ge=1, le=65535, description="targetPort on the pods.")
    protocol: Literal["TCP", "UDP", "SCTP"] = Field(default="TCP", description="protocol.")


class Power(Model):
    """How much power one replica draws: kW directly, or GPUs times watts."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "has(self.kwPerReplica) || has(self.wattsPerGPU)",
                    "message": "set kwPerReplica, or wattsPerGPU with gpusPerReplica",
                }
            ]
        }
    )

    gpus_per_replica: int = Field(
        alias="gpusPerReplica", ge=0, le=64, description="gpusPerReplica each replica requests."
    )
    kw_per_replica: float | None = Field(
        default=None, gt=0, le=1000, description="kwPerReplica: measured draw of one replica, kW."
    )
    watts_per_gpu: int | None = Field(
        default=None,
        alias="wattsPerGPU",
        ge=1,
        le=5000,
        description="wattsPerGPU, used with gpusPerReplica when kwPerReplica is not set.",
    )

    @model_validator(mode="after")
    def _one_way_to_know(self) -> Power:
        if self.kw_per_replica is None and self.watts_per_gpu is None:
            raise ValueError("set kwPerReplica, or wattsPerGPU with gpusPerReplica")
        return self

    def kw_each(self) -> float:
        """Power of one replica in kW."""
        if self.kw_per_replica is not None:
            return self.kw_per_replica
        return self.gpus_per_replica * (self.watts_per_gpu or 0) / 1000.0


class Placement(Model):
    """Where the workload may run."""

    home_cluster: DNSLabel = Field(description="homeCluster: where it runs when the grid is calm.")
    allowed_zones: list[DNSLabel] = Field(
        default_factory=list,
        max_length=32,
        description="allowedZones it may move to; empty means any zone.",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    client_zone: DNSLabel | None = Field(
        default=None, description="clientZone where its users are; default: the home zone."
    )
    latency_slo_milliseconds: int | None = Field(
        default=None,
        alias="latencySLOMilliseconds",
        ge=1,
        le=10000,
        description="latencySLOMilliseconds: the largest round trip its users accept.",
    )
    movable: bool = Field(default=True, description="movable: false pins it to its home cluster.")


class MigrationSettings(Model):
    """How moves of this workload are carried out."""

    deadline_seconds: int = Field(
        default=180,
        ge=30,
        le=1800,
        description="deadlineSeconds a move may take before it rolls back.",
    )
    drain_seconds: int = Field(
        default=30, ge=0, le=600, description="drainSeconds in-flight requests get on the source."
    )
    release: ReleaseMode = Field(
        default="ScaleToZero",
        description="release: ScaleToZero keeps the source for a fast rollback; Delete removes it.",
    )
    traffic_steps: list[Annotated[int, Field(ge=1, le=100)]] = Field(
        default_factory=lambda: [10, 50, 100],
        min_length=1,
        max_length=10,
        description="trafficSteps: percent of traffic on the target after each step; ends at 100.",
        json_schema_extra={
            "x-kubernetes-list-type": "set",
            "x-kubernetes-validations": [
                {"rule": "self[size(self) - 1] == 100", "message": "the last step must be 100"},
                {"rule": "self.isSorted()", "message": "steps must increase"},
            ],
        },
    )
    priority: int = Field(
        default=100, ge=0, le=1000, description="priority breaks ties: higher moves first."
    )


Hostname = Annotated[
    str,
    StringConstraints(
        pattern=r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
        max_length=253,
    ),
]
MetricName = Annotated[
    str, StringConstraints(pattern=r"^[a-zA-Z_:][a-zA-Z0-9_:]*$", min_length=1, max_length=200)
]
DEFAULT_IN_FLIGHT_METRICS = ("vllm:num_requests_running", "vllm:num_requests_waiting")


class WorkloadTraffic(Model):
    """How users reach the workload through the edge (with the clusters' GatewayAPI router)."""

    hostnames: list[Hostname] = Field(
        default_factory=list,
        max_length=16,
        description=(
            "hostnames the edge route answers for (empty: every host name of the edge's "
            "Gateway listener)."
        ),
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="port: the service port traffic goes to (default: the first servicePort).",
    )
    health_path: Annotated[str, StringConstraints(pattern=r"^/", max_length=1024)] | None = Field(
        default=None,
        description=(
            "healthPath: the request a target must answer (200) through its ingress before "
            "any traffic moves to it (default: the first container's readinessProbe "
            "httpGet path, else /health)."
        ),
    )
    in_flight_metrics: list[MetricName] = Field(
        default_factory=lambda: list(DEFAULT_IN_FLIGHT_METRICS),
        max_length=8,
        description=(
            "inFlightMetrics: gauges on the pods' /metrics (of the traffic port) whose sum is "
            "the requests in flight; draining ends when the source's sum reaches 0 "
            "(default: vLLM's running and waiting requests)."
        ),
    )


class InferenceWorkloadSpec(Model):
    """A model server: its Deployment, Service, power draw, placement and move settings."""

    template: DeploymentTemplate = Field(
        description="template: the apps/v1 Deployment spec to run (replicas, pod template, ...)."
    )
    service_ports: list[ServicePort] = Field(
        default_factory=list,
        max_length=16,
        description="servicePorts of the Service gridshift creates beside the Deployment.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )
    power: Power = Field(description="power drawn per replica.")
    placement: Placement = Field(description="placement: where it may run.")
    migration: MigrationSettings = Field(
        default_factory=MigrationSettings, description="migration settings."
    )
    traffic: WorkloadTraffic | None = Field(
        default=None,
        description=(
            "traffic: set for a workload users reach through the edge; gridshift then routes "
            "it (a route at the edge with a weight per cluster, moved step by step), checks a "
            "target answers before traffic moves, and drains the source by its in-flight "
            "requests. Unset: only replicas move."
        ),
    )

    def traffic_port(self) -> int | None:
        """The service port routed traffic goes to, or None when the workload exposes none."""
        if self.traffic is not None and self.traffic.port is not None:
            return self.traffic.port
        return self.service_ports[0].port if self.service_ports else None

    def health_path(self) -> str:
        """The request that proves a copy answers (see WorkloadTraffic.health_path)."""
        if self.traffic is not None and self.traffic.health_path:
            return self.traffic.health_path
        containers = self.template.template.get("spec", {}).get("containers") or [{}]
        probe = (containers[0] or {}).get("readinessProbe") or {}
        path = (probe.get("httpGet") or {}).get("path")
        return str(path) if isinstance(path, str) and path.startswith("/") else "/health"


class InferenceWorkloadStatus(Model):
    """Where the workload runs now and how it is doing."""

    observed_generation: int | None = Field(
        default=None, ge=0, le=MAX_GENERATION, description="observedGeneration the status is for."
    )
    conditions: Conditions = Field(default_factory=list)
    current_cluster: DNSLabel | None = Field(
        default=None, description="currentCluster where it serves now."
    )
    placed_at: datetime | None = Field(
        default=None, description="placedAt: when it arrived in currentCluster (for dwell time)."
    )
    desired_replicas: int = Field(default=0, ge=0, le=1000, description="desiredReplicas.")
    ready_replicas: int = Field(default=0, ge=0, le=100000, description="readyReplicas now.")
    power_kw: float = Field(
        default=0.0,
        alias="powerKW",
        ge=0,
        le=10000000,
        description="powerKW drawn by ready replicas.",
    )
    active_migration: DNSSubdomain | None = Field(
        default=None, description="activeMigration: the Migration moving it now, if any."
    )
    last_migration: DNSSubdomain | None = Field(
        default=None, description="lastMigration that finished."
    )
    last_migration_time: datetime | None = Field(
        default=None, description="lastMigrationTime: when it finished."
    )
    message: Annotated[str, StringConstraints(max_length=4096)] = Field(
        default="", description="message for people about the workload's state."
    )
