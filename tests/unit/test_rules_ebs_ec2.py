"""The EBS volume-type and volume-usage rules, previous-generation instances and unused Capacity
Reservations: boundaries just below and above each threshold, missing data, exclusivity between
the rules of one kind (a resource is flagged once), prices and evidence; the volume and Capacity
Reservation listings against moto (one listing per region)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from cloudwaste.scanner import catalog, providers
from cloudwaste.scanner.domain import Detection, Resource
from cloudwaste.scanner.engine import evaluate
from cloudwaste.scanner.kinds import load_all as load_kinds
from cloudwaste.scanner.pricing import AwsPrices
from cloudwaste.scanner.providers import aws
from cloudwaste.scanner.rules import Context, Series, load_all
from cloudwaste.scanner.rules.aws.ebs import gp3_equivalent_of_gp2
from cloudwaste.scanner.rules.aws.ec2 import current_generation_of

REGISTRY = load_all()
KINDS = load_kinds()
RULES = {r.key: r for r in REGISTRY}
NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
REGION = "us-east-1"
US = AwsPrices(REGION)
DAY = 86400
MB = 1024 * 1024

NEW = (
    "ebs-volume-gp2-to-gp3",
    "ebs-volume-io-to-gp3",
    "ebs-volume-no-io",
    "ebs-volume-iops-overprovisioned",
    "ec2-instance-previous-generation",
    "ec2-capacity-reservation-unused",
)


def _ago(days: float) -> dt.datetime:
    return NOW - dt.timedelta(days=days)


def _res(kind: str, created_days: float | None = 100, rid: str = "r-1", **attributes) -> Resource:
    created = None if created_days is None else _ago(created_days)
    return Resource("aws", kind, rid, REGION, created_at=created, attributes=attributes)


def _params(key: str, **overrides) -> dict:
    return {k: v for k, v in RULES[key].resolve_params(overrides).items() if k != "enabled"}


def _ctx(related=(), series=None, region=REGION) -> Context:
    index = {(r.kind, r.resource_id): r for r in related}
    series = series or {}
    return Context(
        now=NOW,
        prices=AwsPrices(region),
        lookup=lambda kind, rid: index.get((kind, rid)),
        metric=lambda res, name, days: series.get((res.resource_id, name, days)),
    )


def _run(key: str, resource: Resource, related=(), series=None, region=None, **overrides) -> Detection | None:
    ctx = _ctx(related, series, region or resource.region)
    return RULES[key].evaluate(resource, _params(key, **overrides), ctx)


def _scan(resources, related=(), series=None) -> dict[tuple[str, str], Detection]:
    """Every registered rule over `resources`, as the engine runs them."""
    rules = {r.key: (r, _params(r.key)) for r in REGISTRY}
    drafts, errors = evaluate(list(resources), rules, _ctx([*resources, *related], series))
    assert errors == {}
    return {(d.resource.resource_id, d.detection.scenario): d.detection for d in drafts}


def _instance(rid="i-1", state="running", itype="m5.large", age=400, stopped_days=None) -> Resource:
    return _res(
        "aws.ec2.instance",
        age,
        rid=rid,
        state=state,
        instance_type=itype,
        stopped_since=_ago(stopped_days) if stopped_days is not None else None,
        attached_volumes=[],
    )


RUNNING = _instance()


def _vol(rid="vol-1", vtype="gp3", size=100, iops=None, age=300, attached=300, instance="i-1", **extra):
    attrs = {
        "size_gb": size,
        "volume_type": vtype,
        "iops": iops,
        "state": "in-use" if instance else "available",
        "attached_instance_id": instance,
        "attach_time": _ago(attached) if attached is not None else None,
        "multi_attach": False,
        "throughput": 125 if vtype == "gp3" else None,
    }
    attrs.update(extra)
    return _res("aws.ec2.volume", age, rid=rid, **attrs)


def _ops(rid: str, read, write=None, days=30, read_peak=None, write_peak=None) -> dict:
    """Daily sums of read and write operations, and each day's busiest minute (by default a load
    spread evenly over the day: the day's sum / 1,440)."""
    read = Series(tuple(read), days)
    write = Series(tuple(write if write is not None else (0.0,) * len(read.values)), days)

    def even(s: Series, given) -> Series:
        return Series(tuple(given) if given is not None else tuple(v / 1440 for v in s.values), days)

    return {
        (rid, "read_ops", days): read,
        (rid, "write_ops", days): write,
        (rid, "read_ops_peak_minute", days): even(read, read_peak),
        (rid, "write_ops_peak_minute", days): even(write, write_peak),
    }


