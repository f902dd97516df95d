"""Management and developer services of the simulated estate: Lambda provisioned concurrency,
CloudWatch Logs log groups, ECR repositories, Secrets Manager secrets, KMS keys, CloudTrail trails.

Scenarios (rule key) and near misses (scenario ``None``), spread over the regions:

=========================================  ==============================================  ==========================================
scenario                                   waste                                           near misses
=========================================  ==============================================  ==========================================
``lambda-provisioned-concurrency-unused``  alias with provisioned concurrency set 100-400   set 100-400 days ago, invoked once 85 days
                                           days ago, no Invocations datapoint in 90 days   ago (or daily: right-sized); set 60-85 days ago, never
                                                                                           invoked (younger than the window)
``lambda-provisioned-concurrency-          10-50 allocated, invoked daily, daily peak      peak 55-95% (right-sized); utilization on
underused``                                utilization 2-45%, set 40-400 days ago          5 days only (under 7); set 15-28 days ago
``logs-group-no-ingestion``                group of 0.2-50 GB, 40-500 days old, no         0.2-50 GB groups ingesting (a datapoint 25
                                           IncomingBytes for 30 days (with or without a    days ago, or daily) with a retention;
                                           retention)                                      idle groups 10-25 days old with a
                                                                                           retention; idle 40 MB groups (under 0.1 GB)
``logs-group-no-retention``                1.5-300 GB, never expires, ingesting daily      0.6 GB never-expiring ingesting groups
                                           (or a young group, 5-20 days old)               (under 1 GB); retention set
``ecr-repository-images-not-pulled``       1.5-10 GB of images last pulled 95-400 days     images pulled 1-80 days ago; images pushed
                                           ago, or pushed 100-300 days ago and never       20-80 days ago and never pulled; 0.5 GB
                                           pulled; each repository's newest push is        of stale images (under 1 GB); a
                                           recent (the newest push is never stale)         repository's only image, pulled 95-190
                                                                                           days ago (deployed, never re-pulled);
                                                                                           the same with a later untagged push
                                                                                           (the newest tagged push is kept too)
``secretsmanager-secret-unused``           last accessed 95-300 days ago, or never         accessed 1-80 days ago; never accessed and
                                           accessed and created 100-500 days ago           created 20-85 days ago; a replica never
                                                                                           read in its region, of a primary
                                                                                           accessed 1-80 days ago
``kms-key-disabled``                       customer managed key disabled, 35-700 days      enabled keys; disabled keys 3-25 days old;
                                           old                                             keys pending deletion; AWS managed keys
                                                                                           (disabled: not listed at all)
``cloudtrail-trail-duplicate``             a second single-region trail logging the        each region's first trail (logging the
                                           region's management events (one per region)     longest); data-events-only trails; stopped
                                                                                           trails
=========================================  ==============================================  ==========================================

What moto 5.2.5 cannot do, and how the estate does it:

* Lambda has no provisioned concurrency at all: :func:`install_provisioned_concurrency` adds
  Put/Get/List/DeleteProvisionedConcurrencyConfig to moto's Lambda (in this process, before its
  first Lambda request), configurations READY at once with LastModified settable.
* A log group's storedBytes is the sum of its streams': set on a stream's backend object.
* ECR images: push time and last recorded pull time are set on moto's image objects (moto never
  records a pull); an image's size is its manifest's config size (moto's reading).
* Secrets Manager never reports LastAccessedDate: the secret's ``to_dict`` is wrapped, per secret,
  to report the simulated one (truncated to the day, as AWS does); CreatedDate is backdated. A
  replica (listed in its region with PrimaryRegion set, as AWS does) is wrapped likewise to report
  its own last access (never), not its primary's.
* ECR's PutImage needs a tag: an untagged image is a tagged one whose tags are removed on its
  backend object.
* KMS: creation dates are backdated; an AWS managed key is a customer key marked ``AWS``.
* CloudTrail needs an existing bucket to create a trail: one bucket per region is created for it
  and deleted right after (no S3 bucket stays behind for the S3 rules); trails' logging start
  times are backdated.

The ``AWS/Lambda Invocations`` and ``AWS/Logs IncomingBytes`` metrics are not published for a day
without activity: a resource that must not look idle gets at least one datapoint in its window.
"""

