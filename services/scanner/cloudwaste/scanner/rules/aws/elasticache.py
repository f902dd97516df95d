"""ElastiCache rules: idle cache clusters and previous-generation node types."""

from __future__ import annotations

import math
from decimal import Decimal

from cloudwaste.scanner.domain import Detection, Resource
from cloudwaste.scanner.rules import Context, Fixtures, Metric, Param, Series, age_days, attach_fixtures, rule
from cloudwaste.scanner.rules.aws._common import NOW as _NOW
from cloudwaste.scanner.rules.aws._common import res, rounded

KIND = "aws.elasticache.cluster"
PERMISSIONS = ("elasticache:DescribeCacheClusters", "cloudwatch:GetMetricData")

# Connections at the cluster level (CacheClusterId), the peak of each day.
CONNECTIONS = Metric("curr_connections", "AWS/ElastiCache", "CurrConnections", "CacheClusterId", "Maximum")
# Commands served: Redis OSS / Valkey publish read-type and write-type command counts (every
# read-only and every write command, whatever the data type), Memcached gets and sets.
REDIS_READS = Metric("get_type_cmds", "AWS/ElastiCache", "GetTypeCmds", "CacheClusterId", "Sum")
REDIS_WRITES = Metric("set_type_cmds", "AWS/ElastiCache", "SetTypeCmds", "CacheClusterId", "Sum")
MEMCACHED_READS = Metric("cmd_get", "AWS/ElastiCache", "CmdGet", "CacheClusterId", "Sum")
MEMCACHED_WRITES = Metric("cmd_set", "AWS/ElastiCache", "CmdSet", "CacheClusterId", "Sum")
METRICS = (CONNECTIONS, REDIS_READS, REDIS_WRITES, MEMCACHED_READS, MEMCACHED_WRITES)

# The idle test's parameters; `elasticache-previous-generation` takes the same ones (same names and
# defaults) so that it can leave an idle cluster to `elasticache-cluster-idle`.
IDLE_PARAMS = {
    "window_days": Param(float, 14.0, "Days of CloudWatch history judged (the cluster must be that old).", 2),
    "max_connections": Param(
        float,
        4.0,
        "Every day's peak CurrConnections at most this (ElastiCache itself holds 2 to 4 "
        "connections to monitor a cluster, AWS docs).",
        0,
    ),
    "min_coverage": Param(
        float, 0.85, "Share of the window's days that must have datapoints (else: not judged).", 0.1
    ),
}

# --- the idle test, shared by both rules ----------------------------------------------------------


def _available_for_the_window(r: Resource, p, ctx: Context) -> bool:
    """An available cluster created at least a window ago (a younger one is never called idle)."""
    age = age_days(r.created_at, ctx.now)
    return r.attributes.get("state") == "available" and age is not None and age >= p["window_days"]


def _command_metrics(r: Resource) -> tuple[Metric, Metric]:
    if str(r.attributes.get("engine") or "").lower() == "memcached":
        return MEMCACHED_READS, MEMCACHED_WRITES
    return REDIS_READS, REDIS_WRITES  # redis, valkey


def _idle(r: Resource, p, ctx: Context) -> dict | None:
    """The evidence that the cluster is idle over the window, or None when it is not (or cannot be
    judged: too young, or too few days of data)."""
    if not _available_for_the_window(r, p, ctx):
        return None
    days = math.ceil(p["window_days"])
    reads_m, writes_m = _command_metrics(r)
    conns = ctx.metric(r, CONNECTIONS.name, days)
    reads, writes = ctx.metric(r, reads_m.name, days), ctx.metric(r, writes_m.name, days)
    if conns is None or reads is None or writes is None:
        return None
    if min(conns.coverage, reads.coverage, writes.coverage) < p["min_coverage"]:
        return None
    if reads.total + writes.total > 0 or (conns.peak or 0.0) > p["max_connections"]:
        return None
    return {
        "window_days": days,
        "complete": min(conns.got, reads.got, writes.got) >= days,
        "curr_connections_peak": conns.evidence("connections"),
        reads_m.metric: reads.evidence("commands"),
        writes_m.metric: writes.evidence("commands"),
    }


