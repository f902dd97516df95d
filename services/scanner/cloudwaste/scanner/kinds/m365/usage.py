"""Microsoft 365 usage-report kinds: mailboxes, OneDrive accounts and SharePoint sites, each read
from its usage report (Reports.Read.All), a CSV that Graph serves through a redirect.

Reports name people by user principal name unless the tenant conceals them (the admin center's
"display concealed user, group, and site names in all reports" setting, on by default since
2021): then every name, owner and site URL is an opaque hash, a mailbox or a OneDrive account can
no longer be matched to its user, and each resource says so (`names_concealed`). Resource ids
are the report's own key: the user principal name (or its hash) for a mailbox, the site id for
a OneDrive account or a SharePoint site.

Each kind reads the licences of the directory (a dependency, no extra call) to know who owns
what: whether a mailbox's user holds a licence and signs in, whether a OneDrive's owner is
still licensed.
"""

from __future__ import annotations

import datetime as dt

from cloudwaste.scanner.domain import Resource
from cloudwaste.scanner.kinds import kind
from cloudwaste.scanner.providers.m365 import GLOBAL

PROVIDER = "m365"
USER_LICENSE = "m365.graph.user_license"
MAILBOX = "m365.reports.mailbox"
ONEDRIVE = "m365.reports.onedrive"
SHAREPOINT_SITE = "m365.reports.sharepoint_site"
GB = 1024**3


def _date(value: str | None) -> dt.datetime | None:
    """A report date (YYYY-MM-DD, empty when there was never any activity) as UTC midnight."""
    try:
        return dt.datetime.strptime((value or "").strip(), "%Y-%m-%d").replace(tzinfo=dt.UTC)
    except ValueError:
        return None


def _int(value: str | None) -> int:
    try:
        return int(float(value or 0))
    except ValueError:
        return 0


def _true(value: str | None) -> bool:
    return (value or "").strip().lower() == "true"


def concealed(name: str) -> bool:
    """A concealed report name is a hash: no '@' in a principal name, no scheme in a URL."""
    return bool(name) and "@" not in name and "://" not in name


def _owners(licences: list[Resource]) -> dict[str, dict]:
    """user principal name (lower case) -> what the directory says of the user."""
    out: dict[str, dict] = {}
    for r in licences:
        a = r.attributes
        owner = out.setdefault(
            a.get("user_principal_name", "").lower(),
            {
                "enabled": a.get("account_enabled", True),
                "last_any_sign_in": a.get("last_any_sign_in"),
                "sign_in_activity_read": a.get("sign_in_activity_read", False),
                "sku_parts": [],
            },
        )
        if a.get("sku_part"):
            owner["sku_parts"].append(a["sku_part"])
    return out


@kind(
    key=MAILBOX,
    provider=PROVIDER,
    title="Mailbox (Exchange Online)",
    operations=("Reports.Read.All",),
    id_field="mailbox:User Principal Name",
    name_field="User Principal Name",
    created_field="Created Date",
    ml_config={"recipient_type": str, "has_archive": bool, "storage_gb": float, "owner_licensed": bool},
    requires=(USER_LICENSE,),
)
def list_mailboxes(conn, tenant: str, now: dt.datetime, deps) -> list[Resource]:
    """Every mailbox not deleted, from the mailbox usage report (getMailboxUsageDetail, D30): its
    type (`Recipient Type`: User or Shared; absent from some tenants' reports, then unknown), last
    activity (sending, reading...), creation date, storage and archive; and, when names are not
    concealed, its user's licences and last sign-in from the directory."""
    owners = _owners(deps[USER_LICENSE])
    out = []
    for row in conn.report("getMailboxUsageDetail"):
        upn = (row.get("User Principal Name") or "").strip()
        if not upn or _true(row.get("Is Deleted")):
            continue
        hidden = concealed(upn)
        owner = None if hidden else owners.get(upn.lower())
        storage = _int(row.get("Storage Used (Byte)"))
        recipient = (row.get("Recipient Type") or "").strip()
        out.append(
            Resource(
                provider=PROVIDER,
                kind=MAILBOX,
                resource_id=f"mailbox:{upn.lower()}",
                region=GLOBAL,
                name=upn,
                created_at=_date(row.get("Created Date")),
                attributes={
                    "user_principal_name": upn,
                    "recipient_type": recipient,
                    "last_activity": _date(row.get("Last Activity Date")),
                    "storage_bytes": storage,
                    "item_count": _int(row.get("Item Count")),
                    "has_archive": _true(row.get("Has Archive")),
                    "names_concealed": hidden,
                    "owner_found": owner is not None,
                    "owner_enabled": bool(owner and owner["enabled"]),
                    "owner_last_any_sign_in": owner and owner["last_any_sign_in"],
                    "owner_sign_in_activity_read": bool(owner and owner["sign_in_activity_read"]),
                    "owner_sku_parts": list(owner["sku_parts"]) if owner else [],
                },
                config={
                    "recipient_type": recipient or "unknown",
                    "has_archive": _true(row.get("Has Archive")),
                    "storage_gb": round(storage / GB, 3),
                    "owner_licensed": owner is not None,
                },
            )
        )
    return out


