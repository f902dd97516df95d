"""AWS metrics through moto's CloudWatch: GetMetricData carries 500 queries a call, one window at a
time, and a series holds exactly the days that have datapoints (none is read as zero)."""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter

import boto3
from cloudwaste.scanner import providers
from cloudwaste.scanner.engine import MetricQuery
from cloudwaste.scanner.rules import Metric

BYTES = Metric("bytes_out", "CloudWaste/Test", "BytesOut", "GatewayId", "Sum")


def test_get_metric_data_batches_500_queries_a_call(moto_estate):
    endpoint, truth = moto_estate
    region = truth.regions[0]
    now = dt.datetime.now(dt.UTC)
    creds = boto3.client("sts", endpoint_url=endpoint, region_name=region).assume_role(
        RoleArn=f"arn:aws:iam::{truth.account_id}:role/writer", RoleSessionName="test"
    )["Credentials"]
    cloudwatch = boto3.client(  # the estate's account: moto keeps data per account
        "cloudwatch",
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )
    # three gateways with data: every day of the window, two days of it, and one day of zeros
    days = {"gw-full": range(0, 9), "gw-two": (1, 2), "gw-zero": (3,)}  # 0: today, 8: before the window
    for gateway, back in days.items():
        cloudwatch.put_metric_data(
            Namespace=BYTES.namespace,
            MetricData=[
                {
                    "MetricName": BYTES.metric,
                    "Dimensions": [{"Name": BYTES.dimension, "Value": gateway}],
                    "Timestamp": now.replace(hour=12, minute=0, second=0, microsecond=0)
                    - dt.timedelta(days=d),
                    "Value": 0.0 if gateway == "gw-zero" else 100.0 * d,
                }
                for d in back
            ],
        )
    queries = [MetricQuery(f"gw-{i}", ((BYTES.dimension, f"gw-{i}"),), BYTES, 7) for i in range(1197)]
    queries += [MetricQuery(g, ((BYTES.dimension, g),), BYTES, 7) for g in days]
    aws = providers.get("aws")
    conn = aws.connect(
        {"role_arn": f"arn:aws:iam::{truth.account_id}:role/CloudWasteScanner", "external_id": "ext-metrics"},
        {"endpoint_url": endpoint},
    )
    calls: Counter = Counter()
    with providers.observe_calls(lambda provider, caller, op: calls.update([(caller, op)])):
        series = aws.metrics(conn, region, queries, now)
    assert calls == {(aws.METRICS_CALLER, "cloudwatch:GetMetricData"): math.ceil(1200 / 500)}
    assert len(series) == 1200
    assert series[("gw-full", "bytes_out", 7)].got == 7  # the 7 x 24 hours up to now, no older
    assert series[("gw-two", "bytes_out", 7)].values == (200.0, 100.0)  # oldest first
    zero = series[("gw-zero", "bytes_out", 7)]
    assert zero.got == 1 and zero.total == 0.0  # a datapoint of zero is data
    empty = series[("gw-5", "bytes_out", 7)]
    assert empty.got == 0 and empty.days == 7 and empty.coverage == 0.0  # no data is not zero
