"""Load balancer rules: application, network and gateway load balancers (ELBv2), and classic ones.

On one load balancer at most one rule fires. ELBv2: no registered target at all
(`load-balancer-no-targets`); targets registered but every one down (`load-balancer-unhealthy-
targets`); targets that could serve but no traffic over the window (`load-balancer-no-requests`
for an application load balancer, `load-balancer-no-flows` for a network or gateway one). Classic:
no instance (`elb-classic-no-instances`), every instance OutOfService (`elb-classic-out-of-service`),
instances in service but no request (`elb-classic-no-requests`).
"""

from __future__ import annotations

import math
from decimal import Decimal

from cloudwaste.scanner.domain import Detection, Resource
from cloudwaste.scanner.rules import Context, Fixtures, Metric, Param, Series, age_days, attach_fixtures, rule
from cloudwaste.scanner.rules.aws._common import NOW as _NOW
from cloudwaste.scanner.rules.aws._common import res, rounded

ELBV2 = "aws.elbv2.load_balancer"
CLASSIC = "aws.elb.load_balancer"
ELBV2_PERMISSIONS = (
    "elasticloadbalancing:DescribeLoadBalancers",
    "elasticloadbalancing:DescribeTargetGroups",
    "elasticloadbalancing:DescribeTargetHealth",
    "elasticloadbalancing:DescribeTags",
)
CLASSIC_PERMISSIONS = (
    "elasticloadbalancing:DescribeLoadBalancers",
    "elasticloadbalancing:DescribeTags",
    "elasticloadbalancing:DescribeInstanceHealth",
)
# Target health states in which a target serves no traffic (DescribeTargetHealth).
DOWN_STATES = ("unhealthy", "unused", "draining")

REQUESTS = Metric(
    "request_count",
    "AWS/ApplicationELB",
    "RequestCount",
    "LoadBalancer",
    "Sum",
    dimension_attribute="metric_dimension",
)
NLB_FLOWS = Metric(
    "new_flow_count_network",
    "AWS/NetworkELB",
    "NewFlowCount",
    "LoadBalancer",
    "Sum",
    dimension_attribute="metric_dimension",
)
GWLB_FLOWS = Metric(
    "new_flow_count_gateway",
    "AWS/GatewayELB",
    "NewFlowCount",
    "LoadBalancer",
    "Sum",
    dimension_attribute="metric_dimension",
)
CLASSIC_REQUESTS = Metric("classic_request_count", "AWS/ELB", "RequestCount", "LoadBalancerName", "Sum")

_MIN_AGE = Param(float, 7.0, "Ignore load balancers younger than this (being set up).", 0)
_WINDOW = Param(
    float,
    30.0,
    "Days of CloudWatch history judged (the load balancer must be older than that). Default after "
    "Steampipe Thrifty's unused load balancer controls (30 days).",
    1,
)
_NO_DATAPOINT = (
    "CloudWatch publishes no datapoint for a period without traffic: no datapoint over the whole "
    "window, on a load balancer older than the window, is read as no traffic"
)


def _age(r: Resource, ctx: Context) -> float | None:
    return age_days(r.created_at, ctx.now)


def _too_young(r: Resource, days: float, ctx: Context) -> bool:
    age = _age(r, ctx)
    return age is not None and age < days


def _targets_down(r: Resource) -> bool:
    """Targets registered, and every one of them unhealthy, unused or draining."""
    registered = r.attributes.get("registered_targets", 0)
    states = r.attributes.get("target_states") or {}
    return registered > 0 and sum(states.get(s, 0) for s in DOWN_STATES) >= registered


def _could_serve(r: Resource) -> bool:
    """Targets registered and not every one down: the load balancer could carry traffic."""
    return r.attributes.get("registered_targets", 0) > 0 and not _targets_down(r)


def _older_than_window(r: Resource, p, ctx: Context) -> bool:
    age = _age(r, ctx)
    return age is not None and age >= p["window_days"]


