"""Which azure-identity credential the scanner builds for real Azure (no local endpoint): a client
secret, a PEM certificate with its key, or workload identity when the account names no secret.
Tokens are not asked for: no Entra ID answers here (the local endpoint's own credential is used by
the integration tests)."""

from __future__ import annotations

import datetime as dt

import pytest
from azure.identity import CertificateCredential, ClientSecretCredential, WorkloadIdentityCredential
from cloudwaste.core.errors import FailedPrecondition
from cloudwaste.scanner.providers.azure import _sdk_credential
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

DIRECTORY = "11111111-1111-1111-1111-111111111111"
CLIENT = "22222222-2222-2222-2222-222222222222"


def _certificate_pem() -> str:
    """A self-signed certificate and its key, one PEM, as `az ad sp create-for-rbac --create-cert` writes."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cloudwaste-reader")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return (key_pem + cert.public_bytes(serialization.Encoding.PEM)).decode()


def test_a_client_secret_makes_a_client_secret_credential():
    credential = _sdk_credential(DIRECTORY, CLIENT, "s3cr3t~value")
    assert isinstance(credential, ClientSecretCredential)


def test_a_pem_certificate_makes_a_certificate_credential():
    credential = _sdk_credential(DIRECTORY, CLIENT, _certificate_pem())
    assert isinstance(credential, CertificateCredential)


def test_a_pem_that_is_not_a_certificate_with_its_key_is_refused():
    with pytest.raises(FailedPrecondition, match="not a PEM certificate with its private key"):
        _sdk_credential(
            DIRECTORY, CLIENT, "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n"
        )


def test_no_secret_uses_the_pods_federated_token(monkeypatch, tmp_path):
    token = tmp_path / "azure-identity-token"
    token.write_text("eyJhbGciOiJSUzI1NiJ9.e30.c2ln")
    # what the AKS workload identity webhook injects into a labelled pod
    monkeypatch.setenv("AZURE_FEDERATED_TOKEN_FILE", str(token))
    monkeypatch.setenv("AZURE_AUTHORITY_HOST", "https://login.microsoftonline.com/")
    assert isinstance(_sdk_credential(DIRECTORY, CLIENT, ""), WorkloadIdentityCredential)


def test_no_secret_and_no_workload_identity_says_so(monkeypatch):
    monkeypatch.delenv("AZURE_FEDERATED_TOKEN_FILE", raising=False)
    with pytest.raises(FailedPrecondition, match="no credential_secret and no workload identity"):
        _sdk_credential(DIRECTORY, CLIENT, "")
