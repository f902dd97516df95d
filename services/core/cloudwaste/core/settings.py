"""Typed settings shared by every service, and the helpers each service's settings.py uses.

Each service has its own settings object (cloudwaste.<service>.settings), built once from the
environment at start and passed down.

Every variable is prefixed CLOUDWASTE_. A bad value fails at start with the variable's name.
"""

from __future__ import annotations

import dataclasses
import json
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field


class SettingsError(ValueError):
    pass


def env_str(env: Mapping[str, str], name: str, default: str | None = None) -> str:
    value = env.get(f"CLOUDWASTE_{name}")
    if value is None or value == "":
        if default is None:
            raise SettingsError(f"CLOUDWASTE_{name} is required")
        return default
    return value


def env_int(env: Mapping[str, str], name: str, default: int, lo: int = 0, hi: int = 1 << 31) -> int:
    raw = env_str(env, name, str(default))
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"CLOUDWASTE_{name}={raw!r} is not an integer") from None
    if not lo <= value <= hi:
        raise SettingsError(f"CLOUDWASTE_{name}={value} must be between {lo} and {hi}")
    return value


def env_float(
    env: Mapping[str, str], name: str, default: float, lo: float = 0.0, hi: float = 86_400.0
) -> float:
    """A finite number between `lo` and `hi` (a poll of 0 would spin, inf would never wake)."""
    raw = env_str(env, name, str(default))
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"CLOUDWASTE_{name}={raw!r} is not a number") from None
    if not lo <= value <= hi:  # also rejects nan and inf
        raise SettingsError(f"CLOUDWASTE_{name}={raw} must be between {lo:g} and {hi:g}")
    return value


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def log_level(env: Mapping[str, str]) -> str:
    level = env_str(env, "LOG_LEVEL", "INFO").upper()
    if level not in LOG_LEVELS:
        raise SettingsError(f"CLOUDWASTE_LOG_LEVEL={level!r} is not a log level ({', '.join(LOG_LEVELS)})")
    return level