def _no_traffic(r: Resource, series: Series | None, p, ctx: Context, what: str) -> tuple[str, dict] | None:
    """(confidence, evidence) when `series` sums to zero over the window; None otherwise."""
    if series is None or series.total > 0:
        return None
    evidence = {
        f"{what}_total": 0,
        "window_days": math.ceil(p["window_days"]),
        "datapoints": series.got,
        what: series.evidence("count"),
        "age_days": rounded(_age(r, ctx)),
    }
    if series.got == 0:
        evidence["no_datapoints"] = _NO_DATAPOINT
    return ("HIGH" if series.got > 0 else "MEDIUM"), evidence


def _priced(ctx: Context, lb_type: str, evidence: dict) -> tuple[Decimal, dict]:
    return ctx.prices.load_balancer(lb_type), {**evidence, "type": lb_type, **ctx.prices.evidence()}


# --- load-balancer-no-targets ------------------------------------------------------------------


@rule(
    key="load-balancer-no-targets",
    provider="aws",
    resource_kind=ELBV2,
    title="Load balancer with no registered targets",
    permissions=ELBV2_PERMISSIONS,
    params={"min_age_days": _MIN_AGE},
    confidence_doc="HIGH when it has no target group at all or after 30 days, else MEDIUM.",
)
def load_balancer_no_targets(r: Resource, p, ctx: Context) -> Detection | None:
    """A load balancer with nothing behind it serves nobody but bills hourly. Traffic does not
    matter here: requests from bots or scanners reaching a load balancer with no target are still
    waste (so this rule reads no metric). Exclusive with the other ELBv2 rules, which all need
    registered targets."""
    if r.attributes.get("registered_targets", 1) > 0:
        return None
    age = _age(r, ctx)
    if age is not None and age < p["min_age_days"]:
        return None
    groups = r.attributes.get("target_group_count", 0)
    lb_type = r.attributes.get("type", "application")
    return Detection(
        scenario="load-balancer-no-targets",
        confidence="HIGH" if groups == 0 or (age or 0) >= 30 else "MEDIUM",
        monthly_cost=ctx.prices.load_balancer(lb_type),
        evidence={
            "registered_targets": 0,
            "target_group_count": groups,
            "type": lb_type,
            "age_days": rounded(age),
        },
    )


# --- load-balancer-unhealthy-targets ---------------------------------------------------------------


@rule(
    key="load-balancer-unhealthy-targets",
    provider="aws",
    resource_kind=ELBV2,
    title="Load balancer whose registered targets are all unhealthy, unused or draining",
    permissions=ELBV2_PERMISSIONS,
    params={"min_age_days": _MIN_AGE},
    confidence_doc="HIGH when every target is 'unused' (a stopped instance, a target group no "
    "listener uses, a zone the load balancer does not serve: a configuration state that does not "
    "heal by itself); MEDIUM when some are 'unhealthy' or 'draining' (target health is a snapshot "
    "of the scan's moment, and a failing health check may recover).",
)
def load_balancer_unhealthy_targets(r: Resource, p, ctx: Context) -> Detection | None:
    """A load balancer whose registered targets are all unhealthy, unused or draining
    (DescribeTargetHealth) forwards nothing: every request fails, yet it bills hourly. Older than
    `min_age_days` (7 by default, as `load-balancer-no-targets`: a new one is being set up). A load
    balancer with no target at all is `load-balancer-no-targets`; one with a single target in any
    other state (healthy, initial, unavailable) is not flagged here."""
    if not _targets_down(r) or _too_young(r, p["min_age_days"], ctx):
        return None
    states = r.attributes.get("target_states") or {}
    registered = r.attributes.get("registered_targets", 0)
    cost, evidence = _priced(
        ctx,
        r.attributes.get("type", "application"),
        {
            "registered_targets": registered,
            "healthy_targets": r.attributes.get("healthy_targets", 0),
            "target_states": dict(states),
            "target_group_count": r.attributes.get("target_group_count", 0),
            "age_days": rounded(_age(r, ctx)),
        },
    )
    return Detection(
        scenario="load-balancer-unhealthy-targets",
        confidence="HIGH" if states.get("unused", 0) >= registered else "MEDIUM",
        monthly_cost=cost,
        evidence=evidence,
    )


# --- load-balancer-no-requests ---------------------------------------------------------------------


