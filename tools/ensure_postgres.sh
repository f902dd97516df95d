#!/usr/bin/env bash
# PostgreSQL server binaries (initdb, pg_ctl) are needed for the embedded database of the demo and
# the tests. Debian machines of this kind ship them; if they are missing and we are root, install them.
set -euo pipefail
if [ -n "${CLOUDWASTE_PG_BINDIR:-}" ] || command -v pg_ctl >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing the PostgreSQL server (Debian package)..."
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null
  exit 0
fi
echo "PostgreSQL server binaries not found: install the 'postgresql' package or set CLOUDWASTE_PG_BINDIR" >&2
exit 1
