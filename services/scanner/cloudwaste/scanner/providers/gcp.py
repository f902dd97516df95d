"""The GCP provider on google-cloud-compute (and google-auth for the REST APIs it does not cover:
Cloud Monitoring, Cloud SQL Admin, Resource Manager): a scope is a project.

Access is a service account key or a workload identity federation configuration, a file of the
scanner's credentials Secret named by the account; none means the scanner's own identity (GKE
Workload Identity, Application Default Credentials). Nothing secret is stored in the database.
Against a local endpoint (the simulated estate) the key's `token_uri` points at it: the token
exchange is google-auth's own, a signed JWT assertion.

Every HTTP session the provider makes (each compute client's, and the one for the REST APIs)
carries a response hook that reports each request, as the IAM permission it needs
("compute.disks.list"), to `providers.record_call`, and an adapter that retries 429 and 503 as
long as Retry-After asks (urllib3's Retry), so throttling outlasted fails the kind, not the scan.
Zonal and regional kinds use aggregated lists with `returnPartialSuccess`: a region that does not
answer leaves the rest of the listing standing (`kinds.Listing.unreached`).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
import urllib.parse
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import google.auth
import requests
from cloudwaste.core.errors import CloudWasteError, FailedPrecondition, InvalidArgument, Unavailable
from cloudwaste.scanner.cloud_prices import CloudPrices
from cloudwaste.scanner.providers import PROVIDERS, Provider, record_call, string_settings, unexpected_error
from cloudwaste.scanner.providers.azure import SECRET_NAME, read_secret
from google.api_core import exceptions as gexc
from google.auth import exceptions as auth_exc
from google.auth import identity_pool
from google.auth.transport.requests import AuthorizedSession, Request
from google.oauth2 import service_account
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

KEY = "gcp"
SCOPES_READ_ONLY = ("https://www.googleapis.com/auth/cloud-platform.read-only",)
# The REST APIs the provider calls itself, by name -> their public base URL.
APIS = {
    "compute": "https://compute.googleapis.com",
    "monitoring": "https://monitoring.googleapis.com",
    "sqladmin": "https://sqladmin.googleapis.com",
    "cloudresourcemanager": "https://cloudresourcemanager.googleapis.com",
}
PROJECT_ID = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
_ACCESS_SETTINGS = ("credential_secret",)
# compute collections whose global listing needs its own permission name
_GLOBAL_COLLECTION = {
    "addresses": "globalAddresses",
    "forwardingRules": "globalForwardingRules",
    "operations": "globalOperations",
}
_RETRY = Retry(
    total=6,
    backoff_factor=0.5,
    backoff_max=60,
    status_forcelist=(429, 503),
    allowed_methods=frozenset({"GET", "POST"}),  # every call the provider makes reads
    respect_retry_after_header=True,
    raise_on_status=False,  # the last 429 reaches the client, which raises TooManyRequests
)


def iam_permission(method: str, url: str) -> str:
    """The IAM permission a GCP REST request needs, from its path:
    /compute/v1/projects/p/aggregated/disks -> compute.disks.list,
    /compute/v1/projects/p/global/addresses -> compute.globalAddresses.list,
    /compute/v1/projects/p/zones/z/instances/vm -> compute.instances.get,
    /v3/projects/p/timeSeries -> monitoring.timeSeries.list,
    /v1/projects/p/instances -> cloudsql.instances.list, /v1/projects -> resourcemanager.projects.get."""
    parts = [urllib.parse.unquote(p) for p in urllib.parse.urlsplit(url).path.split("/") if p]
    if parts[:2] == ["compute", "v1"]:
        rest = parts[4:]  # after projects/{p}
        scoped = False
        if rest[:1] == ["aggregated"]:
            rest = rest[1:]
        elif rest[:1] == ["global"]:
            rest, scoped = rest[1:], True
        elif rest[:1] in (["zones"], ["regions"]) and len(rest) >= 3:
            rest = rest[2:]
        if not rest:
            return "compute.projects.get"
        collection = _GLOBAL_COLLECTION.get(rest[0], rest[0]) if scoped else rest[0]
        return f"compute.{collection}.{'get' if len(rest) > 1 else 'list'}"
    if parts[:1] == ["v3"] and "timeSeries" in parts:
        return "monitoring.timeSeries.list"
    if parts[:1] == ["v1"] and len(parts) >= 4 and parts[3] == "instances":
        return "cloudsql.instances.list" if len(parts) == 4 else "cloudsql.instances.get"
    if parts[:2] == ["v1", "projects"]:
        return "resourcemanager.projects.get"
    return f"unknown:{'/'.join(parts[:3])}"


def _record(response: requests.Response, *args: Any, **kwargs: Any) -> None:
    if getattr(response, "history", None):  # a redirect already counted its first request
        return
    record_call(KEY, iam_permission(response.request.method or "GET", response.request.url or ""))


def instrument(session: requests.Session) -> requests.Session:
    """Counts every request of `session` and retries its throttling as Retry-After asks."""
    session.hooks.setdefault("response", []).append(_record)
    adapter = HTTPAdapter(max_retries=_RETRY, pool_maxsize=16)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def describe_error(exc: BaseException) -> str:
    """A short, safe message for a scope or a kind (no stack trace, no secret)."""
    if isinstance(exc, gexc.GoogleAPICallError):
        return f"{exc.code} {exc.message}"[:300]
    if isinstance(exc, ApiError):
        return str(exc)[:300]
    if isinstance(exc, auth_exc.RefreshError):
        return f"authentication failed: {str(exc)[:200]}"
    if isinstance(exc, requests.RequestException):
        return "GCP unreachable: " + type(exc).__name__
    if isinstance(exc, CloudWasteError):
        return str(exc)[:300]
    return unexpected_error("GCP")


class ApiError(Exception):
    """A REST call of the provider's own (Monitoring, Cloud SQL, Resource Manager) failed."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status} {message}")
        self.status = status


