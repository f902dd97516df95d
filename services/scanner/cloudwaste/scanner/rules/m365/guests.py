"""Microsoft 365 guest rule: guests who no longer use their access. Not a cost (a guest needs no
licence up to the tenant's 1:5 ratio or its first 50,000 monthly active users): a risk and
hygiene finding, priced 0."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from cloudwaste.scanner.domain import Detection, Resource
from cloudwaste.scanner.rules import Context, Fixtures, Param, age_days, attach_fixtures, rule

GUEST_USER = "m365.graph.guest_user"
NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)  # the fixtures' "now"


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


@rule(
    key="m365-guest-inactive",
    provider="m365",
    resource_kind=GUEST_USER,
    title="Guest who has not signed in for a long time (risk, not cost)",
    permissions=("AuditLog.Read.All", "User.Read.All"),
    params={
        "min_inactive_days": Param(
            float, 90.0, "No sign-in into this tenant for at least this long (or never, invited as long ago).", 1
        ),
    },
    confidence_doc=(
        "HIGH when the invitation was never accepted or the guest never signed in; MEDIUM otherwise: "
        "a partner who comes back once a quarter is the usual reason to keep one."
    ),
)
def guest_inactive(r: Resource, p, ctx: Context) -> Detection | None:
    """An enabled guest whose last sign-in into this tenant, interactive or not, is older than
    `min_inactive_days`, or who never signed in (an invitation never accepted included) and was
    invited that long ago. Default 90 days, as Microsoft Entra access reviews' inactive-guest
    preset. Priced 0: a guest costs nothing, but keeps access to what was shared with it. Sign-in
    activity needs AuditLog.Read.All and Entra ID P1: without it nothing is judged."""
    if not r.attributes.get("account_enabled", True) or not r.attributes.get("sign_in_activity_read"):
        return None
    last = r.attributes.get("last_any_sign_in")
    days = age_days(last or r.created_at, ctx.now)
    if days is None or days < p["min_inactive_days"]:
        return None
    pending = r.attributes.get("invitation_state") == "PendingAcceptance"
    return Detection(
        scenario="m365-guest-inactive",
        confidence="HIGH" if last is None or pending else "MEDIUM",
        monthly_cost=Decimal(0),
        evidence={
            "days_since_last_sign_in": round(days, 1),
            "never_signed_in": last is None,
            "invitation_state": r.attributes.get("invitation_state", ""),
            "last_sign_in": _iso(r.attributes.get("last_sign_in")),
            "last_non_interactive_sign_in": _iso(r.attributes.get("last_non_interactive_sign_in")),
            "cost": "a risk, not a cost: a guest needs no licence",
        },
    )


def _guest(uid: str, created: float, last: float | None, **attributes) -> Resource:
    when = None if last is None else NOW - dt.timedelta(days=last)
    attrs = {
        "user_id": uid, "account_enabled": True, "invitation_state": "Accepted", "sign_in_activity_read": True,
        "last_sign_in": when, "last_non_interactive_sign_in": None, "last_any_sign_in": when, **attributes,
    }
    return Resource(
        "m365", GUEST_USER, f"guest:{uid}", "global", name="partner@fabrikam.example",
        created_at=NOW - dt.timedelta(days=created), attributes=attrs,
    )


attach_fixtures(
    "m365-guest-inactive",
    Fixtures(
        fires=_guest("g-gone", created=400, last=200),
        # invited last week, not yet accepted
        silent=_guest("g-new", created=7, last=None, invitation_state="PendingAcceptance"),
        now=NOW,
    ),
)
