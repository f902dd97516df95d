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
    title="EKS cluster with no node groups and no Fargate profiles",
    permissions=("eks:ListClusters", "eks:DescribeCluster", "eks:ListNodegroups", "eks:ListFargateProfiles"),
    params={
        "min_age_days": Param(
            float, 14.0, "The cluster was created at least this many days ago (a new one is being set up).", 1
        )
    },
    confidence_doc="MEDIUM always: self-managed nodes (EC2 instances or Auto Scaling groups that join "
    "the cluster without an EKS node group) and Karpenter-launched nodes are invisible to the EKS "
    "API, so a cluster with such nodes looks empty here.",
)
def eks_cluster_no_nodes(r: Resource, p, ctx: Context) -> Detection | None:
    """An ACTIVE cluster created at least 14 days ago with no managed node group and no Fargate
    profile runs no pods on EKS-managed compute, yet its control plane bills by the hour. Likely
    a leftover of a test or a migration: delete it (or give it work). The age threshold is common
    FinOps practice: a cluster is usually given its nodes within days of its creation. Self-managed
    nodes cannot be seen through the EKS API (see the confidence)."""
    age = age_days(r.created_at, ctx.now)
    a = r.attributes
    if a.get("state") != "ACTIVE" or age is None or age < p["min_age_days"]:
        return None
    if int(a.get("nodegroup_count") or 0) or int(a.get("fargate_profile_count") or 0):
        return None
    price = ctx.prices.eks_cluster()
    evidence = {
        "state": "ACTIVE",
        "version": a.get("version"),
        "nodegroup_count": 0,
        "fargate_profile_count": 0,
        "age_days": rounded(age),
        "self_managed_nodes": "not visible through the EKS API",
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
        ),
        silent=res(
            KIND,
            "eks-fargate-1",
            40,
            state="ACTIVE",
            version="1.30",
            nodegroup_count=0,
            fargate_profile_count=1,
        ),
        now=_NOW,
    ),
)