from __future__ import annotations

import io
import json
import math
import random
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote

from . import SeedContext, ServiceEstate

LAMBDA = "aws.lambda.provisioned_concurrency"
LOG_GROUP = "aws.logs.log_group"
REPOSITORY = "aws.ecr.repository"
SECRET = "aws.secretsmanager.secret"
KEY = "aws.kms.key"
TRAIL = "aws.cloudtrail.trail"

GB = 1024**3
# of the estate's size, per variant: ~4 of each firing variant and ~2 of each near miss in a
# 3,000-resource estate (about 90 resources in all with the trails, 3%)
FIRES_SHARE, NEAR_MISS_SHARE = 0.0012, 0.0006

# --- moto: Lambda provisioned concurrency -----------------------------------------------------------

_PC_PATH = r"{0}/(?P<api_version>[^/]+)/functions/(?P<function_name>[\w_:%-]+)/provisioned-concurrency/?$"
_installed = False


def _pc_store(backend: Any) -> dict[tuple[str, str], dict[str, Any]]:
    store = backend.__dict__.get("_cloudwaste_provisioned")
    if store is None:
        store = backend.__dict__["_cloudwaste_provisioned"] = {}
    return store


def put_provisioned_concurrency(
    backend: Any, function_name: str, qualifier: str, requested: int, modified: datetime
) -> dict[str, Any]:
    """A READY configuration of `requested` concurrency on function:qualifier, last set at `modified`."""
    fn = backend.get_function(function_name)
    base = fn.function_arn.split(":function:")[0] + f":function:{fn.function_name}"
    config = {
        "FunctionArn": f"{base}:{qualifier}",
        "RequestedProvisionedConcurrentExecutions": requested,
        "AvailableProvisionedConcurrentExecutions": requested,
        "AllocatedProvisionedConcurrentExecutions": requested,
        "Status": "READY",
        "LastModified": modified.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000"),
    }
    _pc_store(backend)[(fn.function_name, qualifier)] = config
    return config


def install_provisioned_concurrency() -> None:
    """Teach moto's Lambda the provisioned concurrency operations (idempotent; must run before the
    moto server builds its Lambda app, i.e. before the first Lambda request of the server)."""
    global _installed
    if _installed:
        return
    from moto.awslambda import urls
    from moto.awslambda.responses import LambdaResponse

    def _function(self: Any) -> str:
        return unquote(self.path.rstrip("/").split("/")[-2])

    def _qualifier(self: Any) -> str:
        return (self.querystring.get("Qualifier") or [""])[0]

    def put_provisioned_concurrency_config(self: Any) -> Any:
        name, qualifier = _function(self), _qualifier(self)
        requested = int(json.loads(self.body or "{}").get("ProvisionedConcurrentExecutions", 0))
        config = put_provisioned_concurrency(self.backend, name, qualifier, requested, datetime.now(UTC))
        return 202, {}, json.dumps(config)

    def get_provisioned_concurrency_config(self: Any) -> Any:
        name = self.backend.get_function(_function(self)).function_name
        config = _pc_store(self.backend).get((name, _qualifier(self)))
        if config is None:
            body = {"Type": "User", "message": "No Provisioned Concurrency Config found for this function"}
            return (
                404,
                {"x-amzn-errortype": "ProvisionedConcurrencyConfigNotFoundException"},
                json.dumps(body),
            )
        return 200, {}, json.dumps(config)

    def list_provisioned_concurrency_configs(self: Any) -> Any:
        name = self.backend.get_function(_function(self)).function_name
        configs = [c for (fn, _), c in sorted(_pc_store(self.backend).items()) if fn == name]
        return 200, {}, json.dumps({"ProvisionedConcurrencyConfigs": configs})

    def delete_provisioned_concurrency_config(self: Any) -> Any:
        name = self.backend.get_function(_function(self)).function_name
        _pc_store(self.backend).pop((name, _qualifier(self)), None)
        return 204, {}, ""

    LambdaResponse.put_provisioned_concurrency_config = put_provisioned_concurrency_config
    LambdaResponse.get_provisioned_concurrency_config = get_provisioned_concurrency_config
    LambdaResponse.list_provisioned_concurrency_configs = list_provisioned_concurrency_configs
    LambdaResponse.delete_provisioned_concurrency_config = delete_provisioned_concurrency_config
    urls.url_paths.setdefault(_PC_PATH, LambdaResponse.dispatch)
    _installed = True


