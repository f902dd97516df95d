"""Microsoft 365 directory kinds: the tenant's subscribed SKUs, each licence a user holds, and
the tenant's guests.

A licence is the "resource": one per (user, SKU) assignment, so a user with three licences can
waste one of them. The finding names the user (the customer's own view); an ML row carries only
the kind's typed configuration (the SKU family, the user type, how many licences the user holds)
and the keyed hash of the resource id, never a name, a user principal name or an e-mail.
"""

from __future__ import annotations

import datetime as dt

from cloudwaste.scanner.domain import Resource
from cloudwaste.scanner.kinds import kind
from cloudwaste.scanner.m365_skus import family
from cloudwaste.scanner.providers.m365 import GLOBAL, aware

PROVIDER = "m365"
SUBSCRIBED_SKU = "m365.graph.subscribed_sku"
USER_LICENSE = "m365.graph.user_license"
GUEST_USER = "m365.graph.guest_user"


@kind(
    key=SUBSCRIBED_SKU,
    provider=PROVIDER,
    title="Subscribed SKU (licences bought)",
    operations=("Organization.Read.All",),
    id_field="skuId",
    name_field="skuPartNumber",
    created_field=None,
    ml_config={"sku_family": str, "enabled_units": int, "consumed_units": int, "capability_status": str},
)
def list_subscribed_skus(conn, tenant: str, now: dt.datetime, deps) -> list[Resource]:
    """The tenant's subscribed SKUs (GET /v1.0/subscribedSkus): seats bought (`prepaidUnits`:
    enabled, in warning, suspended) and assigned (`consumedUnits`), and the subscription's state
    (`capabilityStatus`: Enabled, Warning = expiring or in its grace period, Suspended...)."""
    out = []
    for s in conn.graph.get("v1.0/subscribedSkus").get("value", []):
        prepaid = s.get("prepaidUnits") or {}
        part = s.get("skuPartNumber") or ""
        enabled, consumed = int(prepaid.get("enabled") or 0), int(s.get("consumedUnits") or 0)
        status = s.get("capabilityStatus") or ""
        out.append(
            Resource(
                provider=PROVIDER,
                kind=SUBSCRIBED_SKU,
                resource_id=f"sku:{s['skuId']}",
                region=GLOBAL,
                name=part,
                attributes={
                    "sku_id": s["skuId"],
                    "sku_part": part,
                    "enabled_units": enabled,
                    "warning_units": int(prepaid.get("warning") or 0),
                    "suspended_units": int(prepaid.get("suspended") or 0),
                    "consumed_units": consumed,
                    "capability_status": status,
                    "applies_to": s.get("appliesTo") or "",
                },
                config={
                    "sku_family": family(part),
                    "enabled_units": enabled,
                    "consumed_units": consumed,
                    "capability_status": status,
                },
            )
        )
    return out


