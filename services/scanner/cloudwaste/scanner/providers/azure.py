"""The Azure provider on the Azure SDK (azure-mgmt-*, azure-identity): a scope is a subscription.

Access is a Microsoft Entra service principal: the account stores its directory (tenant) id and
client id, and names the file of the scanner's credentials Secret (a Kubernetes Secret mounted at
`credentials_dir`) that holds its client secret or PEM certificate; none names workload identity.
Nothing secret is ever stored in the database.

Against a local endpoint (`endpoint_url`, the simulated estate and the tests) the same secret is
sent with the OAuth 2.0 client-credentials grant to `<endpoint>/<directory>/oauth2/v2.0/token`,
because azure-identity only talks to https authorities.

Every request the management clients make (each page of a listing) passes one pipeline policy
that reports it, as the Azure RBAC action it needs ("Microsoft.Compute/disks/read"), to
`providers.record_call`. Throttling (429) and 5xx are retried by azure-core's RetryPolicy, which
waits as long as the Retry-After header asks; what outlasts it fails the kind, not the scan.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from azure.core.credentials import AccessToken
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.core.pipeline.policies import SansIOHTTPPolicy
from cloudwaste.core.errors import CloudWasteError, FailedPrecondition, InvalidArgument, Unavailable
from cloudwaste.scanner.cloud_prices import CloudPrices
from cloudwaste.scanner.providers import (
    PROVIDERS,
    Provider,
    azure_models,
    record_call,
    string_settings,
    unexpected_error,
)

KEY = "azure"
ARM_ENDPOINT = "https://management.azure.com"
ARM_SCOPE = "https://management.azure.com/.default"
GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
SECRET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,252}$")
_ACCESS_SETTINGS = ("directory_id", "client_id", "credential_secret")
_PROVIDERS_SEGMENT = "providers"

azure_models.guard()  # subscriptions are scanned in parallel threads: see azure_models


def rbac_action(method: str, url: str) -> str:
    """The Azure RBAC action a management request needs: GET .../providers/Microsoft.Compute/disks
    -> "Microsoft.Compute/disks/read"; nested types join ("Microsoft.Network/loadBalancers/read");
    /subscriptions -> "Microsoft.Resources/subscriptions/read"; resource groups and the generic
    resource listing are Microsoft.Resources actions too. A POST that reads (metrics) is a read."""
    parts = [urllib.parse.unquote(p) for p in urllib.parse.urlsplit(url).path.split("/") if p]
    lowered = [p.lower() for p in parts]
    verb = "read"
    if _PROVIDERS_SEGMENT in lowered:
        at = len(lowered) - 1 - lowered[::-1].index(_PROVIDERS_SEGMENT)
        rest = parts[at + 1 :]
        if not rest:
            return "Microsoft.Resources/providers/read"
        namespace, types = rest[0], rest[1::2]
        return "/".join([namespace, *types, verb])
    # no provider namespace: subscriptions, resource groups, generic resources
    types = [p for i, p in enumerate(parts) if i % 2 == 0]
    types = ["resourceGroups" if t.lower() == "resourcegroups" else t for t in types]
    if types and types[-1] == "resources":
        return "Microsoft.Resources/subscriptions/resources/read"
    return "/".join(["Microsoft.Resources", *types, verb])


class _RecordCalls(SansIOHTTPPolicy):
    """Per-call policy: one count per request made by an operation (each page), before retries."""

    def on_request(self, request) -> None:
        http = request.http_request
        record_call(KEY, rbac_action(http.method, http.url))


class _LocalBearer(SansIOHTTPPolicy):
    def __init__(self, credential: Any) -> None:
        self.credential = credential

    def on_request(self, request) -> None:
        token = self.credential.get_token(ARM_SCOPE).token
        request.http_request.headers["Authorization"] = f"Bearer {token}"


class LocalTokenCredential:
    """A TokenCredential for a local endpoint: the OAuth 2.0 client-credentials grant, by hand,
    against `<endpoint>/<directory>/oauth2/v2.0/token` (azure-identity refuses http authorities).
    The token is cached until 5 minutes before it expires."""

    def __init__(self, endpoint: str, directory_id: str, client_id: str, secret: str) -> None:
        self.url = f"{endpoint.rstrip('/')}/{directory_id}/oauth2/v2.0/token"
        self.client_id, self.secret = client_id, secret
        self._token: AccessToken | None = None
        self._lock = threading.Lock()

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        with self._lock:
            if self._token is None or self._token.expires_on - 300 < time.time():
                form = urllib.parse.urlencode(
                    {
                        "grant_type": "client_credentials",
                        "client_id": self.client_id,
                        "client_secret": self.secret,
                        "scope": " ".join(scopes) or ARM_SCOPE,
                    }
                ).encode()
                try:
                    with urllib.request.urlopen(self.url, data=form, timeout=10) as resp:  # noqa: S310
                        body = json.load(resp)
                except urllib.error.HTTPError as exc:
                    detail = _json_error(exc.read())
                    raise ClientAuthenticationError(message=f"token refused ({exc.code}): {detail}") from None
                except OSError as exc:
                    raise ServiceRequestError(message=f"token endpoint unreachable: {exc}") from exc
                self._token = AccessToken(body["access_token"], int(time.time()) + int(body["expires_in"]))
            return self._token

    def close(self) -> None:
        pass


def _json_error(raw: bytes) -> str:
    try:
        body = json.loads(raw)
        return str(body.get("error_description") or body.get("error") or "")[:200]
    except ValueError:
        return ""


def describe_error(exc: BaseException) -> str:
    """A short, safe message for a scope or a kind (no stack trace, no secret)."""
    if isinstance(exc, ClientAuthenticationError):
        return f"authentication failed: {(exc.message or '')[:200]}"
    if isinstance(exc, HttpResponseError):
        code = getattr(getattr(exc, "error", None), "code", None) or exc.reason or ""
        message = getattr(getattr(exc, "error", None), "message", None) or ""
        return f"{exc.status_code} {code}: {message}"[:300].rstrip(": ")
    if isinstance(exc, ServiceRequestError | ServiceResponseError):
        return f"Azure unreachable: {(exc.message or '')[:200]}"
    if isinstance(exc, CloudWasteError):
        return str(exc)[:300]
    return unexpected_error("Azure")


def read_secret(credentials_dir: str, name: str) -> str:
    """The text of one file of the mounted credentials Secret; FailedPrecondition when absent."""
    if not credentials_dir:
        raise FailedPrecondition("the scanner has no credentials folder (CLOUDWASTE_CREDENTIALS_DIR)")
    path = Path(credentials_dir) / name
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise FailedPrecondition(
            f'credential "{name}" is not in the scanner\'s credentials Secret (add it as a key)'
        ) from None
    except OSError as exc:
        raise FailedPrecondition(f'credential "{name}" cannot be read: {exc.strerror}') from None


class AzureConnection:
    """One principal's credential and the management clients built on it, one per (client class,
    subscription), shared by threads."""

    def __init__(self, credential: Any, endpoint: str, retry_total: int = 6) -> None:
        self.credential = credential
        self.endpoint = endpoint.rstrip("/")
        self.retry_total = retry_total
        self._clients: dict[tuple[type, str], Any] = {}
        self._lock = threading.Lock()

    def client(self, cls: type, subscription_id: str | None = None) -> Any:
        with self._lock:
            found = self._clients.get((cls, subscription_id or ""))
            if found is None:
                kwargs: dict[str, Any] = {
                    "base_url": self.endpoint,
                    "per_call_policies": [_RecordCalls()],
                    "retry_total": self.retry_total,
                    # azure-core stops after 3 throttled or 5xx answers unless told otherwise
                    "retry_status": self.retry_total,
                    "retry_backoff_max": 60,
                    "connection_timeout": 10,
                    "read_timeout": 60,
                }
                if self.endpoint.startswith("http://"):
                    # a local endpoint (the simulated estate): azure-core's bearer policy refuses
                    # plain http, so the token goes in by this policy instead
                    kwargs["authentication_policy"] = _LocalBearer(self.credential)
                if subscription_id is None:
                    found = cls(self.credential, **kwargs)
                else:
                    found = cls(self.credential, subscription_id, **kwargs)
                self._clients[(cls, subscription_id or "")] = found
            return found

    def send(self, method: str, url: str, params: Mapping[str, str] | None = None, body: Any = None) -> dict:
        """A management request through the clients' pipeline (credential, retries, call
        recording), its JSON answer as plain dicts: for answers too large for the SDK's models
        (metric series) and APIs without an SDK here (Cost Management). `url` is a path under
        the endpoint or an absolute link (a nextLink); an error raises HttpResponseError."""
        from azure.core.rest import HttpRequest
        from azure.mgmt.resource.subscriptions import SubscriptionClient

        response = self.client(SubscriptionClient).send_request(
            HttpRequest(method, url, params=dict(params or {}), json=body)
        )
        if response.status_code >= 400:
            raise HttpResponseError(response=response)  # ARM's error body: its code and message
        return response.json()

    def subscriptions(self) -> list[str]:
        from azure.mgmt.resource.subscriptions import SubscriptionClient

        return sorted(
            s.subscription_id
            for s in self.client(SubscriptionClient).subscriptions.list()
            if str(getattr(s, "state", "Enabled")) in ("Enabled", "SubscriptionState.ENABLED")
        )


def _metric_time(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def validate_principal(access: Mapping[str, Any], field: str) -> dict[str, Any]:
    """A Microsoft Entra application's access settings (directory id, client id, the name of its
    credential file), checked and normalized; a problem raises InvalidArgument naming the field."""
    values = {k: v.strip() for k, v in string_settings(access, field, _ACCESS_SETTINGS).items()}
    for name in ("directory_id", "client_id"):
        if not GUID.match(values[name]):
            raise InvalidArgument(
                f"{field}.{name}", "must be a GUID like 00000000-0000-0000-0000-000000000000"
            )
        values[name] = values[name].lower()
    secret = values["credential_secret"]
    if secret and (not SECRET_NAME.match(secret) or ".." in secret):
        raise InvalidArgument(
            f"{field}.credential_secret",
            "must name a key of the credentials Secret (1-253 of A-Z a-z 0-9 . _ -)",
        )
    return {k: v for k, v in values.items() if v}


def validate_guids(scopes: Sequence[str], field: str, description: str) -> list[str]:
    """Scopes that are GUIDs (subscriptions, a tenant), lower case, without duplicates; the
    first that is not raises InvalidArgument(f"{field}[i]")."""
    for i, scope in enumerate(scopes):
        if not isinstance(scope, str) or not GUID.match(scope):
            raise InvalidArgument(f"{field}[{i}]", f'"{str(scope)[:64]}" is not {description}')
    return list(dict.fromkeys(s.lower() for s in scopes))


def principal_credential(
    access: Mapping[str, Any], options: Mapping[str, Any], scope: str, service: str
) -> tuple[Any, str]:
    """(credential, local endpoint or "") of a Microsoft Entra application, for Azure Resource
    Manager or Microsoft Graph (`scope`): its secret or certificate read from the credentials
    folder, a token asked for at once so that refused access fails here with the reason."""
    directory, client = access.get("directory_id", ""), access.get("client_id", "")
    if not directory or not client:
        raise FailedPrecondition(f"the account's {service} access has no directory_id or client_id")
    endpoint = options.get("endpoint_url") or ""
    name = access.get("credential_secret", "")
    secret = read_secret(options.get("credentials_dir", ""), name) if name else ""
    if endpoint:
        if not secret:
            raise FailedPrecondition(f"a local {service} endpoint needs a credential_secret")
        credential: Any = LocalTokenCredential(endpoint, directory, client, secret)
    else:
        credential = _sdk_credential(directory, client, secret)
    try:
        credential.get_token(scope)
    except ClientAuthenticationError as exc:
        raise FailedPrecondition(f"Microsoft Entra ID refused the application {client}: {describe_error(exc)}") from exc
    except (ServiceRequestError, ServiceResponseError) as exc:
        raise Unavailable(f"Microsoft Entra ID unreachable: {describe_error(exc)}") from exc
    return credential, endpoint


class AzureProvider(Provider):
    key = KEY
    display_name = "Azure"
    scope_noun = "subscription"
    scope_description = "an Azure subscription id (a GUID)"
    scope_operations = ("Microsoft.Resources/subscriptions/read",)

    def validate_access(self, access: Mapping[str, Any], field: str) -> dict[str, Any]:
        return validate_principal(access, field)

    def valid_scopes(self) -> frozenset[str]:
        return frozenset()  # any subscription id

    def validate_scopes(self, scopes: Sequence[str], field: str) -> list[str]:
        return validate_guids(scopes, field, self.scope_description)

    def options_from_settings(self, settings: Any) -> dict[str, Any]:
        return {
            "endpoint_url": getattr(settings, "azure_endpoint_url", "") or "",
            "credentials_dir": getattr(settings, "credentials_dir", "") or "",
        }

    def connect(self, access: Mapping[str, Any], options: Mapping[str, Any]) -> AzureConnection:
        credential, endpoint = principal_credential(access, options, ARM_SCOPE, "Azure")
        return AzureConnection(credential, endpoint or ARM_ENDPOINT)

    def _list_scopes(self, conn: AzureConnection) -> list[str]:
        return conn.subscriptions()

    metric_operation = "Microsoft.Insights/metrics/read"

    def fetch_metrics(self, conn: AzureConnection, scope: str, queries, now: dt.datetime) -> dict:
        from cloudwaste.scanner.providers.azure_metrics import fetch

        return fetch(conn, scope, queries, now)

    def fetch_history(self, conn: AzureConnection, scope: str, queries, now: dt.datetime, period_seconds: int) -> dict:
        from cloudwaste.scanner.providers.azure_metrics import fetch_history

        return fetch_history(conn, scope, queries, now, period_seconds)

    billing_operations = ("Microsoft.CostManagement/query/read",)

    def fetch_costs(self, conn: AzureConnection, scopes, resources, now: dt.datetime) -> Any:
        """Cost Management, per subscription scanned (see azure_billing)."""
        from cloudwaste.scanner.providers.azure_billing import read_costs

        return read_costs(conn, scopes, resources, now)

    def prices(self, scope: str) -> CloudPrices:
        return CloudPrices(KEY)

    def describe_error(self, exc: BaseException) -> str:
        return describe_error(exc)

    @staticmethod
    def is_read_only(permission: str) -> bool:
        return permission.endswith("/read")

    def policy_document(self, permissions: Sequence[str], organization: bool = False) -> dict:
        """A custom role definition (`az role definition create --role-definition @file`) to
        assign to the service principal on each subscription, instead of the built-in Reader +
        Monitoring Reader pair (which read everything, secrets' metadata included)."""
        return {
            "Name": "CloudWaste Reader",
            "IsCustom": True,
            "Description": "Read-only access CloudWaste needs to find idle and orphaned resources.",
            "Actions": sorted({*permissions, *self.billing_operations}),  # the rules' reads, and the bill
            "NotActions": [],
            "DataActions": [],
            "NotDataActions": [],
            "AssignableScopes": ["/subscriptions/00000000-0000-0000-0000-000000000000"],
        }


def _sdk_credential(directory: str, client: str, secret: str) -> Any:
    """azure-identity's credential for real Azure: a certificate (PEM), a client secret, or
    workload identity (the federated token file AKS mounts) when no secret is named."""
    from azure.identity import CertificateCredential, ClientSecretCredential, WorkloadIdentityCredential

    if not secret:
        try:
            return WorkloadIdentityCredential(tenant_id=directory, client_id=client)
        except ValueError as exc:  # no federated token file in this pod
            raise FailedPrecondition(f"no credential_secret and no workload identity: {exc}") from None
    if secret.startswith("-----BEGIN"):
        try:
            return CertificateCredential(directory, client, certificate_data=secret.encode())
        except ValueError as exc:
            raise FailedPrecondition(f"the credential is not a PEM certificate with its private key: {exc}") from None
    return ClientSecretCredential(directory, client, secret)



PROVIDER = PROVIDERS.register(AzureProvider())
