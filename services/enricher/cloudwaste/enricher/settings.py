"""The enricher's settings, built once from CLOUDWASTE_* variables at start and passed down.

The enrichment worker (threads of the enricher process that claim queued enrichment runs):

- CLOUDWASTE_ENRICHER_WORKER_THREADS: runs enriched at once by this replica (default 2).
- CLOUDWASTE_ENRICHER_POLL_SECONDS: how often an idle thread looks for queued runs (default 2; a
  run queued on this replica wakes it at once).
- CLOUDWASTE_ENRICHER_RUN_TIMEOUT_SECONDS: a run RUNNING for longer than this is taken to belong to
  an enricher that died: it is queued again, or FAILED after 3 attempts (default 900, 15 minutes).
- CLOUDWASTE_ENRICHER_LEASE_SECONDS: the lease of a run being enriched, renewed by its worker every
  third of it; a run whose lease lapsed (its enricher was killed) is taken back the same way within
  about one and a half leases (default 60).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from cloudwaste.core.settings import ServerSettings, env_float, env_int


@dataclass(frozen=True)
class EnricherSettings(ServerSettings):
    worker_threads: int = 2
    poll_seconds: float = 2.0
    run_timeout_seconds: float = 900.0
    lease_seconds: float = 60.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> EnricherSettings:
        env = os.environ if env is None else env
        return cls(
            **cls.common(env),
            worker_threads=env_int(env, "ENRICHER_WORKER_THREADS", 2, 1, 64),
            poll_seconds=env_float(env, "ENRICHER_POLL_SECONDS", 2.0, 0.05, 3600),
            run_timeout_seconds=env_float(env, "ENRICHER_RUN_TIMEOUT_SECONDS", 900.0, 1.0, 7 * 86_400.0),
            lease_seconds=env_float(env, "ENRICHER_LEASE_SECONDS", 60.0, 1.0, 3600.0),
        )
