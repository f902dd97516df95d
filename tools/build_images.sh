#!/usr/bin/env bash
# Builds the four service images from the Dockerfile and checks that each starts: `--help`, and the
# service's own code imports with the image's locked dependencies. CI runs it after `make test`.
#
#   tools/build_images.sh              # fails without a container builder
#   tools/build_images.sh --if-builder # says so and succeeds without one (CI on machines with none)
#
# A builder is a working `docker` (its daemon answering) or `podman`.
set -euo pipefail
cd "$(dirname "$0")/.."

builder=""
if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
  builder=docker
elif command -v podman >/dev/null 2>&1 && podman info >/dev/null 2>&1; then
  builder=podman
fi
if [ -z "$builder" ]; then
  echo "build_images: no container builder (a working docker or podman): images not built;" \
    "make test lints the Dockerfile (hadolint) and checks each image's imports statically" >&2
  [ "${1:-}" = "--if-builder" ] && exit 0
  exit 1
fi

tag="cloudwaste-ci-$(git rev-parse --short HEAD 2>/dev/null || echo local)"
for service in scanner enricher exporter predictor; do
  image="cloudwaste-${service}:${tag}"
  echo "build_images: building ${image} with ${builder}"
  "$builder" build --quiet --build-arg "SERVICE=${service}" -t "$image" . >/dev/null
  "$builder" run --rm "$image" --help >/dev/null
  "$builder" run --rm --entrypoint python "$image" -c "import cloudwaste.${service}.server"
  echo "build_images: ${image} starts (--help) and imports cloudwaste.${service}.server"
done