# installed when the module is imported: seed_estate imports every service module before it
# seeds any, and the core estate makes no Lambda request (sturdier: from
# cloudwaste.sim.aws._prepare_moto_environment, as the capacity reservations are)
install_provisioned_concurrency()


# --- helpers ----------------------------------------------------------------------------------------


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("index.py", "def handler(event, context):\n    return None\n")
    return buf.getvalue()


def _tag_list(tags: dict[str, str], key: str = "Key", value: str = "Value") -> list[dict[str, str]]:
    return [{key: k, value: v} for k, v in tags.items()]


def _naive(when: datetime) -> datetime:
    return when.astimezone(UTC).replace(tzinfo=None)


class _Seeder:
    """What every part of the seeding shares: the context, the random stream, the truth."""

    def __init__(self, ctx: SeedContext) -> None:
        self.ctx = ctx
        self.rng = ctx.rng("management")
        self.truth: list[Any] = []
        self.n = 0

    def count(self, scenario: str | None = None) -> int:
        """How many of a variant: at least two of one that fires (one to delete, one to fix)."""
        if scenario:
            return self.ctx.count(FIRES_SHARE, minimum=2)
        return self.ctx.count(NEAR_MISS_SHARE)

    def uniq(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}-{self.n:04d}"

    def add(
        self,
        resource_id: str,
        kind: str,
        region: str,
        tags: dict[str, str],
        scenario: str | None,
        *,
        age_days: float | None = None,
        monthly_cost: float = 0.0,
    ) -> None:
        decision = None
        if scenario is not None:
            decision = self.ctx.decide(
                self.rng, tags=tags, scenario=scenario, age_days=age_days, monthly_cost=monthly_cost
            )
        self.truth.append(self.ctx.truth(resource_id, kind, region, tags, scenario, decision))


# --- Lambda -----------------------------------------------------------------------------------------


def _seed_lambda(s: _Seeder) -> None:
    ctx, rng = s.ctx, s.rng
    roles: dict[str, str] = {}

    def role() -> str:
        if "arn" not in roles:
            iam = ctx.client("iam", ctx.regions[0])
            roles["arn"] = iam.create_role(
                RoleName="cloudwaste-sim-lambda",
                AssumeRolePolicyDocument=json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Principal": {"Service": "lambda.amazonaws.com"},
                                "Action": "sts:AssumeRole",
                            }
                        ],
                    }
                ),
            )["Role"]["Arn"]
        return roles["arn"]

    code = _zip()
    unused, underused = "lambda-provisioned-concurrency-unused", "lambda-provisioned-concurrency-underused"
    every_day = list(range(90))
    # (variant, scenario, configured days ago, the days (ago) with invocations, the daily peak
    # utilization on those days (None: none published), the concurrency choices)
    variants: list[
        tuple[str, str | None, Callable[[], float], list[int], Callable[[], float] | None, list[int]]
    ] = [
        ("idle", unused, lambda: rng.uniform(100, 400), [], None, [1, 2, 5, 10]),
        (
            "oversized",
            underused,
            lambda: rng.uniform(40, 400),
            every_day,
            lambda: rng.uniform(0.02, 0.45),
            [10, 20, 50],
        ),
        ("used-once", None, lambda: rng.uniform(100, 400), [85], None, [1, 2, 5, 10]),
        (
            "right-sized",
            None,
            lambda: rng.uniform(100, 400),
            every_day,
            lambda: rng.uniform(0.55, 0.95),
            [2, 5, 10],
        ),
        ("sparse", None, lambda: rng.uniform(100, 400), [1, 3, 8, 13, 21], lambda: 0.1, [10, 20]),
        ("young", None, lambda: rng.uniform(60, 85), [], None, [1, 2, 5, 10]),
        ("young-oversized", None, lambda: rng.uniform(15, 28), every_day[:15], lambda: 0.05, [10, 20]),
    ]
    for variant, scenario, configured, invoked, utilization, choices in variants:
        for _ in range(s.count(scenario)):
            region = ctx.pick_region(rng)
            tags = ctx.tags(rng, "lambda")
            name = s.uniq(f"fn-{variant}")
            memory = rng.choice([256, 512, 1024, 2048])
            concurrency = rng.choice(choices)
            lam = ctx.client("lambda", region)
            lam.create_function(
                FunctionName=name,
                Runtime="python3.12",
                Role=role(),
                Handler="index.handler",
                Code={"ZipFile": code},
                MemorySize=memory,
                Publish=True,
                Tags=tags,
            )
            lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
            age = configured()
            config = put_provisioned_concurrency(
                ctx.backend("lambda", region), name, "live", concurrency, ctx.ago(age)
            )
            dims = {"FunctionName": name, "Resource": f"{name}:live"}
            points = []
            for day in invoked:  # no datapoint at all on the days without invocations
                hours = day * 24 + 1
                points += ctx.daily_points(
                    "Invocations", dims, [rng.uniform(1, 500)], "Count", newest_hours_ago=hours
                )
                if utilization is not None:
                    points += ctx.daily_points(
                        "ProvisionedConcurrencyUtilization", dims, [utilization()], newest_hours_ago=hours
                    )
            ctx.put_metrics(region, "AWS/Lambda", points)
            billed = concurrency  # what the finding saves: all of it, or the excess
            if scenario == underused:
                peak = max(
                    md["Value"] for md in points if md["MetricName"] == "ProvisionedConcurrencyUtilization"
                )
                billed = concurrency - max(1, math.ceil(round(peak * concurrency, 6)))
            cost = billed * memory / 1024 * 730 * 3600 * 0.0000041667
            s.add(config["FunctionArn"], LAMBDA, region, tags, scenario, age_days=age, monthly_cost=cost)


