"""EBS volume rules: waste (unattached, on a long-stopped instance, never read or written) and
optimizations (a volume type that costs more than gp3 for the same performance, IOPS provisioned
far beyond use). One finding per volume: the type rules judge gp2 volumes and io1/io2 volumes gp3
can replace; the usage rules judge every other volume of a running instance."""

from __future__ import annotations

import math
from decimal import Decimal

from cloudwaste.scanner.domain import Detection, FindingRef, Resource
from cloudwaste.scanner.rules import Context, Fixtures, Metric, Param, Series, age_days, attach_fixtures, rule
from cloudwaste.scanner.rules.aws._common import NOW as _NOW
from cloudwaste.scanner.rules.aws._common import days_ago, res, rounded, stopped_days

# --- ebs-volume-unattached ---------------------------------------------------------------------


@rule(
    key="ebs-volume-unattached",
    provider="aws",
    resource_kind="aws.ec2.volume",
    title="EBS volume not attached to any instance",
    permissions=("ec2:DescribeVolumes",),
    params={"min_age_days": Param(float, 1.0, "Ignore volumes younger than this (just created).", 0)},
    confidence_doc="HIGH after 30 days unattached-and-old, MEDIUM after 7, else LOW.",
)
def ebs_volume_unattached(r: Resource, p, ctx: Context) -> Detection | None:
    """An EBS volume in state `available` bills for its provisioned size (and IOPS) while nothing uses it."""
    if r.attributes.get("state") != "available":
        return None
    age = age_days(r.created_at, ctx.now)
    if age is not None and age < p["min_age_days"]:
        return None
    confidence = "LOW" if age is None or age < 7 else ("MEDIUM" if age < 30 else "HIGH")
    size, vtype, iops = r.attributes["size_gb"], r.attributes["volume_type"], r.attributes.get("iops")
    return Detection(
        scenario="ebs-volume-unattached",
        confidence=confidence,
        monthly_cost=ctx.prices.ebs_volume(vtype, size, iops),
        evidence={
            "state": "available",
            "size_gb": size,
            "volume_type": vtype,
            "iops": iops,
            "age_days": rounded(age),
            **ctx.prices.evidence(),
        },
    )


# --- ebs-volume-on-stopped-instance -----------------------------------------------------------------


@rule(
    key="ebs-volume-on-stopped-instance",
    provider="aws",
    resource_kind="aws.ec2.volume",
    needs=("aws.ec2.instance",),
    title="EBS volume attached to a long-stopped instance",
    permissions=("ec2:DescribeVolumes", "ec2:DescribeInstances"),
    params={"min_stopped_days": Param(float, 30.0, "The instance has been stopped at least this long.", 1)},
    confidence_doc="HIGH after 90 days stopped, else MEDIUM (as for the instance itself).",
)
def ebs_volume_on_stopped_instance(r: Resource, p, ctx: Context) -> Detection | None:
    """A volume attached to a long-stopped instance bills for its size (and IOPS) while nothing runs.
    It is a part of the instance's `ec2-instance-stopped` finding, which shows the machine's total."""
    instance_id = r.attributes.get("attached_instance_id")
    if r.attributes.get("state") != "in-use" or not instance_id:
        return None
    instance = ctx.lookup("aws.ec2.instance", instance_id)
    if instance is None:
        return None
    days_stopped = stopped_days(instance, ctx)
    if days_stopped is None or days_stopped < p["min_stopped_days"]:
        return None
    size, vtype, iops = r.attributes["size_gb"], r.attributes["volume_type"], r.attributes.get("iops")
    return Detection(
        scenario="ebs-volume-on-stopped-instance",
        confidence="HIGH" if days_stopped >= 90 else "MEDIUM",
        monthly_cost=ctx.prices.ebs_volume(vtype, size, iops),
        evidence={
            "state": "in-use",
            "size_gb": size,
            "volume_type": vtype,
            "iops": iops,
            "instance_state": "stopped",
            "instance_stopped_days": rounded(days_stopped),
            **ctx.prices.evidence(),
        },
        parent=FindingRef("aws.ec2.instance", instance_id, "ec2-instance-stopped"),
    )


# --- volumes of running instances: shared by the type rules and the usage rules -----------------

