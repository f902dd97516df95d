"""The CloudWatch alarm kind's listing against moto (one DescribeAlarms a region, metric alarms
only) and how many metrics an alarm is billed for: a metric math alarm's queries that read a metric
(MetricStat), not its expressions; and the alarm rule's price from that count."""

from __future__ import annotations

import datetime as dt
import os
from collections import Counter
from decimal import Decimal

import boto3
import pytest
from cloudwaste.scanner import providers
from cloudwaste.scanner.kinds import load_all as load_kinds
from cloudwaste.scanner.pricing import AwsPrices
from cloudwaste.scanner.rules import Context, load_all

RULES = {r.key: r for r in load_all()}
ALARM, RULE = "aws.cloudwatch.alarm", "cloudwatch-alarm-insufficient-data"
REGION = "eu-west-1"
NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def moto_env(monkeypatch):
    from moto import mock_aws

    for k, v in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setitem(os.environ, k, v)
    with mock_aws():
        yield


class Conn:
    def __init__(self):
        from cloudwaste.scanner.providers import aws

        self.session = boto3.Session(region_name=REGION)
        self.session.events.register("before-call.*.*", aws._record_call)

    def client(self, service, region):
        return self.session.client(service, region_name=region)


def _list(region: str = REGION):
    kind = load_kinds().get(ALARM)
    calls: Counter = Counter()
    with providers.observe_calls(lambda p, caller, op: calls.update([op])):
        with providers.api_caller(ALARM):
            out = kind.list(Conn(), region, NOW, {})
    assert set(calls) <= set(kind.operations)
    return out, calls


def _stat(query_id: str, instance: str, period: int = 300) -> dict:
    return {
        "Id": query_id,
        "MetricStat": {
            "Metric": {
                "Namespace": "AWS/EC2",
                "MetricName": "CPUUtilization",
                "Dimensions": [{"Name": "InstanceId", "Value": instance}],
            },
            "Period": period,
            "Stat": "Average",
        },
        "ReturnData": False,
    }


def _alarms():
    cw = boto3.client("cloudwatch", REGION)
    common = {"EvaluationPeriods": 3, "Threshold": 80.0, "ComparisonOperator": "GreaterThanThreshold"}
    cw.put_metric_alarm(
        AlarmName="single",
        Namespace="AWS/EC2",
        MetricName="CPUUtilization",
        Dimensions=[{"Name": "InstanceId", "Value": "i-1"}],
        Statistic="Average",
        Period=300,
        **common,
    )
    # two metrics and one expression on them: billed for the two metrics, not three
    cw.put_metric_alarm(
        AlarmName="math",
        Metrics=[
            _stat("a", "i-2"),
            _stat("b", "i-3"),
            {"Id": "e", "Expression": "a + b", "Label": "sum", "ReturnData": True},
        ],
        **common,
    )
    # an expression alone (e.g. a metric insights query): at least one metric
    cw.put_metric_alarm(
        AlarmName="expression-only",
        Metrics=[
            {
                "Id": "q",
                "Expression": 'SELECT AVG(CPUUtilization) FROM SCHEMA("AWS/EC2")',
                "Period": 300,
                "ReturnData": True,
            }
        ],
        **common,
    )
    return cw


def test_alarm_listing_counts_only_the_metrics_an_alarm_reads(moto_env):
    _alarms()
    out, calls = _list()
    by = {r.name: r for r in out}
    assert set(by) == {"single", "math", "expression-only"}
    assert by["single"].attributes["metric_count"] == 1 and by["single"].config["metric_count"] == 1
    assert by["math"].attributes["metric_count"] == 2 and by["math"].config["metric_count"] == 2
    assert by["expression-only"].attributes["metric_count"] == 1
    assert by["math"].attributes["high_resolution"] is False
    assert by["single"].resource_id.startswith(f"arn:aws:cloudwatch:{REGION}:")
    assert by["single"].attributes["state"] in ("OK", "INSUFFICIENT_DATA")
    assert calls == Counter({"cloudwatch:DescribeAlarms": 1})


def test_metric_math_alarm_priced_per_metric_read(moto_env):
    from moto.backends import get_backend

    _alarms()
    backend = get_backend("cloudwatch")["123456789012"][REGION]
    for alarm in backend.alarms.values():
        alarm.state_value = "INSUFFICIENT_DATA"
        alarm.state_updated_timestamp = (NOW - dt.timedelta(days=45)).replace(tzinfo=None)
    out, _ = _list()
    prices = AwsPrices(REGION)
    ctx = Context(now=NOW, prices=prices)
    params = {k: v for k, v in RULES[RULE].resolve_params().items() if k != "enabled"}
    det = {r.name: RULES[RULE].evaluate(r, params, ctx) for r in out}
    unit = prices.monthly("cloudwatch", "alarm_month", quantity=1)
    assert unit is not None and unit > 0
    assert det["single"].monthly_cost == unit
    assert det["math"].monthly_cost == prices.monthly("cloudwatch", "alarm_month", quantity=2)
    assert det["math"].monthly_cost == (unit * 2).quantize(Decimal("0.0001"))
    assert det["math"].evidence["metric_count"] == 2


def test_empty_region_makes_one_call(moto_env):
    out, calls = _list("ap-southeast-2")
    assert out == [] and calls == Counter({"cloudwatch:DescribeAlarms": 1})