# --- CloudWatch Logs --------------------------------------------------------------------------------


def _seed_logs(s: _Seeder) -> None:
    ctx, rng = s.ctx, s.rng
    no_ing, no_ret = "logs-group-no-ingestion", "logs-group-no-retention"
    # (variant, scenario, age days, GB, retention days or None, ingestion: "none" | "daily" | "once")
    variants: list[tuple[str, str | None, Callable[[], float], Callable[[], float], int | None, str]] = [
        ("idle", no_ing, lambda: rng.uniform(40, 500), lambda: rng.uniform(0.2, 50), None, "none"),
        ("idle-retained", no_ing, lambda: rng.uniform(40, 500), lambda: rng.uniform(0.2, 50), 365, "none"),
        ("live-forever", no_ret, lambda: rng.uniform(40, 500), lambda: rng.uniform(1.5, 300), None, "daily"),
        ("young-forever", no_ret, lambda: rng.uniform(5, 20), lambda: rng.uniform(1.5, 30), None, "none"),
        ("live-retained", None, lambda: rng.uniform(40, 500), lambda: rng.uniform(0.2, 50), 30, "daily"),
        ("quiet-retained", None, lambda: rng.uniform(40, 500), lambda: rng.uniform(0.2, 50), 90, "once"),
        ("young-idle", None, lambda: rng.uniform(10, 25), lambda: rng.uniform(0.2, 5), 14, "none"),
        ("tiny-idle", None, lambda: rng.uniform(40, 500), lambda: 0.04, 7, "none"),
        ("small-forever", None, lambda: rng.uniform(40, 500), lambda: 0.6, None, "daily"),
    ]
    for variant, scenario, age_fn, gb_fn, retention, ingestion in variants:
        for _ in range(s.count(scenario)):
            region = ctx.pick_region(rng)
            tags = ctx.tags(rng, "logs")
            name = f"/cloudwaste/sim/{s.uniq(variant)}"
            logs = ctx.client("logs", region)
            logs.create_log_group(logGroupName=name, tags=tags)
            if retention:
                logs.put_retention_policy(logGroupName=name, retentionInDays=retention)
            logs.create_log_stream(logGroupName=name, logStreamName="main")
            age, gb = age_fn(), gb_fn()
            group = ctx.backend("logs", region).groups[name]
            group.creation_time = _naive(ctx.ago(age))
            group.streams["main"].stored_bytes = int(gb * GB)
            if ingestion == "daily":
                values = [rng.uniform(1e6, 5e8) for _ in range(30)]
                points = ctx.daily_points("IncomingBytes", {"LogGroupName": name}, values, "Bytes")
                ctx.put_metrics(region, "AWS/Logs", points)
            elif ingestion == "once":  # 2 KB 25 days ago, nothing since (no datapoint)
                points = ctx.daily_points(
                    "IncomingBytes", {"LogGroupName": name}, [2048.0], "Bytes", newest_hours_ago=25 * 24
                )
                ctx.put_metrics(region, "AWS/Logs", points)
            s.add(name, LOG_GROUP, region, tags, scenario, age_days=age, monthly_cost=gb * 0.03)


