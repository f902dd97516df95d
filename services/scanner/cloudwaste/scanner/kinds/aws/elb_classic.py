"""Elastic Load Balancing (classic) kind: the previous generation of load balancers."""

from __future__ import annotations

import datetime as dt

from cloudwaste.scanner.domain import Resource
from cloudwaste.scanner.kinds import kind
from cloudwaste.scanner.kinds.aws._common import PROVIDER, Deps, paginate, resource, tags

CLASSIC_LOAD_BALANCER = "aws.elb.load_balancer"

# --- aws.elb.load_balancer ------------------------------------------------------------------------


@kind(
    key=CLASSIC_LOAD_BALANCER,
    provider=PROVIDER,
    title="Classic Elastic Load Balancer",
    operations=(
        "elasticloadbalancing:DescribeLoadBalancers",
        "elasticloadbalancing:DescribeTags",
        "elasticloadbalancing:DescribeInstanceHealth",
    ),
    id_field="LoadBalancerName",
    name_field="LoadBalancerName",
    created_field="CreatedTime",
    ml_config={"scheme": str, "instance_count": int, "listener_count": int},
)
def list_classic_load_balancers(conn, region: str, now: dt.datetime, deps: Deps) -> list[Resource]:
    """Classic load balancers (id: the name, unique in a region, also their CloudWatch dimension
    `LoadBalancerName`) with their registered instances and how many are InService / OutOfService.
    DescribeLoadBalancers is paginated and DescribeTags takes 20 names a call; DescribeInstanceHealth
    takes one load balancer, so the listing makes one such call per load balancer, and only for
    those with registered instances (the API offers no batch form)."""
    elb = conn.client("elb", region)
    lbs = list(paginate(elb, "describe_load_balancers", "LoadBalancerDescriptions"))
    if not lbs:
        return []
    names = [lb["LoadBalancerName"] for lb in lbs]
    tags_by_name: dict[str, dict[str, str]] = {}
    for i in range(0, len(names), 20):
        for d in elb.describe_tags(LoadBalancerNames=names[i : i + 20]).get("TagDescriptions", []):
            tags_by_name[d["LoadBalancerName"]] = tags(d.get("Tags"))
    out = []
    for lb in lbs:
        name = lb["LoadBalancerName"]
        instances = [i["InstanceId"] for i in lb.get("Instances") or []]
        states: dict[str, int] = {}
        if instances:
            for h in elb.describe_instance_health(LoadBalancerName=name).get("InstanceStates", []):
                state = h.get("State") or "Unknown"
                states[state] = states.get(state, 0) + 1
        listeners = lb.get("ListenerDescriptions") or []
        t = tags_by_name.get(name, {})
        out.append(
            resource(
                CLASSIC_LOAD_BALANCER,
                lb,
                region,
                t,
                name=t.get("Name", "") or name,
                attributes={
                    "type": "classic",
                    "scheme": lb.get("Scheme"),
                    "vpc_id": lb.get("VPCId"),
                    "instance_count": len(instances),
                    "in_service": states.get("InService", 0),
                    "out_of_service": states.get("OutOfService", 0),
                    "instance_states": dict(sorted(states.items())),
                    "listener_protocols": sorted(
                        {(x.get("Listener") or {}).get("Protocol", "").upper() for x in listeners}
                    ),
                },
                config={
                    "scheme": lb.get("Scheme"),
                    "instance_count": len(instances),
                    "listener_count": len(listeners),
                },
            )
        )
    return out
