"""The kwokctl configuration of the local fleet: our binaries, loopback only, our Stages."""

from __future__ import annotations

from importlib import resources

import yaml

from orchestrator.devenv.binaries import Binaries

STAGES_RESOURCE = "kwok-stages.yaml"


def stages_yaml() -> str:
    """gridshift's KWOK Stage documents (nodes, model-server pods)."""
    return resources.files("orchestrator.devenv").joinpath(STAGES_RESOURCE).read_text()


def kwokctl_config(binaries: Binaries, kube_version: str) -> str:
    """A multi-document kwokctl config: every binary local, everything on 127.0.0.1, our Stages.

    kwokctl's config file does not expand variables, so the paths are absolute. Any Stage given
    here replaces KWOK's default stages, which is why ``kwok-stages.yaml`` holds node stages too.
    """
    config = {
        "apiVersion": "config.kwok.x-k8s.io/v1alpha1",
        "kind": "KwokctlConfiguration",
        "options": {
            "runtime": "binary",
            "bindAddress": "127.0.0.1",
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
        },
        "componentsPatches": [
            {
                "name": "etcd",
                "extraArgs": [{"key": "unsafe-no-fsync", "value": "true"}],
            },
            {
                # less CPU on a small machine; the fleet serves a test suite, not tenants
                "name": "kube-apiserver",
                "extraArgs": [{"key": "enable-priority-and-fairness", "value": "false"}],
            },
        ],
    }
    return yaml.safe_dump(config, sort_keys=False) + "---\n" + stages_yaml()
