"""The Helm chart and the plain manifests: lint, render, schema, and no drift between them."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestrator import metrics
from orchestrator.api.migration import MigrationSpec
from orchestrator.devenv.binaries import Binaries

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "helm" / "gridshift"
MANIFESTS = REPO / "manifests"
DASHBOARD = CHART / "dashboards" / "gridshift.json"
NAMESPACE = "gridshift-system"
# Labels only the chart carries (Helm's own bookkeeping); the plain manifests leave them out.
HELM_ONLY_LABELS = ("helm.sh/chart", "app.kubernetes.io/managed-by", "app.kubernetes.io/version")

pytestmark = pytest.mark.timeout(120)


def helm(binaries: Binaries, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(binaries.path("helm")), *args], capture_output=True, text=True, timeout=60
    )


def render(binaries: Binaries, *values: str, release: str = "gridshift") -> list[dict[str, Any]]:
    """`helm template` of the chart; ``values`` are `--set` assignments."""
    sets = [arg for value in values for arg in ("--set", value)]
    done = helm(binaries, "template", release, str(CHART), "--namespace", NAMESPACE, *sets)
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def kinds(docs: list[dict[str, Any]]) -> list[str]:
    return sorted(doc["kind"] for doc in docs)


def one(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = [doc for doc in docs if doc["kind"] == kind]
    assert len(found) == 1, f"{len(found)} {kind} objects"
    return found[0]


def plain(paths: list[Path]) -> list[dict[str, Any]]:
    return [doc for path in paths for doc in yaml.safe_load_all(path.read_text()) if doc]


def without_helm_labels(obj: Any) -> Any:
    """``obj`` with the Helm-only labels and the chart's checksum annotations removed."""
    if isinstance(obj, dict):
        out = {}
        for key, value in obj.items():
            if key == "labels" and isinstance(value, dict):
                value = {k: v for k, v in value.items() if k not in HELM_ONLY_LABELS}
            if key == "annotations" and isinstance(value, dict):
                value = {k: v for k, v in value.items() if not k.startswith("checksum/")}
                if not value:
                    continue
            out[key] = without_helm_labels(value)
        return out
    if isinstance(obj, list):
        return [without_helm_labels(item) for item in obj]
    return obj


class TestChartLints:
    def test_helm_lint_passes(self, binaries: Binaries) -> None:
        """`helm lint` finds no error or warning in the chart."""
        done = helm(binaries, "lint", "--strict", str(CHART))
        assert done.returncode == 0, done.stdout + done.stderr
        assert "0 chart(s) failed" in done.stdout

    def test_every_value_is_documented_starting_with_its_name(self) -> None:
        """Each value in values.yaml has a comment above it whose first line begins with its path."""
        assert undocumented_values((CHART / "values.yaml").read_text()) == []


def undocumented_values(text: str) -> list[str]:
    """Paths of values without a comment naming them. A block without its own comment is a
    group (image, database, ...) whose members are checked; a documented value's own YAML
    below it (a default map or list) is skipped."""
    lines = text.splitlines()
    missing: list[str] = []
    stack: list[tuple[int, str]] = []
    skip_deeper_than: int | None = None
    for number, line in enumerate(lines):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        indent = len(line) - len(line.lstrip())
        if skip_deeper_than is not None:
            if indent > skip_deeper_than:
                continue
            skip_deeper_than = None
        stack = [entry for entry in stack if entry[0] < indent]
        key = stripped.split(":", 1)[0]
        path = ".".join([name for _, name in stack] + [key])
        first = number
        while first > 0 and lines[first - 1].strip().startswith("#"):
            first -= 1
        above = lines[first].strip() if first < number else ""
        if above.startswith(f"# {path} "):
            skip_deeper_than = indent
        elif stripped.endswith(":"):
            stack.append((indent, key))
        else:
            missing.append(path)
    return missing


