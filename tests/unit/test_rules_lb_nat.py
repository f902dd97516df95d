"""Load balancer and NAT gateway rules at their boundaries (target health, age, the metric window,
"no datapoint" as the idle signal, coverage, prices and evidence), and the two load balancer
listings against moto: what they record, and one listing per kind per region."""

from __future__ import annotations

import datetime as dt
import os
from collections import Counter
from decimal import Decimal

import boto3
import pytest
from cloudwaste.scanner import providers
from cloudwaste.scanner.domain import Resource
from cloudwaste.scanner.kinds import load_all as load_kinds
from cloudwaste.scanner.pricing import AwsPrices
from cloudwaste.scanner.rules import Context, Series, load_all

RULES = load_all().rules
NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
PRICES = AwsPrices("eu-west-1")
ARN = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer"
GIB = 1024**3
ELBV2_RULES = (
    "load-balancer-no-targets",
    "load-balancer-unhealthy-targets",
    "load-balancer-no-requests",
    "load-balancer-no-flows",
)
CLASSIC_RULES = ("elb-classic-no-instances", "elb-classic-out-of-service", "elb-classic-no-requests")


def lb(age=60.0, lb_type="application", name="app/web/1", **states) -> Resource:
    registered = sum(states.values())
    return Resource(
        "aws",
        "aws.elbv2.load_balancer",
        f"{ARN}/{name}",
        "eu-west-1",
        created_at=NOW - dt.timedelta(days=age),
        attributes={
            "type": lb_type,
            "registered_targets": registered,
            "healthy_targets": states.get("healthy", 0),
            "target_states": dict(states),
            "target_group_count": 1,
            "metric_dimension": name,
        },
    )


def classic(age=60.0, **states) -> Resource:
    return Resource(
        "aws",
        "aws.elb.load_balancer",
        "web-elb",
        "eu-west-1",
        created_at=NOW - dt.timedelta(days=age),
        attributes={
            "type": "classic",
            "instance_count": sum(states.values()),
            "in_service": states.get("InService", 0),
            "out_of_service": states.get("OutOfService", 0),
            "instance_states": dict(states),
        },
    )


def nat(age=90.0, state="available") -> Resource:
    return Resource(
        "aws",
        "aws.ec2.nat_gateway",
        "nat-1",
        "eu-west-1",
        created_at=NOW - dt.timedelta(days=age),
        attributes={"state": state},
    )


def run(key, r, series=None, **overrides):
    rule = RULES[key]
    params = {k: v for k, v in rule.resolve_params(overrides).items() if k != "enabled"}
    series = series or {}
    ctx = Context(now=NOW, prices=PRICES, metric=lambda res, name, d: series.get(name))
    if rule.candidate is not None and not rule.candidate(r, params, ctx):
        assert rule.evaluate(r, params, ctx) is None  # never fires on a non-candidate
        return None
    return rule.evaluate(r, params, ctx)


def fired(r, keys, series=None) -> list[str]:
    return [k for k in keys if run(k, r, series) is not None]


NONE = Series((), 30)
SOME = Series((3.0,), 30)  # 3 requests on one day


# --- load-balancer-unhealthy-targets ----------------------------------------------------------------


def test_all_targets_unused_fires_high_priced_as_its_type():
    det = run("load-balancer-unhealthy-targets", lb(lb_type="network", unused=2))
    assert det is not None and det.confidence == "HIGH"
    assert det.monthly_cost == PRICES.load_balancer("network") > 0
    assert det.evidence["target_states"] == {"unused": 2} and det.evidence["price_date"]


def test_unhealthy_or_draining_targets_fire_medium():
    det = run("load-balancer-unhealthy-targets", lb(unhealthy=1, draining=1))
    assert det is not None and det.confidence == "MEDIUM"


@pytest.mark.parametrize("other", ["healthy", "initial", "unavailable"])
def test_one_target_in_another_state_is_not_all_down(other):
    assert run("load-balancer-unhealthy-targets", lb(unhealthy=3, **{other: 1})) is None


