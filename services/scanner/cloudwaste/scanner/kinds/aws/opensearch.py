"""OpenSearch Service kinds: domains (OpenSearch and legacy Elasticsearch engines)."""

from __future__ import annotations

import datetime as dt

from cloudwaste.scanner.domain import Resource
from cloudwaste.scanner.kinds import kind
from cloudwaste.scanner.kinds.aws._common import PROVIDER, Deps, resource

OPENSEARCH_DOMAIN = "aws.opensearch.domain"
# DescribeDomains accepts at most 5 domain names a call.
_DESCRIBE_BATCH = 5

# --- aws.opensearch.domain ------------------------------------------------------------------------


def _account_id(arn: str) -> str:
    """The account of `arn:aws:es:<region>:<account>:domain/<name>` (CloudWatch's ClientId)."""
    parts = arn.split(":")
    return parts[4] if len(parts) > 5 else ""


@kind(
    key=OPENSEARCH_DOMAIN,
    provider=PROVIDER,
    title="OpenSearch Service domain",
    operations=("es:ListDomainNames", "es:DescribeDomains"),
    id_field="DomainName",
    name_field="DomainName",
    created_field=None,
    ml_config={
        "instance_type": str,
        "instance_count": int,
        "dedicated_master_count": int,
        "volume_gb": int,
        "volume_type": str,
        "engine": str,
    },
)
def list_domains(conn, region: str, now: dt.datetime, deps: Deps) -> list[Resource]:
    """Domains: ListDomainNames (one call; the API does not paginate) then DescribeDomains in
    batches of 5 names (the API's limit), with the data and dedicated master node types and
    counts and the EBS volume size per data node. The API gives no creation time: the idle rule
    relies on CloudWatch coverage instead (a younger domain has fewer days of data). Tags are not
    read (one ListTags call per domain)."""
    client = conn.client("opensearch", region)
    names = [d["DomainName"] for d in client.list_domain_names().get("DomainNames", [])]
    out = []
    for first in range(0, len(names), _DESCRIBE_BATCH):
        batch = names[first : first + _DESCRIBE_BATCH]
        for d in client.describe_domains(DomainNames=batch).get("DomainStatusList", []):
            cc = d.get("ClusterConfig") or {}
            ebs = d.get("EBSOptions") or {}
            volume_gb = int(ebs.get("VolumeSize") or 0) if ebs.get("EBSEnabled") else 0
            masters = int(cc.get("DedicatedMasterCount") or 0) if cc.get("DedicatedMasterEnabled") else 0
            engine = (d.get("EngineVersion") or "").split("_")[0] or "Elasticsearch"
            state = "deleted" if d.get("Deleted") else ("processing" if d.get("Processing") else "active")
            out.append(
                resource(
                    OPENSEARCH_DOMAIN,
                    d,
                    region,
                    {},
                    attributes={
                        "state": state,
                        "account_id": _account_id(d.get("ARN", "")),
                        "instance_type": cc.get("InstanceType"),
                        "instance_count": int(cc.get("InstanceCount") or 1),
                        "dedicated_master_type": cc.get("DedicatedMasterType") if masters else None,
                        "dedicated_master_count": masters,
                        "volume_gb": volume_gb,
                        "volume_type": ebs.get("VolumeType") if volume_gb else None,
                    },
                    config={
                        "instance_type": cc.get("InstanceType"),
                        "instance_count": int(cc.get("InstanceCount") or 1),
                        "dedicated_master_count": masters,
                        "volume_gb": volume_gb,
                        "volume_type": ebs.get("VolumeType") if volume_gb else None,
                        "engine": engine,
                    },
                )
            )
    return out
