"""A local Google Cloud endpoint: the REST shapes of Compute Engine v1, Cloud Monitoring v3
(`timeSeries.list`), Cloud SQL Admin v1 (`instances.list`) and Resource Manager v1
(`projects.list`), as Google's discovery documents define them (see tests/fixtures/gcp/README.md),
served from an in-memory estate of projects for google-cloud-compute and google-auth.

Like Google: lists page by `pageToken` / `nextPageToken` (`maxResults` or `pageSize`); aggregated
lists return `items` keyed by scope ("zones/us-central1-a", "regions/us-central1"), a scope with
nothing holds a NO_RESULTS_ON_PAGE warning, and an unreachable region or zone holds an
UNREACHABLE warning (listed in `unreachables` too with `returnPartialSuccess=true`); errors are `{"error": {"code", "message", "status", "errors"}}`.
Tokens come from the JWT-bearer grant at `/token`: the assertion's RS256 signature is checked
against the registered service account's public key, as Google does; workload identity
federation exchanges a trusted outside token at `/v1/token` (the Security Token Service).
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import json
import re
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from .httpapi import ApiError, Fault, LocalApi, Response, paged

__all__ = ["Fault", "GcpApi", "Project", "service_account_key"]

PAGE_SIZE = 500
SELF_LINK_BASE = "https://www.googleapis.com/compute/v1"
_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
           429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}
_METRIC_TYPE = re.compile(r'metric\.type\s*=\s*"([^"]+)"')
_KINDS = {
    "disks": "compute#disk", "addresses": "compute#address", "instances": "compute#instance",
    "snapshots": "compute#snapshot", "images": "compute#image", "forwardingRules": "compute#forwardingRule",
    "targetPools": "compute#targetPool", "backendServices": "compute#backendService",
    "routers": "compute#router", "instanceGroups": "compute#instanceGroup",
}


@dataclass
class Project:
    project_id: str
    project_number: str = "123456789012"
    # collection ("disks") -> scope ("zones/us-central1-a" | "regions/us-central1" | "global")
    # -> name -> body
    resources: dict[str, dict[str, dict[str, dict]]] = field(default_factory=dict)
    sql_instances: dict[str, dict] = field(default_factory=dict)
    # regions or zones that do not answer ("us-east1", "europe-west1-b")
    unreachable: set[str] = field(default_factory=set)


def service_account_key(client_email: str, token_uri: str) -> tuple[dict, bytes]:
    """A new service account key file (the JSON Google gives) whose token_uri is `token_uri`,
    and the public key (PEM) to register with the endpoint."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    info = {
        "type": "service_account",
        "project_id": client_email.split("@")[1].split(".")[0],
        "private_key_id": "0" * 40,
        "private_key": pem,
        "client_email": client_email,
        "client_id": "100000000000000000001",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
    }
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return info, public