# --- ECR --------------------------------------------------------------------------------------------


def _manifest(rng: random.Random, size: int) -> str:
    layer = f"sha256:{rng.getrandbits(256):064x}"
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": size,
                "digest": f"sha256:{rng.getrandbits(256):064x}",
            },
            "layers": [
                {
                    "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "size": size,
                    "digest": layer,
                }
            ],
        }
    )


def _current(images: list[tuple[float, float | None, float, bool]]) -> set[int]:
    """The images the rule never counts stale (their indexes): the newest push, and the newest
    push of the tagged images (pushed days ago: the smallest is the newest)."""
    out = set()
    for pool in (list(enumerate(images)), [(n, i) for n, i in enumerate(images) if i[3]]):
        if pool:
            out.add(min(pool, key=lambda item: item[1][0])[0])
    return out


def _seed_ecr(s: _Seeder) -> None:
    ctx, rng = s.ctx, s.rng
    # an image: (pushed days ago, pulled days ago or None, GB, tagged)
    Image = tuple[float, float | None, float, bool]

    def stale_pulled() -> Image:
        return (rng.uniform(200, 500), rng.uniform(95, 190), rng.uniform(1.5, 10), True)

    def stale_never() -> Image:
        return (rng.uniform(100, 300), None, rng.uniform(1.5, 10), True)

    def live() -> Image:
        return (rng.uniform(100, 500), rng.uniform(1, 80), rng.uniform(0.2, 3), True)

    def fresh() -> Image:
        return (rng.uniform(20, 80), None, rng.uniform(0.2, 3), True)

    def current() -> Image:  # the image deployed now: pushed last, pulled by every new task
        return (rng.uniform(5, 19), rng.uniform(0.5, 5), rng.uniform(0.2, 3), True)

    def deployed() -> Image:  # pushed and pulled once long ago, run since by a long-lived service
        return (rng.uniform(200, 500), rng.uniform(95, 190), rng.uniform(1.5, 10), True)

    def untagged_build() -> Image:  # a later untagged push (a CI build nobody tagged)
        return (rng.uniform(100, 150), None, rng.uniform(0.2, 0.4), False)

    variants: list[tuple[str, str | None, Callable[[], list[Image]]]] = [
        ("stale", "ecr-repository-images-not-pulled", lambda: [stale_pulled(), live(), current()]),
        ("unused", "ecr-repository-images-not-pulled", lambda: [stale_never(), fresh()]),
        ("live", None, lambda: [live(), live(), fresh()]),
        ("small-stale", None, lambda: [(300.0, 120.0, 0.5, True), live(), current()]),
        ("deployed", None, lambda: [deployed()]),
        ("deployed-tag", None, lambda: [deployed(), untagged_build()]),
        ("empty", None, lambda: []),
    ]
    for variant, scenario, images_fn in variants:
        for _ in range(s.count(scenario)):
            region = ctx.pick_region(rng)
            tags = ctx.tags(rng, "ecr")
            name = s.uniq(f"sim-{variant}")
            ecr = ctx.client("ecr", region)
            arn = ecr.create_repository(repositoryName=name, tags=_tag_list(tags))["repository"][
                "repositoryArn"
            ]
            images = images_fn()
            repo = ctx.backend("ecr", region).repositories[name]
            oldest = max([i[0] for i in images], default=10.0) + 5
            repo.created_at = _naive(ctx.ago(oldest))
            stale_gb = 0.0
            keep = _current(images)
            for n, (pushed, pulled, gb, tagged) in enumerate(images):
                ecr.put_image(
                    repositoryName=name, imageManifest=_manifest(rng, int(gb * GB)), imageTag=f"v{n}"
                )
                image = repo.images[-1]
                if not tagged:  # moto's PutImage needs a tag: untag it on the backend object
                    image.image_tags, image.image_tag = [], None
                image.image_pushed_at = int(ctx.ago(pushed).timestamp())
                if pulled is not None:
                    image.last_recorded_pull_time = ctx.ago(pulled)
                if n not in keep and (pulled if pulled is not None else pushed) >= 90:
                    stale_gb += gb
            s.add(arn, REPOSITORY, region, tags, scenario, age_days=oldest, monthly_cost=stale_gb * 0.10)


