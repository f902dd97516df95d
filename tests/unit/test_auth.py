"""Bearer tokens verified as an attacker would try them, and who may call which RPC."""

from __future__ import annotations

import json
import time
from pathlib import Path

import jwt
import pytest
from cloudwaste.core import auth
from cloudwaste.core.auth import Principal, TokenVerifier, Unauthenticated
from cloudwaste.core.errors import PermissionDenied
from cloudwaste.core.settings import AuthSettings, Issuer, SettingsError
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

ISSUER = "https://idp.example.test/"
SERVICE_ACCOUNT = "system:serviceaccount:cloudwaste:cloudwaste-scanner"


class Keys:
    """An issuer's signing keys and the JWKS file the services read its public keys from."""

    def __init__(self, path: Path) -> None:
        self.path, self.keys = path, {}
        self.add("k1")

    def add(self, kid: str, key=None) -> None:
        self.keys[kid] = key or rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwks = []
        for k, private in self.keys.items():
            if isinstance(private, rsa.RSAPrivateKey):
                jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key()))
                jwk["alg"] = "RS256"
            else:
                jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(private.public_key()))
                jwk["alg"] = "ES256"
            jwks.append({**jwk, "kid": k, "use": "sig"})
        self.path.write_text(json.dumps({"keys": jwks}))

    def token(self, kid: str = "k1", alg: str = "RS256", **claims) -> str:
        now = int(time.time())
        body = {"iss": ISSUER, "aud": "cloudwaste", "sub": "user-1", "iat": now, "exp": now + 600} | claims
        body = {k: v for k, v in body.items() if v is not None}
        return jwt.encode(body, self.keys[kid], algorithm=alg, headers={"kid": kid})


@pytest.fixture
def keys(tmp_path) -> Keys:
    return Keys(tmp_path / "jwks.json")


@pytest.fixture
def settings(keys) -> AuthSettings:
    return AuthSettings(
        mode="jwt",
        issuers=(Issuer(ISSUER, keys.path.as_uri(), operator_subjects=frozenset({SERVICE_ACCOUNT})),),
    )


@pytest.fixture
def verifier(settings) -> TokenVerifier:
    return TokenVerifier(settings, cooldown_seconds=0)


def principal(verifier, token: str) -> Principal:
    return verifier.principal([("authorization", f"Bearer {token}")])


def test_a_tenants_token_acts_for_that_tenant_only(keys, verifier):
    p = principal(verifier, keys.token(tenant_id="acme"))
    assert p == Principal("user-1", "acme", operator=False)
    assert p.tenant_scope == "acme"


def test_the_operator_role_or_an_operator_service_account_sees_every_tenant(keys, verifier):
    assert principal(verifier, keys.token(roles=["cloudwaste-operator"])).tenant_scope is None
    assert principal(verifier, keys.token(roles="viewer cloudwaste-operator")).operator
    assert principal(verifier, keys.token(sub=SERVICE_ACCOUNT)).operator
    assert not principal(verifier, keys.token(roles=["viewer"], tenant_id="acme")).operator


@pytest.mark.parametrize(
    ("claims", "says"),
    [
        ({"exp": int(time.time()) - 3600}, "expired"),
        ({"aud": "another-service"}, "audience"),
        ({"aud": None}, "no aud claim"),
        ({"exp": None}, "no exp claim"),
        ({"sub": None}, "no sub claim"),
        ({"iss": "https://evil.example.test/"}, "issuer"),
        ({"nbf": int(time.time()) + 3600}, "not valid yet"),
        ({"tenant_id": ["acme", "globex"]}, "not a tenant id"),
        ({"tenant_id": "x" * 129}, "not a tenant id"),
    ],
)
def test_a_token_with_a_bad_claim_is_refused_and_says_which(keys, verifier, claims, says):
    with pytest.raises(Unauthenticated, match=says):
        principal(verifier, keys.token(**claims))


