"""The Helm chart in deploy/helm/cloudwaste: lint, strict Kubernetes schemas, and the contract.

Rendering is offline through helm-python-sdk (Helm's Go SDK, no helm binary, no cluster);
every manifest is then validated with kubernetes-validate in strict mode (unknown fields fail).
helm-python-sdk and kubernetes-validate are dev dependencies: a missing one is an error, not a skip.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import helm_python
import kubernetes_validate
import pytest
import yaml
from cloudwaste.core.cli import build_parser
from cloudwaste.core.storage import parse_root
from cloudwaste.exporter.settings import ExporterSettings
from cloudwaste.predictor.settings import PredictorSettings

from .test_images import missing_dependencies, read_dockerfile, service_extras

CHART = Path(__file__).resolve().parents[1] / "deploy" / "helm" / "cloudwaste"
RELEASE = "demo"
NAMESPACE = "cloudwaste"
SERVICES = ("scanner", "enricher", "exporter", "predictor")
GRPC_PORT = 50051
METRICS_PORT = 9090
# The floor declared in Chart.yaml (kubeVersion >=1.27), a common production version, and the
# newest schemas kubernetes-validate ships.
KUBE_VERSIONS = sorted({"1.27", "1.30", ".".join(kubernetes_validate.latest_version().split(".")[:2])})
DATABASE_SECRET = (f"{RELEASE}-cloudwaste-database", "url")  # the schema owner's: the migration only


def database_secret(component: str) -> tuple[str, str]:
    """The Secret key of a service's own database user (its role's grants only)."""
    return (f"{RELEASE}-cloudwaste-database", f"{component}-url")
ML_HASH_SECRET = f"{RELEASE}-cloudwaste-ml-hash-key"
# values.yaml storage.root and the ServiceAccount the chart creates by default.
STORAGE_ROOT = "s3://cloudwaste-ml/exports"
SERVICE_ACCOUNT = f"{RELEASE}-cloudwaste"
# The workloads that reach the storage, as (kind, component): they run as the storage identity.
# The pods that reach the storage; the export CronJob is only a gRPC client of the exporter.
STORAGE_WORKLOADS = {
    ("Deployment", "exporter"),
    ("Deployment", "predictor"),
    ("CronJob", "training"),
}
# The predictor and the training CronJob only read it.
STORAGE_READERS = {("Deployment", "predictor"), ("CronJob", "training")}
ROLE_ARN = "arn:aws:iam::123456789012:role/cloudwaste-storage"
# The scanner and the enricher run as their own ServiceAccounts (OVERRIDES' fullname is "cw").
# The CronJobs that only call the services run each as its own ServiceAccount: its projected token
# is how the services know it (auth.mode jwt), and what it may call.
CALLERS = (("CronJob", "export"), ("CronJob", "purge"), ("CronJob", "scan"))
DEFAULT_OWN_ACCOUNTS = {
    ("Deployment", "scanner"): f"{RELEASE}-cloudwaste-scanner",
    ("Deployment", "enricher"): f"{RELEASE}-cloudwaste-enricher",
    **{key: f"{RELEASE}-cloudwaste-caller-{key[1]}" for key in CALLERS},
}
OWN_ACCOUNTS = {
    ("Deployment", "scanner"): "cw-scanner",
    ("Deployment", "enricher"): "cw-enricher",
    **{key: f"cw-caller-{key[1]}" for key in CALLERS},
}
# values.yaml image.repository: each workload runs "<repository>-<service>:<tag>".
IMAGE_REPOSITORY = "ghcr.io/cloudwaste/cloudwaste"
PROD_ACCOUNT = "cloudAccounts/0b6f2c1e-5d3a-4f7b-9c8e-1a2b3c4d5e6f"
DEV_ACCOUNT = "cloudAccounts/7d1e9a40-2b6c-4e8f-a1d3-5c7b9e0f2a4d"
SCAN_SCHEDULES = [
    {
        "name": "nightly-prod",
        "cloudAccount": PROD_ACCOUNT,
        "schedule": "0 2 * * *",
        "regions": ["eu-west-1", "us-east-1"],
    },
    {"name": "weekly-dev", "cloudAccount": DEV_ACCOUNT, "schedule": "@weekly"},
]

OVERRIDES: dict[str, Any] = {
    "fullnameOverride": "cw",
    "image": {
        "repository": "registry.example.com:5000/platform/cloudwaste",
        "tag": "1.2.3",
        "pullPolicy": "Always",
    },
    "imagePullSecrets": [{"name": "ghcr-pull"}],
    "logLevel": "DEBUG",
    "database": {
        "existingSecret": "pg-credentials",
        "secretKeys": {"url": "dsn", **{s: f"{s}-dsn" for s in ("scanner", "enricher", "exporter", "predictor")}},
    },
    "mlHashKey": {"existingSecret": "ml-hash", "secretKeys": {"key": "k", "keyId": "kid"}},
    "scanner": {"replicas": 3, "extraEnv": [{"name": "AWS_REGION", "value": "eu-west-1"}]},
    "enricher": {"replicas": 2},
    # Static keys from a Secret, on an S3-compatible store; no ServiceAccount of the chart's.
    "storage": {
        "root": "s3://ml-data.example/cloudwaste/exports",
        "s3": {
            "endpointUrl": "http://minio.storage.svc:9000",
            "region": "eu-west-1",
            "existingSecret": "minio-credentials",
            "secretKeys": {"accessKeyId": "access", "secretAccessKey": "secret"},
        },
    },
    "serviceAccount": {"create": False},
    "exporter": {"staging": {"sizeLimit": "20Gi"}},
    "predictor": {"replicas": 2, "modelPollSeconds": 120, "trainingWorker": "none"},
    "export": {"schedule": "30 1 * * 0", "startingDeadlineSeconds": 600},
    "training": {
        "schedule": "30 4 * * 0",
        "timeZone": "Europe/Paris",
        "backoffLimit": 3,
        "activeDeadlineSeconds": 7200,
        "resources": {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"memory": "4Gi"}},
    },
    "scans": {"schedules": SCAN_SCHEDULES, "activeDeadlineSeconds": 5400},
    "monitoring": {
        "scrapeAnnotations": False,
        "serviceMonitor": {
            "enabled": True,
            "interval": "15s",
            "labels": {"release": "kube-prometheus-stack"},
        },
        "prometheusRule": {"enabled": True, "labels": {"release": "kube-prometheus-stack"}},
        "dashboard": {"namespace": "monitoring", "annotations": {"grafana_folder": "CloudWaste"}},
    },
    "networkPolicy": {
        "clients": [
            {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "web"}},
                "podSelector": {"matchLabels": {"app": "cloudwaste-web"}},
            }
        ],
        "metricsFrom": [
            {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
        ],
    },
    "podDisruptionBudget": {"maxUnavailable": "50%"},
    "purge": {
        "schedule": "0 4 1 */3 *",
        "mlRetentionDays": 730,
        "exportRetentionDays": 90,
        "partitionsAhead": 6,
        "dryRun": True,
        "activeDeadlineSeconds": 900,
    },
}

# A file:// root on a shared claim (today's exporter volume, now also read by the trainers).
FILE_OVERRIDES: dict[str, Any] = {
    "storage": {"root": "file:///data/exports"},
    "exporter": {"persistence": {"existingClaim": "cw-exports"}},
}
# Credentials from workload identity: IRSA annotations on the chart's ServiceAccount.
IRSA_OVERRIDES: dict[str, Any] = {
    "serviceAccount": {"annotations": {"eks.amazonaws.com/role-arn": ROLE_ARN}},
    "storage": {"s3": {"region": "us-west-2"}},
}
VARIANTS = ["default", "override", "file_storage", "irsa"]

Manifests = list[dict[str, Any]]


def _render(chart: helm_python.Chart, values: dict[str, Any] | None) -> Manifests:
    files = chart.render(values, name=RELEASE, namespace=NAMESPACE)
    docs: Manifests = []
    for path, text in sorted(files.items()):
        if path.endswith("NOTES.txt"):
            continue
        docs.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return docs


@pytest.fixture(scope="module")
def chart():
    with helm_python.Chart.load(CHART) as loaded:
        yield loaded


@pytest.fixture(scope="module")
def default(chart) -> Manifests:
    return _render(chart, None)


@pytest.fixture(scope="module")
def override(chart) -> Manifests:
    return _render(chart, OVERRIDES)


@pytest.fixture(scope="module")
def file_storage(chart) -> Manifests:
    return _render(chart, FILE_OVERRIDES)


@pytest.fixture(scope="module")
def irsa(chart) -> Manifests:
    return _render(chart, IRSA_OVERRIDES)


@pytest.fixture
def rendered(request, variant: str) -> Manifests:
    """The manifests of the test's `variant` parameter: one of the VARIANTS fixtures."""
    return request.getfixturevalue(variant)


def _of_kind(docs: Manifests, kind: str) -> Manifests:
    return [doc for doc in docs if doc["kind"] == kind]


def _one(docs: Manifests, kind: str) -> dict[str, Any]:
    (doc,) = _of_kind(docs, kind)
    return doc


def _component(doc: dict[str, Any]) -> str:
    return doc["metadata"]["labels"]["app.kubernetes.io/component"]


def _services(docs: Manifests) -> Manifests:
    """The services' ClusterIP Services (not their headless twins)."""
    return [s for s in _of_kind(docs, "Service") if s["spec"].get("clusterIP") != "None"]


def _deployments(docs: Manifests) -> dict[str, dict[str, Any]]:
    return {_component(d): d for d in _of_kind(docs, "Deployment")}


def _cronjobs(docs: Manifests, component: str) -> Manifests:
    return [d for d in _of_kind(docs, "CronJob") if _component(d) == component]


def _pod_spec(doc: dict[str, Any]) -> dict[str, Any]:
    """The pod spec of a Deployment, Job or CronJob."""
    spec = doc["spec"]["jobTemplate"]["spec"] if doc["kind"] == "CronJob" else doc["spec"]
    return spec["template"]["spec"]


def _export_cronjob(docs: Manifests) -> dict[str, Any]:
    (cronjob,) = _cronjobs(docs, "export")
    return cronjob


def _workloads(docs: Manifests) -> list[tuple[str, dict[str, Any]]]:
    """("Kind/name", pod spec) of every Deployment, Job and CronJob."""
    found = []
    for doc in docs:
        spec = doc.get("spec", {})
        if doc["kind"] == "CronJob":
            spec = spec["jobTemplate"]["spec"]
        if doc["kind"] in ("Deployment", "Job", "CronJob"):
            found.append((f"{doc['kind']}/{doc['metadata']['name']}", spec["template"]["spec"]))
        else:
            assert "template" not in spec, f"{doc['kind']} runs pods: check its containers here too"
    return found


