"""The gridshift API on a real kube-apiserver: CRDs, samples, validation, kubectl's view."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from kube import core
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from orchestrator.api.common import GROUP, VERSION
from orchestrator.api.kinds import KINDS, Kind
from orchestrator.devenv import Fleet

REPO = Path(__file__).resolve().parents[2]
CRDS = REPO / "manifests" / "crds"
SAMPLES = REPO / "manifests" / "samples"
HUB = "shanghai"  # one of the members doubles as the hub to save memory
BY_KIND = {k.kind: k for k in KINDS}


def _sample(kind: str) -> dict[str, Any]:
    for path in sorted(SAMPLES.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc["kind"] == kind:
                return copy.deepcopy(doc)
    raise LookupError(kind)


@pytest.fixture(scope="module")
def hub(fleet: Fleet) -> Iterator[Fleet]:
    """The CRDs installed in the hub, and every sample applied."""
    fleet.kubectl(HUB, "apply", "--server-side", "--field-manager=gridshift-tests", "-f", str(CRDS))
    fleet.kubectl(
        HUB, "wait", "--for=condition=Established", "--timeout=60s",
        *[f"crd/{k.plural}.{GROUP}" for k in KINDS],
    )  # fmt: skip
    fleet.kubectl(HUB, "create", "namespace", "inference")
    yield fleet
    fleet.kubectl(HUB, "delete", "--ignore-not-found", "--wait=false", "-f", str(SAMPLES))
    fleet.kubectl(HUB, "delete", "namespace", "inference", "--wait=false")


def _objects(fleet: Fleet) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(config.new_client_from_config(str(fleet.kubeconfig(HUB))))


def _create(fleet: Fleet, obj: dict[str, Any], *, dry_run: bool) -> None:
    kind = BY_KIND[obj["kind"]]
    api = _objects(fleet)
    extra = {"dry_run": "All"} if dry_run else {}
    if kind.scope == "Namespaced":
        namespace = obj["metadata"].get("namespace", "inference")
        api.create_namespaced_custom_object(GROUP, VERSION, namespace, kind.plural, obj, **extra)
    else:
        api.create_cluster_custom_object(GROUP, VERSION, kind.plural, obj, **extra)


def _apply_samples(fleet: Fleet) -> str:
    return fleet.kubectl(
        HUB, "apply", "--server-side", "--force-conflicts", "--field-manager=gridshift-tests",
        "-f", str(SAMPLES),
    )  # fmt: skip


def test_every_sample_is_accepted(hub: Fleet) -> None:
    """Every CRD is Established and the whole sample fleet applies."""
    out = hub.kubectl(
        HUB, "apply", "--server-side", "--field-manager=gridshift-tests", "-f", str(SAMPLES)
    )
    for kind in KINDS:
        assert f"{kind.singular}.{GROUP}/" in out, f"no {kind.kind} sample applied"


Mutation = Callable[[dict[str, Any]], None]


def _set(path: str, value: Any) -> Mutation:
    def mutate(obj: dict[str, Any]) -> None:
        *parents, leaf = re.findall(r"[^.\[\]]+", path)
        node: Any = obj
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        if leaf.isdigit():
            node[int(leaf)] = value
        else:
            node[leaf] = value

    return mutate


def _delete(path: str) -> Mutation:
    def mutate(obj: dict[str, Any]) -> None:
        *parents, leaf = path.split(".")
        node: Any = obj
        for part in parents:
            node = node[part]
        del node[leaf]

    return mutate


LONG = "x" * 65
INVALID: list[tuple[str, str, Mutation, str]] = [
    ("zone timezone too long", "GridZone", _set("spec.timezone", LONG), "spec.timezone"),
    ("zone currency unknown", "GridZone", _set("spec.currency", "GBP"), "spec.currency"),
    ("green ratio above 1", "GridZone", _set("spec.greenPowerRatio", 1.5), "spec.greenPowerRatio"),
    ("window at 25:00", "GridZone", _set("spec.tariff.seasons.0.windows.0.start", "25:00"),
     "spec.tariff.seasons[0].windows[0].start"),
    ("day not covered", "GridZone", _set("spec.tariff.seasons.0.windows.0.start", "01:00"),
     "windows must start at 00:00"),
    ("period without price", "GridZone", _delete("spec.tariff.pricesPerKWh.criticalPeak"),
     "needs a price in pricesPerKWh"),
    ("too many latencies", "GridZone",
     _set("spec.latencies", [{"zone": f"z{i}", "rttMilliseconds": 1} for i in range(65)]),
     "spec.latencies"),
    ("signal TTL too short", "GridZone", _set("spec.signalTTLSeconds", 10), "spec.signalTTLSeconds"),
    ("10 s poll of a tariff", "GridZone", _set("spec.priceFeeds.0.pollIntervalSeconds", 10),
     "below 60 is for OpenADRPoll feeds only"),
    ("OpenADR version unknown", "GridZone", _set("spec.openADR.version", "2.0b"),
     "spec.openADR.version"),
    ("cluster without zone", "MemberCluster", _delete("spec.zone"), "spec.zone"),
    ("secret name not a DNS name", "MemberCluster", _set("spec.kubeconfigSecretRef.name", "Bad_Name"),
     "spec.kubeconfigSecretRef.name"),
    ("router unknown", "MemberCluster", _set("spec.traffic.router", "Istio"), "spec.traffic.router"),
    ("cluster name too long", "MemberCluster", _set("metadata.name", "c" * 70),
     "metadata.name must be at most 63"),
    ("workload without placement", "InferenceWorkload", _delete("spec.placement"), "spec.placement"),
    ("zero replicas", "InferenceWorkload", _set("spec.template.replicas", 0), "spec.template.replicas"),
    ("power unknown", "InferenceWorkload", _set("spec.power", {"gpusPerReplica": 4}),
     "set kwPerReplica"),
    ("steps decrease", "InferenceWorkload", _set("spec.migration.trafficSteps", [50, 10, 100]),
     "steps must increase"),
    ("steps stop short", "InferenceWorkload", _set("spec.migration.trafficSteps", [10, 50]),
     "the last step must be 100"),
    ("SLO of the wrong type", "InferenceWorkload",
     _set("spec.placement.latencySLOMilliseconds", "fast"), "spec.placement.latencySLOMilliseconds"),
    ("workload deadline too short", "InferenceWorkload", _set("spec.migration.deadlineSeconds", 10),
     "spec.migration.deadlineSeconds"),
    ("no concurrency", "MigrationPolicy", _set("spec.guards.maxConcurrent", 0),
     "spec.guards.maxConcurrent"),
    ("selector operator unknown", "MigrationPolicy",
     _set("spec.workloadSelector.matchExpressions", [{"key": "a", "operator": "Like"}]),
     "spec.workloadSelector.matchExpressions[0].operator"),
    ("move to its own cluster", "Migration", _set("spec.toCluster", "shanghai"),
     "toCluster must differ from fromCluster"),
    ("deadline too long", "Migration", _set("spec.deadlineSeconds", 2000), "spec.deadlineSeconds"),
    ("reason too long", "Migration", _set("spec.reason.message", "m" * 2000), "spec.reason.message"),
    ("event ends before it starts", "DemandResponseEvent",
     _set("spec.window.end", "2025-07-04T05:00:00Z"), "end must be after start"),
    ("nothing to shed", "DemandResponseEvent", _set("spec.shedKW", 0), "spec.shedKW"),
    ("shed and cap at once", "DemandResponseEvent", _set("spec.importCapKW", 100),
     "set exactly one of shedKW and importCapKW"),
    ("source unknown", "DemandResponseEvent", _set("spec.source.kind", "Email"), "spec.source.kind"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("kind", "mutate", "names"), [case[1:] for case in INVALID], ids=[case[0] for case in INVALID]
)
def test_invalid_object_is_rejected_naming_the_field(
    hub: Fleet, kind: str, mutate: Mutation, names: str
) -> None:
    obj = _sample(kind)
    obj["metadata"]["name"] = obj["metadata"]["name"][:40] + "-invalid"
    mutate(obj)
    with pytest.raises(ApiException) as refused:
        _create(hub, obj, dry_run=True)
    assert refused.value.status == 422, refused.value.body
    assert names in refused.value.body, refused.value.body


def test_a_migration_spec_cannot_change(hub: Fleet) -> None:
    obj = _sample("Migration")
    obj["metadata"]["name"] = "immutable-move"
    _create(hub, obj, dry_run=False)
    api = _objects(hub)
    with pytest.raises(ApiException) as refused:
        api.patch_namespaced_custom_object(
            GROUP, VERSION, "inference", "migrations", "immutable-move",
            {"spec": {"toCluster": "ningxia"}},
        )  # fmt: skip
    assert refused.value.status == 422
    assert "a Migration's spec cannot change" in refused.value.body
    api.delete_namespaced_custom_object(GROUP, VERSION, "inference", "migrations", "immutable-move")


def test_kubectl_get_gridshift_lists_every_kind(hub: Fleet) -> None:
    hub.kubectl(
        HUB, "apply", "--server-side", "--field-manager=gridshift-tests", "-f", str(SAMPLES)
    )
    out = hub.kubectl(HUB, "get", "gridshift", "--all-namespaces")
    for kind in KINDS:
        assert f"{kind.singular}.{GROUP}/" in out, f"{kind.kind} missing from:\n{out}"


NOW = datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
STATUSES: dict[str, tuple[str, dict[str, Any], dict[str, str]]] = {
    "GridZone": (
        "shanghai",
        {"pricePerKWh": 1.1637, "touPeriod": "Peak", "peakLevel": 2, "lastSignalTime": NOW,
         "stale": False},
        {"PRICE": "1.1637", "PERIOD": "Peak", "PEAK": "2", "STALE": "false"},
    ),
    "MemberCluster": (
        "hubei",
        {"freeGPUs": 12, "allocatableGPUs": 16, "kubernetesVersion": "v1.36.3",
         "conditions": [{"type": "Reachable", "status": "True", "reason": "Probed",
                         "lastTransitionTime": NOW}]},
        {"ZONE": "hubei", "REACHABLE": "True", "FREE GPUS": "12", "TOTAL GPUS": "16"},
    ),
    "InferenceWorkload": (
        "chat-72b",
        {"currentCluster": "shanghai", "readyReplicas": 2, "powerKW": 5.6},
        {"CLUSTER": "shanghai", "READY": "2", "DESIRED": "2", "KW": "5.6"},
    ),
    "Migration": (
        "chat-72b-to-hubei",
        {"phase": "Completed", "durationSeconds": 42.5, "deadlineMet": True},
        {"WORKLOAD": "chat-72b", "FROM": "shanghai", "TO": "hubei", "PHASE": "Completed",
         "DURATION": "42.5", "DEADLINE MET": "true"},
    ),
    "DemandResponseEvent": (
        "sh-vpp-20250704-1414",
        {"state": "Met", "achievedKW": 520},
        {"ZONE": "shanghai", "SHED KW": "500", "ACHIEVED KW": "520", "STATE": "Met"},
    ),
    "MigrationPolicy": (
        "follow-the-grid",
        {"matchedWorkloads": 1, "activeMigrations": 0, "movesLastHour": 3},
        {"WORKLOADS": "1", "ACTIVE": "0", "MOVES/H": "3", "DRY RUN": "false"},
    ),
}  # fmt: skip


def _table(text: str) -> dict[str, str]:
    header, row = text.strip().splitlines()[:2]
    starts = [m.start() for m in re.finditer(r"\S+(?: \S+)*", header)]
    names = [header[s:e].strip() for s, e in zip(starts, [*starts[1:], None], strict=True)]
    values = [row[s:e].strip() for s, e in zip(starts, [*starts[1:], None], strict=True)]
    return dict(zip(names, values, strict=True))


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.kind)
def test_printer_columns_answer_the_first_question(hub: Fleet, kind: Kind) -> None:
    hub.kubectl(
        HUB, "apply", "--server-side", "--field-manager=gridshift-tests", "-f", str(SAMPLES)
    )
    name, status, expected = STATUSES[kind.kind]
    where = ["-n", "inference"] if kind.scope == "Namespaced" else []
    hub.kubectl(
        HUB, "patch", kind.plural, name, *where, "--subresource=status", "--type=merge",
        "-p", yaml.safe_dump({"status": status}),
    )  # fmt: skip
    row = _table(hub.kubectl(HUB, "get", kind.plural, name, *where))
    for column, value in expected.items():
        assert row.get(column) == value, f"{kind.kind} column {column}: {row}"


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.kind)
def test_kubectl_explain_teaches_the_api(hub: Fleet, kind: Kind) -> None:
    out = " ".join(hub.kubectl(HUB, "explain", f"{kind.singular}.spec").split())
    assert " ".join((kind.spec.__doc__ or "").split()) in out
    first_field = next(iter(kind.spec.model_json_schema(by_alias=True)["properties"]))
    assert first_field in out


def test_explain_inferenceworkload_spec_describes_its_fields(hub: Fleet) -> None:
    out = " ".join(hub.kubectl(HUB, "explain", "inferenceworkload.spec.placement").split())
    assert "homeCluster" in out
    assert "where it runs when the grid is calm" in out
    assert "latencySLOMilliseconds" in out


def test_hub_namespace_probe(hub: Fleet) -> None:
    """The hub used here is a member cluster of the fleet, reachable with its kubeconfig."""
    assert core(hub.kubeconfig(HUB)).read_namespace("inference").metadata.name == "inference"
