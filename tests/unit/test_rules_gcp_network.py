"""GCP networking and Cloud SQL rules: boundaries, exclusivity, confidence and prices."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from cloudwaste.scanner.domain import Resource
from cloudwaste.scanner.kinds.gcp.sql import tier_shape
from cloudwaste.scanner.providers import load_all as load_providers
from cloudwaste.scanner.rules import Context, Series, load_all
from cloudwaste.scanner.rules.gcp.sql import _half

RULES = load_all().rules
PRICES = load_providers().get("gcp").prices("p")
NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
P = "projects/p"
MIB = 1024**2


def _ago(days: float) -> dt.datetime:
    return NOW - dt.timedelta(days=days)


def _res(kind: str, rid: str, age: float = 100, region: str = "us-central1", **attributes) -> Resource:
    return Resource("gcp", kind, rid, region, name=rid.rsplit("/", 1)[-1], created_at=_ago(age), attributes=attributes)


def _run(key: str, r: Resource, related=(), series=None, **overrides):
    rule = RULES[key]
    params = {k: v for k, v in rule.resolve_params(overrides).items() if k != "enabled"}
    index = {(x.kind, x.resource_id): x for x in related}
    series = series or {}
    ctx = Context(
        now=NOW, prices=PRICES, lookup=lambda k, i: index.get((k, i)),
        metric=lambda res, name, days: series.get((res.resource_id, name, days)),
    )
    return rule.evaluate(r, params, ctx)


def _flat(value: float, days: int = 14) -> Series:
    return Series((value,) * days, days)


# --- gcp-forwarding-rule-no-backends ------------------------------------------------------------

FR, POOL, SVC = "gcp.compute.forwarding_rule", "gcp.compute.target_pool", "gcp.compute.backend_service"
POOL_ID = f"{P}/regions/us-central1/targetPools/pool"
BACKUP_ID = f"{P}/regions/us-central1/targetPools/backup"
SVC_ID = f"{P}/regions/us-central1/backendServices/svc"


def _fr(age: float = 100, scheme: str = "EXTERNAL", **attributes) -> Resource:
    return _res(FR, f"{P}/regions/us-central1/forwardingRules/fr", age, load_balancing_scheme=scheme, **attributes)


def _pool(instances: int, backup: str | None = None, rid: str = POOL_ID) -> Resource:
    return _res(POOL, rid, instances=[f"{P}/zones/us-central1-a/instances/vm-{i}" for i in range(instances)],
                backup_pool=backup)


def _to_pool(**kw) -> Resource:
    return _fr(target=POOL_ID, target_type="targetPools", **kw)


def test_forwarding_rule_to_an_empty_pool_fires_at_the_additional_rule_price():
    det = _run("gcp-forwarding-rule-no-backends", _to_pool(), [_pool(0)])
    assert det.confidence == "HIGH"
    assert det.monthly_cost == Decimal("7.3")  # $0.01/hour x 730
    assert det.evidence["target_pool"] == POOL_ID and det.evidence["instances"] == 0


def test_forwarding_rule_to_a_pool_with_instances_does_not_fire():
    assert _run("gcp-forwarding-rule-no-backends", _to_pool(), [_pool(1)]) is None


def test_forwarding_rule_to_an_empty_pool_with_a_full_backup_pool_does_not_fire():
    related = [_pool(0, BACKUP_ID), _pool(2, rid=BACKUP_ID)]
    assert _run("gcp-forwarding-rule-no-backends", _to_pool(), related) is None
    related = [_pool(0, BACKUP_ID), _pool(0, rid=BACKUP_ID)]
    assert _run("gcp-forwarding-rule-no-backends", _to_pool(), related) is not None


def test_forwarding_rule_whose_target_was_not_listed_does_not_fire():
    assert _run("gcp-forwarding-rule-no-backends", _to_pool(), []) is None


def test_forwarding_rule_to_a_backend_service():
    rule = _fr(scheme="INTERNAL", backend_service=SVC_ID, target_type="backendServices")
    assert _run("gcp-forwarding-rule-no-backends", rule, [_res(SVC, SVC_ID, backends=[])]) is not None
    full = _res(SVC, SVC_ID, backends=[f"{P}/zones/us-central1-a/instanceGroups/ig"])
    assert _run("gcp-forwarding-rule-no-backends", rule, [full]) is None


@pytest.mark.parametrize("scheme", ["EXTERNAL_MANAGED", "INTERNAL_MANAGED", "INTERNAL_SELF_MANAGED"])
def test_proxy_load_balancers_are_not_judged(scheme):
    assert _run("gcp-forwarding-rule-no-backends", _to_pool(scheme=scheme), [_pool(0)]) is None


def test_forwarding_rule_to_a_target_proxy_is_not_judged():
    rule = _fr(target=f"{P}/global/targetHttpProxies/px", target_type="targetHttpProxies")
    assert _run("gcp-forwarding-rule-no-backends", rule, [_pool(0)]) is None


@pytest.mark.parametrize(("age", "expected"), [(6.9, None), (7, "MEDIUM"), (29.9, "MEDIUM"), (30, "HIGH")])
def test_forwarding_rule_age_and_confidence(age, expected):
    det = _run("gcp-forwarding-rule-no-backends", _to_pool(age=age), [_pool(0)])
    assert (det.confidence if det else None) == expected


def test_global_and_unlisted_regions_are_priced():
    for region, cost in (("global", "7.3"), ("me-central2", "8.395")):
        rule = _res(FR, f"{P}/x/forwardingRules/fr", 100, region, load_balancing_scheme="EXTERNAL",
                    target=POOL_ID, target_type="targetPools")
        det = _run("gcp-forwarding-rule-no-backends", rule, [_pool(0)])
        assert det.monthly_cost == Decimal(cost)


# --- Cloud NAT -------------------------------------------------------------------------------------

ROUTER = "gcp.compute.router"
RID = f"{P}/regions/us-central1/routers/r"


def _nat(name="nat", subnetworks=None, ips=0) -> dict:
    return {
        "name": name,
        "source_subnetwork_ip_ranges_to_nat": "ALL_SUBNETWORKS_ALL_IP_RANGES" if subnetworks is None else "LIST_OF_SUBNETWORKS",
        "subnetworks": subnetworks or [],
        "nat_ip_allocate_option": "MANUAL_ONLY" if ips else "AUTO_ONLY",
        "nat_ips": [f"{P}/regions/us-central1/addresses/ip-{i}" for i in range(ips)],
        "type": "PUBLIC",
    }


def _router(nats, age: float = 100, router_id: str = "42") -> Resource:
    return _res(ROUTER, RID, age, nats=nats, router_id=router_id)


def test_nat_with_no_subnetwork_and_static_ips_fires_priced_as_its_ips():
    det = _run("gcp-nat-no-subnets", _router([_nat(subnetworks=[], ips=3)]))
    assert det.confidence == "HIGH"
    assert det.monthly_cost == Decimal("10.95")  # 3 x $0.005/hour x 730
    assert det.evidence["static_nat_ips"] == 3


@pytest.mark.parametrize(
    "nat", [_nat(subnetworks=[]), _nat(subnetworks=[f"{P}/regions/us-central1/subnetworks/a"], ips=1), _nat(ips=1)]
)
def test_nat_no_subnets_near_misses(nat):
    assert _run("gcp-nat-no-subnets", _router([nat])) is None


def test_nat_no_subnets_spares_a_young_router_and_is_medium_before_30_days():
    assert _run("gcp-nat-no-subnets", _router([_nat(subnetworks=[], ips=1)], age=3)) is None
    assert _run("gcp-nat-no-subnets", _router([_nat(subnetworks=[], ips=1)], age=10)).confidence == "MEDIUM"


def test_nat_idle_fires_high_with_full_coverage():
    r = _router([_nat(ips=2)])
    det = _run("gcp-nat-idle", r, series={(RID, "nat_sent_bytes", 14): _flat(0.0)})
    assert det.confidence == "HIGH"
    # one VM-hour ($0.0014) + 2 IPs ($0.005 each), x 730
    assert det.monthly_cost == Decimal("1.022") + Decimal("7.3")


def test_nat_idle_thresholds_and_coverage():
    r = _router([_nat()])
    key = (RID, "nat_sent_bytes", 14)
    assert _run("gcp-nat-idle", r, series={key: Series((0.0,) * 13 + (1.0 * MIB,), 14)}) is not None
    assert _run("gcp-nat-idle", r, series={key: Series((0.0,) * 13 + (1.1 * MIB,), 14)}) is None
    det = _run("gcp-nat-idle", r, series={key: Series((0.0,) * 12, 14)})  # 12/14 >= 0.8
    assert det.confidence == "MEDIUM"
    assert _run("gcp-nat-idle", r, series={key: Series((0.0,) * 11, 14)}) is None  # 11/14 < 0.8
    assert _run("gcp-nat-idle", r, series={key: Series((), 14)}) is None  # no data is not zero
    assert _run("gcp-nat-idle", r) is None  # not fetched


def test_nat_idle_counts_coverage_per_gateway():
    r = _router([_nat("a"), _nat("b")])
    key = (RID, "nat_sent_bytes", 14)
    assert _run("gcp-nat-idle", r, series={key: _flat(0.0)}) is None  # one gateway's days only
    assert _run("gcp-nat-idle", r, series={key: Series((0.0,) * 28, 14)}).confidence == "HIGH"


def test_nat_idle_leaves_stranded_gateways_routers_without_nat_and_young_ones():
    key = (RID, "nat_sent_bytes", 14)
    quiet = {key: _flat(0.0)}
    assert _run("gcp-nat-idle", _router([_nat("a"), _nat("b", subnetworks=[], ips=1)]), series=quiet) is None
    assert _run("gcp-nat-idle", _router([]), series=quiet) is None
    assert _run("gcp-nat-idle", _router([_nat()], age=10), series=quiet) is None
    assert _run("gcp-nat-idle", _router([_nat()], router_id=""), series=quiet) is None


# --- Cloud SQL -------------------------------------------------------------------------------------

SQL = "gcp.sql.instance"
DB = f"{P}/instances/db"


def _db(age: float = 100, **attributes) -> Resource:
    tier = attributes.pop("tier", "db-custom-4-16384")
    shape = tier_shape(tier)
    base = {
        "database_id": "p:db", "database_version": "POSTGRES_15", "state": "RUNNABLE", "tier": tier,
        "vcpus": shape[0] if shape else None, "activation_policy": "ALWAYS", "data_disk_size_gb": 100,
        "data_disk_type": "PD_SSD", "availability_type": "ZONAL", "instance_type": "CLOUD_SQL_INSTANCE",
        "master_instance": None, "public_ip_count": 1,
    }
    return _res(SQL, DB, age, **{**base, **attributes})


def test_tier_shapes():
    assert tier_shape("db-custom-4-16384") == (4, 16.0)
    assert tier_shape("db-n1-standard-8") == (8, 30.0)
    assert tier_shape("db-n1-highmem-2") == (2, 13.0)
    assert tier_shape("db-f1-micro") is None and tier_shape("db-perf-optimized-N-8") is None
    assert _half("db-custom-6-23040") == ("db-custom-3-11520", (3, 11.25))
    assert _half("db-custom-4-15000") == ("db-custom-2-7424", (2, 7.25))
    assert _half("db-n1-standard-4") == ("db-n1-standard-2", (2, 7.5))


def test_stopped_without_monitoring_data_is_medium_or_low_by_age():
    stopped = {"activation_policy": "NEVER"}
    det = _run("gcp-sql-instance-stopped", _db(100, **stopped))
    assert det.confidence == "MEDIUM"
    assert det.evidence["stopped_since"].startswith("unknown")
    # 100 GB SSD ($0.17) + one public IPv4 ($0.01/hour)
    assert det.monthly_cost == Decimal("17") + Decimal("7.3")
    assert _run("gcp-sql-instance-stopped", _db(45, **stopped)).confidence == "LOW"
    assert _run("gcp-sql-instance-stopped", _db(29, **stopped)) is None


def test_stopped_confirmed_by_monitoring_is_high_and_a_day_up_spares_it():
    r = _db(45, activation_policy="NEVER")
    key = (DB, "up_max", 30)
    assert _run("gcp-sql-instance-stopped", r, series={key: _flat(0.0, 30)}).confidence == "HIGH"
    assert _run("gcp-sql-instance-stopped", r, series={key: Series((0.0,) * 29 + (1.0,), 30)}) is None


def test_stopped_high_availability_doubles_storage_and_hdd_is_cheaper():
    r = _db(100, activation_policy="NEVER", availability_type="REGIONAL", data_disk_type="PD_HDD",
            public_ip_count=0)
    assert _run("gcp-sql-instance-stopped", r).monthly_cost == Decimal("18")  # 200 GB x $0.09


def test_running_instance_is_not_stopped():
    assert _run("gcp-sql-instance-stopped", _db(100)) is None


def _idle_series(conns: float = 0.0, cpu: float = 0.02, days: int = 14) -> dict:
    return {(DB, "connections_max", 14): _flat(conns, days) if days == 14 else Series((conns,) * days, 14),
            (DB, "cpu_mean", 14): _flat(cpu, days) if days == 14 else Series((cpu,) * days, 14)}


def test_idle_instance_fires_priced_as_tier_and_storage():
    det = _run("gcp-sql-instance-idle", _db(), series=_idle_series())
    assert det.confidence == "HIGH"
    # 4 vCPU x $0.0413 + 16 GB x $0.007, x 730; + 100 GB SSD x $0.17
    assert det.monthly_cost == Decimal("120.596") + Decimal("81.76") + Decimal("17")


def test_idle_high_availability_doubles_and_shared_core_is_priced():
    det = _run("gcp-sql-instance-idle", _db(availability_type="REGIONAL"), series=_idle_series())
    assert det.monthly_cost == 2 * (Decimal("120.596") + Decimal("81.76") + Decimal("17"))
    det = _run("gcp-sql-instance-idle", _db(tier="db-f1-micro"), series=_idle_series())
    assert det.monthly_cost == Decimal("7.665") + Decimal("17")


def test_idle_unknown_tier_prices_storage_and_says_so():
    det = _run("gcp-sql-instance-idle", _db(tier="db-perf-optimized-N-8"), series=_idle_series())
    assert det.monthly_cost == Decimal("17") and "cost_unknown" in det.evidence


@pytest.mark.parametrize(
    ("series", "attributes"),
    [
        (_idle_series(conns=1.0), {}),
        (_idle_series(cpu=0.051), {}),
        (_idle_series(days=11), {}),  # 11/14 < 0.85
        (_idle_series(), {"instance_type": "READ_REPLICA_INSTANCE", "master_instance": "p:main"}),
        (_idle_series(), {"state": "SUSPENDED"}),
        (_idle_series(), {"activation_policy": "NEVER"}),
    ],
)
def test_idle_near_misses(series, attributes):
    assert _run("gcp-sql-instance-idle", _db(**attributes), series=series) is None


def test_idle_spares_a_young_instance_and_is_medium_with_gaps():
    assert _run("gcp-sql-instance-idle", _db(10), series=_idle_series()) is None
    assert _run("gcp-sql-instance-idle", _db(), series=_idle_series(days=12)).confidence == "MEDIUM"


def _busy_series(cpu_peak: float, conns: float = 5.0) -> dict:
    return {(DB, "connections_max", 14): _flat(conns), (DB, "cpu_max", 14): Series((0.05,) * 13 + (cpu_peak,), 14)}


def test_overprovisioned_saving_is_the_half_tier_difference():
    det = _run("gcp-sql-instance-overprovisioned", _db(tier="db-custom-8-32768"), series=_busy_series(0.15))
    assert det.evidence["suggested_tier"] == "db-custom-4-16384"
    assert det.monthly_cost == Decimal("120.596") + Decimal("81.76")
    assert det.confidence == "MEDIUM"


@pytest.mark.parametrize(
    ("attributes", "series"),
    [
        ({}, _busy_series(0.20)),  # at the threshold
        ({}, _busy_series(0.10, conns=0.0)),  # unused: the idle rule's
        ({"tier": "db-custom-2-7680"}, _busy_series(0.10)),  # below min_vcpus
        ({"tier": "db-g1-small"}, _busy_series(0.10)),
    ],
)
def test_overprovisioned_near_misses(attributes, series):
    assert _run("gcp-sql-instance-overprovisioned", _db(**attributes), series=series) is None


def test_sql_rules_are_exclusive_on_an_idle_large_instance():
    r = _db(tier="db-custom-8-32768")
    series = {**_idle_series(), (DB, "cpu_max", 14): _flat(0.05)}
    fired = [k for k in ("gcp-sql-instance-idle", "gcp-sql-instance-overprovisioned", "gcp-sql-instance-stopped")
             if _run(k, r, series=series) is not None]
    assert fired == ["gcp-sql-instance-idle"]