def _node_price(ctx: Context, node_type: str, nodes: int) -> Decimal | None:
    one = ctx.prices.elasticache_node(node_type)
    return None if one is None else one * nodes


# --- elasticache-cluster-idle --------------------------------------------------------------------


@rule(
    key="elasticache-cluster-idle",
    provider="aws",
    resource_kind=KIND,
    title="ElastiCache cluster serving no commands",
    permissions=PERMISSIONS,
    params=IDLE_PARAMS,
    confidence_doc="HIGH when every day of the window has data; MEDIUM when a few days are missing "
    "(at least min_coverage of them must have data).",
    metrics=METRICS,
    candidate=_available_for_the_window,
)
def elasticache_cluster_idle(r: Resource, p, ctx: Context) -> Detection | None:
    """An available cache cluster, at least 14 days old, that served no command over the last 14
    days bills for its nodes for nothing. Idle means both: no read or write command (daily sums of
    GetTypeCmds + SetTypeCmds for Redis OSS / Valkey, which count every read-only and every write
    command whatever the data type; CmdGet + CmdSet for Memcached) AND at most 4 connections at
    any time of any day (CurrConnections daily maximum: ElastiCache's own monitoring holds 2 to 4
    connections, AWS docs; a client holding connections, e.g. a pub/sub subscriber, is use).
    NewConnections alone was rejected: a client with a persistent pool makes none for days. The
    window follows AWS Trusted Advisor's 14-day idle checks. Missing days are not zeros: below
    `min_coverage` of the window the cluster is not judged. Each node bills, so the cost is
    nodes x the node type's on-demand price."""
    idle = _idle(r, p, ctx)
    if idle is None:
        return None
    node_type = r.attributes.get("node_type") or ""
    nodes = int(r.attributes.get("num_nodes") or 1)
    price = _node_price(ctx, node_type, nodes)
    complete = idle.pop("complete")
    evidence = {
        "node_type": node_type,
        "engine": r.attributes.get("engine"),
        "num_nodes": nodes,
        **idle,
        "age_days": rounded(age_days(r.created_at, ctx.now)),
        **ctx.prices.evidence(),
    }
    if price is None:
        evidence["price"] = "unknown node type: priced at 0"
    return Detection(
        scenario="elasticache-cluster-idle",
        confidence="HIGH" if complete else "MEDIUM",
        monthly_cost=price if price is not None else Decimal(0),
        evidence=evidence,
    )


# --- elasticache-previous-generation -------------------------------------------------------------

# Previous-generation families (AWS "Previous generation nodes") -> the current-generation family
# recommended instead (Graviton: the cheapest current generation of the same class).
PREVIOUS_GENERATION = {
    "m1": "m6g",
    "m2": "r6g",
    "m3": "m6g",
    "m4": "m6g",
    "c1": "m6g",
    "r3": "r6g",
    "r4": "r6g",
    "t1": "t4g",
    "t2": "t4g",
}


def _family_size(node_type: str) -> tuple[str, str] | None:
    parts = node_type.split(".")
    if len(parts) != 3 or parts[0] != "cache":
        return None
    return parts[1], parts[2]


def _previous_generation(r: Resource) -> str | None:
    """The current-generation node type to move to, or None for a current-generation node."""
    fs = _family_size(str(r.attributes.get("node_type") or ""))
    if fs is None or fs[0] not in PREVIOUS_GENERATION:
        return None
    return f"cache.{PREVIOUS_GENERATION[fs[0]]}.{fs[1]}"


def _previous_generation_candidate(r: Resource, p, ctx: Context) -> bool:
    """The series are needed only to leave an idle previous-generation cluster to the idle rule."""
    return _previous_generation(r) is not None and _available_for_the_window(r, p, ctx)


