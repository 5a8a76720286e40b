#!/usr/bin/env bash
# Install the system packages the local fleet needs, when they are missing: Debian's PostgreSQL
# server binaries (initdb, pg_ctl) for the ledger's throwaway server. Used by `.ci/run` and
# `make demo`. Needs root (or sudo) only when something has to be installed.
set -euo pipefail

if compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
  ls -d /usr/lib/postgresql/*/bin
  exit 0
fi
if [ -n "${GRIDSHIFT_PG_BIN_DIR:-}" ] && [ -x "${GRIDSHIFT_PG_BIN_DIR}/initdb" ]; then
  echo "${GRIDSHIFT_PG_BIN_DIR}"
  exit 0
fi
if ! command -v apt-get >/dev/null; then
  echo "PostgreSQL server binaries (initdb, pg_ctl) are missing and this is not Debian:" >&2
  echo "install a PostgreSQL 15 server and set GRIDSHIFT_PG_BIN_DIR to its bin directory" >&2
  exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "installing postgresql-15 needs root or sudo" >&2; exit 1; }
  sudo="sudo"
fi
$sudo apt-get update -qq
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-15 \
  || $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql
ls -d /usr/lib/postgresql/*/bin
