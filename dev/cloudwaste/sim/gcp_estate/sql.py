"""Cloud SQL: instances kept stopped, idle (no connection, low CPU) and oversized (low CPU peak on
4+ vCPUs) to flag, and near misses (busy, a connection on one day, CPU busy without connections,
too few days of data, young, a read replica, stopped but up within the window, a small tier)."""

from __future__ import annotations

import re

from ..cloud_estate import EstateContext
from ..truth import TruthResource

SQL_INSTANCE = "gcp.sql.instance"
CONNECTIONS = "cloudsql.googleapis.com/database/network/connections"
CPU = "cloudsql.googleapis.com/database/cpu/utilization"
UP = "cloudsql.googleapis.com/database/up"
_VERSIONS = ("POSTGRES_15", "MYSQL_8_0", "POSTGRES_14")


def _labels(ctx: EstateContext, rng) -> dict:
    clean = lambda s: re.sub(r"[^a-z0-9_-]", "_", s.lower())[:63]  # noqa: E731
    return {clean(k): clean(v) for k, v in ctx.tags(rng, "database").items()}


class _Sql:
    def __init__(self, ctx: EstateContext) -> None:
        self.ctx, self.api = ctx, ctx.api
        self.rng = ctx.rng("sql")
        self.truth: list[TruthResource] = []
        self.n = 0

    def instance(
        self, *, age: float, tier: str = "db-custom-2-7680", activation: str = "ALWAYS", ha: bool = False,
        disk_gb: int = 100, disk_type: str = "PD_SSD", replica_of: str | None = None,
        connections: list[float] | None = None, cpu: list[float] | None = None, up: list[float] | None = None,
        scenario: str | None = None, cost: float = 50.0,
    ) -> None:
        rng, ctx = self.rng, self.ctx
        project, zone = ctx.pick(rng)
        region = zone.rpartition("-")[0]
        self.n += 1
        name = f"db-{self.n}"
        labels = _labels(ctx, rng)
        body = {
            "name": name,
            "databaseVersion": _VERSIONS[self.n % len(_VERSIONS)],
            "region": region,
            "gceZone": zone,
            "state": "RUNNABLE",
            "backendType": "SECOND_GEN",
            "instanceType": "READ_REPLICA_INSTANCE" if replica_of else "CLOUD_SQL_INSTANCE",
            "connectionName": f"{project}:{region}:{name}",
            "createTime": ctx.stamp(age),
            "settings": {
                "kind": "sql#settings",
                "tier": tier,
                "activationPolicy": activation,
                "availabilityType": "REGIONAL" if ha else "ZONAL",
                "dataDiskSizeGb": str(disk_gb),
                "dataDiskType": disk_type,
                "pricingPlan": "PER_USE",
                "storageAutoResize": True,
                "settingsVersion": str(rng.randint(1, 20)),
                "userLabels": labels,
                "ipConfiguration": {"ipv4Enabled": True},
            },
            "ipAddresses": [{"type": "PRIMARY", "ipAddress": f"35.{rng.randint(180, 240)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"}],
        }
        if replica_of:
            body["masterInstanceName"] = f"{project}:{replica_of}"
        self.api.put_sql_instance(project, body)
        series_labels = {"project_id": project, "database_id": f"{project}:{name}", "region": region}
        for metric, values in ((CONNECTIONS, connections), (CPU, cpu), (UP, up)):
            if values is not None:
                self.api.put_metric(project, metric, "cloudsql_database", series_labels, ctx.daily(values))
        decision = None
        if scenario:
            decision = ctx.decide(rng, tags=labels, scenario=scenario, age_days=age, monthly_cost=cost)
        self.truth.append(ctx.truth(f"projects/{project}/instances/{name}", SQL_INSTANCE, region, labels, scenario, decision))


def seed(ctx: EstateContext) -> list[TruthResource]:
    sql = _Sql(ctx)
    rng = sql.rng

    def flat(lo: float, hi: float, days: int = 20) -> list[float]:
        return [rng.uniform(lo, hi) for _ in range(days)]

    for i in range(ctx.count(0.05)):  # waste: idle
        sql.instance(
            age=rng.uniform(30, 400), tier=("db-custom-2-7680", "db-n1-standard-2", "db-g1-small")[i % 3],
            ha=i % 4 == 0, connections=[0.0] * 20, cpu=flat(0.005, 0.04), up=[1.0] * 20,
            scenario="gcp-sql-instance-idle", cost=120.0,
        )
    for i in range(ctx.count(0.04)):  # waste: stopped a long time (with or without database/up data)
        sql.instance(
            age=rng.uniform(60, 400), activation="NEVER", disk_gb=rng.choice((50, 200, 500)),
            disk_type=("PD_SSD", "PD_HDD")[i % 2], up=[0.0] * 40 if i % 2 == 0 else None,
            scenario="gcp-sql-instance-stopped", cost=30.0,
        )
    for i in range(ctx.count(0.04)):  # waste: oversized
        sql.instance(
            age=rng.uniform(30, 400), tier=("db-custom-8-32768", "db-n1-standard-4", "db-custom-16-61440")[i % 3],
            connections=flat(3, 60), cpu=flat(0.03, 0.15), up=[1.0] * 20,
            scenario="gcp-sql-instance-overprovisioned", cost=200.0,
        )
    for i in range(ctx.count(0.1)):  # near misses
        variant = i % 8
        age = rng.uniform(30, 400)
        if variant == 0:  # busy
            sql.instance(age=age, tier="db-custom-4-16384", connections=flat(10, 80), cpu=flat(0.3, 0.8))
        elif variant == 1:  # one connection on one day
            sql.instance(age=age, connections=[0.0] * 12 + [1.0] + [0.0] * 7, cpu=flat(0.005, 0.03))
        elif variant == 2:  # no connection, but CPU busy (a job inside the database)
            sql.instance(age=age, connections=[0.0] * 20, cpu=flat(0.2, 0.4))
        elif variant == 3:  # too few days of data to judge
            sql.instance(age=age, connections=[0.0] * 8, cpu=[0.01] * 8)
        elif variant == 4:  # young and idle
            sql.instance(age=6, connections=[0.0] * 6, cpu=[0.01] * 6)
        elif variant == 5:  # a read replica, idle by design
            sql.instance(age=age, replica_of="db-1", connections=[0.0] * 20, cpu=flat(0.005, 0.02))
        elif variant == 6:  # stopped, but up 5 days ago
            sql.instance(age=age, activation="NEVER", up=[0.0] * 4 + [1.0] + [0.0] * 35)
        else:  # a small tier with low CPU and connections: nothing smaller to move to by the rule
            sql.instance(age=age, tier="db-custom-2-7680", connections=flat(1, 5), cpu=flat(0.02, 0.1))
    for _ in range(ctx.count(0.02)):  # stopped recently created (younger than 30 days)
        sql.instance(age=rng.uniform(3, 20), activation="NEVER")
    for _ in range(ctx.count(0.02)):  # a large tier whose CPU peaked at 35% one day
        sql.instance(
            age=rng.uniform(30, 400), tier="db-custom-8-32768", connections=flat(3, 60),
            cpu=[0.1] * 10 + [0.35] + [0.1] * 9,
        )
    return sql.truth