class GcpConnection:
    """One identity's credentials, its compute clients (one per client class) and one
    authorized session for the REST APIs called directly; all shared by threads."""

    def __init__(self, credentials: Any, endpoint: str = "") -> None:
        self.credentials = credentials
        self.endpoint = endpoint.rstrip("/")
        self._clients: dict[type, Any] = {}
        self._lock = threading.Lock()
        self.session = instrument(AuthorizedSession(credentials))

    def base_url(self, api: str) -> str:
        return self.endpoint or APIS[api]

    def compute(self, cls: type) -> Any:
        """A google-cloud-compute client (REST) of class `cls`, e.g. compute_v1.DisksClient."""
        with self._lock:
            client = self._clients.get(cls)
            if client is None:
                options = {"api_endpoint": self.endpoint} if self.endpoint else None
                client = cls(credentials=self.credentials, client_options=options, transport="rest")
                # the transport's own AuthorizedSession: counted and throttle-aware like ours
                instrument(client._transport._session)
                self._clients[cls] = client
            return client

    def get(self, api: str, path: str, params: Mapping[str, Any] | None = None) -> dict:
        """GET one page of a REST API; an error status raises ApiError with Google's message."""
        url = f"{self.base_url(api)}/{path.lstrip('/')}"
        resp = self.session.get(url, params=params, timeout=(10, 60))
        if resp.status_code >= 400:
            try:
                message = resp.json().get("error", {}).get("message", "")
            except ValueError:
                message = resp.text[:200]
            raise ApiError(resp.status_code, message or resp.reason)
        return resp.json()

    def pages(self, api: str, path: str, params: Mapping[str, Any] | None = None) -> Iterator[dict]:
        """Every page of a REST listing, following nextPageToken."""
        params = dict(params or {})
        while True:
            page = self.get(api, path, params)
            yield page
            token = page.get("nextPageToken")
            if not token:
                return
            params["pageToken"] = token

    def projects(self) -> list[str]:
        """ACTIVE projects the identity can read (Resource Manager v1 projects.list)."""
        return sorted(
            p["projectId"]
            for page in self.pages("cloudresourcemanager", "v1/projects")
            for p in page.get("projects", [])
            if p.get("lifecycleState", "ACTIVE") == "ACTIVE"
        )


def _credentials_from(info: Any, name: str) -> Any:
    """Credentials of a key file of the two types the scanner accepts, checked by type (a
    configuration of another type is refused, never loaded): a service account key, or a
    workload identity federation configuration sourcing its token from a file or URL."""
    kind = info.get("type") if isinstance(info, dict) else None
    if kind == "service_account":
        return service_account.Credentials.from_service_account_info(info, scopes=SCOPES_READ_ONLY)
    if kind == "external_account":
        return identity_pool.Credentials.from_info(info, scopes=SCOPES_READ_ONLY)
    raise FailedPrecondition(
        f'credential "{name}" is of type {str(kind)[:40]!r}: expected service_account or external_account'
    )


