"""Redshift rules: idle provisioned clusters and clusters paused for a long time."""

from __future__ import annotations

import math
from decimal import Decimal

from cloudwaste.scanner.domain import Detection, Resource
from cloudwaste.scanner.rules import Context, Fixtures, Metric, Param, Series, age_days, attach_fixtures, rule
from cloudwaste.scanner.rules.aws._common import NOW as _NOW
from cloudwaste.scanner.rules.aws._common import res, rounded

KIND = "aws.redshift.cluster"
PERMISSIONS = ("redshift:DescribeClusters", "cloudwatch:GetMetricData")

CONNECTIONS = Metric(
    "database_connections", "AWS/Redshift", "DatabaseConnections", "ClusterIdentifier", "Maximum"
)
CPU = Metric("cpu_maximum", "AWS/Redshift", "CPUUtilization", "ClusterIdentifier", "Maximum")

# --- redshift-cluster-idle ------------------------------------------------------------------------


def _available_for_the_window(r: Resource, p, ctx: Context) -> bool:
    """An available cluster created at least a window ago (a younger one is never called idle)."""
    age = age_days(r.created_at, ctx.now)
    return r.attributes.get("state") == "available" and age is not None and age >= p["window_days"]


@rule(
    key="redshift-cluster-idle",
    provider="aws",
    resource_kind=KIND,
    title="Redshift cluster with no database connections",
    permissions=PERMISSIONS,
    params={
        "window_days": Param(
            float, 7.0, "Days of CloudWatch history judged (the cluster must be that old).", 1
        ),
        "max_connections": Param(float, 0.0, "Every day's peak DatabaseConnections at most this.", 0),
        "min_coverage": Param(
            float, 0.85, "Share of the window's days that must have datapoints (else: not judged).", 0.1
        ),
    },
    confidence_doc="HIGH when every day of the window has data; MEDIUM when a few days are missing "
    "(at least min_coverage of them must have data).",
    metrics=(CONNECTIONS,),
    candidate=_available_for_the_window,
)
def redshift_cluster_idle(r: Resource, p, ctx: Context) -> Detection | None:
    """An available provisioned cluster, at least 7 days old, that had no database connection at
    any time of the last 7 days (DatabaseConnections, daily maximum, 0) bills for its nodes for
    nothing: pause it, or snapshot and delete it. After AWS Trusted Advisor's "Underutilized Amazon
    Redshift Clusters" check (no connection for the last 7 days). A running cluster publishes
    DatabaseConnections every minute, zero included, so missing days are not zeros: below
    `min_coverage` of the window the cluster is not judged. Paused clusters are
    `redshift-cluster-paused-long`'s. Cost: nodes x the node type's on-demand price."""
    if not _available_for_the_window(r, p, ctx):
        return None
    days = math.ceil(p["window_days"])
    conns = ctx.metric(r, CONNECTIONS.name, days)
    if conns is None or conns.coverage < p["min_coverage"] or (conns.peak or 0.0) > p["max_connections"]:
        return None
    node_type = r.attributes.get("node_type") or ""
    nodes = int(r.attributes.get("num_nodes") or 1)
    one = ctx.prices.redshift_node(node_type)
    evidence = {
        "node_type": node_type,
        "num_nodes": nodes,
        "window_days": days,
        "database_connections_peak": conns.evidence("connections"),
        "age_days": rounded(age_days(r.created_at, ctx.now)),
        **ctx.prices.evidence(),
    }
    if one is None:
        evidence["price"] = "unknown node type: priced at 0"
    return Detection(
        scenario="redshift-cluster-idle",
        confidence="HIGH" if conns.got >= days else "MEDIUM",
        monthly_cost=one * nodes if one is not None else Decimal(0),
        evidence=evidence,
    )


# --- redshift-cluster-paused-long -----------------------------------------------------------------


def _paused_for_the_window(r: Resource, p, ctx: Context) -> bool:
    """A paused cluster created at least a window ago."""
    age = age_days(r.created_at, ctx.now)
    return r.attributes.get("state") == "paused" and age is not None and age >= p["min_paused_days"]


@rule(
    key="redshift-cluster-paused-long",
    provider="aws",
    resource_kind=KIND,
    title="Redshift cluster paused for a long time",
    permissions=PERMISSIONS,
    params={
        "min_paused_days": Param(
            float,
            30.0,
            "Paused (no CPUUtilization datapoint at all) for at least this many days; the cluster "
            "must be that old.",
            1,
        )
    },
    confidence_doc="MEDIUM: the pause time is inferred from CloudWatch (a running cluster publishes "
    "CPUUtilization every minute; none over the window means it did not run), not read from the API.",
    metrics=(CPU,),
    window_param="min_paused_days",
    candidate=_paused_for_the_window,
)
def redshift_cluster_paused_long(r: Resource, p, ctx: Context) -> Detection | None:
    """A cluster paused for 30 days or more is likely abandoned: its compute is free while paused,
    but its storage still bills (RA3 managed storage per GB-month; DC2 backup storage) and someone
    pays for it again when a scheduled resume or maintenance wakes it. Redshift's API does not say
    when a cluster was paused, so the pause is measured: the cluster is paused now and published no
    CPUUtilization datapoint over the whole window (a running cluster publishes one every minute;
    "no datapoints at all" is the signal here, so the cluster must be older than the window). A
    cluster resumed any time in the window is not flagged. The FinOps practice behind the default:
    a pause meant for nights and weekends does not last a month. The saving is the storage, which
    the price table does not price and DescribeClusters does not measure for RA3: the finding
    costs 0 and says so (like a long-stopped EC2 instance whose disks are findings of their own)."""
    if not _paused_for_the_window(r, p, ctx):
        return None
    days = math.ceil(p["min_paused_days"])
    cpu = ctx.metric(r, CPU.name, days)
    if cpu is None or cpu.got > 0:
        return None
    return Detection(
        scenario="redshift-cluster-paused-long",
        confidence="MEDIUM",
        monthly_cost=Decimal(0),
        evidence={
            "state": "paused",
            "node_type": r.attributes.get("node_type"),
            "num_nodes": int(r.attributes.get("num_nodes") or 1),
            "paused_at_least_days": days,
            "cpu_utilization": cpu.evidence("percent"),
            "age_days": rounded(age_days(r.created_at, ctx.now)),
            "price": "storage of a paused cluster is not in the price table: priced at 0",
        },
    )


# --- fixtures: one resource that fires and one near miss per rule ---------------------------------


def _cluster(rid: str, state: str, node_type: str = "ra3.xlplus", nodes: int = 2) -> Resource:
    return res(KIND, rid, 120, state=state, node_type=node_type, num_nodes=nodes)


attach_fixtures(
    "redshift-cluster-idle",
    Fixtures(
        fires=_cluster("rs-idle-1", "available"),
        silent=_cluster("rs-busy-1", "available"),
        now=_NOW,
        series={
            ("rs-idle-1", "database_connections", 7): Series((0.0,) * 7, 7),
            ("rs-busy-1", "database_connections", 7): Series((0.0,) * 6 + (1.0,), 7),  # one connection
        },
    ),
)

attach_fixtures(
    "redshift-cluster-paused-long",
    Fixtures(
        fires=_cluster("rs-paused-1", "paused"),
        silent=_cluster("rs-resumed-1", "paused"),  # ran 10 days ago, paused since
        now=_NOW,
        series={
            ("rs-paused-1", "cpu_maximum", 30): Series((), 30),
            ("rs-resumed-1", "cpu_maximum", 30): Series((4.0,), 30),
        },
    ),
)
