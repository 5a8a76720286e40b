"""The KWOK stages and kwokctl config the local fleet runs with."""

from __future__ import annotations

from pathlib import Path

import yaml

from orchestrator.devenv.binaries import CONTROL_PLANE, Binaries
from orchestrator.devenv.kwok import kwokctl_config, stages_yaml


def _stages() -> dict[str, dict]:  # type: ignore[type-arg]
    return {doc["metadata"]["name"]: doc for doc in yaml.safe_load_all(stages_yaml())}


def test_stages_cover_nodes_and_the_pod_lifecycle() -> None:
    """Any Stage replaces KWOK's defaults, so ours must cover nodes as well as pods."""
    kinds = {(d["spec"]["resourceRef"]["kind"], name) for name, d in _stages().items()}
    assert ("Node", "gridshift-node-initialize") in kinds
    assert ("Node", "gridshift-node-heartbeat") in kinds
    for stage in ("start", "ready-after-load", "complete", "delete"):
        assert ("Pod", f"gridshift-pod-{stage}") in kinds


def test_readiness_delay_comes_from_the_annotation_without_jitter() -> None:
    """A jitter no longer than the duration would replace the annotated delay."""
    delay = _stages()["gridshift-pod-ready-after-load"]["spec"]["delay"]
    assert delay["durationFrom"]["expressionFrom"] == (
        '.metadata.annotations["sim.gridshift.io/ready-after"]'
    )
    assert delay["durationMilliseconds"] == 0
    assert not any(key.startswith("jitter") for key in delay)


def test_never_ready_pods_are_excluded_from_the_ready_stage() -> None:
    selector = _stages()["gridshift-pod-ready-after-load"]["spec"]["selector"]
    assert {
        "key": '.metadata.annotations["sim.gridshift.io/never-ready"]',
        "operator": "NotIn",
        "values": ["true"],
    } in selector["matchExpressions"]


def test_kwokctl_config_binds_loopback_and_uses_only_local_binaries(tmp_path: Path) -> None:
    docs = list(yaml.safe_load_all(kwokctl_config(Binaries(tmp_path), "v1.36.3")))
    options = docs[0]["options"]
    assert docs[0]["kind"] == "KwokctlConfiguration"
    assert options["bindAddress"] == "127.0.0.1"
    assert options["runtime"] == "binary"
    assert options["kubeVersion"] == "v1.36.3"
    binaries = {k: v for k, v in options.items() if k.endswith("Binary")}
    assert len(binaries) == len(CONTROL_PLANE) - 1  # every binary but kwokctl itself
    assert all(Path(v).parent == tmp_path for v in binaries.values())
    assert [d["kind"] for d in docs[1:]] == ["Stage"] * len(_stages())
