"""Load balancers (application, network, gateway and classic) and NAT gateways with little traffic.

Per variant (``ctx.count(share)`` of each, spread over the regions), in the core estate's VPC:

==============================  ===================================  ==========================================
variant                         what it is                           truth
==============================  ===================================  ==========================================
``alb.down``                    ALB, 8-400 days, its only target a   ``load-balancer-unhealthy-targets``
                                stopped instance ("unused")
``alb.down_young``              same, 1-5 days old                   near miss (being set up)
``alb.one_healthy``             stopped + running target, requests   near miss (one healthy target)
``alb.quiet``                   ALB, 32-600 days, healthy target,    ``load-balancer-no-requests``
                                no RequestCount datapoint at all
``alb.quiet_young``             same, 15-28 days old                 near miss (younger than the window)
``alb.busy``                    healthy target, requests on a few    near miss
                                days of the 30 only
``nlb.quiet`` / ``gwlb.quiet``  healthy target, zero NewFlowCount    ``load-balancer-no-flows``
                                (explicit zeros or no datapoint)
``nlb.busy``                    NLB with flows                       near miss
``clb.empty``                   classic ELB, no instance, 8-400 d    ``elb-classic-no-instances``
``clb.empty_young``             same, 1-5 days old                   near miss
``clb.down``                    only a stopped (OutOfService) one    ``elb-classic-out-of-service``
``clb.quiet``                   InService instance, no RequestCount  ``elb-classic-no-requests``
``clb.quiet_young``             same, 15-28 days old                 near miss
``clb.busy``                    one InService, one OutOfService,     near miss
                                requests
``nat.low``                     NAT, 35-700 days, 1-20 MiB a day     ``nat-gateway-low-traffic``
``nat.above``                   0.034-0.045 GB a day on average      near miss (just above 0.03)
``nat.gappy``                   low, but 20 of 30 days of data       near miss (coverage below 80%)
==============================  ===================================  ==========================================

Every core ALB with targets has a RequestCount history from the core estate itself
(``load-balancer-no-requests`` would otherwise fire on it: AWS publishes no datapoint without
requests).

Targets come from a pool per region: two running instances (busy CPU and network history, so that
``ec2-instance-idle`` stays silent; gp3 root volumes) and one instance stopped 3-10 days ago after
it was registered (moto then reports it "unused" in a target group and OutOfService in a classic
ELB; ``ec2-instance-stopped`` needs 30 days). Every pool instance and volume is a near miss.

moto gaps: its ELBv2 ARNs are "loadbalancer/app/..." for every type (AWS: "net/", "gwy/"); the
scanner takes the CloudWatch dimension from the ARN, and so does this module, so both agree.
moto refuses to register a stopped instance in a target group, hence "registered, then stopped".
Classic ELBs get the VPC's default security group (moto would otherwise create one per ELB).

Actions: classic ELBs are deleted, or fixed (an InService instance registered if none is, and
requests an hour before now). ELBv2 load balancers and NAT gateways go through the core estate's
handlers (:func:`cloudwaste.sim.aws.act_on` looks those up first): delete works on every variant;
the core's NAT "fix" (2.9 GB an hour ago) lifts a low-traffic gateway above the threshold, but its
load balancer "fix" (a running instance registered) leaves an old ALB with no request history.
"""

from __future__ import annotations

import random
import re
from datetime import datetime, timedelta
from typing import Any

from ..estate_moto import BackendWriter, naive
from . import SeedContext, ServiceEstate

ELBV2 = "aws.elbv2.load_balancer"
CLASSIC = "aws.elb.load_balancer"
NAT_GATEWAY = "aws.ec2.nat_gateway"
ELASTIC_IP = "aws.ec2.elastic_ip"
INSTANCE = "aws.ec2.instance"
VOLUME = "aws.ec2.volume"

UNHEALTHY = "load-balancer-unhealthy-targets"
NO_REQUESTS = "load-balancer-no-requests"
NO_FLOWS = "load-balancer-no-flows"
CLB_EMPTY = "elb-classic-no-instances"
CLB_DOWN = "elb-classic-out-of-service"
CLB_QUIET = "elb-classic-no-requests"
NAT_LOW = "nat-gateway-low-traffic"

