"""ElastiCache, Redshift, OpenSearch, DynamoDB and EKS rules at their boundaries (age, thresholds,
coverage, missing data, exclusivity of the rules of one kind, prices, evidence) and their kinds'
listings against moto (fields, and the calls each listing makes)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter
from decimal import Decimal

import boto3
import pytest
from cloudwaste.scanner.domain import Resource
from cloudwaste.scanner.kinds import load_all as load_kinds
from cloudwaste.scanner.pricing import AwsPrices
from cloudwaste.scanner.rules import Context, Series, load_all

RULES = load_all().rules
KINDS = load_kinds()
NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
REGION = "eu-west-1"
PRICES = AwsPrices(REGION)
DAY = 86400.0


def _res(kind: str, age: float | None, rid: str = "r-1", **attributes) -> Resource:
    created = None if age is None else NOW - dt.timedelta(days=age)
    return Resource("aws", kind, rid, REGION, created_at=created, attributes=attributes)


def run(key: str, r: Resource, series: dict[str, Series] | None = None, **overrides):
    """Evaluate rule `key` on `r`; `series` maps metric names to the series the engine fetched
    (for the rule's window); a metric not given was not fetched (None)."""
    rule = RULES[key]
    params = {k: v for k, v in rule.resolve_params(overrides).items() if k != "enabled"}
    days = rule.metric_window(params) if rule.metrics else 0
    given = series or {}

    def metric(res, name, d):
        assert d == days, f"{key} read {name} over {d} days, not its window {days}"
        return given.get(name)

    return rule.evaluate(r, params, Context(now=NOW, prices=PRICES, metric=metric))


def flat(value: float, days: int, got: int | None = None) -> Series:
    return Series((float(value),) * (days if got is None else got), days)


# --- ElastiCache ----------------------------------------------------------------------------------

CACHE = "aws.elasticache.cluster"


def cache(node_type="cache.r6g.large", age=60.0, engine="redis", nodes=1, state="available") -> Resource:
    return _res(CACHE, age, state=state, node_type=node_type, engine=engine, num_nodes=nodes)


def quiet(conns=3.0, cmds=0.0, got=14, engine="redis") -> dict[str, Series]:
    reads, writes = ("cmd_get", "cmd_set") if engine == "memcached" else ("get_type_cmds", "set_type_cmds")
    return {"curr_connections": flat(conns, 14, got), reads: flat(cmds, 14, got), writes: flat(0, 14, got)}


def test_idle_cache_fires_high_priced_per_node():
    det = run("elasticache-cluster-idle", cache(nodes=3), quiet())
    assert det is not None and det.confidence == "HIGH"
    assert det.monthly_cost == PRICES.elasticache_node("cache.r6g.large") * 3 > 0
    assert det.evidence["curr_connections_peak"]["datapoints"] == 14
    assert det.evidence["GetTypeCmds"]["total"] == 0 and det.evidence["price_date"]


@pytest.mark.parametrize(("conns", "fires"), [(4.0, True), (4.5, False), (12.0, False)])
def test_idle_cache_connection_baseline_is_inclusive(conns, fires):
    assert (run("elasticache-cluster-idle", cache(), quiet(conns=conns)) is not None) == fires


def test_cache_serving_commands_is_not_idle():
    assert run("elasticache-cluster-idle", cache(), quiet(cmds=1.0)) is None


@pytest.mark.parametrize(("age", "fires"), [(13.9, False), (14.0, True)])
def test_idle_cache_must_be_as_old_as_the_window(age, fires):
    assert (run("elasticache-cluster-idle", cache(age=age), quiet()) is not None) == fires


@pytest.mark.parametrize(("got", "expected"), [(14, "HIGH"), (12, "MEDIUM"), (11, None), (0, None)])
def test_idle_cache_needs_coverage(got, expected):
    det = run("elasticache-cluster-idle", cache(), quiet(got=got))
    assert (det and det.confidence) == expected


def test_idle_cache_without_fetched_series_or_not_available_is_not_judged():
    assert run("elasticache-cluster-idle", cache(), {}) is None
    assert run("elasticache-cluster-idle", cache(state="modifying"), quiet()) is None


def test_memcached_reads_its_own_command_metrics():
    r = cache(engine="memcached", nodes=2)
    assert run("elasticache-cluster-idle", r, quiet(engine="memcached")) is not None
    assert run("elasticache-cluster-idle", r, quiet(engine="memcached", cmds=5.0)) is None
    assert run("elasticache-cluster-idle", r, quiet(engine="redis")) is None  # redis metrics: no data


def test_idle_cache_of_an_unknown_node_type_costs_zero_and_says_so():
    det = run("elasticache-cluster-idle", cache(node_type="cache.x9.huge"), quiet())
    assert det.monthly_cost == 0 and "unknown" in det.evidence["price"]


def test_previous_generation_busy_cluster_saves_the_price_difference():
    det = run("elasticache-previous-generation", cache("cache.m4.large", nodes=2), quiet(cmds=900.0))
    old, new = PRICES.elasticache_node("cache.m4.large"), PRICES.elasticache_node("cache.m6g.large")
    assert det.confidence == "HIGH" and det.monthly_cost == (old - new) * 2 > 0
    assert det.evidence["recommended_node_type"] == "cache.m6g.large"


@pytest.mark.parametrize(
    ("node_type", "target"),
    [("cache.t2.small", "cache.t4g.small"), ("cache.r4.large", "cache.r6g.large"), ("cache.m3.medium", None)],
)
def test_previous_generation_families(node_type, target):
    det = run("elasticache-previous-generation", cache(node_type), quiet(cmds=50.0))
    assert det is not None
    if target is None:  # cache.m6g.medium does not exist: no price, the saving is 0 and said
        assert det.monthly_cost == 0 and det.confidence == "MEDIUM" and "unknown" in det.evidence["price"]
    else:
        assert det.evidence["recommended_node_type"] == target and det.monthly_cost > 0


@pytest.mark.parametrize("node_type", ["cache.m5.large", "cache.r6g.large", "cache.t4g.micro", "weird"])
def test_current_generation_is_not_flagged(node_type):
    assert run("elasticache-previous-generation", cache(node_type), quiet(cmds=50.0)) is None


def test_idle_previous_generation_cluster_is_the_idle_rules_only():
    r = cache("cache.m4.large")
    assert run("elasticache-cluster-idle", r, quiet()) is not None
    assert run("elasticache-previous-generation", r, quiet()) is None
    # too young to be judged idle: it is the previous-generation rule's
    young = cache("cache.m4.large", age=3)
    assert run("elasticache-cluster-idle", young, {}) is None
    assert run("elasticache-previous-generation", young, {}) is not None
    # not enough data to be judged idle: the same
    assert run("elasticache-previous-generation", r, quiet(got=5)) is not None


# --- Redshift ------------------------------------------------------------------------------------

RS = "aws.redshift.cluster"


def warehouse(state="available", age=60.0, node_type="ra3.xlplus", nodes=2) -> Resource:
    return _res(RS, age, state=state, node_type=node_type, num_nodes=nodes)


def test_idle_redshift_fires_priced_per_node():
    det = run("redshift-cluster-idle", warehouse(), {"database_connections": flat(0, 7)})
    assert det.confidence == "HIGH"
    assert det.monthly_cost == PRICES.redshift_node("ra3.xlplus") * 2 > 0
    assert det.evidence["database_connections_peak"]["datapoints"] == 7


@pytest.mark.parametrize(
    ("r", "series", "fires"),
    [
        (warehouse(), {"database_connections": Series((0.0,) * 6 + (1.0,), 7)}, False),  # one connection
        (warehouse(age=6.9), {"database_connections": flat(0, 7)}, False),  # too young
        (warehouse(age=7.0), {"database_connections": flat(0, 7)}, True),
        (warehouse(), {"database_connections": flat(0, 7, got=6)}, True),  # 6/7 = 0.857
        (warehouse(), {"database_connections": flat(0, 7, got=5)}, False),  # missing days
        (warehouse(), {}, False),  # not fetched
        (warehouse(state="paused"), {"database_connections": flat(0, 7)}, False),
    ],
)
def test_idle_redshift_near_misses(r, series, fires):
    assert (run("redshift-cluster-idle", r, series) is not None) == fires


def test_idle_redshift_unknown_node_type_costs_zero():
    det = run(
        "redshift-cluster-idle", warehouse(node_type="ds2.xlarge"), {"database_connections": flat(0, 7)}
    )
    assert det.monthly_cost == 0 and "unknown" in det.evidence["price"]


def test_paused_long_fires_at_zero_cost_and_says_why():
    det = run("redshift-cluster-paused-long", warehouse("paused", age=90), {"cpu_maximum": Series((), 30)})
    assert det.confidence == "MEDIUM" and det.monthly_cost == Decimal(0)
    assert det.evidence["paused_at_least_days"] == 30 and "price" in det.evidence


@pytest.mark.parametrize(
    ("r", "series"),
    [
        (warehouse("paused", age=90), {"cpu_maximum": Series((3.0,), 30)}),  # ran in the window
        (warehouse("paused", age=29.9), {"cpu_maximum": Series((), 30)}),  # younger than the window
        (warehouse("available", age=90), {"cpu_maximum": Series((), 30)}),
        (warehouse("paused", age=90), {}),  # not fetched: not judged
    ],
)
def test_paused_long_near_misses(r, series):
    assert run("redshift-cluster-paused-long", r, series) is None


# --- OpenSearch -----------------------------------------------------------------------------------

OS = "aws.opensearch.domain"


def domain(itype="m5.large.search", count=2, gb=100, masters=0, master_type=None, state="active") -> Resource:
    return _res(
        OS,
        None,  # the API gives no creation time
        state=state,
        account_id="123456789012",
        instance_type=itype,
        instance_count=count,
        dedicated_master_type=master_type,
        dedicated_master_count=masters,
        volume_gb=gb,
        volume_type="gp3",
    )


def rates(search=0.0, indexing=0.0, got=14) -> dict[str, Series]:
    return {"search_rate": flat(search, 14, got), "indexing_rate": flat(indexing, 14, got)}


def test_idle_domain_prices_nodes_masters_and_storage():
    det = run("opensearch-domain-idle", domain(masters=3, master_type="m5.large.search"), rates())
    node = PRICES.monthly_from_hourly("opensearch", "instance_hour", "m5.large.search")
    storage = PRICES.monthly("opensearch", "storage_gb_month", quantity=200)
    assert det.confidence == "HIGH" and det.monthly_cost == node * 5 + storage
    assert det.evidence["search_rate"]["datapoints"] == 14


@pytest.mark.parametrize(
    ("series", "expected"),
    [
        (rates(search=1.0), None),
        (rates(indexing=50.0), None),  # log ingestion nobody searches is still use
        (rates(got=12), "MEDIUM"),  # the coverage boundary
        (rates(got=11), None),
        (rates(got=8), None),  # a domain 8 days old
    ],
)
def test_idle_domain_near_misses(series, expected):
    det = run("opensearch-domain-idle", domain(), series)
    assert (det and det.confidence) == expected


def test_idle_domain_unknown_instance_type_prices_storage_only():
    det = run("opensearch-domain-idle", domain(itype="x9.huge.search"), rates())
    assert det.monthly_cost == PRICES.monthly("opensearch", "storage_gb_month", quantity=200)
    assert "x9.huge.search" in det.evidence["price"]


def test_processing_domain_is_not_judged():
    assert run("opensearch-domain-idle", domain(state="processing"), rates()) is None


def test_idle_domain_metric_dimensions_include_the_account():
    (search, _) = RULES["opensearch-domain-idle"].metrics
    assert search.dimensions(domain()) == (("DomainName", "r-1"), ("ClientId", "123456789012"))


# --- DynamoDB -------------------------------------------------------------------------------------

DDB = "aws.dynamodb.table"


def table(
    rcu=100, wcu=50, age=60.0, mode="PROVISIONED", gsi_rcu=0, gsi_wcu=0, state="ACTIVE", size_bytes=1000
) -> Resource:
    return _res(
        DDB,
        age,
        state=state,
        billing_mode=mode,
        read_capacity_units=rcu,
        write_capacity_units=wcu,
        gsi_count=1 if gsi_rcu or gsi_wcu else 0,
        gsi_read_capacity_units=gsi_rcu,
        gsi_write_capacity_units=gsi_wcu,
        size_bytes=size_bytes,
    )


def used(read_per_s: float, write_per_s: float, days=14, got=None) -> dict[str, Series]:
    """Daily sums whose whole day fits in one minute at these rates (the rule's peak bound)."""
    return {
        "consumed_read": flat(read_per_s * 60, days, got),
        "consumed_write": flat(write_per_s * 60, days, got),
    }


def test_a_nightly_burst_is_not_overprovisioned():
    # flat out (100 RCU) one hour a night: a 4% daily average, but 100% for that hour
    nightly = {"consumed_read": flat(100 * 3600, 14), "consumed_write": flat(0.01 * 60, 14)}
    det = run("dynamodb-table-overprovisioned", table(100, 50), nightly)
    assert det is not None and "read_capacity" not in det.evidence  # only the idle write side
    # the same reads spread evenly over the day (4.2 RCU/s): still a day's sum far above a minute at 30%
    spread = {"consumed_read": flat(100 * 3600, 14), "consumed_write": flat(50 * 86400 * 0.5, 14)}
    assert run("dynamodb-table-overprovisioned", table(100, 50), spread) is None
    # a day's whole consumption within a minute at 10 RCU/s: 10% of 100
    det = run("dynamodb-table-overprovisioned", table(100, 50), used(10.0, 40.0))
    read = det.evidence["read_capacity"]
    assert read["peak_units_per_second_bound"] == 10.0 and read["recommended_units"] == 15
    assert "minute" in read["peak_basis"]


def test_overprovisioned_prices_the_capacity_above_the_need():
    det = run("dynamodb-table-overprovisioned", table(100, 50), used(5.0, 2.0))
    # needed: ceil(5 / 0.7) = 8 RCU, ceil(2 / 0.7) = 3 WCU
    assert det.monthly_cost == PRICES.dynamodb_provisioned(92, 47) > 0
    assert det.evidence["read_capacity"]["recommended_units"] == 8
    assert det.evidence["write_capacity"]["recommended_units"] == 3
    assert det.confidence == "HIGH"


@pytest.mark.parametrize(("share", "fires"), [(0.29, True), (0.30, False)])
def test_overprovisioned_threshold_is_exclusive(share, fires):
    det = run("dynamodb-table-overprovisioned", table(100, 50), used(100 * share, 50 * 0.5))
    assert (det is not None) == fires
    if det:
        assert "write_capacity" not in det.evidence  # only the read side is over-provisioned
        assert det.monthly_cost == PRICES.dynamodb_provisioned(100 - 42, 0) and det.confidence == "MEDIUM"


@pytest.mark.parametrize(
    ("r", "series"),
    [
        (table(), used(0.0, 0.0)),  # nothing consumed: dynamodb-table-unused's
        (table(), {"consumed_read": Series((), 14), "consumed_write": Series((), 14)}),
        (table(age=13.9), used(1.0, 1.0)),
        (table(), used(1.0, 1.0, got=11)),  # 11/14 days of data
        (table(mode="PAY_PER_REQUEST", rcu=0, wcu=0), used(1.0, 1.0)),
        (table(1, 1), used(0.01, 0.01)),  # already at the minimum
        (table(), {}),
    ],
)
def test_overprovisioned_near_misses(r, series):
    assert run("dynamodb-table-overprovisioned", r, series) is None


def test_unused_provisioned_prices_all_capacity():
    series = {"consumed_read": Series((), 30), "consumed_write": Series((), 30)}
    det = run("dynamodb-table-unused", table(20, 10, size_bytes=40 * 10**9), series)
    storage = PRICES.monthly("dynamodb", "storage_gb_month", quantity=40)
    assert det.monthly_cost == PRICES.dynamodb_provisioned(20, 10) + storage > storage > 0
    assert det.confidence == "MEDIUM"  # no datapoints at all
    zeros = {"consumed_read": flat(0, 30), "consumed_write": flat(0, 30, got=3)}
    assert run("dynamodb-table-unused", table(20, 10), zeros).confidence == "HIGH"


def test_unused_on_demand_saves_its_storage_and_an_empty_one_says_why_it_is_zero():
    series = {"consumed_read": Series((), 30), "consumed_write": Series((), 30)}
    det = run("dynamodb-table-unused", table(0, 0, mode="PAY_PER_REQUEST", size_bytes=12 * 10**9), series)
    assert det.monthly_cost == PRICES.monthly("dynamodb", "storage_gb_month", quantity=12) > 0
    assert "price" not in det.evidence
    det = run("dynamodb-table-unused", table(0, 0, mode="PAY_PER_REQUEST", size_bytes=0), series)
    assert det.monthly_cost == 0 and "empty on-demand table" in det.evidence["price"]


@pytest.mark.parametrize(
    ("r", "series"),
    [
        (table(), {"consumed_read": Series((), 30), "consumed_write": Series((9000.0,), 30)}),
        (table(age=29.9), {"consumed_read": Series((), 30), "consumed_write": Series((), 30)}),
        (table(state="CREATING"), {"consumed_read": Series((), 30), "consumed_write": Series((), 30)}),
        (table(), {}),
        # reads through a global secondary index are not in the table-level metrics
        (table(gsi_rcu=5, gsi_wcu=5), {"consumed_read": Series((), 30), "consumed_write": Series((), 30)}),
    ],
)
def test_unused_near_misses(r, series):
    assert run("dynamodb-table-unused", r, series) is None


def test_overprovisioned_and_unused_are_exclusive():
    r = table()
    silent14, silent30 = used(0.0, 0.0, 14), used(0.0, 0.0, 30)
    assert run("dynamodb-table-overprovisioned", r, silent14) is None
    assert run("dynamodb-table-unused", r, silent30) is not None


# --- EKS ------------------------------------------------------------------------------------------

EKS = "aws.eks.cluster"


def k8s(age=30.0, state="ACTIVE", nodegroups=0, fargate=0, auto_mode=False, instances=0) -> Resource:
    return _res(
        EKS,
        age,
        state=state,
        version="1.30",
        nodegroup_count=nodegroups,
        fargate_profile_count=fargate,
        auto_mode=auto_mode,
        node_instance_count=instances,
    )


def test_empty_eks_cluster_fires_medium_priced_as_the_control_plane():
    det = run("eks-cluster-no-nodes", k8s())
    assert det.confidence == "MEDIUM" and det.monthly_cost == PRICES.eks_cluster() > 0
    assert "self_managed_nodes" in det.evidence


@pytest.mark.parametrize(
    "r",
    [
        k8s(nodegroups=1),
        k8s(fargate=2),
        k8s(age=13.9),
        k8s(state="CREATING"),
        k8s(age=None),
        k8s(auto_mode=True),  # EKS Auto Mode launches its nodes without node groups
        k8s(instances=2),  # self-managed or Karpenter nodes, tagged as the cluster's
    ],
)
def test_eks_near_misses(r):
    assert run("eks-cluster-no-nodes", r) is None


def test_eks_age_boundary():
    assert run("eks-cluster-no-nodes", k8s(age=14.0)) is not None


# --- the kinds' listings against moto ------------------------------------------------------------


class Conn:
    """A provider connection over moto that counts the operations each listing makes."""

    def __init__(self) -> None:
        self.calls: Counter = Counter()

    def client(self, service: str, region: str):
        c = boto3.client(service, region_name=region)
        c.meta.events.register("before-call", self._count)
        return c

    def _count(self, model, **_):
        self.calls[f"{model.service_model.service_name}:{model.name}"] += 1


@pytest.fixture
def aws(monkeypatch):
    from moto import mock_aws

    for k, v in {
        "AWS_ACCESS_KEY_ID": "t",
        "AWS_SECRET_ACCESS_KEY": "t",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(k, v)
    with mock_aws():
        yield


def _list(kind: str, conn: Conn, region: str = REGION, deps=None):
    return KINDS.get(kind).list(conn, region, NOW, deps or {})


def test_cache_cluster_listing(aws):
    ec = boto3.client("elasticache", region_name=REGION)
    ec.create_cache_cluster(CacheClusterId="c-redis", CacheNodeType="cache.m4.large", Engine="redis")
    ec.create_cache_cluster(
        CacheClusterId="c-mem", CacheNodeType="cache.t4g.small", Engine="memcached", NumCacheNodes=3
    )
    conn = Conn()
    found = {r.resource_id: r for r in _list(CACHE, conn)}
    assert conn.calls == Counter({"elasticache:DescribeCacheClusters": 1})
    assert (
        found["c-mem"].attributes.items()
        >= {"num_nodes": 3, "engine": "memcached", "state": "available"}.items()
    )
    assert found["c-redis"].config == {
        "node_type": "cache.m4.large",
        "engine": "redis",
        "num_nodes": 1,
        "in_replication_group": False,
    }
    assert found["c-redis"].created_at is not None
    assert _list(CACHE, Conn(), "us-west-2") == []


def test_redshift_listing(aws):
    rs = boto3.client("redshift", region_name=REGION)
    for cid in ("dwh-a", "dwh-b"):
        rs.create_cluster(
            ClusterIdentifier=cid,
            NodeType="ra3.xlplus",
            ClusterType="multi-node",
            NumberOfNodes=2,
            MasterUsername="admin",
            MasterUserPassword="Passw0rd-x",
            Tags=[{"Key": "team", "Value": "data"}],
        )
    rs.pause_cluster(ClusterIdentifier="dwh-b")
    conn = Conn()
    found = {r.resource_id: r for r in _list(RS, conn)}
    assert conn.calls == Counter({"redshift:DescribeClusters": 1})
    assert (
        found["dwh-a"].attributes["state"] == "available" and found["dwh-b"].attributes["state"] == "paused"
    )
    assert found["dwh-a"].attributes["num_nodes"] == 2 and found["dwh-a"].tags == {"team": "data"}


def test_opensearch_listing_describes_in_batches_of_five(aws):
    client = boto3.client("opensearch", region_name=REGION)
    for i in range(7):
        client.create_domain(
            DomainName=f"dom-{i}",
            ClusterConfig={
                "InstanceType": "m5.large.search",
                "InstanceCount": 2,
                "DedicatedMasterEnabled": i == 0,
                "DedicatedMasterType": "m5.large.search",
                "DedicatedMasterCount": 3,
            },
            EBSOptions={"EBSEnabled": True, "VolumeType": "gp3", "VolumeSize": 20},
        )
    conn = Conn()
    found = {r.resource_id: r for r in _list(OS, conn)}
    assert conn.calls == Counter({"opensearch:ListDomainNames": 1, "opensearch:DescribeDomains": 2})
    assert len(found) == 7 and found["dom-1"].created_at is None
    a = found["dom-0"].attributes
    assert a["account_id"] == "123456789012" and a["dedicated_master_count"] == 3 and a["volume_gb"] == 20
    assert found["dom-1"].attributes["dedicated_master_count"] == 0
    assert found["dom-1"].config["engine"] == "OpenSearch"


def test_dynamodb_listing(aws):
    ddb = boto3.client("dynamodb", region_name=REGION)
    common = {
        "KeySchema": [{"AttributeName": "k", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "k", "AttributeType": "S"}],
    }
    ddb.create_table(
        TableName="t-prov", ProvisionedThroughput={"ReadCapacityUnits": 10, "WriteCapacityUnits": 5}, **common
    )
    ddb.create_table(TableName="t-od", BillingMode="PAY_PER_REQUEST", **common)
    conn = Conn()
    found = {r.resource_id: r for r in _list(DDB, conn)}
    # ListTables once, then one DescribeTable per table (DynamoDB has no batch describe)
    assert conn.calls == Counter({"dynamodb:ListTables": 1, "dynamodb:DescribeTable": 2})
    assert found["t-prov"].attributes["read_capacity_units"] == 10
    assert found["t-prov"].attributes["billing_mode"] == "PROVISIONED"
    assert found["t-od"].attributes["billing_mode"] == "PAY_PER_REQUEST"
    assert found["t-od"].attributes["read_capacity_units"] == 0


def test_eks_listing_counts_node_groups_and_fargate_profiles(aws):
    eks = boto3.client("eks", region_name=REGION)
    role = "arn:aws:iam::123456789012:role/r"
    for name in ("k-empty", "k-nodes", "k-fargate", "k-karpenter", "k-self"):
        eks.create_cluster(name=name, roleArn=role, resourcesVpcConfig={"subnetIds": ["subnet-1"]})
    eks.create_nodegroup(clusterName="k-nodes", nodegroupName="ng", nodeRole=role, subnets=["subnet-1"])
    eks.create_fargate_profile(
        fargateProfileName="fp",
        clusterName="k-fargate",
        podExecutionRoleArn=role,
        selectors=[{"namespace": "x"}],
    )
    assert KINDS.get(EKS).requires == ("aws.ec2.instance",)

    def node(iid: str, **tags) -> Resource:
        return Resource("aws", "aws.ec2.instance", iid, REGION, tags=tags, attributes={"state": "running"})

    instances = [
        node("i-1", **{"eks:cluster-name": "k-karpenter"}),
        node("i-2", **{"kubernetes.io/cluster/k-self": "owned"}),
        node("i-3", **{"kubernetes.io/cluster/k-self": "owned", "eks:cluster-name": "k-self"}),
        node("i-4", Name="k-empty"),  # named like the cluster, not tagged as its node
    ]
    conn = Conn()
    found = {r.resource_id: r for r in _list(EKS, conn, deps={"aws.ec2.instance": instances})}
    # per cluster: DescribeCluster, ListNodegroups, ListFargateProfiles (no batch API)
    assert conn.calls == Counter(
        {
            "eks:ListClusters": 1,
            "eks:DescribeCluster": 5,
            "eks:ListNodegroups": 5,
            "eks:ListFargateProfiles": 5,
        }
    )
    assert (
        found["k-empty"].attributes.items()
        >= {
            "nodegroup_count": 0,
            "fargate_profile_count": 0,
            "state": "ACTIVE",
            "auto_mode": False,
            "node_instance_count": 0,
        }.items()
    )
    assert found["k-karpenter"].attributes["node_instance_count"] == 1
    assert found["k-self"].attributes["node_instance_count"] == 2
    fired = [
        n
        for n, r in found.items()
        if run("eks-cluster-no-nodes", dataclasses.replace(r, created_at=NOW - dt.timedelta(days=30)))
    ]
    assert fired == ["k-empty"]
    assert found["k-nodes"].attributes["nodegroup_count"] == 1
    assert found["k-fargate"].attributes["fargate_profile_count"] == 1


def test_eks_listing_records_auto_mode():
    from botocore.stub import Stubber

    client = boto3.client("eks", region_name=REGION, aws_access_key_id="t", aws_secret_access_key="t")
    stub = Stubber(client)
    stub.add_response("list_clusters", {"clusters": ["auto"]})
    stub.add_response(
        "describe_cluster",
        {"cluster": {"name": "auto", "status": "ACTIVE", "computeConfig": {"enabled": True}}},
        {"name": "auto"},
    )
    stub.add_response("list_nodegroups", {"nodegroups": []}, {"clusterName": "auto"})
    stub.add_response("list_fargate_profiles", {"fargateProfileNames": []}, {"clusterName": "auto"})

    class StubConn:
        def client(self, service, region):
            return client

    with stub:
        (found,) = _list(EKS, StubConn(), deps={"aws.ec2.instance": []})
    assert found.attributes["auto_mode"] is True and found.attributes["node_instance_count"] == 0
    assert (
        run("eks-cluster-no-nodes", dataclasses.replace(found, created_at=NOW - dt.timedelta(days=30)))
        is None
    )


def test_a_table_deleted_during_the_listing_is_skipped():
    from botocore.stub import Stubber

    client = boto3.client("dynamodb", region_name=REGION, aws_access_key_id="t", aws_secret_access_key="t")
    stub = Stubber(client)
    stub.add_response("list_tables", {"TableNames": ["gone", "here"]})
    stub.add_client_error(
        "describe_table", "ResourceNotFoundException", expected_params={"TableName": "gone"}
    )
    stub.add_response(
        "describe_table",
        {
            "Table": {
                "TableName": "here",
                "TableStatus": "ACTIVE",
                "BillingModeSummary": {"BillingMode": "PAY_PER_REQUEST"},
            }
        },
        {"TableName": "here"},
    )

    class StubConn:
        def client(self, service, region):
            return client

    with stub:
        found = _list(DDB, StubConn())
    assert [r.resource_id for r in found] == ["here"]
    stub.assert_no_pending_responses()
