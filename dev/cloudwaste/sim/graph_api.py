"""A local Microsoft Graph endpoint: the REST shapes of the reads the Microsoft 365 provider makes
(published in microsoftgraph/microsoft-graph-docs-contrib; see tests/fixtures/msgraph/README.md),
served from an in-memory tenant.

Like Graph: `GET /v1.0/users` honours `$select` and `$top` (at most 999) and pages by
`@odata.nextLink` (an absolute URL carrying the query and a `$skiptoken`); `GET
/v1.0/subscribedSkus`; a usage report `GET /v1.0/reports/<name>(period='D30')` answers 302 with a
pre-authenticated download URL of a CSV (UTF-8 with a byte-order mark), whose user names are
hashed when the tenant conceals them (the admin center's privacy setting); errors are
`{"error": {"code", "message", "innerError"}}`; tokens come from the client-credentials grant at
`/<tenant>/oauth2/v2.0/token`. Faults (429 with Retry-After...) are injected per path.
"""

from __future__ import annotations

import copy
import csv
import hashlib
import io
import re
import secrets
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from .httpapi import ApiError, Fault, LocalApi, Response, paged

__all__ = ["Fault", "GraphApi", "Tenant"]

_TOKEN_PATH = re.compile(r"^/([0-9a-f-]{36})/oauth2/v2\.0/token$")
_REPORT = re.compile(r"^/v1\.0/reports/(\w+)\(period='(D7|D30|D90|D180)'\)$")
_DOWNLOAD = re.compile(r"^/_download/([\w-]+)/(\w+)\.csv$")
MAX_TOP = 999
DEFAULT_TOP = 100


# The columns of the usage reports the scanner reads, as Graph's reference pages list them
# (reportroot-getmailboxusagedetail, -getonedriveusageaccountdetail, -getsharepointsiteusagedetail).
REPORT_COLUMNS = {
    "getMailboxUsageDetail": [
        "Report Refresh Date", "User Principal Name", "Display Name", "Is Deleted", "Deleted Date",
        "Created Date", "Last Activity Date", "Item Count", "Storage Used (Byte)", "Issue Warning Quota (Byte)",
        "Prohibit Send Quota (Byte)", "Prohibit Send/Receive Quota (Byte)", "Deleted Item Count",
        "Deleted Item Size (Byte)", "Deleted Item Quota (Byte)", "Has Archive", "Recipient Type", "Report Period",
    ],
    "getOneDriveUsageAccountDetail": [
        "Report Refresh Date", "Site Id", "Site URL", "Owner Display Name", "Is Deleted", "Last Activity Date",
        "File Count", "Active File Count", "Storage Used (Byte)", "Storage Allocated (Byte)",
        "Owner Principal Name", "Report Period",
    ],
    "getSharePointSiteUsageDetail": [
        "Report Refresh Date", "Site Id", "Site URL", "Owner Display Name", "Is Deleted", "Last Activity Date",
        "File Count", "Active File Count", "Page View Count", "Visited Page Count", "Storage Used (Byte)",
        "Storage Allocated (Byte)", "Root Web Template", "Owner Principal Name", "Report Period",
    ],
}
# a report's key column -> the resource-id prefix the scanner gives its rows
_REPORT_KEYS = {
    "mailbox:": ("getMailboxUsageDetail", "User Principal Name"),
    "onedrive:": ("getOneDriveUsageAccountDetail", "Site Id"),
    "site:": ("getSharePointSiteUsageDetail", "Site Id"),
}
_CONCEALED_COLUMNS = ("User Principal Name", "Display Name", "Owner Principal Name", "Owner Display Name", "Site URL")


