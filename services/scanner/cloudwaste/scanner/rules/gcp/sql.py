"""Cloud SQL rules: instances kept stopped, idle, or larger than their load.

One instance is flagged by at most one rule, in this order:

1. `gcp-sql-instance-stopped`: activation policy NEVER (the others need ALWAYS and RUNNABLE);
2. `gcp-sql-instance-idle`: running, no connection on any day of the window and a low CPU;
3. `gcp-sql-instance-overprovisioned`: running with connections (an unused one is (2)'s), a low
   CPU peak, on a tier of at least 4 vCPUs.

Read replicas are judged by none of the running rules (a replica kept for reads or disaster
recovery may serve no connection by design); external (on-premises) primaries are not judged.
"""

from __future__ import annotations

import math
from decimal import Decimal

from cloudwaste.scanner.domain import Detection, Resource
from cloudwaste.scanner.kinds.gcp.sql import SHARED_CORE, SQL_INSTANCE, tier_shape
from cloudwaste.scanner.rules import Context, Fixtures, Metric, Param, Series, age_days, attach_fixtures, rule
from cloudwaste.scanner.rules.gcp._common import NOW, PROJECT, days_ago, rounded

_LIST = ("cloudsql.instances.list",)
_MONITORING = "monitoring.timeSeries.list"
_RESOURCE = "cloudsql_database"


def _metric(name: str, metric_type: str, aligner: str) -> Metric:
    return Metric(name, _RESOURCE, metric_type, "database_id", aligner, dimension_attribute="database_id")


CONNECTIONS = _metric("connections_max", "cloudsql.googleapis.com/database/network/connections", "ALIGN_MAX")
CPU_MEAN = _metric("cpu_mean", "cloudsql.googleapis.com/database/cpu/utilization", "ALIGN_MEAN")
CPU_MAX = _metric("cpu_max", "cloudsql.googleapis.com/database/cpu/utilization", "ALIGN_MAX")
UP = _metric("up_max", "cloudsql.googleapis.com/database/up", "ALIGN_MAX")


def _money(x: Decimal | None) -> Decimal:
    return x if x is not None else Decimal(0)


def _ha(r: Resource) -> int:
    """2 for a high-availability (REGIONAL) instance: its standby bills like the primary."""
    return 2 if r.attributes.get("availability_type") == "REGIONAL" else 1


def _tier_monthly(ctx: Context, region: str, tier: str, shape: tuple[int, float] | None = None) -> Decimal | None:
    """The monthly list price of one (zonal) instance of `tier`, or None when unknown."""
    if tier in SHARED_CORE:
        return ctx.prices.monthly_from_hourly(region, "sql", "shared_core_hour", tier)
    shape = shape or tier_shape(tier)
    if shape is None:
        return None
    vcpu = ctx.prices.monthly_from_hourly(region, "sql", "vcpu_hour", quantity=shape[0])
    memory = ctx.prices.monthly_from_hourly(region, "sql", "memory_gb_hour", quantity=Decimal(str(shape[1])))
    return None if vcpu is None or memory is None else vcpu + memory


def _instance_monthly(r: Resource, ctx: Context, tier: str | None = None, shape=None) -> Decimal | None:
    """The instance's (or `tier`'s) monthly price, twice for high availability."""
    monthly = _tier_monthly(ctx, r.region, tier or r.attributes.get("tier") or "", shape)
    return None if monthly is None else monthly * _ha(r)


def _storage_monthly(r: Resource, ctx: Context) -> Decimal | None:
    a = r.attributes
    gb = int(a.get("data_disk_size_gb") or 0) * _ha(r)
    return ctx.prices.monthly(r.region, "sql", "storage_gb_month", a.get("data_disk_type") or "PD_SSD", quantity=gb)


def _spec(r: Resource) -> dict:
    a = r.attributes
    return {
        "database_version": a.get("database_version"),
        "tier": a.get("tier"),
        "availability_type": a.get("availability_type"),
        "data_disk_type": a.get("data_disk_type"),
        "data_disk_size_gb": a.get("data_disk_size_gb"),
    }