# --- the registry -------------------------------------------------------------------------------


@pytest.mark.parametrize("key", NEW)
def test_new_rules_are_registered_with_docs_params_and_fixtures(key):
    rule = RULES[key]
    assert rule.doc and rule.confidence_doc and rule.title and rule.fixtures is not None
    assert set(catalog.rule_permissions(rule, KINDS)) <= set(rule.permissions)
    for spec in rule.params.values():
        assert spec.doc and isinstance(spec.default, spec.type) and spec.minimum is not None
    fx = rule.fixtures
    prices = AwsPrices(fx.fires.region)
    det = rule.evaluate(fx.fires, _params(key), fx.context(prices))
    assert det is not None and det.monthly_cost > 0
    assert det.evidence["price_date"] == prices.price_date and det.evidence["price_region"] == "eu-west-1"
    assert rule.evaluate(fx.silent, _params(key), fx.context(prices)) is None


def test_defaults_and_needs():
    assert RULES["ebs-volume-gp2-to-gp3"].resolve_params()["min_monthly_saving"] == 1.0
    assert RULES["ebs-volume-io-to-gp3"].resolve_params()["min_monthly_saving"] == 5.0
    assert RULES["ebs-volume-no-io"].resolve_params()["window_days"] == 30.0
    p = RULES["ebs-volume-iops-overprovisioned"].resolve_params()
    assert (p["max_used_share"], p["window_days"]) == (0.2, 30.0)
    assert RULES["ec2-capacity-reservation-unused"].resolve_params()["min_age_days"] == 7.0
    for key in NEW[:4]:
        assert RULES[key].needs == ("aws.ec2.instance",)
    # the previous-generation rule's idle test has ec2-instance-idle's defaults
    idle, prev = (
        RULES["ec2-instance-idle"].resolve_params(),
        RULES["ec2-instance-previous-generation"].resolve_params(),
    )
    for name in ("window_days", "max_cpu_percent", "max_network_mb_per_day", "min_coverage"):
        assert idle[name] == prev[name]
    # the usage rules share the daily sums (one fetch per volume) with the same window; the IOPS
    # rule reads the daily busiest minutes besides
    assert {m.name for m in RULES["ebs-volume-no-io"].metrics} < {
        m.name for m in RULES["ebs-volume-iops-overprovisioned"].metrics
    }
    peaks = [m for m in RULES["ebs-volume-iops-overprovisioned"].metrics if m.stat == "Maximum"]
    assert {(m.metric, m.name) for m in peaks} == {
        ("VolumeReadOps", "read_ops_peak_minute"),
        ("VolumeWriteOps", "write_ops_peak_minute"),
    }
    assert "cloudwatch:GetMetricData" in RULES["ebs-volume-no-io"].permissions


# --- ebs-volume-gp2-to-gp3 ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "iops", "mibps"),
    [(1, 3000, 125), (333, 3000, 125), (334, 3000, 250), (1001, 3003, 250), (5334, 16000, 250)],
)
def test_gp3_equivalent_matches_gp2_baseline(size, iops, mibps):
    assert gp3_equivalent_of_gp2(size) == (iops, mibps)


@pytest.mark.parametrize(
    ("size", "saving"),
    [
        (49, None),  # $0.98: just under the $1 floor
        (50, Decimal("1.0000")),
        (333, Decimal("6.6600")),
        (334, Decimal("1.6800")),  # gp3 needs 250 MiB/s ($5 more) to match what gp2 sustains
        (2000, Decimal("20.0000")),
        (6000, Decimal("50.0000")),
    ],
)
def test_gp2_saving_boundaries(size, saving):
    det = _run("ebs-volume-gp2-to-gp3", _vol(vtype="gp2", size=size, iops=max(100, 3 * size)), [RUNNING])
    if saving is None:
        assert det is None
        return
    assert det.monthly_cost == saving and det.evidence["monthly_saving"] == float(saving)
    assert det.evidence["finding_type"] == "optimization"


