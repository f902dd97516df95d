"""The Microsoft 365 provider: a tenant read through Microsoft Graph with a thin httpx client.

Access is a Microsoft Entra application (directory id, client id, and the name of the file of the
scanner's credentials Secret holding its client secret or certificate), granted the application
permissions User.Read.All, AuditLog.Read.All (sign-in activity), Reports.Read.All (usage reports)
and Organization.Read.All (subscribed SKUs). The tenant is the account's only scope.

`GraphClient` is what the kinds use: `pages(path, params)` follows `@odata.nextLink`, `$select`
keeps each read to what the rules need, 429 / 503 / 504 are retried as long as Retry-After asks,
and `report(name, period)` reads a usage report, which Graph answers with a redirect to a
pre-authenticated CSV download (the bearer token is not sent to the download host). Every request
is recorded, as the application permission it needs, to `providers.record_call`.

msgraph-sdk would do the same in about 400 MB of dependencies; these four endpoints need none.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import threading
import time
import urllib.parse
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import httpx
from azure.core.exceptions import ClientAuthenticationError, ServiceRequestError
from cloudwaste.core.errors import CloudWasteError, FailedPrecondition
from cloudwaste.scanner.cloud_prices import CloudPrices
from cloudwaste.scanner.providers import PROVIDERS, Provider, record_call, unexpected_error
from cloudwaste.scanner.providers.azure import principal_credential, validate_guids, validate_principal

KEY = "m365"
GRAPH = "https://graph.microsoft.com"
GRAPH_SCOPE = "https://graph.microsoft.com/.default"
GLOBAL = "global"  # M365 list prices are per user and month, not per region
MAX_ATTEMPTS = 6
MAX_WAIT_S = 60.0
# Graph path (after the version) -> the application permission a request needs
_PERMISSION = (
    ("users", "User.Read.All"),
    ("subscribedSkus", "Organization.Read.All"),
    ("reports/", "Reports.Read.All"),
)


def graph_permission(method: str, url: str) -> str:
    """The application permission a Graph request needs: /users -> User.Read.All (with
    signInActivity selected: AuditLog.Read.All, which it needs besides), /subscribedSkus ->
    Organization.Read.All, /reports/... -> Reports.Read.All."""
    split = urllib.parse.urlsplit(url)
    path = urllib.parse.unquote(split.path).lstrip("/")
    path = path.split("/", 1)[1] if path.startswith(("v1.0/", "beta/")) else path
    if path.startswith("users") and "signinactivity" in urllib.parse.unquote(split.query).lower():
        return "AuditLog.Read.All"
    for prefix, permission in _PERMISSION:
        if path.startswith(prefix):
            return permission
    return f"unknown:{path.split('/', 1)[0]}"


class GraphError(Exception):
    """A Graph request failed: the status and Graph's error code and message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}"[:300])
        self.status, self.code = status, code


class GraphClient:
    """The few Graph reads the kinds make. Thread-safe (httpx.Client is)."""

    def __init__(self, credential: Any, base_url: str = GRAPH, sleep=time.sleep) -> None:
        self.credential = credential
        self.base_url = base_url.rstrip("/")
        self.sleep = sleep
        self.http = httpx.Client(timeout=httpx.Timeout(60.0, connect=10.0), follow_redirects=False)

    def close(self) -> None:
        self.http.close()

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.credential.get_token(GRAPH_SCOPE).token}"}

    def _send(self, url: str, params: Mapping[str, Any] | None = None) -> httpx.Response:
        """GET with retries on throttling (429) and unavailability (503, 504), waiting as
        Retry-After asks (capped), else exponentially."""
        full = httpx.URL(url, params=params) if params else httpx.URL(url)  # params=None drops the query
        record_call(KEY, graph_permission("GET", str(full)))
        for attempt in range(1, MAX_ATTEMPTS + 1):
            resp = self.http.get(url, params=params, headers=self._headers())
            if resp.status_code not in (429, 503, 504) or attempt == MAX_ATTEMPTS:
                return resp
            wait = _retry_after(resp.headers.get("Retry-After"), attempt)
            self.sleep(min(wait, MAX_WAIT_S))
        raise AssertionError("unreachable")

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> dict:
        resp = self._send(f"{self.base_url}/{path.lstrip('/')}", params)
        return _json_or_raise(resp)

    def pages(self, path: str, params: Mapping[str, Any] | None = None) -> Iterator[dict]:
        """Every item of a collection, following @odata.nextLink (which carries the query)."""
        body = self.get(path, params)
        while True:
            yield from body.get("value", [])
            link = body.get("@odata.nextLink")
            if not link:
                return
            body = _json_or_raise(self._send(link))

    def report(self, name: str, period: str = "D30") -> list[dict[str, str]]:
        """A usage report's rows: GET /v1.0/reports/<name>(period='D30') answers 302 with the
        download URL of a CSV, fetched without the bearer token (it is pre-authenticated)."""
        resp = self._send(f"{self.base_url}/v1.0/reports/{name}(period='{period}')")
        if resp.status_code in (301, 302, 303, 307, 308):
            location = resp.headers.get("Location", "")
            download = self.http.get(urllib.parse.urljoin(str(resp.url), location))
            if download.status_code >= 400:
                raise GraphError(download.status_code, "DownloadFailed", "the report download failed")
            text = download.content.decode("utf-8-sig")
        elif resp.status_code == 200:  # some tenants and proxies answer the CSV directly
            text = resp.content.decode("utf-8-sig")
        else:
            _json_or_raise(resp)
            return []
        return list(csv.DictReader(io.StringIO(text)))


