"""The simulated Azure estate: subscriptions of a local ARM endpoint (:mod:`cloudwaste.sim.azure_api`)
filled by one module per service family (``seed(ctx)``, see :mod:`cloudwaste.sim.cloud_estate`).

``start(...)`` starts the endpoint, registers the scanner's service principal, seeds the estate
and writes the principal's secret where the scanner's credentials Secret would be mounted.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

from ..azure_api import AzureApi
from ..cloud_estate import EstateContext, RunningEstate, seed_all
from ..truth import TruthResource

DIRECTORY_ID = "5f0e5b1c-6a6d-4c8e-9d3f-0a1b2c3d4e5f"
CLIENT_ID = "8a7b6c5d-4e3f-4a1b-9c8d-7e6f5a4b3c2d"
SECRET_NAME = "azure-sim-principal"
SUBSCRIPTIONS = ("a1a1a1a1-0000-4000-8000-000000000001", "b2b2b2b2-0000-4000-8000-000000000002")
LOCATIONS = ("westeurope", "eastus", "northeurope")


def access_settings() -> dict[str, str]:
    """The AzureAccess of the simulated subscriptions' account."""
    return {"directory_id": DIRECTORY_ID, "client_id": CLIENT_ID, "credential_secret": SECRET_NAME}


def context(api: AzureApi, size: int, seed: int, now: dt.datetime,
            subscriptions: Sequence[str] = SUBSCRIPTIONS, locations: Sequence[str] = LOCATIONS) -> EstateContext:
    for s in subscriptions:
        api.subscription(s, f"Simulated {s[:8]}")
    return EstateContext("azure", api, tuple(subscriptions), tuple(locations), size, seed, now)


def seed_estate(ctx: EstateContext, services: Sequence[str] | None = None) -> list[TruthResource]:
    """Seeds every service module (or those named) into `ctx.api`; the ground truth."""
    return seed_all(ctx, __name__, __path__, services)


def start(
    credentials_dir: str | Path, *, size: int = 60, seed: int = 1, now: dt.datetime | None = None,
    services: Sequence[str] | None = None, page_size: int = 100, port: int = 0,
    subscriptions: Sequence[str] = SUBSCRIPTIONS,
) -> RunningEstate:
    """Starts a local ARM endpoint holding a seeded estate and writes the principal's secret."""
    api = AzureApi(page_size=page_size)
    api.start(port)
    secret = f"sim-secret-{seed}"
    api.add_principal(DIRECTORY_ID, CLIENT_ID, secret)
    Path(credentials_dir).mkdir(parents=True, exist_ok=True)
    (Path(credentials_dir) / SECRET_NAME).write_text(secret)
    ctx = context(api, size, seed, now or dt.datetime.now(dt.UTC), subscriptions)
    return RunningEstate(api, seed_estate(ctx, services), str(credentials_dir), access_settings())