@pytest.mark.parametrize(
    ("size", "confidence"), [(170, "HIGH"), (171, "MEDIUM"), (333, "MEDIUM"), (334, "HIGH")]
)
def test_gp2_confidence_says_whether_burst_throughput_is_matched(size, confidence):
    assert _run("ebs-volume-gp2-to-gp3", _vol(vtype="gp2", size=size), [RUNNING]).confidence == confidence


def test_gp2_follows_the_region_price():
    # eu-west-1: gp2 $0.11, gp3 $0.088: 46 GiB saves $1.012, 45 GiB $0.99
    eu = _vol(vtype="gp2", size=46)
    assert _run("ebs-volume-gp2-to-gp3", eu, [RUNNING], region="eu-west-1").monthly_cost == Decimal("1.0120")
    assert _run("ebs-volume-gp2-to-gp3", _vol(vtype="gp2", size=45), [RUNNING], region="eu-west-1") is None


@pytest.mark.parametrize(
    "host",
    [
        None,  # the instance was not listed
        _instance(state="stopped", stopped_days=3),
        _instance(state="stopping"),
        _instance(state="pending"),
    ],
)
def test_gp2_only_on_a_running_instance(host):
    related = [host] if host else []
    assert _run("ebs-volume-gp2-to-gp3", _vol(vtype="gp2", size=500), related) is None


@pytest.mark.parametrize("size", [None, 0, "500", 16385])
def test_gp2_missing_or_impossible_size(size):
    assert _run("ebs-volume-gp2-to-gp3", _vol(vtype="gp2", size=size), [RUNNING]) is None


def test_gp2_unattached_and_on_long_stopped_are_the_other_rules():
    free = _vol("vol-a", vtype="gp2", size=500, instance=None)
    on_stopped = _vol("vol-b", vtype="gp2", size=500, instance="i-9")
    stopped = _instance("i-9", state="stopped", stopped_days=45)
    assert set(_scan([free, on_stopped, stopped])) == {
        ("vol-a", "ebs-volume-unattached"),
        ("vol-b", "ebs-volume-on-stopped-instance"),
        ("i-9", "ec2-instance-stopped"),
    }


# --- ebs-volume-io-to-gp3 ----------------------------------------------------------------------


def test_io1_saving_is_its_iops_price_against_gp3s():
    det = _run("ebs-volume-io-to-gp3", _vol(vtype="io1", size=200, iops=4000), [RUNNING])
    # io1: 200 x 0.125 + 4000 x 0.065 = 285; gp3: 200 x 0.08 + 1000 x 0.005 = 21
    assert det.monthly_cost == Decimal("264.0000") and det.confidence == "MEDIUM"
    assert det.evidence["io_monthly_cost"] == 285.0 and det.evidence["gp3_iops"] == 4000


def test_io2_is_low_confidence():
    assert _run("ebs-volume-io-to-gp3", _vol(vtype="io2", size=200, iops=4000), [RUNNING]).confidence == "LOW"


@pytest.mark.parametrize(("iops", "fires"), [(63, False), (64, True)])  # 20 GiB: $4.995 / $5.06
def test_io_saving_floor_boundary(iops, fires):
    assert (
        _run("ebs-volume-io-to-gp3", _vol(vtype="io1", size=20, iops=iops), [RUNNING]) is not None
    ) == fires


@pytest.mark.parametrize(
    ("size", "iops", "extra", "fires"),
    [
        (500, 16000, {}, True),
        (500, 16001, {}, False),
        (20, 10000, {}, True),
        (20, 10001, {}, False),
        (16384, 16000, {}, True),
        (16385, 16000, {}, False),
        (200, 4000, {"multi_attach": True}, False),
        (200, None, {}, False),
    ],
)
def test_io_within_gp3_limits_only(size, iops, extra, fires):
    det = _run("ebs-volume-io-to-gp3", _vol(vtype="io1", size=size, iops=iops, **extra), [RUNNING])
    assert (det is not None) == fires


