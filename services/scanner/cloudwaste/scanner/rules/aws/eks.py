"""EKS rules: clusters with no compute."""

from __future__ import annotations

from decimal import Decimal

from cloudwaste.scanner.domain import Detection, Resource
from cloudwaste.scanner.rules import Context, Fixtures, Param, age_days, attach_fixtures, rule
from cloudwaste.scanner.rules.aws._common import NOW as _NOW
from cloudwaste.scanner.rules.aws._common import res, rounded

KIND = "aws.eks.cluster"


@rule(
    key="eks-cluster-no-nodes",
    provider="aws",
    resource_kind=KIND,
    title="EKS cluster with no node groups, no Fargate profiles and no node instances",
    permissions=(
        "eks:ListClusters",
        "eks:DescribeCluster",
        "eks:ListNodegroups",
        "eks:ListFargateProfiles",
        "ec2:DescribeInstances",
        "ec2:DescribeVolumes",  # the instance listing reads the volumes
    ),
    params={
        "min_age_days": Param(
            float, 14.0, "The cluster was created at least this many days ago (a new one is being set up).", 1
        )
    },
    confidence_doc="MEDIUM always: self-managed and Karpenter-launched nodes are invisible to the EKS "
    "API and are recognised by their EC2 tags only; a node instance without the usual cluster tags "
    "(or one in another account) is not seen, and a cluster scaled to zero nodes looks empty.",
)
def eks_cluster_no_nodes(r: Resource, p, ctx: Context) -> Detection | None:
    """An ACTIVE cluster created at least 14 days ago with no managed node group, no Fargate
    profile and no node instance runs no pods, yet its control plane bills by the hour. Likely a
    leftover of a test or a migration: delete it (or give it work). The age threshold is common
    FinOps practice: a cluster is usually given its nodes within days of its creation.

    Not judged: a cluster in EKS Auto Mode (DescribeCluster `computeConfig.enabled`: EKS launches
    its nodes itself, with no node group), and a cluster with EC2 instances (not terminated, same
    region) tagged as its nodes: `eks:cluster-name` or `eks:eks-cluster-name` = the cluster's name
    (managed node groups, Karpenter), or a tag key `kubernetes.io/cluster/<name>` (self-managed
    nodes, Karpenter). Untagged self-managed nodes are not seen (see the confidence)."""
    age = age_days(r.created_at, ctx.now)
    a = r.attributes
    if a.get("state") != "ACTIVE" or age is None or age < p["min_age_days"]:
        return None
    if int(a.get("nodegroup_count") or 0) or int(a.get("fargate_profile_count") or 0):
        return None
    if a.get("auto_mode") or int(a.get("node_instance_count") or 0):
        return None
    price = ctx.prices.eks_cluster()
    evidence = {
        "state": "ACTIVE",
        "version": a.get("version"),
        "nodegroup_count": 0,
        "fargate_profile_count": 0,
        "auto_mode": False,
        "node_instance_count": 0,
        "age_days": rounded(age),
        "self_managed_nodes": "none tagged as this cluster's (eks:cluster-name, kubernetes.io/cluster/<name>)",
        **ctx.prices.evidence(),
    }
    if price is None:
        evidence["price"] = "no EKS cluster price for this region: priced at 0"
    return Detection(
        scenario="eks-cluster-no-nodes",
        confidence="MEDIUM",
        monthly_cost=price if price is not None else Decimal(0),
        evidence=evidence,
    )


# --- fixtures: one resource that fires and one near miss per rule ---------------------------------

attach_fixtures(
    "eks-cluster-no-nodes",
    Fixtures(
        fires=res(
            KIND,
            "eks-empty-1",
            40,
            state="ACTIVE",
            version="1.30",
            nodegroup_count=0,
            fargate_profile_count=0,
            auto_mode=False,
            node_instance_count=0,
        ),
        silent=res(
            KIND,
            "eks-fargate-1",
            40,
            state="ACTIVE",
            version="1.30",
            nodegroup_count=0,
            fargate_profile_count=1,
            auto_mode=False,
            node_instance_count=0,
        ),
        now=_NOW,
    ),
)