# gp3's limits (a volume beyond them cannot be gp3) and what it includes in the GB price.
GP3_MAX_SIZE_GB = 16384
GP3_MAX_IOPS = 16000
GP3_MAX_IOPS_PER_GB = 500
GP3_INCLUDED_IOPS = 3000
GP3_INCLUDED_MIBPS = 125
# gp2: 3 IOPS per GiB, at least 100, at most 16,000; from 334 GiB it sustains 250 MiB/s whatever
# its burst credits (171-333 GiB reach 250 only while credits last).
GP2_IOPS_PER_GB = 3
GP2_MIN_IOPS = 100
GP2_MAX_IOPS = 16000
GP2_SUSTAINED_250_FROM_GB = 334
GP2_BURST_250_FROM_GB = 171
# io1/io2: the fewest IOPS a volume can be provisioned with.
IO_MIN_IOPS = 100
IO_TYPES = ("io1", "io2")

READ_OPS = Metric("read_ops", "AWS/EBS", "VolumeReadOps", "VolumeId", "Sum")
WRITE_OPS = Metric("write_ops", "AWS/EBS", "VolumeWriteOps", "VolumeId", "Sum")
# The largest datapoint of each day: on current (Nitro) instances EBS publishes one count a minute,
# so this is the day's busiest minute.
READ_OPS_PEAK = Metric("read_ops_peak_minute", "AWS/EBS", "VolumeReadOps", "VolumeId", "Maximum")
WRITE_OPS_PEAK = Metric("write_ops_peak_minute", "AWS/EBS", "VolumeWriteOps", "VolumeId", "Maximum")
SECONDS_A_DAY = 86400
SECONDS_A_MINUTE = 60
MINUTES_A_DAY = 1440


def _size(r: Resource) -> int | None:
    size = r.attributes.get("size_gb")
    return size if isinstance(size, int) and not isinstance(size, bool) and size > 0 else None


def _iops(r: Resource) -> int | None:
    iops = r.attributes.get("iops")
    return iops if isinstance(iops, int) and not isinstance(iops, bool) and iops > 0 else None


def running_host(r: Resource, ctx: Context) -> Resource | None:
    """The running instance an in-use volume is attached to, as listed in the same scope; None for
    a volume that is not in use, on an instance that is not running (stopped: the stopped rules
    count its whole price) or on one that was not listed."""
    instance_id = r.attributes.get("attached_instance_id")
    if r.attributes.get("state") != "in-use" or not instance_id:
        return None
    instance = ctx.lookup("aws.ec2.instance", instance_id)
    if instance is None or instance.attributes.get("state") != "running":
        return None
    return instance


def io_fits_gp3(r: Resource) -> bool:
    """An io1/io2 volume gp3 can replace: known IOPS within gp3's (at most 16,000 and 500 per GiB),
    at most 16 TiB, not Multi-Attach (gp3 cannot be)."""
    size, iops = _size(r), _iops(r)
    if r.attributes.get("volume_type") not in IO_TYPES or size is None or iops is None:
        return False
    return (
        iops <= GP3_MAX_IOPS
        and iops <= GP3_MAX_IOPS_PER_GB * size
        and size <= GP3_MAX_SIZE_GB
        and not r.attributes.get("multi_attach")
    )


def left_to_the_type_rules(r: Resource) -> bool:
    """gp2 volumes and io1/io2 volumes gp3 can replace: `ebs-volume-gp2-to-gp3` and
    `ebs-volume-io-to-gp3` judge them (their finding says to move them to gp3), so the usage rules
    (`ebs-volume-no-io`, `ebs-volume-iops-overprovisioned`) do not; a volume is flagged once."""
    return r.attributes.get("volume_type") == "gp2" or io_fits_gp3(r)


def gp3_equivalent_of_gp2(size_gb: int) -> tuple[int, int]:
    """(IOPS, MiB/s) a gp3 volume of the same size needs to match a gp2 volume's baseline: gp2's
    3 IOPS/GiB where that is above the 3,000 gp3 includes (up to 16,000), and 250 MiB/s where gp2
    sustains it (334 GiB and more), else gp3's included 125 MiB/s."""
    gp2_iops = min(GP2_MAX_IOPS, max(GP2_MIN_IOPS, GP2_IOPS_PER_GB * size_gb))
    iops = max(GP3_INCLUDED_IOPS, gp2_iops)
    mibps = 250 if size_gb >= GP2_SUSTAINED_250_FROM_GB else GP3_INCLUDED_MIBPS
    return iops, mibps