def test_io_on_a_stopped_or_unlisted_instance_does_not_fire():
    io = _vol(vtype="io1", size=200, iops=4000)
    assert _run("ebs-volume-io-to-gp3", io, [_instance(state="stopped", stopped_days=2)]) is None
    assert _run("ebs-volume-io-to-gp3", io, []) is None


# --- ebs-volume-no-io --------------------------------------------------------------------------

ZERO = (0.0,) * 30


def test_no_io_fires_high_priced_as_the_volume():
    vol = _vol(vtype="gp3", size=500, iops=4000, throughput=250)
    det = _run("ebs-volume-no-io", vol, [RUNNING], _ops("vol-1", ZERO))
    assert det.confidence == "HIGH"
    assert det.monthly_cost == US.ebs_volume("gp3", 500, 4000, 250) == Decimal("50.0000")
    assert det.evidence["read_ops"]["datapoints"] == 30 and det.evidence["read_ops"]["total"] == 0


def test_one_operation_is_not_no_io():
    assert _run("ebs-volume-no-io", _vol(), [RUNNING], _ops("vol-1", ZERO, (0.0,) * 29 + (1.0,))) is None


def test_missing_days_are_not_zeros():
    assert _run("ebs-volume-no-io", _vol(), [RUNNING], _ops("vol-1", (0.0,) * 25)) is None  # 25/30 < 85%
    det = _run("ebs-volume-no-io", _vol(), [RUNNING], _ops("vol-1", (0.0,) * 26))  # 26/30: judged
    assert det is not None and det.confidence == "MEDIUM"
    # no datapoints at all (AWS publishes zeros for an attached volume): not judged
    assert _run("ebs-volume-no-io", _vol(), [RUNNING], _ops("vol-1", ())) is None
    assert _run("ebs-volume-no-io", _vol(), [RUNNING], {}) is None  # nothing fetched


@pytest.mark.parametrize(
    ("age", "attached", "fires"),
    [(30, 30, True), (29.9, 29.9, False), (300, 29.9, False), (300, None, False)],
)
def test_volume_and_attachment_at_least_a_window_old(age, attached, fires):
    vol = _vol(age=age, attached=attached)
    params = _params("ebs-volume-no-io")
    assert RULES["ebs-volume-no-io"].candidate(vol, params, _ctx([RUNNING])) == fires
    assert (_run("ebs-volume-no-io", vol, [RUNNING], _ops("vol-1", ZERO)) is not None) == fires


@pytest.mark.parametrize(
    ("vtype", "iops", "judged"),
    [
        ("gp3", 3000, True),
        ("st1", None, True),
        ("sc1", None, True),
        ("standard", None, True),
        ("io1", 20000, True),  # gp3 cannot replace it: judged by its IO
        ("gp2", 300, False),  # ebs-volume-gp2-to-gp3's
        ("io1", 4000, False),  # ebs-volume-io-to-gp3's
    ],
)
def test_no_io_leaves_gp2_and_replaceable_io_to_the_type_rules(vtype, iops, judged):
    vol = _vol(vtype=vtype, size=500, iops=iops)
    assert (_run("ebs-volume-no-io", vol, [RUNNING], _ops("vol-1", ZERO)) is not None) == judged
    assert RULES["ebs-volume-no-io"].candidate(vol, _params("ebs-volume-no-io"), _ctx([RUNNING])) == judged


def test_no_io_only_on_running_instances():
    for host in ([], [_instance(state="stopped", stopped_days=5)]):
        assert _run("ebs-volume-no-io", _vol(), host, _ops("vol-1", ZERO)) is None


def test_an_idle_gp2_or_io_volume_is_flagged_once():
    gp2 = _vol("vol-gp2", vtype="gp2", size=500)
    io = _vol("vol-io", vtype="io1", size=200, iops=4000)
    io_big = _vol("vol-big", vtype="io1", size=1000, iops=20000)
    series = {**_ops("vol-gp2", ZERO), **_ops("vol-io", ZERO), **_ops("vol-big", ZERO)}
    assert set(_scan([gp2, io, io_big], [RUNNING], series)) == {
        ("vol-gp2", "ebs-volume-gp2-to-gp3"),
        ("vol-io", "ebs-volume-io-to-gp3"),
        ("vol-big", "ebs-volume-no-io"),
    }