GIB = 1024**3
MIB = 1024**2
NAT_LOW_GB_PER_DAY = 0.03  # the rule's default max_gb_per_day
WINDOW_DAYS = 30

_FIRE, _NEAR = 0.0015, 0.001
# variant -> (share of ctx.size, scenario when it must fire)
VARIANTS: dict[str, tuple[float, str | None]] = {
    "alb.down": (_FIRE, UNHEALTHY),
    "alb.down_young": (_NEAR, None),
    "alb.one_healthy": (_NEAR, None),
    "alb.quiet": (_FIRE, NO_REQUESTS),
    "alb.quiet_young": (_NEAR, None),
    "alb.busy": (_NEAR, None),
    "nlb.quiet": (_FIRE, NO_FLOWS),
    "nlb.busy": (_NEAR, None),
    "gwlb.quiet": (_NEAR, NO_FLOWS),
    "clb.empty": (_FIRE, CLB_EMPTY),
    "clb.empty_young": (_NEAR, None),
    "clb.down": (_FIRE, CLB_DOWN),
    "clb.quiet": (_FIRE, CLB_QUIET),
    "clb.quiet_young": (_NEAR, None),
    "clb.busy": (_NEAR, None),
    "nat.low": (_FIRE, NAT_LOW),
    "nat.above": (_NEAR, None),
    "nat.gappy": (_NEAR, None),
}
_LB_TYPE = {"alb": "application", "nlb": "network", "gwlb": "gateway"}
# Rough us-east-1 list prices, USD a month: only to feed the simulated decisions.
_MONTHLY = {"application": 16.43, "network": 16.43, "gateway": 9.13, "classic": 18.25, "nat": 32.85}
_INSTANCE_TYPES = ("t3.medium", "m5.large", "c5.xlarge")
_FAKE_AMI = "ami-0c0ffee0000051a7e"
_ROOT = "/dev/sda1"
_USAGE_DAYS = 16


def _log_uniform(rng: random.Random, lo: float, hi: float) -> float:
    return lo * (hi / lo) ** rng.random()


def _age(rng: random.Random, variant: str) -> float:
    if variant.endswith("_young"):
        young = variant.startswith(("alb.down", "clb.empty"))
        return round(rng.uniform(1, 5) if young else rng.uniform(15, 28), 3)
    if variant in ("alb.down", "alb.one_healthy", "clb.empty", "clb.down"):
        return round(_log_uniform(rng, 8, 400), 3)
    if variant.startswith("nat."):
        return round(_log_uniform(rng, 35, 700), 3)
    return round(_log_uniform(rng, 32, 600), 3)


def _dimension(arn: str) -> str:
    """The CloudWatch `LoadBalancer` dimension: the ARN after "loadbalancer/"."""
    return arn.split(":loadbalancer/", 1)[1]


def _name(tags: dict[str, str], prefix: str, n: int) -> str:
    role = re.sub(r"[^a-z0-9]", "", re.split(r"[-\s.@]", tags["Name"].lower())[0])[:8] or "lb"
    return f"{tags['team']}-{role}-{prefix}{n:03d}"[:32]


def _nat_traffic(rng: random.Random, variant: str) -> list[tuple[float, float] | None]:
    """(bytes out, bytes in) per day, newest first; None: no datapoint that day."""
    if variant == "nat.above":
        mean = rng.uniform(0.034, 0.045) * GIB
    else:
        mean = _log_uniform(rng, 1, 20) * MIB
    raw = [rng.uniform(0.3, 1.7) for _ in range(WINDOW_DAYS)]
    scale = mean * WINDOW_DAYS / sum(raw)  # the average per day is exactly `mean`
    days: list[tuple[float, float] | None] = []
    for r in raw:
        total = r * scale
        share_out = rng.uniform(0.6, 0.9)
        days.append((round(total * share_out), round(total * (1 - share_out))))
    if variant == "nat.gappy":  # 10 of the 30 days without data: coverage 67%
        for d in rng.sample(range(WINDOW_DAYS), 10):
            days[d] = None
    return days


