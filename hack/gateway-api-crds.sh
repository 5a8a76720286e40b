#!/usr/bin/env bash
# Fetch the Gateway API CRDs (standard channel) from the Go module sigs.k8s.io/gateway-api.
#
#   hack/gateway-api-crds.sh          fetch what is missing, print the CRD directory last
#   hack/gateway-api-crds.sh --print  print the CRD directory without fetching
#
# Pinned version (override with the environment variable of the same name):
#   GATEWAY_API_VERSION  the sigs.k8s.io/gateway-api module version whose config/crd/standard/*.yaml
#                        are copied
#
# The files are the module's own (never copied into this repository); they are cached under
# ${GRIDSHIFT_CACHE:-$HOME/.cache/gridshift}/gateway-api-<version>/crds, so a warm run does nothing.
# Needs: go (the module proxy, GOPROXY as configured), python3.
set -euo pipefail

# v1.6.3 is the newest release whose module the pinned Go toolchain (1.26) accepts: v1.7.0
# declares go 1.27 and `go mod download` refuses to extract it with GOTOOLCHAIN=local.
GATEWAY_API_VERSION=${GATEWAY_API_VERSION:-v1.6.3}
CACHE=${GRIDSHIFT_CACHE:-$HOME/.cache/gridshift}
CRDS="$CACHE/gateway-api-$GATEWAY_API_VERSION/crds"
MODULE=sigs.k8s.io/gateway-api

if [[ ${1:-} == --print ]]; then echo "$CRDS"; exit 0; fi
if [[ $# -gt 0 ]]; then
  printf 'usage: %s [--print]\n' "$0" >&2
  exit 2
fi

log() { printf '[gateway-api-crds] %s\n' "$*" >&2; }
fail() { printf '[gateway-api-crds] FAILED: %s\n' "$*" >&2; exit 1; }

if [[ -s $CRDS/gateway.networking.k8s.io_httproutes.yaml ]]; then
  log "gateway-api $GATEWAY_API_VERSION: cached"
  echo "$CRDS"
  exit 0
fi

command -v go >/dev/null || fail "go is not on PATH (the CRDs come from the Go module proxy)"
command -v python3 >/dev/null || fail "python3 is not on PATH"

export GOTOOLCHAIN=${GOTOOLCHAIN:-local}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"  # outside any module, so go.mod files around the caller play no part

log "gateway-api $GATEWAY_API_VERSION: downloading $MODULE@$GATEWAY_API_VERSION"
if ! go mod download -json "$MODULE@$GATEWAY_API_VERSION" >download.json 2>download.err; then
  cat download.err >&2
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("Error", ""))' download.json >&2 || true
  fail "go mod download $MODULE@$GATEWAY_API_VERSION (see the reason above; try another version with GATEWAY_API_VERSION=...)"
fi
SRC=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("Dir", ""))' download.json)
[[ -n $SRC && -d $SRC ]] || fail "go mod download $MODULE@$GATEWAY_API_VERSION gave no module directory"
shopt -s nullglob
FILES=("$SRC"/config/crd/standard/*.yaml)
[[ ${#FILES[@]} -gt 0 ]] || fail "$MODULE@$GATEWAY_API_VERSION has no config/crd/standard/*.yaml"
[[ -f $SRC/config/crd/standard/gateway.networking.k8s.io_httproutes.yaml ]] ||
  fail "$MODULE@$GATEWAY_API_VERSION has no HTTPRoute CRD in config/crd/standard"

# copy into a fresh directory beside the cache entry, then rename: a run that stops half-way, or
# one racing another, never leaves a partial directory behind under the final name
mkdir -p "$(dirname "$CRDS")"
STAGE=$(mktemp -d "$CRDS.tmp.XXXXXX")
trap 'rm -rf "$WORK" "$STAGE"' EXIT
chmod 0755 "$STAGE"
install -m 0644 "${FILES[@]}" "$STAGE/" || fail "copying the CRD files into $STAGE"
if ! mv -T "$STAGE" "$CRDS" 2>/dev/null; then
  [[ -s $CRDS/gateway.networking.k8s.io_httproutes.yaml ]] || fail "moving the CRD files to $CRDS"
fi
log "gateway-api $GATEWAY_API_VERSION: ${#FILES[@]} files in $CRDS"
echo "$CRDS"
