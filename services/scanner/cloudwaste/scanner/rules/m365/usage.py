"""Microsoft 365 usage rules, from the usage reports: mailboxes nobody uses, and OneDrive accounts
and SharePoint sites left idle while holding storage.

A report row can be matched to its user only when the tenant does not conceal names in reports;
when it does, the finding says so (`names_concealed`) and is priced 0 with the reason, since who
owns it, and so what it costs, is unknown. Inactivity is counted from the report's last activity
date (a mailbox that never had any: from its creation)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from cloudwaste.scanner.domain import Detection, Resource
from cloudwaste.scanner.m365_skus import redundant
from cloudwaste.scanner.rules import Context, Fixtures, Param, age_days, attach_fixtures, rule

MAILBOX = "m365.reports.mailbox"
ONEDRIVE = "m365.reports.onedrive"
SHAREPOINT_SITE = "m365.reports.sharepoint_site"
_REPORTS = ("AuditLog.Read.All", "Organization.Read.All", "Reports.Read.All", "User.Read.All")
GB = 1024**3
# standalone Exchange Online licences: what a mailbox alone costs
EXCHANGE_STANDALONE = ("EXCHANGESTANDARD", "EXCHANGEENTERPRISE", "EXCHANGEDESKLESS")
USER_INACTIVE_DAYS = 90  # m365-license-user-inactive's default: its licences are judged there
NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)  # the fixtures' "now"
CONCEALED = (
    "names are concealed in this tenant's reports: the owner, and so the cost, is unknown "
    "(Microsoft 365 admin center > Settings > Org settings > Reports)"
)


def _iso(value: dt.datetime | None) -> str | None:
    return value.date().isoformat() if value else None


def _idle_days(r: Resource, ctx: Context, since_creation: bool) -> float | None:
    last = r.attributes.get("last_activity") or (r.created_at if since_creation else None)
    return age_days(last, ctx.now)


def _gb(r: Resource) -> float:
    return r.attributes.get("storage_bytes", 0) / GB


# --- m365-mailbox-inactive -----------------------------------------------------------------------


@rule(
    key="m365-mailbox-inactive",
    provider="m365",
    resource_kind=MAILBOX,
    title="Mailbox with no activity for a long time, of a user who still signs in",
    permissions=_REPORTS,
    params={
        "min_inactive_days": Param(
            float, 90.0, "No mailbox activity for at least this long (or none since its creation).", 1
        ),
    },
    confidence_doc=(
        "MEDIUM: the user signs in but does not use mail (Teams or SharePoint only); the mailbox "
        "may still be kept for its calendar. LOW when names are concealed."
    ),
)
def mailbox_inactive(r: Resource, p, ctx: Context) -> Detection | None:
    """A user mailbox (not shared) with no activity in the mailbox usage report for
    `min_inactive_days` (default 90, the report's own "inactive" notion over its longest period),
    whose user is enabled and still signs in: the Exchange part of the licence is unused. A user
    who no longer signs in is `m365-license-user-inactive`'s, a disabled one
    `m365-license-disabled-user`'s; a mailbox whose user holds no licence costs nothing.

    Priced at the user's standalone Exchange Online licence (Plan 1, Plan 2, Kiosk) when one is
    held and no suite already includes it (that one is `m365-license-overlap`'s); a mailbox that
    comes with a suite is priced 0, since it is not sold apart, and the evidence names the
    licences to revisit."""
    if r.attributes.get("recipient_type") == "Shared":
        return None
    days = _idle_days(r, ctx, since_creation=True)
    if days is None or days < p["min_inactive_days"]:
        return None
    base = {
        "days_since_last_activity": round(days, 1),
        "last_activity": _iso(r.attributes.get("last_activity")),
        "storage_gb": round(_gb(r), 2),
    }
    if r.attributes.get("names_concealed"):
        return Detection(
            scenario="m365-mailbox-inactive", confidence="LOW", monthly_cost=Decimal(0),
            evidence={**base, "names_concealed": True, "cost_unknown": CONCEALED},
        )
    if not r.attributes.get("owner_found") or not r.attributes.get("owner_enabled"):
        return None
    owner_idle = age_days(r.attributes.get("owner_last_any_sign_in") or r.created_at, ctx.now)
    if r.attributes.get("owner_sign_in_activity_read") and owner_idle is not None and owner_idle >= USER_INACTIVE_DAYS:
        return None
    parts = r.attributes.get("owner_sku_parts") or []
    covered = dict(redundant(parts))
    standalone = [x for x in parts if x in EXCHANGE_STANDALONE and x not in covered]
    cost, priced = Decimal(0), {}
    for part in standalone:
        unit = ctx.prices.monthly("global", "licenses", "license_month", part)
        if unit:
            cost += unit
            priced[part] = float(unit)
    evidence = {**base, "names_concealed": False, "user_licences": parts}
    if priced:
        evidence |= {"priced_licences": priced, **ctx.prices.evidence("global", "licenses")}
    else:
        evidence["cost"] = "the mailbox comes with the user's suite, not sold apart: priced 0"
    return Detection(scenario="m365-mailbox-inactive", confidence="MEDIUM", monthly_cost=cost, evidence=evidence)


# --- m365-onedrive-inactive ----------------------------------------------------------------------


@rule(
    key="m365-onedrive-inactive",
    provider="m365",
    resource_kind=ONEDRIVE,
    title="OneDrive account idle for a long time and holding data",
    permissions=_REPORTS,
    params={
        "min_inactive_days": Param(float, 180.0, "No file activity for at least this long.", 1),
        "min_storage_gb": Param(float, 1.0, "Holding at least this much.", 0),
    },
    confidence_doc=(
        "HIGH when its owner holds no licence any more (Microsoft bills the storage, or it should be "
        "archived or deleted); LOW when the owner is licensed (the storage comes with the licence)."
    ),
)
def onedrive_inactive(r: Resource, p, ctx: Context) -> Detection | None:
    """A OneDrive account with no file activity (viewed, edited, synced, shared) for
    `min_inactive_days` (default 180, twice the licence rules' 90: files are read less often than
    mail) holding at least `min_storage_gb`. A OneDrive whose owner holds no licence any more (a
    leaver whose licence was removed, or whose account was deleted) is billed at the unlicensed
    OneDrive storage price once kept past 93 days: priced at it. A licensed owner's OneDrive is
    included in the licence: priced 0, a hygiene finding. Never active: not judged (the report
    gives no creation date)."""
    days = _idle_days(r, ctx, since_creation=False)
    gb = _gb(r)
    if days is None or days < p["min_inactive_days"] or gb < p["min_storage_gb"]:
        return None
    evidence = {
        "days_since_last_activity": round(days, 1),
        "last_activity": _iso(r.attributes.get("last_activity")),
        "storage_gb": round(gb, 2),
        "file_count": r.attributes.get("file_count", 0),
        "names_concealed": bool(r.attributes.get("names_concealed")),
    }
    if r.attributes.get("names_concealed"):
        return Detection(
            scenario="m365-onedrive-inactive", confidence="LOW", monthly_cost=Decimal(0),
            evidence={**evidence, "cost_unknown": CONCEALED},
        )
    if r.attributes.get("owner_licensed"):
        return Detection(
            scenario="m365-onedrive-inactive", confidence="LOW", monthly_cost=Decimal(0),
            evidence={**evidence, "owner_licensed": True, "cost": "included in the owner's licence: priced 0"},
        )
    cost = ctx.prices.monthly("global", "storage", "gb_month", "onedrive_unlicensed", quantity=round(gb, 3))
    return Detection(
        scenario="m365-onedrive-inactive",
        confidence="HIGH",
        monthly_cost=cost or Decimal(0),
        evidence={**evidence, "owner_licensed": False, **ctx.prices.evidence("global", "storage")},
    )


# --- m365-sharepoint-site-inactive ---------------------------------------------------------------


@rule(
    key="m365-sharepoint-site-inactive",
    provider="m365",
    resource_kind=SHAREPOINT_SITE,
    title="SharePoint site idle for a long time and holding data",
    permissions=("Reports.Read.All",),
    params={
        "min_inactive_days": Param(float, 180.0, "No file or page activity for at least this long.", 1),
        "min_storage_gb": Param(float, 1.0, "Holding at least this much.", 0),
    },
    confidence_doc=(
        "MEDIUM after a year without activity, LOW before: a site kept as a record (a closed "
        "project) is often meant to stay; archiving it frees the storage without losing it."
    ),
)
def sharepoint_site_inactive(r: Resource, p, ctx: Context) -> Detection | None:
    """A SharePoint site with no activity (a file viewed or edited, a page visited) for
    `min_inactive_days` (default 180) holding at least `min_storage_gb`. Its storage counts
    against the tenant's pool (1 TB plus 10 GB per licence); priced at what storage beyond the pool
    costs (Office 365 Extra File Storage per GB and month), which a tenant saves by archiving or
    deleting the site once it is over its pool or would have to buy more. Never active: not
    judged (the report gives no creation date)."""
    days = _idle_days(r, ctx, since_creation=False)
    gb = _gb(r)
    if days is None or days < p["min_inactive_days"] or gb < p["min_storage_gb"]:
        return None
    cost = ctx.prices.monthly("global", "storage", "gb_month", "sharepoint_extra", quantity=round(gb, 3))
    return Detection(
        scenario="m365-sharepoint-site-inactive",
        confidence="MEDIUM" if days >= 365 else "LOW",
        monthly_cost=cost or Decimal(0),
        evidence={
            "days_since_last_activity": round(days, 1),
            "last_activity": _iso(r.attributes.get("last_activity")),
            "storage_gb": round(gb, 2),
            "file_count": r.attributes.get("file_count", 0),
            "template": r.attributes.get("template", ""),
            "names_concealed": bool(r.attributes.get("names_concealed")),
            **ctx.prices.evidence("global", "storage"),
        },
    )


# --- fixtures -------------------------------------------------------------------------------------


def _days(days: float | None) -> dt.datetime | None:
    return None if days is None else NOW - dt.timedelta(days=days)


def _mailbox(upn: str, idle: float, owner_idle: float = 1, parts=("EXCHANGESTANDARD",), **attributes) -> Resource:
    attrs = {
        "user_principal_name": upn, "recipient_type": "User", "last_activity": _days(idle),
        "storage_bytes": 2 * GB, "has_archive": False, "names_concealed": False, "owner_found": True,
        "owner_enabled": True, "owner_last_any_sign_in": _days(owner_idle), "owner_sign_in_activity_read": True,
        "owner_sku_parts": list(parts), **attributes,
    }
    return Resource("m365", MAILBOX, f"mailbox:{upn}", "global", name=upn, created_at=_days(900), attributes=attrs)


def _site(kind: str, key: str, idle: float, gb: float, **attributes) -> Resource:
    attrs = {"site_id": key, "last_activity": _days(idle), "storage_bytes": int(gb * GB), "file_count": 120,
             "names_concealed": False, **attributes}
    prefix = "onedrive" if kind == ONEDRIVE else "site"
    return Resource("m365", kind, f"{prefix}:{key}", "global", name=key, attributes=attrs)


attach_fixtures(
    "m365-mailbox-inactive",
    Fixtures(
        fires=_mailbox("teams.only@contoso.example", idle=200),
        # its user signs in and reads mail
        silent=_mailbox("reader@contoso.example", idle=3),
        now=NOW,
    ),
)
attach_fixtures(
    "m365-onedrive-inactive",
    Fixtures(
        fires=_site(ONEDRIVE, "0f3c1a6e-leaver", idle=400, gb=120, owner_licensed=False),
        # idle as long, but nearly empty
        silent=_site(ONEDRIVE, "5b7d2c9a-empty", idle=400, gb=0.2, owner_licensed=False),
        now=NOW,
    ),
)
attach_fixtures(
    "m365-sharepoint-site-inactive",
    Fixtures(
        fires=_site(SHAREPOINT_SITE, "9a8b7c6d-project-x", idle=500, gb=300, template="Team Site"),
        # large, but visited last month
        silent=_site(SHAREPOINT_SITE, "1a2b3c4d-intranet", idle=30, gb=300, template="Communication Site"),
        now=NOW,
    ),
)