def _licence_note(r: Resource) -> dict:
    if str(r.attributes.get("database_version") or "").startswith("SQLSERVER"):
        return {"licence": "SQL Server licence not included in the price"}
    return {}


def _running_primary(r: Resource) -> bool:
    a = r.attributes
    return (
        a.get("state") == "RUNNABLE"
        and a.get("activation_policy") == "ALWAYS"
        and a.get("instance_type", "CLOUD_SQL_INSTANCE") == "CLOUD_SQL_INSTANCE"
        and not a.get("master_instance")
    )


def _old_enough(r: Resource, p, ctx: Context) -> bool:
    age = age_days(r.created_at, ctx.now)
    return age is not None and age >= p["window_days"]


def _series(r: Resource, metric: Metric, p, ctx: Context) -> Series | None:
    """The metric's series over the window, or None when not fetched or below `min_coverage`
    (missing days are never zeros)."""
    s = ctx.metric(r, metric.name, math.ceil(p["window_days"]))
    return s if s is not None and s.coverage >= p["min_coverage"] else None


def _percent(fraction: float | None) -> float:
    """Cloud SQL reports CPU utilization as a fraction (0.0-1.0); rules speak percent."""
    return 100.0 * (fraction or 0.0)


_WINDOW = Param(float, 14.0, "Days of Cloud Monitoring history judged (the instance must be that old).", 2)
_COVERAGE = Param(float, 0.85, "Share of the window's days that must have data (else: not judged).", 0.1)

# --- gcp-sql-instance-stopped -------------------------------------------------------------------


def _stopped_candidate(r: Resource, p, ctx: Context) -> bool:
    age = age_days(r.created_at, ctx.now)
    return (
        r.attributes.get("activation_policy") == "NEVER"
        and r.attributes.get("state") not in ("PENDING_DELETE", "PENDING_CREATE", "FAILED")
        and age is not None
        and age >= p["min_stopped_days"]
    )


@rule(
    key="gcp-sql-instance-stopped",
    provider="gcp",
    resource_kind=SQL_INSTANCE,
    title="Cloud SQL instance kept stopped (storage and IP still billed)",
    permissions=(*_LIST, _MONITORING),
    params={
        "min_stopped_days": Param(
            float,
            30.0,
            "Stopped at least this long: the instance must be that old and Cloud Monitoring must "
            "not show it up on any day of this window.",
            1,
        ),
    },
    confidence_doc="HIGH when Cloud Monitoring has database/up data over the window and it is 0 on "
    "every day; otherwise (no data: a stopped instance may publish none) MEDIUM for an instance "
    "at least 90 days old, LOW before: the API gives no stop time.",
    metrics=(UP,),
    window_param="min_stopped_days",
    candidate=_stopped_candidate,
)
def sql_instance_stopped(r: Resource, p, ctx: Context) -> Detection | None:
    """A Cloud SQL instance whose activation policy is NEVER (stopped) serves nothing but still
    bills its data disk (twice for a high-availability instance) and its public IPv4 address
    ($0.01/hour while the instance does not run), per Cloud SQL's pricing page; a backup or an
    export keeps the data for less. How long: the Cloud SQL Admin API gives no time at which the
    instance stopped, so the instance must be at least `min_stopped_days` old (its createTime is
    only a bound: it cannot have been stopped longer) and the daily maximum of Cloud Monitoring's
    cloudsql.googleapis.com/database/up must not be 1 on any day of that window (a day it ran
    spares it). Default 30 days: common FinOps practice (a month), as for AWS RDS. Backups are not
    priced (their size is not listed)."""
    if not _stopped_candidate(r, p, ctx):
        return None
    window = math.ceil(p["min_stopped_days"])
    up = ctx.metric(r, UP.name, window)
    if up is not None and (up.peak or 0.0) >= 1.0:
        return None
    age = age_days(r.created_at, ctx.now)
    storage = _storage_monthly(r, ctx)
    ips = int(r.attributes.get("public_ip_count") or 0)
    ip_cost = ctx.prices.monthly_from_hourly(r.region, "sql", "ip_address_idle_hour", quantity=ips) if ips else Decimal(0)
    confirmed = up is not None and up.got > 0
    evidence = {
        **_spec(r),
        "activation_policy": "NEVER",
        "state": r.attributes.get("state"),
        "age_days": rounded(age),
        "stopped_since": (
            f"down on every day with data of the last {window} days (Cloud Monitoring database/up)"
            if confirmed
            else f"unknown (the API gives no stop time; created {rounded(age)} days ago)"
        ),
        "up_max": up.evidence() if up is not None else None,
        "public_ips": ips,
        "storage_monthly": str(storage) if storage is not None else None,
        "ip_monthly": str(ip_cost) if ip_cost is not None else None,
        **ctx.prices.evidence(r.region, "sql"),
    }
    if storage is None or ip_cost is None:
        evidence["cost_unknown"] = "no Cloud SQL storage or IP price for this disk type or region: that part priced at 0"
    if confirmed:
        confidence = "HIGH"
    else:
        confidence = "MEDIUM" if age is not None and age >= 90 else "LOW"
    return Detection(
        scenario="gcp-sql-instance-stopped",
        confidence=confidence,
        monthly_cost=_money(storage) + _money(ip_cost),
        evidence=evidence,
    )


