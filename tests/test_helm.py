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
DATABASE_SECRET = (f"{RELEASE}-cloudwaste-database", "url")
ML_HASH_SECRET = f"{RELEASE}-cloudwaste-ml-hash-key"
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
    "database": {"existingSecret": "pg-credentials", "secretKeys": {"url": "dsn"}},
    "mlHashKey": {"existingSecret": "ml-hash", "secretKeys": {"key": "k", "keyId": "kid"}},
    "scanner": {"replicas": 3, "extraEnv": [{"name": "AWS_REGION", "value": "eu-west-1"}]},
    "enricher": {"replicas": 2},
    "exporter": {"persistence": {"existingClaim": "cw-exports"}},
    "predictor": {"replicas": 2, "modelPollSeconds": 120},
    "export": {"schedule": "30 1 * * 0", "startingDeadlineSeconds": 600},
    "scans": {"schedules": SCAN_SCHEDULES, "activeDeadlineSeconds": 5400},
    "purge": {
        "schedule": "0 4 1 */3 *",
        "mlRetentionDays": 730,
        "exportRetentionDays": 90,
        "partitionsAhead": 6,
        "dryRun": True,
        "activeDeadlineSeconds": 900,
    },
}

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


@pytest.fixture
def rendered(request, variant: str) -> Manifests:
    """The manifests of the test's `variant` parameter: the `default` or `override` fixture."""
    return request.getfixturevalue(variant)


def _of_kind(docs: Manifests, kind: str) -> Manifests:
    return [doc for doc in docs if doc["kind"] == kind]


def _one(docs: Manifests, kind: str) -> dict[str, Any]:
    (doc,) = _of_kind(docs, kind)
    return doc


def _component(doc: dict[str, Any]) -> str:
    return doc["metadata"]["labels"]["app.kubernetes.io/component"]


def _deployments(docs: Manifests) -> dict[str, dict[str, Any]]:
    return {_component(d): d for d in _of_kind(docs, "Deployment")}


def _cronjobs(docs: Manifests, component: str) -> Manifests:
    return [d for d in _of_kind(docs, "CronJob") if _component(d) == component]


def _export_cronjob(docs: Manifests) -> dict[str, Any]:
    (cronjob,) = _cronjobs(docs, "export")
    return cronjob


def _workloads(docs: Manifests) -> list[tuple[str, dict[str, Any]]]:
    """("Kind/name", pod spec) of every Deployment, Job and CronJob."""
    found = []
    for doc in docs:
        spec = doc["spec"]
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


@pytest.mark.parametrize("values", [None, OVERRIDES], ids=["default", "override"])
def test_helm_lint_strict_is_clean(values):
    report = helm_python.lint(CHART, values, strict=True)
    assert report["total_charts_linted"] == 1
    assert report["errors"] == []
    # Severity 2 = warning, 3 = error; strict lint treats warnings as failures.
    assert [m for m in report["messages"] if m["severity"] >= 2] == []