class _Region:
    """One region's pool of target instances and the calls that create the rest."""

    def __init__(self, ctx: SeedContext, region: str, rng: random.Random, truth: list) -> None:
        self.ctx, self.region, self.rng, self.truth = ctx, region, rng, truth
        net = ctx.networks[region]
        self.vpc_id, self.subnets = net.vpc_id, list(net.subnet_ids)
        self.writer = BackendWriter(ctx.account_id, region, probe_vpc_id=net.vpc_id)
        self.elbv2 = ctx.client("elbv2", region)
        self.elb = ctx.client("elb", region)
        self.elb_backend = ctx.backend("elb", region)
        self.running: list[str] = []
        self.to_stop: Any = None
        self.metrics: dict[str, list[dict[str, Any]]] = {}
        self.n = 0
        ec2 = ctx.backend("ec2", region)
        self.default_sg = next(
            g.id for g in ec2.describe_security_groups() if g.vpc_id == self.vpc_id and g.name == "default"
        )

    # pool ---------------------------------------------------------------------------------------

    def make_pool(self) -> None:
        for i in range(3):
            tags = self.ctx.tags(self.rng, "instance")
            launched = self.ctx.ago(round(_log_uniform(self.rng, 60, 500), 3))
            instance = self.writer.run_instance(
                image_id=_FAKE_AMI,
                instance_type=self.rng.choice(_INSTANCE_TYPES),
                subnet_id=self.subnets[i % len(self.subnets)],
                disks=[(_ROOT, self.rng.choice((8, 16, 30)), "gp3", True)],
                tags=tags,
                launched=launched,
            )
            self.truth.append(self.ctx.truth(instance.id, INSTANCE, self.region, tags))
            self.truth.append(
                self.ctx.truth(instance.block_device_mapping[_ROOT].volume_id, VOLUME, self.region, tags)
            )
            self._busy_history(instance.id)
            if i < 2:
                self.running.append(instance.id)
            else:
                self.to_stop = instance

    def _busy_history(self, instance_id: str) -> None:
        dims = {"InstanceId": instance_id}
        n = _USAGE_DAYS
        points = self.ctx.daily_points(
            "CPUUtilization", dims, [round(self.rng.uniform(15, 70), 2) for _ in range(n)], "Percent"
        )
        for metric in ("NetworkIn", "NetworkOut"):
            values = [_log_uniform(self.rng, 50, 20_000) * MIB for _ in range(n)]
            points += self.ctx.daily_points(metric, dims, values, "Bytes")
        self.metrics.setdefault("AWS/EC2", []).extend(points)

    def stop_pool(self) -> None:
        """Stop the pool's third instance, registered as a target by now, 3-10 days ago."""
        self.writer.stop_instances([self.to_stop], [self.ctx.ago(self.rng.uniform(3, 10))])

    # load balancers ------------------------------------------------------------------------------

    def elbv2_lb(self, variant: str, tags: dict[str, str], age: float) -> str:
        family = variant.split(".", 1)[0]
        lb_type = _LB_TYPE[family]
        self.n += 1
        name = _name(tags, family[0], self.n)
        kw: dict[str, Any] = {"Name": name, "Subnets": self.subnets, "Type": lb_type}
        kw["Tags"] = [{"Key": k, "Value": v} for k, v in tags.items()]
        arn = self.elbv2.create_load_balancer(**kw)["LoadBalancers"][0]["LoadBalancerArn"]
        from moto.core.utils import iso_8601_datetime_with_milliseconds

        backend = self.ctx.backend("elbv2", self.region)
        backend.load_balancers[arn].created_time = iso_8601_datetime_with_milliseconds(
            naive(self.ctx.ago(age))
        )
        group: dict[str, Any] = {"Name": f"{name[:28]}-tg", "VpcId": self.vpc_id, "TargetType": "instance"}
        listener: dict[str, Any] = {"LoadBalancerArn": arn}
        if lb_type == "application":
            group |= {"Protocol": "HTTP", "Port": 80}
            listener |= {"Protocol": "HTTP", "Port": 80}
        elif lb_type == "network":
            group |= {"Protocol": "TCP", "Port": 80}
            listener |= {"Protocol": "TCP", "Port": 80}
        else:
            group |= {"Protocol": "GENEVE", "Port": 6081}
        group_arn = self.elbv2.create_target_group(**group)["TargetGroups"][0]["TargetGroupArn"]
        self.elbv2.create_listener(
            **listener, DefaultActions=[{"Type": "forward", "TargetGroupArn": group_arn}]
        )
        targets = []
        if variant.startswith("alb.down") or variant == "alb.one_healthy":
            targets.append(self.to_stop.id)
        if not variant.startswith("alb.down"):
            targets.append(self.rng.choice(self.running))
        self.elbv2.register_targets(TargetGroupArn=group_arn, Targets=[{"Id": t} for t in targets])
        dims = {"LoadBalancer": _dimension(arn)}
        if variant in ("alb.busy", "alb.one_healthy"):
            self.requests("AWS/ApplicationELB", "RequestCount", dims, sparse=variant == "alb.busy")
        elif variant == "nlb.busy":
            self.requests("AWS/NetworkELB", "NewFlowCount", dims, sparse=False)
        elif variant in ("nlb.quiet", "gwlb.quiet") and self.rng.random() < 0.5:
            namespace = "AWS/NetworkELB" if lb_type == "network" else "AWS/GatewayELB"
            zeros = self.ctx.daily_points("NewFlowCount", dims, [0.0] * WINDOW_DAYS, "Count")
            self.metrics.setdefault(namespace, []).extend(zeros)
        return arn

    def classic_lb(self, variant: str, tags: dict[str, str], age: float) -> str:
        self.n += 1
        name = _name(tags, "c", self.n)
        self.elb.create_load_balancer(
            LoadBalancerName=name,
            Listeners=[{"Protocol": "HTTP", "LoadBalancerPort": 80, "InstancePort": 80}],
            Subnets=self.subnets,
            SecurityGroups=[self.default_sg],
            Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
        )
        created = self.ctx.ago(age)
        self.elb_backend.load_balancers[name].created_time = created
        instances = []
        if variant in ("clb.down", "clb.busy"):
            instances.append(self.to_stop.id)
        if variant in ("clb.quiet", "clb.quiet_young", "clb.busy"):
            instances.append(self.rng.choice(self.running))
        if instances:
            self.elb.register_instances_with_load_balancer(
                LoadBalancerName=name, Instances=[{"InstanceId": i} for i in instances]
            )
        if variant == "clb.busy":
            self.requests("AWS/ELB", "RequestCount", {"LoadBalancerName": name}, sparse=False)
        return name

    def requests(self, namespace: str, metric: str, dims: dict[str, str], *, sparse: bool) -> None:
        """A daily history over the window: every day, or (sparse) a handful of days only."""
        values = [round(_log_uniform(self.rng, 20, 50_000)) for _ in range(WINDOW_DAYS)]
        points = self.ctx.daily_points(metric, dims, values, "Count")
        if sparse:
            points = self.rng.sample(points, self.rng.randint(1, 5))
        self.metrics.setdefault(namespace, []).extend(points)

    # NAT gateways --------------------------------------------------------------------------------

    def nat(self, variant: str, tags: dict[str, str], age: float, n: int) -> tuple[str, str]:
        eip_tags = self.ctx.tags(self.rng, "elastic_ip")
        address = self.writer.allocate_address(eip_tags)
        nat = self.writer.create_nat_gateway(
            subnet_id=self.subnets[n % len(self.subnets)],
            allocation_id=address.allocation_id,
            tags=tags,
            created=self.ctx.ago(age),
        )
        self.truth.append(self.ctx.truth(address.allocation_id, ELASTIC_IP, self.region, eip_tags))
        dims = {"NatGatewayId": nat.id}
        for day, traffic in enumerate(_nat_traffic(self.rng, variant)):
            if traffic is None:
                continue
            for metric, value in zip(("BytesOutToDestination", "BytesInFromSource"), traffic, strict=True):
                point = self.ctx.daily_points(metric, dims, [value], "Bytes", newest_hours_ago=1 + 24 * day)
                self.metrics.setdefault("AWS/NATGateway", []).extend(point)
        return nat.id, address.allocation_id

    def flush(self) -> None:
        for namespace, points in self.metrics.items():
            self.ctx.put_metrics(self.region, namespace, points)
        self.metrics = {}