# --- Secrets Manager --------------------------------------------------------------------------------


def _report_last_access(secret: Any, accessed: datetime | None) -> None:
    """moto never reports LastAccessedDate: make this secret report `accessed` (to the day; None:
    never accessed, for a replica, which moto describes with its primary's dates)."""
    day = (
        None
        if accessed is None
        else int(accessed.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0).timestamp())
    )
    original = secret.to_dict

    def to_dict() -> dict[str, Any]:
        return {**original(), "LastAccessedDate": day}

    secret.to_dict = to_dict


def _seed_secrets(s: _Seeder) -> None:
    ctx, rng = s.ctx, s.rng
    scenario = "secretsmanager-secret-unused"
    # (variant, scenario, created days ago, accessed days ago or None)
    variants: list[tuple[str, str | None, Callable[[], float], Callable[[], float | None]]] = [
        ("stale", scenario, lambda: rng.uniform(300, 700), lambda: rng.uniform(95, 290)),
        ("never", scenario, lambda: rng.uniform(100, 500), lambda: None),
        ("live", None, lambda: rng.uniform(100, 700), lambda: rng.uniform(1, 80)),
        ("young", None, lambda: rng.uniform(20, 85), lambda: None),
    ]
    for variant, scen, created_fn, accessed_fn in variants:
        for _ in range(s.count(scen)):
            region = ctx.pick_region(rng)
            tags = ctx.tags(rng, "secretsmanager")
            name = s.uniq(f"sim/{variant}")
            sm = ctx.client("secretsmanager", region)
            arn = sm.create_secret(Name=name, SecretString="not-a-real-secret", Tags=_tag_list(tags))["ARN"]
            created, accessed = created_fn(), accessed_fn()
            secret = next(x for x in ctx.backend("secretsmanager", region).secrets.values() if x.arn == arn)
            secret.created_date = int(ctx.ago(created).timestamp())
            if accessed is not None:
                _report_last_access(secret, ctx.ago(accessed))
            s.add(arn, SECRET, region, tags, scen, age_days=created, monthly_cost=0.40)
    # near miss: a disaster-recovery replica never read in its own region, of a primary in use (a
    # replica is judged with its primary, in the primary's region)
    for _ in range(s.count() if len(ctx.regions) > 1 else 0):
        region = ctx.pick_region(rng)
        replica_region = next(r for r in ctx.regions if r != region)
        tags = ctx.tags(rng, "secretsmanager")
        sm = ctx.client("secretsmanager", region)
        arn = sm.create_secret(
            Name=s.uniq("sim/replicated"),
            SecretString="not-a-real-secret",
            Tags=_tag_list(tags),
            AddReplicaRegions=[{"Region": replica_region}],
        )["ARN"]
        created = rng.uniform(100, 700)
        secret = next(x for x in ctx.backend("secretsmanager", region).secrets.values() if x.arn == arn)
        secret.created_date = int(ctx.ago(created).timestamp())
        _report_last_access(secret, ctx.ago(rng.uniform(1, 80)))
        (replica,) = secret.replicas
        _report_last_access(replica, None)
        s.add(arn, SECRET, region, tags, None)
        s.add(replica.arn, SECRET, replica_region, tags, None)


# --- KMS --------------------------------------------------------------------------------------------


