"""A local token issuer, for running the services with authentication on: an RSA key, its JWKS
in a file the services read (CLOUDWASTE_AUTH_ISSUERS with a file:/// jwks_uri), and signed
tokens as an identity provider or Kubernetes would issue them."""

from __future__ import annotations

import json
import time
from pathlib import Path

import jwt
from cloudwaste.core.settings import AuthSettings, Issuer
from cryptography.hazmat.primitives.asymmetric import rsa

ISSUER = "https://issuer.cloudwaste.test/"


class LocalIssuer:
    def __init__(self, folder: Path, issuer: str = ISSUER, audience: str = "cloudwaste") -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder, self.issuer, self.audience = folder, issuer, audience
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self._key.public_key()))
        self.jwks_path = folder / "jwks.json"
        self.jwks_path.write_text(
            json.dumps({"keys": [{**jwk, "kid": "local-1", "alg": "RS256", "use": "sig"}]})
        )

    def settings(self, operator_subjects: tuple[str, ...] = ()) -> AuthSettings:
        issuer = Issuer(self.issuer, self.jwks_path.as_uri(), operator_subjects=frozenset(operator_subjects))
        return AuthSettings(mode="jwt", issuers=(issuer,), audience=self.audience)

    def token(
        self, subject: str, tenant: str | None = None, roles: tuple[str, ...] = (), ttl: float = 600, **claims
    ) -> str:
        now = int(time.time())
        body = {"iss": self.issuer, "aud": self.audience, "sub": subject, "iat": now, "exp": now + int(ttl)}
        if tenant is not None:
            body["tenant_id"] = tenant
        if roles:
            body["roles"] = list(roles)
        return jwt.encode(body | claims, self._key, algorithm="RS256", headers={"kid": "local-1"})

    def token_file(self, name: str, subject: str, **kwargs) -> Path:
        """A token in a file, as the kubelet projects a ServiceAccount's."""
        path = self.folder / name
        path.write_text(self.token(subject, **kwargs))
        return path