def _alb_candidate(r: Resource, p, ctx: Context) -> bool:
    return (
        r.attributes.get("type", "application") == "application"
        and _could_serve(r)
        and _older_than_window(r, p, ctx)
    )


@rule(
    key="load-balancer-no-requests",
    provider="aws",
    resource_kind=ELBV2,
    title="Application load balancer with targets but no requests",
    permissions=(*ELBV2_PERMISSIONS, "cloudwatch:GetMetricData"),
    params={"window_days": _WINDOW},
    confidence_doc="HIGH when CloudWatch has RequestCount datapoints over the window and they sum "
    "to zero; MEDIUM when it has none at all (AWS publishes no RequestCount datapoint for a period "
    "without requests, so this is the usual idle signal, read on a load balancer older than the window).",
    metrics=(REQUESTS,),
    candidate=_alb_candidate,
)
def load_balancer_no_requests(r: Resource, p, ctx: Context) -> Detection | None:
    """An application load balancer with targets able to serve (not all unhealthy, unused or
    draining) that received no request over the window (daily sums of AWS/ApplicationELB
    RequestCount, dimension LoadBalancer = "app/<name>/<id>" from its ARN) bills hourly for
    nothing. After Steampipe Thrifty's `ec2_application_lb_unused` (no request in 30 days). AWS
    publishes no RequestCount datapoint when there is no request, so the absence of any datapoint
    is the idle signal: the load balancer must be older than the window (a younger one is never
    called idle), and the evidence says when no datapoint was found."""
    if not _alb_candidate(r, p, ctx):
        return None
    days = math.ceil(p["window_days"])
    verdict = _no_traffic(r, ctx.metric(r, REQUESTS.name, days), p, ctx, "requests")
    if verdict is None:
        return None
    confidence, evidence = verdict
    cost, evidence = _priced(
        ctx, "application", {**evidence, "healthy_targets": r.attributes.get("healthy_targets", 0)}
    )
    return Detection("load-balancer-no-requests", confidence, cost, evidence)


# --- load-balancer-no-flows ------------------------------------------------------------------------

_FLOWS = {"network": NLB_FLOWS, "gateway": GWLB_FLOWS}


def _flow_candidate(r: Resource, p, ctx: Context) -> bool:
    return r.attributes.get("type") in _FLOWS and _could_serve(r) and _older_than_window(r, p, ctx)


@rule(
    key="load-balancer-no-flows",
    provider="aws",
    resource_kind=ELBV2,
    title="Network or gateway load balancer with targets but no new flows",
    permissions=(*ELBV2_PERMISSIONS, "cloudwatch:GetMetricData"),
    params={"window_days": _WINDOW},
    confidence_doc="HIGH when CloudWatch has NewFlowCount datapoints over the window and they sum "
    "to zero; MEDIUM when it has none at all (read as no flow on a load balancer older than the window).",
    metrics=(NLB_FLOWS, GWLB_FLOWS),
    candidate=_flow_candidate,
)
def load_balancer_no_flows(r: Resource, p, ctx: Context) -> Detection | None:
    """A network or gateway load balancer with targets able to serve (not all unhealthy, unused or
    draining) that saw no new flow over the window (daily sums of NewFlowCount in AWS/NetworkELB or
    AWS/GatewayELB, dimension LoadBalancer = "net/<name>/<id>" or "gwy/<name>/<id>" from its ARN)
    bills hourly for nothing. After Steampipe Thrifty's unused network load balancer control
    (no flow in 30 days). The load balancer must be older than the window; no datapoint at all is
    read as no flow, and the evidence says so."""
    if not _flow_candidate(r, p, ctx):
        return None
    lb_type = r.attributes["type"]
    days = math.ceil(p["window_days"])
    verdict = _no_traffic(r, ctx.metric(r, _FLOWS[lb_type].name, days), p, ctx, "new_flows")
    if verdict is None:
        return None
    confidence, evidence = verdict
    cost, evidence = _priced(
        ctx, lb_type, {**evidence, "healthy_targets": r.attributes.get("healthy_targets", 0)}
    )
    return Detection("load-balancer-no-flows", confidence, cost, evidence)


# --- elb-classic-no-instances ----------------------------------------------------------------------


