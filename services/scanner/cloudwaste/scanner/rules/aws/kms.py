"""KMS rules."""

from __future__ import annotations

from decimal import Decimal

from cloudwaste.scanner.domain import Detection, Resource
from cloudwaste.scanner.rules import Context, Fixtures, Param, age_days, attach_fixtures, rule
from cloudwaste.scanner.rules.aws._common import NOW as _NOW
from cloudwaste.scanner.rules.aws._common import res, rounded

KIND = "aws.kms.key"


@rule(
    key="kms-key-disabled",
    provider="aws",
    resource_kind=KIND,
    title="KMS customer managed key disabled but still billed",
    permissions=("kms:ListKeys", "kms:DescribeKey"),
    params={"min_age_days": Param(float, 30.0, "The key was created at least this many days ago.", 0)},
    confidence_doc="MEDIUM: KMS does not say since when a key is disabled (only CloudTrail does); a "
    "disabled key may still be needed to decrypt old data, which is why deletion is scheduled, not "
    "immediate.",
)
def kms_key_disabled(r: Resource, p, ctx: Context) -> Detection | None:
    """A customer managed key in state Disabled encrypts and decrypts nothing, yet KMS bills it
    $1/month like an enabled one (AWS KMS pricing: keys pending deletion are not billed, disabled
    ones are). Scheduling its deletion (7-30 days, cancellable) stops the charge; make sure no data
    still needs it first. AWS managed keys are not listed. Keys created less than 30 days ago are
    left alone (common FinOps practice: a new key may be disabled while it is being set up). A key
    whose key policy does not let the account describe it is not listed, hence never judged."""
    if r.attributes.get("key_state") != "Disabled":
        return None
    age = age_days(r.created_at, ctx.now)
    if age is None or age < p["min_age_days"]:
        return None
    price = ctx.prices.kms_key()
    evidence = {
        "key_state": "Disabled",
        "age_days": rounded(age),
        "multi_region": bool(r.attributes.get("multi_region")),
        **ctx.prices.evidence(),
    }
    if price is None:
        evidence["price"] = "unknown KMS key price: priced at 0"
    return Detection(
        scenario="kms-key-disabled",
        confidence="MEDIUM",
        monthly_cost=price if price is not None else Decimal(0),
        evidence=evidence,
    )


# --- fixtures: one resource that fires and one near miss per rule ---------------------------------

attach_fixtures(
    "kms-key-disabled",
    Fixtures(
        fires=res(KIND, "0b1c2d3e-0000-4000-8000-000000000001", 200, key_state="Disabled"),
        silent=res(KIND, "0b1c2d3e-0000-4000-8000-000000000002", 200, key_state="PendingDeletion"),
        now=_NOW,
    ),
)
