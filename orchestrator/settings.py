"""gridshift's one settings object, read from the environment (prefix ``GRIDSHIFT_``).

Every field is documented and validated when the settings are first read, so a bad value stops
the process at start with a message naming the variable. Secrets are ``SecretStr`` and never
printed.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
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
    webhook_replay_window_seconds: int = Field(
        default=300,
        ge=10,
        le=3600,
        description=(
            "webhook_replay_window_seconds: a signed request whose timestamp is further than "
            "this from our clock is refused with 401 (replay protection)."
        ),
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
    zone_refresh_seconds: int = Field(
        default=30,
        ge=1,
        le=3600,
        description="zone_refresh_seconds: period of re-reading GridZones from the hub.",
    )
    feed_timeout_seconds: float = Field(
        default=10.0, gt=0, le=120, description="feed_timeout_seconds: timeout of one feed poll."
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


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read from the environment once."""
    return Settings()
