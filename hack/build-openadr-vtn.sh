#!/usr/bin/env bash
# Build the independent OpenADR 3.1 VTN the OpenADR tests run against: OpenLEADR's
# `openleadr-vtn` from the Rust crate registry, with its internal OAuth server.
#
#   hack/build-openadr-vtn.sh          build it when missing, print its directory last
#   hack/build-openadr-vtn.sh --print  print that directory without building
#
# The directory holds bin/openleadr-vtn and share/users.sql, the crate's own test fixture with
# a BL client (bl-client:bl-client) and a VEN client (ven-client-client-id:ven-client).
#
# Pinned version (override with the environment variable of the same name):
#   OPENADR_VTN_VERSION  openleadr-vtn
#
# Cached under ${GRIDSHIFT_CACHE:-$HOME/.cache/gridshift}/openleadr-vtn-<version>/bin, built only
# when that binary is missing, so a warm run does nothing. Needs: cargo (Rust 1.85 or newer).
# The crate ships its query data, so the build needs no database (SQLX_OFFLINE=true). Its
# lock file does not resolve (`--locked` fails), so the build resolves its dependencies afresh.
# Runs at nice 10 (NICE to change it): about 12 min on 2 cores, ~1 GB of build folder, removed
# afterwards.
set -euo pipefail

OPENADR_VTN_VERSION=${OPENADR_VTN_VERSION:-0.2.8}
CACHE=${GRIDSHIFT_CACHE:-$HOME/.cache/gridshift}
ROOT="$CACHE/openleadr-vtn-$OPENADR_VTN_VERSION"
BIN="$ROOT/bin/openleadr-vtn"
USERS="$ROOT/share/users.sql"

if [[ ${1:-} == --print ]]; then echo "$ROOT"; exit 0; fi

log() { printf '[build-openadr-vtn] %s\n' "$*" >&2; }
fail() { printf '[build-openadr-vtn] FAILED: %s\n' "$*" >&2; exit 1; }

# the crate's fixture of users, from the source cargo unpacked
copy_fixture() {
  local src
  src=$(compgen -G "${CARGO_HOME:-$HOME/.cargo}/registry/src/*/openleadr-vtn-$OPENADR_VTN_VERSION/src/api/fixtures/users.sql" | head -n 1) \
    || fail "the crate source of openleadr-vtn $OPENADR_VTN_VERSION (its users fixture) is missing"
  mkdir -p "$ROOT/share"
  cp "$src" "$USERS"
}

if [[ -x $BIN ]]; then
  [[ -f $USERS ]] || copy_fixture
  echo "$ROOT"
  exit 0
fi

command -v cargo >/dev/null || [[ -x $HOME/.cargo/bin/cargo ]] \
  || fail "cargo is not on PATH (Rust builds the OpenADR VTN)"
command -v cargo >/dev/null || export PATH="$PATH:$HOME/.cargo/bin"

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
START=$SECONDS
log "building openleadr-vtn $OPENADR_VTN_VERSION into $ROOT …"
status=0
SQLX_OFFLINE=true CARGO_TARGET_DIR="$WORK/target" nice -n "${NICE:-10}" \
  cargo install openleadr-vtn --version "$OPENADR_VTN_VERSION" --features internal-oauth \
  --root "$ROOT" >"$WORK/build.log" 2>&1 || status=$?
if ((status != 0)) || [[ ! -x $BIN ]]; then
  tail -n 40 "$WORK/build.log" >&2
  fail "openleadr-vtn $OPENADR_VTN_VERSION (see the output above)"
fi
copy_fixture
s=$((SECONDS - START))
log "built openleadr-vtn $OPENADR_VTN_VERSION in $((s / 60)) min $(printf %02d $((s % 60))) s"
echo "$ROOT"
