"""The Lambda, CloudWatch Logs, ECR, Secrets Manager, KMS and CloudTrail rules: boundaries just below
and above each threshold, missing data, exclusivity of the two log group rules, prices and
evidence; and the listings that feed them, against moto (one listing per region, per-resource
calls only where the API forces them)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import json
import os
import zipfile
from collections import Counter
from decimal import Decimal

import boto3
import pytest
from cloudwaste.scanner import providers
from cloudwaste.scanner.domain import Detection, Resource
from cloudwaste.scanner.kinds import load_all as load_kinds
from cloudwaste.scanner.kinds.aws._common import utc as parse_time
from cloudwaste.scanner.kinds.aws.cloudtrail import management_scope
from cloudwaste.scanner.pricing import AwsPrices
from cloudwaste.scanner.rules import Context, Series, load_all

REGISTRY = load_all()
RULES = {r.key: r for r in REGISTRY}
NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
REGION = "us-east-1"
US = AwsPrices(REGION)
GB = 1024**3

MINE = (
    "lambda-provisioned-concurrency-unused",
    "lambda-provisioned-concurrency-underused",
    "logs-group-no-ingestion",
    "logs-group-no-retention",
    "ecr-repository-images-not-pulled",
    "secretsmanager-secret-unused",
    "kms-key-disabled",
    "cloudtrail-trail-duplicate",
)


def _ago(days: float) -> dt.datetime:
    return NOW - dt.timedelta(days=days)


def _res(kind: str, created_days: float | None = 100, rid: str = "r-1", **attributes) -> Resource:
    created = None if created_days is None else _ago(created_days)
    return Resource("aws", kind, rid, REGION, created_at=created, attributes=attributes)


def _params(key: str, **overrides) -> dict:
    return {k: v for k, v in RULES[key].resolve_params(overrides).items() if k != "enabled"}


def _run(key: str, resource: Resource, series=None, **overrides) -> Detection | None:
    """Evaluate `key` on `resource`; `series` maps a metric name to its Series (any window)."""
    series = series or {}
    ctx = Context(now=NOW, prices=US, metric=lambda r, name, days: series.get(name))
    return RULES[key].evaluate(resource, _params(key, **overrides), ctx)


def test_every_rule_is_registered_with_its_kind_and_fixtures():
    kinds = load_kinds()
    for key in MINE:
        rule = RULES[key]
        assert rule.resource_kind in kinds and rule.fixtures is not None
        assert set(kinds.get(rule.resource_kind).permissions) <= set(rule.permissions)
        if rule.metrics:
            assert "cloudwatch:GetMetricData" in rule.permissions


# --- lambda-provisioned-concurrency-unused -----------------------------------------------------------

LAMBDA = "aws.lambda.provisioned_concurrency"
PC_KEY = "lambda-provisioned-concurrency-unused"


def _pc(days: float | None = 200, allocated: int = 5, requested: int = 5, memory: int = 1024) -> Resource:
    return _res(
        LAMBDA,
        days,
        "arn:aws:lambda:us-east-1:1:function:f:live",
        function_name="f",
        qualifier="live",
        metric_resource="f:live",
        allocated_concurrency=allocated,
        requested_concurrency=requested,
        memory_mb=memory,
        status="READY",
    )


@pytest.mark.parametrize(
    ("age", "fires"), [(None, False), (30, False), (89.9, False), (90.0, True), (400, True)]
)
def test_provisioned_concurrency_must_be_as_old_as_the_window(age, fires):
    assert (_run(PC_KEY, _pc(age), {"invocations": Series((), 90)}) is not None) is fires


def test_provisioned_concurrency_is_not_candidate_when_young_or_empty():
    rule, p = RULES[PC_KEY], _params(PC_KEY)
    ctx = Context(now=NOW, prices=US)
    assert rule.candidate(_pc(200), p, ctx)
    assert not rule.candidate(_pc(60), p, ctx)
    assert not rule.candidate(_pc(200, allocated=0, requested=0), p, ctx)


@pytest.mark.parametrize(
    ("series", "fires"),
    [
        (None, False),  # not fetched: never judged
        (Series((), 90), True),  # no datapoint: Lambda publishes none without invocations
        (Series((0.0,) * 90, 90), True),
        (Series((0.0,) * 89 + (1.0,), 90), False),  # one invocation
    ],
)
def test_provisioned_concurrency_reads_invocations(series, fires):
    det = _run(PC_KEY, _pc(), {"invocations": series} if series else {})
    assert (det is not None) is fires


def test_provisioned_concurrency_price_and_evidence():
    det = _run(PC_KEY, _pc(200, allocated=5, memory=2048), {"invocations": Series((), 90)})
    unit = US.price("lambda", "provisioned_concurrency_gb_second")
    assert det.monthly_cost == (unit * 10 * 730 * 3600).quantize(Decimal("0.0001"))
    assert det.monthly_cost > 100  # 10 GB kept warm all month
    assert det.confidence == "HIGH"  # configured more than twice the window ago
    ev = det.evidence
    assert ev["invocations"] == {"days": 90, "datapoints": 0, "total": 0.0, "unit": "count"}
    assert ev["provisioned_gb"] == 10.0 and ev["qualifier"] == "live" and ev["price_region"] == REGION
    # being allocated: priced on the requested concurrency
    det = _run(PC_KEY, _pc(100, allocated=0, requested=2, memory=1024), {"invocations": Series((), 90)})
    assert det.confidence == "MEDIUM" and det.evidence["provisioned_gb"] == 2.0


def test_provisioned_concurrency_window_override():
    assert _run(PC_KEY, _pc(40), {"invocations": Series((), 30)}, window_days=30.0) is not None


def test_lambda_timestamps_parse():
    want = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    for text in ("2026-01-02T03:04:05.000+0000", "2026-01-02T03:04:05Z", "2026-01-02T03:04:05.123456789Z"):
        assert parse_time(text).replace(microsecond=0) == want
    assert parse_time(None) is None and parse_time("yesterday") is None


UNDER = "lambda-provisioned-concurrency-underused"
CALLS = Series((100.0,) * 30, 30)


def _util(*values: float) -> Series:
    return Series(tuple(values), 30)


@pytest.mark.parametrize(
    ("age", "allocated", "util", "calls", "fires"),
    [
        (200, 20, _util(*(0.1,) * 30), CALLS, True),
        (29.9, 20, _util(*(0.1,) * 30), CALLS, False),  # younger than the window
        (30.0, 20, _util(*(0.1,) * 30), CALLS, True),
        (200, 20, _util(*(0.1,) * 29, 0.5), CALLS, True),  # peak exactly at the threshold: 10 of 20
        (200, 20, _util(*(0.1,) * 29, 0.51), CALLS, False),
        (200, 20, _util(*(0.1,) * 7), CALLS, True),  # 7 days with data
        (200, 20, _util(*(0.1,) * 6), CALLS, False),  # 6: not judged
        (200, 20, _util(*(0.1,) * 30), Series((), 30), False),  # not invoked: the unused rule's
        (200, 20, None, CALLS, False),  # not fetched
        (200, 1, _util(*(0.0,) * 30), CALLS, False),  # 1 cannot be reduced
        (200, 2, _util(*(0.5,) * 30), CALLS, True),  # needs 1 of 2: 1 to save
    ],
)
def test_underused_boundaries(age, allocated, util, calls, fires):
    series = {"invocations": calls} | ({"pc_utilization": util} if util else {})
    det = _run(UNDER, _pc(age, allocated=allocated, requested=allocated), series)
    assert (det is not None) is fires


def test_underused_prices_the_excess_only():
    det = _run(
        UNDER,
        _pc(200, allocated=20, requested=20, memory=1024),
        {"invocations": CALLS, "pc_utilization": _util(*(0.05,) * 29, 0.26)},
    )
    full = _run(PC_KEY, _pc(200, allocated=20, requested=20, memory=1024), {"invocations": Series((), 90)})
    ev = det.evidence
    assert ev["peak_in_use"] == 6 and ev["excess_concurrency"] == 14  # ceil(0.26 x 20) kept
    assert det.monthly_cost == (full.monthly_cost * 14 / 20).quantize(Decimal("0.0001"))
    assert det.confidence == "HIGH" and ev["utilization"]["datapoints"] == 30
    sparse = _run(
        UNDER, _pc(200, allocated=20), {"invocations": CALLS, "pc_utilization": _util(*(0.1,) * 10)}
    )
    assert sparse.confidence == "MEDIUM"


@pytest.mark.parametrize("calls90", [Series((), 90), Series((5.0,), 90)])
@pytest.mark.parametrize("calls30", [Series((), 30), CALLS])
@pytest.mark.parametrize("util", [None, _util(*(0.1,) * 30), _util(*(0.9,) * 30)])
def test_lambda_rules_are_exclusive(calls90, calls30, util):
    if calls30.total > 0 and calls90.total == 0:
        return  # impossible: the 90 days hold the 30
    r = _pc(200, allocated=20, requested=20)

    def metric(res, name, days):
        if name == "invocations":
            return calls90 if days == 90 else calls30
        return util

    ctx = Context(now=NOW, prices=US, metric=metric)
    fired = [k for k in (PC_KEY, UNDER) if RULES[k].evaluate(r, _params(k), ctx) is not None]
    assert len(fired) <= 1


# --- logs-group-no-ingestion / logs-group-no-retention ----------------------------------------------

LOGS = "aws.logs.log_group"
IDLE, NO_RET = "logs-group-no-ingestion", "logs-group-no-retention"
QUIET, BUSY = Series((), 30), Series((1e6,) * 30, 30)


def _group(age: float | None = 200, gb: float = 10.0, retention: int | None = None) -> Resource:
    return _res(LOGS, age, "/g", retention_days=retention, stored_bytes=int(gb * GB))


@pytest.mark.parametrize(
    ("age", "gb", "series", "fires"),
    [
        (29.9, 10, QUIET, False),  # younger than the window
        (30.0, 10, QUIET, True),
        (200, 0.09, QUIET, False),  # under 0.1 GB
        (200, 0.1001, QUIET, True),
        (200, 0, QUIET, False),
        (200, 10, Series((0.0,) * 30, 30), True),  # zeros count as nothing too
        (200, 10, Series((512.0,), 30), False),  # 512 bytes on one day
        (200, 10, None, False),  # not fetched
        (None, 10, QUIET, False),  # creation unknown
    ],
)
def test_no_ingestion_boundaries(age, gb, series, fires):
    metrics = {"incoming_bytes": series} if series else {}
    for retention in (None, 365):  # whatever the retention
        assert (_run(IDLE, _group(age, gb, retention), metrics) is not None) is fires


def test_no_ingestion_price_and_evidence():
    det = _run(IDLE, _group(400, 100.0, 14), {"incoming_bytes": QUIET})
    assert det.monthly_cost == US.log_storage(100) == Decimal("3.0000")
    assert det.confidence == "HIGH"
    assert det.evidence["incoming_bytes"]["datapoints"] == 0 and det.evidence["retention_days"] == 14
    assert _run(IDLE, _group(45, 100.0), {"incoming_bytes": QUIET}).confidence == "MEDIUM"


@pytest.mark.parametrize(
    ("age", "gb", "retention", "series", "fires"),
    [
        (200, 10, None, BUSY, True),
        (200, 0.99, None, BUSY, False),  # under 1 GB
        (200, 1.0, None, BUSY, True),
        (200, 10, 30, BUSY, False),  # has a retention
        (200, 10, None, QUIET, False),  # idle: logs-group-no-ingestion's
        (200, 10, None, None, False),  # old enough to be judged and not measured
        (10, 10, None, None, True),  # young: never idle, no metric needed
        (10, 10, None, QUIET, True),
    ],
)
def test_no_retention_boundaries(age, gb, retention, series, fires):
    metrics = {"incoming_bytes": series} if series else {}
    assert (_run(NO_RET, _group(age, gb, retention), metrics) is not None) is fires


def test_no_retention_price_is_an_upper_bound():
    det = _run(NO_RET, _group(200, 250.0), {"incoming_bytes": BUSY})
    assert det.monthly_cost == US.log_storage(250) == Decimal("7.5000")
    assert det.confidence == "MEDIUM" and "upper bound" in det.evidence["saving"]
    assert det.evidence["incoming_bytes"]["datapoints"] == 30


@pytest.mark.parametrize("age", [5, 29.9, 30, 200])
@pytest.mark.parametrize("gb", [0, 0.05, 0.5, 1.0, 40])
@pytest.mark.parametrize("retention", [None, 7])
@pytest.mark.parametrize("series", [QUIET, BUSY, Series((3.0,), 30)])
def test_log_group_rules_are_exclusive_and_cover_never_expiring_groups(age, gb, retention, series):
    group = _group(age, gb, retention)
    fired = [k for k in (IDLE, NO_RET) if _run(k, group, {"incoming_bytes": series}) is not None]
    assert len(fired) <= 1
    if retention is None and gb >= 1.0:  # every big never-expiring group gets one of them
        assert len(fired) == 1


# --- ecr-repository-images-not-pulled ---------------------------------------------------------------

ECR, ECR_KEY = "aws.ecr.repository", "ecr-repository-images-not-pulled"


def _img(pushed: float, pulled: float | None, gb: float, tagged: bool = True) -> dict:
    return {
        "pushed_at": _ago(pushed),
        "last_pull": None if pulled is None else _ago(pulled),
        "size_bytes": int(gb * GB),
        "tagged": tagged,
    }


def _repo(*images: dict) -> Resource:
    return _res(ECR, 600, "arn:aws:ecr:us-east-1:1:repository/r", repository_name="r", images=list(images))


def _newest() -> dict:
    """The image deployed now: the repository's newest push (never stale)."""
    return _img(5, 1, 0.1)