def _busiest_minute(total: Series, peak: Series) -> float:
    """The most operations any one minute of the window can have had, from a metric's daily Sum
    and daily Maximum (aligned from their newest day; both daily, both ending now): the day's
    Maximum (its largest datapoint: a minute's count where EBS publishes per minute), or, on a day
    whose Maximum is below the day's average minute (Sum / 1,440: the datapoints are not
    per-minute counts, e.g. the per-operation statistics of Xen instances) or missing, the day's
    whole Sum (as if all of it came in one minute: an upper bound)."""
    days = max(total.got, peak.got)
    pad = lambda s: (0.0,) * (days - s.got) + s.values  # noqa: E731
    return max(
        (m if m * MINUTES_A_DAY >= t else t for t, m in zip(pad(total), pad(peak), strict=True)),
        default=0.0,
    )


# --- ebs-volume-gp2-to-gp3 ---------------------------------------------------------------------


@rule(
    key="ebs-volume-gp2-to-gp3",
    provider="aws",
    resource_kind="aws.ec2.volume",
    needs=("aws.ec2.instance",),
    title="gp2 volume that would cost less as gp3",
    permissions=("ec2:DescribeVolumes", "ec2:DescribeInstances"),
    params={
        "min_monthly_saving": Param(
            float,
            1.0,
            "Report a volume only when moving it to gp3 saves at least this much per month (USD).",
            0,
        )
    },
    confidence_doc=(
        "HIGH when the priced gp3 volume matches every gp2 figure (up to 170 GiB, or 334 GiB and "
        "more); MEDIUM from 171 to 333 GiB, where gp2 can burst to 250 MiB/s while its credits last "
        "and the priced gp3 has the included 125 MiB/s. The saving is exact for list prices; the "
        "change itself is online (Elastic Volumes) and needs no downtime."
    ),
)
def ebs_volume_gp2_to_gp3(r: Resource, p, ctx: Context) -> Detection | None:
    """An optimization finding, not idle waste: a gp2 volume attached to a running instance costs
    more than a gp3 volume of the same size with the same baseline performance (gp3's GB price is
    20% lower, and it includes 3,000 IOPS and 125 MiB/s whatever its size). `monthly_cost` is the
    monthly saving: gp2's price minus gp3's for the same size, with the IOPS gp2 gives above 3,000
    (3 per GiB, up to 16,000) and the 250 MiB/s gp2 sustains from 334 GiB provisioned on gp3.

    Only volumes attached to a running instance: `available` volumes are `ebs-volume-unattached`
    (their whole price), volumes of a stopped instance `ebs-volume-on-stopped-instance` (from 30
    days; below, the machine may be on its way out: no migration advice), so no dollar is counted
    twice. A gp2 volume is judged by this rule only, never by `ebs-volume-no-io` (an idle gp2
    volume is reported here, as its move to gp3; once gp3 it is judged by its IO).

    Default `min_monthly_saving` $1: gp3 is 20% cheaper per GB than gp2 (AWS's gp2-to-gp3 migration
    guidance; $0.02 per GB-month in us-east-1), so $1 is a 50 GiB volume there. Smaller boot disks
    (8-30 GiB, cents a month each) are left out; in us-east-1 every larger volume is reported."""
    if r.attributes.get("volume_type") != "gp2" or running_host(r, ctx) is None:
        return None
    size = _size(r)
    if size is None or size > GP3_MAX_SIZE_GB:
        return None
    iops, mibps = gp3_equivalent_of_gp2(size)
    gp2_cost = ctx.prices.ebs_volume("gp2", size)
    gp3_cost = ctx.prices.ebs_volume("gp3", size, iops, mibps)
    saving = gp2_cost - gp3_cost
    if saving <= 0 or saving < Decimal(str(p["min_monthly_saving"])):
        return None
    burst_gap = GP2_BURST_250_FROM_GB <= size < GP2_SUSTAINED_250_FROM_GB
    return Detection(
        scenario="ebs-volume-gp2-to-gp3",
        confidence="MEDIUM" if burst_gap else "HIGH",
        monthly_cost=saving,
        evidence={
            "finding_type": "optimization",
            "state": "in-use",
            "instance_state": "running",
            "size_gb": size,
            "volume_type": "gp2",
            "gp2_baseline_iops": min(GP2_MAX_IOPS, max(GP2_MIN_IOPS, GP2_IOPS_PER_GB * size)),
            "gp2_monthly_cost": float(gp2_cost),
            "gp3_iops": iops,
            "gp3_throughput_mibps": mibps,
            "gp3_monthly_cost": float(gp3_cost),
            "monthly_saving": float(saving),
            "gp2_burst_throughput_not_matched": burst_gap,
            **ctx.prices.evidence(),
        },
    )