@pytest.mark.parametrize(("age", "fires"), [(6.9, False), (7.0, True)])
def test_unhealthy_min_age(age, fires):
    assert (run("load-balancer-unhealthy-targets", lb(age=age, unhealthy=1)) is not None) == fires


def test_no_target_is_the_other_rule():
    empty = lb()
    assert fired(empty, ELBV2_RULES, {"request_count": SOME}) == ["load-balancer-no-targets"]


# --- load-balancer-no-requests / no-flows -----------------------------------------------------------


def test_alb_without_any_datapoint_fires_medium_and_says_why():
    det = run("load-balancer-no-requests", lb(healthy=2), {"request_count": NONE})
    assert det is not None and det.confidence == "MEDIUM"
    assert det.evidence["datapoints"] == 0 and "no datapoint" in det.evidence["no_datapoints"]
    assert det.monthly_cost == PRICES.load_balancer("application")


def test_alb_with_zero_datapoints_is_high():
    det = run("load-balancer-no-requests", lb(healthy=1), {"request_count": Series((0.0,) * 30, 30)})
    assert det is not None and det.confidence == "HIGH" and det.evidence["requests"]["datapoints"] == 30


def test_alb_with_one_request_does_not_fire():
    assert run("load-balancer-no-requests", lb(healthy=1), {"request_count": Series((1.0,), 30)}) is None


@pytest.mark.parametrize(("age", "fires"), [(29.9, False), (30.0, True)])
def test_alb_must_be_older_than_the_window(age, fires):
    det = run("load-balancer-no-requests", lb(age=age, healthy=1), {"request_count": NONE})
    assert (det is not None) == fires


def test_alb_series_not_fetched_does_not_fire():
    assert run("load-balancer-no-requests", lb(healthy=1), {}) is None


def test_no_requests_is_for_application_load_balancers_only():
    assert run("load-balancer-no-requests", lb(lb_type="network", healthy=1), {"request_count": NONE}) is None


def test_bot_traffic_does_not_save_a_load_balancer_without_targets():
    det = run("load-balancer-no-targets", lb())
    assert det is not None  # requests or not: the rule reads no metric
    assert RULES["load-balancer-no-targets"].metrics == ()


@pytest.mark.parametrize(
    ("lb_type", "metric", "name"),
    [("network", "new_flow_count_network", "net/tcp/1"), ("gateway", "new_flow_count_gateway", "gwy/g/1")],
)
def test_nlb_and_gwlb_without_flows_fire_priced_as_their_type(lb_type, metric, name):
    r = lb(lb_type=lb_type, name=name, healthy=1)
    det = run("load-balancer-no-flows", r, {metric: Series((0.0,) * 30, 30)})
    assert det is not None and det.confidence == "HIGH"
    assert det.monthly_cost == PRICES.load_balancer(lb_type)
    assert run("load-balancer-no-flows", r, {metric: SOME}) is None
    dims = [m.dimensions(r) for m in RULES["load-balancer-no-flows"].metrics]
    assert (("LoadBalancer", name),) in dims


def test_flows_rule_skips_application_load_balancers():
    assert run("load-balancer-no-flows", lb(healthy=1), {"new_flow_count_network": NONE}) is None


def test_request_metric_dimension_is_the_arn_suffix():
    (metric,) = RULES["load-balancer-no-requests"].metrics
    assert metric.namespace == "AWS/ApplicationELB" and metric.metric == "RequestCount"
    assert metric.dimensions(lb(name="app/web/abc", healthy=1)) == (("LoadBalancer", "app/web/abc"),)


