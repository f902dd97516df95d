"""EC2 capacity kinds: On-Demand Capacity Reservations."""

from __future__ import annotations

import datetime as dt

from cloudwaste.scanner.domain import Resource
from cloudwaste.scanner.kinds import kind
from cloudwaste.scanner.kinds.aws._common import PROVIDER, Deps, paginate, resource, tags

CAPACITY_RESERVATION = "aws.ec2.capacity_reservation"

# States AWS keeps listing for a while after a reservation stops billing; not listed here.
_GONE = frozenset({"cancelled", "expired", "failed"})


@kind(
    key=CAPACITY_RESERVATION,
    provider=PROVIDER,
    title="EC2 On-Demand Capacity Reservation",
    operations=("ec2:DescribeCapacityReservations",),
    id_field="CapacityReservationId",
    name_field="tag:Name",
    created_field="CreateDate",
    ml_config={
        "instance_type": str,
        "instance_platform": str,
        "tenancy": str,
        "total_instance_count": int,
        "instance_match_criteria": str,
        "end_date_type": str,
        "reservation_type": str,
    },
)
def list_capacity_reservations(conn, region: str, now: dt.datetime, deps: Deps) -> list[Resource]:
    """Capacity Reservations of the region that still exist (not cancelled, expired or failed),
    with their instance type and platform, how many instances they hold and how many of those are
    free (`AvailableInstanceCount`: reserved, billed, not used by a running instance). One
    paginated DescribeCapacityReservations per region.

    DescribeCapacityReservations also returns the reservations other accounts share with this
    one: only those whose unused capacity this account pays for are listed, its own
    (`OwnerId`) unless billing for their unused capacity was assigned to another account
    (`UnusedReservationBillingOwnerId`), and those of other accounts assigned to it. Without the
    scanned account's id (`conn.account_id` empty) nothing is left out."""
    account = getattr(conn, "account_id", "") or ""
    out = []
    for c in paginate(conn.client("ec2", region), "describe_capacity_reservations", "CapacityReservations"):
        state = c.get("State")
        if state in _GONE:
            continue
        billed_to = c.get("UnusedReservationBillingOwnerId") or c.get("OwnerId")
        if account and billed_to and billed_to != account:
            continue
        total = int(c.get("TotalInstanceCount") or 0)
        available = c.get("AvailableInstanceCount")
        out.append(
            resource(
                CAPACITY_RESERVATION,
                c,
                region,
                tags(c.get("Tags")),
                attributes={
                    "state": state,
                    "instance_type": c.get("InstanceType"),
                    "instance_platform": c.get("InstancePlatform"),
                    "availability_zone": c.get("AvailabilityZone"),
                    "total_instance_count": total,
                    "available_instance_count": int(available) if available is not None else None,
                    "start_date": c.get("StartDate"),
                    "end_date": c.get("EndDate"),
                    "end_date_type": c.get("EndDateType"),
                    "instance_match_criteria": c.get("InstanceMatchCriteria"),
                    # "default" (On-Demand); "capacity-block" (Capacity Blocks for ML, paid upfront)
                    "reservation_type": c.get("ReservationType") or "default",
                    "owner_id": c.get("OwnerId"),
                    "unused_billing_owner_id": c.get("UnusedReservationBillingOwnerId"),
                },
                config={
                    "instance_type": c.get("InstanceType"),
                    "instance_platform": c.get("InstancePlatform"),
                    "tenancy": c.get("Tenancy", "default"),
                    "total_instance_count": total,
                    "instance_match_criteria": c.get("InstanceMatchCriteria"),
                    "end_date_type": c.get("EndDateType"),
                    "reservation_type": c.get("ReservationType") or "default",
                },
            )
        )
    return out