# --- ebs-volume-iops-overprovisioned -----------------------------------------------------------


def _daily(iops_per_day) -> tuple[float, ...]:
    return tuple(i * DAY for i in iops_per_day)


def test_io1_over_provisioned_priced_as_the_iops_cut():
    vol = _vol(vtype="io1", size=1000, iops=20000)
    det = _run("ebs-volume-iops-overprovisioned", vol, [RUNNING], _ops("vol-1", _daily([500.0] * 30)))
    # 500 IOPS busiest day: 2,500 keep it at 20%; 17,500 x $0.065
    assert det.evidence["recommended_iops"] == 2500
    assert det.monthly_cost == Decimal("1137.5000") and det.confidence == "MEDIUM"
    assert det.evidence["peak_minute_iops"] == 500.0 and det.evidence["used_share"] == 0.025


def test_a_nightly_burst_is_judged_by_its_busiest_minute():
    vol = _vol(vtype="io1", size=1000, iops=20000)
    # flat out at 10,000 IOPS one hour a night: a 417 IOPS daily average (2% of 20,000)
    hour = 10000.0 * 3600
    nightly = _ops("vol-1", [hour] * 30, read_peak=[10000.0 * 60] * 30)
    assert _run("ebs-volume-iops-overprovisioned", vol, [RUNNING], nightly) is None
    # an hour a night at 1,000 IOPS: the busiest minute is 5% of 20,000; 5,000 IOPS keep it at 20%
    lazy = _ops("vol-1", [1000.0 * 3600] * 30, read_peak=[1000.0 * 60] * 30)
    det = _run("ebs-volume-iops-overprovisioned", vol, [RUNNING], lazy)
    assert det.evidence["peak_minute_iops"] == 1000.0 and det.evidence["recommended_iops"] == 5000
    assert det.evidence["read_ops_peak_minute"]["peak"] == 60000.0


def test_peaks_that_are_not_minute_counts_fall_back_to_the_day_s_sum():
    vol = _vol(vtype="io1", size=1000, iops=20000)
    # a Maximum below the day's average minute (Xen: per-operation statistics, Maximum 1): the
    # day's sum stands for its busiest minute (36,000,000 / 60 s: far above 20%)
    xen = _ops("vol-1", [10000.0 * 3600] * 30, read_peak=[1.0] * 30, write_peak=[0.0] * 30)
    assert _run("ebs-volume-iops-overprovisioned", vol, [RUNNING], xen) is None
    # a small load whose whole day fits under 20% in one minute still fires on that bound
    tiny = _ops("vol-1", [60000.0] * 30, read_peak=[1.0] * 30)
    det = _run("ebs-volume-iops-overprovisioned", vol, [RUNNING], tiny)
    assert det.evidence["peak_minute_iops"] == 1000.0
    # the peak series not fetched: not judged
    ops = _ops("vol-1", _daily([500.0] * 30))
    del ops[("vol-1", "write_ops_peak_minute", 30)]
    assert _run("ebs-volume-iops-overprovisioned", vol, [RUNNING], ops) is None


@pytest.mark.parametrize(("peak", "fires"), [(3999.0, True), (4000.0, False)])
def test_used_share_boundary(peak, fires):
    vol = _vol(vtype="io1", size=1000, iops=20000)
    ops = _ops("vol-1", _daily([100.0] * 29 + [peak * 0.5]), _daily([0.0] * 29 + [peak * 0.5]))
    det = _run("ebs-volume-iops-overprovisioned", vol, [RUNNING], ops, min_monthly_saving=0.0)
    assert (det is not None) == fires
    if det:  # 19,995 IOPS keep 3,999 at 20%: $0.33 a month, under the default $5 floor
        assert det.evidence["recommended_iops"] == 19995
        assert _run("ebs-volume-iops-overprovisioned", vol, [RUNNING], ops) is None


