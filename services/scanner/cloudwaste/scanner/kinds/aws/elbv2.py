"""Elastic Load Balancing v2 kinds: application, network and gateway load balancers."""

from __future__ import annotations

import datetime as dt

from cloudwaste.scanner.domain import Resource
from cloudwaste.scanner.kinds import kind
from cloudwaste.scanner.kinds.aws._common import LOAD_BALANCER, PROVIDER, Deps, paginate, resource, tags


def metric_dimension(arn: str) -> str:
    """The CloudWatch `LoadBalancer` dimension of a load balancer: the end of its ARN after
    "loadbalancer/", i.e. "app/<name>/<id>", "net/<name>/<id>" or "gwy/<name>/<id>"."""
    return arn.split(":loadbalancer/", 1)[1] if ":loadbalancer/" in arn else ""


# --- aws.elbv2.load_balancer ----------------------------------------------------------------------


@kind(
    key=LOAD_BALANCER,
    provider=PROVIDER,
    title="Elastic Load Balancing v2 load balancer (application, network, gateway)",
    operations=(
        "elasticloadbalancing:DescribeLoadBalancers",
        "elasticloadbalancing:DescribeTargetGroups",
        "elasticloadbalancing:DescribeTargetHealth",
        "elasticloadbalancing:DescribeTags",
    ),
    id_field="LoadBalancerArn",
    name_field="LoadBalancerName",
    created_field="CreatedTime",
    ml_config={"type": str, "scheme": str, "target_group_count": int},
)
def list_load_balancers(conn, region: str, now: dt.datetime, deps: Deps) -> list[Resource]:
    """Load balancers with the number of target groups behind each, and of the targets registered
    in them: in total, healthy, and per health state (`target_states`). DescribeTargetHealth takes
    one target group, so the listing makes one such call per target group behind a load balancer
    (the API offers no batch form; a target group no load balancer uses is not asked about); DescribeTags takes 20 load balancers a call. `metric_dimension` is the
    CloudWatch `LoadBalancer` dimension taken from the ARN ("app/<name>/<id>", "net/...", "gwy/...")."""
    elbv2 = conn.client("elbv2", region)
    lbs = list(paginate(elbv2, "describe_load_balancers", "LoadBalancers"))
    if not lbs:
        return []
    targets: dict[str, int] = {}
    healthy: dict[str, int] = {}
    states: dict[str, dict[str, int]] = {}
    group_count: dict[str, int] = {}
    first_group: dict[str, str] = {}
    for g in paginate(elbv2, "describe_target_groups", "TargetGroups"):
        if not g.get("LoadBalancerArns"):  # behind no load balancer: nothing here reads its targets
            continue
        health = elbv2.describe_target_health(TargetGroupArn=g["TargetGroupArn"]).get(
            "TargetHealthDescriptions", []
        )
        group_states: dict[str, int] = {}
        for h in health:
            state = (h.get("TargetHealth") or {}).get("State") or "unknown"
            group_states[state] = group_states.get(state, 0) + 1
        for lb_arn in g.get("LoadBalancerArns", []):
            targets[lb_arn] = targets.get(lb_arn, 0) + len(health)
            healthy[lb_arn] = healthy.get(lb_arn, 0) + group_states.get("healthy", 0)
            group_count[lb_arn] = group_count.get(lb_arn, 0) + 1
            first_group[lb_arn] = min(first_group.get(lb_arn, g["TargetGroupArn"]), g["TargetGroupArn"])
            merged = states.setdefault(lb_arn, {})
            for state, n in group_states.items():
                merged[state] = merged.get(state, 0) + n
    tags_by_arn: dict[str, dict[str, str]] = {}
    arns = [lb["LoadBalancerArn"] for lb in lbs]
    for i in range(0, len(arns), 20):
        for d in elbv2.describe_tags(ResourceArns=arns[i : i + 20]).get("TagDescriptions", []):
            tags_by_arn[d["ResourceArn"]] = tags(d.get("Tags"))
    out = []
    for lb in lbs:
        arn = lb["LoadBalancerArn"]
        t = tags_by_arn.get(arn, {})
        lb_type = lb.get("Type", "application")
        out.append(
            resource(
                LOAD_BALANCER,
                lb,
                region,
                t,
                name=t.get("Name", "") or lb.get("LoadBalancerName", ""),
                attributes={
                    "type": lb_type,
                    "state": lb.get("State", {}).get("Code"),
                    "registered_targets": targets.get(arn, 0),
                    "healthy_targets": healthy.get(arn, 0),
                    "target_states": dict(sorted(states.get(arn, {}).items())),
                    "target_group_count": group_count.get(arn, 0),
                    "metric_dimension": metric_dimension(arn),
                },
                config={
                    "type": lb_type,
                    "scheme": lb.get("Scheme"),
                    "target_group_count": group_count.get(arn, 0),
                },
                # its target groups (the first by ARN stands for them): "empty" when none of them
                # has a registered target, "in_use" otherwise
                parent_id=first_group.get(arn),
                parent_kind=TARGET_GROUP if arn in first_group else None,
                parent_state=("in_use" if targets.get(arn) else "empty") if arn in first_group else None,
            )
        )
    return out


TARGET_GROUP = "aws.elbv2.target_group"  # not a kind CloudWaste lists: a parent only
