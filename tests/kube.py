"""Helpers the tests share to drive real clusters with the official Kubernetes client."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from kubernetes import client, config
from kubernetes.client.rest import ApiException

T = TypeVar("T")


def core(kubeconfig: Path) -> client.CoreV1Api:
    return client.CoreV1Api(config.new_client_from_config(config_file=str(kubeconfig)))


def apps(kubeconfig: Path) -> client.AppsV1Api:
    return client.AppsV1Api(config.new_client_from_config(config_file=str(kubeconfig)))


def wait_for(
    check: Callable[[], T | None], *, timeout: float, interval: float = 0.25, what: str = ""
) -> T:
    """Poll ``check`` until it returns something truthy; fail with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})")


@contextmanager
def namespace(kubeconfig: Path, prefix: str = "t") -> Iterator[str]:
    """A fresh namespace for one test, deleted afterwards."""
    api = core(kubeconfig)
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    api.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    # the ServiceAccount admission needs the namespace's default account before any pod
    wait_for(
        lambda: _has_default_sa(api, name), timeout=30, what=f"default ServiceAccount in {name}"
    )
    try:
        yield name
    finally:
        api.delete_namespace(name)


def _has_default_sa(api: client.CoreV1Api, ns: str) -> bool:
    try:
        api.read_namespaced_service_account("default", ns)
    except ApiException as exc:
        if exc.status == 404:
            return False
        raise
    return True


def pod_spec(*, gpus: int = 1, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    """A model-server pod template; KWOK runs no container, the image is never pulled."""
    return {
        "metadata": {"labels": {"app": "model"}, "annotations": annotations or {}},
        "spec": {
            "containers": [
                {
                    "name": "server",
                    "image": "registry.invalid/model-server:1",
                    "resources": {
                        "requests": {"nvidia.com/gpu": str(gpus)},
                        "limits": {"nvidia.com/gpu": str(gpus)},
                    },
                }
            ]
        },
    }


def deployment(name: str, *, replicas: int, gpus: int = 1) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "model"}},
            "template": pod_spec(gpus=gpus),
        },
    }


def pod(name: str, *, gpus: int = 1, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    template = pod_spec(gpus=gpus, annotations=annotations)
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, **template["metadata"]},
        "spec": template["spec"],
    }


def condition(obj: Any, kind: str) -> str | None:
    """The status ("True"/"False") of condition ``kind`` on a pod, or None."""
    for cond in (obj.status.conditions or []) if obj.status else []:
        if cond.type == kind:
            return str(cond.status)
    return None
