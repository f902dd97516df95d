"""Kinesis Data Streams rules: provisioned streams nothing writes to."""

from __future__ import annotations

import math

from cloudwaste.scanner.domain import Detection, Resource
from cloudwaste.scanner.rules import Context, Fixtures, Metric, Series, age_days, attach_fixtures, rule
from cloudwaste.scanner.rules.aws._common import NOW as _NOW
from cloudwaste.scanner.rules.aws._common import res, rounded
from cloudwaste.scanner.rules.aws.vpn import WINDOW, coverage_param, old_enough, priced, zero_activity

STREAM = "aws.kinesis.stream"
INCOMING = Metric("incoming_records", "AWS/Kinesis", "IncomingRecords", "StreamName", "Sum")


def _candidate(r: Resource, p, ctx: Context) -> bool:
    a = r.attributes
    return (
        a.get("stream_mode") == "PROVISIONED"
        and a.get("status") in ("ACTIVE", "UPDATING")
        and old_enough(r, p["window_days"], ctx)
    )


@rule(
    key="kinesis-stream-idle",
    provider="aws",
    resource_kind=STREAM,
    title="Provisioned Kinesis stream nothing writes to",
    permissions=("kinesis:ListStreams", "kinesis:DescribeStreamSummary", "cloudwatch:GetMetricData"),
    params={
        "window_days": WINDOW,
        "min_coverage": coverage_param(
            "Share of the window's days with datapoints for HIGH confidence (fewer, all zero: MEDIUM)."
        ),
    },
    confidence_doc="HIGH when datapoints cover at least min_coverage of the window and are all zero; "
    "MEDIUM when there are fewer or none.",
    metrics=(INCOMING,),
    candidate=_candidate,
)
def kinesis_stream_idle(r: Resource, p, ctx: Context) -> Detection | None:
    """A provisioned-mode stream bills every open shard by the hour whether or not records flow.
    An active one older than the window fires when its daily IncomingRecords sums (AWS/Kinesis,
    StreamName) are zero over 30 days (the longer end of the usual 14-30 day idle windows: a
    stream may be written to in bursts); no datapoints at all counts as no records, at MEDIUM
    confidence. On-demand streams (billed per stream-hour and per GB) are not judged by this rule.
    Priced as open shards x the shard-hour price."""
    if not _candidate(r, p, ctx):
        return None
    days = math.ceil(p["window_days"])
    series = ctx.metric(r, "incoming_records", days)
    verdict = zero_activity([series])
    if verdict is None:
        return None
    points, coverage = verdict
    shards = r.attributes.get("open_shard_count")
    evidence = {
        "incoming_records": series.evidence("records"),
        "window_days": days,
        "datapoints": points,
        "open_shards": shards,
        "age_days": rounded(age_days(r.created_at, ctx.now)),
    }
    cost = priced(
        None if shards is None else ctx.prices.monthly_from_hourly("kinesis", "shard_hour", quantity=shards),
        "shard count or shard-hour price",
        evidence,
        ctx,
    )
    return Detection(
        scenario="kinesis-stream-idle",
        confidence="HIGH" if coverage >= p["min_coverage"] else "MEDIUM",
        monthly_cost=cost,
        evidence=evidence,
    )


_STREAM = {"status": "ACTIVE", "open_shard_count": 4}
attach_fixtures(
    "kinesis-stream-idle",
    Fixtures(
        fires=res(STREAM, "orders-old", 200, stream_mode="PROVISIONED", **_STREAM),
        silent=res(STREAM, "orders-busy", 200, stream_mode="PROVISIONED", **_STREAM),
        now=_NOW,
        series={
            ("orders-old", "incoming_records", 30): Series((0.0,) * 30, 30),
            ("orders-busy", "incoming_records", 30): Series((0.0,) * 29 + (1.0,), 30),
        },
    ),
)