def seed(ctx: SeedContext) -> list:
    rng = ctx.rng("load_balancers")
    plan: dict[str, list[tuple[str, str, dict[str, str], float]]] = {r: [] for r in ctx.regions}
    for variant, (share, _scenario) in VARIANTS.items():
        for _ in range(ctx.count(share)):
            kind = variant.split(".", 1)[0]
            tag_kind = "nat_gateway" if kind == "nat" else "load_balancer"
            plan[ctx.pick_region(rng)].append((variant, kind, ctx.tags(rng, tag_kind), _age(rng, variant)))
    decisions = ctx.rng("load_balancers:decisions")
    truth: list = []
    for region in ctx.regions:
        region_rng = ctx.rng(f"load_balancers:{region}")
        r = _Region(ctx, region, region_rng, truth)
        r.make_pool()
        for n, (variant, kind, tags, age) in enumerate(plan[region]):
            scenario = VARIANTS[variant][1]
            if kind == "nat":
                rid, _eip = r.nat(variant, tags, age, n)
                rtype, cost = NAT_GATEWAY, _MONTHLY["nat"]
            elif kind == "clb":
                rid, rtype, cost = r.classic_lb(variant, tags, age), CLASSIC, _MONTHLY["classic"]
            else:
                rid, rtype, cost = r.elbv2_lb(variant, tags, age), ELBV2, _MONTHLY[_LB_TYPE[kind]]
            decision = None
            if scenario is not None:
                decision = ctx.decide(
                    decisions, tags=tags, scenario=scenario, age_days=age, monthly_cost=cost
                )
            truth.append(ctx.truth(rid, rtype, region, tags, scenario, decision))
        r.stop_pool()
        r.flush()
    return truth