@pytest.mark.parametrize(
    ("images", "fires"),
    [
        ([_img(400, 89.9, 5), _newest()], False),  # pulled just under 90 days ago
        ([_img(400, 90.0, 5), _newest()], True),
        ([_img(89.9, None, 5), _newest()], False),  # never pulled, pushed just under 90 days ago
        ([_img(90.0, None, 5), _newest()], True),
        ([_img(400, 100, 0.99), _newest()], False),  # under 1 GB stale
        ([_img(400, 100, 0.5), _img(300, None, 0.5), _newest()], True),  # 1 GB together
        ([_img(400, 1, 50), _img(20, None, 50)], False),  # big, but live
        ([], False),
        ([{"pushed_at": None, "last_pull": None, "size_bytes": 5 * GB}], False),  # no time: not stale
    ],
)
def test_ecr_boundaries(images, fires):
    assert (_run(ECR_KEY, _repo(*images)) is not None) is fires


def test_ecr_prices_only_the_stale_images():
    det = _run(ECR_KEY, _repo(_img(400, 200, 3.0), _img(500, None, 2.0), _img(10, 1, 40.0)))
    assert det.monthly_cost == US.ecr_storage(5) == Decimal("0.5000")
    ev = det.evidence
    assert ev["stale_image_count"] == 2 and ev["stale_never_pulled_count"] == 1 and ev["image_count"] == 3
    assert ev["stale_gb"] == 5.0 and ev["stored_gb"] == 45.0 and ev["longest_idle_days"] == 500.0
    assert ev["stale_tagged_count"] == 2
    assert det.confidence == "MEDIUM"  # one never pulled (and tagged ones)
    assert _run(ECR_KEY, _repo(_img(400, 40, 3.0), _newest()), min_idle_days=30.0) is not None