# --- ebs-volume-io-to-gp3 ----------------------------------------------------------------------


@rule(
    key="ebs-volume-io-to-gp3",
    provider="aws",
    resource_kind="aws.ec2.volume",
    needs=("aws.ec2.instance",),
    title="io1/io2 volume whose IOPS gp3 provides for less",
    permissions=("ec2:DescribeVolumes", "ec2:DescribeInstances"),
    params={
        "min_monthly_saving": Param(
            float,
            5.0,
            "Report a volume only when moving it to gp3 saves at least this much per month (USD).",
            0,
        )
    },
    confidence_doc=(
        "MEDIUM for io1: gp3 gives the same IOPS, with single-digit-millisecond rather than "
        "sub-millisecond latency. LOW for io2, whose 99.999% durability (gp3: 99.8-99.9%) is often "
        "why it was chosen. The saving is exact for list prices; throughput above gp3's included "
        "125 MiB/s is not priced (add $0.04 per MiB/s-month in us-east-1 where it is needed)."
    ),
)
def ebs_volume_io_to_gp3(r: Resource, p, ctx: Context) -> Detection | None:
    """An optimization finding, not idle waste: an io1/io2 volume attached to a running instance
    whose provisioned IOPS gp3 can give (at most 16,000, at most 500 per GiB, size up to 16 TiB,
    not Multi-Attach) costs more than gp3 with the same IOPS: io1/io2 bill every provisioned IOPS
    ($0.065 a month in us-east-1), gp3 includes 3,000 and bills $0.005 for each above.
    `monthly_cost` is the monthly saving.

    Only volumes attached to a running instance (`available` ones are `ebs-volume-unattached`,
    those of a stopped instance `ebs-volume-on-stopped-instance`), with known IOPS. A volume this
    rule can judge (within gp3's limits) is never judged by `ebs-volume-no-io` nor
    `ebs-volume-iops-overprovisioned`: its finding is the move to gp3 at the same IOPS.

    Default `min_monthly_saving` $5: AWS positions io1/io2 for workloads that need more than gp3's
    16,000 IOPS, sub-millisecond latency or io2's durability, and recommends gp3 for the rest; a move
    to gp3 is a change to review (latency, durability), so it is reported when it saves at least
    the price of a ~60 GiB gp3 volume. Almost every io volume within gp3's limits saves far more
    (200 GiB with 4,000 IOPS: $285 a month as io1, $21 as gp3)."""
    if not io_fits_gp3(r) or running_host(r, ctx) is None:
        return None
    vtype, size, iops = r.attributes["volume_type"], _size(r), _iops(r)
    io_cost = ctx.prices.ebs_volume(vtype, size, iops)
    gp3_iops = max(GP3_INCLUDED_IOPS, iops)
    gp3_cost = ctx.prices.ebs_volume("gp3", size, gp3_iops)
    saving = io_cost - gp3_cost
    if saving <= 0 or saving < Decimal(str(p["min_monthly_saving"])):
        return None
    return Detection(
        scenario="ebs-volume-io-to-gp3",
        confidence="MEDIUM" if vtype == "io1" else "LOW",
        monthly_cost=saving,
        evidence={
            "finding_type": "optimization",
            "state": "in-use",
            "instance_state": "running",
            "size_gb": size,
            "volume_type": vtype,
            "iops": iops,
            "io_monthly_cost": float(io_cost),
            "gp3_iops": gp3_iops,
            "gp3_throughput_mibps": GP3_INCLUDED_MIBPS,
            "gp3_monthly_cost": float(gp3_cost),
            "monthly_saving": float(saving),
            **ctx.prices.evidence(),
        },
    )


