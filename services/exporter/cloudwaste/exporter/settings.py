"""The exporter's settings, built once from CLOUDWASTE_* variables at start and passed down.

Where exports go (every ExportDataset destination_uri must lie under the root):

- CLOUDWASTE_EXPORT_ROOT: a local folder path (``/exports``, meaning ``file:///exports``), a
  ``file://`` URI, or ``s3://bucket[/prefix]`` on AWS S3 or any S3-compatible store (default
  ``/exports``).
- CLOUDWASTE_S3_ENDPOINT_URL: for s3:// roots on a store other than AWS (MinIO, moto, LocalStack):
  ``http(s)://host[:port]``, used with path-style addressing. Unset: AWS S3.
- CLOUDWASTE_S3_REGION: the bucket's region (unset: the AWS SDK's own lookup: AWS_REGION,
  AWS_DEFAULT_REGION, the config file).

S3 credentials come from the standard AWS chain: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY /
AWS_SESSION_TOKEN, the shared config files, web identity (IRSA: AWS_ROLE_ARN +
AWS_WEB_IDENTITY_TOKEN_FILE on EKS), then the instance profile. The exporter needs s3:PutObject,
s3:GetObject (existence and size checks), s3:ListBucket, s3:AbortMultipartUpload and s3:DeleteObject
(the retention purge, and withdrawing a failed export) on the prefix.
An s3:// export is staged in the system temp folder (TMPDIR) first: it needs room for one export.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from cloudwaste.core.settings import ServerSettings, env_float, env_int
from cloudwaste.core.storage import Storage, storage_settings


@dataclass(frozen=True)
class ExporterSettings(ServerSettings):
    export_root: str = "/exports"  # a path or a file:// / s3:// URI; destinations must lie under it
    batch_rows: int = 10_000
    s3_endpoint_url: str | None = None  # S3-compatible store (MinIO, moto); None: AWS S3
    s3_region: str | None = None
    export_lease_seconds: float = 60.0  # a running export's lease (renewed every third of it)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ExporterSettings:
        env = os.environ if env is None else env
        storage = storage_settings(env, "EXPORT_ROOT", "/exports")
        return cls(
            **cls.common(env),
            export_root=storage["root"],
            batch_rows=env_int(env, "EXPORT_BATCH_ROWS", 10_000, 1, 1_000_000),
            s3_endpoint_url=storage["s3_endpoint_url"],
            s3_region=storage["s3_region"],
            export_lease_seconds=env_float(env, "EXPORT_LEASE_SECONDS", 60.0, 1.0, 3600.0),
        )

    def storage(self) -> Storage:
        return Storage(
            self.export_root,
            s3_endpoint_url=self.s3_endpoint_url,
            s3_region=self.s3_region,
            setting="CLOUDWASTE_EXPORT_ROOT",
        )
