#!/usr/bin/env bash
# Install the Debian packages the local fleet and the image builder need, when they are missing:
#   - PostgreSQL's server binaries (initdb, pg_ctl) for the ledger's throwaway server
#     (any PostgreSQL whose bin directory GRIDSHIFT_PG_BIN_DIR names will do instead);
#   - umoci, which writes the container images (`gridshift dev images`, `make image`);
#   - containerd and runc, which run them (real nodes, and the image tests), with the CNI
#     plugins (containernetworking-plugins) and nsenter (util-linux) of the real nodes;
#   - mosquitto, the MQTT broker the OpenADR tests give the VTN for its notifications.
# Used by `.ci/run`, `make demo` and `make image`. Installs only what is missing, so a second run
# changes nothing; needs root (or sudo) only when something has to be installed. Prints
# PostgreSQL's bin directory last.
set -euo pipefail

have_postgres() {
  compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null \
    || { [ -n "${GRIDSHIFT_PG_BIN_DIR:-}" ] && [ -x "${GRIDSHIFT_PG_BIN_DIR}/initdb" ]; }
}

missing=()
have_postgres || missing+=(postgresql-15)
for tool in umoci:umoci containerd:containerd ctr:containerd runc:runc nsenter:util-linux \
  mosquitto:mosquitto; do
  command -v "${tool%%:*}" >/dev/null || missing+=("${tool##*:}")
done
[ -x /usr/lib/cni/bridge ] || missing+=(containernetworking-plugins)
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u | sed '/^$/d')

if [ "${#missing[@]}" -gt 0 ]; then
  if ! command -v apt-get >/dev/null; then
    echo "missing: ${missing[*]}, and this is not Debian: install them (for PostgreSQL, a" >&2
    echo "PostgreSQL 15 server, with GRIDSHIFT_PG_BIN_DIR set to its bin directory)" >&2
    exit 1
  fi
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "installing ${missing[*]} needs root or sudo" >&2; exit 1; }
    sudo="sudo"
  fi
  echo "installing Debian packages: ${missing[*]}" >&2
  $sudo apt-get update -qq
  install() { $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"; }
  others=("${missing[@]/postgresql-15/}")
  mapfile -t others < <(printf '%s\n' "${others[@]}" | sed '/^$/d')
  [ "${#others[@]}" -eq 0 ] || install "${others[@]}"
  if [[ " ${missing[*]} " == *" postgresql-15 "* ]]; then
    install postgresql-15 || install postgresql
  fi
fi

if compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
  ls -d /usr/lib/postgresql/*/bin
else
  echo "${GRIDSHIFT_PG_BIN_DIR}"
fi