# --- ebs-volume-no-io --------------------------------------------------------------------------


def _no_io_candidate(r: Resource, p, ctx: Context) -> bool:
    """A volume of a running instance, not left to the type rules, created and attached at least a
    window ago (a younger one, or one just moved to another instance, is never called unused)."""
    if left_to_the_type_rules(r) or running_host(r, ctx) is None:
        return False
    age = age_days(r.created_at, ctx.now)
    attached = age_days(r.attributes.get("attach_time"), ctx.now)
    window = p["window_days"]
    return age is not None and attached is not None and age >= window and attached >= window


@rule(
    key="ebs-volume-no-io",
    provider="aws",
    resource_kind="aws.ec2.volume",
    needs=("aws.ec2.instance",),
    title="EBS volume attached to a running instance but never read or written",
    permissions=("ec2:DescribeVolumes", "ec2:DescribeInstances", "cloudwatch:GetMetricData"),
    params={
        "window_days": Param(
            float,
            30.0,
            "Days of CloudWatch history judged (the volume and its attachment must be that old).",
            2,
        ),
        "min_coverage": Param(
            float, 0.85, "Share of the window's days that must have datapoints (else: not judged).", 0.1
        ),
    },
    confidence_doc="HIGH when every day of the window has datapoints for both metrics, all zero; "
    "MEDIUM when a few days are missing (at least `min_coverage` of them present).",
    metrics=(READ_OPS, WRITE_OPS),
    candidate=_no_io_candidate,
)
def ebs_volume_no_io(r: Resource, p, ctx: Context) -> Detection | None:
    """A volume attached to a running instance that had no read and no write operation (daily sums
    of VolumeReadOps and VolumeWriteOps all zero) over the last 30 days bills for its size, IOPS and
    throughput while nothing uses it: a data disk mounted and forgotten, or never mounted. Detaching
    it (after a snapshot, if in doubt) saves its whole price. Default 30 days: a stricter look-back
    than AWS Trusted Advisor's "Underutilized Amazon EBS Volumes" check (under 1 IOPS a day over 7
    days), so that the disk of a monthly job is not called unused; and the bar is stricter too: not
    one operation.

    AWS publishes the EBS operation metrics of an attached volume every period, zero included, so a
    volume with no datapoints at all is not "zero": it is not judged (below `min_coverage` of the
    window's days, nothing is said). The volume and its attachment must both be at least a window
    old. gp2 volumes and io1/io2 volumes gp3 can replace are left to `ebs-volume-gp2-to-gp3` and
    `ebs-volume-io-to-gp3` (one finding per volume); a volume with no IO is never
    `ebs-volume-iops-overprovisioned` (that one needs some IO)."""
    if not _no_io_candidate(r, p, ctx):
        return None
    days = math.ceil(p["window_days"])
    read, write = ctx.metric(r, READ_OPS.name, days), ctx.metric(r, WRITE_OPS.name, days)
    if read is None or write is None:
        return None
    if min(read.coverage, write.coverage) < p["min_coverage"]:
        return None
    if read.total + write.total > 0:
        return None
    size, vtype = _size(r) or 0, r.attributes.get("volume_type") or "gp2"
    iops, throughput = r.attributes.get("iops"), r.attributes.get("throughput")
    complete = min(read.got, write.got) >= days
    return Detection(
        scenario="ebs-volume-no-io",
        confidence="HIGH" if complete else "MEDIUM",
        monthly_cost=ctx.prices.ebs_volume(vtype, size, iops, throughput),
        evidence={
            "state": "in-use",
            "instance_state": "running",
            "size_gb": size,
            "volume_type": vtype,
            "iops": iops,
            "throughput_mibps": throughput,
            "window_days": days,
            "read_ops": read.evidence("operations"),
            "write_ops": write.evidence("operations"),
            "age_days": rounded(age_days(r.created_at, ctx.now)),
            "attached_days": rounded(age_days(r.attributes.get("attach_time"), ctx.now)),
            **ctx.prices.evidence(),
        },
    )


