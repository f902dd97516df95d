"""EKS kinds: clusters (the control plane), with their node groups and Fargate profiles counted."""

from __future__ import annotations

import datetime as dt

from botocore.exceptions import ClientError
from cloudwaste.scanner.domain import Resource
from cloudwaste.scanner.kinds import kind
from cloudwaste.scanner.kinds.aws._common import INSTANCE, PROVIDER, Deps, paginate, resource

EKS_CLUSTER = "aws.eks.cluster"
# Tags that tie an EC2 instance to a cluster: managed node groups write eks:cluster-name, Karpenter
# (v1) eks:eks-cluster-name, and self-managed nodes (eksctl, the EKS AMI's CloudFormation
# templates, Karpenter, the cluster autoscaler's convention) kubernetes.io/cluster/<name>.
_NAME_TAGS = ("eks:cluster-name", "eks:eks-cluster-name")
_CLUSTER_TAG_PREFIX = "kubernetes.io/cluster/"


def _node_instances(instances) -> dict[str, int]:
    """Cluster name -> how many listed (not terminated) instances are tagged as its nodes."""
    out: dict[str, int] = {}
    for i in instances:
        names = {i.tags[k] for k in _NAME_TAGS if i.tags.get(k)}
        names |= {k[len(_CLUSTER_TAG_PREFIX) :] for k in i.tags if k.startswith(_CLUSTER_TAG_PREFIX)}
        for name in names - {""}:
            out[name] = out.get(name, 0) + 1
    return out


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
    requires=(INSTANCE,),
)
def list_clusters(conn, region: str, now: dt.datetime, deps: Deps) -> list[Resource]:
    """Clusters: ListClusters (paginated), then per cluster DescribeCluster, ListNodegroups and
    ListFargateProfiles (both paginated): EKS has no batch describe and no account-wide node group
    listing, so this kind makes three calls per cluster. DescribeCluster says whether EKS Auto Mode
    runs the cluster's compute (`computeConfig.enabled`: `auto_mode`). Nodes outside node groups
    (self-managed, Karpenter-launched) are invisible to the EKS API: `node_instance_count` counts
    the region's listed EC2 instances (not terminated) tagged as the cluster's nodes
    (`eks:cluster-name` or `eks:eks-cluster-name` = the cluster's name, or a tag key
    `kubernetes.io/cluster/<name>`)."""
    client = conn.client("eks", region)
    nodes = _node_instances(deps.get(INSTANCE, ()))
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
                    "auto_mode": bool((c.get("computeConfig") or {}).get("enabled")),
                    "node_instance_count": nodes.get(name, 0),
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
