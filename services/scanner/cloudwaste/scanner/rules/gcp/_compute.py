"""What the Compute Engine rule modules share: kind keys, how long an instance has been stopped,
machine and static IP prices, and the project of a resource path."""

from __future__ import annotations

from decimal import Decimal

from cloudwaste.scanner.domain import Resource
from cloudwaste.scanner.rules import Context, age_days

DISK = "gcp.compute.disk"
INSTANCE = "gcp.compute.instance"
ADDRESS = "gcp.compute.address"
SNAPSHOT = "gcp.compute.snapshot"
IMAGE = "gcp.compute.image"
# An instance that is stopped: Compute Engine calls it TERMINATED (no vCPU or memory billed).
STOPPED = "TERMINATED"
# From this many days stopped an instance is a `gcp-instance-terminated-long` finding of its own
# (that rule's default), and its disks' and addresses' findings are parts of it.
INSTANCE_FINDING_DAYS = 30.0


def stopped_days(instance: Resource | None, ctx: Context) -> float | None:
    """Days since a TERMINATED instance stopped (`lastStopTimestamp`); None when it is not
    TERMINATED or Google gives no stop time."""
    if instance is None or instance.attributes.get("status") != STOPPED:
        return None
    return age_days(instance.attributes.get("last_stop"), ctx.now)


def project_of(path: str | None) -> str | None:
    """The project of a resource path ("projects/p/zones/z/disks/d" -> "p")."""
    parts = (path or "").split("/")
    return parts[1] if len(parts) > 1 and parts[0] == "projects" else None


def machine_monthly(ctx: Context, location: str, machine_type: str) -> Decimal | None:
    """A machine type's on-demand price for a month (730 hours), None when the table lacks it."""
    return ctx.prices.monthly_from_hourly(location, "compute", "machine_hour", machine_type)


def static_ip_monthly(ctx: Context, location: str, state: str) -> Decimal | None:
    """A static external IP's price for a month in `state` ("unused", "on_stopped_vm")."""
    return ctx.prices.monthly_from_hourly(location, "compute", "static_ip_hour", state)


def storage_location(r: Resource) -> str:
    """Where a snapshot's or an image's bytes are (the first of `storageLocations`: a
    multi-region such as "us", or a region), which prices them; "global" when not said."""
    locations = r.attributes.get("storage_locations") or []
    return str(locations[0]) if locations else r.region
