"""Kinesis Data Streams kinds: streams."""

from __future__ import annotations

import datetime as dt

from cloudwaste.scanner.domain import Resource
from cloudwaste.scanner.kinds import kind
from cloudwaste.scanner.kinds.aws._common import PROVIDER, Deps, paginate, resource

STREAM = "aws.kinesis.stream"


@kind(
    key=STREAM,
    provider=PROVIDER,
    title="Kinesis data stream",
    operations=("kinesis:ListStreams", "kinesis:DescribeStreamSummary"),
    id_field="StreamName",
    name_field="StreamName",
    created_field="StreamCreationTimestamp",
    ml_config={"stream_mode": str, "open_shard_count": int, "retention_hours": int},
)
def list_streams(conn, region: str, now: dt.datetime, deps: Deps) -> list[Resource]:
    """Streams (ListStreams, paginated: its StreamSummaries give the mode and creation time).
    The open shard count of a provisioned stream needs DescribeStreamSummary, one call per
    provisioned stream (ListStreams does not give it); on-demand streams are not described."""
    kinesis = conn.client("kinesis", region)
    summaries: dict[str, dict] = {}
    for s in paginate(kinesis, "list_streams", "StreamSummaries"):
        summaries.setdefault(s["StreamName"], s)
    out = []
    for name, s in sorted(summaries.items()):
        status = s.get("StreamStatus")
        if status == "DELETING":
            continue
        mode = (s.get("StreamModeDetails") or {}).get("StreamMode", "PROVISIONED")
        detail: dict = {}
        if mode == "PROVISIONED":
            detail = kinesis.describe_stream_summary(StreamName=name).get("StreamDescriptionSummary", {})
        shards = detail.get("OpenShardCount")
        retention = detail.get("RetentionPeriodHours")
        out.append(
            resource(
                STREAM,
                s,
                region,
                {},  # tags would be one ListTagsForStream call per stream: not read
                attributes={
                    "status": status,
                    "stream_mode": mode,
                    "open_shard_count": int(shards) if shards is not None else None,
                    "stream_arn": s.get("StreamARN"),
                },
                config={
                    "stream_mode": mode,
                    "open_shard_count": int(shards or 0),
                    "retention_hours": int(retention or 0),
                },
            )
        )
    return out