@rule(
    key="elasticache-previous-generation",
    provider="aws",
    resource_kind=KIND,
    title="ElastiCache cluster on a previous-generation node type",
    permissions=PERMISSIONS,
    params=IDLE_PARAMS,
    confidence_doc="HIGH when both node prices are known (the saving is their difference); MEDIUM "
    "when one is not in the price table (the finding then costs 0 and says why).",
    metrics=METRICS,
    candidate=_previous_generation_candidate,
)
def elasticache_previous_generation(r: Resource, p, ctx: Context) -> Detection | None:
    """An available cache cluster on a previous-generation node type (cache.m1/m2/m3/m4,
    cache.c1, cache.r3/r4, cache.t1/t2: AWS lists them as previous generation, Trusted Advisor and
    Compute Optimizer recommend moving off them) pays more per node than the same size of the
    current generation (cache.m6g, cache.r6g, cache.t4g). The saving is nodes x (old - new) node
    price. A cluster that is idle by `elasticache-cluster-idle`'s test (same parameters, keep them
    equal) is left to that rule: deleting it saves more than resizing it."""
    target = _previous_generation(r)
    if target is None or r.attributes.get("state") != "available":
        return None
    if _idle(r, p, ctx) is not None:
        return None
    node_type = str(r.attributes.get("node_type"))
    nodes = int(r.attributes.get("num_nodes") or 1)
    old, new = _node_price(ctx, node_type, nodes), _node_price(ctx, target, nodes)
    evidence = {
        "node_type": node_type,
        "recommended_node_type": target,
        "engine": r.attributes.get("engine"),
        "num_nodes": nodes,
        "age_days": rounded(age_days(r.created_at, ctx.now)),
        **ctx.prices.evidence(),
    }
    if old is None or new is None:
        evidence["price"] = f"unknown price for {node_type if old is None else target}: saving priced at 0"
        saving = Decimal(0)
    else:
        evidence["monthly_price_now"] = str(old)
        evidence["monthly_price_recommended"] = str(new)
        saving = max(Decimal(0), old - new)
    return Detection(
        scenario="elasticache-previous-generation",
        confidence="HIGH" if old is not None and new is not None else "MEDIUM",
        monthly_cost=saving,
        evidence=evidence,
    )


# --- fixtures: one resource that fires and one near miss per rule ---------------------------------


def _quiet(rid: str, days: int = 14, conns: float = 3.0) -> dict:
    return {
        (rid, "curr_connections", days): Series((conns,) * days, days),
        (rid, "get_type_cmds", days): Series((0.0,) * days, days),
        (rid, "set_type_cmds", days): Series((0.0,) * days, days),
    }


def _cache(rid: str, node_type: str, **extra) -> Resource:
    attrs = {"state": "available", "node_type": node_type, "engine": "redis", "num_nodes": 1} | extra
    return res(KIND, rid, 90, **attrs)


attach_fixtures(
    "elasticache-cluster-idle",
    Fixtures(
        fires=_cache("ec-idle-1", "cache.r6g.large", num_nodes=2),
        silent=_cache("ec-busy-1", "cache.r6g.large", num_nodes=2),
        now=_NOW,
        series={
            **_quiet("ec-idle-1"),
            **_quiet("ec-busy-1"),
            # a pub/sub subscriber: no get/set commands, but connections above the monitoring ones
            ("ec-busy-1", "curr_connections", 14): Series((3.0,) * 13 + (12.0,), 14),
        },
    ),
)

attach_fixtures(
    "elasticache-previous-generation",
    Fixtures(
        fires=_cache("ec-old-1", "cache.m4.large"),
        silent=_cache("ec-current-1", "cache.m5.large"),  # busy, but m5 is current generation
        now=_NOW,
        series={
            **_quiet("ec-old-1"),
            ("ec-old-1", "get_type_cmds", 14): Series((5000.0,) * 14, 14),
            **_quiet("ec-current-1"),
            ("ec-current-1", "set_type_cmds", 14): Series((800.0,) * 14, 14),
        },
    ),
)
