#!/usr/bin/env bash
# For laptops with Docker: the same three named clusters as the local fleet, made with kind.
#
#   hack/kind-up.sh            create shanghai, hubei, ningxia (or the names in $CLUSTERS)
#   hack/kind-up.sh down       delete them
#
# Each kind cluster gets KWOK installed in-cluster with gridshift's own Stages
# (orchestrator/devenv/kwok-stages.yaml) and simulated GPU nodes, so model-server pods behave as in
# the local fleet (the sim.gridshift.io/ready-after and never-ready annotations work). It prints
# the GRIDSHIFT_KUBECONFIGS line the end-to-end tests read:
#
#   eval "$(hack/kind-up.sh | tail -n 1)" && make test-e2e
#
# Not run by CI and not tested by the project: CI machines have no Docker engine and no image
# registry. Needs kind, kubectl, docker and uv on PATH, and network access for kind's and KWOK's
# images and KWOK's release manifest.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

CLUSTERS=${CLUSTERS:-"shanghai hubei ningxia"}
KWOK_VERSION=${KWOK_VERSION:-v0.8.0}
GPU_NODES=${GPU_NODES:-2}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
KUBECONFIG_DIR=${KUBECONFIG_DIR:-$HOME/.kube/gridshift-kind}
KWOK_MANIFEST="https://github.com/kubernetes-sigs/kwok/releases/download/${KWOK_VERSION}/kwok.yaml"

for tool in kind kubectl docker uv; do
  command -v "$tool" >/dev/null || { echo "kind-up: $tool is not on PATH" >&2; exit 1; }
done

if [[ ${1:-up} == down ]]; then
  for name in $CLUSTERS; do kind delete cluster --name "gridshift-$name"; done
  rm -rf "$KUBECONFIG_DIR"
  exit 0
fi

mkdir -p "$KUBECONFIG_DIR"
pairs=()
for name in $CLUSTERS; do
  kc="$KUBECONFIG_DIR/$name.yaml"
  if ! kind get clusters | grep -qx "gridshift-$name"; then
    echo "kind-up: creating gridshift-$name" >&2
    kind create cluster --name "gridshift-$name" --kubeconfig "$kc" --wait 120s >&2
  fi
  kind get kubeconfig --name "gridshift-$name" >"$kc"
  echo "kind-up: installing KWOK $KWOK_VERSION and gridshift's stages in $name" >&2
  kubectl --kubeconfig "$kc" apply -f "$KWOK_MANIFEST" >&2
  kubectl --kubeconfig "$kc" -n kube-system rollout status deployment/kwok-controller --timeout=180s >&2
  kubectl --kubeconfig "$kc" apply -f orchestrator/devenv/kwok-stages.yaml >&2
  uv run --frozen python - "$name" "$GPU_NODES" "$GPUS_PER_NODE" <<'PY' | kubectl --kubeconfig "$kc" apply --server-side -f - >&2
import sys, yaml
from orchestrator.devenv.nodes import ClusterSpec, node_manifests
name, nodes, gpus = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
print(yaml.safe_dump_all(node_manifests(ClusterSpec(name, gpu_nodes=nodes, gpus_per_node=gpus))))
PY
  kubectl --kubeconfig "$kc" wait --for=condition=Ready node -l sim.gridshift.io/node=gpu --timeout=120s >&2
  pairs+=("$name=$kc")
done
(IFS=,; echo "export GRIDSHIFT_KUBECONFIGS=${pairs[*]}")
