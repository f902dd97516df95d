"""The scanner's settings, built once from CLOUDWASTE_* variables at start and passed down."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from cloudwaste.core.settings import HashKey, ServerSettings, env_float, env_int, env_str


@dataclass(frozen=True)
class ScannerSettings(ServerSettings):
    hash_key: HashKey = field(default_factory=lambda: HashKey(b"x" * 32, "test"), repr=False)
    enricher_address: str = ""  # empty: do not notify an enricher
    # The predictor that scores each scan's findings with the waste model when the scan ends;
    # empty: findings are not scored (ListFindings cannot order them by expected saving).
    predictor_address: str = ""
    predict_timeout_seconds: float = 10.0  # per PredictWasteBatch call (1,000 findings)
    aws_endpoint_url: str = ""  # set for moto / local endpoints; empty means real AWS
    azure_endpoint_url: str = ""  # a local ARM endpoint (the simulated estate); empty: real Azure
    gcp_endpoint_url: str = ""  # a local Google endpoint (the simulated estate); empty: real GCP
    m365_endpoint_url: str = ""  # a local Graph endpoint (the simulated tenant); empty: real Graph
    # The mounted Kubernetes Secret whose files hold the Azure and GCP credentials accounts name
    # (`credential_secret`); secrets never enter the database.
    credentials_dir: str = ""
    scan_workers: int = 2  # scan runs executed at once by this replica
    region_concurrency: int = 4  # regions scanned at once within a run
    # AWS Organizations scans: listings / metric fetches at once against one member account
    aws_account_concurrency: int = 2
    poll_seconds: float = 2.0
    # A running scan's lease: renewed every third of it; a scanner that dies stops renewing and its
    # runs end FAILED (ABORTED: scan again) about this long after, reaped by any replica
    scan_lease_seconds: float = 60.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ScannerSettings:
        env = os.environ if env is None else env
        return cls(
            **cls.common(env),
            hash_key=HashKey.from_env(env),
            enricher_address=env_str(env, "ENRICHER_ADDRESS", ""),
            predictor_address=env_str(env, "PREDICTOR_ADDRESS", ""),
            predict_timeout_seconds=env_float(env, "PREDICT_TIMEOUT_SECONDS", 10.0, 0.1, 600),
            aws_endpoint_url=env_str(env, "AWS_ENDPOINT_URL", ""),
            azure_endpoint_url=env_str(env, "AZURE_ENDPOINT_URL", ""),
            gcp_endpoint_url=env_str(env, "GCP_ENDPOINT_URL", ""),
            m365_endpoint_url=env_str(env, "M365_ENDPOINT_URL", ""),
            credentials_dir=env_str(env, "CREDENTIALS_DIR", ""),
            scan_workers=env_int(env, "SCAN_WORKERS", 2, 1, 64),
            region_concurrency=env_int(env, "REGION_CONCURRENCY", 4, 1, 64),
            aws_account_concurrency=env_int(env, "AWS_ACCOUNT_CONCURRENCY", 2, 1, 64),
            poll_seconds=env_float(env, "POLL_SECONDS", 2.0, 0.05, 3600),
            scan_lease_seconds=env_float(env, "SCAN_LEASE_SECONDS", 60.0, 1, 3600),
        )