def _site_rows(conn, report: str) -> list[dict[str, str]]:
    return [r for r in conn.report(report) if not _true(r.get("Is Deleted"))]


def _site_attributes(row: dict[str, str]) -> dict:
    url = (row.get("Site URL") or "").strip()
    owner = (row.get("Owner Principal Name") or "").strip()
    return {
        "site_id": (row.get("Site Id") or "").strip(),
        "site_url": url,
        "owner_principal_name": owner,
        "last_activity": _date(row.get("Last Activity Date")),
        "storage_bytes": _int(row.get("Storage Used (Byte)")),
        "file_count": _int(row.get("File Count")),
        "active_file_count": _int(row.get("Active File Count")),
        "names_concealed": concealed(owner) or concealed(url),
    }


@kind(
    key=ONEDRIVE,
    provider=PROVIDER,
    title="OneDrive account",
    operations=("Reports.Read.All",),
    id_field="onedrive:Site Id",
    name_field="Owner Principal Name",
    created_field=None,
    ml_config={"storage_gb": float, "file_count": int, "owner_licensed": bool},
    requires=(USER_LICENSE,),
)
def list_onedrive_accounts(conn, tenant: str, now: dt.datetime, deps) -> list[Resource]:
    """Every OneDrive account not deleted, from the OneDrive usage report
    (getOneDriveUsageAccountDetail, D30): its owner, last activity (a file viewed, edited,
    synced or shared), files and storage; and whether its owner still holds a licence (an
    unlicensed OneDrive kept past 93 days is billed for its storage)."""
    licensed = {r.attributes.get("user_principal_name", "").lower() for r in deps[USER_LICENSE]}
    out = []
    for row in _site_rows(conn, "getOneDriveUsageAccountDetail"):
        a = _site_attributes(row)
        key = a["site_id"] or a["site_url"]
        if not key:
            continue
        owner_licensed = None if a["names_concealed"] else a["owner_principal_name"].lower() in licensed
        out.append(
            Resource(
                provider=PROVIDER,
                kind=ONEDRIVE,
                resource_id=f"onedrive:{key}",
                region=GLOBAL,
                name=a["owner_principal_name"] or key,
                attributes={**a, "owner_licensed": owner_licensed},
                config={
                    "storage_gb": round(a["storage_bytes"] / GB, 3),
                    "file_count": a["file_count"],
                    "owner_licensed": bool(owner_licensed),
                },
            )
        )
    return out


@kind(
    key=SHAREPOINT_SITE,
    provider=PROVIDER,
    title="SharePoint site",
    operations=("Reports.Read.All",),
    id_field="site:Site Id",
    name_field="Site URL",
    created_field=None,
    ml_config={"storage_gb": float, "file_count": int, "template": str},
)
def list_sharepoint_sites(conn, tenant: str, now: dt.datetime, deps) -> list[Resource]:
    """Every SharePoint site not deleted, from the site usage report
    (getSharePointSiteUsageDetail, D30): its URL, owner, template (`Root Web Template`: Team
    Site, Communication Site...), last activity (a file viewed or edited, a page visited), files,
    page views and storage, which counts against the tenant's pooled storage."""
    out = []
    for row in _site_rows(conn, "getSharePointSiteUsageDetail"):
        a = _site_attributes(row)
        key = a["site_id"] or a["site_url"]
        if not key:
            continue
        template = (row.get("Root Web Template") or "").strip()
        out.append(
            Resource(
                provider=PROVIDER,
                kind=SHAREPOINT_SITE,
                resource_id=f"site:{key}",
                region=GLOBAL,
                name=a["site_url"] or key,
                attributes={**a, "template": template, "page_views": _int(row.get("Page View Count"))},
                config={
                    "storage_gb": round(a["storage_bytes"] / GB, 3),
                    "file_count": a["file_count"],
                    "template": template or "unknown",
                },
            )
        )
    return out