@dataclass
class Tenant:
    directory_id: str
    users: list[dict] = field(default_factory=list)  # Graph user resources (with signInActivity)
    skus: list[dict] = field(default_factory=list)  # subscribedSku resources
    # report name -> (columns, rows as {column: value}); names as the report gives them
    reports: dict[str, tuple[list[str], list[dict[str, str]]]] = field(default_factory=dict)
    concealed: bool = False  # the "display concealed user names in reports" setting

    def report_rows(self, name: str) -> list[dict[str, str]]:
        """The rows of one of REPORT_COLUMNS' reports (created empty on first use)."""
        return self.reports.setdefault(name, (REPORT_COLUMNS[name], []))[1]


def _concealed(value: str) -> str:
    """How Graph conceals a name in a report: an opaque uppercase hex digest."""
    return hashlib.md5(value.encode(), usedforsecurity=False).hexdigest().upper() if value else ""


class GraphApi(LocalApi):
    name = "graph"

    def __init__(self, page_size: int = DEFAULT_TOP) -> None:
        super().__init__()
        self.page_size = page_size
        self.tenants: dict[str, Tenant] = {}
        self.principals: dict[tuple[str, str], str] = {}
        self.token_tenant: dict[str, str] = {}
        self.downloads: dict[str, tuple[str, str, str]] = {}  # id -> (tenant, report, period)

    # -- the estate ----------------------------------------------------------------------------

    def add_principal(self, directory_id: str, client_id: str, secret: str) -> None:
        self.principals[(directory_id.lower(), client_id.lower())] = secret

    def tenant(self, directory_id: str) -> Tenant:
        with self.lock:
            return self.tenants.setdefault(directory_id.lower(), Tenant(directory_id.lower()))

    def delete_resource(self, resource_id: str) -> bool:
        """A simulated admin acting between scans: "<user id>:<sku id>" removes that licence from
        the user and drops its seat from the subscription; "sku:<sku id>" lowers an active SKU's purchased seats to those assigned, and
        takes an expiring one's licences off its users (they move to another licence);
        "guest:<user id>" removes the guest; "mailbox:<upn>", "onedrive:<site id>" and
        "site:<site id>" delete the mailbox or site (its report row says "Is Deleted")."""
        with self.lock:
            for t in self.tenants.values():
                if resource_id.startswith("guest:"):
                    before = len(t.users)
                    t.users = [u for u in t.users if u["id"] != resource_id[6:]]
                    if len(t.users) < before:
                        return True
                    continue
                prefix = next((p for p in _REPORT_KEYS if resource_id.startswith(p)), None)
                if prefix is not None:  # a mailbox, OneDrive or site deleted: the report says so
                    name, column = _REPORT_KEYS[prefix]
                    key = resource_id[len(prefix):].lower()
                    for row in t.reports.get(name, ((), []))[1]:
                        if row.get(column, "").lower() == key and row.get("Is Deleted") != "True":
                            row["Is Deleted"], row["Deleted Date"] = "True", row.get("Report Refresh Date", "")
                            return True
                    continue
                if resource_id.startswith("sku:"):
                    for sku in t.skus:
                        if sku["skuId"] != resource_id[4:]:
                            continue
                        if sku["capabilityStatus"] == "Enabled":
                            sku["prepaidUnits"]["enabled"] = sku["consumedUnits"]
                        else:
                            for u in t.users:
                                u["assignedLicenses"] = [
                                    a for a in u.get("assignedLicenses", []) if a["skuId"] != sku["skuId"]
                                ]
                            sku["consumedUnits"] = 0
                        return True
                    continue
                user_id, _, sku_id = resource_id.partition(":")
                for u in t.users:
                    if u["id"] == user_id:
                        before = len(u.get("assignedLicenses", []))
                        u["assignedLicenses"] = [a for a in u.get("assignedLicenses", []) if a["skuId"] != sku_id]
                        if len(u["assignedLicenses"]) == before:
                            return False
                        for sku in t.skus:  # and buys one seat fewer: that is where the saving is
                            if sku["skuId"] == sku_id:
                                sku["consumedUnits"] -= 1
                                sku["prepaidUnits"]["enabled"] -= 1
                        return True
        return False

    # -- HTTP ----------------------------------------------------------------------------------

    def error_body(self, status: int, code: str, message: str) -> dict:
        return {"error": {"code": code, "message": message, "innerError": {"request-id": secrets.token_hex(8)}}}

    def token(self, path: str, raw: bytes) -> Response | None:
        m = _TOKEN_PATH.match(path)
        if m is not None:
            form = {k: v[-1] for k, v in urllib.parse.parse_qs(raw.decode()).items()}
            key = (m.group(1).lower(), form.get("client_id", "").lower())
            if form.get("grant_type") != "client_credentials" or self.principals.get(key) != form.get("client_secret"):
                return Response(
                    401,
                    {"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided."},
                )
            token = self.issue_token()
            self.token_tenant[token] = m.group(1).lower()
            return Response(200, {"token_type": "Bearer", "expires_in": 3599, "access_token": token})
        d = _DOWNLOAD.match(path)
        if d is not None:  # the pre-authenticated report download: no bearer token
            found = self.downloads.get(d.group(1))
            if found is None or found[1] != d.group(2):
                return Response(404, raw=b"", content_type="text/plain")
            return self._csv(*found)
        return None

    def route(self, method: str, path: str, query: dict[str, str], body: Any) -> Response:
        tenant = self._caller_tenant()
        if path == "/v1.0/users":
            return self._users(tenant, path, query)
        if path == "/v1.0/subscribedSkus":
            return Response(
                200,
                {"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#subscribedSkus",
                 "value": copy.deepcopy(tenant.skus)},
            )
        m = _REPORT.match(path)
        if m is not None:
            if m.group(1) not in tenant.reports:
                raise ApiError(400, "BadRequest", f"Resource not found for the segment '{m.group(1)}'.")
            download = secrets.token_urlsafe(12)
            self.downloads[download] = (tenant.directory_id, m.group(1), m.group(2))
            return Response(302, None, {"Location": f"{self.url}/_download/{download}/{m.group(1)}.csv"})
        raise ApiError(404, "UnknownError", f"no route for {path}")

    def _caller_tenant(self) -> Tenant:
        """The tenant the request's token was issued for."""
        tenant_id = self.token_tenant.get(getattr(self.current, "token", ""), "")
        if tenant_id not in self.tenants:
            raise ApiError(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
        return self.tenants[tenant_id]

    def _users(self, tenant: Tenant, path: str, query: dict[str, str]) -> Response:
        top = int(query.get("$top") or self.page_size)
        if not 1 <= top <= MAX_TOP:
            raise ApiError(400, "Request_UnsupportedQuery", f"Invalid page size specified: '{top}'. Must be between 1 and 999 inclusive.")
        select = [f.strip() for f in query.get("$select", "").split(",") if f.strip()]
        start = int(query.get("$skiptoken") or 0)
        # server-driven paging: a page holds at most $top, and may hold fewer (OData lets a
        # server cap it; this endpoint caps at page_size to make paging testable)
        page, nxt = paged(tenant.users, start, min(top, self.page_size))
        items = [
            {k: copy.deepcopy(v) for k, v in u.items() if not select or k in select or k == "id"} for u in page
        ]
        body: dict[str, Any] = {"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users", "value": items}
        if nxt is not None:
            body["@odata.nextLink"] = self.page_url(path, query, **{"$skiptoken": str(nxt)})
        return Response(200, body)

    def _csv(self, tenant_id: str, name: str, period: str) -> Response:
        tenant = self.tenants[tenant_id]
        columns, rows = tenant.reports[name]
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore", lineterminator="\r\n")
        writer.writeheader()
        for row in rows:
            row = {**row, "Report Period": period.removeprefix("D")}
            if tenant.concealed:
                for col in _CONCEALED_COLUMNS:
                    if col in row:
                        row[col] = _concealed(row[col])
            writer.writerow(row)
        return Response(200, raw=("\ufeff" + out.getvalue()).encode("utf-8"), content_type="application/octet-stream")