def _seed_kms(s: _Seeder) -> None:
    ctx, rng = s.ctx, s.rng
    # (variant, scenario, age days, state: "Enabled" | "Disabled" | "PendingDeletion", AWS managed?)
    variants: list[tuple[str, str | None, Callable[[], float], str, bool]] = [
        ("disabled", "kms-key-disabled", lambda: rng.uniform(35, 700), "Disabled", False),
        ("enabled", None, lambda: rng.uniform(35, 700), "Enabled", False),
        ("young-disabled", None, lambda: rng.uniform(3, 25), "Disabled", False),
        ("pending", None, lambda: rng.uniform(35, 700), "PendingDeletion", False),
        ("aws-managed", None, lambda: rng.uniform(35, 700), "Enabled", True),
    ]
    for variant, scenario, age_fn, state, aws_managed in variants:
        for _ in range(s.count(scenario)):
            region = ctx.pick_region(rng)
            tags = ctx.tags(rng, "kms")
            kms = ctx.client("kms", region)
            key_id = kms.create_key(
                Description=f"cloudwaste sim {variant}", Tags=_tag_list(tags, "TagKey", "TagValue")
            )["KeyMetadata"]["KeyId"]
            if state == "Disabled":
                kms.disable_key(KeyId=key_id)
            elif state == "PendingDeletion":
                kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=30)
            age = age_fn()
            key = ctx.backend("kms", region).keys[key_id]
            key.creation_date = ctx.ago(age).timestamp()
            if aws_managed:
                key.key_manager = "AWS"  # not listed by the scanner: no truth entry
                continue
            s.add(key_id, KEY, region, tags, scenario, age_days=age, monthly_cost=1.0)


# --- CloudTrail -------------------------------------------------------------------------------------


def _seed_cloudtrail(s: _Seeder) -> None:
    """Per region: a first trail (logging the longest), and around it duplicates, data-only trails
    and stopped trails, at most 5 trails a region (CloudTrail's limit)."""
    ctx, rng = s.ctx, s.rng
    for index, region in enumerate(ctx.regions):
        ct = ctx.client("cloudtrail", region)
        s3 = ctx.client("s3", region)
        bucket = f"cloudwaste-sim-trails-{ctx.account_id}-{index}"
        extra = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
        s3.create_bucket(Bucket=bucket, **extra)
        # (variant, scenario, logging started days ago (None: stopped), records management events)
        layout: list[tuple[str, str | None, float | None, bool]] = [
            ("main", None, rng.uniform(400, 900), True),
            ("copy", "cloudtrail-trail-duplicate", rng.uniform(30, 300), True),
            ("data-only", None, rng.uniform(30, 300), False),
            ("stopped", None, None, True),
        ]
        if rng.random() < 0.5:
            layout.append(("copy", "cloudtrail-trail-duplicate", rng.uniform(5, 29), True))
        backend = ctx.backend("cloudtrail", region)
        for variant, scenario, started, management in layout:
            tags = ctx.tags(rng, "cloudtrail")
            name = s.uniq(f"sim-{variant}")
            arn = ct.create_trail(Name=name, S3BucketName=bucket, TagsList=_tag_list(tags))["TrailARN"]
            if not management:
                ct.put_event_selectors(
                    TrailName=name,
                    EventSelectors=[
                        {
                            "ReadWriteType": "All",
                            "IncludeManagementEvents": False,
                            "DataResources": [{"Type": "AWS::S3::Object", "Values": ["arn:aws:s3"]}],
                        }
                    ],
                )
            if started is not None:
                ct.start_logging(Name=name)
                backend.get_trail(name).status.started = _naive(ctx.ago(started))
            s.add(arn, TRAIL, region, tags, scenario, age_days=started, monthly_cost=0.0)
        s3.delete_bucket(Bucket=bucket)


# --- the estate -------------------------------------------------------------------------------------


def seed(ctx: SeedContext) -> list[Any]:
    install_provisioned_concurrency()
    s = _Seeder(ctx)
    _seed_lambda(s)
    _seed_logs(s)
    _seed_ecr(s)
    _seed_secrets(s)
    _seed_kms(s)
    _seed_cloudtrail(s)
    return s.truth


# --- what users do between two scans ----------------------------------------------------------------


def _split_pc(arn: str) -> tuple[str, str]:
    function, qualifier = arn.split(":function:", 1)[1].rsplit(":", 1)
    return function, qualifier


def _delete_pc(c: Any, arn: str, _now: datetime) -> None:
    function, qualifier = _split_pc(arn)
    getattr(c, "lambda").delete_provisioned_concurrency_config(FunctionName=function, Qualifier=qualifier)


