# One image per service, all from this file:
#   docker build --build-arg SERVICE=<service> -t <repository>-<service>:<version> .
# <service> is scanner, enricher, exporter or predictor (the service extras in pyproject.toml) and is
# required. The image installs cloudwaste[<service>]: the base dependencies plus that service's extra,
# so the predictor's image carries no cloud SDK and the scanner's no training stack. Every image holds
# all the code under services/ and the `cloudwaste` CLI (never dev/). The Helm chart runs
# <image.repository>-<service>:<image.tag> (deploy/helm/cloudwaste/values.yaml, image): each service's
# Deployment its own image, the migration hook the enricher's (base dependencies only), the export and
# purge CronJobs the exporter's, the scheduled scans the scanner's. To build the four for the chart:
#   for s in scanner enricher exporter predictor; do
#     docker build --build-arg SERVICE=$s -t ghcr.io/cloudwaste/cloudwaste-$s:0.1.0 .; done
# `make images` (tools/build_images.sh) builds the four and checks each starts; CI runs it where there
# is docker or podman. The development machines have neither: there tests/test_images.py checks
# statically that each image has what the commands the chart runs in it import, and lints this file.
#
# Reproducible: the base image is pinned to a patch release (the Python CI tests on; bump it
# deliberately), and every third-party package comes from the service's lock file with its hashes
# (requirements/<service>.txt, resolved by tools/lock.sh from pyproject.toml), so an image installs
# exactly the versions CI tested.
FROM python:3.11.7-slim-bookworm AS build
ARG SERVICE
# pip only warns about an unknown extra: refuse it here rather than build an image without its stack.
RUN case "${SERVICE}" in scanner|enricher|exporter|predictor) ;; \
      *) echo "build with --build-arg SERVICE=scanner|enricher|exporter|predictor (got '${SERVICE}')" >&2; exit 1 ;; \
    esac
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY protos protos
COPY services services
# dev/ (simulated estates, the one-machine launcher) is deliberately not copied: images do not ship it.
COPY tools tools
COPY requirements requirements
RUN pip install --no-cache-dir --require-hashes -r requirements/build.txt \
 && python tools/gen_protos.py \
 && pip wheel --no-cache-dir --no-deps --wheel-dir /wheels ".[${SERVICE}]" \
 && cp "requirements/${SERVICE}.txt" /wheels/requirements.txt

FROM python:3.11.7-slim-bookworm
ARG SERVICE
LABEL org.opencontainers.image.title="cloudwaste-${SERVICE}"
# Which service this image is for: what `docker run IMAGE` with no arguments serves.
ENV CLOUDWASTE_IMAGE_SERVICE=${SERVICE}
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --require-hashes -r /wheels/requirements.txt \
 && pip install --no-cache-dir --no-deps /wheels/*.whl && rm -rf /wheels \
 && useradd --uid 10001 --no-create-home cloudwaste
USER 10001
EXPOSE 50051 9090
# `docker run IMAGE` runs `cloudwaste serve <SERVICE>`; `docker run IMAGE migrate` (any arguments) runs
# `cloudwaste migrate`. The chart sets the full command (`cloudwaste ...`), which replaces this.
ENTRYPOINT ["/bin/sh", "-c", "[ \"$#\" -gt 0 ] || set -- serve \"$CLOUDWASTE_IMAGE_SERVICE\"; exec cloudwaste \"$@\"", "cloudwaste"]
