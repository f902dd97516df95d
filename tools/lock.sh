#!/usr/bin/env bash
# The lock files (requirements/*.txt, every pin with its hashes), resolved by uv from pyproject.toml:
#   dev.txt        every extra: what `make setup` (and so CI) installs
#   <service>.txt  the base dependencies + that service's extra: what its image installs
#   build.txt      grpcio-tools, to generate the protos in the image's build stage
# Usage: tools/lock.sh [constraints-file]   (e.g. `pip freeze` of a venv known to pass, to keep its versions)
set -euo pipefail
cd "$(dirname "$0")/.."
UV=${UV:-.venv/bin/uv}
extra_args=(--custom-compile-command "tools/lock.sh" --generate-hashes --python-version 3.11 --python-platform x86_64-manylinux_2_28 -q)
if [ $# -gt 0 ]; then extra_args+=(-c "$1"); fi
"$UV" pip compile pyproject.toml --extra scanner --extra enricher --extra exporter --extra predictor --extra dev \
  "${extra_args[@]}" -o requirements/dev.txt
for s in scanner enricher exporter predictor; do
  "$UV" pip compile pyproject.toml --extra "$s" "${extra_args[@]}" -o "requirements/$s.txt"
done
"$UV" pip compile requirements/build.in "${extra_args[@]}" -o requirements/build.txt
