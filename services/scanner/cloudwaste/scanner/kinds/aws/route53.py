"""Route 53 kinds (global: listed in GLOBAL_REGION only): hosted zones and health checks."""

from __future__ import annotations

import datetime as dt

from cloudwaste.scanner.domain import Resource
from cloudwaste.scanner.kinds import kind
from cloudwaste.scanner.kinds.aws._common import GLOBAL_REGION, PROVIDER, Deps, paginate, resource

HOSTED_ZONE = "aws.route53.hosted_zone"
HEALTH_CHECK = "aws.route53.health_check"


def zone_id(raw: str) -> str:
    """ "/hostedzone/Z123" -> "Z123" (the id CloudWatch's HostedZoneId dimension carries)."""
    return raw.rsplit("/", 1)[-1]


# --- aws.route53.hosted_zone ----------------------------------------------------------------------


@kind(
    key=HOSTED_ZONE,
    provider=PROVIDER,
    title="Route 53 hosted zone",
    operations=("route53:ListHostedZones",),
    id_field="Id",
    name_field="Name",
    created_field=None,  # Route 53 does not say when a zone was created
    ml_config={"private": bool, "record_set_count": int},
)
def list_hosted_zones(conn, region: str, now: dt.datetime, deps: Deps) -> list[Resource]:
    """Hosted zones, public and private, with their record set count (ListHostedZones, paginated;
    global: listed in us-east-1 only). Zones a service manages (LinkedService, e.g. Cloud Map)
    carry that service."""
    if region != GLOBAL_REGION:
        return []
    out = []
    for z in paginate(conn.client("route53", region), "list_hosted_zones", "HostedZones"):
        private = bool((z.get("Config") or {}).get("PrivateZone"))
        count = int(z.get("ResourceRecordSetCount") or 0)
        out.append(
            resource(
                HOSTED_ZONE,
                z,
                region,
                {},  # tags would be ListTagsForResources, 10 zones a call: not read
                resource_id=zone_id(z["Id"]),
                name=z.get("Name", "").rstrip("."),
                attributes={
                    "private": private,
                    "record_set_count": count,
                    "linked_service": (z.get("LinkedService") or {}).get("ServicePrincipal"),
                },
                config={"private": private, "record_set_count": count},
            )
        )
    return out


# --- aws.route53.health_check ---------------------------------------------------------------------


def _alarmed_health_checks(cloudwatch) -> set[str]:
    """Health check ids some CloudWatch alarm watches (a HealthCheckId dimension of the alarm's
    metric or of one of its metric-math metrics)."""
    out: set[str] = set()
    for a in paginate(cloudwatch, "describe_alarms", "MetricAlarms"):
        metrics = [a] + [(m.get("MetricStat") or {}).get("Metric") or {} for m in a.get("Metrics") or []]
        for m in metrics:
            for d in m.get("Dimensions") or []:
                if d.get("Name") == "HealthCheckId":
                    out.add(d.get("Value", ""))
    return out


@kind(
    key=HEALTH_CHECK,
    provider=PROVIDER,
    title="Route 53 health check",
    operations=("route53:ListHealthChecks", "route53:ListResourceRecordSets", "cloudwatch:DescribeAlarms"),
    id_field="Id",
    name_field="Id",
    created_field=None,  # Route 53 does not say when a health check was created
    ml_config={"type": str, "request_interval": int, "disabled": bool},
    requires=(HOSTED_ZONE,),
)
def list_health_checks(conn, region: str, now: dt.datetime, deps: Deps) -> list[Resource]:
    """Health checks (ListHealthChecks, paginated; global: us-east-1 only) with what uses them:
    record sets of the account's hosted zones (ListResourceRecordSets, one paginated listing per
    zone: made only when the account has health checks), calculated health checks (their
    ChildHealthChecks), CloudWatch alarms in us-east-1, where health check metrics live
    (DescribeAlarms, paginated; only when some health check is used by nothing else), and the
    service that manages one (LinkedService)."""
    if region != GLOBAL_REGION:
        return []
    route53 = conn.client("route53", region)
    checks = list(paginate(route53, "list_health_checks", "HealthChecks"))
    if not checks:
        return []
    referenced: set[str] = set()
    for z in deps[HOSTED_ZONE]:
        for rrs in paginate(
            route53, "list_resource_record_sets", "ResourceRecordSets", HostedZoneId=z.resource_id
        ):
            if rrs.get("HealthCheckId"):
                referenced.add(rrs["HealthCheckId"])
    children = {c for h in checks for c in (h.get("HealthCheckConfig") or {}).get("ChildHealthChecks") or []}
    unused = [h for h in checks if h["Id"] not in referenced | children and not h.get("LinkedService")]
    alarmed = _alarmed_health_checks(conn.client("cloudwatch", region)) if unused else set()
    out = []
    for h in checks:
        cfg = h.get("HealthCheckConfig") or {}
        hid = h["Id"]
        out.append(
            resource(
                HEALTH_CHECK,
                h,
                region,
                {},  # tags would be ListTagsForResources, 10 checks a call: not read
                name=cfg.get("FullyQualifiedDomainName") or cfg.get("IPAddress") or hid,
                attributes={
                    "type": cfg.get("Type"),
                    "disabled": bool(cfg.get("Disabled")),
                    "zones_read": len(deps[HOSTED_ZONE]),
                    "referenced_by_record": hid in referenced,
                    "child_of_calculated": hid in children,
                    "alarmed": hid in alarmed,
                    "linked_service": (h.get("LinkedService") or {}).get("ServicePrincipal"),
                },
                config={
                    "type": cfg.get("Type") or "",
                    "request_interval": int(cfg.get("RequestInterval") or 30),
                    "disabled": bool(cfg.get("Disabled")),
                },
            )
        )
    return out
