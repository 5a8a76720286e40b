#!/usr/bin/env bash
# Build the real binaries gridshift's local fleet runs, from the Go module proxy.
#
#   hack/build-k8s-binaries.sh          build what is missing, print the bin directory last
#   hack/build-k8s-binaries.sh --print  print the bin directory without building
#
# Pinned versions (override with the environment variables of the same name):
#   K8S_VERSION        kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, kubelet,
#                      kube-proxy
#   ETCD_VERSION       etcd
#   KWOK_VERSION       kwok and kwokctl
#   HELM_VERSION       helm
#   TRAEFIK_VERSION    traefik (the Gateway API data plane at the edge; v3.7 and later cannot be
#                      built from the module proxy: their go.mod replaces a module with a folder)
#   TOXIPROXY_VERSION  toxiproxy-server and toxiproxy-cli (the WAN delay between provinces)
#
# Each piece is cached under ${GRIDSHIFT_CACHE:-$HOME/.cache/gridshift}/<piece>-<version>/bin and
# is built only when that directory lacks it, so a warm run does nothing. Needs: go (1.26.x), python3.
set -euo pipefail

K8S_VERSION=${K8S_VERSION:-v1.36.3}
ETCD_VERSION=${ETCD_VERSION:-v3.6.16}
KWOK_VERSION=${KWOK_VERSION:-v0.8.0}
HELM_VERSION=${HELM_VERSION:-v3.19.5}
TRAEFIK_VERSION=${TRAEFIK_VERSION:-v3.6.12}
TOXIPROXY_VERSION=${TOXIPROXY_VERSION:-v2.12.0}
CACHE=${GRIDSHIFT_CACHE:-$HOME/.cache/gridshift}
BIN="$CACHE/bin-k8s-${K8S_VERSION}_etcd-${ETCD_VERSION}_kwok-${KWOK_VERSION}_helm-${HELM_VERSION}"
BIN+="_traefik-${TRAEFIK_VERSION}_toxiproxy-${TOXIPROXY_VERSION}"

if [[ ${1:-} == --print ]]; then echo "$BIN"; exit 0; fi

K8S_DIR="$CACHE/kubernetes-$K8S_VERSION/bin"
ETCD_DIR="$CACHE/etcd-$ETCD_VERSION/bin"
KWOK_DIR="$CACHE/kwok-$KWOK_VERSION/bin"
HELM_DIR="$CACHE/helm-$HELM_VERSION/bin"
TRAEFIK_DIR="$CACHE/traefik-$TRAEFIK_VERSION/bin"
TOXIPROXY_DIR="$CACHE/toxiproxy-$TOXIPROXY_VERSION/bin"
STEPS=6

log() { printf '[build-k8s-binaries] %s\n' "$*" >&2; }
fail() { printf '[build-k8s-binaries] FAILED: %s\n' "$*" >&2; exit 1; }
have() { local d=$1; shift; for b in "$@"; do [[ -x $d/$b ]] || return 1; done; }

command -v go >/dev/null || fail "go is not on PATH (Go 1.26 builds these binaries)"
command -v python3 >/dev/null || fail "python3 is not on PATH"

export CGO_ENABLED=0 GOFLAGS=-trimpath GOTOOLCHAIN=${GOTOOLCHAIN:-local}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
START=$SECONDS

# elapsed <seconds>: "42 s" or "3 min 05 s"
elapsed() { local s=$1; if ((s < 60)); then echo "$s s"; else printf '%d min %02d s' $((s / 60)) $((s % 60)); fi; }

# step <n> <piece> <version> <command...>: run one build step with a line a minute while it
# runs, name the piece if it fails
step() {
  local n=$1 piece=$2 version=$3; shift 3
  local t=$SECONDS pid status=0 next=60
  log "[$n/$STEPS] building $piece $version …"
  ( "$@" ) >"$WORK/$piece.log" 2>&1 &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    sleep 1
    if ((SECONDS - t >= next)); then
      log "[$n/$STEPS] building $piece $version … $(elapsed $((SECONDS - t)))"
      next=$((next + 60))
    fi
  done
  wait "$pid" || status=$?
  if ((status != 0)); then
    tail -n 40 "$WORK/$piece.log" >&2
    fail "$piece (see the output above; try a neighbouring version, e.g. ${piece^^}_VERSION=...)"
  fi
  log "[$n/$STEPS] built $piece $version in $(elapsed $((SECONDS - t))) (total $(elapsed $((SECONDS - START))))"
}

