"""gridshift's one settings object, read from the environment (prefix ``GRIDSHIFT_``).

Every field is documented and validated when the settings are first read, so a bad value stops
the process at start with a message naming the variable. Secrets are ``SecretStr`` and never
printed.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AnyHttpUrl, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def _default_state_dir() -> Path:
    return Path.home() / ".local" / "state" / "gridshift"


class Settings(BaseSettings):
    """Settings of the gridshift process and its development tools."""

    model_config = SettingsConfigDict(env_prefix="GRIDSHIFT_", extra="ignore", frozen=True)

    database_url: SecretStr | None = Field(
        default=None,
        description=(
            "database_url: SQLAlchemy URL of the ledger's PostgreSQL database "
            "(postgresql+psycopg://user:password@host:port/db). When unset, the local "
            "development harness starts its own PostgreSQL."
        ),
    )
    bin_dir: Path | None = Field(
        default=None,
        description=(
            "bin_dir: directory holding etcd, kube-apiserver, kube-controller-manager, "
            "kube-scheduler, kubectl, kwok, kwokctl and helm. When unset, the directory "
            "hack/build-k8s-binaries.sh caches them in is used."
        ),
    )
    cache: Path = Field(
        default_factory=lambda: Path.home() / ".cache" / "gridshift",
        description=(
            "cache: where built things are kept between runs: the Kubernetes binaries "
            "(hack/build-k8s-binaries.sh reads the same variable) and the container images "
            "under images/ (`gridshift dev images`)."
        ),
    )
    dev_dir: Path = Field(
        default_factory=lambda: _default_state_dir() / "fleet",
        description=(
            "dev_dir: working directory of the local fleet started by `gridshift dev up` "
            "(kubeconfigs, logs, process ids, the fleet's state file)."
        ),
    )
    kubeconfigs: Annotated[dict[str, Path], NoDecode] = Field(
        default_factory=dict,
        description=(
            "kubeconfigs: member clusters by name, as `name=path,name=path` (for example "
            "`shanghai=/k/sh.yaml,hubei=/k/hb.yaml`). The end-to-end tests run against these "
            "clusters when given, and against a local fleet they start otherwise."
        ),
    )
    kubeconfig: Path | None = Field(
        default=None,
        description=(
            "kubeconfig: kubeconfig file of the hub cluster, where gridshift's custom resources "
            "live. When unset, gridshift uses its in-cluster ServiceAccount."
        ),
    )
    namespace: str = Field(
        default="gridshift-system",
        min_length=1,
        max_length=63,
        pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
        description="namespace of gridshift in the hub: its Secrets, Leases and Events.",
    )
    edge_kubeconfig: Path | None = Field(
        default=None,
        description=(
            "edge_kubeconfig: kubeconfig of the edge cluster holding the HTTPRoutes the "
            "gateway-api router shifts; when unset, the hub is the edge."
        ),
    )
    edge_gateway: str = Field(
        default="edge",
        min_length=1,
        max_length=317,
        pattern=r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?/)?[a-z0-9]([-.a-z0-9]*[a-z0-9])?$",
        description=(
            "edge_gateway: the Gateway every workload's edge route attaches to, as `NAME` (in "
            "the workload's namespace) or `NAMESPACE/NAME`."
        ),
    )
    edge_dataplane_url: AnyHttpUrl | None = Field(
        default=None,
        description=(
            "edge_dataplane_url: Traefik's API at the edge (its `api.insecure` entry point, e.g. "
            "`http://traefik-api:9000`); when set, a weight step counts as done only once "
            "Traefik's live configuration routes by it, besides the route's status."
        ),
    )
    traffic_step_timeout_seconds: float = Field(
        default=20.0,
        ge=1,
        le=300,
        description=(
            "traffic_step_timeout_seconds: how long a weight step may take to reach the edge's "
            "data plane before it counts as failed (the move then rolls back)."
        ),
    )
    fault_pause_seconds: Annotated[dict[str, float], NoDecode] = Field(
        default_factory=dict,
        description=(
            "fault_pause_seconds: fault injection for tests, as `Phase=seconds,...` (for example "
            "`Provisioning=3`): a migration waits that long in each named phase before acting, "
            "so a test can kill the operator inside it. Never set in production."
        ),
    )
    log_level: str = Field(
        default="INFO",
        pattern=r"^(DEBUG|INFO|WARNING|ERROR)$",
        description="log_level: one of DEBUG, INFO, WARNING, ERROR.",
    )
    log_format: Literal["text", "json"] = Field(
        default="text",
        description=(
            "log_format: `text` (one readable line per record) or `json` (one JSON object per "
            "line: time, level, logger, message, and the record's key-values such as "
            "`migration`), for log collectors."
        ),
    )
    # Grid signals: the webhook, its authentication, and the processing behind it.
    webhook_host: str = Field(
        default="127.0.0.1",
        min_length=1,
        max_length=253,
        description=(
            "webhook_host: address the signal webhook (native JSON and OpenADR callback) binds "
            "to. The default serves loopback only, for development; use 0.0.0.0 in a Pod."
        ),
    )
    webhook_port: int = Field(
        default=8080, ge=1, le=65535, description="webhook_port: TCP port of the signal webhook."
    )
    webhook_body_limit_bytes: int = Field(
        default=1024 * 1024,
        ge=1024,
        le=64 * 1024 * 1024,
        description="webhook_body_limit_bytes: larger request bodies are refused with 413.",
    )
    webhook_body_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        le=300,
        description="webhook_body_timeout_seconds: a body not complete in this time gets 408.",
    )
    webhook_max_concurrent_bodies: int = Field(
        default=64,
        ge=1,
        le=10000,
        description=(
            "webhook_max_concurrent_bodies: bodies received at once (before they can be "
            "authenticated); beyond it a request is answered 503 with Retry-After at once."
        ),
    )
    webhook_replay_window_seconds: int = Field(
        default=300,
        ge=10,
        le=3600,
        description=(
            "webhook_replay_window_seconds: a signed request whose timestamp is further than "
            "this from our clock is refused with 401 (replay protection)."
        ),
    )
    api_host: str = Field(
        default="127.0.0.1",
        min_length=1,
        max_length=253,
        description=(
            "api_host: address of the port serving the read API, /metrics, /readyz, /docs and "
            "/openapi.json (never the webhook's port); use 0.0.0.0 in a Pod."
        ),
    )
    api_port: int = Field(
        default=8081, ge=1, le=65535, description="api_port: TCP port of the read API and metrics."
    )
    webhook_token_secret: str = Field(
        default="gridshift-grid-operators",
        min_length=1,
        max_length=253,
        pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$",
        description=(
            "webhook_token_secret: Secret in `namespace` holding one bearer token per grid "
            "operator (key = operator name, value = token) and, optionally, an HMAC key per "
            "operator under `<operator>.hmac`; with one, that operator's requests must be signed."
        ),
    )
    signal_lookback_seconds: int = Field(
        default=86400,
        ge=3600,
        le=30 * 86400,
        description=(
            "signal_lookback_seconds: how far back the processor reads the ledger to derive zone "
            "state and to resume signals left unprocessed by a restart."
        ),
    )
    signal_horizon_seconds: int = Field(
        default=2 * 86400,
        ge=3600,
        le=14 * 86400,
        description="signal_horizon_seconds: how far ahead zone forecasts and DR windows reach.",
    )
    signal_reconcile_seconds: int = Field(
        default=30,
        ge=1,
        le=3600,
        description=(
            "signal_reconcile_seconds: period of the full reconcile of every zone's state "
            "(it also turns zones Stale when their signals age past the TTL)."
        ),
    )
    planner_interval_seconds: float = Field(
        default=15.0,
        ge=1,
        le=3600,
        description=(
            "planner_interval_seconds: the leader plans at least this often; it also plans "
            "within a second of any change to zones, clusters, workloads, policies or events."
        ),
    )
    zone_refresh_seconds: int = Field(
        default=30,
        ge=1,
        le=3600,
        description="zone_refresh_seconds: period of re-reading GridZones from the hub.",
    )
    feed_timeout_seconds: float = Field(
        default=10.0, gt=0, le=120, description="feed_timeout_seconds: timeout of one feed poll."
    )
    feed_allowed_hosts: Annotated[tuple[str, ...], NoDecode] = Field(
        default=("api.electricitymaps.com", "web-api.tp.entsoe.eu"),
        description=(
            "feed_allowed_hosts: host names (comma-separated; `*.example.com` for a domain's "
            "subdomains) that feeds and VTNs may be polled at; a GridZone naming any other host "
            "is refused, and link-local or cloud metadata addresses always are. Add your own "
            "feeds' and VTNs' hosts."
        ),
    )
    openadr_callback_url: str | None = Field(
        default=None,
        max_length=2048,
        pattern=r"^https?://",
        description=(
            "openadr_callback_url: public URL of our /openadr/callback. When set, gridshift "
            "registers a webhook subscription with every VTN an OpenADRPoll feed names; "
            "otherwise it only polls."
        ),
    )
    openadr_client_name: str = Field(
        default="gridshift",
        min_length=1,
        max_length=128,
        description="openadr_client_name: clientName of our subscriptions and reports at VTNs.",
    )
    # Leader election and shutdown: two replicas, one of them acting.
    leader_election: bool = Field(
        default=True,
        description=(
            "leader_election: elect a leader with a Lease in `namespace`; only the leader "
            "drives migrations and runs jobs, every replica serves the webhook. Turn it off "
            "only for a single replica in development (`GRIDSHIFT_LEADER_ELECTION=false`)."
        ),
    )
    lease_name: str = Field(
        default="gridshift-leader",
        min_length=1,
        max_length=253,
        pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$",
        description="lease_name: name of the coordination.k8s.io Lease in `namespace`.",
    )
    lease_duration_seconds: int = Field(
        default=15,
        ge=5,
        le=300,
        description=(
            "lease_duration_seconds: how long a leader's claim lasts after its last renewal; "
            "a follower takes over this long after a leader dies without releasing the Lease."
        ),
    )
    lease_renew_seconds: int = Field(
        default=5,
        ge=1,
        le=120,
        description=(
            "lease_renew_seconds: how often the leader renews the Lease. A leader that has not "
            "renewed for `lease_duration_seconds - lease_renew_seconds` (the renew deadline) "
            "stops and exits, before any follower may take over."
        ),
    )
    lease_retry_seconds: int = Field(
        default=2,
        ge=1,
        le=60,
        description=(
            "lease_retry_seconds: how often a follower tries to take the Lease, and a leader "
            "retries a failed renewal."
        ),
    )
    pod_name: str | None = Field(
        default=None,
        min_length=1,
        max_length=253,
        pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$",
        description=(
            "pod_name: this replica's identity in the Lease, unique among replicas (set "
            "`GRIDSHIFT_POD_NAME` from the downward API's `metadata.name`); when unset, the "
            "host name and process id."
        ),
    )
    shutdown_grace_seconds: int = Field(
        default=20,
        ge=1,
        le=3600,
        description=(
            "shutdown_grace_seconds: after SIGTERM, how long migrations may take to finish the "
            "step they are applying (none starts a new one) before they are cancelled; keep it "
            "below the Pod's terminationGracePeriodSeconds."
        ),
    )

    @field_validator("fault_pause_seconds", mode="before")
    @classmethod
    def _parse_pauses(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        pauses: dict[str, float] = {}
        for item in filter(None, (part.strip() for part in value.split(","))):
            phase, sep, seconds = item.partition("=")
            if not sep:
                raise ValueError(f"expected Phase=seconds, got {item!r}")
            pauses[phase.strip()] = float(seconds)
        return pauses

    @field_validator("feed_allowed_hosts", mode="before")
    @classmethod
    def _parse_hosts(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        hosts = tuple(part.strip().lower() for part in value.split(",") if part.strip())
        for host in hosts:
            bare = host.removeprefix("*.")
            if not bare or "/" in bare or ":" in bare or "*" in bare or " " in bare:
                raise ValueError(f"expected a host name or *.domain, got {host!r}")
        return hosts

    @field_validator("kubeconfigs", mode="before")
    @classmethod
    def _parse_kubeconfigs(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        parsed: dict[str, Path] = {}
        for item in filter(None, (part.strip() for part in value.split(","))):
            name, sep, path = item.partition("=")
            if not sep or not name.strip() or not path.strip():
                raise ValueError(f"expected name=path, got {item!r}")
            if name.strip() in parsed:
                raise ValueError(f"cluster {name.strip()!r} is named twice")
            parsed[name.strip()] = Path(path.strip())
        return parsed

    @model_validator(mode="after")
    def _check_lease_timing(self) -> Settings:
        renew, retry = self.lease_renew_seconds, self.lease_retry_seconds
        if retry > renew:
            raise ValueError(
                f"lease_retry_seconds ({retry}) must not exceed lease_renew_seconds ({renew})"
            )
        if 2 * renew + retry > self.lease_duration_seconds:
            raise ValueError(
                f"lease_renew_seconds ({renew}) must renew well inside the lease: "
                f"2 x lease_renew_seconds + lease_retry_seconds must not exceed "
                f"lease_duration_seconds ({self.lease_duration_seconds}), so a missed renewal "
                "is retried before the renew deadline"
            )
        return self


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read from the environment once."""
    return Settings()
