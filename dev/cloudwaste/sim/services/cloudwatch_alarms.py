"""CloudWatch metric alarms of the simulated estate.

=======================================  =========================================  ==========================================
scenario                                 waste                                      near misses
=======================================  =========================================  ==========================================
``cloudwatch-alarm-insufficient-data``   alarm on an instance deleted long ago, in  INSUFFICIENT_DATA for 2-25 days (under the
                                         INSUFFICIENT_DATA for 35-400 days           30-day default); OK alarms; ALARM alarms
                                                                                    unchanged for months
=======================================  =========================================  ==========================================

moto puts a new alarm in state OK: the state and since when are set on its backend object, as a
scanner sees them through DescribeAlarms (StateValue, StateUpdatedTimestamp).
"""

from __future__ import annotations

from datetime import datetime

from . import SeedContext, ServiceEstate

ALARM = "aws.cloudwatch.alarm"
SCENARIO = "cloudwatch-alarm-insufficient-data"
_MONTHLY = 0.10  # standard-resolution alarm, us-east-1: feeds the simulated decisions only

# variant -> (share of the estate's size, state, days in that state (low, high), waste?)
VARIANTS: dict[str, tuple[float, str, tuple[float, float], bool]] = {
    "stale": (0.002, "INSUFFICIENT_DATA", (35, 400), True),
    "recent": (0.001, "INSUFFICIENT_DATA", (2, 25), False),
    "ok": (0.001, "OK", (1, 300), False),
    "alarm": (0.0007, "ALARM", (40, 200), False),
}


def seed(ctx: SeedContext) -> list:
    rng = ctx.rng("cloudwatch_alarms")
    decisions = ctx.rng("cloudwatch_alarms:decisions")
    truth = []
    for variant, (share, state, (lo, hi), waste) in VARIANTS.items():
        for n in range(ctx.count(share)):
            region = ctx.pick_region(rng)
            tags = ctx.tags(rng, "alarm")
            days = round(rng.uniform(lo, hi), 3)
            instance = f"i-{rng.getrandbits(68):017x}"
            name = f"{tags['team']}-cpu-high-{variant}-{n:03d}-{instance}"
            cw = ctx.client("cloudwatch", region)
            cw.put_metric_alarm(
                AlarmName=name,
                Namespace="AWS/EC2",
                MetricName="CPUUtilization",
                Dimensions=[{"Name": "InstanceId", "Value": instance}],
                Statistic="Average",
                Period=300,
                EvaluationPeriods=3,
                Threshold=80.0,
                ComparisonOperator="GreaterThanThreshold",
            )
            alarm = ctx.backend("cloudwatch", region).alarms[name]
            alarm.state_value = state
            alarm.state_reason = "Insufficient Data" if state == "INSUFFICIENT_DATA" else f"simulated {state}"
            alarm.state_updated_timestamp = _naive(ctx.ago(days))
            scenario = SCENARIO if waste else None
            decision = (
                ctx.decide(decisions, tags=tags, scenario=SCENARIO, age_days=days, monthly_cost=_MONTHLY)
                if waste
                else None
            )
            truth.append(ctx.truth(alarm.alarm_arn, ALARM, region, tags, scenario, decision))
    return truth


def _naive(when: datetime) -> datetime:
    return when.replace(tzinfo=None)


def _alarm_name(arn: str) -> str:
    return arn.split(":alarm:", 1)[1]


def _delete(c, arn: str, _now: datetime) -> None:
    c.cloudwatch.delete_alarms(AlarmNames=[_alarm_name(arn)])


def _fix(c, arn: str, _now: datetime) -> None:
    """The metric is back: the alarm evaluates again (state OK, now)."""
    c.cloudwatch.set_alarm_state(AlarmName=_alarm_name(arn), StateValue="OK", StateReason="metric back")


SERVICE = ServiceEstate(
    name="cloudwatch_alarms",
    seed=seed,
    actions={(ALARM, "delete"): _delete, (ALARM, "fix"): _fix},
    doc="CloudWatch metric alarms: stale INSUFFICIENT_DATA ones and near misses.",
)
