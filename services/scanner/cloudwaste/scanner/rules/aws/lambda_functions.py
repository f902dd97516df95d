"""AWS Lambda rules."""

from __future__ import annotations

import math
from decimal import Decimal

from cloudwaste.scanner.domain import Detection, Resource
from cloudwaste.scanner.rules import Context, Fixtures, Metric, Param, Series, age_days, attach_fixtures, rule
from cloudwaste.scanner.rules.aws._common import NOW as _NOW
from cloudwaste.scanner.rules.aws._common import res, rounded

KIND = "aws.lambda.provisioned_concurrency"
SECONDS_PER_MONTH = 730 * 3600
# Invocations of one version or alias: dimensions FunctionName + Resource ("function:qualifier").
INVOCATIONS = Metric(
    "invocations",
    "AWS/Lambda",
    "Invocations",
    "FunctionName",
    "Sum",
    dimension_attribute="function_name",
    extra_dimensions=(("Resource", "@metric_resource"),),
)


def provisioned_concurrency_price(r: Resource, ctx: Context) -> tuple[Decimal | None, float]:
    """(monthly price of the configuration, its GB): allocated concurrency (the requested one while
    it is being allocated) x memory GB x seconds a month (730 h) x the GB-second price."""
    a = r.attributes
    concurrency = a.get("allocated_concurrency") or a.get("requested_concurrency") or 0
    gb = concurrency * (a.get("memory_mb") or 128) / 1024
    unit = ctx.prices.price("lambda", "provisioned_concurrency_gb_second")
    if unit is None:
        return None, gb
    return (unit * Decimal(str(gb)) * SECONDS_PER_MONTH).quantize(Decimal("0.0001")), gb


def _configured_for_the_window(r: Resource, p, ctx: Context) -> bool:
    """Provisioned concurrency set at least a window ago (a younger configuration is never idle)."""
    age = age_days(r.created_at, ctx.now)
    return (
        age is not None and age >= p["window_days"] and (r.attributes.get("requested_concurrency") or 0) > 0
    )


@rule(
    key="lambda-provisioned-concurrency-unused",
    provider="aws",
    resource_kind=KIND,
    title="Lambda provisioned concurrency on a version or alias never invoked",
    permissions=(
        "lambda:ListFunctions",
        "lambda:ListProvisionedConcurrencyConfigs",
        "cloudwatch:GetMetricData",
    ),
    params={
        "window_days": Param(
            float,
            90.0,
            "No invocation of the version or alias over this many days (its provisioned concurrency "
            "must have been configured that long ago).",
            7,
        )
    },
    confidence_doc="HIGH when the configuration is older than twice the window; MEDIUM otherwise. "
    "Lambda publishes no Invocations datapoint for a day without invocations, so 'no datapoint at "
    "all' is the idle signal itself (a CloudWatch outage would look the same).",
    metrics=(INVOCATIONS,),
    candidate=_configured_for_the_window,
)
def lambda_provisioned_concurrency_unused(r: Resource, p, ctx: Context) -> Detection | None:
    """Provisioned concurrency keeps execution environments initialized and bills for them by the
    GB-second whether or not they serve a request. A function version or alias with provisioned
    concurrency and no invocation at all over the last 90 days (the daily Sum of AWS/Lambda
    Invocations for FunctionName + Resource "function:qualifier") pays for warm capacity nobody
    uses. The 90-day default is common FinOps practice ("Lambda functions never invoked in 90 days
    with provisioned concurrency"), the span AWS Trusted Advisor and Steampipe Thrifty use for
    unused resources of this kind of cost. AWS publishes no Invocations datapoint without
    invocations: no datapoint over the window means none, which is why the configuration must be
    at least as old as the window (its LastModified: when the concurrency was last set)."""
    if not _configured_for_the_window(r, p, ctx):
        return None
    window = math.ceil(p["window_days"])
    series = ctx.metric(r, INVOCATIONS.name, window)
    if series is None or series.total > 0:
        return None
    price, gb = provisioned_concurrency_price(r, ctx)
    age = age_days(r.created_at, ctx.now)
    evidence = {
        "qualifier": r.attributes.get("qualifier"),
        "allocated_concurrency": r.attributes.get("allocated_concurrency"),
        "requested_concurrency": r.attributes.get("requested_concurrency"),
        "memory_mb": r.attributes.get("memory_mb"),
        "provisioned_gb": round(gb, 3),
        "window_days": window,
        "invocations": series.evidence("count"),
        "configured_days_ago": rounded(age),
        **ctx.prices.evidence(),
    }
    if price is None:
        evidence["price"] = "unknown provisioned concurrency price: priced at 0"
    return Detection(
        scenario="lambda-provisioned-concurrency-unused",
        confidence="HIGH" if age is not None and age >= 2 * p["window_days"] else "MEDIUM",
        monthly_cost=price if price is not None else Decimal(0),
        evidence=evidence,
    )


# --- lambda-provisioned-concurrency-underused ---------------------------------------------------------

# The share of the allocated provisioned concurrency in use (0.5: half), published for a version or
# alias while it is invoked; a day without invocations has no datapoint.
UTILIZATION = Metric(
    "pc_utilization",
    "AWS/Lambda",
    "ProvisionedConcurrencyUtilization",
    "FunctionName",
    "Maximum",
    dimension_attribute="function_name",
    extra_dimensions=(("Resource", "@metric_resource"),),
)


def _reducible_for_the_window(r: Resource, p, ctx: Context) -> bool:
    """Configured at least a window ago, with at least 2 allocated (1 cannot be reduced)."""
    age = age_days(r.created_at, ctx.now)
    return (
        age is not None and age >= p["window_days"] and (r.attributes.get("allocated_concurrency") or 0) >= 2
    )