# --- ebs-volume-iops-overprovisioned -----------------------------------------------------------


def _provisioned_iops_judged(r: Resource) -> bool:
    """io1/io2 volumes gp3 cannot replace, and gp3 volumes with IOPS above the 3,000 included."""
    vtype, iops = r.attributes.get("volume_type"), _iops(r)
    if iops is None or _size(r) is None:
        return False
    if vtype in IO_TYPES:
        return not io_fits_gp3(r)
    return vtype == "gp3" and iops > GP3_INCLUDED_IOPS


def _iops_candidate(r: Resource, p, ctx: Context) -> bool:
    """A volume with IOPS provisioned beyond a baseline, on a running instance, at least a window
    old (a younger one has not shown its peak yet)."""
    if not _provisioned_iops_judged(r) or running_host(r, ctx) is None:
        return False
    age = age_days(r.created_at, ctx.now)
    return age is not None and age >= p["window_days"]


@rule(
    key="ebs-volume-iops-overprovisioned",
    provider="aws",
    resource_kind="aws.ec2.volume",
    needs=("aws.ec2.instance",),
    title="EBS volume with far more provisioned IOPS than it uses",
    permissions=("ec2:DescribeVolumes", "ec2:DescribeInstances", "cloudwatch:GetMetricData"),
    params={
        "window_days": Param(
            float, 30.0, "Days of CloudWatch history judged (the volume must be that old).", 2
        ),
        "max_used_share": Param(
            float,
            0.2,
            "Fires when the busiest minute's IOPS stay below this share of the provisioned IOPS; "
            "the recommended IOPS keep that minute at this share.",
            0.01,
        ),
        "min_coverage": Param(
            float, 0.85, "Share of the window's days that must have datapoints (else: not judged).", 0.1
        ),
        "min_monthly_saving": Param(
            float, 5.0, "Report a volume only when the IOPS cut saves at least this much per month (USD).", 0
        ),
    },
    confidence_doc="MEDIUM when every day of the window has data: a minute's average can hide "
    "second-long bursts, which is why the recommended IOPS keep 1/max_used_share (5x) headroom over "
    "the busiest minute. LOW when a few days are missing (at least `min_coverage` present).",
    metrics=(READ_OPS, WRITE_OPS, READ_OPS_PEAK, WRITE_OPS_PEAK),
    candidate=_iops_candidate,
)
def ebs_volume_iops_overprovisioned(r: Resource, p, ctx: Context) -> Detection | None:
    """An optimization finding: an io1/io2 volume (one gp3 cannot replace: more than 16,000 IOPS,
    more than 500 per GiB, Multi-Attach or larger than 16 TiB), or a gp3 volume with IOPS
    provisioned above the 3,000 included, whose busiest minute over the last 30 days used less than
    20% of its provisioned IOPS pays for IOPS it does not use. `monthly_cost` is the saving of
    cutting the IOPS to what keeps the busiest minute at 20% (never below io1/io2's 100 or gp3's
    included 3,000): the volume's price now minus its price with those IOPS. Default 20%, common
    FinOps practice (5x headroom over the busiest minute for the bursts within it); 30 days as
    `ebs-volume-no-io`.

    The busiest minute comes from the daily Maximum of VolumeReadOps and of VolumeWriteOps over 60
    s. This assumes 1-minute datapoints, which EBS publishes for volumes of current (Nitro)
    instances: the Maximum of a day is then its busiest minute's count. Where the datapoints are 5
    minutes long, the rate is overstated up to 5x (the rule is only more conservative); where the
    day's Maximum is below its average minute (Sum / 1,440: not per-minute counts, as on Xen
    instances, whose Maximum AWS does not support) or missing, the day's whole Sum stands for its
    busiest minute (an upper bound). Read and write peaks are added though they may be different
    minutes' (an upper bound too). A daily average (Sum / 86,400) would call a volume that runs
    flat out one hour a night 4% used and size it to throttle.

    A volume with no IO at all is not judged here (it is `ebs-volume-no-io`'s, or, for an io
    volume gp3 can replace, `ebs-volume-io-to-gp3`'s); missing days are not zeros (below
    `min_coverage` of the window, not judged)."""
    if not _iops_candidate(r, p, ctx):
        return None
    days = math.ceil(p["window_days"])
    read, write = ctx.metric(r, READ_OPS.name, days), ctx.metric(r, WRITE_OPS.name, days)
    read_peak = ctx.metric(r, READ_OPS_PEAK.name, days)
    write_peak = ctx.metric(r, WRITE_OPS_PEAK.name, days)
    if read is None or write is None or read_peak is None or write_peak is None:
        return None
    if min(read.coverage, write.coverage) < p["min_coverage"]:
        return None
    if read.total + write.total <= 0:
        return None
    vtype, size, provisioned = r.attributes["volume_type"], _size(r), _iops(r)
    share = p["max_used_share"]
    peak = (_busiest_minute(read, read_peak) + _busiest_minute(write, write_peak)) / SECONDS_A_MINUTE
    if peak >= share * provisioned:
        return None
    floor = GP3_INCLUDED_IOPS if vtype == "gp3" else IO_MIN_IOPS
    target = min(provisioned, max(floor, math.ceil(peak / share)))
    throughput = r.attributes.get("throughput")
    now_cost = ctx.prices.ebs_volume(vtype, size, provisioned, throughput)
    target_cost = ctx.prices.ebs_volume(vtype, size, target, throughput)
    saving = now_cost - target_cost
    if saving <= 0 or saving < Decimal(str(p["min_monthly_saving"])):
        return None
    complete = min(read.got, write.got) >= days
    return Detection(
        scenario="ebs-volume-iops-overprovisioned",
        confidence="MEDIUM" if complete else "LOW",
        monthly_cost=saving,
        evidence={
            "finding_type": "optimization",
            "state": "in-use",
            "instance_state": "running",
            "size_gb": size,
            "volume_type": vtype,
            "provisioned_iops": provisioned,
            "peak_minute_iops": round(peak, 3),
            "peak_basis": "busiest minute (daily Maximum of 1-minute datapoints / 60 s), read + write",
            "used_share": round(peak / provisioned, 4),
            "recommended_iops": target,
            "monthly_cost_now": float(now_cost),
            "monthly_cost_recommended": float(target_cost),
            "window_days": days,
            "read_ops": read.evidence("operations"),
            "write_ops": write.evidence("operations"),
            "read_ops_peak_minute": read_peak.evidence("operations"),
            "write_ops_peak_minute": write_peak.evidence("operations"),
            **ctx.prices.evidence(),
        },
    )