def _b64(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


class GcpApi(LocalApi):
    name = "gcp"

    def __init__(self, page_size: int = PAGE_SIZE) -> None:
        super().__init__()
        self.page_size = page_size
        self.projects: dict[str, Project] = {}
        self.service_accounts: dict[str, bytes] = {}  # client_email -> public key PEM
        self.federated: set[tuple[str, str]] = set()  # (pool audience, trusted subject token)
        # (project, metric type) -> [(resource type, resource labels, {day: value}, aligner or None)]
        self.metrics: dict[tuple[str, str], list[tuple[str, dict[str, str], dict[dt.date, float], str | None]]] = {}

    # -- the estate ----------------------------------------------------------------------------

    def add_service_account(self, client_email: str, public_key_pem: bytes) -> None:
        self.service_accounts[client_email] = public_key_pem

    def project(self, project_id: str, project_number: str = "") -> Project:
        with self.lock:
            found = self.projects.get(project_id)
            if found is None:
                found = Project(project_id, project_number or str(100000000000 + len(self.projects)))
                self.projects[project_id] = found
            return found

    def put(self, project_id: str, collection: str, scope: str, body: dict) -> dict:
        """Adds (or replaces) a compute resource. `scope` is "zones/<zone>", "regions/<region>"
        or "global"; `selfLink`, `kind` and the zone/region link are filled in when absent."""
        project = self.project(project_id)
        name = body["name"]
        link = f"{SELF_LINK_BASE}/projects/{project_id}/{scope}/{collection}/{name}"
        body.setdefault("selfLink", link)
        body.setdefault("kind", _KINDS.get(collection, f"compute#{collection}"))
        body.setdefault("id", str(abs(hash(link)) % 10**19))
        kind, _, where = scope.partition("/")
        if kind == "zones":
            body.setdefault("zone", f"{SELF_LINK_BASE}/projects/{project_id}/zones/{where}")
        elif kind == "regions":
            body.setdefault("region", f"{SELF_LINK_BASE}/projects/{project_id}/regions/{where}")
        with self.lock:
            project.resources.setdefault(collection, {}).setdefault(scope, {})[name] = body
        return body

    def delete(self, project_id: str, collection: str, scope: str, name: str) -> bool:
        project = self.projects.get(project_id)
        if project is None:
            return False
        with self.lock:
            return project.resources.get(collection, {}).get(scope, {}).pop(name, None) is not None

    def delete_resource(self, resource_id: str) -> bool:
        """Deletes by resource path: "projects/p/zones/z/disks/d", "projects/p/global/images/i",
        "projects/p/instances/sql-name" (a Cloud SQL instance)."""
        parts = resource_id.strip("/").split("/")
        if len(parts) < 4 or parts[0] != "projects":
            return False
        project = self.projects.get(parts[1])
        if project is None:
            return False
        if len(parts) == 4 and parts[2] == "instances":
            with self.lock:
                return project.sql_instances.pop(parts[3], None) is not None
        if len(parts) == 5 and parts[2] == "global":
            return self.delete(parts[1], parts[3], "global", parts[4])
        if len(parts) == 6 and parts[2] in ("zones", "regions"):
            return self.delete(parts[1], parts[4], f"{parts[2]}/{parts[3]}", parts[5])
        return False

    def put_sql_instance(self, project_id: str, body: dict) -> dict:
        project = self.project(project_id)
        body.setdefault("kind", "sql#instance")
        body.setdefault("project", project_id)
        body.setdefault(
            "selfLink", f"https://sqladmin.googleapis.com/v1/projects/{project_id}/instances/{body['name']}"
        )
        with self.lock:
            project.sql_instances[body["name"]] = body
        return body

    def put_metric(
        self, project_id: str, metric_type: str, resource_type: str, labels: dict[str, str],
        daily: dict[dt.date, float], aligner: str | None = None,
    ) -> None:
        """A daily series; `aligner` ("ALIGN_MAX"...): served only to that perSeriesAligner (a
        day's peak is not its mean), None: to any."""
        with self.lock:
            self.metrics.setdefault((project_id, metric_type), []).append(
                (resource_type, dict(labels), daily, aligner)
            )

    # -- HTTP ----------------------------------------------------------------------------------

    def error_body(self, status: int, code: str, message: str) -> dict:
        return {
            "error": {
                "code": status,
                "message": message,
                "status": _STATUS.get(status, "UNKNOWN"),
                "errors": [{"message": message, "domain": "global", "reason": code}],
            }
        }

    def _signed_by_service_account(self, jwt: str) -> bool:
        """An RS256 JWT signed by a registered service account's key (its `iss`), not expired."""
        try:
            header, claims, signature = jwt.split(".")
            payload = json.loads(_b64(claims))
            public = serialization.load_pem_public_key(self.service_accounts[payload["iss"]])
            public.verify(_b64(signature), f"{header}.{claims}".encode(), padding.PKCS1v15(), hashes.SHA256())
            return float(payload.get("exp", 0)) > dt.datetime.now(dt.UTC).timestamp()
        except Exception:
            return False

    def add_federated_subject(self, audience: str, subject_token: str) -> None:
        """Workload identity federation: a token of an outside identity provider (a Kubernetes
        ServiceAccount token...) that the pool `audience` trusts."""
        self.federated.add((audience, subject_token))

    def token(self, path: str, raw: bytes) -> Response | None:
        if path == "/v1/token":  # Security Token Service: exchange a federated token
            form = {k: v[-1] for k, v in urllib.parse.parse_qs(raw.decode()).items()}
            known = (form.get("audience", ""), form.get("subject_token", "")) in self.federated
            if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:token-exchange" or not known:
                return Response(
                    400, {"error": "invalid_grant", "error_description": "The subject token is not trusted."}
                )
            return Response(
                200,
                {
                    "access_token": self.issue_token(),
                    "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
                    "token_type": "Bearer",
                    "expires_in": 3600,
                },
            )
        if path != "/token":
            return None
        form = {k: v[-1] for k, v in urllib.parse.parse_qs(raw.decode()).items()}
        if not self._signed_by_service_account(form.get("assertion", "")):
            return Response(400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."})
        return Response(200, {"access_token": self.issue_token(), "expires_in": 3599, "token_type": "Bearer"})

    def accepts(self, token: str) -> bool:
        """An issued access token, or a self-signed JWT of a registered service account (what
        Google's client libraries send instead of an OAuth token, and Google accepts)."""
        return super().accepts(token) or (token.count(".") == 2 and self._signed_by_service_account(token))

    def route(self, method: str, path: str, query: dict[str, str], body: Any) -> Response:
        parts = [urllib.parse.unquote(p) for p in path.strip("/").split("/")]
        if parts == ["v1", "projects"]:
            projects = [
                {"projectId": p.project_id, "projectNumber": p.project_number,
                 "lifecycleState": "ACTIVE", "name": p.project_id}
                for p in sorted(self.projects.values(), key=lambda p: p.project_id)
            ]
            return self._list(path, query, projects, "projects")
        if len(parts) < 3 or parts[0] not in ("compute", "v1", "v3"):
            raise ApiError(404, "notFound", f"no route for {path}")
        project_id = parts[3] if parts[0] == "compute" else parts[2]
        project = self.projects.get(project_id)
        if project is None:
            raise ApiError(404, "notFound", f"The resource 'projects/{project_id}' was not found")
        if parts[0] == "compute":
            return self._compute(project, parts[4:], path, query)
        if parts[0] == "v3" and parts[3:] == ["timeSeries"]:
            return self._time_series(project, path, query)
        if parts[0] == "v1" and parts[3:] == ["instances"]:
            items = [project.sql_instances[n] for n in sorted(project.sql_instances)]
            return self._list(path, query, items, "items")
        raise ApiError(404, "notFound", f"no route for {path}")

    def _list(self, path: str, query: dict[str, str], items: list, key: str) -> Response:
        size = int(query.get("maxResults") or query.get("pageSize") or self.page_size)
        page, nxt = paged(items, int(query.get("pageToken") or 0), min(size, self.page_size))
        body: dict[str, Any] = {key: copy.deepcopy(page)} if page else {}
        if nxt is not None:
            body["nextPageToken"] = str(nxt)
        return Response(200, body)

    def _unreached(self, project: Project, scope: str) -> bool:
        where = scope.partition("/")[2]
        return any(where == u or where.startswith(f"{u}-") for u in project.unreachable)

    def _compute(self, project: Project, rest: list[str], path: str, query: dict[str, str]) -> Response:
        if len(rest) == 2 and rest[0] == "aggregated":
            return self._aggregated(project, rest[1], path, query)
        if len(rest) == 2 and rest[0] == "global":
            scope, collection = "global", rest[1]
        elif len(rest) == 3 and rest[0] in ("zones", "regions"):
            scope, collection = f"{rest[0]}/{rest[1]}", rest[2]
            if self._unreached(project, scope):
                raise ApiError(503, "backendError", f"{scope} is unavailable")
        else:
            raise ApiError(404, "notFound", f"no route for {path}")
        items = [b for _, b in sorted(project.resources.get(collection, {}).get(scope, {}).items())]
        resp = self._list(path, query, items, "items")
        resp.body["kind"] = f"compute#{collection[:-1] if collection.endswith('s') else collection}List"
        return resp

    def _aggregated(self, project: Project, collection: str, path: str, query: dict[str, str]) -> Response:
        partial = query.get("returnPartialSuccess", "").lower() == "true"
        scopes = project.resources.get(collection, {})
        unreachable = sorted(s for s in scopes if self._unreached(project, s))
        flat = [
            (scope, body)
            for scope in sorted(scopes)
            if scope not in unreachable
            for _, body in sorted(scopes[scope].items())
        ]
        size = min(int(query.get("maxResults") or self.page_size), self.page_size)
        start = int(query.get("pageToken") or 0)
        page, nxt = paged(flat, start, size)
        items: dict[str, Any] = {}
        for scope, body in page:
            items.setdefault(scope, {collection: []})[collection].append(copy.deepcopy(body))
        for scope in unreachable:
            items[scope] = {
                "warning": {
                    "code": "UNREACHABLE",
                    "message": f"Scope {scope} is unreachable.",
                    "data": [{"key": "scope", "value": scope}],
                }
            }
        body: dict[str, Any] = {"kind": f"compute#{collection}AggregatedList", "items": items}
        if unreachable and partial:
            body["unreachables"] = unreachable
        if nxt is not None:
            body["nextPageToken"] = str(nxt)
        return Response(200, body)

    def _time_series(self, project: Project, path: str, query: dict[str, str]) -> Response:
        m = _METRIC_TYPE.search(query.get("filter", ""))
        if m is None:
            raise ApiError(400, "badRequest", 'filter must name a metric.type ("metric.type = \\"...\\"")')
        period = query.get("aggregation.alignmentPeriod", "86400s")
        if period not in ("86400s", "3600s"):
            raise ApiError(400, "badRequest", "the local endpoint serves daily (86400s) and hourly (3600s) alignment only")
        start = _parse_time(query["interval.startTime"])
        end = _parse_time(query["interval.endTime"])
        # the estate holds one value a day; hourly, it is the day's first hour (Google leaves out
        # the intervals without data)
        width = dt.timedelta(days=1) if period == "86400s" else dt.timedelta(hours=1)
        series = []
        asked = query.get("aggregation.perSeriesAligner")
        for resource_type, labels, daily, aligner in self.metrics.get((project.project_id, m.group(1)), []):
            if aligner is not None and aligner != asked:
                continue
            points = [
                {
                    "interval": {
                        "startTime": f"{day.isoformat()}T00:00:00Z",
                        "endTime": (dt.datetime.combine(day, dt.time(), dt.UTC) + width).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    },
                    "value": {"doubleValue": value},
                }
                for day, value in sorted(daily.items(), reverse=True)  # newest first, like Google
                if start.date() <= day < end.date() + dt.timedelta(days=1)
                and dt.datetime.combine(day, dt.time(), dt.UTC) < end
                and dt.datetime.combine(day, dt.time(), dt.UTC) >= start - dt.timedelta(days=1)
            ]
            if points:
                series.append(
                    {
                        "metric": {"type": m.group(1), "labels": {}},
                        "resource": {"type": resource_type, "labels": dict(labels)},
                        "metricKind": "GAUGE",
                        "valueType": "DOUBLE",
                        "points": points,
                    }
                )
        return self._list(path, query, series, "timeSeries")


def _parse_time(text: str) -> dt.datetime:
    value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
