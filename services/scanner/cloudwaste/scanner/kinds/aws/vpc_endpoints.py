"""VPC endpoint kinds: endpoints of every type (only Interface endpoints bill by the hour)."""

from __future__ import annotations

import datetime as dt

from cloudwaste.scanner.domain import Resource
from cloudwaste.scanner.kinds import kind
from cloudwaste.scanner.kinds.aws._common import PROVIDER, Deps, paginate, resource, tags

VPC_ENDPOINT = "aws.ec2.vpc_endpoint"


@kind(
    key=VPC_ENDPOINT,
    provider=PROVIDER,
    title="VPC endpoint",
    operations=("ec2:DescribeVpcEndpoints",),
    id_field="VpcEndpointId",
    name_field="tag:Name",
    created_field="CreationTimestamp",
    ml_config={"endpoint_type": str, "subnet_count": int, "private_dns": bool, "requester_managed": bool},
)
def list_vpc_endpoints(conn, region: str, now: dt.datetime, deps: Deps) -> list[Resource]:
    """VPC endpoints that are not deleted (paginated), with their type, service, VPC and subnets
    (an Interface endpoint has one network interface, billed hourly, per subnet = zone)."""
    out = []
    for e in paginate(conn.client("ec2", region), "describe_vpc_endpoints", "VpcEndpoints"):
        state = (e.get("State") or "").lower()
        if state in ("deleted", "deleting", "failed", "rejected", "expired"):
            continue
        subnets = e.get("SubnetIds") or []
        out.append(
            resource(
                VPC_ENDPOINT,
                e,
                region,
                tags(e.get("Tags")),
                attributes={
                    "state": state,
                    "endpoint_type": e.get("VpcEndpointType"),
                    "vpc_id": e.get("VpcId"),
                    "service_name": e.get("ServiceName"),
                    "subnet_count": len(subnets),
                    "requester_managed": bool(e.get("RequesterManaged")),
                },
                config={
                    "endpoint_type": e.get("VpcEndpointType") or "",
                    "subnet_count": len(subnets),
                    "private_dns": bool(e.get("PrivateDnsEnabled")),
                    "requester_managed": bool(e.get("RequesterManaged")),
                },
            )
        )
    return out