def _commands(pod_spec: dict[str, Any]) -> list[tuple[dict[str, Any], list[str]]]:
    """(container, the command it runs) of every container of a pod."""
    containers = pod_spec["containers"] + pod_spec.get("initContainers", [])
    return [(c, [*c.get("command", []), *c.get("args", [])]) for c in containers]


def _image_service(image: str, repository: str, tag: str) -> str | None:
    """The service extra an image was built with: the Dockerfile's `--build-arg SERVICE=<service>`
    image is pushed as `<repository>-<service>:<tag>`, and `<repository>:<tag>` is what a build
    without the build argument makes (the Dockerfile's default, if it has one)."""
    if image == f"{repository}:{tag}":
        return read_dockerfile().default_service
    services = "|".join(sorted(service_extras()))
    match = re.fullmatch(rf"{re.escape(repository)}-({services}):{re.escape(tag)}", image)
    return match.group(1) if match else None


def _container(pod_spec: dict[str, Any]) -> dict[str, Any]:
    (container,) = pod_spec["containers"]
    return container


def _env(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    names = [e["name"] for e in container["env"]]
    assert len(names) == len(set(names)), f"duplicate env vars in {names}"
    return {e["name"]: e for e in container["env"]}


def _secret_ref(env: dict[str, dict[str, Any]], name: str) -> tuple[str, str]:
    ref = env[name]["valueFrom"]["secretKeyRef"]
    return ref["name"], ref["key"]


def _assert_hardened(pod_spec: dict[str, Any]) -> None:
    pod_sc = pod_spec["securityContext"]
    assert pod_sc["runAsNonRoot"] is True
    assert pod_sc["runAsUser"] == 10001
    assert pod_sc["seccompProfile"] == {"type": "RuntimeDefault"}
    container = _container(pod_spec)
    sc = container["securityContext"]
    assert sc["runAsNonRoot"] is True
    assert sc["runAsUser"] == 10001
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
    assert sc.get("privileged", False) is False
    # The read-only root filesystem leaves /tmp writable through an emptyDir.
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod_spec["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]


# --- lint and schemas ---------------------------------------------------------------------------


@pytest.mark.parametrize("values", [None, OVERRIDES, FILE_OVERRIDES, IRSA_OVERRIDES], ids=VARIANTS)
def test_helm_lint_strict_is_clean(values):
    report = helm_python.lint(CHART, values, strict=True)
    assert report["total_charts_linted"] == 1
    assert report["errors"] == []
    # Severity 2 = warning, 3 = error; strict lint treats warnings as failures.
    assert [m for m in report["messages"] if m["severity"] >= 2] == []


@pytest.mark.parametrize("kube_version", KUBE_VERSIONS)
@pytest.mark.parametrize("variant", VARIANTS)
def test_every_manifest_passes_strict_kubernetes_schema(rendered, variant, kube_version):
    docs = rendered
    assert docs
    for doc in docs:
        if doc["apiVersion"].startswith("monitoring.coreos.com/"):
            continue  # the Prometheus Operator's kinds: test_monitoring_objects checks them
        try:
            used = kubernetes_validate.validate(doc, kube_version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(str(p) for p in exc.path)
            pytest.fail(f"{doc['kind']}/{doc['metadata']['name']} at {path}: {exc.message}")
        assert used == kube_version  # validated against that version's schemas, not a fallback


def test_renders_exactly_the_expected_objects(default):
    kinds = sorted(doc["kind"] for doc in default)
    assert kinds == sorted(
        ["Deployment"] * 4
        + ["Service"] * 8  # each service's, and its headless twin for client-side balancing
        + ["Job"]
        + ["CronJob"] * 3
        # the storage identity, the scanner's, the enricher's, the export and purge CronJobs' (no
        # scan CronJob by default: scans.schedules is empty)
        + ["ServiceAccount"] * 5
        + ["PodDisruptionBudget"] * 4
        + ["NetworkPolicy"] * 4
        + ["HorizontalPodAutoscaler"]  # the predictor's
        + ["ConfigMap"]  # the Grafana dashboard
    )
    assert sorted(_component(c) for c in _of_kind(default, "CronJob")) == ["export", "purge", "training"]
    assert sorted(_deployments(default)) == sorted(SERVICES)
    names = [(doc["kind"], doc["metadata"]["name"]) for doc in default]
    assert len(names) == len(set(names))
    assert all(doc["metadata"]["namespace"] == NAMESPACE for doc in default)
    # The chart reads its Secrets but never creates them (the pre-install hook needs them first).
    assert not _of_kind(default, "Secret")


@pytest.mark.parametrize(
    "values",
    [
        {"bogus": True},
        {"scanner": {"replica": 2}},
        {"exporter": {"persistence": {"existingClaim": "x", "size": "10Gi"}}},
        {"export": {"schedul": "0 4 * * *"}},
    ],
    ids=["top-level", "component", "exporter-persistence", "export"],
)
def test_schema_rejects_unknown_keys(chart, values):
    with pytest.raises(helm_python.HelmValuesError, match=r"additional properties .* not allowed"):
        chart.render(values, name=RELEASE, namespace=NAMESPACE)
    report = helm_python.lint(CHART, values, strict=True)
    assert any("not allowed" in error for error in report["errors"])


@pytest.mark.parametrize(
    "repository",
    [
        "ghcr.io/cloudwaste/cloudwaste:0.1.0",
        "ghcr.io/cloudwaste/cloudwaste@sha256:0f1e",
        "ghcr.io/cloudwaste/",
        "",
    ],
    ids=["with-a-tag", "with-a-digest", "trailing-slash", "empty"],
)
def test_schema_rejects_an_image_repository_that_is_not_a_prefix(chart, repository):
    """The chart appends "-<service>:<tag>" to it, so it cannot carry a tag or digest itself."""
    with pytest.raises(helm_python.HelmValuesError, match="/image/repository"):
        chart.render({"image": {"repository": repository}}, name=RELEASE, namespace=NAMESPACE)


def test_schema_rejects_wrong_types(chart):
    with pytest.raises(helm_python.HelmValuesError, match="/scanner/replicas"):
        chart.render({"scanner": {"replicas": "three"}}, name=RELEASE, namespace=NAMESPACE)


# --- what every workload runs, and in which image ------------------------------------------------


def _image_values(variant: str) -> tuple[str, str]:
    image = OVERRIDES["image"] if variant == "override" else {}
    return image.get("repository", IMAGE_REPOSITORY), image.get("tag", "0.1.0")


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_container_command_parses_with_the_cli(rendered, variant):
    workloads = _workloads(rendered)
    assert {where.split("/")[0] for where, _ in workloads} == {"Deployment", "Job", "CronJob"}
    for where, pod_spec in workloads:
        for _, command in _commands(pod_spec):
            assert command[:1] == ["cloudwaste"], f"{where} runs {command}, not the cloudwaste CLI"
            try:
                build_parser().parse_args(command[1:])
            except SystemExit:
                pytest.fail(f"{where}: the cloudwaste CLI rejects {command} (its message is above)")


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_workload_runs_an_image_that_has_what_its_command_needs(rendered, variant):
    """The image's service extra (plus the base dependencies) provides every third-party module
    that the code the command runs imports; see tests/test_images.py."""
    repository, tag = _image_values(variant)
    problems = []
    for where, pod_spec in _workloads(rendered):
        for container, command in _commands(pod_spec):
            image = container["image"]
            service = _image_service(image, repository, tag)
            if service is None:
                problems.append(f"{where}: {image} is none of the images the Dockerfile builds")
                continue
            problems += [
                f"{where} runs `{' '.join(command)}` in {image}: {problem}"
                for problem in missing_dependencies(command[1:], service)
            ]
    assert not problems, "\n".join(problems)


# --- Deployments and Services ------------------------------------------------------------------


@pytest.mark.parametrize("service", SERVICES)
def test_deployment_probes_ports_and_security(default, service):
    deployment = _deployments(default)[service]
    pod_spec = deployment["spec"]["template"]["spec"]
    container = _container(pod_spec)

    assert container["command"] == ["cloudwaste", "serve", service]
    # The service's own image (Chart appVersion): its extra has what serving it needs.
    assert container["image"] == f"{IMAGE_REPOSITORY}-{service}:0.1.0"
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"grpc": GRPC_PORT, "metrics": METRICS_PORT}
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["grpc"]["port"] == GRPC_PORT, probe
    # readiness follows the database (the server's status, ""); liveness and start-up do not, so a
    # database outage takes replicas out of the Service without the kubelet restarting them
    # (tests/integration/test_readiness.py shows the health names behave so)
    assert container["readinessProbe"]["grpc"].get("service", "") == ""
    assert container["livenessProbe"]["grpc"]["service"] == "liveness"
    assert container["startupProbe"]["grpc"]["service"] == "liveness"
    _assert_hardened(pod_spec)
    assert pod_spec["automountServiceAccountToken"] is False
    assert container["resources"]["requests"] and container["resources"]["limits"]


def test_service_specific_environment(default):
    deployments = _deployments(default)
    envs = {name: _env(_container(d["spec"]["template"]["spec"])) for name, d in deployments.items()}
    services = {_component(s): s for s in _services(default)}

    for service, env in envs.items():
        # each service connects as its own database user, never as the schema owner
        assert _secret_ref(env, "CLOUDWASTE_DATABASE_URL") == database_secret(service)
        assert env["CLOUDWASTE_GRPC_PORT"]["value"] == "50051"
        assert env["CLOUDWASTE_METRICS_PORT"]["value"] == "9090"
        assert env["CLOUDWASTE_LOG_LEVEL"]["value"] == "INFO"
        has_hash_key = service in {"scanner", "enricher"}
        assert ("CLOUDWASTE_HASH_KEY" in env) is has_hash_key, service
        assert ("CLOUDWASTE_HASH_KEY_ID" in env) is has_hash_key, service
        if has_hash_key:
            assert _secret_ref(env, "CLOUDWASTE_HASH_KEY") == (ML_HASH_SECRET, "key")
            assert _secret_ref(env, "CLOUDWASTE_HASH_KEY_ID") == (ML_HASH_SECRET, "keyId")

    enricher_service = services["enricher"]["metadata"]["name"]
    assert envs["scanner"]["CLOUDWASTE_ENRICHER_ADDRESS"]["value"] == f"{enricher_service}:50051"
    # the scanner scores each scan's findings with the predictor's waste model
    predictor_service = services["predictor"]["metadata"]["name"]
    assert envs["scanner"]["CLOUDWASTE_PREDICTOR_ADDRESS"]["value"] == f"{predictor_service}:50051"
    assert envs["exporter"]["CLOUDWASTE_EXPORT_ROOT"]["value"] == STORAGE_ROOT
    assert envs["predictor"]["CLOUDWASTE_DATASET_ROOT"]["value"] == STORAGE_ROOT
    assert envs["predictor"]["CLOUDWASTE_MODEL_POLL_SECONDS"]["value"] == "30"
    assert envs["predictor"]["CLOUDWASTE_TRAINING_WORKER"]["value"] == "process"
    only = {
        "CLOUDWASTE_ENRICHER_ADDRESS": "scanner",
        "CLOUDWASTE_PREDICTOR_ADDRESS": "scanner",
        "CLOUDWASTE_EXPORT_ROOT": "exporter",
        "TMPDIR": "exporter",
        "CLOUDWASTE_DATASET_ROOT": "predictor",
        "CLOUDWASTE_MODEL_POLL_SECONDS": "predictor",
        "CLOUDWASTE_TRAINING_WORKER": "predictor",
    }
    for name, owner in only.items():
        assert [s for s, env in envs.items() if name in env] == [owner]


def _volume_at(pod_spec: dict[str, Any], path: str) -> dict[str, Any] | None:
    """The volume mounted at `path` in the pod's container, or None."""
    mounts = {m["mountPath"]: m["name"] for m in _container(pod_spec)["volumeMounts"]}
    volumes = {v["name"]: v for v in pod_spec["volumes"]}
    return volumes[mounts[path]] if path in mounts else None


def test_exporter_stages_in_a_writable_tmpdir_and_mounts_no_export_volume_for_s3(default):
    """An s3:// root needs no export volume, but each file is staged locally first: TMPDIR is an
    emptyDir (the root filesystem is read-only)."""
    exporter = _deployments(default)["exporter"]
    pod_spec = exporter["spec"]["template"]["spec"]
    tmpdir = _env(_container(pod_spec))["TMPDIR"]["value"]
    assert _volume_at(pod_spec, tmpdir) == {"name": "staging", "emptyDir": {}}
    assert "strategy" not in exporter["spec"]
    for doc in _of_kind(default, "Deployment") + _of_kind(default, "CronJob"):
        pod_spec = _pod_spec(doc)
        assert all("persistentVolumeClaim" not in v for v in pod_spec["volumes"]), doc["metadata"]["name"]
        assert "/exports" not in {m["mountPath"] for m in _container(pod_spec)["volumeMounts"]}


def test_exporter_staging_size_limit_reaches_the_empty_dir(override):
    pod_spec = _deployments(override)["exporter"]["spec"]["template"]["spec"]
    tmpdir = _env(_container(pod_spec))["TMPDIR"]["value"]
    assert _volume_at(pod_spec, tmpdir)["emptyDir"] == {"sizeLimit": "20Gi"}


def test_a_file_root_without_a_claim_is_the_exporters_empty_dir_when_nothing_trains(chart):
    """Today's behaviour, kept where it harms nobody: with training off, a file:// root without a
    claim is an emptyDir in the exporter pod."""
    docs = _render(chart, {"storage": {"root": "file:///exports"}, "training": {"enabled": False}})
    exporter = _deployments(docs)["exporter"]
    pod_spec = exporter["spec"]["template"]["spec"]
    assert _env(_container(pod_spec))["CLOUDWASTE_EXPORT_ROOT"]["value"] == "file:///exports"
    assert _volume_at(pod_spec, "/exports") == {"name": "exports", "emptyDir": {}}
    assert "strategy" not in exporter["spec"]
    assert _cronjobs(docs, "training") == []


def test_services_expose_grpc_and_metrics_and_select_one_deployment(default):
    deployments = _deployments(default)
    services = _services(default)
    assert len(services) == len(SERVICES)
    for service in services:
        component = _component(service)
        assert service["metadata"]["name"] == deployments[component]["metadata"]["name"]
        ports = {p["name"]: (p["port"], p["targetPort"]) for p in service["spec"]["ports"]}
        assert ports == {"grpc": (GRPC_PORT, "grpc"), "metrics": (METRICS_PORT, "metrics")}
        selector = service["spec"]["selector"].items()
        matched = [
            name
            for name, d in deployments.items()
            if selector <= d["spec"]["template"]["metadata"]["labels"].items()
        ]
        assert matched == [component]
        assert service["spec"]["selector"] == deployments[component]["spec"]["selector"]["matchLabels"]


# --- hook Job and CronJob ----------------------------------------------------------------------


def test_migration_job_is_a_pre_install_pre_upgrade_hook(default):
    job = _one(default, "Job")
    annotations = job["metadata"]["annotations"]
    assert annotations["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert annotations["helm.sh/hook-delete-policy"] == "before-hook-creation,hook-succeeded"
    int(annotations["helm.sh/hook-weight"])  # a string holding an integer
    pod_spec = job["spec"]["template"]["spec"]
    container = _container(pod_spec)
    assert container["command"] == ["cloudwaste", "migrate"]
    assert _secret_ref(_env(container), "CLOUDWASTE_DATABASE_URL") == DATABASE_SECRET
    assert pod_spec["restartPolicy"] == "Never"
    _assert_hardened(pod_spec)


def test_weekly_export_cronjob(default):
    cronjob = _export_cronjob(default)
    spec = cronjob["spec"]
    assert spec["schedule"] == "0 3 * * 1"  # Monday 03:00
    assert spec["concurrencyPolicy"] == "Forbid"
    for knob in ("successfulJobsHistoryLimit", "failedJobsHistoryLimit", "startingDeadlineSeconds"):
        assert isinstance(spec[knob], int), knob
    assert isinstance(spec["jobTemplate"]["spec"]["backoffLimit"], int)

    pod_spec = spec["jobTemplate"]["spec"]["template"]["spec"]
    command = _container(pod_spec)["command"]
    assert command[:2] == ["cloudwaste", "export"]
    args = build_parser().parse_args(command[1:])
    exporter_service = _deployments(default)["exporter"]["metadata"]["name"]
    assert (args.exporter_address, args.destination) == (f"{exporter_service}:50051", STORAGE_ROOT)
    # The CLI gives up (with a message naming the exporter) before the Job's deadline kills it.
    deadline = spec["jobTemplate"]["spec"]["activeDeadlineSeconds"]
    assert 0 < args.connect_timeout < args.timeout < deadline
    assert pod_spec["restartPolicy"] == "Never"
    _assert_hardened(pod_spec)


# --- scheduled scans ---------------------------------------------------------------------------


def _scan_args(cronjob: dict[str, Any]):
    """The scan CronJob's command, parsed by the real `cloudwaste` parser."""
    command = _container(cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"])["command"]
    assert command[:2] == ["cloudwaste", "scan"]
    return build_parser().parse_args(command[1:])


def test_no_scheduled_scans_by_default(default):
    assert _cronjobs(default, "scan") == []


def test_each_schedule_is_a_cronjob_scanning_its_account_through_the_scanner(override):
    scanner_service = _deployments(override)["scanner"]["metadata"]["name"]
    cronjobs = _cronjobs(override, "scan")
    assert len(cronjobs) == len(SCAN_SCHEDULES)
    names = {c["metadata"]["name"] for c in cronjobs}
    assert len(names) == len(SCAN_SCHEDULES)

    for entry in SCAN_SCHEDULES:
        (cronjob,) = [c for c in cronjobs if c["metadata"]["name"].endswith(entry["name"])]
        spec = cronjob["spec"]
        assert spec["schedule"] == entry["schedule"]
        assert spec["concurrencyPolicy"] == "Forbid"  # never two scans of one account at once

        args = _scan_args(cronjob)
        assert args.command == "scan"
        assert args.account == entry["cloudAccount"]
        assert (args.region or []) == entry.get("regions", [])
        assert args.wait is True  # the Job's outcome is the run's outcome
        assert args.scanner_address == f"{scanner_service}:{GRPC_PORT}"
        # The CLI gives up (with a message) before the Job's deadline kills it.
        deadline = spec["jobTemplate"]["spec"]["activeDeadlineSeconds"]
        assert deadline == 5400
        assert 0 < args.max_wait < deadline
        assert args.timeout < deadline - args.max_wait

        job_spec = spec["jobTemplate"]["spec"]
        pod_spec = job_spec["template"]["spec"]
        assert pod_spec["restartPolicy"] == "Never"
        assert pod_spec["automountServiceAccountToken"] is False
        _assert_hardened(pod_spec)
        # A gRPC client only: no database URL, no secrets, no volume but the /tmp emptyDir.
        container = _container(pod_spec)
        assert not [e for e in container.get("env", []) if "valueFrom" in e]
        assert "envFrom" not in container
        assert all(_scratch_or_own_token(v) for v in pod_spec["volumes"])


def test_a_partially_succeeded_scan_fails_the_job_without_a_retry(override):
    for cronjob in _cronjobs(override, "scan"):
        job_spec = cronjob["spec"]["jobTemplate"]["spec"]
        container = _container(job_spec["template"]["spec"])["name"]
        fail_now = {
            code
            for rule in job_spec["podFailurePolicy"]["rules"]
            if rule["action"] == "FailJob"
            and rule["onExitCodes"]["operator"] == "In"
            and rule["onExitCodes"].get("containerName", container) == container
            for code in rule["onExitCodes"]["values"]
        }
        assert 3 in fail_now  # PARTIALLY_SUCCEEDED
        assert 1 not in fail_now  # FAILED / unreachable scanner: retried up to backoffLimit


def _with_schedule(**changes: Any) -> dict[str, Any]:
    entry = {**SCAN_SCHEDULES[0], **changes}
    return {"scans": {"schedules": [{k: v for k, v in entry.items() if v is not None}]}}


@pytest.mark.parametrize(
    ("values", "where"),
    [
        (_with_schedule(cloudAccount="cloudAccounts/prod"), "cloudAccount"),
        (_with_schedule(cloudAccount="0b6f2c1e-5d3a-4f7b-9c8e-1a2b3c4d5e6f"), "cloudAccount"),
        (_with_schedule(cloudAccount="cloudAccounts/0B6F2C1E-5D3A-4F7B-9C8E-1A2B3C4D5E6F"), "cloudAccount"),
        (_with_schedule(name="Nightly_Prod"), "name"),
        (_with_schedule(schedule=""), "schedule"),
        (_with_schedule(schedule=None), "schedule"),
        (_with_schedule(cloudAccount=None), "cloudAccount"),
        (_with_schedule(region=["eu-west-1"]), "region"),
        ({"scans": {"schedules": [], "schedule": "0 2 * * *"}}, "schedule"),
        ({"scans": {"schedules": SCAN_SCHEDULES, "activeDeadlineSeconds": 60}}, "activeDeadlineSeconds"),
    ],
    ids=[
        "account-not-uuid",
        "account-without-collection",
        "account-upper-case",
        "name-not-dns-label",
        "empty-schedule",
        "missing-schedule",
        "missing-account",
        "unknown-entry-key",
        "unknown-scans-key",
        "deadline-shorter-than-margin",
    ],
)
def test_schema_rejects_bad_scan_schedules(chart, values, where):
    with pytest.raises(helm_python.HelmValuesError, match=rf"/scans.*{where}"):
        chart.render(values, name=RELEASE, namespace=NAMESPACE)


@pytest.mark.parametrize(
    "schedules",
    [
        [SCAN_SCHEDULES[0], {**SCAN_SCHEDULES[1], "name": SCAN_SCHEDULES[0]["name"]}],
        [{**SCAN_SCHEDULES[0], "name": "a" * 40}],
    ],
    ids=["duplicate-name", "cronjob-name-too-long"],
)
def test_scan_names_that_would_clash_or_overflow_fail_the_render(chart, schedules):
    with pytest.raises(helm_python.HelmRenderError, match=r"scans\.schedules"):
        chart.render({"scans": {"schedules": schedules}}, name=RELEASE, namespace=NAMESPACE)


# --- monthly retention purge -------------------------------------------------------------------


def _purge_cronjob(docs: Manifests) -> dict[str, Any]:
    (cronjob,) = _cronjobs(docs, "purge")
    return cronjob


def _purge_args(cronjob: dict[str, Any]):
    """The purge CronJob's command, parsed by the real `cloudwaste` parser."""
    command = _container(cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"])["command"]
    assert command[:2] == ["cloudwaste", "purge"]
    return build_parser().parse_args(command[1:])


def test_monthly_purge_cronjob(default):
    cronjob = _purge_cronjob(default)
    spec = cronjob["spec"]
    assert spec["schedule"] == "0 2 1 * *"  # the 1st of the month, 02:00
    assert spec["timeZone"] == "Etc/UTC"
    assert spec["concurrencyPolicy"] == "Forbid"  # never two purges at once

    args = _purge_args(cronjob)
    exporter_service = _deployments(default)["exporter"]["metadata"]["name"]
    assert args.exporter_address == f"{exporter_service}:{GRPC_PORT}"
    assert (args.ml_retention_days, args.export_retention_days, args.partitions_ahead) == (1095, 365, 3)
    assert args.dry_run is False
    # The CLI gives up (with a message naming the exporter) before the Job's deadline kills it.
    deadline = spec["jobTemplate"]["spec"]["activeDeadlineSeconds"]
    assert 0 < args.timeout < deadline

    pod_spec = spec["jobTemplate"]["spec"]["template"]["spec"]
    assert pod_spec["restartPolicy"] == "Never"
    assert pod_spec["automountServiceAccountToken"] is False
    _assert_hardened(pod_spec)
    # A gRPC client only: the exporter drops the partitions and deletes the files.
    container = _container(pod_spec)
    assert not [e for e in container.get("env", []) if "valueFrom" in e]
    assert all(_scratch_or_own_token(v) for v in pod_spec["volumes"])


def _scratch_or_own_token(volume: dict[str, Any]) -> bool:
    """An emptyDir, or the pod's own projected ServiceAccount token for the services."""
    sources = volume.get("projected", {}).get("sources", [])
    return "emptyDir" in volume or (
        len(sources) == 1 and sources[0].get("serviceAccountToken", {}).get("audience") == "cloudwaste"
    )


def test_purge_values_reach_the_command(override):
    cronjob = _purge_cronjob(override)
    assert cronjob["spec"]["schedule"] == "0 4 1 */3 *"
    assert cronjob["spec"]["jobTemplate"]["spec"]["activeDeadlineSeconds"] == 900
    args = _purge_args(cronjob)
    assert args.exporter_address == f"cw-exporter:{GRPC_PORT}"
    assert (args.ml_retention_days, args.export_retention_days, args.partitions_ahead) == (730, 90, 6)
    assert args.dry_run is True
    assert 0 < args.timeout < 900


def test_purge_without_retention_values_leaves_them_to_the_exporter(chart):
    values = {"purge": {"mlRetentionDays": None, "exportRetentionDays": None, "partitionsAhead": None}}
    args = _purge_args(_purge_cronjob(_render(chart, values)))
    assert (args.ml_retention_days, args.export_retention_days, args.partitions_ahead) == (None, None, None)


def test_purge_can_be_disabled(chart):
    docs = _render(chart, {"purge": {"enabled": False}})
    assert _cronjobs(docs, "purge") == []
    assert len(_cronjobs(docs, "export")) == 1


@pytest.mark.parametrize(
    ("purge", "where"),
    [
        ({"mlRetentionDays": 30}, "mlRetentionDays"),
        ({"mlRetentionDays": "1095"}, "mlRetentionDays"),
        ({"exportRetentionDays": 0}, "exportRetentionDays"),
        ({"partitionsAhead": 0}, "partitionsAhead"),
        ({"partitionsAhead": 25}, "partitionsAhead"),
        ({"schedule": ""}, "schedule"),
        ({"concurrencyPolicy": "Never"}, "concurrencyPolicy"),
        ({"activeDeadlineSeconds": 30}, "activeDeadlineSeconds"),
        ({"dryRun": "yes"}, "dryRun"),
        ({"retentionDays": 365}, "retentionDays"),
    ],
    ids=[
        "ml-retention-under-a-month",
        "ml-retention-a-string",
        "export-retention-zero",
        "no-partitions-ahead",
        "partitions-ahead-over-24",
        "empty-schedule",
        "unknown-concurrency-policy",
        "deadline-shorter-than-margin",
        "dry-run-not-a-boolean",
        "unknown-key",
    ],
)
def test_schema_rejects_bad_purge_values(chart, purge, where):
    with pytest.raises(helm_python.HelmValuesError, match=rf"/purge.*{where}|{where}.*/purge"):
        chart.render({"purge": purge}, name=RELEASE, namespace=NAMESPACE)


# --- values overrides --------------------------------------------------------------------------


def test_overrides_reach_the_manifests(override):
    deployments = _deployments(override)
    assert {name: d["spec"].get("replicas") for name, d in deployments.items()} == {
        "scanner": 3,
        "enricher": 2,
        "exporter": 1,
        "predictor": None,  # its HorizontalPodAutoscaler owns the count, from predictor.replicas up
    }
    assert _one(override, "HorizontalPodAutoscaler")["spec"]["minReplicas"] == 2
    assert deployments["enricher"]["metadata"]["name"] == "cw-enricher"
    pod_specs = [d["spec"]["template"]["spec"] for d in deployments.values()]
    pod_specs.append(_one(override, "Job")["spec"]["template"]["spec"])
    pod_specs.extend(
        c["spec"]["jobTemplate"]["spec"]["template"]["spec"] for c in _of_kind(override, "CronJob")
    )
    for pod_spec in pod_specs:
        container = _container(pod_spec)
        assert _image_service(container["image"], OVERRIDES["image"]["repository"], "1.2.3") in SERVICES
        assert container["imagePullPolicy"] == "Always"
        assert pod_spec["imagePullSecrets"] == [{"name": "ghcr-pull"}]
        assert _env(container)["CLOUDWASTE_LOG_LEVEL"]["value"] == "DEBUG"

    envs = {name: _env(_container(d["spec"]["template"]["spec"])) for name, d in deployments.items()}
    for service, env in envs.items():
        assert _secret_ref(env, "CLOUDWASTE_DATABASE_URL") == ("pg-credentials", f"{service}-dsn")
    for service in ("scanner", "enricher"):
        assert _secret_ref(envs[service], "CLOUDWASTE_HASH_KEY") == ("ml-hash", "k")
        assert _secret_ref(envs[service], "CLOUDWASTE_HASH_KEY_ID") == ("ml-hash", "kid")
    assert envs["scanner"]["AWS_REGION"]["value"] == "eu-west-1"
    assert envs["scanner"]["CLOUDWASTE_ENRICHER_ADDRESS"]["value"] == "cw-enricher:50051"
    assert "AWS_REGION" not in envs["enricher"]
    assert envs["predictor"]["CLOUDWASTE_MODEL_POLL_SECONDS"]["value"] == "120"
    migrate_env = _env(_container(_one(override, "Job")["spec"]["template"]["spec"]))
    assert _secret_ref(migrate_env, "CLOUDWASTE_DATABASE_URL") == ("pg-credentials", "dsn")

    cronjob = _export_cronjob(override)
    assert cronjob["spec"]["schedule"] == "30 1 * * 0"
    assert cronjob["spec"]["startingDeadlineSeconds"] == 600
    command = _container(cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"])["command"]
    assert command[command.index("--exporter-address") + 1] == "cw-exporter:50051"


def test_exporter_claim_override_mounts_the_pvc_and_recreates(file_storage):
    exporter = _deployments(file_storage)["exporter"]
    pod_spec = exporter["spec"]["template"]["spec"]
    assert _volume_at(pod_spec, "/data/exports")["persistentVolumeClaim"] == {"claimName": "cw-exports"}
    (exports,) = [m for m in _container(pod_spec)["volumeMounts"] if m["mountPath"] == "/data/exports"]
    assert not exports.get("readOnly")
    # A ReadWriteOnce claim cannot be attached to the old and the new pod during a rolling update.
    assert exporter["spec"]["strategy"] == {"type": "Recreate"}
    # The readers mount it read-only.
    for doc in (_deployments(file_storage)["predictor"], *_cronjobs(file_storage, "training")):
        mounts = _container(_pod_spec(doc))["volumeMounts"]
        (mount,) = [m for m in mounts if m["mountPath"] == "/data/exports"]
        assert mount["readOnly"] is True


# --- one storage for the exporter, the predictor and training -----------------------------------


def _settings_env(container: dict[str, Any]) -> dict[str, str]:
    """The container's env as the process sees it, with a placeholder for each Secret value (a
    well-formed one for the database URL, which the settings check)."""
    placeholder = {"CLOUDWASTE_DATABASE_URL": "postgresql+psycopg://user:secret@db.example:5432/cloudwaste"}
    return {
        e["name"]: e.get("value", placeholder.get(e["name"], f"<{e['name']} from a Secret>"))
        for e in container["env"]
    }


def _storage_pods(docs: Manifests) -> dict[str, dict[str, Any]]:
    """The pod specs that write or read the exports, by component."""
    pods = {c: _pod_spec(d) for c, d in _deployments(docs).items() if c in ("exporter", "predictor")}
    for cronjob in _cronjobs(docs, "export") + _cronjobs(docs, "training"):
        pods[_component(cronjob)] = _pod_spec(cronjob)
    return pods


@pytest.mark.parametrize("variant", VARIANTS)
def test_export_destination_exporter_predictor_and_training_share_one_storage(rendered, variant):
    """What the export CronJob asks for, where the exporter writes, where the predictor's training
    worker and the training CronJob read: one root, as the services themselves parse their env.
    For a file:// root, that folder is one claim in every pod (an emptyDir, or no volume at all,
    is a folder no other pod ever sees: the weekly export was written where training never looked)."""
    pods = _storage_pods(rendered)
    assert set(pods) == {"exporter", "predictor", "export", "training"}
    export_args = build_parser().parse_args(_container(pods["export"])["command"][1:])
    exporter = ExporterSettings.from_env(_settings_env(_container(pods["exporter"])))
    predictor = PredictorSettings.from_env(_settings_env(_container(pods["predictor"])))
    trainer = PredictorSettings.from_env(_settings_env(_container(pods["training"])))

    roots = {
        "export CronJob --destination": export_args.destination,
        "exporter CLOUDWASTE_EXPORT_ROOT": exporter.export_root,
        "predictor CLOUDWASTE_DATASET_ROOT": predictor.dataset_root,
        "training CronJob CLOUDWASTE_DATASET_ROOT": trainer.dataset_root,
    }
    assert len({parse_root(root) for root in roots.values()}) == 1, roots
    assert len(set(roots.values())) == 1, roots  # spelled the same, too
    # The same store: one endpoint and region for the writer and both readers.
    assert (
        (exporter.s3_endpoint_url, exporter.s3_region)
        == (predictor.s3_endpoint_url, predictor.s3_region)
        == (trainer.s3_endpoint_url, trainer.s3_region)
    )

    root = parse_root(exporter.export_root)
    if root.scheme == "file":
        backing = {name: _volume_at(pods[name], root.path) for name in ("exporter", "predictor", "training")}
        claims = {
            name: (volume or {}).get("persistentVolumeClaim", {}).get("claimName")
            for name, volume in backing.items()
        }
        assert None not in claims.values() and len(set(claims.values())) == 1, backing
    else:
        assert root.scheme == "s3"


def test_storage_values_reach_the_exporter_the_predictor_and_training(override, default):
    pods = _storage_pods(override)
    for name in ("exporter", "predictor", "training"):
        env = _env(_container(pods[name]))
        assert env["CLOUDWASTE_S3_ENDPOINT_URL"]["value"] == "http://minio.storage.svc:9000", name
        assert env["CLOUDWASTE_S3_REGION"]["value"] == "eu-west-1", name
    assert _env(_container(pods["exporter"]))["CLOUDWASTE_EXPORT_ROOT"]["value"] == (
        "s3://ml-data.example/cloudwaste/exports"
    )
    # Without them, neither variable is set: the SDK's own region lookup, AWS S3.
    for name, pod_spec in _storage_pods(default).items():
        env = _env(_container(pod_spec))
        assert "CLOUDWASTE_S3_ENDPOINT_URL" not in env and "CLOUDWASTE_S3_REGION" not in env, name


@pytest.mark.parametrize(
    ("values", "where"),
    [
        ({"exporter": {"persistence": {"existingClaim": "cw-exports"}}}, "existingClaim"),
        ({"storage": {"root": "file:///exports"}}, "training.enabled"),
        ({"storage": {"root": "file:///tmp"}, "training": {"enabled": False}}, "storage.root"),
    ],
    ids=["claim-with-an-s3-root", "file-root-on-an-empty-dir-while-training", "file-root-on-tmp"],
)
def test_storage_that_training_would_never_see_fails_the_render(chart, values, where):
    with pytest.raises(helm_python.HelmRenderError, match=re.escape(where)):
        chart.render(values, name=RELEASE, namespace=NAMESPACE)


# --- storage credentials ------------------------------------------------------------------------


_STATIC_KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")


def _all_pods(docs: Manifests) -> dict[tuple[str, str], dict[str, Any]]:
    """Every pod spec by (kind, component)."""
    kinds = ("Deployment", "Job", "CronJob")
    return {(d["kind"], _component(d)): _pod_spec(d) for d in docs if d["kind"] in kinds}


def test_static_credentials_come_from_the_existing_secret_for_the_storage_pods_only(override):
    for key, pod_spec in _all_pods(override).items():
        env = _env(_container(pod_spec))
        if key in STORAGE_WORKLOADS:
            assert _secret_ref(env, "AWS_ACCESS_KEY_ID") == ("minio-credentials", "access"), key
            assert _secret_ref(env, "AWS_SECRET_ACCESS_KEY") == ("minio-credentials", "secret"), key
        else:  # the export CronJob is a gRPC client: the exporter holds the keys
            assert not set(_STATIC_KEYS) & set(env), key
        # serviceAccount.create false, no name: the namespace's default, as before (the scanner and
        # the enricher have their own)
        assert pod_spec.get("serviceAccountName") == OWN_ACCOUNTS.get(key), key
        assert pod_spec["automountServiceAccountToken"] is False, key
    assert {a["metadata"]["name"] for a in _of_kind(override, "ServiceAccount")} == {
        "cw-scanner",
        "cw-enricher",
        "cw-caller-export",
        "cw-caller-purge",
        "cw-caller-scan",
    }


@pytest.mark.parametrize("variant", ["default", "irsa"])
def test_workload_identity_is_the_charts_service_account_on_the_storage_pods(rendered, variant):
    accounts = {a["metadata"]["name"]: a for a in _of_kind(rendered, "ServiceAccount")}
    callers = {f"{SERVICE_ACCOUNT}-caller-export", f"{SERVICE_ACCOUNT}-caller-purge"}
    assert set(accounts) == {SERVICE_ACCOUNT, f"{SERVICE_ACCOUNT}-scanner", f"{SERVICE_ACCOUNT}-enricher", *callers}
    for caller in callers:
        assert "annotations" not in accounts[caller]["metadata"]  # no cloud identity
    account = accounts[SERVICE_ACCOUNT]
    assert account["metadata"]["namespace"] == NAMESPACE
    assert account["automountServiceAccountToken"] is False
    annotations = account["metadata"].get("annotations", {})
    assert annotations == ({"eks.amazonaws.com/role-arn": ROLE_ARN} if variant == "irsa" else {})
    for key, pod_spec in _all_pods(rendered).items():
        expected = SERVICE_ACCOUNT if key in STORAGE_WORKLOADS else DEFAULT_OWN_ACCOUNTS.get(key)
        assert pod_spec.get("serviceAccountName") == expected, key
        # No Kubernetes API token; the EKS webhook projects its own web identity token.
        assert pod_spec["automountServiceAccountToken"] is False, key
        env = _env(_container(pod_spec))
        assert not set(_STATIC_KEYS) & set(env), key  # no static keys to override IRSA


def test_an_existing_service_account_is_used_and_not_created(chart):
    docs = _render(
        chart,
        {
            "serviceAccount": {"create": False, "name": "cloudwaste-s3"},
            "scanner": {"serviceAccount": {"create": False, "name": "cloud-reader"}},
            "enricher": {"serviceAccount": {"create": False}},
        },
    )
    # only the callers' identities, which hold no cloud role
    assert [a["metadata"]["name"] for a in _of_kind(docs, "ServiceAccount")] == [
        f"{SERVICE_ACCOUNT}-caller-export",
        f"{SERVICE_ACCOUNT}-caller-purge",
    ]
    for key, pod_spec in _all_pods(docs).items():
        expected = "cloudwaste-s3" if key in STORAGE_WORKLOADS else None
        if key == ("Deployment", "scanner"):
            expected = "cloud-reader"
        if key in CALLERS:
            expected = f"{SERVICE_ACCOUNT}-caller-{key[1]}"
        assert pod_spec.get("serviceAccountName") == expected, key


def test_the_predictor_and_the_training_cronjob_can_have_their_own_read_only_identity(chart):
    """They only read the storage (models live in PostgreSQL): predictor.serviceAccount gives them
    a read-only role apart from the exporter's, which writes and deletes; an existing one by name."""
    reader = "arn:aws:iam::123456789012:role/cloudwaste-storage-reader"
    docs = _render(
        chart,
        {
            "serviceAccount": {"annotations": {"eks.amazonaws.com/role-arn": ROLE_ARN}},
            "predictor": {
                "serviceAccount": {"create": True, "annotations": {"eks.amazonaws.com/role-arn": reader}}
            },
        },
    )
    accounts = {a["metadata"]["name"]: a for a in _of_kind(docs, "ServiceAccount")}
    own = accounts[f"{SERVICE_ACCOUNT}-predictor"]
    assert own["metadata"]["annotations"] == {"eks.amazonaws.com/role-arn": reader}
    assert _component(own) == "predictor" and own["automountServiceAccountToken"] is False
    assert accounts[SERVICE_ACCOUNT]["metadata"]["annotations"] == {"eks.amazonaws.com/role-arn": ROLE_ARN}
    pods = _all_pods(docs)
    for key in STORAGE_READERS:
        assert pods[key]["serviceAccountName"] == f"{SERVICE_ACCOUNT}-predictor", key
    assert pods[("Deployment", "exporter")]["serviceAccountName"] == SERVICE_ACCOUNT
    assert pods[("CronJob", "export")]["serviceAccountName"] == f"{SERVICE_ACCOUNT}-caller-export"  # no storage

    named = _all_pods(_render(chart, {"predictor": {"serviceAccount": {"name": "storage-reader"}}}))
    for key in STORAGE_READERS:
        assert named[key]["serviceAccountName"] == "storage-reader", key
    assert named[("Deployment", "exporter")]["serviceAccountName"] == SERVICE_ACCOUNT


# --- weekly training ----------------------------------------------------------------------------


def _training_cronjob(docs: Manifests) -> dict[str, Any]:
    (cronjob,) = _cronjobs(docs, "training")
    return cronjob


def test_weekly_training_cronjob_trains_after_the_export(default):
    cronjob = _training_cronjob(default)
    spec = cronjob["spec"]
    assert spec["schedule"] == "0 5 * * 1"  # Monday 05:00
    export = _export_cronjob(default)["spec"]
    assert spec["timeZone"] == export["timeZone"] == "Etc/UTC"
    # Same day, later hour: the newest export is this week's.
    minute, hour, *rest = spec["schedule"].split()
    e_minute, e_hour, *e_rest = export["schedule"].split()
    assert rest == e_rest and (int(hour), int(minute)) > (int(e_hour), int(e_minute))
    assert spec["concurrencyPolicy"] == "Forbid"
    for knob in ("successfulJobsHistoryLimit", "failedJobsHistoryLimit", "startingDeadlineSeconds"):
        assert isinstance(spec[knob], int), knob
    job_spec = spec["jobTemplate"]["spec"]
    assert isinstance(job_spec["backoffLimit"], int)
    assert job_spec["activeDeadlineSeconds"] == 3600
    fail_now = {
        code
        for rule in job_spec["podFailurePolicy"]["rules"]
        if rule["action"] == "FailJob"
        for code in rule["onExitCodes"]["values"]
    }
    assert fail_now == {2}  # bad settings; exit 1 (no export yet, a failed run) is retried

    pod_spec = job_spec["template"]["spec"]
    container = _container(pod_spec)
    assert container["image"] == f"{IMAGE_REPOSITORY}-predictor:0.1.0"
    args = build_parser().parse_args(container["command"][1:])
    assert args.command == "train"
    assert args.worker is False  # one run, then exit: the Job's outcome is the run's
    assert args.dataset_uri == ""  # the newest successful export
    assert args.skip_activation is False
    assert container["resources"]["requests"] and container["resources"]["limits"]

    env = _env(container)
    assert _secret_ref(env, "CLOUDWASTE_DATABASE_URL") == database_secret("predictor")  # its role
    assert env["CLOUDWASTE_DATASET_ROOT"]["value"] == STORAGE_ROOT
    # It calls no gRPC service.
    assert not [name for name in env if name.endswith("_ADDRESS")]
    settings = PredictorSettings.from_env(_settings_env(container))
    assert settings.dataset_root == STORAGE_ROOT
    assert pod_spec["restartPolicy"] == "Never"
    _assert_hardened(pod_spec)


def test_training_runs_in_the_image_that_has_the_training_stack(default):
    """`cloudwaste train` imports cloudwaste.predictor (scikit-learn, skl2onnx, onnxruntime...):
    only the predictor's image has it."""
    container = _container(_pod_spec(_training_cronjob(default)))
    command = container["command"][1:]
    assert _image_service(container["image"], IMAGE_REPOSITORY, "0.1.0") == "predictor"
    assert missing_dependencies(command, "predictor") == []
    for other in ("scanner", "enricher", "exporter"):
        assert missing_dependencies(command, other), other


def test_training_values_reach_the_cronjob(override):
    spec = _training_cronjob(override)["spec"]
    assert spec["schedule"] == "30 4 * * 0"
    assert spec["timeZone"] == "Europe/Paris"
    job_spec = spec["jobTemplate"]["spec"]
    assert (job_spec["backoffLimit"], job_spec["activeDeadlineSeconds"]) == (3, 7200)
    container = _container(job_spec["template"]["spec"])
    assert container["image"] == f"{OVERRIDES['image']['repository']}-predictor:1.2.3"
    assert container["resources"] == {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"memory": "4Gi"}}
    assert _secret_ref(_env(container), "CLOUDWASTE_DATABASE_URL") == ("pg-credentials", "predictor-dsn")


def test_training_can_be_disabled(chart):
    docs = _render(chart, {"training": {"enabled": False}})
    assert _cronjobs(docs, "training") == []
    assert len(_cronjobs(docs, "export")) == 1


@pytest.mark.parametrize(("variant", "worker"), [("default", "process"), ("override", "none")])
def test_predictor_training_worker_setting(rendered, variant, worker):
    container = _container(_pod_spec(_deployments(rendered)["predictor"]))
    assert _env(container)["CLOUDWASTE_TRAINING_WORKER"]["value"] == worker
    assert PredictorSettings.from_env(_settings_env(container)).training_worker == worker


# --- schema: storage, service account, training ------------------------------------------------


@pytest.mark.parametrize(
    ("values", "where"),
    [
        ({"storage": {"root": "/exports"}}, "/storage/root"),
        ({"storage": {"root": "file://exports"}}, "/storage/root"),
        ({"storage": {"root": "gs://bucket/exports"}}, "/storage/root"),
        ({"storage": {"root": "s3://Bad_Bucket/exports"}}, "/storage/root"),
        ({"storage": {"root": "s3://cloudwaste-ml/exports/"}}, "/storage/root"),
        ({"storage": {"root": ""}}, "/storage/root"),
        ({"storage": {"root": None}}, "/storage"),
        ({"storage": {"s3": {"endpointUrl": "minio:9000"}}}, "/storage/s3/endpointUrl"),
        ({"storage": {"s3": {"endpointUrl": "http://minio:9000/bucket"}}}, "/storage/s3/endpointUrl"),
        ({"storage": {"s3": {"region": "EU West 1"}}}, "/storage/s3/region"),
        ({"storage": {"s3": {"existingSecret": "S3_Keys"}}}, "/storage/s3/existingSecret"),
        ({"storage": {"s3": {"secretKeys": {"accessKeyId": ""}}}}, "/storage/s3/secretKeys/accessKeyId"),
        ({"storage": {"s3": {"accessKey": "AKIA..."}}}, "/storage/s3"),
        ({"storage": {"bucket": "cloudwaste-ml"}}, "/storage"),
        ({"serviceAccount": {"create": "yes"}}, "/serviceAccount/create"),
        ({"serviceAccount": {"name": "Cloud_Waste"}}, "/serviceAccount/name"),
        (
            {"serviceAccount": {"annotations": {"eks.amazonaws.com/sts-regional-endpoints": True}}},
            "/serviceAccount/annotations",
        ),
        ({"serviceAccount": {"roleArn": ROLE_ARN}}, "/serviceAccount"),
        ({"predictor": {"trainingWorker": "thread"}}, "/predictor/trainingWorker"),
        ({"exporter": {"staging": {"sizeLimit": "20 GB"}}}, "/exporter/staging/sizeLimit"),
        ({"training": {"schedule": ""}}, "/training/schedule"),
        ({"training": {"concurrencyPolicy": "Never"}}, "/training/concurrencyPolicy"),
        ({"training": {"activeDeadlineSeconds": 0}}, "/training/activeDeadlineSeconds"),
        ({"training": {"enabled": "true"}}, "/training/enabled"),
        ({"training": {"datasetUri": "s3://x/y"}}, "/training"),
    ],
    ids=[
        "root-a-plain-path",
        "root-file-without-absolute-path",
        "root-unsupported-scheme",
        "root-invalid-bucket",
        "root-trailing-slash",
        "root-empty",
        "root-null",
        "endpoint-without-scheme",
        "endpoint-with-a-path",
        "region-not-a-region",
        "secret-not-a-name",
        "secret-key-empty",
        "inline-keys-unknown",
        "unknown-storage-key",
        "create-not-boolean",
        "account-name-not-dns",
        "annotation-not-string",
        "unknown-service-account-key",
        "unknown-training-worker",
        "staging-size-not-a-quantity",
        "empty-training-schedule",
        "unknown-concurrency-policy",
        "zero-training-deadline",
        "enabled-not-boolean",
        "unknown-training-key",
    ],
)
def test_schema_rejects_bad_storage_account_and_training_values(chart, values, where):
    with pytest.raises(helm_python.HelmValuesError, match=re.escape(where)):
        chart.render(values, name=RELEASE, namespace=NAMESPACE)


def test_azure_workload_identity_labels_the_scanner_pods_only(chart):
    """AKS injects the federated token only into pods labelled azure.workload.identity/use, and
    reads the client id from the ServiceAccount's annotation: both can be set on the scanner, its
    pods keep the chart's selector labels, and no other pod gets the label."""
    wi = {"azure.workload.identity/use": "true"}
    client = {"azure.workload.identity/client-id": "00000000-0000-0000-0000-00000000c11e"}
    docs = _render(chart, {"scanner": {"podLabels": wi, "serviceAccount": {"annotations": client}}})
    deployments = {_component(d): d for d in docs if d["kind"] == "Deployment"}
    scanner = deployments["scanner"]
    labels = scanner["spec"]["template"]["metadata"]["labels"]
    assert labels.items() >= {**wi, **scanner["spec"]["selector"]["matchLabels"]}.items()
    (account,) = [
        d for d in docs if d["kind"] == "ServiceAccount" and d["metadata"]["name"] == _pod_spec(scanner)["serviceAccountName"]
    ]
    assert account["metadata"]["annotations"] == client
    for component, d in deployments.items():
        if component != "scanner":
            assert "azure.workload.identity/use" not in d["spec"]["template"]["metadata"]["labels"], component
    # the chart's own labels cannot be replaced (the selector would no longer match its pods)
    with pytest.raises(helm_python.HelmValuesError, match=re.escape("invalid propertyName 'app.kubernetes.io/component'")):
        chart.render({"scanner": {"podLabels": {"app.kubernetes.io/component": "x"}}}, name=RELEASE, namespace=NAMESPACE)


def test_azure_and_gcp_credentials_secret_reaches_the_scanner_only(chart, default):
    """The scanner reads each Azure/GCP account's credential file from CLOUDWASTE_CREDENTIALS_DIR:
    the Secret must be mounted (read-only, owner-only files) exactly there, in no other pod."""
    docs = _render(chart, {"scanner": {"credentialsSecret": "cw-cloud-credentials"}})
    for (kind, component), pod_spec in _all_pods(docs).items():
        volumes = [v for v in pod_spec.get("volumes", []) if "secret" in v]
        mounts = {m["name"]: m for m in _container(pod_spec).get("volumeMounts", [])}
        env = _env(_container(pod_spec))
        if (kind, component) != ("Deployment", "scanner"):
            assert not volumes and "CLOUDWASTE_CREDENTIALS_DIR" not in env, (kind, component)
            continue
        (volume,) = volumes
        assert volume["secret"] == {"secretName": "cw-cloud-credentials", "defaultMode": 0o400}
        mount = mounts[volume["name"]]
        assert mount["readOnly"] is True
        assert env["CLOUDWASTE_CREDENTIALS_DIR"]["value"] == mount["mountPath"]
    from cloudwaste.scanner.settings import ScannerSettings

    env = {
        "CLOUDWASTE_DATABASE_URL": "postgresql+psycopg://x@db/cloudwaste",
        "CLOUDWASTE_HASH_KEY": "k" * 32,
        "CLOUDWASTE_CREDENTIALS_DIR": "/var/run/secrets/cloudwaste/credentials",
        "CLOUDWASTE_AUTH_MODE": "none",
    }
    assert ScannerSettings.from_env(env).credentials_dir == "/var/run/secrets/cloudwaste/credentials"
    # without it, nothing is mounted and the scanner has no credentials folder
    scanner = _pod_spec(next(d for d in default if d["kind"] == "Deployment" and _component(d) == "scanner"))
    assert "CLOUDWASTE_CREDENTIALS_DIR" not in _env(_container(scanner))


# --- operations: monitoring, disruptions, autoscaling, network ----------------------------------

RULES_FILE = CHART / "files" / "prometheus" / "alerts.yaml"
DASHBOARD_FILE = CHART / "files" / "grafana" / "cloudwaste.json"


def test_monitoring_objects(override):
    """With the operator's objects on: a ServiceMonitor per service that selects exactly that
    Service's metrics port and names its job as the alerts expect, the alert rules exactly as the
    plain rules file has them, and the dashboard ConfigMap where Grafana's sidecar looks."""
    services = {_component(s): s for s in _services(override)}
    monitors = {_component(m): m for m in _of_kind(override, "ServiceMonitor")}
    assert sorted(monitors) == sorted(SERVICES)
    for component, monitor in monitors.items():
        service = services[component]
        spec = monitor["spec"]
        assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
        selected = [
            name
            for name, svc in services.items()
            if spec["selector"]["matchLabels"].items() <= svc["metadata"]["labels"].items()
        ]
        assert selected == [component]
        assert spec["namespaceSelector"] == {"matchNames": [NAMESPACE]}
        (endpoint,) = spec["endpoints"]
        assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
        assert (endpoint["port"], endpoint["path"], endpoint["interval"]) == ("metrics", "/metrics", "15s")
        # the job label the alerts and the dashboard know the service by, whatever the release's name
        assert service["metadata"]["labels"][spec["jobLabel"]] == f"cloudwaste-{component}"

    rule = _one(override, "PrometheusRule")
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert rule["spec"]["groups"] == yaml.safe_load(RULES_FILE.read_text())["groups"]
    alerts = [r["alert"] for g in rule["spec"]["groups"] for r in g["rules"]]
    assert "CloudWasteDatabaseUnavailable" in alerts and len(alerts) >= 9

    dashboard = _one(override, "ConfigMap")
    assert dashboard["metadata"]["namespace"] == "monitoring"
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert dashboard["metadata"]["annotations"] == {"grafana_folder": "CloudWaste"}
    assert dashboard["data"]["cloudwaste.json"] == DASHBOARD_FILE.read_text().rstrip("\n")
    # no scrape annotations when they are turned off
    for d in _deployments(override).values():
        assert "prometheus.io/scrape" not in d["spec"]["template"]["metadata"].get("annotations", {})


def test_by_default_pods_carry_scrape_annotations_and_no_operator_object_is_required(default):
    assert not _of_kind(default, "ServiceMonitor") and not _of_kind(default, "PrometheusRule")
    for component, d in _deployments(default).items():
        annotations = d["spec"]["template"]["metadata"]["annotations"]
        container = _container(d["spec"]["template"]["spec"])
        metrics_port = {p["name"]: p["containerPort"] for p in container["ports"]}["metrics"]
        assert annotations == {
            "prometheus.io/scrape": "true",
            "prometheus.io/port": str(metrics_port),
            "prometheus.io/path": "/metrics",
        }, component
    assert _one(default, "ConfigMap")["metadata"]["labels"]["grafana_dashboard"] == "1"


@pytest.mark.parametrize("variant", ["default", "override"])
def test_each_service_has_a_disruption_budget_that_selects_its_pods(rendered, variant):
    budgets = {_component(b): b for b in _of_kind(rendered, "PodDisruptionBudget")}
    deployments = _deployments(rendered)
    assert sorted(budgets) == sorted(SERVICES)
    for component, budget in budgets.items():
        pod_labels = deployments[component]["spec"]["template"]["metadata"]["labels"]
        assert budget["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
        assert budget["spec"]["maxUnavailable"] == (1 if variant == "default" else "50%")
        assert "minAvailable" not in budget["spec"]  # a single replica can still be drained


def test_the_predictor_autoscales_on_cpu_from_its_replicas(default, chart):
    hpa = _one(default, "HorizontalPodAutoscaler")
    predictor = _deployments(default)["predictor"]
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": predictor["metadata"]["name"],
    }
    assert "replicas" not in predictor["spec"]  # the HPA owns it: a rollout never resets it
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (1, 4)
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu" and metric["resource"]["target"]["averageUtilization"] == 70
    # CPU utilisation needs a CPU request to be measured against
    assert _container(predictor["spec"]["template"]["spec"])["resources"]["requests"]["cpu"]
    off = _render(chart, {"predictor": {"autoscaling": {"enabled": False}, "replicas": 3}})
    assert not _of_kind(off, "HorizontalPodAutoscaler")
    assert _deployments(off)["predictor"]["spec"]["replicas"] == 3
    with pytest.raises(Exception, match=r"maxReplicas \(2\) must be at least predictor.replicas \(3\)"):
        _render(chart, {"predictor": {"replicas": 3, "autoscaling": {"maxReplicas": 2}}})


def _admits(policy: dict[str, Any], port: str, pod_labels: dict[str, str]) -> bool:
    """Whether a NetworkPolicy's ingress admits a pod of this namespace with these labels on `port`."""
    for rule in policy["spec"]["ingress"]:
        if port not in {p["port"] for p in rule["ports"]}:
            continue
        if "from" not in rule:
            return True
        for peer in rule["from"]:
            if (
                set(peer) == {"podSelector"}
                and peer["podSelector"]["matchLabels"].items() <= pod_labels.items()
            ):
                return True
    return False


def test_network_policies_admit_only_the_callers_each_service_needs(default):
    policies = {_component(p): p for p in _of_kind(default, "NetworkPolicy")}
    assert sorted(policies) == sorted(SERVICES)

    def pod(component: str) -> dict[str, str]:
        return {
            "app.kubernetes.io/name": "cloudwaste",
            "app.kubernetes.io/instance": RELEASE,
            "app.kubernetes.io/component": component,
        }

    client = {"app": "web", "cloudwaste.io/client": "true"}  # the main application, labelled
    stranger = {"app": "web"}
    callers = {
        "scanner": [pod("scan"), client],
        "enricher": [pod("scanner")],
        "exporter": [pod("export"), pod("purge"), client],
        "predictor": [pod("scanner"), client],
    }
    everyone = [pod(c) for c in ("scanner", "enricher", "exporter", "predictor", "scan", "export", "purge")]
    for component, policy in policies.items():
        deployment = _deployments(default)[component]
        assert policy["spec"]["podSelector"]["matchLabels"].items() <= (
            deployment["spec"]["template"]["metadata"]["labels"].items()
        )
        assert policy["spec"]["policyTypes"] == ["Ingress"]
        for caller in [*everyone, client, stranger]:
            assert _admits(policy, "grpc", caller) == (caller in callers[component]), (component, caller)
        assert _admits(policy, "metrics", stranger)  # metricsFrom empty: Prometheus wherever it runs
    # the ports the policies name exist on the pods
    for d in _deployments(default).values():
        names = {p["name"] for p in _container(d["spec"]["template"]["spec"])["ports"]}
        assert {"grpc", "metrics"} <= names
    # each CronJob that calls a service is admitted by it (its pods carry the component label)
    for component in ("export", "purge"):
        (cron,) = _cronjobs(default, component)
        labels = cron["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"]
        assert _admits(policies["exporter"], "grpc", labels)


def test_network_policy_clients_and_metrics_sources_are_settable(override):
    exporter = {_component(p): p for p in _of_kind(override, "NetworkPolicy")}["exporter"]
    grpc_rule, metrics_rule = exporter["spec"]["ingress"]
    assert grpc_rule["from"][-1] == OVERRIDES["networkPolicy"]["clients"][0]
    assert metrics_rule["from"] == OVERRIDES["networkPolicy"]["metricsFrom"]


def test_each_service_has_a_headless_twin_for_client_side_balancing(default):
    services = {s["metadata"]["name"]: s for s in _of_kind(default, "Service")}
    for component in SERVICES:
        plain, headless = (
            services[f"{RELEASE}-cloudwaste-{component}"],
            services[f"{RELEASE}-cloudwaste-{component}-headless"],
        )
        assert headless["spec"]["clusterIP"] == "None"
        assert headless["spec"]["selector"] == plain["spec"]["selector"]
        assert [p["name"] for p in headless["spec"]["ports"]] == ["grpc"]
        assert (
            "cloudwaste.io/job" not in headless["metadata"]["labels"]
        )  # scraped once, through the plain one


def test_scheduling_applies_chart_wide_and_per_component(chart):
    """The chart-wide scheduling reaches every pod; a component's own key replaces that key only."""
    everywhere = {
        "nodeSelector": {"kubernetes.io/arch": "amd64"},
        "tolerations": [{"key": "dedicated", "value": "cloudwaste", "effect": "NoSchedule"}],
    }
    big = {"nodeSelector": {"node.kubernetes.io/instance-type": "m7i.2xlarge"}}
    spread = [
        {
            "maxSkew": 1,
            "topologyKey": "topology.kubernetes.io/zone",
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": {"app.kubernetes.io/component": "predictor"}},
        }
    ]
    docs = _render(
        chart,
        {
            "scheduling": everywhere,
            "training": {"scheduling": big},
            "predictor": {"scheduling": {"topologySpreadConstraints": spread}},
            "scans": {"schedules": SCAN_SCHEDULES},
        },
    )
    workloads = dict(_workloads(docs))
    assert len(workloads) == 4 + 1 + 3 + len(SCAN_SCHEDULES)
    for name, pod in workloads.items():
        if name.endswith("-training"):
            assert pod["nodeSelector"] == big["nodeSelector"], name  # its own
        else:
            assert pod["nodeSelector"] == everywhere["nodeSelector"], name
        assert pod["tolerations"] == everywhere["tolerations"], name  # not set by any: the chart's
        assert ("topologySpreadConstraints" in pod) == name.endswith("-predictor"), name
    for version in KUBE_VERSIONS:
        for doc in docs:
            kubernetes_validate.validate(doc, version, strict=True)
    # nothing set: no scheduling keys at all
    for name, pod in _workloads(_render(chart, None)):
        assert not {"nodeSelector", "tolerations", "affinity", "topologySpreadConstraints"} & set(pod), name
    with pytest.raises(helm_python.HelmValuesError, match="scheduling"):
        _render(chart, {"scheduling": {"nodeSelectr": {"a": "b"}}})


def test_the_scanner_and_the_enricher_run_as_their_own_service_accounts(chart):
    """The scanner's identity is the one that assumes customers' roles (annotated for IRSA or workload
    identity), apart from the storage identity; neither mounts a Kubernetes API token."""
    scanner_role = "arn:aws:iam::123456789012:role/cloudwaste-scanner"
    docs = _render(
        chart, {"scanner": {"serviceAccount": {"annotations": {"eks.amazonaws.com/role-arn": scanner_role}}}}
    )
    accounts = {a["metadata"]["name"]: a for a in _of_kind(docs, "ServiceAccount")}
    scanner = accounts[f"{SERVICE_ACCOUNT}-scanner"]
    assert scanner["metadata"]["annotations"] == {"eks.amazonaws.com/role-arn": scanner_role}
    assert _component(scanner) == "scanner" and scanner["automountServiceAccountToken"] is False
    assert "annotations" not in accounts[f"{SERVICE_ACCOUNT}-enricher"]["metadata"]
    assert "annotations" not in accounts[SERVICE_ACCOUNT]["metadata"]  # the storage identity is apart
    deployments = _deployments(docs)
    for component in ("scanner", "enricher"):
        pod = deployments[component]["spec"]["template"]["spec"]
        assert pod["serviceAccountName"] == f"{SERVICE_ACCOUNT}-{component}"
        assert pod["automountServiceAccountToken"] is False


# --- authentication -------------------------------------------------------------------------------


def _mounted_volume(pod_spec: dict[str, Any], path: str) -> dict[str, Any]:
    """The volume a file path of the container lies in."""
    (mount,) = [m for m in _container(pod_spec)["volumeMounts"] if path.startswith(m["mountPath"] + "/")]
    (volume,) = [v for v in pod_spec["volumes"] if v["name"] == mount["name"]]
    return volume


def test_every_call_is_authenticated_and_the_charts_own_callers_make_only_their_calls(override):
    """Each service verifies tokens (auth jwt) from the cluster's issuer, whose keys it reads with
    files it has; each caller of a service (the scanner, the export, purge and scan CronJobs)
    sends a token for the services' audience from a file it has, as a subject the services let
    make the calls its job makes, and no other (least privilege: no erasure, no deletion)."""
    from cloudwaste.core.settings import AuthSettings

    services = {c: _pod_spec(d) for c, d in _deployments(override).items()}
    settings = {c: AuthSettings.from_env(_settings_env(_container(p))) for c, p in services.items()}
    for component, auth in settings.items():
        assert auth.mode == "jwt", component
        (kube,) = [i for i in auth.issuers if i.issuer == "https://kubernetes.default.svc.cluster.local"]
        assert kube.jwks_uri == "https://kubernetes.default.svc/openid/v1/jwks"
        sources = _mounted_volume(services[component], kube.token_file)["projected"]["sources"]
        token = next(s["serviceAccountToken"] for s in sources if "serviceAccountToken" in s)
        assert "audience" not in token  # the API server's own: it reads the JWKS
        assert _mounted_volume(services[component], kube.ca_file) is not None
    (audience,) = {a.audience for a in settings.values()}
    (listed,) = {tuple(sorted(kube.subject_methods.items())) for a in settings.values() for kube in a.issuers}
    allowed = dict(listed)
    assert not {kube.operator_subjects for a in settings.values() for kube in a.issuers} - {frozenset()}
    assert all(i.only_operator_subjects for a in settings.values() for i in a.issuers)  # no other pod
    exporter, scanner = "cloudwaste.exporter.v1.ExporterService/", "cloudwaste.scanner.v1.ScannerService/"
    needs = {  # what each caller's code calls (cloudwaste.core.cli, cloudwaste.scanner.server)
        "scanner": {"cloudwaste.enricher.v1.EnricherService/EnrichScanRun",
                    "cloudwaste.predictor.v1.PredictorService/PredictWasteBatch"},
        "export": {exporter + "ExportDataset"},
        "purge": {exporter + "PurgeExpiredData", exporter + "GetPurgeRun"},
        "scan": {scanner + "StartScan", scanner + "GetScanRun"},
    }

    callers = {("Deployment", "scanner"): services["scanner"]}
    callers |= {("CronJob", c["metadata"]["name"]): _pod_spec(c) for c in _of_kind(override, "CronJob")}
    del callers[("CronJob", "cw-training")]  # it calls no service: it reads the database and storage
    assert len(callers) == 1 + 2 + len(SCAN_SCHEDULES)
    own = ["cw-scanner", "cw-caller-export", "cw-caller-purge", "cw-caller-scan"]
    assert set(allowed) == {f"system:serviceaccount:{NAMESPACE}:{name}" for name in own}  # no one else
    for key, pod_spec in callers.items():
        token_file = _env(_container(pod_spec))["CLOUDWASTE_AUTH_TOKEN_FILE"]["value"]
        (source,) = _mounted_volume(pod_spec, token_file)["projected"]["sources"]
        assert source["serviceAccountToken"]["audience"] == audience, key
        assert source["serviceAccountToken"]["expirationSeconds"] <= 3600, key
        subject = f"system:serviceaccount:{NAMESPACE}:{pod_spec['serviceAccountName']}"
        command = _container(pod_spec).get("command", ["", "", "serve", "scanner"])
        job = "scanner" if key[0] == "Deployment" else command[1]
        assert allowed[subject] == needs[job], key  # its own calls, and no other job's
        assert not {m for m in allowed[subject] if m.endswith(("/EraseTenantData", "/DeleteCloudAccount"))}, key
        assert pod_spec["automountServiceAccountToken"] is False, key  # no API token beside it


def test_auth_values_reach_the_services_and_none_turns_it_off(chart):
    docs = _render(
        chart,
        {
            "auth": {
                "issuers": [
                    {
                        "issuer": "https://login.example.com/",
                        "jwksUri": "https://login.example.com/jwks",
                        "operatorSubjects": ["ops@example.com"],
                    }
                ],
                "kubernetes": {"issuer": "https://oidc.eks.us-west-2.amazonaws.com/id/ABC"},
                "tenantClaim": "org",
            }
        },
    )
    from cloudwaste.core.settings import AuthSettings

    for component, doc in _deployments(docs).items():
        auth = AuthSettings.from_env(_settings_env(_container(_pod_spec(doc))))
        idp, kube = auth.issuers
        assert (idp.issuer, idp.jwks_uri) == ("https://login.example.com/", "https://login.example.com/jwks")
        assert idp.operator_subjects == {"ops@example.com"} and not idp.only_operator_subjects, component
        assert kube.issuer == "https://oidc.eks.us-west-2.amazonaws.com/id/ABC"
        assert "ops@example.com" not in kube.operator_subjects  # a subject counts for its own issuer
        assert auth.tenant_claim == "org", component

    off = _render(chart, {"auth": {"mode": "none"}})
    for (_kind, component), pod_spec in _all_pods(off).items():
        env = _env(_container(pod_spec))
        assert not {n for n in env if n.startswith("CLOUDWASTE_AUTH_") and n != "CLOUDWASTE_AUTH_MODE"}, component
        assert all("projected" not in v for v in pod_spec.get("volumes", [])), component
    assert not {a["metadata"]["name"] for a in _of_kind(off, "ServiceAccount")} & set(DEFAULT_OWN_ACCOUNTS.values()) - {
        f"{SERVICE_ACCOUNT}-scanner",
        f"{SERVICE_ACCOUNT}-enricher",
    }

    # the chart's own callers have only cluster tokens: without the cluster's issuer they would fail
    with pytest.raises(helm_python.HelmRenderError, match=r"auth\.kubernetes\.enabled is false"):
        chart.render({"auth": {"kubernetes": {"enabled": False}}}, name=RELEASE, namespace=NAMESPACE)


def test_mutual_tls_reaches_every_service_and_caller_and_the_probes_speak_it(chart, default):
    from cloudwaste.core.settings import TlsSettings

    docs = _render(chart, {"tls": {"secretName": "cw-mtls"}, "scans": {"schedules": SCAN_SCHEDULES}})
    deployments = _deployments(docs)
    callers = [_pod_spec(d) for d in deployments.values()]
    callers += [_pod_spec(c) for c in _of_kind(docs, "CronJob") if _component(c) != "training"]
    for pod_spec in callers:
        tls = TlsSettings.from_env(_settings_env(_container(pod_spec)))
        assert tls.enabled and tls.ca_file
        for path in (tls.cert_file, tls.key_file, tls.ca_file):
            volume = _mounted_volume(pod_spec, path)
            assert volume["secret"] == {"secretName": "cw-mtls", "defaultMode": 0o400}
    for component, doc in deployments.items():
        container = _container(_pod_spec(doc))
        service_name = doc["metadata"]["name"]  # what clients dial (cloudwaste.grpcAddress)
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            command = container[probe]["exec"]["command"]
            assert command[:2] == ["cloudwaste", "health"], (component, probe)
            assert command[command.index("--server-name") + 1] == service_name
            assert ("--service" in command) == (probe != "readinessProbe")
    for doc in _deployments(default).values():  # without it: the kubelet's own gRPC probes
        container = _container(_pod_spec(doc))
        assert container["readinessProbe"]["grpc"] == {"port": GRPC_PORT}
        assert not any(e["name"].startswith("CLOUDWASTE_TLS_") for e in container["env"])


def test_the_callers_identities_stay_apart_with_the_longest_release_name(chart):
    """Kubernetes names stop at 63 characters: the full name is cut, never the job's suffix, so the
    callers keep names that say whose they are ("-caller-e" said little), and their own calls."""
    from cloudwaste.core.settings import AuthSettings

    docs = _render(chart, {"fullnameOverride": "x" * 63})
    callers = [a["metadata"]["name"] for a in _of_kind(docs, "ServiceAccount") if "-caller-" in a["metadata"]["name"]]
    assert sorted(n[n.index("-caller-") :] for n in callers) == ["-caller-export", "-caller-purge"], callers
    assert all(len(n) <= 63 for n in callers), callers
    scanner = _pod_spec(_deployments(docs)["scanner"])
    (kube,) = [i for i in AuthSettings.from_env(_settings_env(_container(scanner))).issuers if i.subject_methods]
    assert {s.rsplit(":", 1)[1] for s in kube.subject_methods} >= set(callers)
    assert len({frozenset(m) for m in kube.subject_methods.values()}) == 4  # each its own calls
