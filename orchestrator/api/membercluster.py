"""MemberCluster: one Kubernetes cluster in a grid zone, where inference can run."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from orchestrator.api.common import (
    MAX_GENERATION,
    Conditions,
    DNSLabel,
    DNSSubdomain,
    Model,
    SecretKeyRef,
)

TrafficRouterType = Literal["GatewayAPI", "None"]


class BackendRef(Model):
    """The backend that stands for this cluster in the edge cluster's HTTPRoute."""

    group: Annotated[str, StringConstraints(max_length=253)] = Field(
        default="", description='group of the backend ("" for a core Service).'
    )
    kind: Annotated[str, StringConstraints(min_length=1, max_length=63)] = Field(
        default="Service", description="kind of the backend."
    )
    name: DNSSubdomain = Field(description="name of the backend.")
    namespace: DNSLabel | None = Field(default=None, description="namespace of the backend.")
    port: int | None = Field(default=None, ge=1, le=65535, description="port of the backend.")


IPv4 = Annotated[
    str,
    StringConstraints(
        pattern=r"^((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}"
        r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])$",
        max_length=15,
    ),
]


class GatewayRef(Model):
    """A Gateway (gateway.networking.k8s.io) in the member cluster."""

    name: DNSSubdomain = Field(description="name of the Gateway.")
    namespace: DNSLabel = Field(description="namespace of the Gateway.")


class IngressGateway(Model):
    """This cluster's own ingress gateway, which the edge reaches and gridshift attaches each
    workload's route to."""

    gateway_ref: GatewayRef = Field(
        description=(
            "gatewayRef: the Gateway in this cluster; gridshift attaches an HTTPRoute per "
            "workload to it, matching the header X-Gridshift-Workload: <namespace>/<name>."
        )
    )
    address: IPv4 = Field(
        description=(
            "address (IPv4) at which the edge's data plane reaches that Gateway; gridshift "
            "writes it into an EndpointSlice per workload at the edge."
        )
    )
    port: int = Field(ge=1, le=65535, description="port of that Gateway's listener.")


class Traffic(Model):
    """How client traffic reaches this cluster."""

    router: TrafficRouterType = Field(
        default="None",
        description=(
            "router: GatewayAPI (weights on an HTTPRoute in the edge cluster) or None (clients "
            "resolve each cluster themselves; only replicas move)."
        ),
    )
    backend_ref: BackendRef | None = Field(
        default=None,
        description=(
            "backendRef of this cluster in the edge HTTPRoute (GatewayAPI): a backend you "
            "manage that reaches this cluster; ingress instead lets gridshift manage them."
        ),
    )
    ingress: IngressGateway | None = Field(
        default=None,
        description=(
            "ingress: this cluster's ingress gateway (GatewayAPI). With it gridshift owns, per "
            "workload, a route in this cluster and a backend Service and EndpointSlice at the "
            "edge, and checks that the target answers through it before moving traffic."
        ),
    )


class MemberClusterSpec(Model):
    """Where a member cluster is and how gridshift reaches it."""

    zone: DNSLabel = Field(description="zone: the GridZone this cluster draws power from.")
    kubeconfig_secret_ref: SecretKeyRef = Field(
        description="kubeconfigSecretRef: the Secret key holding a kubeconfig for gridshift."
    )
    max_gpus: int | None = Field(
        default=None,
        alias="maxGPUs",
        ge=0,
        le=100000,
        description="maxGPUs gridshift may use here; unset means all allocatable GPUs.",
    )
    gpu_resource_name: Annotated[str, StringConstraints(min_length=1, max_length=253)] = Field(
        default="nvidia.com/gpu",
        alias="gpuResourceName",
        description="gpuResourceName: the extended resource that counts GPUs.",
    )
    traffic: Traffic = Field(
        default_factory=Traffic, description="traffic: how clients reach this cluster."
    )
    cordoned: bool = Field(default=False, description="cordoned clusters receive no new moves.")


class MemberClusterStatus(Model):
    """The cluster as gridshift last probed it."""

    observed_generation: int | None = Field(
        default=None, ge=0, le=MAX_GENERATION, description="observedGeneration the status is for."
    )
    conditions: Conditions = Field(default_factory=list)
    kubernetes_version: Annotated[str, StringConstraints(max_length=64)] | None = Field(
        default=None, description="kubernetesVersion the API server reports."
    )
    allocatable_gpus: int = Field(
        default=0,
        alias="allocatableGPUs",
        ge=0,
        le=10000000,
        description="allocatableGPUs on Ready nodes.",
    )
    used_gpus: int = Field(
        default=0,
        alias="usedGPUs",
        ge=0,
        le=10000000,
        description="usedGPUs requested by pods that are not finished.",
    )
    free_gpus: int = Field(
        default=0,
        alias="freeGPUs",
        ge=0,
        le=10000000,
        description="freeGPUs: allocatable (capped by maxGPUs) minus used.",
    )
    ready_nodes: int = Field(default=0, ge=0, le=100000, description="readyNodes in the cluster.")
    last_probe_time: datetime | None = Field(
        default=None, description="lastProbeTime: when gridshift last reached the API server."
    )