def test_ecr_confidence_is_high_only_for_untagged_pulled_images():
    untagged = _run(ECR_KEY, _repo(_img(400, 200, 3.0, tagged=False), _newest()))
    assert untagged.confidence == "HIGH" and untagged.evidence["stale_tagged_count"] == 0
    tagged = _run(ECR_KEY, _repo(_img(400, 200, 3.0), _newest()))  # a tag may still be deployed
    assert tagged.confidence == "MEDIUM" and tagged.evidence["stale_tagged_count"] == 1


def test_ecr_newest_push_and_newest_tagged_push_are_never_stale():
    # a long-running service pulled its image once, 200 days ago, and runs it still
    assert _run(ECR_KEY, _repo(_img(400, 200, 5.0))) is None
    # an untagged build pushed after it: the newest push; the deployed image keeps the newest tag
    deployed, build = _img(400, 200, 5.0), _img(300, None, 2.0, tagged=False)
    assert _run(ECR_KEY, _repo(deployed, build)) is None
    # an older tagged image than both is stale, and only it
    old = _img(500, 250, 3.0)
    det = _run(ECR_KEY, _repo(old, deployed, build))
    assert det is not None and det.evidence["stale_image_count"] == 1 and det.evidence["stale_gb"] == 3.0
    assert det.confidence == "MEDIUM"  # tagged
    # images pushed at the same time as the newest are all current
    twin = {**_img(400, 200, 5.0), "pushed_at": deployed["pushed_at"]}
    assert _run(ECR_KEY, _repo(deployed, twin)) is None


