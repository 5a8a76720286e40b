"""Kubernetes API clients and the few idioms every caller shares.

The official ``kubernetes`` client is synchronous; async callers run it with
``asyncio.to_thread``. Every API error leaves this package as a :class:`ClusterError` that
keeps the HTTP status, so callers decide on ``not_found`` / ``conflict`` / ``unreachable``
without importing the client.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from orchestrator.errors import ClusterError

FIELD_MANAGER = "gridshift"
"""The field manager of every server-side apply gridshift makes."""

APPLY = "application/apply-patch+yaml"
MERGE = "application/merge-patch+json"


class KubeError(ClusterError):
    """A Kubernetes API call failed; ``status`` is the HTTP status, 0 when unreachable."""

    def __init__(self, message: str, *, status: int, cluster: str) -> None:
        super().__init__(message)
        self.status = status
        self.cluster = cluster

    @property
    def not_found(self) -> bool:
        return self.status == 404

    @property
    def conflict(self) -> bool:
        return self.status == 409

    @property
    def unreachable(self) -> bool:
        return self.status == 0 or self.status >= 500


def call(cluster: str, what: str, fn: Callable[..., object], *args: Any, **kwargs: Any) -> Any:
    """Run one API call; turn its failures into :class:`KubeError` naming cluster and action.

    The generated client's models are loosely typed (every field optional); what this package
    returns to other layers is converted to typed values first.
    """
    try:
        return fn(*args, **kwargs)
    except ApiException as exc:
        reason = _reason(exc)
        raise KubeError(
            f"{what} on cluster {cluster!r} failed ({exc.status}): {reason}",
            status=int(exc.status or 0),
            cluster=cluster,
        ) from exc
    except (HTTPError, OSError) as exc:
        raise KubeError(
            f"{what} on cluster {cluster!r}: unreachable ({exc})", status=0, cluster=cluster
        ) from exc


def read_or_none(
    cluster: str, what: str, fn: Callable[..., object], *args: Any, **kwargs: Any
) -> Any | None:
    """:func:`call` for a read; None when the object does not exist (404)."""
    try:
        return call(cluster, what, fn, *args, **kwargs)
    except KubeError as exc:
        if exc.not_found:
            return None
        raise


def _reason(exc: ApiException) -> str:
    try:
        body = yaml.safe_load(exc.body or "")
    except yaml.YAMLError:
        body = None
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])
    return str(exc.reason)


def client_from_kubeconfig(text: str) -> client.ApiClient:
    """An API client for the current (or first) context of a kubeconfig given as text.

    Inline certificates are written by the client library to temporary files it removes when
    the process exits.
    """
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ClusterError(f"the kubeconfig is not YAML: {exc}") from exc
    if not isinstance(data, dict) or not data.get("clusters") or not data.get("contexts"):
        raise ClusterError("the kubeconfig has no clusters or no contexts")
    try:
        api: client.ApiClient = config.new_client_from_config_dict(config_dict=data)
    except (config.ConfigException, KeyError, TypeError, ValueError) as exc:
        raise ClusterError(f"the kubeconfig cannot be used: {exc}") from exc
    return api


def token_file(path: Path) -> Path | None:
    """The ``tokenFile`` of the current (or first) context's user in kubeconfig ``path``
    (relative to the kubeconfig's directory), or None when it names none.

    The Kubernetes client reads ``tokenFile``; kopf's kubeconfig login does not, so the
    operator reads it for kopf (the chart's in-cluster kubeconfig points at the Pod's token).
    """
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ClusterError(f"cannot read kubeconfig {path}: {exc}") from exc
    if not isinstance(data, dict):
        return None
    contexts = {c.get("name"): c.get("context") or {} for c in data.get("contexts") or []}
    context = contexts.get(data.get("current-context")) or next(iter(contexts.values()), {})
    users = {u.get("name"): u.get("user") or {} for u in data.get("users") or []}
    found = users.get(context.get("user"), {}).get("tokenFile")
    if not found:
        return None
    return path.parent / str(found)


def client_from_file(path: Path) -> client.ApiClient:
    """An API client from a kubeconfig file."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ClusterError(f"cannot read kubeconfig {path}: {exc}") from exc
    return client_from_kubeconfig(text)


def client_in_cluster() -> client.ApiClient:
    """An API client from the Pod's ServiceAccount (its token is re-read as it rotates)."""
    configuration = client.Configuration()
    try:
        config.load_incluster_config(client_configuration=configuration, try_refresh_token=True)
    except config.ConfigException as exc:
        raise ClusterError(
            f"not running in a Pod with a ServiceAccount ({exc}); set GRIDSHIFT_KUBECONFIG to "
            "the hub's kubeconfig"
        ) from exc
    return client.ApiClient(configuration)
