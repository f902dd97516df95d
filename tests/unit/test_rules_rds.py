"""RDS and Aurora rules at their boundaries (windows, coverage, thresholds, exclusivity between the
instance rules), their prices and evidence; and the RDS kinds' listings against moto (one
paginated listing per kind and region)."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import boto3
import pytest
from cloudwaste.scanner.domain import Resource
from cloudwaste.scanner.kinds import load_all as load_kinds
from cloudwaste.scanner.pricing import AwsPrices
from cloudwaste.scanner.rules import Context, Series, load_all

RULES = load_all().rules
KINDS = load_kinds()
NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
REGION = "us-east-1"
PRICES = AwsPrices(REGION)
INSTANCE_RULES = (
    "rds-instance-idle",
    "rds-instance-stopped",
    "rds-instance-low-cpu",
    "rds-instance-previous-generation",
)


def db(rid="db-1", age=60.0, db_class="db.m5.xlarge", **attributes) -> Resource:
    a = {
        "status": "available",
        "engine": "mysql",
        "db_class": db_class,
        "multi_az": False,
        "storage_type": "gp2",
        "allocated_gb": 100,
        "iops": None,
        "cluster_id": None,
    } | attributes
    return Resource(
        "aws", "aws.rds.db_instance", rid, REGION, created_at=NOW - dt.timedelta(days=age), attributes=a
    )


def series(*values, days=14) -> Series:
    return Series(tuple(float(v) for v in values), days)


ZERO = series(*(0,) * 14)
BUSY = series(*(20,) * 14)


def run(key, r, metrics=None, related=(), **overrides):
    params = {k: v for k, v in RULES[key].resolve_params(overrides).items() if k != "enabled"}
    metrics = metrics or {}
    index = {(x.kind, x.resource_id): x for x in related}
    ctx = Context(
        now=NOW,
        prices=PRICES,
        lookup=lambda kind, rid: index.get((kind, rid)),
        metric=lambda res, name, days: s if (s := metrics.get(name)) is not None and s.days == days else None,
    )
    return RULES[key].evaluate(r, params, ctx)


def verdicts(r, metrics=None) -> list[str]:
    return [k for k in INSTANCE_RULES if run(k, r, metrics) is not None]


# --- rds-instance-idle ------------------------------------------------------------------------------


def test_idle_fires_high_priced_as_instance_plus_storage():
    det = run("rds-instance-idle", db(), {"connections_max": ZERO})
    assert det is not None and det.confidence == "HIGH"
    expected = PRICES.rds_instance("db.m5.xlarge", "mysql") + PRICES.rds_storage("gp2", 100)
    assert det.monthly_cost == expected > 0
    assert det.evidence["connections_max"]["datapoints"] == 14 and det.evidence["price_date"]


def test_idle_multi_az_doubles_both_parts():
    det = run("rds-instance-idle", db(multi_az=True), {"connections_max": ZERO})
    single = run("rds-instance-idle", db(), {"connections_max": ZERO})
    assert det.monthly_cost == 2 * single.monthly_cost


@pytest.mark.parametrize(("age", "fires"), [(13.9, False), (14.0, True)])
def test_idle_needs_an_instance_as_old_as_the_window(age, fires):
    assert (run("rds-instance-idle", db(age=age), {"connections_max": ZERO}) is not None) == fires


def test_one_connection_on_one_day_is_not_idle():
    assert run("rds-instance-idle", db(), {"connections_max": series(*(0,) * 13, 1)}) is None


@pytest.mark.parametrize(("got", "expected"), [(11, None), (12, "MEDIUM"), (14, "HIGH")])
def test_missing_days_are_not_zeros(got, expected):
    det = run("rds-instance-idle", db(), {"connections_max": series(*(0,) * got)})
    assert (det.confidence if det else None) == expected


def test_idle_without_series_or_not_available_or_member_never_fires():
    assert run("rds-instance-idle", db(), {}) is None
    for r in (db(status="stopped"), db(status="modifying"), db(cluster_id="cl-1")):
        assert run("rds-instance-idle", r, {"connections_max": ZERO}) is None


def test_idle_unknown_engine_prices_the_storage_and_says_so():
    det = run("rds-instance-idle", db(engine="oracle-ee"), {"connections_max": ZERO})
    assert det.monthly_cost == PRICES.rds_storage("gp2", 100)
    assert "unknown" in det.evidence["price"]


# --- rds-instance-stopped ---------------------------------------------------------------------------


@pytest.mark.parametrize(("age", "expected"), [(29.9, None), (30.0, "LOW"), (90.0, "MEDIUM")])
def test_stopped_by_instance_age(age, expected):
    det = run("rds-instance-stopped", db(age=age, status="stopped", storage_type="io1", iops=3000))
    assert (det.confidence if det else None) == expected
    if det:
        assert det.monthly_cost == PRICES.rds_storage("io1", 100, 3000) > 0
        assert det.evidence["stopped_since"].startswith("unknown")


def test_stopped_member_or_available_does_not_fire():
    assert run("rds-instance-stopped", db(age=200, status="stopped", cluster_id="cl")) is None
    assert run("rds-instance-stopped", db(age=200)) is None


# --- rds-instance-low-cpu ---------------------------------------------------------------------------


@pytest.mark.parametrize(("peak", "fires"), [(40.0, True), (40.01, False)])
def test_low_cpu_threshold_is_inclusive(peak, fires):
    det = run("rds-instance-low-cpu", db(), {"connections_max": BUSY, "cpu_max": series(*(10,) * 13, peak)})
    assert (det is not None) == fires
    if det:
        assert det.evidence["suggested_class"] == "db.m5.large"
        assert det.monthly_cost == PRICES.rds_instance("db.m5.xlarge", "mysql") - PRICES.rds_instance(
            "db.m5.large", "mysql"
        )
        assert det.confidence == "LOW"  # peaked above 20%


def test_low_cpu_skips_to_the_next_size_that_exists():
    # db.m4 is previous generation; db.r5.4xlarge -> db.r5.2xlarge (no 3xlarge)
    det = run(
        "rds-instance-low-cpu", db(db_class="db.r5.4xlarge"), {"connections_max": BUSY, "cpu_max": BUSY}
    )
    assert det.evidence["suggested_class"] == "db.r5.2xlarge" and det.confidence == "MEDIUM"


def test_low_cpu_near_misses():
    low = {"connections_max": BUSY, "cpu_max": series(*(5,) * 14)}
    assert run("rds-instance-low-cpu", db(db_class="db.m5.large"), low) is None  # smallest m5 in the table
    assert run("rds-instance-low-cpu", db(db_class="db.m4.xlarge"), low) is None  # previous generation
    assert run("rds-instance-low-cpu", db(), {"connections_max": ZERO, "cpu_max": BUSY}) is None  # idle
    assert run("rds-instance-low-cpu", db(), {"connections_max": BUSY, "cpu_max": series(*(5,) * 11)}) is None
    assert run("rds-instance-low-cpu", db(age=10), low) is None


# --- rds-instance-previous-generation -------------------------------------------------------------------


def test_previous_generation_saving_is_the_price_difference_to_graviton():
    det = run("rds-instance-previous-generation", db(db_class="db.m4.large", engine="postgres"), {})
    assert det.evidence["suggested_class"] == "db.m6g.large"
    saving = PRICES.rds_instance("db.m4.large", "postgres") - PRICES.rds_instance("db.m6g.large", "postgres")
    assert det.monthly_cost == saving > 0


def test_previous_generation_of_an_unpriced_engine_goes_x86_and_is_priced_at_zero():
    det = run("rds-instance-previous-generation", db(db_class="db.t2.medium", engine="sqlserver-ex"), {})
    assert det.evidence["suggested_class"] == "db.t3.medium"
    assert det.monthly_cost == 0 and "unknown" in det.evidence["price"]


def test_previous_generation_stands_aside_for_idle_but_not_for_missing_data():
    r = db(db_class="db.m4.large")
    assert run("rds-instance-previous-generation", r, {"connections_max": ZERO}) is None
    assert run("rds-instance-previous-generation", r, {"connections_max": series(*(0,) * 10)}) is not None
    assert run("rds-instance-previous-generation", db(db_class="db.m5.large"), {}) is None


# --- exclusivity: at most one instance rule per instance ----------------------------------------------


@pytest.mark.parametrize(
    ("r", "metrics", "expected"),
    [
        (db(db_class="db.m4.large"), {"connections_max": ZERO, "cpu_max": ZERO}, ["rds-instance-idle"]),
        (
            db(db_class="db.m4.xlarge"),
            {"connections_max": BUSY, "cpu_max": BUSY},
            ["rds-instance-previous-generation"],
        ),
        (db(), {"connections_max": BUSY, "cpu_max": BUSY}, ["rds-instance-low-cpu"]),
        (db(), {"connections_max": ZERO, "cpu_max": BUSY}, ["rds-instance-idle"]),
        (db(status="stopped", db_class="db.m4.large", age=300), {}, ["rds-instance-stopped"]),
        (db(), {"connections_max": BUSY, "cpu_max": series(*(60,) * 14)}, []),
        (db(cluster_id="cl-1", db_class="db.r4.large"), {"connections_max": ZERO}, []),
    ],
)
def test_instance_rules_are_exclusive(r, metrics, expected):
    assert verdicts(r, metrics) == expected


# --- snapshots ----------------------------------------------------------------------------------------


def snap(kind="aws.rds.db_snapshot", age=60.0, exists=False, gb=200, **a) -> Resource:
    source = "source_instance_exists" if kind == "aws.rds.db_snapshot" else "source_cluster_exists"
    attrs = {"status": "available", "engine": "postgres", "allocated_gb": gb, source: exists} | a
    return Resource("aws", kind, "s-1", REGION, created_at=NOW - dt.timedelta(days=age), attributes=attrs)


@pytest.mark.parametrize(
    ("age", "exists", "fires"), [(29.9, False, False), (30, False, True), (300, True, False)]
)
def test_db_snapshot_orphaned(age, exists, fires):
    det = run("rds-snapshot-orphaned", snap(age=age, exists=exists))
    assert (det is not None) == fires
    if det:
        # RDS backup storage per GB-month from the price table
        assert det.monthly_cost == PRICES.monthly("rds", "snapshot_gb_month", quantity=200) > 0
        assert "price" not in det.evidence


def test_db_snapshot_creating_or_failed_is_not_judged():
    assert run("rds-snapshot-orphaned", snap(status="creating", age=300)) is None


@pytest.mark.parametrize(
    ("age", "exists", "fires"), [(29.9, False, False), (30, False, True), (300, True, False)]
)
def test_cluster_snapshot_orphaned(age, exists, fires):
    det = run("rds-cluster-snapshot-orphaned", snap("aws.rds.db_cluster_snapshot", age=age, exists=exists))
    assert (det is not None) == fires
    if det:
        assert det.monthly_cost == PRICES.monthly("rds", "aurora_snapshot_gb_month", quantity=200) > 0
        assert "price" not in det.evidence


# --- rds-cluster-idle ---------------------------------------------------------------------------------


def cluster(age=100.0, members=("m-1", "m-2"), status="available") -> Resource:
    return Resource(
        "aws",
        "aws.rds.db_cluster",
        "cl-1",
        REGION,
        created_at=NOW - dt.timedelta(days=age),
        attributes={
            "status": status,
            "engine": "aurora-mysql",
            "engine_mode": "provisioned",
            "members": list(members),
        },
    )


MEMBERS = (
    db("m-1", db_class="db.r5.large", engine="aurora-mysql", storage_type="aurora", cluster_id="cl-1"),
    db("m-2", db_class="db.r6g.large", engine="aurora-mysql", storage_type="aurora", cluster_id="cl-1"),
)


def test_cluster_idle_is_the_sum_of_its_members():
    det = run("rds-cluster-idle", cluster(), {"cluster_connections_max": ZERO}, related=MEMBERS)
    assert det.confidence == "HIGH"
    assert det.monthly_cost == PRICES.rds_instance("db.r5.large", "aurora-mysql") + PRICES.rds_instance(
        "db.r6g.large", "aurora-mysql"
    )
    assert "price" not in det.evidence and det.evidence["member_count"] == 2


def test_cluster_idle_near_misses():
    assert (
        run("rds-cluster-idle", cluster(), {"cluster_connections_max": series(*(0,) * 13, 2)}, MEMBERS)
        is None
    )
    assert run("rds-cluster-idle", cluster(age=13), {"cluster_connections_max": ZERO}, MEMBERS) is None
    assert (
        run("rds-cluster-idle", cluster(), {"cluster_connections_max": series(*(0,) * 11)}, MEMBERS) is None
    )
    assert (
        run("rds-cluster-idle", cluster(status="stopped"), {"cluster_connections_max": ZERO}, MEMBERS) is None
    )


@pytest.mark.parametrize(
    "replica",
    [
        {"replica_cluster": True, "replication_source": "arn:aws:rds:us-west-2:1:cluster:primary"},
        {"replica_cluster": True, "global_cluster_id": "global-orders"},  # a headless secondary
    ],
)
def test_a_replica_cluster_is_not_idle(replica):
    """An Aurora global database's secondary (or a cross-region replica cluster) serves no
    connection until promoted: it is a disaster-recovery copy, not an idle cluster."""
    r = cluster()
    r = Resource(
        r.provider,
        r.kind,
        r.resource_id,
        r.region,
        created_at=r.created_at,
        attributes=r.attributes | replica,
    )
    assert run("rds-cluster-idle", r, {"cluster_connections_max": ZERO}, MEMBERS) is None
    assert not RULES["rds-cluster-idle"].candidate(
        r, RULES["rds-cluster-idle"].resolve_params(), Context(now=NOW, prices=PRICES)
    )
    primary = cluster()  # the global database's primary (writer) is judged as any cluster
    primary.attributes.update(global_cluster_id="global-orders", replica_cluster=False)
    assert run("rds-cluster-idle", primary, {"cluster_connections_max": ZERO}, MEMBERS) is not None


def test_a_read_replica_is_not_idle():
    replica = db(read_replica_source="orders-primary")
    assert run("rds-instance-idle", replica, {"connections_max": ZERO}) is None
    rule = RULES["rds-instance-idle"]
    ctx = Context(now=NOW, prices=PRICES)
    assert not rule.candidate(replica, rule.resolve_params(), ctx)  # its series is not even fetched
    assert run("rds-instance-idle", db(read_replica_source=None), {"connections_max": ZERO}) is not None


def test_cluster_listing_tells_replica_clusters(monkeypatch):
    """DescribeDBClusters: ReplicationSourceIdentifier, GlobalClusterIdentifier and whether a
    member is the writer say which clusters are replicas (stubbed: moto makes every secondary's
    member a writer and sets no replication source)."""
    from botocore.stub import Stubber

    client = boto3.client("rds", region_name="eu-west-1", aws_access_key_id="a", aws_secret_access_key="b")

    class Conn:
        def client(self, service, region):
            return client

    def c(cid, members=(), **extra):
        return {
            "DBClusterIdentifier": cid,
            "Engine": "aurora-postgresql",
            "Status": "available",
            "DBClusterMembers": [{"DBInstanceIdentifier": m, "IsClusterWriter": w} for m, w in members],
            **extra,
        }

    glob = "arn:aws:rds::1:global-cluster:orders"
    clusters = [
        c("plain", [("p-1", True)]),
        c("primary", [("w-1", True), ("r-1", False)], GlobalClusterIdentifier=glob),
        c("secondary", [("s-1", False)], GlobalClusterIdentifier=glob),
        c("headless", [], GlobalClusterIdentifier=glob),
        c("xregion", [("x-1", True)], ReplicationSourceIdentifier="arn:aws:rds:us-east-1:1:cluster:src"),
    ]
    with Stubber(client) as stub:
        stub.add_response("describe_db_clusters", {"DBClusters": clusters}, {})
        out = KINDS.get("aws.rds.db_cluster").list(Conn(), "eu-west-1", NOW, {})
    a = {r.resource_id: r.attributes for r in out}
    assert {k: v["replica_cluster"] for k, v in a.items()} == {
        "plain": False,
        "primary": False,
        "secondary": True,
        "headless": True,
        "xregion": True,
    }
    assert (
        a["xregion"]["replication_source"].endswith(":cluster:src")
        and a["primary"]["global_cluster_id"] == glob
    )
    ml = KINDS.get("aws.rds.db_cluster").ml_config
    assert not {"replica_cluster", "replication_source", "global_cluster_id"} & set(ml)


def test_cluster_idle_with_an_unlisted_member_says_so():
    det = run(
        "rds-cluster-idle", cluster(members=("m-1", "m-gone")), {"cluster_connections_max": ZERO}, MEMBERS
    )
    assert det.monthly_cost == PRICES.rds_instance("db.r5.large", "aurora-mysql")
    assert "1 member(s) of unknown price" in det.evidence["price"]


# --- kinds against moto -------------------------------------------------------------------------------


@pytest.fixture
def moto_rds(monkeypatch):
    from moto import mock_aws

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        yield boto3.client("rds", region_name="eu-west-1")


class _Conn:
    """What a listing gets: clients by (service, region), counting every API request."""

    def __init__(self):
        self.calls: Counter = Counter()
        self._clients = {}

    def client(self, service, region):
        if (service, region) not in self._clients:
            c = boto3.client(service, region_name=region)
            c.meta.events.register("before-call.*.*", self._count)
            self._clients[(service, region)] = c
        return self._clients[(service, region)]

    def _count(self, model=None, **_):
        self.calls[f"{model.service_model.service_name}:{model.name}"] += 1


def _list(kind_key, conn, region="eu-west-1"):
    kind = KINDS.get(kind_key)
    deps = {d.key: d.list(conn, region, NOW, {}) for d in KINDS.closure({kind_key}) if d.key != kind_key}
    return kind.list(conn, region, NOW, deps)


def test_kinds_list_rds_once_per_region(moto_rds):
    rds = moto_rds
    common = {"MasterUsername": "admin", "MasterUserPassword": "password-1"}
    rds.create_db_instance(
        DBInstanceIdentifier="live",
        DBInstanceClass="db.m5.large",
        Engine="postgres",
        AllocatedStorage=50,
        MultiAZ=True,
        Tags=[{"Key": "Name", "Value": "orders"}, {"Key": "team", "Value": "a"}],
        **common,
    )
    rds.create_db_instance(
        DBInstanceIdentifier="gone", DBInstanceClass="db.t3.micro", Engine="mysql", **common
    )
    rds.create_db_snapshot(DBInstanceIdentifier="live", DBSnapshotIdentifier="snap-live")
    rds.delete_db_instance(DBInstanceIdentifier="gone", FinalDBSnapshotIdentifier="snap-gone")
    rds.stop_db_instance(DBInstanceIdentifier="live")
    rds.create_db_cluster(DBClusterIdentifier="cl", Engine="aurora-mysql", **common)
    rds.create_db_instance(
        DBInstanceIdentifier="cl-1",
        DBInstanceClass="db.r5.large",
        Engine="aurora-mysql",
        DBClusterIdentifier="cl",
    )
    rds.create_db_cluster(DBClusterIdentifier="cl-gone", Engine="aurora-postgresql", **common)
    rds.create_db_cluster_snapshot(DBClusterIdentifier="cl-gone", DBClusterSnapshotIdentifier="cs-gone")
    rds.create_db_cluster_snapshot(DBClusterIdentifier="cl", DBClusterSnapshotIdentifier="cs-live")
    rds.delete_db_cluster(DBClusterIdentifier="cl-gone", SkipFinalSnapshot=True)

    conn = _Conn()
    instances = {r.resource_id: r for r in _list("aws.rds.db_instance", conn)}
    assert set(instances) == {"live", "cl-1"}
    live = instances["live"]
    assert live.name == "orders" and live.tags["team"] == "a" and live.created_at is not None
    assert (
        live.attributes.items()
        >= {
            "status": "stopped",
            "engine": "postgres",
            "db_class": "db.m5.large",
            "multi_az": True,
            "allocated_gb": 50,
            "cluster_id": None,
        }.items()
    )
    assert live.config == {
        "engine": "postgres",
        "class_family": "m5",
        "class_size": "large",
        "storage_type": "gp2",
        "allocated_gb": 50,
        "multi_az": True,
        "status": "stopped",
        "cluster_member": False,
    }
    assert set(live.config) == set(KINDS.get("aws.rds.db_instance").ml_config)
    assert (
        instances["cl-1"].attributes["cluster_id"] == "cl"
        and instances["cl-1"].parent_kind == "aws.rds.db_cluster"
    )
    assert conn.calls == Counter({"rds:DescribeDBInstances": 1})

    conn = _Conn()
    snaps = {r.resource_id: r for r in _list("aws.rds.db_snapshot", conn)}
    assert set(snaps) == {"snap-live", "snap-gone"}  # manual only (moto made automated ones too)
    assert snaps["snap-gone"].attributes["source_instance_exists"] is False
    assert snaps["snap-live"].attributes["source_instance_exists"] is True
    assert snaps["snap-gone"].parent_state == "orphan"
    assert conn.calls == Counter({"rds:DescribeDBInstances": 1, "rds:DescribeDBSnapshots": 1})

    conn = _Conn()
    clusters = {r.resource_id: r for r in _list("aws.rds.db_cluster", conn)}
    assert set(clusters) == {"cl"} and clusters["cl"].attributes["members"] == ["cl-1"]
    assert conn.calls == Counter({"rds:DescribeDBClusters": 1})

    conn = _Conn()
    csnaps = {r.resource_id: r for r in _list("aws.rds.db_cluster_snapshot", conn)}
    assert set(csnaps) == {"cs-gone", "cs-live"}
    assert csnaps["cs-gone"].attributes["source_cluster_exists"] is False
    assert csnaps["cs-live"].attributes["source_cluster_exists"] is True
    assert conn.calls == Counter({"rds:DescribeDBClusters": 1, "rds:DescribeDBClusterSnapshots": 1})


def test_instance_listing_follows_pages(moto_rds):
    for i in range(105):  # moto pages DescribeDBInstances by 100
        moto_rds.create_db_instance(
            DBInstanceIdentifier=f"db-{i:03d}",
            DBInstanceClass="db.t3.micro",
            Engine="mysql",
            MasterUsername="a",
        )
    conn = _Conn()
    assert len(_list("aws.rds.db_instance", conn)) == 105
    assert conn.calls["rds:DescribeDBInstances"] == 2


def test_other_services_on_the_rds_api_are_left_out(moto_rds):
    moto_rds.create_db_cluster(DBClusterIdentifier="graph", Engine="neptune")
    assert _list("aws.rds.db_cluster", _Conn()) == []


def test_without_rds_backup_and_aurora_prices_the_rules_fall_back_and_say_so(monkeypatch):
    """A table without the RDS backup, Aurora backup and Aurora instance prices (a refreshed one:
    `prices refresh` reads MySQL and PostgreSQL only) gives lower bounds, said in the evidence."""
    import copy

    from cloudwaste.scanner import pricing

    table = copy.deepcopy(pricing.load_table())
    rds = table["regions"]["us-east-1"]["rds"]
    for key in ("snapshot_gb_month", "aurora_snapshot_gb_month"):
        del rds[key]
    for engine in ("aurora-mysql", "aurora-postgresql"):
        del rds["instance_hour"][engine]
    prices = AwsPrices("us-east-1", table)
    monkeypatch.setitem(globals(), "PRICES", prices)
    det = run("rds-snapshot-orphaned", snap(age=300))
    assert det.monthly_cost == prices.ebs_snapshot(200) and "lower bound" in det.evidence["price"]
    det = run("rds-cluster-snapshot-orphaned", snap("aws.rds.db_cluster_snapshot", age=300))
    assert det.monthly_cost == prices.s3_standard(200) and "approximation" in det.evidence["price"]
    det = run("rds-cluster-idle", cluster(), {"cluster_connections_max": ZERO}, related=MEMBERS)
    assert det.monthly_cost == prices.rds_instance("db.r5.large", "mysql") + prices.rds_instance(
        "db.r6g.large", "mysql"
    )
    assert "lower bound" in det.evidence["price"]