def test_gp3_with_extra_iops_cut_to_the_included_3000():
    vol = _vol(vtype="gp3", size=500, iops=8000)
    det = _run("ebs-volume-iops-overprovisioned", vol, [RUNNING], _ops("vol-1", _daily([200.0] * 30)))
    assert det.evidence["recommended_iops"] == 3000 and det.monthly_cost == Decimal("25.0000")
    # gp3 within the included IOPS, or a saving under $5 (4,000 IOPS -> $5 exactly fires; 3,999 not)
    assert not RULES["ebs-volume-iops-overprovisioned"].candidate(
        _vol(vtype="gp3", iops=3000), _params("ebs-volume-iops-overprovisioned"), _ctx([RUNNING])
    )
    small = _ops("vol-1", _daily([10.0] * 30))
    assert _run("ebs-volume-iops-overprovisioned", _vol(vtype="gp3", iops=4000), [RUNNING], small) is not None
    assert _run("ebs-volume-iops-overprovisioned", _vol(vtype="gp3", iops=3999), [RUNNING], small) is None


def test_no_io_at_all_is_not_over_provisioned_but_unused():
    vol = _vol(vtype="io1", size=1000, iops=20000)
    assert _run("ebs-volume-iops-overprovisioned", vol, [RUNNING], _ops("vol-1", ZERO)) is None
    assert set(_scan([vol], [RUNNING], _ops("vol-1", ZERO))) == {("vol-1", "ebs-volume-no-io")}


def test_an_io_volume_gp3_can_replace_is_the_io_rule_s():
    vol = _vol(vtype="io1", size=400, iops=10000)
    ops = _ops("vol-1", _daily([50.0] * 30))
    assert _run("ebs-volume-iops-overprovisioned", vol, [RUNNING], ops) is None
    assert set(_scan([vol], [RUNNING], ops)) == {("vol-1", "ebs-volume-io-to-gp3")}


def test_iops_missing_days_young_volume_and_stopped_host():
    vol = _vol(vtype="io1", size=1000, iops=20000)
    assert (
        _run("ebs-volume-iops-overprovisioned", vol, [RUNNING], _ops("vol-1", _daily([500.0] * 25))) is None
    )
    det = _run("ebs-volume-iops-overprovisioned", vol, [RUNNING], _ops("vol-1", _daily([500.0] * 27)))
    assert det.confidence == "LOW"
    young = _vol(vtype="io1", size=1000, iops=20000, age=29)
    assert (
        _run("ebs-volume-iops-overprovisioned", young, [RUNNING], _ops("vol-1", _daily([500.0] * 29))) is None
    )
    stopped = [_instance(state="stopped", stopped_days=2)]
    assert _run("ebs-volume-iops-overprovisioned", vol, stopped, _ops("vol-1", _daily([500.0] * 30))) is None


# --- ec2-instance-previous-generation ----------------------------------------------------------


def _usage(rid: str, cpu=35.0, net_mb=900.0, days=14) -> dict:
    return {
        (rid, "cpu_average", days): Series((cpu,) * days, days),
        (rid, "network_in", days): Series((net_mb * MB,) * days, days),
        (rid, "network_out", days): Series((net_mb * MB,) * days, days),
    }


@pytest.mark.parametrize(
    ("itype", "target"),
    [
        ("m4.large", "m5.large"),
        ("t2.micro", "t3.micro"),
        ("c4.8xlarge", "c5.9xlarge"),
        ("m2.xlarge", "r5.large"),
        ("r3.large", "r5.large"),
        ("m5.large", None),
        ("t3.micro", None),
        ("c5.large", None),
        ("", None),
        ("m4", None),
    ],
)
def test_current_generation_of(itype, target):
    assert current_generation_of(itype) == target


def test_busy_previous_generation_fires_with_the_saving():
    det = _run("ec2-instance-previous-generation", _instance(itype="c4.large"), series=_usage("i-1"))
    assert det.evidence["current_generation_type"] == "c5.large"
    assert det.monthly_cost == US.ec2_instance("c4.large") - US.ec2_instance("c5.large") == Decimal("10.9500")
    assert det.confidence == "HIGH" and det.evidence["finding_type"] == "optimization"