# --- secretsmanager-secret-unused -------------------------------------------------------------------

SECRET, SECRET_KEY = "aws.secretsmanager.secret", "secretsmanager-secret-unused"


@pytest.mark.parametrize(
    ("created", "accessed", "fires"),
    [
        (400, 89.9, False),
        (400, 90.0, True),
        (89.9, None, False),  # never accessed, young
        (90.0, None, True),
        (None, None, False),  # nothing known
        (None, 200, True),  # creation unknown, last access long ago
    ],
)
def test_secret_boundaries(created, accessed, fires):
    secret = _res(
        SECRET, created, last_accessed=None if accessed is None else _ago(accessed), replica_count=0
    )
    assert (_run(SECRET_KEY, secret) is not None) is fires


@pytest.mark.parametrize(
    ("primary", "fires"),
    [
        (None, True),  # a secret that is not replicated
        (REGION, True),  # the primary of a multi-Region secret
        ("eu-west-1", False),  # a replica: judged with its primary, in the primary's region
    ],
)
def test_secret_replicas_are_judged_with_their_primary(primary, fires):
    secret = _res(SECRET, 400, last_accessed=None, replica_count=0, primary_region=primary)
    assert (_run(SECRET_KEY, secret) is not None) is fires


def test_secret_price_counts_replicas_and_confidence():
    det = _run(SECRET_KEY, _res(SECRET, 400, last_accessed=_ago(120), replica_count=2))
    assert det.monthly_cost == US.secret() * 3 == Decimal("1.2000")
    assert det.confidence == "HIGH" and det.evidence["last_accessed_days_ago"] == 120.0
    never = _run(SECRET_KEY, _res(SECRET, 400, last_accessed=None, replica_count=0))
    assert never.confidence == "MEDIUM" and never.evidence["never_accessed"] is True