@kind(
    key=USER_LICENSE,
    provider=PROVIDER,
    title="Licence assigned to a user",
    operations=("AuditLog.Read.All",),
    extra_permissions=("User.Read.All",),
    id_field="id:skuId",
    name_field="userPrincipalName",
    created_field="createdDateTime",
    ml_config={"sku_family": str, "user_type": str, "licenses_held": int, "account_enabled": bool},
    requires=(SUBSCRIBED_SKU,),
)
def list_user_licenses(conn, tenant: str, now: dt.datetime, deps) -> list[Resource]:
    """Every licence every user holds, from the tenant's user listing (GET /v1.0/users with
    `$select` of what the rules read, 999 a page, read once per scan for every kind that needs
    users): the user's state, type (Member or Guest), creation time and last interactive and
    non-interactive sign-ins (`signInActivity`, which needs AuditLog.Read.All and a Microsoft Entra
    ID P1 tenant), and the SKU's part number from the tenant's subscribed SKUs."""
    parts = {r.attributes["sku_id"]: r.attributes["sku_part"] for r in deps[SUBSCRIBED_SKU]}
    out = []
    for u in conn.users():
        licences = u.get("assignedLicenses") or []
        if not licences:
            continue
        interactive, background = sign_ins(u)
        held = [parts.get(a["skuId"], a["skuId"]) for a in licences]
        user_type = u.get("userType") or "Member"
        for a in licences:
            part = parts.get(a["skuId"], "")
            out.append(
                Resource(
                    provider=PROVIDER,
                    kind=USER_LICENSE,
                    resource_id=f"{u['id']}:{a['skuId']}",
                    region=GLOBAL,
                    name=f"{u.get('userPrincipalName') or u['id']} ({part or a['skuId']})",
                    created_at=aware(u.get("createdDateTime")),
                    attributes={
                        "user_id": u["id"],
                        "user_principal_name": u.get("userPrincipalName") or "",
                        "display_name": u.get("displayName") or "",
                        "account_enabled": bool(u.get("accountEnabled", True)),
                        "user_type": user_type,
                        "last_sign_in": interactive,
                        "last_non_interactive_sign_in": background,
                        "last_any_sign_in": max((t for t in (interactive, background) if t), default=None),
                        "sign_in_activity_read": "signInActivity" in u,
                        "sku_id": a["skuId"],
                        "sku_part": part,
                        "user_sku_parts": held,
                        "disabled_plans": list(a.get("disabledPlans") or []),
                    },
                    config={
                        "sku_family": family(part),
                        "user_type": user_type,
                        "licenses_held": len(licences),
                        "account_enabled": bool(u.get("accountEnabled", True)),
                    },
                )
            )
    return out


def sign_ins(user: dict) -> tuple[dt.datetime | None, dt.datetime | None]:
    """A user's last interactive and non-interactive sign-ins (None: never, or not read)."""
    activity = user.get("signInActivity") or {}
    return aware(activity.get("lastSignInDateTime")), aware(activity.get("lastNonInteractiveSignInDateTime"))


@kind(
    key=GUEST_USER,
    provider=PROVIDER,
    title="Guest user (B2B collaboration)",
    operations=("AuditLog.Read.All",),
    extra_permissions=("User.Read.All",),
    id_field="guest:id",
    name_field="mail",
    created_field="createdDateTime",
    ml_config={"account_enabled": bool, "invitation_state": str, "licenses_held": int},
)
def list_guest_users(conn, tenant: str, now: dt.datetime, deps) -> list[Resource]:
    """Every guest of the tenant (`userType` Guest), from the same user listing as the licences:
    whether the invitation was accepted (`externalUserState`: Accepted, PendingAcceptance), the
    account state, creation time (when invited) and last sign-ins into this tenant."""
    out = []
    for u in conn.users():
        if (u.get("userType") or "Member") != "Guest":
            continue
        interactive, background = sign_ins(u)
        state = u.get("externalUserState") or ""
        enabled = bool(u.get("accountEnabled", True))
        out.append(
            Resource(
                provider=PROVIDER,
                kind=GUEST_USER,
                resource_id=f"guest:{u['id']}",
                region=GLOBAL,
                name=u.get("mail") or u.get("userPrincipalName") or u["id"],
                created_at=aware(u.get("createdDateTime")),
                attributes={
                    "user_id": u["id"],
                    "mail": u.get("mail") or "",
                    "display_name": u.get("displayName") or "",
                    "account_enabled": enabled,
                    "invitation_state": state,
                    "last_sign_in": interactive,
                    "last_non_interactive_sign_in": background,
                    "last_any_sign_in": max((t for t in (interactive, background) if t), default=None),
                    "sign_in_activity_read": "signInActivity" in u,
                },
                config={
                    "account_enabled": enabled,
                    "invitation_state": state,
                    "licenses_held": len(u.get("assignedLicenses") or []),
                },
            )
        )
    return out