def test_an_idle_previous_generation_instance_is_ec2_instance_idle_s():
    idle = _usage("i-1", cpu=1.0, net_mb=0.5)
    assert _run("ec2-instance-previous-generation", _instance(itype="m4.large"), series=idle) is None
    assert set(_scan([_instance(itype="m4.large")], series=idle)) == {("i-1", "ec2-instance-idle")}
    busy = _usage("i-1")
    assert set(_scan([_instance(itype="m4.large")], series=busy)) == {
        ("i-1", "ec2-instance-previous-generation")
    }


def test_young_or_unmeasured_previous_generation_instances_are_judged():
    young = _instance(itype="m4.large", age=3)
    params = _params("ec2-instance-previous-generation")
    assert not RULES["ec2-instance-previous-generation"].candidate(young, params, _ctx())
    assert _run("ec2-instance-previous-generation", young) is not None
    # old but too few days of data: the idle rule does not judge it, so this one does
    sparse = {k: Series(s.values[:10], 14) for k, s in _usage("i-1", cpu=1.0, net_mb=0.5).items()}
    assert _run("ec2-instance-previous-generation", _instance(itype="m4.large"), series=sparse) is not None
    assert _run("ec2-instance-idle", _instance(itype="m4.large"), series=sparse) is None


@pytest.mark.parametrize("state", ["stopped", "pending", "stopping", None])
def test_previous_generation_only_running(state):
    assert _run("ec2-instance-previous-generation", _instance(state=state, itype="m4.large", age=3)) is None


def test_no_cheaper_successor_or_below_the_floor_does_not_fire():
    assert (
        _run("ec2-instance-previous-generation", _instance(itype="m3.medium", age=3)) is None
    )  # m5.large costs more
    # m4.large -> m5.large saves $2.92 in us-east-1
    assert (
        _run("ec2-instance-previous-generation", _instance(itype="m4.large", age=3), min_monthly_saving=3.0)
        is None
    )
    assert _run(
        "ec2-instance-previous-generation", _instance(itype="m4.large", age=3), min_monthly_saving=2.9
    )


def test_unknown_price_is_reported_at_zero_and_says_so():
    det = _run("ec2-instance-previous-generation", _instance(itype="hs1.8xlarge", age=3))
    assert det.monthly_cost == Decimal(0) and det.confidence == "LOW" and "unknown" in det.evidence["price"]


# --- ec2-capacity-reservation-unused -----------------------------------------------------------


def _cr(total=2, free=2, age=20, state="active", itype="m5.large", **extra) -> Resource:
    attrs = {
        "state": state,
        "instance_type": itype,
        "instance_platform": "Linux/UNIX",
        "total_instance_count": total,
        "available_instance_count": free,
        "reservation_type": "default",
    }
    attrs.update(extra)
    return _res("aws.ec2.capacity_reservation", age, rid="cr-1", **attrs)


def test_unused_reservation_priced_per_free_instance():
    det = _run("ec2-capacity-reservation-unused", _cr(total=3, free=3))
    assert det.monthly_cost == 3 * US.ec2_instance("m5.large") == Decimal("210.2400")
    assert det.confidence == "HIGH" and det.evidence["unused_share"] == 1.0


@pytest.mark.parametrize(("age", "fires"), [(6.99, False), (7.0, True)])
def test_age_boundary(age, fires):
    assert (_run("ec2-capacity-reservation-unused", _cr(age=age)) is not None) == fires


def test_start_date_counts_over_creation():
    assert _run("ec2-capacity-reservation-unused", _cr(age=30, start_date=_ago(3))) is None


@pytest.mark.parametrize(("free", "fires"), [(0, False), (4, False), (5, True), (10, True)])
def test_partly_used_share_boundary(free, fires):
    det = _run("ec2-capacity-reservation-unused", _cr(total=10, free=free))
    assert (det is not None) == fires
    if det and free < 10:
        assert det.confidence == "MEDIUM" and det.monthly_cost == 5 * US.ec2_instance("m5.large")


@pytest.mark.parametrize(
    "extra",
    [{"state": "pending"}, {"state": "cancelled"}, {"reservation_type": "capacity-block"}, {"free": None}],
)
def test_not_active_or_not_on_demand_does_not_fire(extra):
    assert _run("ec2-capacity-reservation-unused", _cr(**extra)) is None