def _fix_pc(c: Any, arn: str, now: datetime) -> None:
    """Right-sized and in use: the concurrency set to 1 (what an unused or oversized alias needs at
    most) and an Invocations datapoint an hour before `now`."""
    function, qualifier = _split_pc(arn)
    getattr(c, "lambda").put_provisioned_concurrency_config(
        FunctionName=function, Qualifier=qualifier, ProvisionedConcurrentExecutions=1
    )
    c.cloudwatch.put_metric_data(
        Namespace="AWS/Lambda",
        MetricData=[
            {
                "MetricName": "Invocations",
                "Dimensions": [
                    {"Name": "FunctionName", "Value": function},
                    {"Name": "Resource", "Value": f"{function}:{qualifier}"},
                ],
                "Timestamp": now - timedelta(hours=1),
                "Value": 1.0,
                "Unit": "Count",
            }
        ],
    )


def _delete_log_group(c: Any, name: str, _now: datetime) -> None:
    c.logs.delete_log_group(logGroupName=name)


def _fix_log_group(c: Any, name: str, now: datetime) -> None:
    """A retention of 30 days, and logs coming in again (an IncomingBytes datapoint an hour ago)."""
    c.logs.put_retention_policy(logGroupName=name, retentionInDays=30)
    c.cloudwatch.put_metric_data(
        Namespace="AWS/Logs",
        MetricData=[
            {
                "MetricName": "IncomingBytes",
                "Dimensions": [{"Name": "LogGroupName", "Value": name}],
                "Timestamp": now - timedelta(hours=1),
                "Value": 4096.0,
                "Unit": "Bytes",
            }
        ],
    )


def _repository_name(arn: str) -> str:
    return arn.split(":repository/", 1)[1]


def _delete_repository(c: Any, arn: str, _now: datetime) -> None:
    c.ecr.delete_repository(repositoryName=_repository_name(arn), force=True)


def _fix_repository(c: Any, arn: str, now: datetime) -> None:
    """The images not pulled for 90 days are deleted (what a lifecycle policy would do), but for
    the newest push and the newest tagged push (a lifecycle policy keeps the most recent)."""
    name = _repository_name(arn)
    images = c.ecr.describe_images(repositoryName=name)["imageDetails"]
    keep = {
        max(pool, key=lambda i: i["imagePushedAt"])["imageDigest"]
        for pool in (images, [i for i in images if i.get("imageTags")])
        if pool
    }
    stale = []
    for image in images:
        if image["imageDigest"] in keep:
            continue
        last = image.get("lastRecordedPullTime") or image.get("imagePushedAt")
        if last is not None and (now - last).total_seconds() >= 90 * 86400:
            stale.append({"imageDigest": image["imageDigest"]})
    if stale:
        c.ecr.batch_delete_image(repositoryName=name, imageIds=stale)


def _delete_secret(c: Any, arn: str, _now: datetime) -> None:
    c.secretsmanager.delete_secret(SecretId=arn, ForceDeleteWithoutRecovery=True)


def _delete_key(c: Any, key_id: str, _now: datetime) -> None:
    c.kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)


def _delete_trail(c: Any, arn: str, _now: datetime) -> None:
    c.cloudtrail.delete_trail(Name=arn.rsplit("/", 1)[1])  # by name: moto's DeleteTrail ignores ARNs


def _fix_trail(c: Any, arn: str, _now: datetime) -> None:
    """The copy stops recording management events (it keeps its data events, if any)."""
    c.cloudtrail.put_event_selectors(
        TrailName=arn,
        EventSelectors=[{"ReadWriteType": "All", "IncludeManagementEvents": False, "DataResources": []}],
    )


SERVICE = ServiceEstate(
    name="management",
    seed=seed,
    actions={
        (LAMBDA, "delete"): _delete_pc,
        (LAMBDA, "fix"): _fix_pc,
        (LOG_GROUP, "delete"): _delete_log_group,
        (LOG_GROUP, "fix"): _fix_log_group,
        (REPOSITORY, "delete"): _delete_repository,
        (REPOSITORY, "fix"): _fix_repository,
        (SECRET, "delete"): _delete_secret,
        (KEY, "delete"): _delete_key,
        (TRAIL, "delete"): _delete_trail,
        (TRAIL, "fix"): _fix_trail,
    },
    doc=__doc__ or "",
)