@rule(
    key="lambda-provisioned-concurrency-underused",
    provider="aws",
    resource_kind=KIND,
    title="Lambda provisioned concurrency far above what the version or alias ever uses",
    permissions=(
        "lambda:ListFunctions",
        "lambda:ListProvisionedConcurrencyConfigs",
        "cloudwatch:GetMetricData",
    ),
    params={
        "window_days": Param(
            float, 30.0, "Days of CloudWatch history judged (the configuration must be that old).", 7
        ),
        "max_peak_utilization": Param(
            float,
            0.5,
            "The highest daily maximum of ProvisionedConcurrencyUtilization (a fraction: 0.5 is 50%) "
            "at most this.",
            0,
        ),
        "min_days_with_data": Param(
            float, 7.0, "At least this many days of the window have a utilization datapoint.", 1
        ),
    },
    confidence_doc="HIGH when utilization datapoints cover at least 80% of the window; MEDIUM otherwise "
    "(days without invocations publish none, which is low use too, but fewer days of evidence).",
    metrics=(INVOCATIONS, UTILIZATION),
    candidate=_reducible_for_the_window,
)
def lambda_provisioned_concurrency_underused(r: Resource, p, ctx: Context) -> Detection | None:
    """A version or alias that is invoked, but whose provisioned concurrency was never more than
    half in use on any day of the last 30 (daily Maximum of AWS/Lambda
    ProvisionedConcurrencyUtilization, dimensions FunctionName + Resource), keeps warm capacity it
    does not need even at its peak. The finding prices the excess: the allocated concurrency above
    the peak in use (rounded up, at least 1 kept) x memory GB x seconds a month x the GB-second
    price. The 50% threshold and 30-day window are common FinOps practice for rightsizing
    provisioned capacity; a configuration with no invocation at all over 90 days is
    `lambda-provisioned-concurrency-unused`'s instead (this rule needs invocations in its window,
    so the two never fire together). Missing days are not zeros of evidence: below
    `min_days_with_data` days with a datapoint the configuration is not judged."""
    if not _reducible_for_the_window(r, p, ctx):
        return None
    window = math.ceil(p["window_days"])
    invocations = ctx.metric(r, INVOCATIONS.name, window)
    utilization = ctx.metric(r, UTILIZATION.name, window)
    if invocations is None or utilization is None or invocations.total <= 0:
        return None
    if utilization.got < p["min_days_with_data"] or utilization.peak is None:
        return None
    peak = max(0.0, utilization.peak)
    if peak > p["max_peak_utilization"]:
        return None
    allocated = int(r.attributes.get("allocated_concurrency") or 0)
    needed = max(1, math.ceil(round(peak * allocated, 6)))
    excess = allocated - needed
    if excess <= 0:
        return None
    full, _ = provisioned_concurrency_price(r, ctx)
    cost = (full * excess / allocated).quantize(Decimal("0.0001")) if full is not None else None
    evidence = {
        "qualifier": r.attributes.get("qualifier"),
        "allocated_concurrency": allocated,
        "peak_in_use": needed,
        "excess_concurrency": excess,
        "memory_mb": r.attributes.get("memory_mb"),
        "window_days": window,
        "peak_utilization": round(peak, 4),
        "utilization": utilization.evidence("fraction"),
        "invocations": invocations.evidence("count"),
        **ctx.prices.evidence(),
    }
    if cost is None:
        evidence["price"] = "unknown provisioned concurrency price: priced at 0"
    return Detection(
        scenario="lambda-provisioned-concurrency-underused",
        confidence="HIGH" if utilization.coverage >= 0.8 else "MEDIUM",
        monthly_cost=cost if cost is not None else Decimal(0),
        evidence=evidence,
    )


# --- fixtures: one resource that fires and one near miss per rule ---------------------------------

_ARN = "arn:aws:lambda:eu-west-1:123456789012:function:"


def _pc(name: str, qualifier: str, days: float, concurrency: int = 5) -> Resource:
    return res(
        KIND,
        f"{_ARN}{name}:{qualifier}",
        days,
        function_name=name,
        qualifier=qualifier,
        metric_resource=f"{name}:{qualifier}",
        requested_concurrency=concurrency,
        allocated_concurrency=concurrency,
        status="READY",
        memory_mb=1024,
    )


attach_fixtures(
    "lambda-provisioned-concurrency-unused",
    Fixtures(
        fires=_pc("pc-idle", "live", 200),
        silent=_pc("pc-used", "live", 200),
        now=_NOW,
        series={
            (f"{_ARN}pc-idle:live", "invocations", 90): Series((), 90),  # no datapoint: no invocation
            (f"{_ARN}pc-used:live", "invocations", 90): Series((3.0,), 90),  # invoked 3 times one day
        },
    ),
)
_BUSY = Series((40.0,) * 30, 30)
attach_fixtures(
    "lambda-provisioned-concurrency-underused",
    Fixtures(
        fires=_pc("pc-oversized", "live", 200, concurrency=20),
        silent=_pc("pc-right-sized", "live", 200, concurrency=20),
        now=_NOW,
        series={
            (f"{_ARN}pc-oversized:live", "invocations", 30): _BUSY,
            (f"{_ARN}pc-oversized:live", "pc_utilization", 30): Series((0.1,) * 29 + (0.2,), 30),  # 4 of 20
            (f"{_ARN}pc-right-sized:live", "invocations", 30): _BUSY,
            (f"{_ARN}pc-right-sized:live", "pc_utilization", 30): Series((0.3,) * 29 + (0.55,), 30),
        },
    ),
)