# --- gcp-sql-instance-idle ----------------------------------------------------------------------


def _idle_candidate(r: Resource, p, ctx: Context) -> bool:
    return _running_primary(r) and _old_enough(r, p, ctx)


def _idle(r: Resource, p, ctx: Context) -> tuple[Series, Series] | None:
    """(connections, CPU mean) when the instance is idle by `gcp-sql-instance-idle`'s measure."""
    if not _idle_candidate(r, p, ctx):
        return None
    conns, cpu = _series(r, CONNECTIONS, p, ctx), _series(r, CPU_MEAN, p, ctx)
    if conns is None or cpu is None or (conns.peak or 0.0) > 0.0:
        return None
    if _percent(cpu.peak) > p["max_cpu_percent"]:
        return None
    return conns, cpu


_IDLE_CPU = Param(
    float, 5.0, "Every day's average CPU utilization at most this percent (background work only).", 0
)


@rule(
    key="gcp-sql-instance-idle",
    provider="gcp",
    resource_kind=SQL_INSTANCE,
    title="Cloud SQL instance with no connections",
    permissions=(*_LIST, _MONITORING),
    params={"window_days": _WINDOW, "min_coverage": _COVERAGE, "max_cpu_percent": _IDLE_CPU},
    confidence_doc="HIGH when every day of the window has data for both series; MEDIUM when a few "
    "days are missing (coverage at least min_coverage).",
    metrics=(CONNECTIONS, CPU_MEAN),
    candidate=_idle_candidate,
)
def sql_instance_idle(r: Resource, p, ctx: Context) -> Detection | None:
    """A running Cloud SQL instance (state RUNNABLE, activation policy ALWAYS) whose daily maximum
    of cloudsql.googleapis.com/database/network/connections was 0 on every day of the last 14
    days, and whose daily average CPU utilization stayed at or below `max_cpu_percent` (5%: its
    own housekeeping), serves nobody yet bills its vCPUs, memory and storage every hour. After
    Google Recommender's idle Cloud SQL instance recommender (google.cloudsql.instance.
    IdleRecommender: low CPU and no connections) and Steampipe's Thrifty mod for GCP, over 14
    days to spare weekly jobs. Cloud SQL publishes both metrics every minute while an instance
    runs, so a missing day is missing data: below `min_coverage` the instance is not judged, and
    one younger than the window never is. Read replicas are not judged. Priced as the tier (vCPU
    and memory prices, or the shared-core price) x 730 hours plus storage, both doubled for
    high availability."""
    found = _idle(r, p, ctx)
    if found is None:
        return None
    conns, cpu = found
    instance, storage = _instance_monthly(r, ctx), _storage_monthly(r, ctx)
    window = math.ceil(p["window_days"])
    evidence = {
        **_spec(r),
        "window_days": window,
        "connections_max": conns.evidence("count"),
        "cpu_mean_percent_peak": round(_percent(cpu.peak), 2),
        "cpu_mean": cpu.evidence("fraction"),
        "age_days": rounded(age_days(r.created_at, ctx.now)),
        "instance_monthly": str(instance) if instance is not None else None,
        "storage_monthly": str(storage) if storage is not None else None,
        **_licence_note(r),
        **ctx.prices.evidence(r.region, "sql"),
    }
    if instance is None or storage is None:
        evidence["cost_unknown"] = "no Cloud SQL price for this tier or disk type: that part priced at 0"
    return Detection(
        scenario="gcp-sql-instance-idle",
        confidence="HIGH" if min(conns.got, cpu.got) >= window else "MEDIUM",
        monthly_cost=_money(instance) + _money(storage),
        evidence=evidence,
    )