@rule(
    key="elb-classic-no-instances",
    provider="aws",
    resource_kind=CLASSIC,
    title="Classic load balancer with no registered instances",
    permissions=CLASSIC_PERMISSIONS,
    params={"min_age_days": _MIN_AGE},
    confidence_doc="HIGH after 30 days, else MEDIUM.",
)
def elb_classic_no_instances(r: Resource, p, ctx: Context) -> Detection | None:
    """A classic load balancer with no instance registered serves nobody but bills hourly (after
    AWS Trusted Advisor's "Idle Load Balancers" check, which flags classic load balancers with no
    active back-end instance). Older than `min_age_days` (being set up). Traffic does not matter:
    requests reaching a load balancer with nothing behind it are still waste."""
    if r.attributes.get("instance_count", 1) > 0 or _too_young(r, p["min_age_days"], ctx):
        return None
    age = _age(r, ctx)
    cost, evidence = _priced(ctx, "classic", {"instance_count": 0, "age_days": rounded(age)})
    return Detection("elb-classic-no-instances", "HIGH" if (age or 0) >= 30 else "MEDIUM", cost, evidence)


# --- elb-classic-out-of-service --------------------------------------------------------------------


def _all_out_of_service(r: Resource) -> bool:
    count = r.attributes.get("instance_count", 0)
    return count > 0 and r.attributes.get("out_of_service", 0) >= count


@rule(
    key="elb-classic-out-of-service",
    provider="aws",
    resource_kind=CLASSIC,
    title="Classic load balancer whose instances are all OutOfService",
    permissions=CLASSIC_PERMISSIONS,
    params={"min_age_days": _MIN_AGE},
    confidence_doc="MEDIUM: instance health is a snapshot of the scan's moment (a failing health "
    "check may recover).",
)
def elb_classic_out_of_service(r: Resource, p, ctx: Context) -> Detection | None:
    """A classic load balancer whose registered instances are all OutOfService
    (DescribeInstanceHealth: stopped, terminated or failing their health check) forwards nothing
    but bills hourly (AWS Trusted Advisor's "Idle Load Balancers" counts only active back-end
    instances). Older than `min_age_days`. One with no instance is `elb-classic-no-instances`; one
    with an instance in another state (InService, Unknown) is not flagged here."""
    if not _all_out_of_service(r) or _too_young(r, p["min_age_days"], ctx):
        return None
    cost, evidence = _priced(
        ctx,
        "classic",
        {
            "instance_count": r.attributes.get("instance_count", 0),
            "out_of_service": r.attributes.get("out_of_service", 0),
            "instance_states": dict(r.attributes.get("instance_states") or {}),
            "age_days": rounded(_age(r, ctx)),
        },
    )
    return Detection("elb-classic-out-of-service", "MEDIUM", cost, evidence)


# --- elb-classic-no-requests -----------------------------------------------------------------------


def _classic_candidate(r: Resource, p, ctx: Context) -> bool:
    return r.attributes.get("in_service", 0) > 0 and _older_than_window(r, p, ctx)


@rule(
    key="elb-classic-no-requests",
    provider="aws",
    resource_kind=CLASSIC,
    title="Classic load balancer with instances in service but no requests",
    permissions=(*CLASSIC_PERMISSIONS, "cloudwatch:GetMetricData"),
    params={"window_days": _WINDOW},
    confidence_doc="HIGH when CloudWatch has RequestCount datapoints over the window and they sum "
    "to zero; MEDIUM when it has none at all (AWS publishes no RequestCount datapoint for a period "
    "without requests: read as idle on a load balancer older than the window).",
    metrics=(CLASSIC_REQUESTS,),
    candidate=_classic_candidate,
)
def elb_classic_no_requests(r: Resource, p, ctx: Context) -> Detection | None:
    """A classic load balancer with instances InService that received no request over the window
    (daily sums of AWS/ELB RequestCount, dimension LoadBalancerName; for a TCP listener it counts
    connections) bills hourly for nothing: AWS Trusted Advisor's "Idle Load Balancers" flags low
    request counts, Steampipe Thrifty uses 30 days. AWS publishes no datapoint when there is no
    request, so the absence of any is the idle signal: the load balancer must be older than the
    window, and the evidence says when no datapoint was found."""
    if not _classic_candidate(r, p, ctx):
        return None
    days = math.ceil(p["window_days"])
    verdict = _no_traffic(r, ctx.metric(r, CLASSIC_REQUESTS.name, days), p, ctx, "requests")
    if verdict is None:
        return None
    confidence, evidence = verdict
    cost, evidence = _priced(ctx, "classic", {**evidence, "in_service": r.attributes.get("in_service", 0)})
    return Detection("elb-classic-no-requests", confidence, cost, evidence)