# --- fixtures: one resource that fires and one near miss per rule ---------------------------------

_VOL = {"size_gb": 100, "volume_type": "gp3", "iops": 3000}
attach_fixtures(
    "ebs-volume-unattached",
    Fixtures(
        fires=res("aws.ec2.volume", "vol-1", 40, state="available", **_VOL),
        silent=res("aws.ec2.volume", "vol-2", 40, state="in-use", attached_instance_id="i-1", **_VOL),
        now=_NOW,
    ),
)
_STOPPED_45 = res(
    "aws.ec2.instance", "i-45", 200, state="stopped", stopped_since=days_ago(45), instance_type="m5.large"
)
_STOPPED_29 = res(
    "aws.ec2.instance", "i-29", 200, state="stopped", stopped_since=days_ago(29), instance_type="m5.large"
)
_RUNNING = res(
    "aws.ec2.instance", "i-run", 200, state="running", stopped_since=None, instance_type="m5.large"
)
attach_fixtures(
    "ebs-volume-on-stopped-instance",
    Fixtures(
        fires=res("aws.ec2.volume", "vol-on-45", 200, state="in-use", attached_instance_id="i-45", **_VOL),
        silent=res("aws.ec2.volume", "vol-on-29", 200, state="in-use", attached_instance_id="i-29", **_VOL),
        related=(
            _STOPPED_45,
            _STOPPED_29,
            _RUNNING,
            res("aws.ec2.volume", "vol-on-run", 200, state="in-use", attached_instance_id="i-run", **_VOL),
        ),
        now=_NOW,
    ),
)
_RUNNING_HOST = res(
    "aws.ec2.instance", "i-web", 300, state="running", stopped_since=None, instance_type="m5.large"
)


