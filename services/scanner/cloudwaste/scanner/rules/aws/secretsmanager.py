"""Secrets Manager rules."""

from __future__ import annotations

from decimal import Decimal

from cloudwaste.scanner.domain import Detection, Resource
from cloudwaste.scanner.rules import Context, Fixtures, Param, age_days, attach_fixtures, rule
from cloudwaste.scanner.rules.aws._common import NOW as _NOW
from cloudwaste.scanner.rules.aws._common import days_ago, res, rounded

KIND = "aws.secretsmanager.secret"


@rule(
    key="secretsmanager-secret-unused",
    provider="aws",
    resource_kind=KIND,
    title="Secrets Manager secret not accessed for a long time",
    permissions=("secretsmanager:ListSecrets",),
    params={
        "min_unused_days": Param(
            float, 90.0, "Not accessed for this many days (never accessed: created that long ago).", 1
        )
    },
    confidence_doc="HIGH when the secret was accessed once and not since; MEDIUM when it was never "
    "accessed (it may be a break-glass credential kept on purpose).",
)
def secretsmanager_secret_unused(r: Resource, p, ctx: Context) -> Detection | None:
    """A secret nobody read for 90 days (LastAccessedDate, which AWS keeps to the day) or never read
    and created more than 90 days ago still bills every month, and each replica too. Default after
    Steampipe Thrifty's secretsmanager_secret_unused_90_days. Secrets scheduled for deletion are
    not billed and not listed. A replica (its PrimaryRegion is another Region) is never judged on
    its own: a disaster-recovery replica is not read locally by design, and it is part of its
    primary, judged (and priced with the replicas it is known to have) in the primary's Region."""
    primary = r.attributes.get("primary_region")
    if primary and primary != r.region:
        return None
    last = r.attributes.get("last_accessed")
    unused = age_days(last, ctx.now) if last is not None else age_days(r.created_at, ctx.now)
    if unused is None or unused < p["min_unused_days"]:
        return None
    # a secret younger than the span is never unused (whatever its last access says)
    age = age_days(r.created_at, ctx.now)
    if age is not None and age < p["min_unused_days"]:
        return None
    replicas = int(r.attributes.get("replica_count") or 0)
    unit = ctx.prices.secret()
    evidence = {
        "last_accessed_days_ago": rounded(age_days(last, ctx.now)) if last is not None else None,
        "never_accessed": last is None,
        "age_days": rounded(age),
        "replica_count": replicas,
        "min_unused_days": p["min_unused_days"],
        **ctx.prices.evidence(),
    }
    if unit is None:
        evidence["price"] = "unknown secret price: priced at 0"
    return Detection(
        scenario="secretsmanager-secret-unused",
        confidence="MEDIUM" if last is None else "HIGH",
        monthly_cost=(unit * (1 + replicas)) if unit is not None else Decimal(0),
        evidence=evidence,
    )


# --- fixtures: one resource that fires and one near miss per rule ---------------------------------

_ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:"
attach_fixtures(
    "secretsmanager-secret-unused",
    Fixtures(
        fires=res(KIND, _ARN + "old-db-AbCdEf", 400, last_accessed=days_ago(120), replica_count=1),
        silent=res(KIND, _ARN + "live-db-GhIjKl", 400, last_accessed=days_ago(2), replica_count=0),
        now=_NOW,
    ),
)
