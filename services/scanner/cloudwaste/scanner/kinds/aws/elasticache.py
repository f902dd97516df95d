"""ElastiCache kinds: cache clusters (Redis OSS / Valkey nodes, Memcached clusters)."""

from __future__ import annotations

import datetime as dt

from cloudwaste.scanner.domain import Resource
from cloudwaste.scanner.kinds import kind
from cloudwaste.scanner.kinds.aws._common import PROVIDER, Deps, paginate, resource

CACHE_CLUSTER = "aws.elasticache.cluster"

# --- aws.elasticache.cluster ----------------------------------------------------------------------


@kind(
    key=CACHE_CLUSTER,
    provider=PROVIDER,
    title="ElastiCache cache cluster",
    operations=("elasticache:DescribeCacheClusters",),
    id_field="CacheClusterId",
    name_field="CacheClusterId",
    created_field="CacheClusterCreateTime",
    ml_config={"node_type": str, "engine": str, "num_nodes": int, "in_replication_group": bool},
)
def list_cache_clusters(conn, region: str, now: dt.datetime, deps: Deps) -> list[Resource]:
    """Cache clusters (one DescribeCacheClusters listing with ShowCacheNodeInfo, paginated) with
    their node type, engine, node count and replication group. A Redis OSS / Valkey replication
    group's members are cache clusters of one node each, so each member is listed (and priced) on
    its own. Tags are not read (they would take one ListTagsForResource call per cluster)."""
    out = []
    client = conn.client("elasticache", region)
    for c in paginate(client, "describe_cache_clusters", "CacheClusters", ShowCacheNodeInfo=True):
        nodes = c.get("CacheNodes") or []
        num_nodes = int(c.get("NumCacheNodes") or len(nodes) or 1)
        out.append(
            resource(
                CACHE_CLUSTER,
                c,
                region,
                {},
                attributes={
                    "state": c.get("CacheClusterStatus"),
                    "node_type": c.get("CacheNodeType"),
                    "engine": c.get("Engine"),
                    "num_nodes": num_nodes,
                    "replication_group_id": c.get("ReplicationGroupId"),
                },
                config={
                    "node_type": c.get("CacheNodeType"),
                    "engine": c.get("Engine"),
                    "num_nodes": num_nodes,
                    "in_replication_group": bool(c.get("ReplicationGroupId")),
                },
            )
        )
    return out