# --- gcp-sql-instance-overprovisioned ---------------------------------------------------------------


def _half(tier: str) -> tuple[str, tuple[int, float]] | None:
    """The tier with half the vCPUs and memory (memory in whole 256 MB steps), or None."""
    shape = tier_shape(tier)
    if shape is None or shape[0] < 2:
        return None
    vcpus, memory = shape[0] // 2, shape[1] / 2
    if tier.startswith("db-n1-"):
        return tier.rsplit("-", 1)[0] + f"-{vcpus}", (vcpus, memory)
    mb = int(memory * 1024) // 256 * 256
    return f"db-custom-{vcpus}-{mb}", (vcpus, mb / 1024)


def _overprovisioned_candidate(r: Resource, p, ctx: Context) -> bool:
    vcpus = r.attributes.get("vcpus") or 0
    return _running_primary(r) and _old_enough(r, p, ctx) and vcpus >= p["min_vcpus"]


@rule(
    key="gcp-sql-instance-overprovisioned",
    provider="gcp",
    resource_kind=SQL_INSTANCE,
    title="Cloud SQL instance oversized (low CPU peak): half the vCPUs would do",
    permissions=(*_LIST, _MONITORING),
    params={
        "window_days": _WINDOW,
        "min_coverage": _COVERAGE,
        "max_cpu_percent": Param(float, 20.0, "Every day's maximum CPU utilization below this percent.", 0),
        "min_vcpus": Param(int, 4, "Only tiers with at least this many vCPUs are judged.", 2),
    },
    confidence_doc="MEDIUM when every day has data for both series; LOW otherwise. Memory is not "
    "judged (the smaller tier has half the memory).",
    metrics=(CONNECTIONS, CPU_MAX),
    candidate=_overprovisioned_candidate,
)
def sql_instance_overprovisioned(r: Resource, p, ctx: Context) -> Detection | None:
    """A running, used (at least one connection in the window: an unused one is
    `gcp-sql-instance-idle`'s) Cloud SQL instance of at least `min_vcpus` vCPUs (default 4) whose
    daily maximum CPU utilization stayed below `max_cpu_percent` (20%) on every day of the last
    14 days can run on half the vCPUs and memory: its peak would stay below 40%. After Google
    Recommender's Cloud SQL overprovisioned instance recommender (google.cloudsql.instance.
    OverprovisionedRecommender) and Steampipe's Thrifty mod for GCP. Shared-core and unknown
    tiers are not judged. Saving: the tier's price minus the half-size tier's (db-custom-N/2-M/2,
    db-n1-*-N/2), doubled for high availability."""
    if not _overprovisioned_candidate(r, p, ctx):
        return None
    conns, cpu = _series(r, CONNECTIONS, p, ctx), _series(r, CPU_MAX, p, ctx)
    if conns is None or cpu is None or (conns.peak or 0.0) <= 0.0:
        return None
    if _percent(cpu.peak) >= p["max_cpu_percent"]:
        return None
    half = _half(r.attributes.get("tier") or "")
    if half is None:
        return None
    smaller, shape = half
    now_price, smaller_price = _instance_monthly(r, ctx), _instance_monthly(r, ctx, smaller, shape)
    window = math.ceil(p["window_days"])
    evidence = {
        **_spec(r),
        "suggested_tier": smaller,
        "window_days": window,
        "cpu_max_percent_peak": round(_percent(cpu.peak), 2),
        "cpu_max": cpu.evidence("fraction"),
        "connections_max": conns.evidence("count"),
        **_licence_note(r),
        **ctx.prices.evidence(r.region, "sql"),
    }
    saving = None
    if now_price is not None and smaller_price is not None:
        saving = max(Decimal(0), now_price - smaller_price)
    else:
        evidence["cost_unknown"] = "no Cloud SQL price for this region: saving priced at 0"
    return Detection(
        scenario="gcp-sql-instance-overprovisioned",
        confidence="MEDIUM" if min(conns.got, cpu.got) >= window else "LOW",
        monthly_cost=_money(saving),
        evidence=evidence,
    )