def test_unknown_instance_type_reported_at_zero():
    det = _run("ec2-capacity-reservation-unused", _cr(itype="zz9.plural"))
    assert det.monthly_cost == Decimal(0) and det.confidence == "LOW"


# --- the listings, against moto ------------------------------------------------------------------

ACCOUNT = "310000000012"


@pytest.fixture(scope="module")
def moto_url():
    from cloudwaste.sim.aws import start_moto

    handle = start_moto()
    yield handle.endpoint_url
    handle.stop()


def test_listings_against_moto_one_call_per_region(moto_url):
    import boto3
    from cloudwaste.sim.aws import boto3_client

    region = "eu-west-1"
    ec2 = boto3_client("ec2", moto_url, region, account_id=ACCOUNT)
    zone = ec2.describe_availability_zones()["AvailabilityZones"][0]["ZoneName"]
    instance = ec2.run_instances(ImageId="ami-12345678", MinCount=1, MaxCount=1, InstanceType="m4.large")[
        "Instances"
    ][0]
    vol = ec2.create_volume(
        AvailabilityZone=instance["Placement"]["AvailabilityZone"], Size=500, VolumeType="io1", Iops=20000
    )
    ec2.attach_volume(VolumeId=vol["VolumeId"], InstanceId=instance["InstanceId"], Device="/dev/sdf")
    for n in range(3):
        ec2.create_capacity_reservation(
            InstanceType="m5.large",
            InstancePlatform="Linux/UNIX",
            AvailabilityZone=zone,
            InstanceCount=n + 1,
            TagSpecifications=[
                {"ResourceType": "capacity-reservation", "Tags": [{"Key": "Name", "Value": f"cr{n}"}]}
            ],
        )
    gone = ec2.create_capacity_reservation(
        InstanceType="c5.large", InstancePlatform="Linux/UNIX", AvailabilityZone=zone, InstanceCount=1
    )["CapacityReservation"]["CapacityReservationId"]
    ec2.cancel_capacity_reservation(CapacityReservationId=gone)

    session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=region)
    session.events.register("before-call.*.*", aws._record_call)

    class Conn:
        def client(self, service, scope):
            c = session.client(service, region_name=scope, endpoint_url=moto_url)
            c.meta.events.register(
                "before-sign", lambda request, **_: request.headers.__setitem__("x-moto-account-id", ACCOUNT)
            )
            return c

    seen = []
    now = dt.datetime.now(dt.UTC)
    with providers.observe_calls(lambda p, caller, op: seen.append((caller, op))):
        vols = aws.PROVIDER.list_kind(Conn(), KINDS.get("aws.ec2.volume"), region, now, {})
        crs = aws.PROVIDER.list_kind(Conn(), KINDS.get("aws.ec2.capacity_reservation"), region, now, {})
    assert seen == [
        ("aws.ec2.volume", "ec2:DescribeVolumes"),
        ("aws.ec2.capacity_reservation", "ec2:DescribeCapacityReservations"),
    ]
    v = next(v for v in vols if v.resource_id == vol["VolumeId"])
    assert v.attributes["iops"] == 20000 and v.attributes["volume_type"] == "io1"
    assert v.attributes["attached_instance_id"] == instance["InstanceId"]
    assert isinstance(v.attributes["attach_time"], dt.datetime)
    assert sorted(c.attributes["total_instance_count"] for c in crs) == [1, 2, 3]  # the cancelled one is not
    c = crs[0]
    assert (
        c.attributes["state"] == "active"
        and c.attributes["available_instance_count"] == c.attributes["total_instance_count"]
    )
    assert (
        c.name.startswith("cr") and c.created_at is not None and c.attributes["instance_type"] == "m5.large"
    )
    assert set(c.config) <= set(KINDS.get("aws.ec2.capacity_reservation").ml_config)
    # pagination: a small page size still lists everything
    pages = list(
        Conn()
        .client("ec2", region)
        .get_paginator("describe_capacity_reservations")
        .paginate(PaginationConfig={"PageSize": 1})
    )
    assert len(pages) >= 3