def _in_use(rid: str, **spec) -> Resource:
    return res(
        "aws.ec2.volume",
        rid,
        300,
        state="in-use",
        attached_instance_id="i-web",
        attach_time=days_ago(300),
        **spec,
    )


attach_fixtures(
    "ebs-volume-gp2-to-gp3",
    Fixtures(
        # 500 GiB gp2: 1,500 IOPS, 250 MiB/s sustained; gp3 with 250 MiB/s saves $5.50 (eu-west-1)
        fires=_in_use("vol-gp2-500", size_gb=500, volume_type="gp2", iops=1500),
        # the near miss: 40 GiB gp2 saves $0.88 (eu-west-1), under the $1 floor
        silent=_in_use("vol-gp2-40", size_gb=40, volume_type="gp2", iops=120),
        related=(_RUNNING_HOST,),
        now=_NOW,
    ),
)
attach_fixtures(
    "ebs-volume-io-to-gp3",
    Fixtures(
        # 200 GiB io1 with 4,000 IOPS: $285 a month in us-east-1; gp3 with 4,000 IOPS: $21
        fires=_in_use("vol-io1-4k", size_gb=200, volume_type="io1", iops=4000, multi_attach=False),
        # the near miss: 20,000 IOPS is more than gp3 can give
        silent=_in_use("vol-io1-20k", size_gb=500, volume_type="io1", iops=20000, multi_attach=False),
        related=(_RUNNING_HOST,),
        now=_NOW,
    ),
)
_GP3 = {"size_gb": 100, "volume_type": "gp3", "iops": 3000, "throughput": 125}
_NO_OPS = Series((0.0,) * 30, 30)
attach_fixtures(
    "ebs-volume-no-io",
    Fixtures(
        fires=_in_use("vol-data-idle", **_GP3),
        # the near miss: a dozen reads on one day in 30
        silent=_in_use("vol-data-rare", **_GP3),
        related=(_RUNNING_HOST,),
        now=_NOW,
        series={
            ("vol-data-idle", "read_ops", 30): _NO_OPS,
            ("vol-data-idle", "write_ops", 30): _NO_OPS,
            ("vol-data-rare", "read_ops", 30): Series((0.0,) * 29 + (12.0,), 30),
            ("vol-data-rare", "write_ops", 30): _NO_OPS,
        },
    ),
)
_IO1_20K = {"size_gb": 1000, "volume_type": "io1", "iops": 20000, "multi_attach": False}
attach_fixtures(
    "ebs-volume-iops-overprovisioned",
    Fixtures(
        # busiest minute: 500 IOPS (2.5% of 20,000): 2,500 IOPS keep it at 20%
        fires=_in_use("vol-io1-lazy", **_IO1_20K),
        # the near miss: the same daily sums, but one minute at 4,000 IOPS (20%, not below it)
        silent=_in_use("vol-io1-busy", **_IO1_20K),
        related=(_RUNNING_HOST,),
        now=_NOW,
        series={
            ("vol-io1-lazy", "read_ops", 30): Series((100.0 * SECONDS_A_DAY,) * 30, 30),
            ("vol-io1-lazy", "write_ops", 30): Series((50.0 * SECONDS_A_DAY,) * 30, 30),
            ("vol-io1-lazy", "read_ops_peak_minute", 30): Series((300.0 * SECONDS_A_MINUTE,) * 30, 30),
            ("vol-io1-lazy", "write_ops_peak_minute", 30): Series((200.0 * SECONDS_A_MINUTE,) * 30, 30),
            ("vol-io1-busy", "read_ops", 30): Series((100.0 * SECONDS_A_DAY,) * 30, 30),
            ("vol-io1-busy", "write_ops", 30): Series((50.0 * SECONDS_A_DAY,) * 30, 30),
            ("vol-io1-busy", "read_ops_peak_minute", 30): Series(
                (300.0 * SECONDS_A_MINUTE,) * 29 + (3000.0 * SECONDS_A_MINUTE,), 30
            ),
            ("vol-io1-busy", "write_ops_peak_minute", 30): Series(
                (200.0 * SECONDS_A_MINUTE,) * 29 + (1000.0 * SECONDS_A_MINUTE,), 30
            ),
        },
    ),
)
