"""Redshift kinds: provisioned clusters."""

from __future__ import annotations

import datetime as dt

from cloudwaste.scanner.domain import Resource
from cloudwaste.scanner.kinds import kind
from cloudwaste.scanner.kinds.aws._common import PROVIDER, Deps, paginate, resource, tags

REDSHIFT_CLUSTER = "aws.redshift.cluster"

# --- aws.redshift.cluster -------------------------------------------------------------------------


@kind(
    key=REDSHIFT_CLUSTER,
    provider=PROVIDER,
    title="Redshift provisioned cluster",
    operations=("redshift:DescribeClusters",),
    id_field="ClusterIdentifier",
    name_field="ClusterIdentifier",
    created_field="ClusterCreateTime",
    ml_config={"node_type": str, "num_nodes": int, "state": str, "encrypted": bool},
)
def list_redshift_clusters(conn, region: str, now: dt.datetime, deps: Deps) -> list[Resource]:
    """Provisioned clusters (one DescribeClusters listing, paginated; tags come with it) with node
    type, node count and status (available, paused, ...). Serverless workgroups are not listed."""
    out = []
    for c in paginate(conn.client("redshift", region), "describe_clusters", "Clusters"):
        state = c.get("ClusterStatus")
        num_nodes = int(c.get("NumberOfNodes") or 1)
        out.append(
            resource(
                REDSHIFT_CLUSTER,
                c,
                region,
                tags(c.get("Tags")),
                attributes={
                    "state": state,
                    "node_type": c.get("NodeType"),
                    "num_nodes": num_nodes,
                    "storage_capacity_mb": c.get("TotalStorageCapacityInMegaBytes"),
                },
                config={
                    "node_type": c.get("NodeType"),
                    "num_nodes": num_nodes,
                    "state": state,
                    "encrypted": bool(c.get("Encrypted")),
                },
            )
        )
    return out