class GcpProvider(Provider):
    key = KEY
    display_name = "GCP"
    scope_noun = "project"
    scope_description = "a GCP project id (6-30 of a-z 0-9 -, starting with a letter)"
    scope_operations = ("resourcemanager.projects.get",)

    def validate_access(self, access: Mapping[str, Any], field: str) -> dict[str, Any]:
        secret = string_settings(access, field, _ACCESS_SETTINGS)["credential_secret"].strip()
        if secret and (not SECRET_NAME.match(secret) or ".." in secret):
            raise InvalidArgument(
                f"{field}.credential_secret",
                "must name a key of the credentials Secret (1-253 of A-Z a-z 0-9 . _ -)",
            )
        return {"credential_secret": secret} if secret else {}

    def valid_scopes(self) -> frozenset[str]:
        return frozenset()

    def validate_scopes(self, scopes: Sequence[str], field: str) -> list[str]:
        for i, scope in enumerate(scopes):
            if not isinstance(scope, str) or not PROJECT_ID.match(scope):
                raise InvalidArgument(f"{field}[{i}]", f'"{str(scope)[:64]}" is not {self.scope_description}')
        return list(dict.fromkeys(scopes))

    def options_from_settings(self, settings: Any) -> dict[str, Any]:
        return {
            "endpoint_url": getattr(settings, "gcp_endpoint_url", "") or "",
            "credentials_dir": getattr(settings, "credentials_dir", "") or "",
        }

    def connect(self, access: Mapping[str, Any], options: Mapping[str, Any]) -> GcpConnection:
        secret_name = access.get("credential_secret", "")
        try:
            if secret_name:
                text = read_secret(options.get("credentials_dir", ""), secret_name)
                try:
                    info = json.loads(text)
                except ValueError:
                    raise FailedPrecondition(f'credential "{secret_name}" is not a JSON key file') from None
                credentials = _credentials_from(info, secret_name)
            else:
                credentials, _ = google.auth.default(scopes=SCOPES_READ_ONLY)
            conn = GcpConnection(credentials, options.get("endpoint_url") or "")
            credentials.refresh(Request())  # fails now, with the reason, rather than mid-scan
        except auth_exc.RefreshError as exc:
            raise FailedPrecondition(f"GCP refused the credentials: {describe_error(exc)}") from exc
        except auth_exc.TransportError as exc:
            raise Unavailable("GCP token endpoint unreachable") from exc
        except (auth_exc.DefaultCredentialsError, ValueError) as exc:
            raise FailedPrecondition(f"no usable GCP credentials: {str(exc)[:200]}") from exc
        return conn

    def _list_scopes(self, conn: GcpConnection) -> list[str]:
        return conn.projects()

    metric_operation = "monitoring.timeSeries.list"

    def fetch_metrics(self, conn: GcpConnection, scope: str, queries, now: dt.datetime) -> dict:
        from cloudwaste.scanner.providers.gcp_metrics import fetch

        return fetch(conn, scope, queries, now)

    def fetch_history(self, conn: GcpConnection, scope: str, queries, now: dt.datetime, period_seconds: int) -> dict:
        from cloudwaste.scanner.providers.gcp_metrics import fetch_history

        return fetch_history(conn, scope, queries, now, period_seconds)

    def prices(self, scope: str) -> CloudPrices:
        from cloudwaste.scanner.kinds.gcp._common import region_of

        return CloudPrices(KEY, normalize=region_of)

    def describe_error(self, exc: BaseException) -> str:
        return describe_error(exc)

    @staticmethod
    def is_read_only(permission: str) -> bool:
        return permission.rsplit(".", 1)[-1] in ("list", "get")

    def policy_document(self, permissions: Sequence[str], organization: bool = False) -> dict:
        """A custom role (`gcloud iam roles create cloudwasteReader --project P --file F`; JSON is
        YAML) to grant the service account on each project (or the organization), instead of
        the predefined roles/compute.viewer + roles/monitoring.viewer + roles/cloudsql.viewer."""
        return {
            "title": "CloudWaste Reader",
            "description": "Read-only access CloudWaste needs to find idle and orphaned resources.",
            "stage": "GA",
            "includedPermissions": sorted(permissions),
        }


PROVIDER = PROVIDERS.register(GcpProvider())
