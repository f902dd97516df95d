"""The simulated GCP estate: projects of a local Google endpoint (:mod:`cloudwaste.sim.gcp_api`)
filled by one module per service family (``seed(ctx)``, see :mod:`cloudwaste.sim.cloud_estate`).

``start(...)`` starts the endpoint, creates the scanner's service account key (its token_uri is
the endpoint's), seeds the estate and writes the key where the scanner's credentials Secret would
be mounted.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from pathlib import Path

from ..cloud_estate import EstateContext, RunningEstate, seed_all
from ..gcp_api import GcpApi, service_account_key
from ..truth import TruthResource

SERVICE_ACCOUNT = "cloudwaste-scanner@sim-tools.iam.gserviceaccount.com"
SECRET_NAME = "gcp-sim-key"
PROJECTS = ("sim-shop-prod", "sim-data-dev")
ZONES = ("europe-west1-b", "us-central1-a", "us-east1-c")


def access_settings() -> dict[str, str]:
    """The GcpAccess of the simulated projects' account."""
    return {"credential_secret": SECRET_NAME}


def context(api: GcpApi, size: int, seed: int, now: dt.datetime,
            projects: Sequence[str] = PROJECTS, zones: Sequence[str] = ZONES) -> EstateContext:
    for p in projects:
        api.project(p)
    return EstateContext("gcp", api, tuple(projects), tuple(zones), size, seed, now)


def seed_estate(ctx: EstateContext, services: Sequence[str] | None = None) -> list[TruthResource]:
    """Seeds every service module (or those named) into `ctx.api`; the ground truth."""
    return seed_all(ctx, __name__, __path__, services)


def start(
    credentials_dir: str | Path, *, size: int = 60, seed: int = 1, now: dt.datetime | None = None,
    services: Sequence[str] | None = None, page_size: int = 500, port: int = 0,
    projects: Sequence[str] = PROJECTS,
) -> RunningEstate:
    """Starts a local Google endpoint holding a seeded estate and writes the scanner's key."""
    api = GcpApi(page_size=page_size)
    url = api.start(port)
    info, public = service_account_key(SERVICE_ACCOUNT, f"{url}/token")
    api.add_service_account(SERVICE_ACCOUNT, public)
    Path(credentials_dir).mkdir(parents=True, exist_ok=True)
    (Path(credentials_dir) / SECRET_NAME).write_text(json.dumps(info))
    ctx = context(api, size, seed, now or dt.datetime.now(dt.UTC), projects)
    return RunningEstate(api, seed_estate(ctx, services), str(credentials_dir), access_settings())
