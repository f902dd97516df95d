"""CloudWatch kinds: metric alarms."""

from __future__ import annotations

import datetime as dt

from cloudwaste.scanner.domain import Resource
from cloudwaste.scanner.kinds import kind
from cloudwaste.scanner.kinds.aws._common import PROVIDER, Deps, paginate, resource, utc

ALARM = "aws.cloudwatch.alarm"


@kind(
    key=ALARM,
    provider=PROVIDER,
    title="CloudWatch metric alarm",
    operations=("cloudwatch:DescribeAlarms",),
    id_field="AlarmArn",
    name_field="AlarmName",
    created_field=None,  # AWS gives when the configuration and the state last changed, not creation
    ml_config={"state": str, "metric_count": int, "high_resolution": bool, "actions_enabled": bool},
)
def list_alarms(conn, region: str, now: dt.datetime, deps: Deps) -> list[Resource]:
    """Metric alarms (composite alarms are not listed: they watch alarms, not metrics) with their
    state and since when, from DescribeAlarms (paginated). Alarm tags would take one
    ListTagsForResource per alarm and are not read. `metric_count` is how many metrics the alarm
    is billed for: 1 for an alarm on one metric; for a metric math alarm, its queries that read a
    metric (a MetricStat), not the expressions that compute on them (at least 1)."""
    out = []
    pages = paginate(
        conn.client("cloudwatch", region), "describe_alarms", "MetricAlarms", AlarmTypes=["MetricAlarm"]
    )
    for a in pages:
        metrics = a.get("Metrics") or []
        period = a.get("Period") or min(
            (m.get("MetricStat", {}).get("Period", 60) for m in metrics), default=60
        )
        metric_count = max(1, sum(1 for m in metrics if m.get("MetricStat")))
        out.append(
            resource(
                ALARM,
                a,
                region,
                {},
                attributes={
                    "state": a.get("StateValue"),
                    "state_since": utc(a.get("StateUpdatedTimestamp")),
                    "configuration_updated": utc(a.get("AlarmConfigurationUpdatedTimestamp")),
                    "namespace": a.get("Namespace"),
                    "metric_name": a.get("MetricName"),
                    "metric_count": metric_count,
                    "high_resolution": period < 60,
                },
                config={
                    "state": a.get("StateValue"),
                    "metric_count": metric_count,
                    "high_resolution": period < 60,
                    "actions_enabled": bool(a.get("ActionsEnabled")),
                },
            )
        )
    return out