def database_url(env: Mapping[str, str]) -> str:
    """CLOUDWASTE_DATABASE_URL, checked for shape (never echoed: it may hold a password)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    url = env_str(env, "DATABASE_URL")
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise SettingsError(
            "CLOUDWASTE_DATABASE_URL is not a database URL; expected "
            "postgresql+psycopg://USER:PASSWORD@HOST:5432/DATABASE"
        ) from None
    if parsed.get_backend_name() != "postgresql":
        raise SettingsError(
            f"CLOUDWASTE_DATABASE_URL must be a PostgreSQL URL (got a {parsed.drivername!r} one); "
            "expected postgresql+psycopg://USER:PASSWORD@HOST:5432/DATABASE"
        )
    return url


def unknown_variables(env: Mapping[str, str]) -> list[str]:
    """One line per CLOUDWASTE_* variable no part of CloudWaste reads (a typo, an old name), with
    the closest known name."""
    import difflib

    known = known_variables()
    suffixes = [k.removeprefix("CLOUDWASTE_") for k in known]  # the shared prefix would make all alike
    lines = []
    for name in sorted(k for k in env if k.startswith("CLOUDWASTE_") and k not in known):
        close = difflib.get_close_matches(name.removeprefix("CLOUDWASTE_"), suffixes, n=1, cutoff=0.6)
        hint = f" (did you mean CLOUDWASTE_{close[0]}?)" if close else ""
        lines.append(f"{name} is not a CloudWaste setting{hint}; it is ignored")
    return lines


def known_variables() -> list[str]:
    """Every CLOUDWASTE_* variable a CloudWaste module reads, found in their source: the names
    passed to the settings helpers (a call whose arguments start with `env,` and a quoted name) and
    the quoted full names elsewhere (the CLI's client addresses, the embedded PostgreSQL's)."""
    import re
    from importlib.util import find_spec
    from pathlib import Path

    names: set[str] = set()
    helper = re.compile(r'[a-z_]+\(\s*env,\s*"([A-Z0-9_]+)"')
    literal = re.compile(r'"CLOUDWASTE_([A-Z0-9_]+)"')
    roots = []
    for part in ("core", "scanner", "enricher", "exporter", "predictor", "sim"):
        try:  # each part's own folder (an editable install hides them behind an import hook)
            spec = find_spec(f"cloudwaste.{part}")
        except ImportError:
            spec = None
        if spec is not None and spec.submodule_search_locations:
            roots.extend(spec.submodule_search_locations)
    for root in roots:
        for path in Path(root).rglob("*.py"):
            if path.name.endswith("_pb2.py") or path.name.endswith("_pb2_grpc.py"):
                continue
            text = path.read_text(encoding="utf-8", errors="replace")
            names.update(helper.findall(text))
            names.update(literal.findall(text))
    return sorted(f"CLOUDWASTE_{n}" for n in names)


_METHOD = re.compile(r"[a-z][a-z0-9_.]*\.[A-Z][A-Za-z0-9]*/[A-Z][A-Za-z0-9]*")  # a gRPC full method name


@dataclass(frozen=True)
class Issuer:
    """A token issuer the services trust, and where its public keys are. For the cluster's own
    issuer (ServiceAccount tokens), the keys are read from the API server with the pod's token
    (`token_file`) and verified against the cluster's CA (`ca_file`)."""

    issuer: str
    jwks_uri: str  # https://... or file:///... (a JWKS kept in a mounted ConfigMap)
    ca_file: str = ""  # the CA of the JWKS endpoint, when not a public one
    token_file: str = ""  # a bearer token to fetch the JWKS with
    # subjects (sub) of this issuer that are operators without the role claim (ServiceAccounts);
    # tied to the issuer, so that another issuer's equal `sub` is nobody special
    operator_subjects: frozenset[str] = frozenset()
    # True: only those subjects may call with this issuer's tokens (the cluster's issuer signs
    # tokens for any pod; only the chart's own callers should reach the services with one)
    only_operator_subjects: bool = False
    # subjects that may make only the listed calls ("package.Service/Method"), as operators: a
    # CronJob or a service calling another one gets what its job needs, nothing more
    subject_methods: Mapping[str, frozenset[str]] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class AuthSettings:
    """CLOUDWASTE_AUTH_*: how callers are authenticated. `mode` "jwt" (the default) or "none"."""

    mode: str = "none"
    issuers: tuple[Issuer, ...] = ()
    audience: str = "cloudwaste"
    tenant_claim: str = "tenant_id"
    roles_claim: str = "roles"
    operator_role: str = "cloudwaste-operator"
    leeway_seconds: int = 30
    # the token this service sends when it calls another one (a projected ServiceAccount token)
    token_file: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> AuthSettings:
        mode = env_str(env, "AUTH_MODE", "jwt").lower()
        token_file = env_str(env, "AUTH_TOKEN_FILE", "")
        if mode == "none":
            return cls(mode="none", token_file=token_file)
        if mode != "jwt":
            raise SettingsError(f"CLOUDWASTE_AUTH_MODE={mode!r} must be jwt or none")
        raw = env_str(env, "AUTH_ISSUERS", "")
        if not raw:
            raise SettingsError(
                "CLOUDWASTE_AUTH_ISSUERS is required with CLOUDWASTE_AUTH_MODE=jwt, e.g. "
                '[{"issuer": "https://idp.example.com/", "jwks_uri": "https://idp.example.com/jwks.json"}] '
                "(CLOUDWASTE_AUTH_MODE=none turns authentication off, for a local demo only)"
            )
        try:
            listed = json.loads(raw)
            issuers = tuple(
                Issuer(
                    str(i["issuer"]),
                    str(i["jwks_uri"]),
                    str(i.get("ca_file", "")),
                    str(i.get("token_file", "")),
                    frozenset(str(x) for x in i.get("operator_subjects", [])),
                    bool(i.get("only_operator_subjects", False)),
                    {str(k): frozenset(str(m) for m in v) for k, v in i.get("subject_methods", {}).items()},
                )
                for i in listed
            )
        except (ValueError, TypeError, KeyError, AttributeError):
            raise SettingsError(
                'CLOUDWASTE_AUTH_ISSUERS must be a JSON list of {"issuer": ..., "jwks_uri": ..., '
                '"operator_subjects": [...] (optional), "only_operator_subjects": false (optional), '
                '"subject_methods": {"<sub>": ["package.Service/Method", ...]} (optional)}'
            ) from None
        for i in issuers:
            for subject, methods in i.subject_methods.items():
                bad = sorted(m for m in methods if not _METHOD.fullmatch(m))
                if bad or not methods:
                    raise SettingsError(
                        f"CLOUDWASTE_AUTH_ISSUERS: subject_methods of {subject!r} must list calls as "
                        f"package.Service/Method, not {bad or 'nothing'}"
                    )
        for i in issuers:
            # plain http only on this machine: keys fetched across a network must be authenticated
            parsed = urllib.parse.urlparse(i.jwks_uri)
            local = parsed.scheme == "http" and parsed.hostname in ("127.0.0.1", "localhost", "::1")
            if not (i.jwks_uri.startswith(("https://", "file:///")) or local):
                raise SettingsError(
                    f"CLOUDWASTE_AUTH_ISSUERS: jwks_uri {i.jwks_uri!r} must be https:// or file:/// "
                    "(http:// only on this machine)"
                )
        if not issuers:
            raise SettingsError("CLOUDWASTE_AUTH_ISSUERS lists no issuer")
        return cls(
            mode="jwt",
            issuers=issuers,
            audience=env_str(env, "AUTH_AUDIENCE", "cloudwaste"),
            tenant_claim=env_str(env, "AUTH_TENANT_CLAIM", "tenant_id"),
            roles_claim=env_str(env, "AUTH_ROLES_CLAIM", "roles"),
            operator_role=env_str(env, "AUTH_OPERATOR_ROLE", "cloudwaste-operator"),
            token_file=token_file,
        )


