"""EKS kinds: clusters (the control plane), with their node groups and Fargate profiles counted."""

from __future__ import annotations

import datetime as dt

from botocore.exceptions import ClientError
from cloudwaste.scanner.domain import Resource
from cloudwaste.scanner.kinds import kind
from cloudwaste.scanner.kinds.aws._common import PROVIDER, Deps, paginate, resource

EKS_CLUSTER = "aws.eks.cluster"

# --- aws.eks.cluster ------------------------------------------------------------------------------


@kind(
    key=EKS_CLUSTER,
    provider=PROVIDER,
    title="EKS cluster",
    operations=("eks:ListClusters", "eks:DescribeCluster", "eks:ListNodegroups", "eks:ListFargateProfiles"),
    id_field="name",
    name_field="name",
    created_field="createdAt",
    ml_config={"version": str, "state": str, "nodegroup_count": int, "fargate_profile_count": int},
)
def list_clusters(conn, region: str, now: dt.datetime, deps: Deps) -> list[Resource]:
    """Clusters: ListClusters (paginated), then per cluster DescribeCluster, ListNodegroups and
    ListFargateProfiles (both paginated): EKS has no batch describe and no account-wide node group
    listing, so this kind makes three calls per cluster. Self-managed nodes (EC2 instances or
    Auto Scaling groups joined to the cluster outside EKS) are not visible this way."""
    client = conn.client("eks", region)
    out = []
    for name in paginate(client, "list_clusters", "clusters"):
        try:
            c = client.describe_cluster(name=name)["cluster"]
            nodegroups = list(paginate(client, "list_nodegroups", "nodegroups", clusterName=name))
            profiles = list(
                paginate(client, "list_fargate_profiles", "fargateProfileNames", clusterName=name)
            )
        except ClientError as exc:  # deleted since ListClusters: gone
            if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                continue
            raise
        out.append(
            resource(
                EKS_CLUSTER,
                c,
                region,
                dict(c.get("tags") or {}),
                attributes={
                    "state": c.get("status"),
                    "version": c.get("version"),
                    "nodegroup_count": len(nodegroups),
                    "fargate_profile_count": len(profiles),
                },
                config={
                    "version": c.get("version"),
                    "state": c.get("status"),
                    "nodegroup_count": len(nodegroups),
                    "fargate_profile_count": len(profiles),
                },
            )
        )
    return out