@pytest.mark.parametrize(
    ("r", "expected"),
    [
        (lb(), ["load-balancer-no-targets"]),
        (lb(unhealthy=2), ["load-balancer-unhealthy-targets"]),
        (lb(unused=1, unhealthy=1), ["load-balancer-unhealthy-targets"]),
        (lb(healthy=1), ["load-balancer-no-requests"]),
        (lb(healthy=1, unhealthy=1), ["load-balancer-no-requests"]),
        (lb(lb_type="network", name="net/n/1", healthy=1), ["load-balancer-no-flows"]),
        (lb(lb_type="network", name="net/n/1", unused=1), ["load-balancer-unhealthy-targets"]),
    ],
)
def test_elbv2_rules_are_exclusive(r, expected):
    quiet = {"request_count": NONE, "new_flow_count_network": NONE, "new_flow_count_gateway": NONE}
    assert fired(r, ELBV2_RULES, quiet) == expected


# --- classic load balancers -----------------------------------------------------------------------------


@pytest.mark.parametrize(("age", "expected"), [(6.9, None), (7.0, "MEDIUM"), (30.0, "HIGH")])
def test_classic_without_instances_by_age(age, expected):
    det = run("elb-classic-no-instances", classic(age=age))
    assert (det and det.confidence) == expected
    if det:
        assert det.monthly_cost == PRICES.load_balancer("classic") > PRICES.load_balancer("application")


def test_classic_all_out_of_service_fires_one_in_service_does_not():
    det = run("elb-classic-out-of-service", classic(OutOfService=2))
    assert det is not None and det.evidence["out_of_service"] == 2
    assert run("elb-classic-out-of-service", classic(OutOfService=2, InService=1)) is None
    assert run("elb-classic-out-of-service", classic(OutOfService=1, Unknown=1)) is None
    assert run("elb-classic-out-of-service", classic(age=3, OutOfService=1)) is None


def test_classic_no_requests_boundaries():
    series = {"classic_request_count": NONE}
    det = run("elb-classic-no-requests", classic(InService=1), series)
    assert det is not None and det.confidence == "MEDIUM" and "no_datapoints" in det.evidence
    assert run("elb-classic-no-requests", classic(age=29.5, InService=1), series) is None
    assert run("elb-classic-no-requests", classic(InService=1), {"classic_request_count": SOME}) is None
    (metric,) = RULES["elb-classic-no-requests"].metrics
    assert metric.dimensions(classic(InService=1)) == (("LoadBalancerName", "web-elb"),)


@pytest.mark.parametrize(
    ("r", "expected"),
    [
        (classic(), ["elb-classic-no-instances"]),
        (classic(OutOfService=2), ["elb-classic-out-of-service"]),
        (classic(InService=1), ["elb-classic-no-requests"]),
        (classic(InService=1, OutOfService=1), ["elb-classic-no-requests"]),
        (classic(Unknown=1), []),
    ],
)
def test_classic_rules_are_exclusive(r, expected):
    assert fired(r, CLASSIC_RULES, {"classic_request_count": NONE}) == expected


# --- nat-gateway-low-traffic ------------------------------------------------------------------------


def traffic(gb_per_day: float, days: int = 30, window: int = 30) -> Series:
    return Series((gb_per_day * GIB,) * days, window)


ZERO = Series((0.0,) * 30, 30)


def test_low_traffic_fires_priced_as_the_hourly_charge_with_processing_in_evidence():
    det = run("nat-gateway-low-traffic", nat(), {"bytes_out": traffic(0.02), "bytes_in": traffic(0.005)})
    assert det is not None and det.confidence == "HIGH"
    assert det.monthly_cost == PRICES.nat_gateway() > 0
    ev = det.evidence
    assert ev["processed_gb"] == pytest.approx(0.75) and ev["gb_per_day"] == pytest.approx(0.025)
    expected = float(round(PRICES.nat_gateway_gb() * Decimal("0.025") * PRICES.hours / 24, 2))
    assert ev["data_processing_monthly"] == expected < ev["hourly_charge_monthly"]
    assert ev["bytes_out"]["datapoints"] == 30 and ev["price_date"]


@pytest.mark.parametrize(("gb", "fires"), [(0.03, True), (0.0301, False)])
def test_low_traffic_threshold_is_inclusive(gb, fires):
    det = run("nat-gateway-low-traffic", nat(), {"bytes_out": traffic(gb), "bytes_in": ZERO})
    assert (det is not None) == fires