def test_forged_tokens_are_refused(keys, verifier):
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    good = keys.token(tenant_id="acme")
    header = good.split(".")[0]
    forged = jwt.encode(
        {"iss": ISSUER, "aud": "cloudwaste", "sub": "x", "exp": 2**31}, other, "RS256", headers={"kid": "k1"}
    )
    with pytest.raises(Unauthenticated, match="signature"):
        principal(verifier, forged)
    # the payload of another token under a valid signature
    swapped = jwt.encode(
        {"iss": ISSUER, "aud": "cloudwaste", "sub": "x", "exp": 2**31, "roles": ["cloudwaste-operator"]},
        other,
        "RS256",
    )
    with pytest.raises(Unauthenticated, match="signature"):
        principal(verifier, f"{header}.{swapped.split('.')[1]}.{good.split('.')[2]}")
    # alg "none" and HS256 keyed with the public key (algorithm confusion)
    unsigned = jwt.encode(
        {"iss": ISSUER, "aud": "cloudwaste", "sub": "x", "exp": 2**31},
        None,
        algorithm="none",
        headers={"kid": "k1"},
    )
    with pytest.raises(Unauthenticated):
        principal(verifier, unsigned)
    public_pem = (
        keys.keys["k1"]
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    import base64
    import hashlib
    import hmac

    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    head = b64(json.dumps({"alg": "HS256", "kid": "k1", "typ": "JWT"}).encode())
    body = b64(
        json.dumps(
            {"iss": ISSUER, "aud": "cloudwaste", "sub": "x", "exp": 2**31, "roles": ["cloudwaste-operator"]}
        ).encode()
    )
    mac = b64(hmac.new(public_pem, f"{head}.{body}".encode(), hashlib.sha256).digest())
    with pytest.raises(Unauthenticated):
        principal(verifier, f"{head}.{body}.{mac}")


@pytest.mark.parametrize(
    ("metadata", "says"),
    [
        ([], "no bearer token"),
        ([("authorization", "Basic dXNlcjpwdw==")], "Bearer <token>"),
        ([("authorization", "Bearer ")], "Bearer <token>"),
        ([("authorization", "Bearer not-a-jwt")], "not a JWT"),
    ],
)
def test_a_missing_or_malformed_header_is_unauthenticated(verifier, metadata, says):
    with pytest.raises(Unauthenticated, match=says):
        verifier.principal(metadata)


def test_a_rotated_key_is_fetched_when_a_token_names_it(keys, verifier):
    assert principal(verifier, keys.token(tenant_id="acme")).tenant == "acme"  # keys cached now
    keys.add("k2", ec.generate_private_key(ec.SECP256R1()))
    assert principal(verifier, keys.token(kid="k2", alg="ES256", tenant_id="acme")).tenant == "acme"
    with pytest.raises(Unauthenticated, match="kid"):
        principal(verifier, _with_kid(keys, "k9"))


def _with_kid(keys: Keys, kid: str) -> str:
    return jwt.encode(
        {"iss": ISSUER, "aud": "cloudwaste", "sub": "x", "exp": 2**31},
        keys.keys["k1"],
        "RS256",
        headers={"kid": kid},
    )


def test_unreachable_keys_are_unavailable_not_unauthenticated(tmp_path):
    from cloudwaste.core.errors import Unavailable

    missing = AuthSettings(mode="jwt", issuers=(Issuer(ISSUER, (tmp_path / "none.json").as_uri()),))
    keys = Keys(tmp_path / "elsewhere.json")
    with pytest.raises(Unavailable, match="JWKS"):
        principal(TokenVerifier(missing), keys.token())


SCANNER = "cloudwaste.scanner.v1.ScannerService/"


def test_who_may_call_what():
    tenant, operator = Principal("u", "acme"), Principal("op", None, operator=True)
    nobody = Principal("svc-without-tenant")
    auth.authorize(SCANNER + "ListFindings", tenant)
    auth.authorize("cloudwaste.predictor.v1.PredictorService/PredictWaste", nobody)
    auth.authorize("cloudwaste.exporter.v1.ExporterService/ExportDataset", operator)
    with pytest.raises(PermissionDenied, match="tenant claim"):
        auth.authorize(SCANNER + "ListFindings", nobody)
    for method in (
        "cloudwaste.exporter.v1.ExporterService/ExportDataset",
        "cloudwaste.predictor.v1.PredictorService/TrainModels",
        "cloudwaste.predictor.v1.PredictorService/SetModelVersionRole",
        "cloudwaste.enricher.v1.EnricherService/EnrichScanRun",
        SCANNER + "ListErasures",
        "cloudwaste.scanner.v1.ScannerService/SomethingAddedLater",
    ):
        with pytest.raises(PermissionDenied, match="operators only"):
            auth.authorize(method, tenant)
    assert auth.access("grpc.health.v1.Health/Check") == auth.PUBLIC


def test_every_rpc_of_the_four_services_has_a_stated_access():
    """ACCESS names only RPCs that exist (a typo would leave one operator-only silently), and
    every RPC is in it or operators' only."""
    from cloudwaste.enricher.v1 import enricher_service_pb2
    from cloudwaste.exporter.v1 import exporter_service_pb2
    from cloudwaste.predictor.v1 import open_inference_pb2, predictor_service_pb2
    from cloudwaste.scanner.v1 import scanner_service_pb2

    methods = {
        f"{service.full_name}/{m.name}"
        for module in (
            scanner_service_pb2,
            enricher_service_pb2,
            exporter_service_pb2,
            predictor_service_pb2,
            open_inference_pb2,
        )
        for service in module.DESCRIPTOR.services_by_name.values()
        for m in service.methods
    }
    assert set(auth.ACCESS) <= methods
    assert len(methods) == 40
    opened = {m for m, level in auth.ACCESS.items() if level != auth.OPERATOR}
    assert {m for m in methods if auth.access(m) != auth.OPERATOR} == opened


def test_check_tenant_fills_in_the_callers_tenant_and_refuses_another():
    acme = Principal("u", "acme")
    assert auth.check_tenant("tenant_id", "", acme) == "acme"
    assert auth.check_tenant("tenant_id", " acme ", acme) == "acme"
    with pytest.raises(PermissionDenied, match="tenant_id"):
        auth.check_tenant("tenant_id", "globex", acme)
    assert auth.check_tenant("tenant_id", "globex", Principal("op", "acme", operator=True)) == "globex"


def test_authentication_is_on_unless_turned_off_and_its_settings_say_what_is_wrong():
    with pytest.raises(SettingsError, match="CLOUDWASTE_AUTH_ISSUERS is required"):
        AuthSettings.from_env({})
    with pytest.raises(SettingsError, match="JSON list"):
        AuthSettings.from_env({"CLOUDWASTE_AUTH_ISSUERS": "https://idp"})
    with pytest.raises(SettingsError, match="jwks_uri"):
        AuthSettings.from_env({"CLOUDWASTE_AUTH_ISSUERS": '[{"issuer": "a", "jwks_uri": "ftp://x"}]'})
    with pytest.raises(SettingsError, match="jwt or none"):
        AuthSettings.from_env({"CLOUDWASTE_AUTH_MODE": "basic"})
    listed = [{"issuer": ISSUER, "jwks_uri": "https://idp/jwks", "operator_subjects": [SERVICE_ACCOUNT]}]
    s = AuthSettings.from_env({"CLOUDWASTE_AUTH_ISSUERS": json.dumps(listed)})
    assert s.mode == "jwt" and s.issuers[0].issuer == ISSUER
    assert s.issuers[0].operator_subjects == {SERVICE_ACCOUNT} and not s.issuers[0].only_operator_subjects
    with pytest.raises(SettingsError, match="https:// or file:///"):  # keys over a network: TLS
        AuthSettings.from_env(
            {"CLOUDWASTE_AUTH_ISSUERS": '[{"issuer": "a", "jwks_uri": "http://idp.example/jwks"}]'}
        )
    with pytest.raises(SettingsError, match="https:// or file:///"):
        AuthSettings.from_env(
            {"CLOUDWASTE_AUTH_ISSUERS": '[{"issuer": "a", "jwks_uri": "http://localhost.evil.example/k"}]'}
        )
    assert AuthSettings.from_env(
        {"CLOUDWASTE_AUTH_ISSUERS": '[{"issuer": "a", "jwks_uri": "http://127.0.0.1:8080/k"}]'}
    )
    assert AuthSettings.from_env({"CLOUDWASTE_AUTH_MODE": "none"}).mode == "none"


def test_an_operator_subject_counts_for_its_own_issuer_only(keys, tmp_path):
    """A user of another identity provider whose sub happens to read like the scanner's
    ServiceAccount is nobody special; the cluster's issuer may be limited to the listed subjects."""
    cluster = Keys(tmp_path / "cluster.json")
    kube = Issuer(
        "https://kubernetes.default.svc",
        cluster.path.as_uri(),
        operator_subjects=frozenset({SERVICE_ACCOUNT}),
        only_operator_subjects=True,
    )
    verifier = TokenVerifier(
        AuthSettings(mode="jwt", issuers=(Issuer(ISSUER, keys.path.as_uri()), kube)), cooldown_seconds=0
    )
    assert not principal(verifier, keys.token(sub=SERVICE_ACCOUNT)).operator
    assert principal(verifier, cluster.token(iss=kube.issuer, sub=SERVICE_ACCOUNT)).operator
    with pytest.raises(Unauthenticated, match="listed subjects only"):  # any other pod of the cluster
        principal(verifier, cluster.token(iss=kube.issuer, sub="system:serviceaccount:default:default"))


def test_a_caller_with_listed_calls_makes_those_and_nothing_else(keys, tmp_path):
    """The export CronJob's ServiceAccount may export, across tenants, and that is all: not erase a
    tenant, not delete an account, not switch the serving model. Health checks stay open to it."""
    cluster = Keys(tmp_path / "cluster.json")
    export = "cloudwaste.exporter.v1.ExporterService/ExportDataset"
    kube = Issuer(
        "https://kubernetes.default.svc",
        cluster.path.as_uri(),
        only_operator_subjects=True,
        subject_methods={SERVICE_ACCOUNT: frozenset({export})},
    )
    verifier = TokenVerifier(AuthSettings(mode="jwt", issuers=(kube,)), cooldown_seconds=0)
    caller = principal(verifier, cluster.token(iss=kube.issuer, sub=SERVICE_ACCOUNT))
    assert caller.operator and caller.methods == {export}
    auth.authorize(export, caller)
    auth.authorize("grpc.health.v1.Health/Check", caller)
    for method in (
        "cloudwaste.scanner.v1.ScannerService/EraseTenantData",
        "cloudwaste.scanner.v1.ScannerService/DeleteCloudAccount",
        "cloudwaste.predictor.v1.PredictorService/SetModelVersionRole",
        "cloudwaste.predictor.v1.PredictorService/PredictWaste",  # open to any caller, but not listed
    ):
        with pytest.raises(PermissionDenied, match="not among the calls this caller may make"):
            auth.authorize(method, caller)
    listed = [{"issuer": ISSUER, "jwks_uri": "https://idp/jwks", "subject_methods": {SERVICE_ACCOUNT: [export]}}]
    s = AuthSettings.from_env({"CLOUDWASTE_AUTH_ISSUERS": json.dumps(listed)})
    assert s.issuers[0].subject_methods == {SERVICE_ACCOUNT: {export}}
    for bad in (["ExportDataset"], []):
        listed[0]["subject_methods"] = {SERVICE_ACCOUNT: bad}
        with pytest.raises(SettingsError, match=r"package\.Service/Method"):
            AuthSettings.from_env({"CLOUDWASTE_AUTH_ISSUERS": json.dumps(listed)})


def test_made_up_key_ids_cannot_make_the_services_hammer_the_issuer(keys, settings):
    """A token with a key id never seen reads the keys again at most once per cooldown, and a
    caller with a known key never waits for that read."""
    verifier = TokenVerifier(settings, cooldown_seconds=60)
    assert principal(verifier, keys.token(tenant_id="acme")).tenant == "acme"
    (keyset,) = verifier._keys.values()
    assert keyset.reads == 1
    for i in range(20):
        with pytest.raises(Unauthenticated, match="kid"):
            principal(verifier, _with_kid(keys, f"made-up-{i}"))
    assert keyset.reads == 1  # read a moment ago: the cooldown holds
    keyset._tried_at -= 61  # a minute later
    for i in range(20):
        with pytest.raises(Unauthenticated, match="kid"):
            principal(verifier, _with_kid(keys, f"later-{i}"))
    assert keyset.reads == 2  # one read for the first unknown id, then the cooldown again
    assert principal(verifier, keys.token(tenant_id="acme")).tenant == "acme"
