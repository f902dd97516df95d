# One image per service: docker build --build-arg SERVICE=scanner -t cloudwaste-scanner .
# (Not built in CI here: the development machines have no Docker engine.)
FROM python:3.11-slim AS build
ARG SERVICE=scanner
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY protos protos
COPY services services
# dev/ (simulated estates, the one-machine launcher) is deliberately not copied: images do not ship it.
COPY tools tools
RUN pip install --no-cache-dir grpcio-tools \
 && python tools/gen_protos.py \
 && pip wheel --no-cache-dir --wheel-dir /wheels ".[${SERVICE}]"

FROM python:3.11-slim
ARG SERVICE=scanner
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels \
 && useradd --uid 10001 --no-create-home cloudwaste
USER 10001
EXPOSE 50051 9090
ENTRYPOINT ["cloudwaste"]
CMD ["serve", "scanner"]
