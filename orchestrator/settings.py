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
    log_level: str = Field(
        default="INFO",
        pattern=r"^(DEBUG|INFO|WARNING|ERROR)$",
        description="log_level: one of DEBUG, INFO, WARNING, ERROR.",
    )

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