def _retry_after(value: str | None, attempt: int) -> float:
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            pass
    return min(MAX_WAIT_S, 0.5 * 2 ** (attempt - 1))


def _json_or_raise(resp: httpx.Response) -> dict:
    if resp.status_code >= 400:
        try:
            err = resp.json().get("error", {})
        except ValueError:
            err = {}
        raise GraphError(resp.status_code, str(err.get("code", resp.reason_phrase)), str(err.get("message", "")))
    return resp.json()


def describe_error(exc: BaseException) -> str:
    if isinstance(exc, GraphError):
        return str(exc)[:300]
    if isinstance(exc, ClientAuthenticationError):
        return f"authentication failed: {(exc.message or '')[:200]}"
    if isinstance(exc, httpx.HTTPError | ServiceRequestError):
        return f"Microsoft Graph unreachable: {type(exc).__name__}"
    if isinstance(exc, CloudWasteError):
        return str(exc)[:300]
    return unexpected_error("Microsoft Graph")


class M365Provider(Provider):
    key = KEY
    display_name = "Microsoft 365"
    scope_noun = "tenant"
    scope_description = "the Microsoft 365 tenant's directory id (a GUID)"
    scope_operations = ()  # the tenant is the account's directory id: nothing to list

    def validate_access(self, access: Mapping[str, Any], field: str) -> dict[str, Any]:
        return validate_principal(access, field)

    def valid_scopes(self) -> frozenset[str]:
        return frozenset()

    def validate_scopes(self, scopes: Sequence[str], field: str) -> list[str]:
        return validate_guids(scopes, field, self.scope_description)

    def options_from_settings(self, settings: Any) -> dict[str, Any]:
        return {
            "endpoint_url": getattr(settings, "m365_endpoint_url", "") or "",
            "credentials_dir": getattr(settings, "credentials_dir", "") or "",
        }

    def connect(self, access: Mapping[str, Any], options: Mapping[str, Any]) -> M365Connection:
        credential, endpoint = principal_credential(access, options, GRAPH_SCOPE, "Microsoft 365")
        return M365Connection(access["directory_id"], GraphClient(credential, endpoint or GRAPH))

    def list_scopes(self, conn: Any, requested: Sequence[str]) -> list[str]:
        scopes = list(dict.fromkeys(requested)) or [conn.directory_id]
        other = [s for s in scopes if s != conn.directory_id]
        if other:
            raise FailedPrecondition(f"a Microsoft 365 account scans its own tenant only, not {other[0]}")
        return scopes

    def _list_scopes(self, conn: Any) -> list[str]:
        return [conn.directory_id]

    def prices(self, scope: str) -> CloudPrices:
        return CloudPrices(KEY, normalize=lambda _region: GLOBAL)

    def describe_error(self, exc: BaseException) -> str:
        return describe_error(exc)

    @staticmethod
    def is_read_only(permission: str) -> bool:
        return permission.endswith(".Read.All")

    def policy_document(self, permissions: Sequence[str], organization: bool = False) -> dict:
        """The application permissions to grant (admin consent) in the app registration."""
        why = {
            "User.Read.All": "list users with their licences, account state and type (member or guest)",
            "AuditLog.Read.All": "read users' last interactive and non-interactive sign-ins",
            "Reports.Read.All": "read the mailbox, OneDrive and SharePoint usage reports",
            "Organization.Read.All": "read the tenant's subscribed SKUs: seats bought and assigned",
        }
        return {
            "resourceAppId": "00000003-0000-0000-c000-000000000000",  # Microsoft Graph
            "type": "Application",
            "permissions": [{"value": p, "why": why.get(p, "")} for p in sorted(permissions)],
        }


# What the kinds read of a user, in one listing shared by them (the licence and the guest kinds,
# and the report kinds that match a report's owner to the directory); nothing else is asked.
USER_FIELDS = (
    "id", "displayName", "userPrincipalName", "mail", "accountEnabled", "userType",
    "createdDateTime", "assignedLicenses", "signInActivity", "externalUserState",
)
REPORT_PERIOD = "D30"


class M365Connection:
    """One scan's view of a tenant. The directory's users and each usage report are read once
    per scan, however many kinds use them (kinds are listed concurrently: reads are locked)."""

    def __init__(self, directory_id: str, graph: GraphClient) -> None:
        self.directory_id = directory_id
        self.graph = graph
        self._lock = threading.Lock()
        self._users: list[dict] | None = None
        self._reports: dict[str, list[dict[str, str]] | BaseException] = {}

    def users(self) -> list[dict]:
        """Every user of the tenant (GET /v1.0/users, `$select` of USER_FIELDS, 999 a page)."""
        with self._lock:
            if self._users is None:
                params = {"$select": ",".join(USER_FIELDS), "$top": 999}
                self._users = list(self.graph.pages("v1.0/users", params))
            return self._users

    def report(self, name: str) -> list[dict[str, str]]:
        """A usage report's rows over REPORT_PERIOD, read once per scan (a failure too: it is
        raised again to every kind that asks)."""
        with self._lock:
            if name not in self._reports:
                try:
                    self._reports[name] = self.graph.report(name, REPORT_PERIOD)
                except Exception as exc:  # remembered, and raised to each caller
                    self._reports[name] = exc
            found = self._reports[name]
        if isinstance(found, BaseException):
            raise found
        return found


def aware(value: str | None) -> dt.datetime | None:
    """A Graph timestamp in UTC; None for None, "" and Graph's "never" (0001-01-01)."""
    if not value or value.startswith("0001-01-01"):
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


PROVIDER = PROVIDERS.register(M365Provider())