build_kubernetes() {
  local minor staging mod ld p
  minor=$(cut -d. -f2 <<<"$K8S_VERSION")
  staging="v0.${K8S_VERSION#v1.}"
  mkdir -p "$WORK/k8s" "$K8S_DIR.tmp" && cd "$WORK/k8s"
  go mod init gridshift.local/k8sbins
  go mod edit -go=1.26.0
  # k8s.io/kubernetes maps its staging modules to ./staging; map each to its published v0.Y.Z instead
  mod=$(go mod download -json "k8s.io/kubernetes@${K8S_VERSION}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
  go mod edit -json "$mod" | python3 -c '
import json, sys
for r in json.load(sys.stdin).get("Replace") or []:
    if r["New"]["Path"].startswith("./staging/"):
        print(r["Old"]["Path"])' >staging.txt
  while read -r m; do go mod edit -replace="$m=$m@${staging}"; done <staging.txt
  go get -tool "k8s.io/kubernetes/cmd/kube-apiserver@${K8S_VERSION}" \
    "k8s.io/kubernetes/cmd/kube-controller-manager@${K8S_VERSION}" \
    "k8s.io/kubernetes/cmd/kube-scheduler@${K8S_VERSION}" \
    "k8s.io/kubernetes/cmd/kubectl@${K8S_VERSION}" \
    "k8s.io/kubernetes/cmd/kubelet@${K8S_VERSION}" \
    "k8s.io/kubernetes/cmd/kube-proxy@${K8S_VERSION}"
  ld="-s -w"
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $p.gitVersion=${K8S_VERSION} -X $p.gitMajor=1 -X $p.gitMinor=${minor}"
    ld+=" -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
  done
  go build -p 2 -tags notest -ldflags "$ld" -o "$K8S_DIR.tmp/" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl k8s.io/kubernetes/cmd/kubelet \
    k8s.io/kubernetes/cmd/kube-proxy
  "$K8S_DIR.tmp/kube-apiserver" --version | grep -q "$K8S_VERSION"
  rm -rf "$K8S_DIR" && mv "$K8S_DIR.tmp" "$K8S_DIR"
}

build_etcd() {
  mkdir -p "$WORK/etcd" "$ETCD_DIR.tmp" && cd "$WORK/etcd"
  go mod init gridshift.local/etcdbin
  go get -tool "go.etcd.io/etcd/server/v3@${ETCD_VERSION}"
  go build -ldflags "-s -w" -o "$ETCD_DIR.tmp/etcd" go.etcd.io/etcd/server/v3
  "$ETCD_DIR.tmp/etcd" --version | grep -q "${ETCD_VERSION#v}"
  rm -rf "$ETCD_DIR" && mv "$ETCD_DIR.tmp" "$ETCD_DIR"
}

build_kwok() {
  mkdir -p "$KWOK_DIR.tmp"
  GOBIN="$KWOK_DIR.tmp" go install -ldflags "-s -w" \
    "sigs.k8s.io/kwok/cmd/kwok@${KWOK_VERSION}" "sigs.k8s.io/kwok/cmd/kwokctl@${KWOK_VERSION}"
  rm -rf "$KWOK_DIR" && mv "$KWOK_DIR.tmp" "$KWOK_DIR"
}

build_helm() {
  local major=${HELM_VERSION%%.*}
  local mod="helm.sh/helm/${major}"
  [[ $major == v2 ]] && fail "helm: v2 is not supported"
  mkdir -p "$WORK/helm" "$HELM_DIR.tmp" && cd "$WORK/helm"
  go mod init gridshift.local/helmbin
  go get -tool "${mod}/cmd/helm@${HELM_VERSION}"
  go build -ldflags "-s -w -X ${mod}/internal/version.version=${HELM_VERSION}" -o "$HELM_DIR.tmp/helm" "${mod}/cmd/helm"
  rm -rf "$HELM_DIR" && mv "$HELM_DIR.tmp" "$HELM_DIR"
}

build_traefik() {
  local mod="github.com/traefik/traefik/v3" gomod
  mkdir -p "$WORK/traefik" "$TRAEFIK_DIR.tmp" && cd "$WORK/traefik"
  go mod init gridshift.local/traefikbin
  # a dependency's replace and exclude lines are ignored, so carry Traefik's own over; one that
  # points at a folder cannot be carried (the module zip lacks it), so say so and stop
  gomod=$(go mod download -json "${mod}@${TRAEFIK_VERSION}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
  go mod edit -json "$gomod" | python3 -c '
import json, sys
mod = json.load(sys.stdin)
for r in mod.get("Replace") or []:
    old, new = r["Old"], r["New"]
    if not new.get("Version"):
        sys.exit("its go.mod replaces %s with the folder %s, which the module proxy does not serve" % (old["Path"], new["Path"]))
    at = "@" + old["Version"] if old.get("Version") else ""
    print("-replace=%s%s=%s@%s" % (old["Path"], at, new["Path"], new["Version"]))
for e in mod.get("Exclude") or []:
    print("-exclude=%s@%s" % (e["Path"], e["Version"]))' >edits.txt
  while read -r edit; do go mod edit "$edit"; done <edits.txt
  go get -tool "${mod}/cmd/traefik@${TRAEFIK_VERSION}"
  # -p 1: Traefik's dependency tree is large; one package at a time keeps memory low on 2 cores
  go build -p 1 -ldflags "-s -w -X ${mod}/pkg/version.Version=${TRAEFIK_VERSION} \
    -X ${mod}/pkg/version.BuildDate=1970-01-01T00:00:00Z" -o "$TRAEFIK_DIR.tmp/traefik" "${mod}/cmd/traefik"
  "$TRAEFIK_DIR.tmp/traefik" version | grep -q "$TRAEFIK_VERSION"
  rm -rf "$TRAEFIK_DIR" && mv "$TRAEFIK_DIR.tmp" "$TRAEFIK_DIR"
}

build_toxiproxy() {
  local mod="github.com/Shopify/toxiproxy/v2"
  mkdir -p "$WORK/toxiproxy" "$TOXIPROXY_DIR.tmp" && cd "$WORK/toxiproxy"
  go mod init gridshift.local/toxiproxybin
  go get -tool "${mod}/cmd/server@${TOXIPROXY_VERSION}" "${mod}/cmd/cli@${TOXIPROXY_VERSION}"
  local ld="-s -w -X ${mod}.Version=${TOXIPROXY_VERSION#v}"
  go build -ldflags "$ld" -o "$TOXIPROXY_DIR.tmp/toxiproxy-server" "${mod}/cmd/server"
  go build -ldflags "$ld" -o "$TOXIPROXY_DIR.tmp/toxiproxy-cli" "${mod}/cmd/cli"
  "$TOXIPROXY_DIR.tmp/toxiproxy-server" -version | grep -q "${TOXIPROXY_VERSION#v}"
  rm -rf "$TOXIPROXY_DIR" && mv "$TOXIPROXY_DIR.tmp" "$TOXIPROXY_DIR"
}

if have "$K8S_DIR" kube-apiserver kube-controller-manager kube-scheduler kubectl kubelet kube-proxy; then
  log "[1/$STEPS] kubernetes $K8S_VERSION: cached"
else
  log "[1/$STEPS] kubernetes: kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, kubelet, kube-proxy (the long one: ~20 min cold)"
  step 1 kubernetes "$K8S_VERSION" build_kubernetes
fi
if have "$ETCD_DIR" etcd; then log "[2/$STEPS] etcd $ETCD_VERSION: cached"; else
  step 2 etcd "$ETCD_VERSION" build_etcd; fi
if have "$KWOK_DIR" kwok kwokctl; then log "[3/$STEPS] kwok $KWOK_VERSION: cached"; else
  step 3 kwok "$KWOK_VERSION" build_kwok; fi
if have "$HELM_DIR" helm; then log "[4/$STEPS] helm $HELM_VERSION: cached"; else
  step 4 helm "$HELM_VERSION" build_helm; fi
if have "$TRAEFIK_DIR" traefik; then log "[5/$STEPS] traefik $TRAEFIK_VERSION: cached"; else
  log "[5/$STEPS] traefik: the Gateway API data plane (~12 min cold)"
  step 5 traefik "$TRAEFIK_VERSION" build_traefik; fi
if have "$TOXIPROXY_DIR" toxiproxy-server toxiproxy-cli; then log "[6/$STEPS] toxiproxy $TOXIPROXY_VERSION: cached"; else
  step 6 toxiproxy "$TOXIPROXY_VERSION" build_toxiproxy; fi

# one directory with every binary, so tools and tests take a single path
mkdir -p "$BIN"
for f in "$K8S_DIR"/* "$ETCD_DIR"/* "$KWOK_DIR"/* "$HELM_DIR"/* "$TRAEFIK_DIR"/* "$TOXIPROXY_DIR"/*; do ln -sfn "$f" "$BIN/$(basename "$f")"; done
log "all binaries ready in $(elapsed $((SECONDS - START))): $BIN"
echo "$BIN"