@dataclass(frozen=True)
class TlsSettings:
    """CLOUDWASTE_TLS_*: the service's certificate and key (PEM files, e.g. from cert-manager), and
    the CA that signs its peers' certificates. With a CA, the server requires every client to show
    a certificate it signed (mutual TLS), and this service's own calls to the others verify theirs
    and show its certificate. Without a certificate: plaintext, for a mesh's sidecar or a demo."""

    cert_file: str = ""
    key_file: str = ""
    ca_file: str = ""

    @property
    def enabled(self) -> bool:
        return bool(self.cert_file)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> TlsSettings:
        tls = cls(
            env_str(env, "TLS_CERT_FILE", ""),
            env_str(env, "TLS_KEY_FILE", ""),
            env_str(env, "TLS_CA_FILE", ""),
        )
        if bool(tls.cert_file) != bool(tls.key_file):
            raise SettingsError("CLOUDWASTE_TLS_CERT_FILE and CLOUDWASTE_TLS_KEY_FILE go together")
        if tls.ca_file and not tls.cert_file:
            raise SettingsError(
                "CLOUDWASTE_TLS_CA_FILE needs CLOUDWASTE_TLS_CERT_FILE and CLOUDWASTE_TLS_KEY_FILE"
            )
        return tls

    def read(self) -> tuple[bytes, bytes, bytes | None]:
        """(certificate chain, key, CA or None); SettingsError naming the variable of a file that
        cannot be read."""
        out = []
        for name, path in (
            ("TLS_CERT_FILE", self.cert_file),
            ("TLS_KEY_FILE", self.key_file),
            ("TLS_CA_FILE", self.ca_file),
        ):
            if not path:
                out.append(None)
                continue
            try:
                with open(path, "rb") as f:
                    out.append(f.read())
            except OSError as exc:
                raise SettingsError(f"CLOUDWASTE_{name}: cannot read the file ({exc.strerror})") from None
        return out[0], out[1], out[2]


@dataclass(frozen=True)
class ServerSettings:
    """What every service needs: where to listen, the database, logging."""

    database_url: str = field(repr=False)  # may hold a password
    grpc_host: str = "127.0.0.1"
    grpc_port: int = 50051
    metrics_port: int = 9090  # 0 picks a free port, -1 disables the endpoint
    log_level: str = "INFO"
    shutdown_grace_seconds: float = 10.0
    max_workers: int = 16
    readiness_seconds: float = 5.0  # between two checks of the database (grpc.health.v1 readiness)
    # A client connection is closed (GOAWAY) after this long, its calls given the grace to end, so
    # that clients reconnect and spread over new replicas (Kubernetes Services balance connections,
    # not calls). 0: never.
    max_connection_age_seconds: float = 300.0
    max_connection_age_grace_seconds: float = 30.0
    auth: AuthSettings = field(default_factory=AuthSettings)  # who may call (cloudwaste.core.auth)
    tls: TlsSettings = field(default_factory=TlsSettings)

    @classmethod
    def common(cls, env: Mapping[str, str]) -> dict:
        return dict(
            database_url=database_url(env),
            grpc_host=env_str(env, "GRPC_HOST", "0.0.0.0"),
            grpc_port=env_int(env, "GRPC_PORT", 50051, 0, 65535),
            metrics_port=env_int(env, "METRICS_PORT", 9090, -1, 65535),
            log_level=log_level(env),
            shutdown_grace_seconds=env_float(env, "SHUTDOWN_GRACE_SECONDS", 10.0),
            max_workers=env_int(env, "MAX_WORKERS", 16, 1, 1024),
            readiness_seconds=env_float(env, "READINESS_SECONDS", 5.0, 0.1, 300.0),
            max_connection_age_seconds=env_float(env, "MAX_CONNECTION_AGE_SECONDS", 300.0, 0.0, 86_400.0),
            max_connection_age_grace_seconds=env_float(
                env, "MAX_CONNECTION_AGE_GRACE_SECONDS", 30.0, 0.0, 3600.0
            ),
            auth=AuthSettings.from_env(env),
            tls=TlsSettings.from_env(env),
        )


@dataclass(frozen=True)
class HashKey:
    """The secret used only to pseudonymize identifiers in ML tables, and its id for rotation."""

    key: bytes = field(repr=False)
    key_id: str

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> HashKey:
        key = env_str(env, "HASH_KEY")
        if len(key) < 32:
            raise SettingsError("CLOUDWASTE_HASH_KEY must be at least 32 characters")
        return cls(key=key.encode(), key_id=env_str(env, "HASH_KEY_ID", "k1"))


def replace(settings, **changes):
    """A copy of a settings object with some fields changed (tests bind port 0 this way)."""
    return dataclasses.replace(settings, **changes)
