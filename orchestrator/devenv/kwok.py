"""The kwokctl configuration of the local fleet: our binaries, loopback only, our Stages."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import yaml

from orchestrator.devenv.binaries import Binaries

STAGES_RESOURCE = "kwok-stages.yaml"
SIMULATED = "kwok.x-k8s.io/node=fake"
"""The annotation of every simulated node (see nodes.py): KWOK manages those only."""


def stages_yaml() -> str:
    """gridshift's KWOK Stage documents (nodes, model-server pods)."""
    return resources.files("orchestrator.devenv").joinpath(STAGES_RESOURCE).read_text()


def kwokctl_config(
    binaries: Binaries,
    kube_version: str,
    *,
    bind_address: str = "127.0.0.1",
    cert_sans: list[str] | None = None,
    pki_dir: Path | None = None,
    only_annotated_nodes: bool = False,
    advertise_address: str | None = None,
) -> str:
    """A multi-document kwokctl config: every binary local, bound to ``bind_address``, our Stages.

    kwokctl's config file does not expand variables, so the paths are absolute. Any Stage given
    here replaces KWOK's default stages, which is why ``kwok-stages.yaml`` holds node stages too.

    For a cluster with a real node: ``cert_sans`` adds the province's addresses to the API
    server's certificate; ``pki_dir`` (kwokctl's pki of the cluster) lets the API server present
    the admin client certificate to kubelets (``kubectl logs``/``exec``), and it dials them by
    InternalIP; ``advertise_address`` is the API server's address in its namespace (it finds
    none there by itself: the namespace has no default route); with ``only_annotated_nodes``
    KWOK manages only the simulated nodes (annotated
    ``kwok.x-k8s.io/node: fake``) and leaves the real node and its pods to their kubelet.
    (kwokctl always passes ``--manage-all-nodes=true``; a later flag of ours wins.)
    """
    apiserver_args = [{"key": "enable-priority-and-fairness", "value": "false"}]
    if pki_dir is not None:
        apiserver_args += [
            {"key": "kubelet-client-certificate", "value": str(pki_dir / "admin.crt")},
            {"key": "kubelet-client-key", "value": str(pki_dir / "admin.key")},
            {"key": "kubelet-preferred-address-types", "value": "InternalIP"},
        ]
    if advertise_address is not None:
        apiserver_args.append({"key": "advertise-address", "value": advertise_address})
    patches: list[dict[str, object]] = [
        {"name": "etcd", "extraArgs": [{"key": "unsafe-no-fsync", "value": "true"}]},
        # less CPU on a small machine; the fleet serves a test suite, not tenants
        {"name": "kube-apiserver", "extraArgs": apiserver_args},
    ]
    if only_annotated_nodes:
        patches.append(
            {
                "name": "kwok-controller",
                "extraArgs": [
                    {"key": "manage-all-nodes", "value": "false"},
                    {"key": "manage-nodes-with-annotation-selector", "value": SIMULATED},
                ],
            }
        )
    options: dict[str, object] = {
        "runtime": "binary",
        "bindAddress": bind_address,
        "kubeVersion": kube_version,
        "kubeApiserverBinary": str(binaries.path("kube-apiserver")),
        "kubeControllerManagerBinary": str(binaries.path("kube-controller-manager")),
        "kubeSchedulerBinary": str(binaries.path("kube-scheduler")),
        "kubectlBinary": str(binaries.path("kubectl")),
        "etcdBinary": str(binaries.path("etcd")),
        "kwokControllerBinary": str(binaries.path("kwok")),
        "quietPull": True,
        "disableQPSLimits": True,
        "etcdQuotaBackendSize": "1Gi",
    }
    if cert_sans:
        options["kubeApiserverCertSANs"] = list(cert_sans)
    config = {
        "apiVersion": "config.kwok.x-k8s.io/v1alpha1",
        "kind": "KwokctlConfiguration",
        "options": options,
        "componentsPatches": patches,
    }
    return yaml.safe_dump(config, sort_keys=False) + "---\n" + stages_yaml()
