"""The gridshift API in a hub cluster of the local fleet, and the fleet's members registered there.

The hub is one of the fleet's clusters (the tests and the demo let ``shanghai`` double as hub to
save memory). :func:`install_api` applies the CustomResourceDefinitions generated from the API
models and waits until they are Established; :func:`register_members` writes, per member, a
kubeconfig Secret (certificates inline) and a MemberCluster pointing at it, as in production.

Everything goes through the fleet's kubectl with server-side apply under one field manager, so
each call is idempotent: run it again and nothing changes.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import yaml

from orchestrator.api.common import API_VERSION, GROUP
from orchestrator.api.crdgen import crd
from orchestrator.api.kinds import KINDS
from orchestrator.devenv.dataplane import (
    EDGE_GATEWAY,
    EDGE_NAMESPACE,
    INGRESS_GATEWAY,
    INGRESS_NAMESPACE,
)
from orchestrator.devenv.fleet import Fleet
from orchestrator.devenv.kubectl import FIELD_MANAGER
from orchestrator.devenv.wan import INGRESS_PORT

DEFAULT_NAMESPACE = "gridshift-system"
KUBECONFIG_KEY = "kubeconfig"


def apply(fleet: Fleet, hub: str, documents: Iterable[Mapping[str, Any]]) -> str:
    """Server-side apply ``documents`` to cluster ``hub`` as our field manager; kubectl's output.

    Conflicts with other managers are forced: on the local fleet the devenv is the authority.
    """
    stream = yaml.safe_dump_all([dict(d) for d in documents], sort_keys=False)
    return fleet.kubectl(
        hub,
        "apply",
        "--server-side",
        "--force-conflicts",
        f"--field-manager={FIELD_MANAGER}",
        "-f",
        "-",
        stdin=stream,
    )


def install_api(fleet: Fleet, hub: str) -> None:
    """The six CRDs (generated from the models, as in manifests/crds) in ``hub``, Established."""
    apply(fleet, hub, [crd(kind) for kind in KINDS])
    fleet.kubectl(
        hub,
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        *[f"crd/{kind.plural}.{GROUP}" for kind in KINDS],
        timeout=90,
    )


def namespace_manifest(name: str) -> dict[str, Any]:
    """A Namespace manifest."""
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def secret_manifest(name: str, namespace: str, data: Mapping[str, str]) -> dict[str, Any]:
    """An Opaque Secret manifest holding ``data`` (plain text, base64-encoded here)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "type": "Opaque",
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
    }


def member_secret_name(member: str) -> str:
    """The name of member ``member``'s kubeconfig Secret in the hub."""
    return f"member-{member}"


def member_cluster(
    member: str, namespace: str, *, ingress: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The MemberCluster of ``member``: its zone is the province of the same name; with
    ``ingress`` (a real node's gateway) its traffic goes through the edge's Gateway API."""
    spec: dict[str, Any] = {
        "zone": member,
        "kubeconfigSecretRef": {
            "name": member_secret_name(member),
            "namespace": namespace,
            "key": KUBECONFIG_KEY,
        },
    }
    if ingress is not None:
        spec["traffic"] = {"router": "GatewayAPI", "ingress": dict(ingress)}
    return {
        "apiVersion": API_VERSION,
        "kind": "MemberCluster",
        "metadata": {"name": member},
        "spec": spec,
    }


def member_ingress(fleet: Fleet, member: str) -> dict[str, Any] | None:
    """Where the edge reaches ``member``'s ingress gateway: its WAN proxy (None without a real
    node, whose pods would be the only ones answering)."""
    net = fleet.net(member)
    if net is None or not fleet.spec(member).real_node:
        return None
    return {
        "gatewayRef": {"name": INGRESS_GATEWAY, "namespace": INGRESS_NAMESPACE},
        "address": net.host_ip,
        "port": INGRESS_PORT,
    }


def register_members(
    fleet: Fleet, hub: str, names: Sequence[str], namespace: str = DEFAULT_NAMESPACE
) -> None:
    """A kubeconfig Secret (in ``namespace``) and a MemberCluster in ``hub`` for each member."""
    documents: list[Mapping[str, Any]] = [namespace_manifest(namespace)]
    for name in names:
        kubeconfig = fleet.portable_kubeconfig(name)
        documents.append(
            secret_manifest(member_secret_name(name), namespace, {KUBECONFIG_KEY: kubeconfig})
        )
        documents.append(member_cluster(name, namespace, ingress=member_ingress(fleet, name)))
    apply(fleet, hub, documents)


def get_json(fleet: Fleet, hub: str, *what: str) -> dict[str, Any]:
    """``kubectl get WHAT -o json`` on ``hub``, parsed."""
    found: dict[str, Any] = json.loads(fleet.kubectl(hub, "get", *what, "-o", "json"))
    return found


def operator_env(fleet: Fleet) -> dict[str, str]:
    """The settings a `gridshift run` against this fleet needs for its edge: the Gateway routes
    attach to and the data plane's API that confirms each weight step (none without real
    nodes: there is no data plane then)."""
    if not fleet.namespaced:
        return {}
    return {
        "GRIDSHIFT_EDGE_GATEWAY": f"{EDGE_NAMESPACE}/{EDGE_GATEWAY}",
        "GRIDSHIFT_EDGE_DATAPLANE_URL": fleet.dataplane.edge_api,
    }
