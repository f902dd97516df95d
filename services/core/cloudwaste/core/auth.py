"""Who is calling, and what each RPC lets them do.

Callers send an OIDC/JWT bearer token (`authorization: Bearer <token>`): the main application with
its users' tokens, an operator with grpcurl, a CronJob or another CloudWaste service with its
Kubernetes ServiceAccount token. `TokenVerifier` checks it against the keys (JWKS) of the issuers
the settings trust, with PyJWT, and turns its claims into a `Principal`:

- `tenant`: the tenant the caller acts for (the claim named by CLOUDWASTE_AUTH_TENANT_CLAIM);
- `operator`: the operator role (in the roles claim) or an operator subject (a ServiceAccount):
  sees every tenant and may run exports, purges, training and model changes.

`ACCESS` says, for every RPC of the four services, who may call it; an RPC missing from it is for
operators only. The server's interceptor authenticates each call, checks `ACCESS`, and makes the
caller `current()` while the servicer runs; servicers pass `current().tenant_scope` to their
stores, which then see only that tenant's rows. With CLOUDWASTE_AUTH_MODE=none (the local demo and
tests) every caller is the operator.

No gRPC here: the interceptor (cloudwaste.core.server) hands in the method name and the metadata.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from cloudwaste.core.errors import CloudWasteError, PermissionDenied, Unavailable
from cloudwaste.core.settings import AuthSettings, Issuer

log = logging.getLogger(__name__)


class Unauthenticated(CloudWasteError):
    code = "UNAUTHENTICATED"


@dataclass(frozen=True)
class Principal:
    subject: str
    tenant: str | None = None  # the tenant the caller acts for; None: no tenant claim
    operator: bool = False
    # the only calls it may make ("package.Service/Method"); None: whatever its role allows
    methods: frozenset[str] | None = None

    @property
    def tenant_scope(self) -> str | None:
        """The tenant whose rows the caller may see, or None for all of them (an operator)."""
        return None if self.operator else self.tenant


LOCAL = Principal("local", None, operator=True)  # every caller when authentication is off

_current: contextvars.ContextVar[Principal] = contextvars.ContextVar("cloudwaste_principal", default=LOCAL)


def current() -> Principal:
    """The caller of the RPC being handled (LOCAL outside an RPC, or with authentication off)."""
    return _current.get()


def acting_as(principal: Principal) -> contextvars.Token:
    return _current.set(principal)


def done(token: contextvars.Token) -> None:
    try:
        _current.reset(token)
    except ValueError:  # a stream closed from another thread: every call sets its own caller anyway
        pass


# --- who may call what ------------------------------------------------------------------------
PUBLIC = "public"  # no token: health checks (kubelet probes send none) and reflection (the schema)
CALLER = "caller"  # any authenticated caller: predictions hold no tenant's data
TENANT = "tenant"  # a caller with a tenant claim (sees only its tenant's rows) or an operator
OPERATOR = "operator"

_SCANNER = "cloudwaste.scanner.v1.ScannerService/"
_PREDICTOR = "cloudwaste.predictor.v1.PredictorService/"
ACCESS: dict[str, str] = {
    **{
        _SCANNER + m: TENANT
        for m in (
            "CreateCloudAccount",
            "GetCloudAccount",
            "ListCloudAccounts",
            "UpdateCloudAccount",
            "DeleteCloudAccount",
            "EraseTenantData",
            "StartScan",
            "GetScanRun",
            "ListScanRuns",
            "GetFinding",
            "ListFindings",
            "SetFindingState",
        )
    },
    # erasure records hold no tenant id (only hashes), so only operators read them back
    _SCANNER + "GetErasure": OPERATOR,
    _SCANNER + "ListErasures": OPERATOR,
    **{
        _PREDICTOR + m: CALLER
        for m in (
            "PredictWaste",
            "PredictWasteBatch",
            "ScoreAnomalies",
            "StreamAnomalyScores",
            "ForecastCost",
            "ListModelVersions",
            "GetShadowEvaluation",
        )
    },
    # the Open Inference Protocol (KServe v2) face of the predictor: predictions as well
    **{
        f"inference.GRPCInferenceService/{m}": CALLER
        for m in ("ServerLive", "ServerReady", "ServerMetadata", "ModelReady", "ModelMetadata", "ModelInfer")
    },
    # the enricher, the exporter (datasets of every tenant) and training are operators' business
}
_PUBLIC_SERVICES = (
    "grpc.health.v1.Health/",
    "grpc.reflection.v1alpha.ServerReflection/",
    "grpc.reflection.v1.ServerReflection/",
)


def access(method: str) -> str:
    """Who may call `method` ("package.Service/Method"); operators only unless listed."""
    if method.startswith(_PUBLIC_SERVICES):
        return PUBLIC
    return ACCESS.get(method, OPERATOR)


def authorize(method: str, principal: Principal) -> None:
    level = access(method)
    if level == PUBLIC:
        return
    if principal.methods is not None and method not in principal.methods:
        raise PermissionDenied(f"{method.rsplit('/', 1)[-1]} is not among the calls this caller may make")
    if level == CALLER or principal.operator:
        return
    if level == TENANT and principal.tenant:
        return
    if level == TENANT:
        raise PermissionDenied(
            f"{method.rsplit('/', 1)[-1]} needs a token with a tenant claim or the operator role"
        )
    raise PermissionDenied(f"{method.rsplit('/', 1)[-1]} is for operators only")


def check_tenant(field_name: str, given: str, principal: Principal) -> str:
    """The tenant a request names, for a caller that may act for it: its own tenant when the
    request names none; PermissionDenied when it names another."""
    given = given.strip()
    scope = principal.tenant_scope
    if scope is None:
        return given
    if given and given != scope:
        raise PermissionDenied(f"{field_name}: names a tenant other than the token's")
    return scope


# --- tokens -----------------------------------------------------------------------------------
_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")


class TokenVerifier:
    """Verifies bearer tokens against the trusted issuers' JWKS (fetched once, again every
    `refresh_seconds`, and at once for a key id not seen yet: keys rotate). Only asymmetric
    algorithms: a token signed with a shared secret or not at all is refused."""

    def __init__(
        self, settings: AuthSettings, refresh_seconds: float = 300.0, cooldown_seconds: float = 10.0
    ) -> None:
        self.settings = settings
        self._keys = {i.issuer: KeySet(i, refresh_seconds, cooldown_seconds) for i in settings.issuers}

    def principal(self, metadata: Iterable[tuple[str, str | bytes]]) -> Principal:
        token = bearer(metadata)
        claims = self.verify(token)
        return self.to_principal(claims)

    def _issuer(self, name: str) -> Issuer:
        return next(i for i in self.settings.issuers if i.issuer == name)

    def verify(self, token: str) -> dict:
        import jwt

        try:
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise Unauthenticated("the bearer token is not a JWT") from None
        issuer = unverified.get("iss")
        keys = self._keys.get(issuer) if isinstance(issuer, str) else None
        if keys is None:
            raise Unauthenticated("the token's issuer (iss) is not trusted by this service")
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.PyJWTError:
            raise Unauthenticated("the bearer token is not a JWT") from None
        key = keys.key(kid if isinstance(kid, str) else None)
        algorithm = key.algorithm_name
        if algorithm not in _ALGORITHMS:
            raise Unauthenticated(f"tokens signed with {algorithm} are not accepted")
        try:
            return jwt.decode(
                token,
                key.key,
                algorithms=[algorithm],
                audience=self.settings.audience,
                issuer=issuer,
                leeway=self.settings.leeway_seconds,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("the token has expired") from None
        except jwt.InvalidAudienceError:
            raise Unauthenticated(f"the token is not for this audience ({self.settings.audience})") from None
        except jwt.MissingRequiredClaimError as exc:
            raise Unauthenticated(f"the token has no {exc.claim} claim") from None
        except jwt.ImmatureSignatureError:
            raise Unauthenticated("the token is not valid yet (nbf/iat)") from None
        except jwt.PyJWTError:
            raise Unauthenticated("the token's signature does not verify") from None

    def to_principal(self, claims: Mapping) -> Principal:
        s = self.settings
        subject = str(claims.get("sub", ""))[:256]
        roles = claims.get(s.roles_claim) or []
        if isinstance(roles, str):
            roles = roles.split()
        issuer = self._issuer(claims["iss"])
        methods = issuer.subject_methods.get(subject)
        listed = subject in issuer.operator_subjects or methods is not None
        if issuer.only_operator_subjects and not listed:
            raise Unauthenticated("this issuer's tokens are accepted from the listed subjects only")
        operator = s.operator_role in roles or listed
        tenant = claims.get(s.tenant_claim)
        if tenant is not None and (not isinstance(tenant, str) or not 0 < len(tenant) <= 128):
            raise Unauthenticated(f"the token's {s.tenant_claim} claim is not a tenant id")
        return Principal(subject, tenant or None, operator, methods)


class KeySet:
    """One issuer's public keys (its JWKS), read from https:// or file:/// and kept for
    `refresh_seconds`; a key id not among them reads them again (keys rotate), at most once per
    `cooldown_seconds` whatever the outcome, so that tokens with made-up key ids cannot hammer the
    issuer. One read at a time, outside the lock: calls with a known key never wait for a read
    (only the very first one does). With `token_file`, each read sends the token as it is then (the
    kubelet rotates it)."""

    def __init__(
        self, issuer: Issuer, refresh_seconds: float = 300.0, cooldown_seconds: float = 10.0
    ) -> None:
        import ssl

        self.issuer, self.refresh, self.cooldown = issuer, refresh_seconds, cooldown_seconds
        self._token = TokenFile(issuer.token_file) if issuer.token_file else None
        self._context = ssl.create_default_context(cafile=issuer.ca_file) if issuer.ca_file else None
        self._keys: dict[str, object] = {}
        self._read_at = float("-inf")  # the last successful read
        self._tried_at = float("-inf")  # the last attempt, successful or not
        self._reading = threading.Event()  # set while no read is in flight
        self._reading.set()
        self._lock = threading.Lock()
        self.reads = 0  # attempts, for tests and logs

    def key(self, kid: str | None):
        with self._lock:
            now = time.monotonic()
            stale = now - self._read_at > self.refresh
            unknown = kid not in self._keys and now - self._tried_at > self.cooldown
            mine = (
                (stale or unknown)
                and self._reading.is_set()
                and now - self._tried_at > min(self.cooldown, 1.0)
            )
            if mine:
                self._reading.clear()
                self._tried_at = now
            first = not self._keys
        if mine:
            try:
                keys = self._read()
                with self._lock:
                    self._keys, self._read_at = keys, time.monotonic()
            finally:
                with self._lock:
                    self._tried_at = time.monotonic()
                self._reading.set()
        elif first:  # nothing to serve yet: wait for the read in flight, if any
            self._reading.wait(15)
        keys = self._keys
        if not keys:
            raise Unavailable("the token issuer's keys (JWKS) cannot be read; retry later")
        if kid is None and len(keys) == 1:
            return next(iter(keys.values()))
        found = keys.get(kid)
        if found is None:
            raise Unauthenticated("the token's signing key (kid) is not among the issuer's keys")
        return found

    def _read(self) -> dict[str, object]:
        import jwt

        self.reads += 1
        uri = self.issuer.jwks_uri
        try:
            if uri.startswith("file://"):
                with open(urllib.parse.unquote(urllib.parse.urlparse(uri).path), encoding="utf-8") as f:
                    body = json.load(f)
            else:
                headers = {"Accept": "application/json"}
                if self._token is not None:
                    headers["Authorization"] = f"Bearer {self._token.token()}"
                request = urllib.request.Request(uri, headers=headers)  # noqa: S310 (scheme checked at start)
                # no redirects: the token must not follow one to another host
                opener = urllib.request.build_opener(
                    _NoRedirect(), urllib.request.HTTPSHandler(context=self._context)
                )
                with opener.open(request, timeout=10) as resp:
                    body = json.load(resp)
            keys = jwt.PyJWKSet.from_dict(body).keys
        except (OSError, ValueError, jwt.PyJWTError) as exc:
            if self._keys:  # keep serving with the keys read before: a blip of the issuer is no outage
                log.warning(
                    "JWKS not read again; keeping the previous keys",
                    extra={"issuer": self.issuer.issuer, "error": str(exc)[:200]},
                )
                return self._keys
            raise Unavailable("the token issuer's keys (JWKS) cannot be read; retry later") from None
        return {k.key_id: k for k in keys}


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # the redirect is an error (HTTPError), never followed


def bearer(metadata: Iterable[tuple[str, str | bytes]]) -> str:
    for key, value in metadata:
        if key == "authorization":
            value = value.decode("latin-1") if isinstance(value, bytes) else value
            scheme, _, token = value.strip().partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise Unauthenticated('the authorization metadata must be "Bearer <token>"')
            return token.strip()
    raise Unauthenticated('no bearer token: send the metadata "authorization: Bearer <token>"')


class Authenticator:
    """The interceptor's half of it: a call's principal from its method and metadata."""

    def __init__(self, settings: AuthSettings) -> None:
        self.settings = settings
        self.verifier = TokenVerifier(settings) if settings.mode == "jwt" else None

    def authenticate(self, method: str, metadata: Iterable[tuple[str, str | bytes]]) -> Principal:
        if self.verifier is None:
            return LOCAL
        if access(method) == PUBLIC:
            return Principal("anonymous")
        principal = self.verifier.principal(metadata)
        authorize(method, principal)
        return principal


class TokenFile:
    """The token a service sends to another one, read from a file that the kubelet rotates
    (a projected ServiceAccount token): read again whenever the file changes."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._cached: tuple[float, str] = (-1.0, "")
        self._lock = threading.Lock()

    def token(self) -> str:
        with self._lock:
            try:
                mtime = os.stat(self.path).st_mtime
                if mtime != self._cached[0]:
                    with open(self.path, encoding="utf-8") as f:
                        self._cached = (mtime, f.read().strip())
            except OSError as exc:
                raise Unavailable(
                    f"this service's token (CLOUDWASTE_AUTH_TOKEN_FILE) cannot be read: {exc.strerror}"
                ) from None
            return self._cached[1]