# --- fixtures: one resource that fires and one near miss per rule ---------------------------------


def _sql(name: str, created_days: float = 120, **attributes) -> Resource:
    base = {
        "database_id": f"{PROJECT}:{name}",
        "database_version": "POSTGRES_15",
        "state": "RUNNABLE",
        "tier": "db-custom-4-16384",
        "vcpus": 4,
        "memory_gb": 16.0,
        "activation_policy": "ALWAYS",
        "data_disk_size_gb": 100,
        "data_disk_type": "PD_SSD",
        "availability_type": "ZONAL",
        "instance_type": "CLOUD_SQL_INSTANCE",
        "master_instance": None,
        "public_ip_count": 1,
    }
    return Resource(
        "gcp", SQL_INSTANCE, f"projects/{PROJECT}/instances/{name}", "europe-west1", name=name,
        created_at=days_ago(created_days), attributes={**base, **attributes},
    )


def _flat(value: float, days: int = 14) -> Series:
    return Series((value,) * days, days)


_STOPPED, _RESTARTED = _sql("db-stopped", activation_policy="NEVER"), _sql("db-restarted", activation_policy="NEVER")
attach_fixtures(
    "gcp-sql-instance-stopped",
    Fixtures(
        fires=_STOPPED,
        silent=_RESTARTED,  # ran 3 days ago (database/up 1 that day)
        now=NOW,
        series={
            (_STOPPED.resource_id, "up_max", 30): _flat(0.0, 30),
            (_RESTARTED.resource_id, "up_max", 30): Series((0.0,) * 27 + (1.0, 0.0, 0.0), 30),
        },
    ),
)

_IDLE, _BUSY = _sql("db-idle"), _sql("db-one-client")
attach_fixtures(
    "gcp-sql-instance-idle",
    Fixtures(
        fires=_IDLE,
        silent=_BUSY,  # one connection on one day
        now=NOW,
        series={
            (_IDLE.resource_id, "connections_max", 14): _flat(0.0),
            (_IDLE.resource_id, "cpu_mean", 14): _flat(0.02),
            (_BUSY.resource_id, "connections_max", 14): Series((0.0,) * 13 + (1.0,), 14),
            (_BUSY.resource_id, "cpu_mean", 14): _flat(0.02),
        },
    ),
)

_BIG, _WARM = _sql("db-big", tier="db-custom-8-32768", vcpus=8), _sql("db-warm", tier="db-custom-8-32768", vcpus=8)
attach_fixtures(
    "gcp-sql-instance-overprovisioned",
    Fixtures(
        fires=_BIG,
        silent=_WARM,  # one day peaked at 25%
        now=NOW,
        series={
            (_BIG.resource_id, "connections_max", 14): _flat(12.0),
            (_BIG.resource_id, "cpu_max", 14): _flat(0.15),
            (_WARM.resource_id, "connections_max", 14): _flat(12.0),
            (_WARM.resource_id, "cpu_max", 14): Series((0.15,) * 13 + (0.25,), 14),
        },
    ),
)
