"""The CRDs are generated from the models, strict, and described everywhere."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from orchestrator.api import crdgen
from orchestrator.api.drevent import DemandResponseEventSpec
from orchestrator.api.gridzone import GridZoneSpec
from orchestrator.api.kinds import KINDS, Kind
from orchestrator.api.migration import MigrationSpec
from orchestrator.api.workload import InferenceWorkloadSpec, Power

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "manifests" / "samples"


def _walk(node: dict[str, Any], path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, node
    for name, child in node.get("properties", {}).items():
        yield from _walk(child, f"{path}.{name}")
    if "items" in node:
        yield from _walk(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from _walk(node["additionalProperties"], f"{path}{{}}")


def _schema(kind: Kind) -> dict[str, Any]:
    return crdgen.crd(kind)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def test_committed_crds_are_what_the_generator_writes() -> None:
    """Edit the models, then run `python -m orchestrator.api.crdgen`: never the YAML."""
    assert crdgen.stale(REPO / "manifests" / "crds") == []


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.kind)
def test_every_field_is_described_and_bounded(kind: Kind) -> None:
    for path, node in _walk(_schema(kind), kind.kind):
        if path in {f"{kind.kind}.{f}" for f in ("apiVersion", "kind", "metadata")}:
            continue  # the API server owns these
        scalar_entry = path.endswith(("[]", "{}")) and node.get("type") not in ("object", "array")
        assert node.get("description") or scalar_entry, f"{path} has no description"
        kind_of = node.get("type")
        if kind_of == "string":
            assert "maxLength" in node or "enum" in node or node.get("format") == "date-time", (
                f"{path} is an unbounded string"
            )
        elif kind_of == "array":
            assert "maxItems" in node, f"{path} is an unbounded list"
        elif kind_of in ("integer", "number"):
            assert "minimum" in node, f"{path} has no lower bound"
            assert "maximum" in node, f"{path} has no upper bound"
        elif kind_of == "object" and "additionalProperties" in node:
            assert "maxProperties" in node, f"{path} is an unbounded map"


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.kind)
def test_schemas_are_structural(kind: Kind) -> None:
    """No $ref, no unions: Kubernetes accepts only structural schemas."""
    text = yaml.safe_dump(_schema(kind))
    for forbidden in ("$ref", "anyOf", "oneOf", "allOf", "$defs", "title"):
        assert forbidden not in text


def test_crds_carry_names_category_status_and_columns() -> None:
    for kind in KINDS:
        spec = crdgen.crd(kind)["spec"]
        assert spec["names"]["categories"] == ["gridshift"]
        assert spec["names"]["shortNames"] == [kind.short_name]
        version = spec["versions"][0]
        assert version["subresources"] == {"status": {}}
        assert len(version["additionalPrinterColumns"]) >= 4


def _samples(kind: str) -> list[dict[str, Any]]:
    docs = []
    for path in sorted(SAMPLES.glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d and d["kind"] == kind]
    return docs


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.kind)
def test_every_kind_has_a_sample_the_model_accepts(kind: Kind) -> None:
    samples = _samples(kind.kind)
    assert samples, f"no sample of {kind.kind} in manifests/samples"
    for sample in samples:
        kind.spec.model_validate(sample["spec"])


def test_migration_to_its_own_cluster_is_refused() -> None:
    with pytest.raises(ValidationError, match="toCluster must differ"):
        MigrationSpec.model_validate({"workload": "w", "fromCluster": "a", "toCluster": "a"})


def test_dr_event_needs_exactly_one_target_and_an_end_after_its_start() -> None:
    base = {"zone": "shanghai", "source": {"kind": "Manual"}}
    window = {"start": "2026-07-01T06:00:00Z", "end": "2026-07-01T08:00:00Z"}
    DemandResponseEventSpec.model_validate({**base, "window": window, "shedKW": 500})
    with pytest.raises(ValidationError, match="exactly one"):
        DemandResponseEventSpec.model_validate({**base, "window": window})
    with pytest.raises(ValidationError, match="end must be after start"):
        DemandResponseEventSpec.model_validate(
            {**base, "shedKW": 5, "window": {**window, "end": "2026-07-01T05:00:00Z"}}
        )


def test_power_of_a_replica_from_kw_or_gpus_times_watts() -> None:
    assert Power.model_validate({"gpusPerReplica": 4, "wattsPerGPU": 700}).kw_each() == 2.8
    assert Power.model_validate({"gpusPerReplica": 4, "kwPerReplica": 3.5}).kw_each() == 3.5
    with pytest.raises(ValidationError, match="kwPerReplica"):
        Power.model_validate({"gpusPerReplica": 4})


def test_tariff_windows_need_a_price_for_each_period() -> None:
    zone = _samples("GridZone")[0]["spec"]
    del zone["tariff"]["pricesPerKWh"]["criticalPeak"]
    with pytest.raises(ValidationError, match="needs a price"):
        GridZoneSpec.model_validate(zone)


def test_workload_wire_names_keep_acronyms_upper_case() -> None:
    spec = InferenceWorkloadSpec.model_validate(_samples("InferenceWorkload")[0]["spec"])
    wire = spec.wire()
    assert wire["placement"]["latencySLOMilliseconds"] == 30
    assert wire["power"]["wattsPerGPU"] == 700
    assert wire["template"]["template"]["spec"]["containers"][0]["name"] == "server"