# --- kms-key-disabled -------------------------------------------------------------------------------

KEY, KMS_KEY = "aws.kms.key", "kms-key-disabled"


@pytest.mark.parametrize(
    ("state", "age", "fires"),
    [
        ("Disabled", 30.0, True),
        ("Disabled", 29.9, False),
        ("Disabled", None, False),
        ("Enabled", 400, False),
        ("PendingDeletion", 400, False),  # not billed while pending deletion
        ("PendingImport", 400, False),
        (None, 400, False),
    ],
)
def test_kms_boundaries(state, age, fires):
    assert (_run(KMS_KEY, _res(KEY, age, key_state=state)) is not None) is fires


def test_kms_price():
    det = _run(KMS_KEY, _res(KEY, 100, key_state="Disabled"))
    assert det.monthly_cost == US.kms_key() == Decimal("1.0000") and det.evidence["key_state"] == "Disabled"


# --- cloudtrail-trail-duplicate ---------------------------------------------------------------------

TRAIL, CT_KEY = "aws.cloudtrail.trail", "cloudtrail-trail-duplicate"
ARN = "arn:aws:cloudtrail:us-east-1:1:trail/"


def _t(name, started=100, scope="All", logging=True, org=False, multi=False, home=REGION) -> dict:
    return {
        "arn": ARN + name,
        "home_region": home,
        "organization": org,
        "multi_region": multi,
        "logging": logging,
        "started_logging": None if started is None else _ago(started),
        "management_events": scope,
    }


def _trail(me: dict, *others: dict) -> Resource:
    return _res(TRAIL, None, me["arn"], **me, region_trails=[me, *others])


def test_the_trail_logging_longest_is_the_free_copy():
    old, new = _t("old", 900), _t("new", 10)
    assert _run(CT_KEY, _trail(old, new)) is None
    det = _run(CT_KEY, _trail(new, old))
    assert det is not None and det.confidence == "HIGH"
    assert det.evidence["first_copy_trail"] == ARN + "old"
    assert det.monthly_cost == 0 and "unknown event volume" in det.evidence["price"]


def test_organization_and_multi_region_trails_come_first():
    local, org = _t("local", 900), _t("org", 1, org=True, multi=True, home="eu-west-1")
    det = _run(CT_KEY, _trail(local, org))
    assert det is not None and det.confidence == "MEDIUM"  # first copy homed elsewhere
    multi = _t("multi", 5, multi=True)
    assert _run(CT_KEY, _trail(multi, local)) is None
    assert _run(CT_KEY, _trail(local, multi)) is not None


@pytest.mark.parametrize(
    ("mine", "other", "fires"),
    [
        (_t("b", 10), _t("a", 900, logging=False), False),  # the other is stopped
        (_t("b", 10, logging=False), _t("a", 900), False),  # this one is stopped
        (_t("b", 10), _t("a", 900, scope=None), False),  # the other records data events only
        (_t("b", 10, scope=None), _t("a", 900), False),
        (_t("b", 10, scope="ReadOnly"), _t("a", 900, scope="WriteOnly"), False),  # no overlap
        (_t("b", 10, scope="ReadOnly"), _t("a", 900, scope="ReadOnly"), True),
        (_t("b", 10, scope="WriteOnly"), _t("a", 900), True),
        (_t("b", None), _t("a", 900), False),  # never started: not logging in practice
    ],
)
def test_only_logging_overlapping_copies_count(mine, other, fires):
    if mine["started_logging"] is None:
        mine = {**mine, "logging": False}
    assert (_run(CT_KEY, _trail(mine, other)) is not None) is fires


def test_cloudtrail_priced_from_a_known_event_volume():
    det = _run(CT_KEY, _trail(_t("new", 10), _t("old", 900)), management_events_per_month=1_000_000.0)
    assert det.monthly_cost == Decimal("20.0000")  # 10 x $2.00 per 100,000
    assert det.evidence["management_events_per_month"] == 1_000_000.0 and "price" not in det.evidence


