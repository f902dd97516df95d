"""Microsoft 365 licence rules: licences held by shared mailboxes, disabled or inactive users,
overlapping licences, seats bought but never assigned, and subscriptions ending under their users
(a warning). Each is priced at the SKU's list price per user and month
(data/m365_prices/licenses.json); a SKU the table does not know is priced 0 and says so.

On a user's licence the rules are exclusive, in this order: a shared mailbox (whose account is
disabled by design), then a disabled account, then an inactive user, then a licence that another
licence of the same user already covers."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from cloudwaste.scanner.domain import Detection, Resource
from cloudwaste.scanner.m365_skus import family, redundant
from cloudwaste.scanner.rules import Context, Fixtures, Param, age_days, attach_fixtures, rule

USER_LICENSE = "m365.graph.user_license"
SUBSCRIBED_SKU = "m365.graph.subscribed_sku"
MAILBOX = "m365.reports.mailbox"
SHARED_MAILBOX_FREE_GB = 50  # a shared mailbox needs no licence up to 50 GB, without an archive
GB = 1024**3
_USERS = ("AuditLog.Read.All", "Organization.Read.All", "User.Read.All")
_SKUS = ("Organization.Read.All",)
NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)  # the fixtures' "now"


def _price(ctx: Context, part: str) -> Decimal | None:
    return ctx.prices.monthly("global", "licenses", "license_month", part) if part else None


def _priced(ctx: Context, part: str, quantity: int = 1) -> tuple[Decimal, dict]:
    unit = _price(ctx, part)
    if unit is None:
        return Decimal(0), {"cost_unknown": f"no list price for {part or 'this SKU'}"}
    return unit * quantity, {"price_per_user_month": float(unit), **ctx.prices.evidence("global", "licenses")}


def _licence(rid: str, part: str, created_days: float = 400, **attributes) -> Resource:
    user_id, _, sku_id = rid.partition(":")
    attrs = {
        "user_id": user_id, "sku_id": sku_id, "sku_part": part, "account_enabled": True,
        "user_type": "Member", "user_sku_parts": [part], "sign_in_activity_read": True,
        **attributes,
    }
    return Resource(
        "m365", USER_LICENSE, rid, "global", name=f"fixture.user@contoso.example ({part})",
        created_at=NOW - dt.timedelta(days=created_days), attributes=attrs,
    )


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def _days(days: float) -> dt.datetime:
    return NOW - dt.timedelta(days=days)


def _disabled(r: Resource) -> bool:
    return not r.attributes.get("account_enabled", True)


def _shared_mailbox(r: Resource, ctx: Context) -> Resource | None:
    """The user's mailbox when it is a shared one (from the mailbox usage report, when its
    names are not concealed); None otherwise or when unknown."""
    upn = (r.attributes.get("user_principal_name") or "").lower()
    mailbox = ctx.lookup(MAILBOX, f"mailbox:{upn}") if upn else None
    return mailbox if mailbox is not None and mailbox.attributes.get("recipient_type") == "Shared" else None


# --- m365-license-shared-mailbox -----------------------------------------------------------------


@rule(
    key="m365-license-shared-mailbox",
    provider="m365",
    resource_kind=USER_LICENSE,
    title="Licence held by a shared mailbox that does not need one",
    permissions=(*_USERS, "Reports.Read.All"),
    needs=(MAILBOX,),
    confidence_doc=(
        "HIGH: Exchange Online serves a shared mailbox without a licence under 50 GB and without "
        "an archive; a litigation hold (not in the report) is the one reason left to keep one."
    ),
)
def license_shared_mailbox(r: Resource, p, ctx: Context) -> Detection | None:
    """A paid licence assigned to the account of a shared mailbox (`Recipient Type` Shared in
    the mailbox usage report) that holds less than 50 GB and has no archive: Exchange Online
    serves such a mailbox without a licence. Shared mailboxes are usually licensed when a user's
    mailbox is converted and the licence is left behind. Needs report names not concealed (the
    report's user principal name is how the mailbox is matched to its account)."""
    part = r.attributes.get("sku_part") or ""
    mailbox = _shared_mailbox(r, ctx)
    if mailbox is None or _price(ctx, part) == 0:
        return None
    gb = mailbox.attributes.get("storage_bytes", 0) / GB
    if gb >= SHARED_MAILBOX_FREE_GB or mailbox.attributes.get("has_archive"):
        return None
    cost, evidence = _priced(ctx, part)
    return Detection(
        scenario="m365-license-shared-mailbox",
        confidence="HIGH",
        monthly_cost=cost,
        evidence={"mailbox_type": "Shared", "mailbox_storage_gb": round(gb, 2), "has_archive": False,
                  "sku": part, "sku_family": family(part), **evidence},
    )


def _inactive_days(r: Resource, ctx: Context) -> float | None:
    """Days since the user's last sign-in of any kind; since creation when never signed in;
    None when sign-in activity could not be read (no Entra ID P1, or no permission)."""
    if not r.attributes.get("sign_in_activity_read"):
        return None
    return age_days(r.attributes.get("last_any_sign_in") or r.created_at, ctx.now)


# --- m365-license-disabled-user ------------------------------------------------------------------


@rule(
    key="m365-license-disabled-user",
    provider="m365",
    resource_kind=USER_LICENSE,
    title="Licence held by a disabled account",
    permissions=_USERS,
    confidence_doc="HIGH: a disabled account cannot sign in; its licence pays for nothing.",
)
def license_disabled_user(r: Resource, p, ctx: Context) -> Detection | None:
    """A licence assigned to an account that is disabled (`accountEnabled` false): the usual
    leaver whose account was blocked but whose licences were not removed. Paid licences only (a
    free SKU costs nothing to keep). No parameter: the account state is the whole test."""
    part = r.attributes.get("sku_part") or ""
    if not _disabled(r) or _price(ctx, part) == 0 or _shared_mailbox(r, ctx) is not None:
        return None
    cost, evidence = _priced(ctx, part)
    return Detection(
        scenario="m365-license-disabled-user",
        confidence="HIGH",
        monthly_cost=cost,
        evidence={"account_enabled": False, "sku": part, "sku_family": family(part), **evidence},
    )


# --- m365-license-user-inactive ------------------------------------------------------------------


@rule(
    key="m365-license-user-inactive",
    provider="m365",
    resource_kind=USER_LICENSE,
    title="Licence of a user who has not signed in for a long time",
    permissions=_USERS,
    params={
        "min_inactive_days": Param(
            float, 90.0, "No sign-in, interactive or not, for at least this long (or never, and created as long ago).", 1
        ),
    },
    confidence_doc=(
        "HIGH after 180 days without a sign-in (or never signed in); MEDIUM from min_inactive_days: "
        "a long leave or a service account that authenticates otherwise are the usual reasons to keep."
    ),
)
def license_user_inactive(r: Resource, p, ctx: Context) -> Detection | None:
    """A paid licence of an enabled member whose last sign-in, interactive or non-interactive
    (a mail client refreshing its token is a non-interactive sign-in: the user is active), is
    older than `min_inactive_days`, or who never signed in and was created that long ago.

    Default 90 days, as Microsoft's own inactive-user guidance for licence reclaiming and the
    Entra ID access reviews' "inactive for 90 days" preset. Sign-in activity needs a Microsoft
    Entra ID P1 tenant and AuditLog.Read.All: without it nothing is judged (never read as
    "inactive"). Guests are not judged here (a guest's licence is rare and its sign-ins happen in
    its home tenant); disabled accounts are `m365-license-disabled-user`'s."""
    part = r.attributes.get("sku_part") or ""
    if _disabled(r) or r.attributes.get("user_type") == "Guest" or _price(ctx, part) == 0:
        return None
    if _shared_mailbox(r, ctx) is not None:
        return None  # m365-license-shared-mailbox's, or a licence a large shared mailbox needs
    days = _inactive_days(r, ctx)
    if days is None or days < p["min_inactive_days"]:
        return None
    never = r.attributes.get("last_any_sign_in") is None
    cost, evidence = _priced(ctx, part)
    return Detection(
        scenario="m365-license-user-inactive",
        confidence="HIGH" if never or days >= 180 else "MEDIUM",
        monthly_cost=cost,
        evidence={
            "days_since_last_sign_in": round(days, 1),
            "never_signed_in": never,
            "last_sign_in": _iso(r.attributes.get("last_sign_in")),
            "last_non_interactive_sign_in": _iso(r.attributes.get("last_non_interactive_sign_in")),
            "sku": part,
            "sku_family": family(part),
            **evidence,
        },
    )


# --- m365-license-overlap ----------------------------------------------------------------------


@rule(
    key="m365-license-overlap",
    provider="m365",
    resource_kind=USER_LICENSE,
    title="Standalone licence that another licence of the same user already includes",
    permissions=_USERS,
    confidence_doc=(
        "MEDIUM: the suite covers the standalone product's service; a standalone kept for a "
        "feature tier the suite lacks (a larger mailbox plan) is the reason to keep it."
    ),
)
def license_overlap(r: Resource, p, ctx: Context) -> Detection | None:
    """A paid standalone licence (Exchange Online Plan 1, Office 365 E3, Entra ID P1...) held by
    a user who also holds a suite that includes it (Microsoft 365 E3 includes all three): the
    standalone one is paid twice. Which suite covers which standalone SKU is
    `m365_skus.INCLUDES`, after Microsoft's service descriptions. An active, enabled user only
    (the other licence rules take the rest)."""
    part = r.attributes.get("sku_part") or ""
    if _disabled(r) or _price(ctx, part) == 0 or _shared_mailbox(r, ctx) is not None:
        return None
    days = _inactive_days(r, ctx)
    if days is not None and days >= 90 and r.attributes.get("user_type") != "Guest":
        return None  # m365-license-user-inactive's (its default threshold)
    covered = dict(redundant(r.attributes.get("user_sku_parts") or []))
    if part not in covered:
        return None
    cost, evidence = _priced(ctx, part)
    return Detection(
        scenario="m365-license-overlap",
        confidence="MEDIUM",
        monthly_cost=cost,
        evidence={"sku": part, "included_in": covered[part], "sku_family": family(part), **evidence},
    )


# --- m365-sku-unassigned-seats -------------------------------------------------------------------


@rule(
    key="m365-sku-unassigned-seats",
    provider="m365",
    resource_kind=SUBSCRIBED_SKU,
    title="Licences bought but not assigned to anyone",
    permissions=_SKUS,
    params={"min_unassigned": Param(int, 1, "At least this many seats are bought and not assigned.", 1)},
    confidence_doc=(
        "MEDIUM: seats kept for hires or a pending rollout are a choice; HIGH when more than half "
        "the seats are unassigned."
    ),
)
def sku_unassigned_seats(r: Resource, p, ctx: Context) -> Detection | None:
    """A paid subscription with more seats enabled (`prepaidUnits.enabled`) than assigned
    (`consumedUnits`): each unassigned seat is billed. Only subscriptions in state Enabled: one in
    Warning (expiring, in its grace period) or Suspended is on its way out; free SKUs cost nothing."""
    part = r.attributes.get("sku_part") or ""
    if r.attributes.get("capability_status") != "Enabled" or _price(ctx, part) == 0:
        return None
    enabled, consumed = r.attributes.get("enabled_units", 0), r.attributes.get("consumed_units", 0)
    unassigned = enabled - consumed
    if unassigned < p["min_unassigned"]:
        return None
    cost, evidence = _priced(ctx, part, unassigned)
    return Detection(
        scenario="m365-sku-unassigned-seats",
        confidence="HIGH" if unassigned * 2 > enabled else "MEDIUM",
        monthly_cost=cost,
        evidence={"sku": part, "seats_enabled": enabled, "seats_assigned": consumed,
                  "seats_unassigned": unassigned, **evidence},
    )


# --- m365-subscription-expiring ----------------------------------------------------------------


@rule(
    key="m365-subscription-expiring",
    provider="m365",
    resource_kind=SUBSCRIBED_SKU,
    title="Subscription expiring or suspended while users still hold its licences (a warning)",
    permissions=_SKUS,
    confidence_doc="HIGH: Graph reports the state; the users lose the service when it ends.",
)
def subscription_expiring(r: Resource, p, ctx: Context) -> Detection | None:
    """A subscription whose `capabilityStatus` is Warning (expired, in its grace period: a trial
    not converted, a renewal not made), Suspended or LockedOut, with licences still assigned:
    not waste but a warning, priced at 0. Either renew it, or move its users to another
    licence and stop paying for a subscription nobody should rely on. A subscription in that
    state that nobody uses is left to expire quietly."""
    status = r.attributes.get("capability_status")
    consumed = r.attributes.get("consumed_units", 0)
    if status not in ("Warning", "Suspended", "LockedOut") or consumed <= 0:
        return None
    part = r.attributes.get("sku_part") or ""
    return Detection(
        scenario="m365-subscription-expiring",
        confidence="HIGH",
        monthly_cost=Decimal(0),
        evidence={
            "sku": part,
            "capability_status": status,
            "users_assigned": consumed,
            "cost": "a warning, not waste: the assigned users lose the service when it ends",
        },
    )


# --- fixtures -------------------------------------------------------------------------------------

_E3, _EXO = "6fd2c87f-b296-42f0-b197-1e91e994b900", "4b9405b0-7788-4568-add1-99614e613b69"

attach_fixtures(
    "m365-license-shared-mailbox",
    Fixtures(
        fires=_licence(
            f"u-shared:{_EXO}", "EXCHANGESTANDARD", account_enabled=False,
            user_principal_name="sales@contoso.example",
        ),
        # a shared mailbox above 50 GB needs its licence
        silent=_licence(
            f"u-shared-big:{_EXO}", "EXCHANGESTANDARD", account_enabled=False,
            user_principal_name="archive@contoso.example",
        ),
        related=(
            Resource("m365", MAILBOX, "mailbox:sales@contoso.example", "global", name="sales@contoso.example",
                     attributes={"recipient_type": "Shared", "storage_bytes": 3 * GB, "has_archive": False}),
            Resource("m365", MAILBOX, "mailbox:archive@contoso.example", "global",
                     name="archive@contoso.example",
                     attributes={"recipient_type": "Shared", "storage_bytes": 70 * GB, "has_archive": False}),
        ),
        now=NOW,
    ),
)
attach_fixtures(
    "m365-license-disabled-user",
    Fixtures(
        fires=_licence(f"u-disabled:{_E3}", "ENTERPRISEPACK", account_enabled=False),
        silent=_licence(f"u-active:{_E3}", "ENTERPRISEPACK", last_any_sign_in=_days(1)),
        now=NOW,
    ),
)
attach_fixtures(
    "m365-license-user-inactive",
    Fixtures(
        fires=_licence(f"u-gone:{_E3}", "ENTERPRISEPACK", last_any_sign_in=_days(200), last_sign_in=_days(200)),
        # signed in interactively long ago, but its mail client signed in yesterday: active
        silent=_licence(
            f"u-background:{_E3}", "ENTERPRISEPACK", last_sign_in=_days(200), last_any_sign_in=_days(1),
            last_non_interactive_sign_in=_days(1),
        ),
        now=NOW,
    ),
)
attach_fixtures(
    "m365-license-overlap",
    Fixtures(
        fires=_licence(
            f"u-both:{_EXO}", "EXCHANGESTANDARD", last_any_sign_in=_days(2),
            user_sku_parts=["SPE_E3", "EXCHANGESTANDARD"],
        ),
        silent=_licence(
            f"u-one:{_EXO}", "EXCHANGESTANDARD", last_any_sign_in=_days(2), user_sku_parts=["EXCHANGESTANDARD"],
        ),
        now=NOW,
    ),
)
attach_fixtures(
    "m365-sku-unassigned-seats",
    Fixtures(
        fires=Resource(
            "m365", SUBSCRIBED_SKU, f"sku:{_E3}", "global", name="ENTERPRISEPACK",
            attributes={"sku_part": "ENTERPRISEPACK", "capability_status": "Enabled", "enabled_units": 50,
                        "consumed_units": 35},
        ),
        silent=Resource(
            "m365", SUBSCRIBED_SKU, f"sku:{_EXO}", "global", name="EXCHANGESTANDARD",
            attributes={"sku_part": "EXCHANGESTANDARD", "capability_status": "Enabled", "enabled_units": 20,
                        "consumed_units": 20},
        ),
        now=NOW,
    ),
)
attach_fixtures(
    "m365-subscription-expiring",
    Fixtures(
        fires=Resource(
            "m365", SUBSCRIBED_SKU, "sku:c5928f49-12ba-48f7-ada3-0d743a3601d5", "global", name="VISIOCLIENT",
            attributes={"sku_part": "VISIOCLIENT", "capability_status": "Warning", "enabled_units": 10,
                        "consumed_units": 4},
        ),
        # a trial nobody took up: let it expire
        silent=Resource(
            "m365", SUBSCRIBED_SKU, "sku:trial", "global", name="POWER_BI_PRO",
            attributes={"sku_part": "POWER_BI_PRO", "capability_status": "Warning", "enabled_units": 25,
                        "consumed_units": 0},
        ),
        now=NOW,
    ),
)