def test_zero_traffic_is_idle_not_low():
    series = {"bytes_out": ZERO, "bytes_in": ZERO}
    assert run("nat-gateway-low-traffic", nat(), series) is None
    assert run("nat-gateway-idle", nat(), series) is not None
    low = {"bytes_out": traffic(0.01), "bytes_in": ZERO}
    assert run("nat-gateway-idle", nat(), low) is None and run("nat-gateway-low-traffic", nat(), low)


def test_low_traffic_needs_coverage_and_averages_days_with_data():
    gappy = {"bytes_out": traffic(0.01, days=23), "bytes_in": traffic(0.001, days=23)}
    assert run("nat-gateway-low-traffic", nat(), gappy) is None  # 23/30 < 80%
    enough = {"bytes_out": traffic(0.01, days=24), "bytes_in": traffic(0.001, days=24)}
    det = run("nat-gateway-low-traffic", nat(), enough)
    assert (
        det is not None and det.confidence == "MEDIUM" and det.evidence["gb_per_day"] == pytest.approx(0.011)
    )


@pytest.mark.parametrize(("age", "state"), [(29.0, "available"), (90.0, "pending"), (90.0, "deleted")])
def test_low_traffic_young_or_not_available_does_not_fire(age, state):
    series = {"bytes_out": traffic(0.01), "bytes_in": ZERO}
    assert run("nat-gateway-low-traffic", nat(age=age, state=state), series) is None


def test_low_traffic_threshold_override():
    series = {"bytes_out": traffic(0.8), "bytes_in": ZERO}
    assert run("nat-gateway-low-traffic", nat(), series) is None
    assert run("nat-gateway-low-traffic", nat(), series, max_gb_per_day=1.0) is not None


def test_core_estate_active_nats_stay_above_the_default_threshold():
    """The core estate's active gateways carry 5e7-5e10 bytes a day (scale): none falls under the
    default threshold (1 GB a day would catch ~40% of them)."""
    from cloudwaste.sim.aws import _plan

    threshold = RULES["nat-gateway-low-traffic"].params["max_gb_per_day"].default
    for seed in (7, 23, 42):
        for item in _plan(3000, seed, ("us-east-1", "eu-west-1", "ap-southeast-2")):
            if item.key == "nat_gateway.active":
                per_day = sum(a + b for a, b in item.traffic) / len(item.traffic) / GIB
                assert per_day > threshold * 1.3


# --- the listings against moto ----------------------------------------------------------------------


@pytest.fixture
def moto_env(monkeypatch):
    from moto import mock_aws

    for k, v in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "MOTO_EC2_LOAD_DEFAULT_AMIS": "false",
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


def _network():
    ec2 = boto3.client("ec2", "eu-west-1")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=z)["Subnet"]["SubnetId"]
        for i, z in enumerate(("eu-west-1a", "eu-west-1b"))
    ]
    ids = [
        i["InstanceId"]
        for i in ec2.run_instances(ImageId="ami-12345678", MinCount=2, MaxCount=2, SubnetId=subnets[0])[
            "Instances"
        ]
    ]
    return ec2, vpc, subnets, ids


def _list(kind_key: str):
    kind = load_kinds().get(kind_key)
    calls: Counter = Counter()
    with providers.observe_calls(lambda p, caller, op: calls.update([op])):
        with providers.api_caller(kind_key):
            out = kind.list(Conn(), "eu-west-1", NOW, {})
    return out, calls


