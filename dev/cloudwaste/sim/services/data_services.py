"""Data services of the simulated estate: ElastiCache clusters, Redshift clusters, OpenSearch
domains, DynamoDB tables and EKS clusters, with the CloudWatch history their rules read.

Every rule of these kinds gets resources that must fire and near misses that must not:

* ``elasticache-cluster-idle``: no get/set commands and at most 4 connections (the boundary) for
  14+ days, current- and previous-generation node types (an idle previous-generation cluster is
  the idle rule's, not ``elasticache-previous-generation``'s); near misses: busy, a pub/sub
  client (no commands, 12 connections), younger than the window, 4 days of data missing.
* ``elasticache-previous-generation``: busy clusters on cache.m4/r4/t2, and a young one on t2
  (too young to be judged idle, so it is the previous-generation rule's).
* ``redshift-cluster-idle``: no connection for 7+ days; near misses: one connection a day, 5
  days old, 2 of 7 days missing.
* ``redshift-cluster-paused-long``: paused, no CPU datapoint for 30+ days (CPU history older than
  the window is the trap); near misses: paused but ran 10 days ago, paused but 20 days old.
* ``opensearch-domain-idle``: no search and no indexing for 14 days (12 of 14 days of data: the
  coverage boundary); near misses: searched, indexing only (log ingestion), 8 days of data (a
  young domain: the API gives no creation time), 11 of 14 days.
* ``dynamodb-table-overprovisioned``: provisioned tables using under 10% of their capacity; near
  misses: 40-60% used, 31% (the boundary), younger than the window, 10 of 14 days of data. The
  daily datapoint is the day's whole consumption as if in one minute (share x capacity x 60), so
  the rule's peak bound (a day's sum / 60 s) is the share.
* ``dynamodb-table-unused``: provisioned and on-demand tables with no datapoint for 30+ days;
  near misses: a monthly batch write 20 days ago, a busy on-demand table, 20 days old, a table
  with a global secondary index (its reads through the index are not in the table's metrics).
* ``eks-cluster-no-nodes``: ACTIVE clusters 14+ days old with no node group and no Fargate
  profile; near misses: a node group, a Fargate profile, 10 days old, still CREATING, no node
  group but a self-managed node (a busy running t3.medium with a gp3 root volume, tagged
  ``kubernetes.io/cluster/<name>``; it and its volume are in the truth as no waste). EKS Auto
  Mode (``computeConfig``) is not modelled by moto: that near miss lives in the unit tests.

moto gaps (written into its backends, see the module's functions): creation times of every kind
(the APIs do not set them), the EKS status CREATING. moto's DescribeCacheClusters ignores
ShowCacheNodeInfo (no CacheNodes: NumCacheNodes is used) and its DeleteCacheCluster leaves the
cluster listed as ``deleting`` (the rules judge ``available`` clusters only).
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from ..estate_moto import BackendWriter, naive
from ..truth import TruthResource
from . import SeedContext, ServiceEstate

NAME = "data_services"

CACHE = "aws.elasticache.cluster"
REDSHIFT = "aws.redshift.cluster"
DOMAIN = "aws.opensearch.domain"
TABLE = "aws.dynamodb.table"
EKS = "aws.eks.cluster"
INSTANCE = "aws.ec2.instance"
VOLUME = "aws.ec2.volume"
_AMI = "ami-0c0ffee0000051a7e"  # the core estate's image id
_NODE_HISTORY_DAYS = 16  # busy CPU and network, as the core estate's running instances

# Rough us-east-1 hourly prices for the simulated decisions (not the scanner's table).
_HOURLY = {
    "cache.t4g.small": 0.032,
    "cache.m6g.large": 0.149,
    "cache.r6g.large": 0.206,
    "cache.m4.large": 0.156,
    "cache.r4.large": 0.228,
    "cache.t2.small": 0.034,
    "dc2.large": 0.25,
    "ra3.xlplus": 1.086,
    "ra3.4xlarge": 3.26,
    "t3.small.search": 0.036,
    "m5.large.search": 0.142,
    "r6g.large.search": 0.167,
}
_CURRENT_CACHE = ("cache.t4g.small", "cache.m6g.large", "cache.r6g.large")
_PREVIOUS_CACHE = ("cache.m4.large", "cache.r4.large", "cache.t2.small")
_ROLE = "arn:aws:iam::{account}:role/{name}"

# Shares of ctx.size: a variant that fires, a near miss.
_FIRES, _NEAR = 0.0015, 0.0007


def _monthly(hourly: float, count: int = 1) -> float:
    return round(hourly * count * 730, 2)


def _tag_list(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


class _Seeder:
    def __init__(self, ctx: SeedContext) -> None:
        self.ctx = ctx
        self.rng = ctx.rng(NAME)
        self.out: list[TruthResource] = []
        self.serial = 0

    # -- helpers

    def name(self, prefix: str) -> str:
        self.serial += 1
        return f"{prefix}-{self.serial:04d}-{self.rng.randrange(16**4):04x}"

    def record(
        self,
        rid: str,
        kind: str,
        region: str,
        tags: dict[str, str],
        scenario: str | None,
        age: float | None,
        cost: float,
    ) -> None:
        decision = None
        if scenario is not None:
            decision = self.ctx.decide(
                self.rng, tags=tags, scenario=scenario, age_days=age, monthly_cost=cost
            )
        self.out.append(self.ctx.truth(rid, kind, region, tags, scenario, decision))

    def history(
        self,
        region: str,
        namespace: str,
        metric: str,
        dims: dict[str, str],
        values: list[float],
        *,
        skip: frozenset[int] = frozenset(),
        unit: str = "Count",
        newest_days_ago: float = 0,
    ) -> None:
        """Daily datapoints, newest first; `skip` drops those days (missing data)."""
        points = self.ctx.daily_points(metric, dims, values, unit, newest_hours_ago=1 + 24 * newest_days_ago)
        self.ctx.put_metrics(region, namespace, [p for i, p in enumerate(points) if i not in skip])

    def age(self, lo: float, hi: float) -> float:
        return round(self.rng.uniform(lo, hi), 2)

    def count(self, fires: bool) -> int:
        return self.ctx.count(_FIRES if fires else _NEAR)

    # -- ElastiCache

    def cache(self, variant: str, scenario: str | None, node_types: tuple[str, ...]) -> None:
        fires = scenario is not None
        for _ in range(self.count(fires)):
            region = self.ctx.pick_region(self.rng)
            node_type = self.rng.choice(node_types)
            engine = "memcached" if self.rng.random() < 0.3 else "redis"
            nodes = self.rng.choice((1, 2, 3)) if engine == "memcached" else 1
            age = {"young": self.age(3, 12), "young-prevgen": self.age(2, 10)}.get(variant, self.age(20, 500))
            cid = self.name("cw-cache")
            tags = self.ctx.tags(self.rng, "cache")
            self.ctx.client("elasticache", region).create_cache_cluster(
                CacheClusterId=cid,
                CacheNodeType=node_type,
                Engine=engine,
                NumCacheNodes=nodes,
                Tags=_tag_list(tags),
            )
            cluster = self.ctx.backend("elasticache", region).cache_clusters[cid]
            cluster.cache_cluster_create_time = naive(self.ctx.ago(age))
            days = min(int(age), 20)
            reads, writes = ("CmdGet", "CmdSet") if engine == "memcached" else ("GetTypeCmds", "SetTypeCmds")
            dims = {"CacheClusterId": cid}
            busy = variant in ("busy", "prevgen")
            conns = (
                [12.0] * days
                if variant == "pubsub"
                else [float(self.rng.choice((2, 3, 4))) for _ in range(days)]
            )
            if variant == "idle" and days:
                conns[self.rng.randrange(days)] = 4.0  # the threshold itself is still idle
            skip = frozenset(self.rng.sample(range(14), 4)) if variant == "gappy" else frozenset()
            if variant != "young-prevgen":  # a brand-new cluster: no history read
                self.history(region, "AWS/ElastiCache", "CurrConnections", dims, conns, skip=skip)
                cmds = [self.rng.uniform(500, 50000) if busy else 0.0 for _ in range(days)]
                self.history(region, "AWS/ElastiCache", reads, dims, cmds, skip=skip)
                self.history(region, "AWS/ElastiCache", writes, dims, [0.0] * days, skip=skip)
            cost = _monthly(_HOURLY[node_type], nodes)
            if scenario == "elasticache-previous-generation":
                cost = round(cost * 0.06, 2)
            self.record(cid, CACHE, region, tags, scenario, age, cost)

    # -- Redshift

    def redshift(self, variant: str, scenario: str | None) -> None:
        fires = scenario is not None
        for _ in range(self.count(fires)):
            region = self.ctx.pick_region(self.rng)
            node_type = self.rng.choice(("dc2.large", "ra3.xlplus", "ra3.4xlarge"))
            nodes = self.rng.choice((1, 2, 4))
            paused = variant.startswith("paused")
            age = {"young": self.age(2, 6), "paused-young": self.age(12, 28)}.get(variant, self.age(40, 600))
            cid = self.name("cw-dwh")
            tags = self.ctx.tags(self.rng, "warehouse")
            client = self.ctx.client("redshift", region)
            client.create_cluster(
                ClusterIdentifier=cid,
                NodeType=node_type,
                ClusterType="multi-node" if nodes > 1 else "single-node",
                NumberOfNodes=nodes,
                MasterUsername="admin",
                MasterUserPassword="Sim-Passw0rd",
                Tags=_tag_list(tags),
            )
            if paused:
                client.pause_cluster(ClusterIdentifier=cid)
            self.ctx.backend("redshift", region).clusters[cid].create_time = naive(self.ctx.ago(age))
            dims = {"ClusterIdentifier": cid}
            if paused:
                # CPU while it ran: up to 35-60 days ago (outside the window), or 10 days ago
                newest = 10 if variant == "paused-recent" else self.rng.uniform(31, 35)
                span = max(0, min(int(age - newest), 20))
                self.history(
                    region, "AWS/Redshift", "CPUUtilization", dims,
                    [self.rng.uniform(5, 60) for _ in range(span)], unit="Percent", newest_days_ago=newest,
                )  # fmt: skip
            else:
                days = min(int(age), 10)
                conns = [float(self.rng.randint(1, 40)) if variant == "busy" else 0.0 for _ in range(days)]
                skip = frozenset(self.rng.sample(range(7), 2)) if variant == "gappy" else frozenset()
                self.history(region, "AWS/Redshift", "DatabaseConnections", dims, conns, skip=skip)
            cost = 0.0 if paused else _monthly(_HOURLY[node_type], nodes)
            self.record(cid, REDSHIFT, region, tags, scenario, age, cost)

    # -- OpenSearch

    def domain(self, variant: str, scenario: str | None) -> None:
        fires = scenario is not None
        for _ in range(self.count(fires)):
            region = self.ctx.pick_region(self.rng)
            itype = self.rng.choice(("t3.small.search", "m5.large.search", "r6g.large.search"))
            count = self.rng.choice((1, 2, 3))
            gb = self.rng.choice((10, 50, 100))
            name = self.name("cw-search")[:28]
            tags = self.ctx.tags(self.rng, "search")
            self.ctx.client("opensearch", region).create_domain(
                DomainName=name,
                EngineVersion="OpenSearch_2.11",
                ClusterConfig={"InstanceType": itype, "InstanceCount": count},
                EBSOptions={"EBSEnabled": True, "VolumeType": "gp3", "VolumeSize": gb},
                TagList=_tag_list(tags),
            )
            dims = {"DomainName": name, "ClientId": self.ctx.account_id}
            days = 8 if variant == "young" else 16
            skip: frozenset[int] = frozenset()
            if variant in ("gappy", "idle-gappy"):
                skip = frozenset(self.rng.sample(range(14), 3 if variant == "gappy" else 2))
            search = [self.rng.uniform(10, 5000) if variant == "busy" else 0.0 for _ in range(days)]
            indexing = [self.rng.uniform(10, 5000) if variant == "ingest" else 0.0 for _ in range(days)]
            self.history(region, "AWS/ES", "SearchRate", dims, search, skip=skip)
            self.history(region, "AWS/ES", "IndexingRate", dims, indexing, skip=skip)
            cost = _monthly(_HOURLY[itype], count) + round(0.135 * gb * count, 2)
            self.record(name, DOMAIN, region, tags, scenario, None, cost)

    # -- DynamoDB

    def table(self, variant: str, scenario: str | None) -> None:
        fires = scenario is not None
        for _ in range(self.count(fires)):
            region = self.ctx.pick_region(self.rng)
            on_demand = variant in ("unused-ondemand", "busy-ondemand")
            rcu, wcu = self.rng.choice((20, 50, 100, 200)), self.rng.choice((10, 25, 50))
            age = {"young": self.age(5, 12), "unused-young": self.age(16, 26)}.get(variant, self.age(35, 700))
            name = self.name("cw-table")
            tags = self.ctx.tags(self.rng, "table")
            kwargs: dict[str, Any] = (
                {"BillingMode": "PAY_PER_REQUEST"}
                if on_demand
                else {"ProvisionedThroughput": {"ReadCapacityUnits": rcu, "WriteCapacityUnits": wcu}}
            )
            attributes = [{"AttributeName": "pk", "AttributeType": "S"}]
            if variant == "unused-gsi":  # read only through its index, say: not judged unused
                attributes.append({"AttributeName": "gk", "AttributeType": "S"})
                kwargs["GlobalSecondaryIndexes"] = [
                    {
                        "IndexName": "by-gk",
                        "KeySchema": [{"AttributeName": "gk", "KeyType": "HASH"}],
                        "Projection": {"ProjectionType": "ALL"},
                        "ProvisionedThroughput": {"ReadCapacityUnits": rcu, "WriteCapacityUnits": wcu},
                    }
                ]
            self.ctx.client("dynamodb", region).create_table(
                TableName=name,
                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                AttributeDefinitions=attributes,
                Tags=_tag_list(tags),
                **kwargs,
            )
            table = self.ctx.backend("dynamodb", region).tables[name]
            table.created_at = naive(self.ctx.ago(age))
            size = int(math.exp(self.rng.uniform(math.log(0.5), math.log(400))) * 1e9)  # 0.5-400 GB
            _report_size(table, size)
            dims = {"TableName": name}
            days = min(int(age), 20)
            share_r, share_w = {
                "over": (self.rng.uniform(0.01, 0.09), self.rng.uniform(0.01, 0.09)),
                "sized": (self.rng.uniform(0.4, 0.6), self.rng.uniform(0.4, 0.6)),
                "boundary": (0.31, 0.5),
                "young": (0.03, 0.03),
                "gappy": (0.03, 0.03),
                "busy-ondemand": (0.5, 0.5),
            }.get(variant, (0.0, 0.0))
            skip = frozenset(self.rng.sample(range(14), 4)) if variant == "gappy" else frozenset()
            if share_r or share_w:
                # one datapoint a day: the day's whole consumption, as if in its busiest minute
                # (the rule's peak bound is a day's sum / 60 s), at `share` of the capacity
                per_day = 60.0
                self.history(region, "AWS/DynamoDB", "ConsumedReadCapacityUnits", dims,
                             [share_r * rcu * per_day] * days, skip=skip)  # fmt: skip
                self.history(region, "AWS/DynamoDB", "ConsumedWriteCapacityUnits", dims,
                             [share_w * wcu * per_day] * days, skip=skip)  # fmt: skip
            if variant == "monthly":  # one batch load 20 days ago, nothing since
                self.history(region, "AWS/DynamoDB", "ConsumedWriteCapacityUnits", dims,
                             [9000.0], newest_days_ago=20)  # fmt: skip
            storage = 0.25 * size / 1e9
            if scenario is None:
                cost = 0.0
            elif scenario == "dynamodb-table-unused":
                cost = round(storage + (0 if on_demand else (0.00013 * rcu + 0.00065 * wcu) * 730), 2)
            else:
                cost = round((0.00013 * rcu + 0.00065 * wcu) * 730 * 0.85, 2)
            self.record(name, TABLE, region, tags, scenario, age, cost)

    # -- EKS

    def eks(self, variant: str, scenario: str | None) -> None:
        fires = scenario is not None
        account = self.ctx.account_id
        for _ in range(self.count(fires)):
            region = self.ctx.pick_region(self.rng)
            age = self.age(3, 12) if variant == "young" else self.age(16, 500)
            name = self.name("cw-k8s")
            tags = self.ctx.tags(self.rng, "kubernetes")
            client = self.ctx.client("eks", region)
            network = self.ctx.networks.get(region)
            subnets = list(network.subnet_ids) if network else []
            client.create_cluster(
                name=name,
                roleArn=_ROLE.format(account=account, name="eks-cluster"),
                resourcesVpcConfig={"subnetIds": subnets},
                tags=tags,
            )
            if variant == "nodes":
                client.create_nodegroup(
                    clusterName=name,
                    nodegroupName="workers",
                    nodeRole=_ROLE.format(account=account, name="eks-node"),
                    subnets=subnets or ["subnet-00000000"],
                )
            if variant == "fargate":
                client.create_fargate_profile(
                    fargateProfileName="default",
                    clusterName=name,
                    podExecutionRoleArn=_ROLE.format(account=account, name="eks-pods"),
                    selectors=[{"namespace": "default"}],
                    subnets=subnets,
                )
            cluster = self.ctx.backend("eks", region).clusters[name]
            cluster.created_at = naive(self.ctx.ago(age))
            if variant == "creating":
                cluster.status = "CREATING"
            if variant == "self-managed":
                self.eks_node(region, name, age)
            self.record(name, EKS, region, tags, scenario, age, 73.0)

    def eks_node(self, region: str, cluster: str, cluster_age: float) -> None:
        """A running, busy t3.medium with a gp3 root volume tagged as a self-managed node of
        `cluster` (kubernetes.io/cluster/<name>): no rule flags it, and it makes the cluster a near
        miss of eks-cluster-no-nodes."""
        network = self.ctx.networks[region]
        writer = BackendWriter(self.ctx.account_id, region, probe_vpc_id=network.vpc_id)
        tags = {**self.ctx.tags(self.rng, "instance"), f"kubernetes.io/cluster/{cluster}": "owned"}
        instance = writer.run_instance(
            image_id=_AMI,
            instance_type="t3.medium",
            subnet_id=network.subnet_ids[0],
            disks=[("/dev/sda1", 30, "gp3", True)],
            tags=tags,
            launched=self.ctx.ago(self.age(1, min(cluster_age, 30))),
        )
        self.out.append(self.ctx.truth(instance.id, INSTANCE, region, tags))
        root = instance.block_device_mapping["/dev/sda1"].volume_id
        self.out.append(self.ctx.truth(root, VOLUME, region, tags))
        dims = {"InstanceId": instance.id}
        cpu = [round(self.rng.uniform(45, 80), 2) for _ in range(_NODE_HISTORY_DAYS)]
        net = [self.rng.uniform(1, 20) * 1024**3 for _ in range(_NODE_HISTORY_DAYS)]
        self.ctx.put_metrics(
            region,
            "AWS/EC2",
            self.ctx.daily_points("CPUUtilization", dims, cpu, "Percent")
            + self.ctx.daily_points("NetworkIn", dims, net, "Bytes")
            + self.ctx.daily_points("NetworkOut", dims, net, "Bytes"),
        )


def seed(ctx: SeedContext) -> list[TruthResource]:
    s = _Seeder(ctx)
    idle, prevgen = "elasticache-cluster-idle", "elasticache-previous-generation"
    s.cache("idle", idle, _CURRENT_CACHE)
    s.cache("idle", idle, _PREVIOUS_CACHE)  # idle wins over previous generation
    s.cache("prevgen", prevgen, _PREVIOUS_CACHE)
    s.cache("young-prevgen", prevgen, ("cache.t2.small",))
    for variant in ("busy", "pubsub", "young", "gappy"):
        s.cache(variant, None, _CURRENT_CACHE)
    s.redshift("idle", "redshift-cluster-idle")
    s.redshift("paused", "redshift-cluster-paused-long")
    for variant in ("busy", "young", "gappy", "paused-recent", "paused-young"):
        s.redshift(variant, None)
    s.domain("idle", "opensearch-domain-idle")
    s.domain("idle-gappy", "opensearch-domain-idle")
    for variant in ("busy", "ingest", "young", "gappy"):
        s.domain(variant, None)
    s.table("over", "dynamodb-table-overprovisioned")
    s.table("unused", "dynamodb-table-unused")
    s.table("unused-ondemand", "dynamodb-table-unused")
    for variant in (
        "sized",
        "boundary",
        "young",
        "gappy",
        "monthly",
        "busy-ondemand",
        "unused-young",
        "unused-gsi",
    ):
        s.table(variant, None)
    s.eks("empty", "eks-cluster-no-nodes")
    for variant in ("nodes", "fargate", "young", "creating", "self-managed"):
        s.eks(variant, None)
    return s.out


# --- what a user does between two scans --------------------------------------------------------------


def _busy_day(clients: Any, namespace: str, metric: str, dims: dict[str, str], now: datetime) -> None:
    """One busy datapoint an hour before `now`."""
    from datetime import UTC, timedelta

    stamp = (now - timedelta(hours=1)).astimezone(UTC)
    clients.cloudwatch.put_metric_data(
        Namespace=namespace,
        MetricData=[
            {
                "MetricName": metric,
                "Dimensions": [{"Name": k, "Value": v} for k, v in dims.items()],
                "Timestamp": stamp,
                "Value": 1000.0,
            }
        ],
    )


def _delete_cache(c: Any, cid: str, _now: datetime) -> None:
    c.elasticache.delete_cache_cluster(CacheClusterId=cid)


def _fix_cache(c: Any, cid: str, now: datetime) -> None:
    """Idle: it serves commands again. (A node type change needs ModifyCacheCluster, which moto
    does not implement: a previous-generation cluster can only be deleted here.)"""
    engine = c.elasticache.describe_cache_clusters(CacheClusterId=cid)["CacheClusters"][0]["Engine"]
    metric = "CmdGet" if engine == "memcached" else "GetTypeCmds"
    _busy_day(c, "AWS/ElastiCache", metric, {"CacheClusterId": cid}, now)


def _delete_redshift(c: Any, cid: str, _now: datetime) -> None:
    c.redshift.delete_cluster(ClusterIdentifier=cid, SkipFinalClusterSnapshot=True)


def _fix_redshift(c: Any, cid: str, now: datetime) -> None:
    """Paused: resumed (and used). Idle: a connection."""
    cluster = c.redshift.describe_clusters(ClusterIdentifier=cid)["Clusters"][0]
    if cluster["ClusterStatus"] == "paused":
        c.redshift.resume_cluster(ClusterIdentifier=cid)
        _busy_day(c, "AWS/Redshift", "CPUUtilization", {"ClusterIdentifier": cid}, now)
    _busy_day(c, "AWS/Redshift", "DatabaseConnections", {"ClusterIdentifier": cid}, now)


def _delete_domain(c: Any, name: str, _now: datetime) -> None:
    c.opensearch.delete_domain(DomainName=name)


def _fix_domain(c: Any, name: str, now: datetime) -> None:
    account = c.sts.get_caller_identity()["Account"]
    _busy_day(c, "AWS/ES", "SearchRate", {"DomainName": name, "ClientId": account}, now)


def _delete_table(c: Any, name: str, _now: datetime) -> None:
    c.dynamodb.delete_table(TableName=name)


def _fix_table(c: Any, name: str, now: datetime) -> None:
    """Over-provisioned: capacity lowered to 1 RCU / 1 WCU. Unused: written to again."""
    table = c.dynamodb.describe_table(TableName=name)["Table"]
    if (table.get("BillingModeSummary") or {}).get("BillingMode", "PROVISIONED") == "PROVISIONED":
        c.dynamodb.update_table(
            TableName=name, ProvisionedThroughput={"ReadCapacityUnits": 1, "WriteCapacityUnits": 1}
        )
    _busy_day(c, "AWS/DynamoDB", "ConsumedWriteCapacityUnits", {"TableName": name}, now)


def _delete_eks(c: Any, name: str, _now: datetime) -> None:
    c.eks.delete_cluster(name=name)


def _fix_eks(c: Any, name: str, _now: datetime) -> None:
    account = c.sts.get_caller_identity()["Account"]
    c.eks.create_nodegroup(
        clusterName=name,
        nodegroupName="workers",
        nodeRole=_ROLE.format(account=account, name="eks-node"),
        subnets=["subnet-00000000"],
    )


SERVICE = ServiceEstate(
    name=NAME,
    seed=seed,
    actions={
        (CACHE, "delete"): _delete_cache,
        (CACHE, "fix"): _fix_cache,
        (REDSHIFT, "delete"): _delete_redshift,
        (REDSHIFT, "fix"): _fix_redshift,
        (DOMAIN, "delete"): _delete_domain,
        (DOMAIN, "fix"): _fix_domain,
        (TABLE, "delete"): _delete_table,
        (TABLE, "fix"): _fix_table,
        (EKS, "delete"): _delete_eks,
        (EKS, "fix"): _fix_eks,
    },
    doc=__doc__ or "",
)


def _report_size(table: Any, size_bytes: int) -> None:
    """moto reports TableSizeBytes 0 for every table: this one reports its simulated size (AWS
    updates the figure about every six hours; a scanner reads it from DescribeTable)."""
    original = table.describe

    def describe(base_key: str = "TableDescription") -> dict[str, Any]:
        out = original(base_key)
        out[base_key]["TableSizeBytes"] = size_bytes
        return out

    table.describe = describe
