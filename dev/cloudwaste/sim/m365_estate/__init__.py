"""The simulated Microsoft 365 tenant: a local Graph endpoint (:mod:`cloudwaste.sim.graph_api`)
filled by one module per area (``seed(ctx)``, see :mod:`cloudwaste.sim.cloud_estate`; the tenant
is ``ctx.api.tenant(ctx.scopes[0])``).

``start(...)`` starts the endpoint, registers the scanner's application, seeds the tenant and
writes the application's secret where the scanner's credentials Secret would be mounted.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

from ..cloud_estate import EstateContext, RunningEstate, seed_all
from ..graph_api import GraphApi
from ..truth import TruthResource

DIRECTORY_ID = "7c1d2e3f-4a5b-4c6d-8e9f-0a1b2c3d4e5f"
CLIENT_ID = "9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b"
SECRET_NAME = "m365-sim-app"


def access_settings() -> dict[str, str]:
    """The M365Access of the simulated tenant's account."""
    return {"directory_id": DIRECTORY_ID, "client_id": CLIENT_ID, "credential_secret": SECRET_NAME}


def seed_estate(ctx: EstateContext, services: Sequence[str] | None = None) -> list[TruthResource]:
    return seed_all(ctx, __name__, __path__, services)


def start(
    credentials_dir: str | Path, *, size: int = 60, seed: int = 1, now: dt.datetime | None = None,
    services: Sequence[str] | None = None, page_size: int = 100, port: int = 0,
) -> RunningEstate:
    """Starts a local Graph endpoint holding a seeded tenant and writes the application's secret."""
    api = GraphApi(page_size=page_size)
    api.start(port)
    secret = f"sim-m365-secret-{seed}"
    api.add_principal(DIRECTORY_ID, CLIENT_ID, secret)
    Path(credentials_dir).mkdir(parents=True, exist_ok=True)
    (Path(credentials_dir) / SECRET_NAME).write_text(secret)
    api.tenant(DIRECTORY_ID)
    ctx = EstateContext("m365", api, (DIRECTORY_ID,), ("global",), size, seed, now or dt.datetime.now(dt.UTC))
    return RunningEstate(api, seed_estate(ctx, services), str(credentials_dir), access_settings())