@pytest.mark.parametrize(
    ("selectors", "scope"),
    [
        ({}, "All"),
        ({"EventSelectors": [], "AdvancedEventSelectors": []}, "All"),
        ({"EventSelectors": [{"ReadWriteType": "All", "IncludeManagementEvents": True}]}, "All"),
        ({"EventSelectors": [{"ReadWriteType": "ReadOnly"}]}, "ReadOnly"),
        ({"EventSelectors": [{"ReadWriteType": "All", "IncludeManagementEvents": False}]}, None),
        (
            {"EventSelectors": [{"ReadWriteType": "ReadOnly"}, {"ReadWriteType": "WriteOnly"}]},
            "All",
        ),
        (
            {
                "AdvancedEventSelectors": [
                    {"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Data"]}]},
                ]
            },
            None,
        ),
        (
            {
                "AdvancedEventSelectors": [
                    {
                        "FieldSelectors": [
                            {"Field": "eventCategory", "Equals": ["Management"]},
                            {"Field": "readOnly", "Equals": ["false"]},
                        ]
                    }
                ]
            },
            "WriteOnly",
        ),
    ],
)
def test_management_scope_from_event_selectors(selectors, scope):
    assert management_scope(selectors) == scope


# --- the listings against moto ----------------------------------------------------------------------


@pytest.fixture
def moto_env(monkeypatch):
    from moto import mock_aws

    for k, v in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }.items():
        monkeypatch.setitem(os.environ, k, v)
    with mock_aws():
        yield


class Conn:
    def __init__(self):
        from cloudwaste.scanner.providers import aws

        self.session = boto3.Session(region_name="eu-west-1")
        self.session.events.register("before-call.*.*", aws._record_call)

    def client(self, service, region):
        return self.session.client(service, region_name=region)


def _list(kind_key: str, region: str = "eu-west-1"):
    kind = load_kinds().get(kind_key)
    calls: Counter = Counter()
    with providers.observe_calls(lambda p, caller, op: calls.update([op])):
        with providers.api_caller(kind_key):
            out = kind.list(Conn(), region, NOW, {})
    assert set(calls) <= set(kind.operations)
    return out, calls


def test_log_group_listing(moto_env):
    from moto.backends import get_backend

    logs = boto3.client("logs", "eu-west-1")
    logs.create_log_group(logGroupName="/forever")
    logs.create_log_group(logGroupName="/kept")
    logs.put_retention_policy(logGroupName="/kept", retentionInDays=30)
    logs.create_log_stream(logGroupName="/forever", logStreamName="s")
    get_backend("logs")["123456789012"]["eu-west-1"].groups["/forever"].streams["s"].stored_bytes = 3 * GB
    out, calls = _list(LOGS)
    by = {r.resource_id: r for r in out}
    assert by["/forever"].attributes["retention_days"] is None
    assert by["/forever"].attributes["stored_bytes"] == 3 * GB and by["/forever"].config["stored_gb"] == 3.0
    assert by["/kept"].attributes["retention_days"] == 30 and by["/kept"].config["has_retention"]
    assert by["/kept"].created_at.tzinfo is not None
    assert calls == Counter({"logs:DescribeLogGroups": 1})


def test_ecr_listing_reads_pull_times(moto_env):
    from moto.backends import get_backend

    ecr = boto3.client("ecr", "eu-west-1")
    for name in ("aa", "bb"):
        ecr.create_repository(repositoryName=name)
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "size": 2 * GB,
            "digest": "sha256:c",
        },
        "layers": [
            {
                "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                "size": 1,
                "digest": "sha256:l",
            }
        ],
    }
    ecr.put_image(repositoryName="aa", imageManifest=json.dumps(manifest), imageTag="v1")
    image = get_backend("ecr")["123456789012"]["eu-west-1"].repositories["aa"].images[0]
    image.last_recorded_pull_time = NOW - dt.timedelta(days=120)
    out, calls = _list(ECR)
    by = {r.attributes["repository_name"]: r for r in out}
    (img,) = by["aa"].attributes["images"]
    assert img["size_bytes"] == 2 * GB and img["last_pull"] == NOW - dt.timedelta(days=120)
    assert img["pushed_at"].tzinfo is not None and img["tagged"]
    assert by["bb"].attributes["images"] == [] and by["aa"].config["image_count"] == 1
    # one DescribeImages per repository: ECR has no account-wide image listing
    assert calls == Counter({"ecr:DescribeRepositories": 1, "ecr:DescribeImages": 2})