# --- what users do between two scans ---------------------------------------------------------------


def _running_in(ec2: Any, vpc_id: str) -> list[str]:
    flt = [
        {"Name": "instance-state-name", "Values": ["running"]},
        {"Name": "vpc-id", "Values": [vpc_id]},
    ]
    return [
        i["InstanceId"]
        for page in ec2.get_paginator("describe_instances").paginate(Filters=flt)
        for res in page["Reservations"]
        for i in res["Instances"]
    ]


def _delete_classic(c: Any, name: str, _now: datetime) -> None:
    c.elb.delete_load_balancer(LoadBalancerName=name)


def _fix_classic(c: Any, name: str, now: datetime) -> None:
    """An instance in service behind it, and requests an hour before `now`: it serves again."""
    lb = c.elb.describe_load_balancers(LoadBalancerNames=[name])["LoadBalancerDescriptions"][0]
    health = (
        c.elb.describe_instance_health(LoadBalancerName=name)["InstanceStates"] if lb["Instances"] else []
    )
    if not any(h["State"] == "InService" for h in health):
        running = _running_in(c.ec2, lb["VPCId"])
        if not running:
            raise LookupError(f"no running instance in {lb['VPCId']} to register behind {name}")
        c.elb.register_instances_with_load_balancer(
            LoadBalancerName=name, Instances=[{"InstanceId": running[0]}]
        )
    c.cloudwatch.put_metric_data(
        Namespace="AWS/ELB",
        MetricData=[
            {
                "MetricName": "RequestCount",
                "Dimensions": [{"Name": "LoadBalancerName", "Value": name}],
                "Timestamp": naive(now - timedelta(hours=1)),
                "Value": 1200.0,
                "Unit": "Count",
            }
        ],
    )


SERVICE = ServiceEstate(
    name="load_balancers",
    seed=seed,
    actions={(CLASSIC, "delete"): _delete_classic, (CLASSIC, "fix"): _fix_classic},
    doc=__doc__ or "",
)