class TestChartRenders:
    def test_defaults_render_the_operator_and_its_least_privilege_rbac(
        self, binaries: Binaries
    ) -> None:
        """Default values: 2 replicas, ServiceAccount, ClusterRole/Role and bindings, Service."""
        docs = render(binaries)
        assert kinds(docs) == sorted(
            ["ClusterRole", "ClusterRoleBinding", "ConfigMap", "Deployment", "Pod", "Role",
             "RoleBinding", "Service", "ServiceAccount"]
        )  # fmt: skip
        deployment = one(docs, "Deployment")
        assert deployment["spec"]["replicas"] == 2
        pod = deployment["spec"]["template"]["spec"]
        assert pod["serviceAccountName"] == one(docs, "ServiceAccount")["metadata"]["name"]
        container = pod["containers"][0]
        env = {item["name"]: item for item in container["env"]}
        assert env["GRIDSHIFT_POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        for doc in docs:
            labels = doc["metadata"]["labels"]
            assert labels["app.kubernetes.io/name"] == "gridshift", doc["kind"]
            assert labels["app.kubernetes.io/instance"] == "gridshift", doc["kind"]
            assert labels["helm.sh/chart"] == "gridshift-0.1.0", doc["kind"]

    def test_the_ingress_exposes_only_the_webhook_paths(self, binaries: Binaries) -> None:
        """The Ingress routes /v1/signals and /openadr/callback (Exact) to the webhook port and
        nothing else; readiness, metrics and the read API are on the Service's api port."""
        docs = render(binaries, "ingress.enabled=true")
        rules = one(docs, "Ingress")["spec"]["rules"]
        routed = [(p["path"], p["pathType"], p["backend"]["service"]["port"]["name"])
                  for rule in rules for p in rule["http"]["paths"]]  # fmt: skip
        assert routed == [
            ("/v1/signals", "Exact", "http"),
            ("/openadr/callback", "Exact", "http"),
        ]
        service_ports = {p["name"]: p["targetPort"] for p in one(docs, "Service")["spec"]["ports"]}
        assert service_ports == {"http": "http", "api": "api"}
        container = one(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert ports == {"http": 8080, "api": 8081}
        assert container["readinessProbe"]["httpGet"]["port"] == "api"
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert (env["GRIDSHIFT_API_HOST"], env["GRIDSHIFT_API_PORT"]) == ("0.0.0.0", "8081")  # noqa: S104

    def test_the_helm_test_pod_calls_the_services_healthz(self, binaries: Binaries) -> None:
        """`helm test` runs a Pod whose only job is GET http://SERVICE/healthz: the operator
        image's python3.11, the Service found by its environment variables (no cluster DNS),
        scheduled where the operator may run."""
        docs = render(
            binaries,
            "nodeSelector.pool=gridshift",
            "tolerations[0].key=dedicated",
            "tolerations[0].operator=Exists",
        )
        test_pod = one(docs, "Pod")
        assert test_pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
        service = one(docs, "Service")
        assert service["metadata"]["name"] == "gridshift"
        (container,) = test_pod["spec"]["containers"]
        assert (
            container["image"]
            == one(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]["image"]
        )
        assert container["command"][:2] == ["python3.11", "-c"]
        assert container["args"] == [
            "http://$(GRIDSHIFT_SERVICE_HOST):$(GRIDSHIFT_SERVICE_PORT)/healthz"
        ]
        assert test_pod["spec"]["nodeSelector"] == {"pool": "gridshift"}
        assert test_pod["spec"]["tolerations"] == [{"key": "dedicated", "operator": "Exists"}]
        assert test_pod["spec"]["securityContext"]["runAsNonRoot"] is True

    def test_host_aliases_reach_the_pods_only_when_given(self, binaries: Binaries) -> None:
        """A hub without cluster DNS names kubernetes.default.svc by hostAliases; none by
        default."""
        plain = one(render(binaries), "Deployment")["spec"]["template"]["spec"]
        assert "hostAliases" not in plain
        docs = render(
            binaries,
            "hostAliases[0].ip=10.0.0.1",
            "hostAliases[0].hostnames[0]=kubernetes.default.svc",
        )
        spec = one(docs, "Deployment")["spec"]["template"]["spec"]
        assert spec["hostAliases"] == [{"ip": "10.0.0.1", "hostnames": ["kubernetes.default.svc"]}]

    def test_options_add_ingress_service_monitor_and_secrets(self, binaries: Binaries) -> None:
        """ingress, serviceMonitor, database.url and tokens each render their object."""
        docs = render(
            binaries,
            "ingress.enabled=true",
            "serviceMonitor.enabled=true",
            "database.url=postgresql+psycopg://gridshift:pw@db:5432/gridshift",
            "gridOperators.tokens.sgcc=token-1",
            "edge.kubeconfigSecret=edge-kubeconfig",
        )
        assert one(docs, "Ingress")["spec"]["rules"][0]["host"] == "gridshift.example.com"
        monitor = one(docs, "ServiceMonitor")
        assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"
        assert monitor["spec"]["endpoints"][0]["port"] == "api"
        secrets = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Secret"}
        assert secrets["gridshift-database"]["stringData"]["url"].startswith("postgresql+psycopg")
        assert secrets["gridshift-grid-operators"]["stringData"] == {"sgcc": "token-1"}
        env = {
            e["name"]: e
            for e in one(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]["env"]
        }
        assert env["GRIDSHIFT_EDGE_KUBECONFIG"]["value"] == "/etc/gridshift/edge/kubeconfig"

    def test_an_existing_database_secret_is_used_as_given(self, binaries: Binaries) -> None:
        """database.existingSecret: no Secret rendered; the Pod reads the given name and key."""
        docs = render(binaries, "database.existingSecret=ledger", "database.existingSecretKey=dsn")
        assert not [d for d in docs if d["kind"] == "Secret"]
        env = {
            e["name"]: e
            for e in one(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]["env"]
        }
        assert env["GRIDSHIFT_DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {
            "name": "ledger",
            "key": "dsn",
        }

    def test_no_rule_grants_a_wildcard(self, binaries: Binaries) -> None:
        """No "*" in any verb, resource or API group of the chart's roles."""
        docs = render(binaries)
        for doc in docs:
            for rule in doc.get("rules", []):
                for field in ("verbs", "resources", "apiGroups"):
                    assert "*" not in rule.get(field, []), (doc["kind"], rule)


class TestValuesSchema:
    @pytest.mark.parametrize(
        "bad",
        ["replicaCount=two", "logLevel=LOUD", "service.type=Magic", "webhook.port=80",
         "database.url=mysql://x", "unknownValue=1", "grafanaDashboard.enabled=yes",
         "grafanaDashboard.namespace=Not_A_Namespace", "grafanaDashboard.folder=x"],
    )  # fmt: skip
    def test_a_bad_value_is_refused(self, binaries: Binaries, bad: str) -> None:
        """values.schema.json stops `helm template` and `helm lint` on a wrong type or value."""
        args = ["--set-string" if bad.startswith("replicaCount") else "--set", bad]
        template = helm(binaries, "template", "x", str(CHART), *args)
        assert template.returncode != 0
        assert "values don't meet the specifications of the schema" in template.stderr
        lint = helm(binaries, "lint", str(CHART), *args)
        assert lint.returncode != 0


class TestNoDrift:
    def test_chart_crds_are_byte_identical_to_manifests_crds(self) -> None:
        """helm/gridshift/crds/ = manifests/crds/ (copy them after `gridshift crds`)."""
        generated = {p.name: p.read_bytes() for p in (MANIFESTS / "crds").glob("*.yaml")}
        charted = {p.name: p.read_bytes() for p in (CHART / "crds").glob("*.yaml")}
        assert sorted(charted) == sorted(generated)
        stale = [name for name in generated if charted[name] != generated[name]]
        assert stale == [], "run: cp manifests/crds/*.yaml helm/gridshift/crds/"

    def test_plain_manifests_are_the_chart_with_default_values(self, binaries: Binaries) -> None:
        """manifests/rbac and manifests/operator = `helm template gridshift` minus Helm labels."""
        charted = {
            (d["kind"], d["metadata"]["name"]): without_helm_labels(d)
            for d in render(binaries)
            if d["kind"] != "Pod"  # the helm test Pod has no plain counterpart
        }
        files = sorted((MANIFESTS / "rbac").glob("*.yaml")) + sorted(
            (MANIFESTS / "operator").glob("*.yaml")
        )
        files = [f for f in files if f.name != "member-cluster-rbac.yaml"]
        written = {
            (d["kind"], d["metadata"]["name"]): d for d in plain(files) if d["kind"] != "Namespace"
        }
        assert sorted(written) == sorted(charted)
        for key, obj in charted.items():
            assert written[key] == obj, f"{key} differs from the chart's rendering"

    def test_kustomization_lists_the_crds_rbac_and_operator(self, binaries: Binaries) -> None:
        """`kubectl kustomize manifests/` builds CRDs, namespace, RBAC and the operator."""
        done = subprocess.run(
            [str(binaries.path("kubectl")), "kustomize", str(MANIFESTS)],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        built = [d for d in yaml.safe_load_all(done.stdout) if d]
        assert kinds(built).count("CustomResourceDefinition") == len(
            list((MANIFESTS / "crds").glob("*.yaml"))
        )
        assert {"Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role",
                "RoleBinding", "ConfigMap", "Service", "Deployment"} <= set(kinds(built))  # fmt: skip


def dashboard_panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """The dashboard's panels, those inside collapsed rows too, rows themselves left out."""
    found: list[dict[str, Any]] = []
    for item in dashboard["panels"]:
        found.extend(dashboard_panels(item) if item["type"] == "row" else [item])
    return found


def dashboard_queries(dashboard: dict[str, Any]) -> list[str]:
    """Every PromQL expression of the dashboard: panel targets and query variables."""
    exprs = [t["expr"] for panel in dashboard_panels(dashboard) for t in panel["targets"]]
    variables = dashboard["templating"]["list"]
    return exprs + [v["query"]["query"] for v in variables if v["type"] == "query"]


SERIES_SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"),
                   "gauge": ("",)}  # fmt: skip


def exported_series() -> dict[str, set[str]]:
    """gridshift's metric families and the series names each exposes, from the registry."""
    return {
        family.name: {family.name + suffix for suffix in SERIES_SUFFIXES[family.type]}
        for family in metrics.REGISTRY.collect()
        if family.name.startswith("gridshift_")
    }


class TestGrafanaDashboard:
    def test_the_dashboard_is_grafana_json_with_described_panels(self) -> None:
        """Valid JSON, a Prometheus datasource variable, panels with titles, help and queries."""
        dashboard = json.loads(DASHBOARD.read_text())
        assert dashboard["schemaVersion"] >= 36
        assert dashboard["uid"]
        assert dashboard["title"]
        variables = {v["name"]: v for v in dashboard["templating"]["list"]}
        assert variables["datasource"]["type"] == "datasource"
        assert variables["datasource"]["query"] == "prometheus"
        panels = dashboard_panels(dashboard)
        assert len(panels) >= 10
        rows = [item for item in dashboard["panels"] if item["type"] == "row"]
        ids = [item["id"] for item in [*rows, *panels]]
        assert len(ids) == len(set(ids)), "panel ids repeat"
        for panel in panels:
            assert panel["title"]
            assert len(panel["description"]) > 40, panel["title"]
            assert panel["targets"], panel["title"]
            for item in [panel, *panel["targets"]]:
                assert item["datasource"]["uid"] == "${datasource}", panel["title"]

    def test_every_metric_in_a_query_is_one_gridshift_exports(self) -> None:
        """A renamed metric, a counter without _total or a histogram without _bucket fails."""
        exposed = set().union(*exported_series().values())
        for query in dashboard_queries(json.loads(DASHBOARD.read_text())):
            used = set(re.findall(r"\bgridshift_[a-z0-9_]+", query))
            assert used, f"no gridshift metric in {query}"
            assert used <= exposed, f"{sorted(used - exposed)} not exported; in {query}"

    def test_every_gridshift_metric_has_a_panel(self) -> None:
        """A metric added to orchestrator.metrics without a panel fails until it gets one."""
        text = " ".join(dashboard_queries(json.loads(DASHBOARD.read_text())))
        used = set(re.findall(r"\bgridshift_[a-z0-9_]+", text))
        missing = [family for family, series in exported_series().items() if not series & used]
        assert missing == []

    def test_migration_duration_shows_the_default_deadline_as_a_line(self) -> None:
        """The duration panel draws a threshold at the API's default deadline (180 s)."""
        deadline = MigrationSpec.model_fields["deadline_seconds"].default
        panels = [
            p
            for p in dashboard_panels(json.loads(DASHBOARD.read_text()))
            if any("gridshift_migration_duration_seconds" in t["expr"] for t in p["targets"])
        ]
        assert len(panels) == 1
        defaults = panels[0]["fieldConfig"]["defaults"]
        assert defaults["unit"] == "s"
        assert deadline in [step["value"] for step in defaults["thresholds"]["steps"]]
        assert defaults["custom"]["thresholdsStyle"]["mode"] != "off"

    def test_the_configmap_renders_only_when_enabled(self, binaries: Binaries) -> None:
        """Off by default; on, a ConfigMap with the sidecar label and the dashboard's JSON."""
        assert "gridshift-dashboard" not in [d["metadata"]["name"] for d in render(binaries)]
        docs = render(binaries, "grafanaDashboard.enabled=true")
        maps = {d["metadata"]["name"]: d for d in docs if d["kind"] == "ConfigMap"}
        config_map = maps["gridshift-dashboard"]
        labels = config_map["metadata"]["labels"]
        assert labels["grafana_dashboard"] == "1"
        assert labels["app.kubernetes.io/name"] == "gridshift"
        assert labels["helm.sh/chart"] == "gridshift-0.1.0"
        assert config_map["metadata"]["namespace"] == NAMESPACE
        shipped = json.loads(config_map["data"]["gridshift.json"])
        assert shipped == json.loads(DASHBOARD.read_text())

    def test_labels_annotations_and_namespace_are_configurable(self, binaries: Binaries) -> None:
        """grafanaDashboard.labels/annotations/namespace reach the ConfigMap's metadata."""
        docs = render(
            binaries,
            "grafanaDashboard.enabled=true",
            "grafanaDashboard.labels.grafana_dashboard=null",
            "grafanaDashboard.labels.dashboards=gridshift",
            "grafanaDashboard.annotations.grafana_folder=Grid",
            "grafanaDashboard.namespace=monitoring",
        )
        config_map = {d["metadata"]["name"]: d for d in docs}["gridshift-dashboard"]
        assert config_map["metadata"]["namespace"] == "monitoring"
        assert config_map["metadata"]["labels"]["dashboards"] == "gridshift"
        assert "grafana_dashboard" not in config_map["metadata"]["labels"]
        assert config_map["metadata"]["annotations"] == {"grafana_folder": "Grid"}
