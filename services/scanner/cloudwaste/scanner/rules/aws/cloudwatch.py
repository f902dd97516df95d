"""CloudWatch alarm rules."""

from __future__ import annotations

from decimal import Decimal

from cloudwaste.scanner.domain import Detection, Resource
from cloudwaste.scanner.rules import Context, Fixtures, Param, age_days, attach_fixtures, rule
from cloudwaste.scanner.rules.aws._common import NOW as _NOW
from cloudwaste.scanner.rules.aws._common import days_ago, res, rounded

# --- cloudwatch-alarm-insufficient-data -------------------------------------------------------------


@rule(
    key="cloudwatch-alarm-insufficient-data",
    provider="aws",
    resource_kind="aws.cloudwatch.alarm",
    title="CloudWatch alarm stuck in INSUFFICIENT_DATA (its metric is gone)",
    permissions=("cloudwatch:DescribeAlarms",),
    params={
        "min_days": Param(
            float, 30.0, "In INSUFFICIENT_DATA without a change for at least this many days.", 1
        )
    },
    confidence_doc="HIGH after 90 days in the state, else MEDIUM (a metric can be quiet for weeks "
    "on purpose, e.g. a monthly batch).",
)
def cloudwatch_alarm_insufficient_data(r: Resource, p, ctx: Context) -> Detection | None:
    """An alarm that has had no data to evaluate for a month watches a metric nothing publishes
    any more: most often the instance, volume or queue it was made for was deleted and the alarm
    left behind. It bills $0.10 a month per metric (standard resolution; high-resolution alarms
    $0.30) and alerts nobody. The 30-day default follows AWS's own cleanup guidance for alarms in
    INSUFFICIENT_DATA (Trusted Advisor's and Cost Explorer's "unused alarm" views use the same
    signal)."""
    if r.attributes.get("state") != "INSUFFICIENT_DATA":
        return None
    days = age_days(r.attributes.get("state_since"), ctx.now)
    if days is None or days < p["min_days"]:
        return None
    metrics = int(r.attributes.get("metric_count") or 1)
    unit = ctx.prices.monthly("cloudwatch", "alarm_month", quantity=metrics)
    evidence = {
        "state": "INSUFFICIENT_DATA",
        "days_in_state": rounded(days),
        "metric": f"{r.attributes.get('namespace') or ''}/{r.attributes.get('metric_name') or ''}".strip("/"),
        "metric_count": metrics,
        **ctx.prices.evidence(),
    }
    cost = Decimal(0)
    if unit is None:
        evidence["price"] = "unknown alarm price in this region: priced at 0"
    else:
        cost = unit * (3 if r.attributes.get("high_resolution") else 1)
    return Detection(
        scenario="cloudwatch-alarm-insufficient-data",
        confidence="HIGH" if days >= 90 else "MEDIUM",
        monthly_cost=cost,
        evidence=evidence,
    )


# --- fixtures: one resource that fires and one near miss per rule ---------------------------------

attach_fixtures(
    "cloudwatch-alarm-insufficient-data",
    Fixtures(
        fires=res(
            "aws.cloudwatch.alarm",
            "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:cpu-high-i-1",
            200,
            state="INSUFFICIENT_DATA",
            state_since=days_ago(45),
            namespace="AWS/EC2",
            metric_name="CPUUtilization",
            metric_count=1,
        ),
        silent=res(
            "aws.cloudwatch.alarm",
            "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:cpu-high-i-2",
            200,
            state="INSUFFICIENT_DATA",
            state_since=days_ago(29),
            namespace="AWS/EC2",
            metric_name="CPUUtilization",
            metric_count=1,
        ),
        now=_NOW,
    ),
)
