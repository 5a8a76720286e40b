"""The cached binaries are the pinned versions the build script's directory name carries."""

from __future__ import annotations

import re
import subprocess

from orchestrator.devenv.binaries import Binaries

PIECES = ("k8s", "etcd", "kwok", "helm", "traefik", "toxiproxy")


def _pins(binaries: Binaries) -> dict[str, str]:
    """{piece: version} from a directory named bin-k8s-v1.36.3_etcd-v3.6.16_..._toxiproxy-v2.12.0."""
    pins = dict(re.findall(r"([a-z0-9]+)-(v[0-9][^_]*)", binaries.directory.name))
    assert tuple(pins) == PIECES, f"{binaries.directory.name} does not name every piece"
    return pins


def test_every_binary_reports_the_version_its_directory_names(binaries: Binaries) -> None:
    pins = _pins(binaries)
    assert binaries.kube_version() == pins["k8s"]
    for name in ("kubelet", "kube-proxy"):
        done = subprocess.run(
            [str(binaries.path(name)), "--version"], capture_output=True, text=True, timeout=30
        )
        assert f"Kubernetes {pins['k8s']}" in done.stdout, (name, done.stdout, done.stderr)
    assert binaries.traefik_version() == pins["traefik"]
    assert binaries.toxiproxy_version() == pins["toxiproxy"]