def test_secret_listing(moto_env):
    sm = boto3.client("secretsmanager", "eu-west-1")
    arn = sm.create_secret(Name="db", SecretString="x", Tags=[{"Key": "team", "Value": "core"}])["ARN"]
    gone = sm.create_secret(Name="old", SecretString="x")["ARN"]
    sm.delete_secret(SecretId=gone, RecoveryWindowInDays=7)
    out, calls = _list(SECRET)
    assert [r.resource_id for r in out] == [arn]
    assert (
        out[0].name == "db" and out[0].tags == {"team": "core"} and out[0].attributes["last_accessed"] is None
    )
    assert calls == Counter({"secretsmanager:ListSecrets": 1})


def test_secret_listing_marks_replicas(moto_env):
    sm = boto3.client("secretsmanager", "eu-west-1")
    arn = sm.create_secret(Name="dr", SecretString="x", AddReplicaRegions=[{"Region": "us-east-1"}])["ARN"]
    (primary,), _ = _list(SECRET, "eu-west-1")
    (replica,), calls = _list(SECRET, "us-east-1")
    assert primary.resource_id == arn and primary.attributes["primary_region"] in (None, "eu-west-1")
    assert replica.resource_id == arn.replace("eu-west-1", "us-east-1")
    assert replica.region == "us-east-1" and replica.attributes["primary_region"] == "eu-west-1"
    assert calls == Counter({"secretsmanager:ListSecrets": 1})
    # never read in us-east-1 and 200 days old: would be flagged, were it not a replica
    ctx = Context(now=NOW, prices=AwsPrices("us-east-1"))
    old = dataclasses.replace(replica, created_at=NOW - dt.timedelta(days=200))
    assert old.attributes["last_accessed"] is None
    assert RULES[SECRET_KEY].evaluate(old, _params(SECRET_KEY), ctx) is None
    unmarked = dataclasses.replace(old, attributes={**old.attributes, "primary_region": None})
    assert RULES[SECRET_KEY].evaluate(unmarked, _params(SECRET_KEY), ctx) is not None


