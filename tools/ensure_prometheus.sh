#!/usr/bin/env bash
# Prometheus and promtool (Debian's `prometheus` package): the tests prove the alert rules with
# `promtool test rules` and the dashboard's queries against a real Prometheus; `make up` can start
# one. Installed if missing and we are root (as tools/ensure_postgres.sh does for PostgreSQL).
set -euo pipefail
if command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Prometheus and promtool (Debian package)..."
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
  # the package starts no daemon without systemd; make sure none runs on the default port
  exit 0
fi
echo "prometheus and promtool not found: install the 'prometheus' package (Debian) or put both on PATH" >&2
exit 1