# --- fixtures: one resource that fires and one near miss per rule ---------------------------------


def _lb(arn: str, days: float, lb_type: str = "application", **states: int) -> Resource:
    registered = sum(states.values())
    return res(
        ELBV2,
        arn,
        days,
        type=lb_type,
        registered_targets=registered,
        healthy_targets=states.get("healthy", 0),
        target_states=dict(states),
        target_group_count=1,
        metric_dimension=arn.split(":loadbalancer/", 1)[-1],
    )


def _classic(name: str, days: float, **states: int) -> Resource:
    return res(
        CLASSIC,
        name,
        days,
        type="classic",
        instance_count=sum(states.values()),
        in_service=states.get("InService", 0),
        out_of_service=states.get("OutOfService", 0),
        instance_states=dict(states),
    )


_ARN = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer"
_NONE, _SOME = Series((), 30), Series((0.0,) * 29 + (12.0,), 30)

attach_fixtures(
    "load-balancer-no-targets",
    Fixtures(
        fires=res(
            ELBV2,
            "arn:lb/1",
            60,
            registered_targets=0,
            target_group_count=1,
            type="application",
        ),
        silent=res(
            ELBV2,
            "arn:lb/2",
            60,
            registered_targets=2,
            target_group_count=1,
            type="application",
        ),
        now=_NOW,
    ),
)
attach_fixtures(
    "load-balancer-unhealthy-targets",
    Fixtures(
        fires=_lb(f"{_ARN}/app/web/1", 60, unhealthy=1, unused=1),
        silent=_lb(f"{_ARN}/app/web/2", 60, unhealthy=1, healthy=1),  # one healthy target
        now=_NOW,
    ),
)
attach_fixtures(
    "load-balancer-no-requests",
    Fixtures(
        fires=_lb(f"{_ARN}/app/web/3", 60, healthy=2),
        silent=_lb(f"{_ARN}/app/web/4", 60, healthy=2),
        now=_NOW,
        series={
            (f"{_ARN}/app/web/3", "request_count", 30): _NONE,
            (f"{_ARN}/app/web/4", "request_count", 30): _SOME,  # 12 requests on the last day
        },
    ),
)
attach_fixtures(
    "load-balancer-no-flows",
    Fixtures(
        fires=_lb(f"{_ARN}/net/tcp/5", 60, "network", healthy=1),
        silent=_lb(f"{_ARN}/net/tcp/6", 60, "network", healthy=1),
        now=_NOW,
        series={
            (f"{_ARN}/net/tcp/5", "new_flow_count_network", 30): Series((0.0,) * 30, 30),
            (f"{_ARN}/net/tcp/6", "new_flow_count_network", 30): _SOME,
        },
    ),
)
attach_fixtures(
    "elb-classic-no-instances",
    Fixtures(fires=_classic("old-web", 60), silent=_classic("new-web", 3), now=_NOW),  # being set up
)
attach_fixtures(
    "elb-classic-out-of-service",
    Fixtures(
        fires=_classic("down-web", 60, OutOfService=2),
        silent=_classic("half-web", 60, OutOfService=1, InService=1),
        now=_NOW,
    ),
)
attach_fixtures(
    "elb-classic-no-requests",
    Fixtures(
        fires=_classic("quiet-web", 60, InService=2),
        silent=_classic("busy-web", 60, InService=2),
        now=_NOW,
        series={
            ("quiet-web", "classic_request_count", 30): _NONE,
            ("busy-web", "classic_request_count", 30): _SOME,
        },
    ),
)
