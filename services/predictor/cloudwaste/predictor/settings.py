"""The predictor's settings, built once from CLOUDWASTE_* variables at start and passed down.

Where TrainModels may read datasets (every dataset_uri must lie under the root):

- CLOUDWASTE_DATASET_ROOT (falls back to CLOUDWASTE_EXPORT_ROOT, then ``/exports``): a local folder
  path (meaning ``file://<path>``), a ``file://`` URI, or ``s3://bucket[/prefix]`` on AWS S3 or any
  S3-compatible store.
- CLOUDWASTE_S3_ENDPOINT_URL: for s3:// roots on a store other than AWS (MinIO, moto, LocalStack):
  ``http(s)://host[:port]``, used with path-style addressing. Unset: AWS S3.
- CLOUDWASTE_S3_REGION: the bucket's region (unset: the AWS SDK's own lookup).

S3 credentials come from the standard AWS chain (AWS_* environment variables, the shared config
files, web identity / IRSA on EKS, the instance profile); the predictor needs s3:GetObject and
s3:ListBucket on the prefix.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from cloudwaste.core.settings import ServerSettings, SettingsError, env_float, env_str
from cloudwaste.core.storage import Storage, storage_settings


@dataclass(frozen=True)
class PredictorSettings(ServerSettings):
    model_poll_seconds: float = 30.0
    dataset_root: str = "/exports"  # a path or a file:// / s3:// URI; TrainModels reads only under it
    s3_endpoint_url: str | None = None  # S3-compatible store (MinIO, moto); None: AWS S3
    s3_region: str | None = None
    # Who trains: "process" starts a training worker as a child process of this predictor (one
    # machine, or a small cluster); "none" leaves it to `cloudwaste train --worker` or a Job.
    training_worker: str = "process"
    training_poll_seconds: float = 2.0
    # A running training's lease (CLOUDWASTE_TRAINING_LEASE_SECONDS), renewed every third of it:
    # a worker that dies is found out, and its run failed (ABORTED), that long after.
    training_lease_seconds: float = 60.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> PredictorSettings:
        env = os.environ if env is None else env
        storage = storage_settings(env, "DATASET_ROOT", env_str(env, "EXPORT_ROOT", "/exports"))
        return cls(
            **cls.common(env),
            model_poll_seconds=env_float(env, "MODEL_POLL_SECONDS", 30.0, 0.05, 3600),
            dataset_root=storage["root"],
            s3_endpoint_url=storage["s3_endpoint_url"],
            s3_region=storage["s3_region"],
            training_worker=_choice(env, "TRAINING_WORKER", "process", ("process", "none")),
            training_poll_seconds=env_float(env, "TRAINING_POLL_SECONDS", 2.0, 0.05, 3600),
            training_lease_seconds=env_float(env, "TRAINING_LEASE_SECONDS", 60.0, 1.0, 3600),
        )

    def storage(self) -> Storage:
        return Storage(
            self.dataset_root,
            s3_endpoint_url=self.s3_endpoint_url,
            s3_region=self.s3_region,
            setting="CLOUDWASTE_DATASET_ROOT",
        )


def _choice(env: Mapping[str, str], name: str, default: str, allowed: tuple[str, ...]) -> str:
    value = env_str(env, name, default).lower()
    if value not in allowed:
        raise SettingsError(f"CLOUDWASTE_{name}={value!r} must be one of {', '.join(allowed)}")
    return value