@pytest.mark.parametrize("kube_version", KUBE_VERSIONS)
@pytest.mark.parametrize("variant", ["default", "override"])
def test_every_manifest_passes_strict_kubernetes_schema(rendered, variant, kube_version):
    docs = rendered
    assert docs
    for doc in docs:
        try:
            used = kubernetes_validate.validate(doc, kube_version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(str(p) for p in exc.path)
            pytest.fail(f"{doc['kind']}/{doc['metadata']['name']} at {path}: {exc.message}")
        assert used == kube_version  # validated against that version's schemas, not a fallback


def test_renders_exactly_the_expected_objects(default):
    kinds = sorted(doc["kind"] for doc in default)
    assert kinds == sorted(["Deployment"] * 4 + ["Service"] * 4 + ["Job", "CronJob", "CronJob"])
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


@pytest.mark.parametrize("variant", ["default", "override"])
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


@pytest.mark.parametrize("variant", ["default", "override"])
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
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["grpc"]["port"] == GRPC_PORT, probe
    _assert_hardened(pod_spec)
    assert pod_spec["automountServiceAccountToken"] is False
    assert container["resources"]["requests"] and container["resources"]["limits"]


def test_service_specific_environment(default):
    deployments = _deployments(default)
    envs = {name: _env(_container(d["spec"]["template"]["spec"])) for name, d in deployments.items()}
    services = {_component(s): s for s in _of_kind(default, "Service")}

    for service, env in envs.items():
        assert _secret_ref(env, "CLOUDWASTE_DATABASE_URL") == DATABASE_SECRET
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
    assert envs["exporter"]["CLOUDWASTE_EXPORT_ROOT"]["value"] == "/exports"
    assert envs["predictor"]["CLOUDWASTE_MODEL_POLL_SECONDS"]["value"] == "30"
    only = {
        "CLOUDWASTE_ENRICHER_ADDRESS": "scanner",
        "CLOUDWASTE_EXPORT_ROOT": "exporter",
        "CLOUDWASTE_MODEL_POLL_SECONDS": "predictor",
    }
    for name, owner in only.items():
        assert [s for s, env in envs.items() if name in env] == [owner]


def test_exporter_volume_is_empty_dir_by_default(default):
    exporter = _deployments(default)["exporter"]
    pod_spec = exporter["spec"]["template"]["spec"]
    mounts = {m["mountPath"]: m["name"] for m in _container(pod_spec)["volumeMounts"]}
    volumes = {v["name"]: v for v in pod_spec["volumes"]}
    assert volumes[mounts["/exports"]] == {"name": mounts["/exports"], "emptyDir": {}}
    assert "strategy" not in exporter["spec"]
    for service in ("scanner", "enricher", "predictor"):
        other = _container(_deployments(default)[service]["spec"]["template"]["spec"])
        assert "/exports" not in {m["mountPath"] for m in other["volumeMounts"]}


def test_services_expose_grpc_and_metrics_and_select_one_deployment(default):
    deployments = _deployments(default)
    services = _of_kind(default, "Service")
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
    exporter_service = _deployments(default)["exporter"]["metadata"]["name"]
    assert command == [
        "cloudwaste",
        "export",
        "--exporter-address",
        f"{exporter_service}:50051",
        "--destination",
        "file:///exports",
    ]
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
        assert all("emptyDir" in v for v in pod_spec["volumes"])


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
    assert all("emptyDir" in v for v in pod_spec["volumes"])


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
    assert {name: d["spec"]["replicas"] for name, d in deployments.items()} == {
        "scanner": 3,
        "enricher": 2,
        "exporter": 1,
        "predictor": 2,
    }
    assert deployments["enricher"]["metadata"]["name"] == "cw-enricher"
    pod_specs = [d["spec"]["template"]["spec"] for d in deployments.values()]
    pod_specs.append(_one(override, "Job")["spec"]["template"]["spec"])
    pod_specs.extend(c["spec"]["jobTemplate"]["spec"]["template"]["spec"] for c in _of_kind(override, "CronJob"))
    for pod_spec in pod_specs:
        container = _container(pod_spec)
        assert _image_service(container["image"], OVERRIDES["image"]["repository"], "1.2.3") in SERVICES
        assert container["imagePullPolicy"] == "Always"
        assert pod_spec["imagePullSecrets"] == [{"name": "ghcr-pull"}]
        assert _env(container)["CLOUDWASTE_LOG_LEVEL"]["value"] == "DEBUG"

    envs = {name: _env(_container(d["spec"]["template"]["spec"])) for name, d in deployments.items()}
    for env in envs.values():
        assert _secret_ref(env, "CLOUDWASTE_DATABASE_URL") == ("pg-credentials", "dsn")
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


def test_exporter_claim_override_mounts_the_pvc_and_recreates(override):
    exporter = _deployments(override)["exporter"]
    pod_spec = exporter["spec"]["template"]["spec"]
    mounts = {m["mountPath"]: m["name"] for m in _container(pod_spec)["volumeMounts"]}
    volumes = {v["name"]: v for v in pod_spec["volumes"]}
    assert volumes[mounts["/exports"]]["persistentVolumeClaim"] == {"claimName": "cw-exports"}
    # A ReadWriteOnce claim cannot be attached to the old and the new pod during a rolling update.
    assert exporter["spec"]["strategy"] == {"type": "Recreate"}