def test_kms_listing_skips_keys_it_may_not_describe(caplog):
    from botocore.stub import Stubber

    kms = boto3.client(
        "kms", region_name="eu-west-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )

    class StubConn:
        def client(self, service, region):
            assert (service, region) == ("kms", "eu-west-1")
            return kms

    secret_key = "1234abcd-0000-4000-8000-00000000dead"
    meta = {
        "KeyId": "1234abcd-0000-4000-8000-000000000001",
        "Arn": "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-0000-4000-8000-000000000001",
        "CreationDate": NOW - dt.timedelta(days=200),
        "Enabled": False,
        "KeyState": "Disabled",
        "KeyManager": "CUSTOMER",
        "KeyUsage": "ENCRYPT_DECRYPT",
        "KeySpec": "SYMMETRIC_DEFAULT",
        "Origin": "AWS_KMS",
    }
    with Stubber(kms) as stub:
        stub.add_response(
            "list_keys",
            {"Keys": [{"KeyId": secret_key}, {"KeyId": meta["KeyId"]}], "Truncated": False},
        )
        stub.add_client_error(
            "describe_key",
            service_error_code="AccessDeniedException",
            service_message=f"User is not authorized to perform: kms:DescribeKey on resource {secret_key}",
            http_status_code=400,
            expected_params={"KeyId": secret_key},
        )
        stub.add_response("describe_key", {"KeyMetadata": meta}, {"KeyId": meta["KeyId"]})
        with caplog.at_level("WARNING"):
            out = load_kinds().get(KEY).list(StubConn(), "eu-west-1", NOW, {})
        stub.assert_no_pending_responses()
    assert [r.resource_id for r in out] == [meta["KeyId"]] and out[0].attributes["key_state"] == "Disabled"
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "1 key(s)" in warnings[0] and "AccessDeniedException" in warnings[0]
    assert secret_key not in warnings[0]


def test_kms_listing_raises_other_errors():
    from botocore.exceptions import ClientError
    from botocore.stub import Stubber

    kms = boto3.client(
        "kms", region_name="eu-west-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )

    class StubConn:
        def client(self, service, region):
            return kms

    with Stubber(kms) as stub:
        stub.add_response("list_keys", {"Keys": [{"KeyId": "k"}], "Truncated": False})
        stub.add_client_error("describe_key", service_error_code="KMSInternalException", http_status_code=500)
        with pytest.raises(ClientError):
            load_kinds().get(KEY).list(StubConn(), "eu-west-1", NOW, {})


def test_kms_listing_skips_aws_managed_keys(moto_env):
    from moto.backends import get_backend

    kms = boto3.client("kms", "eu-west-1")
    ids = [kms.create_key(Description=f"k{i}")["KeyMetadata"]["KeyId"] for i in range(3)]
    kms.disable_key(KeyId=ids[0])
    get_backend("kms")["123456789012"]["eu-west-1"].keys[ids[2]].key_manager = "AWS"
    out, calls = _list(KEY)
    states = {r.resource_id: r.attributes["key_state"] for r in out}
    assert states == {ids[0]: "Disabled", ids[1]: "Enabled"}
    # KMS has no batch describe: one DescribeKey per key
    assert calls == Counter({"kms:ListKeys": 1, "kms:DescribeKey": 3})


def test_cloudtrail_listing_sees_the_region_trails(moto_env):
    from moto.backends import get_backend

    s3 = boto3.client("s3", "eu-west-1")
    s3.create_bucket(Bucket="logs-b", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    ct = boto3.client("cloudtrail", "eu-west-1")
    for name in ("main", "copy", "data"):
        ct.create_trail(Name=name, S3BucketName="logs-b")
        ct.start_logging(Name=name)
    ct.put_event_selectors(
        TrailName="data", EventSelectors=[{"ReadWriteType": "All", "IncludeManagementEvents": False}]
    )
    get_backend("cloudtrail")["123456789012"]["eu-west-1"].get_trail("main").status.started = dt.datetime(
        2025, 1, 1
    )
    # a multi-region trail homed in another region shows up as a shadow trail here
    s3.create_bucket(Bucket="org-b", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    boto3.client("cloudtrail", "us-west-2").create_trail(
        Name="global", S3BucketName="org-b", IsMultiRegionTrail=True
    )
    out, calls = _list(TRAIL)
    assert sorted(r.name for r in out) == ["copy", "data", "main"]
    by = {r.name: r for r in out}
    assert (
        by["data"].attributes["management_events"] is None
        and by["copy"].attributes["management_events"] == "All"
    )
    shadow = [t for t in by["main"].attributes["region_trails"] if t["home_region"] == "us-west-2"]
    assert len(shadow) == 1 and shadow[0]["logging"] is False and shadow[0]["multi_region"]
    assert calls == Counter(
        {"cloudtrail:DescribeTrails": 1, "cloudtrail:GetTrailStatus": 4, "cloudtrail:GetEventSelectors": 3}
    )
    ctx = Context(now=NOW, prices=US)
    fired = {r.name for r in out if RULES[CT_KEY].evaluate(r, _params(CT_KEY), ctx)}
    assert fired == {"copy"}


def test_lambda_listing_with_provisioned_concurrency(moto_env):
    from cloudwaste.sim.services.management import install_provisioned_concurrency

    install_provisioned_concurrency()
    iam = boto3.client("iam", "us-east-1")
    role = iam.create_role(RoleName="r", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    lam = boto3.client("lambda", "eu-west-1")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("index.py", "def handler(e, c):\n    return 1\n")
    for name in ("with-pc", "plain"):
        lam.create_function(
            FunctionName=name,
            Runtime="python3.12",
            Role=role,
            Handler="index.handler",
            Code={"ZipFile": buf.getvalue()},
            MemorySize=1024,
            Publish=True,
        )
    lam.create_alias(FunctionName="with-pc", Name="live", FunctionVersion="1")
    lam.put_provisioned_concurrency_config(
        FunctionName="with-pc", Qualifier="live", ProvisionedConcurrentExecutions=3
    )
    out, calls = _list(LAMBDA)
    (pc,) = out
    assert pc.resource_id.endswith(":function:with-pc:live") and pc.name == "with-pc:live"
    assert pc.attributes["metric_resource"] == "with-pc:live" and pc.attributes["allocated_concurrency"] == 3
    assert pc.attributes["memory_mb"] == 1024 and pc.created_at is not None
    # Lambda has no account-wide listing of provisioned concurrency: one call per function
    assert calls == Counter({"lambda:ListFunctions": 1, "lambda:ListProvisionedConcurrencyConfigs": 2})
    lam.delete_provisioned_concurrency_config(FunctionName="with-pc", Qualifier="live")
    assert _list(LAMBDA)[0] == []


def test_every_listing_makes_one_call_in_an_empty_region(moto_env):
    for kind_key, op in [
        (LAMBDA, "lambda:ListFunctions"),
        (LOGS, "logs:DescribeLogGroups"),
        (ECR, "ecr:DescribeRepositories"),
        (SECRET, "secretsmanager:ListSecrets"),
        (KEY, "kms:ListKeys"),
        (TRAIL, "cloudtrail:DescribeTrails"),
    ]:
        out, calls = _list(kind_key, "ap-southeast-2")
        assert out == [] and calls == Counter({op: 1})
