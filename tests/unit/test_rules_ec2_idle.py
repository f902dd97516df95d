"""ec2-instance-idle at its boundaries: both signals low on every day, enough days of data, an
instance at least as old as the window; each near miss that must not fire."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from cloudwaste.scanner.domain import Resource
from cloudwaste.scanner.pricing import AwsPrices
from cloudwaste.scanner.rules import Context, Series, load_all

RULE = load_all().rules["ec2-instance-idle"]
NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
MB = 1024 * 1024


def instance(age_days=60.0, state="running", instance_type="m5.large") -> Resource:
    return Resource(
        "aws",
        "aws.ec2.instance",
        "i-1",
        "eu-west-1",
        created_at=NOW - dt.timedelta(days=age_days),
        attributes={"state": state, "instance_type": instance_type},
    )


def run(r, cpu=None, net_in=None, net_out=None, **overrides):
    params = {k: v for k, v in RULE.resolve_params(overrides).items() if k != "enabled"}
    days = RULE.metric_window(params)
    cpu = cpu if cpu is not None else Series((1.0,) * days, days)
    net_in = net_in if net_in is not None else Series((MB,) * days, days)
    net_out = net_out if net_out is not None else Series((MB,) * days, days)
    series = {"cpu_average": cpu, "network_in": net_in, "network_out": net_out}
    ctx = Context(
        now=NOW,
        prices=AwsPrices("eu-west-1"),
        metric=lambda res, name, d: series[name] if series[name] and series[name].days == d else None,
    )
    return RULE.evaluate(r, params, ctx)


def test_idle_every_day_fires_high_priced_as_the_instance():
    det = run(instance())
    assert det is not None and det.confidence == "HIGH"
    assert det.monthly_cost == AwsPrices("eu-west-1").ec2_instance("m5.large") > 0
    assert det.evidence["cpu_average_percent"]["datapoints"] == 14 and det.evidence["price_date"]
    assert det.evidence["network_mb_per_day_peak"] == 2.0


@pytest.mark.parametrize(("cpu_peak", "fires"), [(10.0, True), (10.01, False)])
def test_cpu_threshold_is_inclusive(cpu_peak, fires):
    cpu = Series((1.0,) * 13 + (cpu_peak,), 14)
    det = run(instance(), cpu=cpu)
    assert (det is not None) == fires
    if det:
        assert det.confidence == "MEDIUM"  # above 2% on a day


def test_a_proxy_with_near_zero_cpu_and_gigabytes_a_day_is_not_idle():
    busy = Series((MB,) * 13 + (3 * 1024 * MB,), 14)
    assert run(instance(), net_out=busy) is None


@pytest.mark.parametrize(("mb", "fires"), [(2.5, True), (2.6, False)])
def test_network_threshold_counts_in_plus_out(mb, fires):
    half = Series((mb * MB,) * 14, 14)
    assert (run(instance(), net_in=half, net_out=half) is not None) == fires


def test_missing_days_are_not_zeros():
    few = Series((0.5,) * 11, 14)  # 11 of 14 days: below 85%
    assert run(instance(), cpu=few) is None
    enough = Series((0.5,) * 12, 14)  # 12 of 14: judged, but not complete
    det = run(instance(), cpu=enough)
    assert det is not None and det.confidence == "MEDIUM"


def test_no_series_fetched_does_not_fire():
    params = {k: v for k, v in RULE.resolve_params().items() if k != "enabled"}
    ctx = Context(now=NOW, prices=AwsPrices("eu-west-1"))
    assert RULE.evaluate(instance(), params, ctx) is None


@pytest.mark.parametrize("age", [13.9, 3, None])
def test_an_instance_younger_than_the_window_is_neither_a_candidate_nor_idle(age):
    r = (
        instance(age_days=age)
        if age is not None
        else Resource("aws", "aws.ec2.instance", "i-1", "eu-west-1", attributes={"state": "running"})
    )
    params = {k: v for k, v in RULE.resolve_params().items() if k != "enabled"}
    assert not RULE.candidate(r, params, Context(now=NOW, prices=None))
    assert run(r) is None


@pytest.mark.parametrize("state", ["stopped", "pending", "stopping", None])
def test_only_running_instances(state):
    assert run(instance(state=state)) is None


def test_an_unknown_instance_type_is_reported_at_zero_and_says_so():
    det = run(instance(instance_type="zz9.plural"))
    assert det.monthly_cost == Decimal(0) and "unknown instance type" in det.evidence["price"]


def test_thresholds_are_parameters():
    cpu = Series((20.0,) * 7, 7)
    seven = Series((MB,) * 7, 7)
    det = run(instance(10), cpu=cpu, net_in=seven, net_out=seven, window_days=7, max_cpu_percent=25)
    assert det is not None and det.evidence["window_days"] == 7