def test_elbv2_listing_counts_targets_per_health_state(moto_env):
    ec2, vpc, subnets, (up, down) = _network()
    elbv2 = boto3.client("elbv2", "eu-west-1")
    arns = {}
    for name in ("web", "empty", "tcp"):
        lb_type = "network" if name == "tcp" else "application"
        arns[name] = elbv2.create_load_balancer(Name=name, Subnets=subnets, Type=lb_type)["LoadBalancers"][0][
            "LoadBalancerArn"
        ]
    group = elbv2.create_target_group(Name="web-tg", Protocol="HTTP", Port=80, VpcId=vpc)["TargetGroups"][0][
        "TargetGroupArn"
    ]
    elbv2.create_listener(
        LoadBalancerArn=arns["web"],
        Protocol="HTTP",
        Port=80,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": group}],
    )
    elbv2.register_targets(TargetGroupArn=group, Targets=[{"Id": up}, {"Id": down}])
    # a target group no load balancer uses: its targets are never asked about
    orphan = elbv2.create_target_group(Name="orphan-tg", Protocol="HTTP", Port=80, VpcId=vpc)["TargetGroups"][
        0
    ]["TargetGroupArn"]
    elbv2.register_targets(TargetGroupArn=orphan, Targets=[{"Id": up}])
    ec2.stop_instances(InstanceIds=[down])
    lbs, calls = _list("aws.elbv2.load_balancer")
    by_name = {r.name: r for r in lbs}
    web = by_name["web"].attributes
    assert web["registered_targets"] == 2 and web["healthy_targets"] == 1
    assert web["target_states"] == {"healthy": 1, "unused": 1}
    assert web["metric_dimension"] == arns["web"].split(":loadbalancer/")[1]
    assert web["metric_dimension"].endswith("/web/" + arns["web"].rsplit("/", 1)[1])
    assert by_name["empty"].attributes["registered_targets"] == 0
    assert by_name["tcp"].attributes["type"] == "network"
    assert calls["elasticloadbalancing:DescribeLoadBalancers"] == 1
    assert calls["elasticloadbalancing:DescribeTargetGroups"] == 1
    # one per target group behind a load balancer (not the orphan's)
    assert calls["elasticloadbalancing:DescribeTargetHealth"] == 1
    assert calls["elasticloadbalancing:DescribeTags"] == 1


def test_classic_listing_records_instance_health_and_calls_it_only_when_needed(moto_env):
    ec2, _vpc, subnets, (up, down) = _network()
    elb = boto3.client("elb", "eu-west-1")
    listener = [{"Protocol": "HTTP", "LoadBalancerPort": 80, "InstancePort": 80}]
    for i in range(23):  # more than one DescribeTags batch of 20
        elb.create_load_balancer(
            LoadBalancerName=f"lb-{i:02d}",
            Listeners=listener,
            Subnets=subnets,
            Tags=[{"Key": "Name", "Value": f"web {i}"}],
        )
    elb.register_instances_with_load_balancer(LoadBalancerName="lb-00", Instances=[{"InstanceId": up}])
    elb.register_instances_with_load_balancer(
        LoadBalancerName="lb-01", Instances=[{"InstanceId": up}, {"InstanceId": down}]
    )
    ec2.stop_instances(InstanceIds=[down])
    lbs, calls = _list("aws.elb.load_balancer")
    by_id = {r.resource_id: r for r in lbs}
    assert len(by_id) == 23 and by_id["lb-05"].name == "web 5" and by_id["lb-05"].created_at
    assert by_id["lb-00"].attributes["in_service"] == 1
    a = by_id["lb-01"].attributes
    assert (a["instance_count"], a["in_service"], a["out_of_service"]) == (2, 1, 1)
    assert by_id["lb-02"].attributes["instance_count"] == 0
    assert by_id["lb-02"].config == {"scheme": "internet-facing", "instance_count": 0, "listener_count": 1}
    assert calls["elasticloadbalancing:DescribeLoadBalancers"] == 1
    assert calls["elasticloadbalancing:DescribeTags"] == 2
    assert calls["elasticloadbalancing:DescribeInstanceHealth"] == 2  # only those with instances
    assert set(calls) <= set(load_kinds().get("aws.elb.load_balancer").operations)


def test_classic_listing_of_an_empty_region_makes_one_call(moto_env):
    lbs, calls = _list("aws.elb.load_balancer")
    assert lbs == [] and calls == Counter({"elasticloadbalancing:DescribeLoadBalancers": 1})
