"""Edge cases of the GCP Compute Engine rules (disks, instances, static IPs, snapshots, images)
and the price tables they read."""

from __future__ import annotations

from decimal import Decimal

import pytest
from cloudwaste.scanner.cloud_prices import CloudPrices
from cloudwaste.scanner.domain import Resource
from cloudwaste.scanner.kinds.gcp._common import region_of
from cloudwaste.scanner.kinds.gcp.compute import _disks_from_images
from cloudwaste.scanner.rules import Context, Series, load_all
from cloudwaste.scanner.rules.gcp._common import NOW, days_ago, path, res

RULES = load_all().rules
PRICES = CloudPrices("gcp", normalize=region_of)  # what the GCP provider gives every project
Z = "zones/us-central1-a"
DISK, INSTANCE, ADDRESS = "gcp.compute.disk", "gcp.compute.instance", "gcp.compute.address"
SNAPSHOT, IMAGE = "gcp.compute.snapshot", "gcp.compute.image"


def run(key: str, r: Resource, related=(), series=None, **params):
    index = {(x.kind, x.resource_id): x for x in related}
    series = series or {}
    ctx = Context(
        now=NOW,
        prices=PRICES,
        lookup=lambda k, rid: index.get((k, rid)),
        metric=lambda res_, name, days: series.get((res_.resource_id, name, days)),
    )
    rule = RULES[key]
    return rule.evaluate(r, rule.resolve_params(params), ctx)


def vm(
    name: str,
    status: str = "TERMINATED",
    stopped: float | None = 45,
    machine_type: str = "n2-standard-4",
    created: float = 400,
    **extra,
) -> Resource:
    return res(
        INSTANCE,
        path(Z, "instances", name),
        created,
        "us-central1-a",
        status=status,
        machine_type=machine_type,
        instance_id=f"id-{name}",
        last_stop=None if stopped is None else days_ago(stopped),
        disks=extra.pop("disks", []),
        nat_ips=extra.pop("nat_ips", []),
        **extra,
    )


def disk(
    name: str, users: list[str], disk_type: str = "pd-ssd", size: int = 100, regional: bool = False
) -> Resource:
    return res(
        DISK,
        path(Z, "disks", name),
        400,
        "us-central1-a",
        status="READY",
        users=users,
        disk_type=disk_type,
        size_gb=size,
        regional=regional,
    )


def link(name: str) -> str:
    return path(Z, "instances", name)


# --- prices ------------------------------------------------------------------------------------------


def test_price_tables_hold_the_compute_entries():
    assert PRICES.monthly_from_hourly("us-central1-a", "compute", "machine_hour", "e2-standard-2") == Decimal(
        "48.9144"
    )
    assert PRICES.monthly_from_hourly("europe-west1-b", "compute", "static_ip_hour", "unused") == Decimal(
        "7.3"
    )
    assert PRICES.monthly_from_hourly("global", "compute", "static_ip_hour", "on_stopped_vm") == Decimal(
        "7.3"
    )
    assert PRICES.monthly("us", "disks", "snapshot_gb_month", "standard", quantity=10) == Decimal("0.65")
    assert PRICES.monthly("us", "disks", "image_gb_month", quantity=10) == Decimal("0.5")
    assert PRICES.price("us-central1", "compute", "machine_hour", "custom-4-16384") is None


# --- instances ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("days", "expected"), [(29.9, None), (30, "MEDIUM"), (89, "MEDIUM"), (90, "HIGH")])
def test_terminated_long_boundaries(days, expected):
    det = run("gcp-instance-terminated-long", vm("a", stopped=days))
    assert (det and det.confidence) == expected
    if det:
        assert det.monthly_cost == 0 and det.evidence["monthly_cost_note"]


@pytest.mark.parametrize("status", ["RUNNING", "STOPPING", "SUSPENDED"])
def test_terminated_long_needs_a_stopped_instance(status):
    assert run("gcp-instance-terminated-long", vm("a", status=status, stopped=100)) is None


def test_terminated_long_without_a_stop_time_is_not_judged():
    assert run("gcp-instance-terminated-long", vm("a", stopped=None)) is None


def test_terminated_long_counts_its_disks():
    r = vm(
        "a",
        stopped=60,
        disks=[{"source": "x", "size_gb": 10}, {"source": "y", "size_gb": 200}],
        nat_ips=["1.2.3.4"],
    )
    ev = run("gcp-instance-terminated-long", r).evidence
    assert (ev["attached_disk_count"], ev["attached_disk_gb"], ev["external_ip_count"]) == (2, 210, 1)


def _series(rid: str, cpu, rx, tx, days: int = 14):
    s = lambda v: Series(tuple(v), days)  # noqa: E731
    return {
        (rid, "cpu_mean", days): s(cpu),
        (rid, "cpu_max", days): s(cpu),
        (rid, "received_bytes", days): s(rx),
        (rid, "sent_bytes", days): s(tx),
    }


def running(name: str, machine_type: str = "n2-standard-4", created: float = 60) -> Resource:
    return vm(name, status="RUNNING", stopped=None, machine_type=machine_type, created=created)


def test_idle_instance_is_priced_at_its_machine_type():
    r = running("idle")
    det = run("gcp-instance-idle", r, series=_series(r.resource_id, [0.005] * 14, [1e6] * 14, [1e6] * 14))
    assert det.confidence == "HIGH"
    assert det.monthly_cost == Decimal("141.7923")  # 0.194236 x 730
    assert det.evidence["price_region"] == "us-central1"


def test_idle_with_an_unknown_machine_type_costs_zero_and_says_so():
    r = running("custom", "custom-4-16384")
    det = run("gcp-instance-idle", r, series=_series(r.resource_id, [0.005] * 14, [1e6] * 14, [1e6] * 14))
    assert det.monthly_cost == 0 and "custom-4-16384" in det.evidence["cost_unknown"]


@pytest.mark.parametrize(
    ("cpu", "rx", "tx"),
    [
        ([0.005] * 13 + [0.04], [1e6] * 14, [1e6] * 14),  # one day above 3%
        ([0.005] * 14, [1e6] * 13 + [2601 * 86400], [1e6] * 14),  # received above 2,600 B/s one day
        ([0.005] * 14, [1e6] * 14, [1e6] * 13 + [1001 * 86400]),  # sent above 1,000 B/s one day
    ],
)
def test_idle_needs_every_day_quiet(cpu, rx, tx):
    r = running("busy")
    assert run("gcp-instance-idle", r, series=_series(r.resource_id, cpu, rx, tx)) is None


def test_idle_needs_coverage_series_and_age():
    r = running("sparse")
    sparse = _series(r.resource_id, [0.005] * 11, [1e6] * 11, [1e6] * 11)
    assert run("gcp-instance-idle", r, series=sparse) is None
    assert run("gcp-instance-idle", r, series=sparse, min_coverage=0.75).confidence == "MEDIUM"
    assert run("gcp-instance-idle", r) is None  # not fetched: not judged
    young = running("young", created=10)
    assert (
        run("gcp-instance-idle", young, series=_series(young.resource_id, [0.0] * 14, [0] * 14, [0] * 14))
        is None
    )
    ctx = Context(now=NOW, prices=PRICES)
    params = RULES["gcp-instance-idle"].resolve_params()
    assert not RULES["gcp-instance-idle"].candidate(young, params, ctx)
    assert RULES["gcp-instance-idle"].candidate(r, params, ctx)
    assert not RULES["gcp-instance-idle"].candidate(vm("stopped", stopped=3), params, ctx)


def test_underused_halves_big_machines_and_leaves_idle_ones_to_the_idle_rule():
    big = running("big", "n2-standard-8")
    det = run(
        "gcp-instance-underused", big, series=_series(big.resource_id, [0.1] * 14, [1e9] * 14, [1e9] * 14)
    )
    assert det.monthly_cost == Decimal("141.7923") and det.evidence["suggested_vcpus"] == 4
    idle = _series(big.resource_id, [0.005] * 14, [1e6] * 14, [1e6] * 14)
    assert run("gcp-instance-underused", big, series=idle) is None
    assert run("gcp-instance-idle", big, series=idle) is not None
    small = running("small", "n2-standard-2")
    assert (
        run(
            "gcp-instance-underused",
            small,
            series=_series(small.resource_id, [0.1] * 14, [1e9] * 14, [1e9] * 14),
        )
        is None
    )
    peak = _series(big.resource_id, [0.1] * 13 + [0.2], [1e9] * 14, [1e9] * 14)
    assert run("gcp-instance-underused", big, series=peak) is None


# --- disks of stopped instances ----------------------------------------------------------------------


def test_disk_of_terminated_instance_is_a_part_of_the_instance_finding():
    det = run(
        "gcp-disk-of-terminated-instance", disk("d", [link("old")], "pd-ssd", 100), [vm("old", stopped=100)]
    )
    assert det.parent.resource_id == link("old") and det.parent.scenario == "gcp-instance-terminated-long"
    assert det.monthly_cost == Decimal("17") and det.confidence == "HIGH"


def test_disk_shared_by_a_running_instance_or_an_unlisted_one_is_not_flagged():
    shared = disk("d", [link("old"), link("live")], "pd-standard")
    related = [vm("old", stopped=100), vm("live", status="RUNNING", stopped=None)]
    assert run("gcp-disk-of-terminated-instance", shared, related) is None
    assert run("gcp-disk-of-terminated-instance", disk("d", [link("ghost")]), []) is None
    assert run("gcp-disk-of-terminated-instance", disk("d", []), []) is None


def test_disk_shared_by_stopped_instances_counts_from_the_latest_stop():
    shared = disk("d", [link("a"), link("b")], "pd-standard")
    assert run("gcp-disk-of-terminated-instance", shared, [vm("a", stopped=100), vm("b", stopped=20)]) is None
    det = run(
        "gcp-disk-ssd-on-stopped-instance",
        disk("s", [link("a"), link("b")]),
        [vm("a", stopped=100), vm("b", stopped=20)],
    )
    assert det.evidence["instance_stopped_days"] == 20


@pytest.mark.parametrize(("days", "fires"), [(6.9, False), (7, True), (29.9, True), (30, False)])
def test_ssd_on_stopped_instance_window(days, fires):
    det = run(
        "gcp-disk-ssd-on-stopped-instance", disk("d", [link("a")], "pd-ssd", 100), [vm("a", stopped=days)]
    )
    assert (det is not None) == fires
    if det:
        assert det.monthly_cost == Decimal("13")  # (0.17 - 0.04) x 100
        assert det.parent is None


def test_ssd_on_stopped_instance_ignores_pd_standard_and_prices_regional_disks():
    stopped = [vm("a", stopped=10)]
    assert run("gcp-disk-ssd-on-stopped-instance", disk("d", [link("a")], "pd-standard"), stopped) is None
    det = run(
        "gcp-disk-ssd-on-stopped-instance", disk("d", [link("a")], "pd-balanced", 100, regional=True), stopped
    )
    assert det.monthly_cost == Decimal("12")  # (0.2 - 0.08) x 100


def test_disk_rules_are_exclusive():
    for days in (1, 7, 15, 30, 100):
        related = [vm("a", stopped=days)]
        d = disk("d", [link("a")], "pd-ssd")
        fired = [k for k in RULES if RULES[k].resource_kind == DISK and run(k, d, related) is not None]
        assert len(fired) <= 1, (days, fired)


# --- addresses ---------------------------------------------------------------------------------------


def address(
    name: str, status: str, users: list[str], address_type: str = "EXTERNAL", created: float = 30
) -> Resource:
    return res(
        ADDRESS,
        path("regions/us-central1", "addresses", name),
        created,
        "us-central1",
        status=status,
        address_type=address_type,
        users=users,
        network_tier="PREMIUM",
        **{"global": False},
    )


def test_address_unused():
    det = run("gcp-address-unused", address("a", "RESERVED", []))
    assert det.monthly_cost == Decimal("7.3") and det.confidence == "HIGH"
    assert run("gcp-address-unused", address("a", "RESERVED", [], created=3)).confidence == "MEDIUM"
    assert run("gcp-address-unused", address("a", "RESERVED", [], created=0.5)) is None
    assert run("gcp-address-unused", address("a", "RESERVED", [], "INTERNAL")) is None
    assert run("gcp-address-unused", address("a", "IN_USE", [link("x")])) is None


@pytest.mark.parametrize(("days", "parent"), [(6, None), (7, False), (29, False), (30, True)])
def test_address_on_stopped_instance(days, parent):
    det = run(
        "gcp-address-on-stopped-instance", address("a", "IN_USE", [link("vm")]), [vm("vm", stopped=days)]
    )
    if parent is None:
        assert det is None
    else:
        assert det.monthly_cost == Decimal("7.3")
        assert (det.parent is not None) == parent


def test_address_of_a_forwarding_rule_or_a_running_vm_is_not_flagged():
    fr = "projects/fixtures-project/regions/us-central1/forwardingRules/web"
    assert run("gcp-address-on-stopped-instance", address("a", "IN_USE", [fr]), []) is None
    running_vm = [vm("vm", status="RUNNING", stopped=None)]
    assert run("gcp-address-on-stopped-instance", address("a", "IN_USE", [link("vm")]), running_vm) is None


# --- snapshots and images ----------------------------------------------------------------------------


def snapshot(name: str, age: float, source: str | None, auto: bool = False) -> Resource:
    return res(
        SNAPSHOT,
        path("global", "snapshots", name),
        age,
        "global",
        status="READY",
        source_disk=source,
        storage_gb=10.0,
        disk_size_gb=100,
        storage_locations=["us"],
        snapshot_type="standard",
        auto_created=auto,
    )


def test_snapshot_orphaned_and_old_split_on_the_source_disk():
    live = disk("live", [])
    gone = path(Z, "disks", "gone")
    det = run("gcp-snapshot-orphaned", snapshot("s", 40, gone), [live])
    assert det.monthly_cost == Decimal("0.65") and det.evidence["storage_location"] == "us"
    assert run("gcp-snapshot-old", snapshot("s", 400, gone), [live]) is None
    assert run("gcp-snapshot-orphaned", snapshot("s", 400, live.resource_id), [live]) is None
    assert run("gcp-snapshot-old", snapshot("s", 400, live.resource_id), [live]).confidence == "MEDIUM"
    assert run("gcp-snapshot-old", snapshot("s", 80, live.resource_id), [live]) is None
    assert run("gcp-snapshot-old", snapshot("s", 400, live.resource_id, auto=True), [live]) is None
    assert run("gcp-snapshot-orphaned", snapshot("s", 20, gone), [live]) is None


def test_snapshot_of_a_disk_in_another_project_or_of_no_disk_is_not_judged():
    other = "projects/someone-else/zones/us-central1-a/disks/d"
    assert run("gcp-snapshot-orphaned", snapshot("s", 400, other)) is None
    assert run("gcp-snapshot-orphaned", snapshot("s", 400, None)) is None
    assert run("gcp-snapshot-old", snapshot("s", 400, None)) is None


def image(name: str, age: float = 200, **attrs) -> Resource:
    base = dict(
        status="READY",
        disk_size_gb=20,
        archive_bytes=2 * 1024**3,
        archive_gb=2.0,
        family=None,
        family_in_use=False,
        deprecated=None,
        storage_locations=["us"],
        disks_from_it=0,
    )
    return res(IMAGE, path("global", "images", name), age, "global", **(base | attrs))


def test_image_unused():
    det = run("gcp-image-unused", image("i"))
    assert det.monthly_cost == Decimal("0.1") and det.confidence == "MEDIUM"
    assert run("gcp-image-unused", image("i", deprecated="DEPRECATED")).confidence == "HIGH"
    assert run("gcp-image-unused", image("i", disks_from_it=2)) is None
    assert run("gcp-image-unused", image("i", family="app", family_in_use=True)) is None
    assert run("gcp-image-unused", image("i", age=30)) is None
    assert run("gcp-image-unused", image("i", status="PENDING")) is None
    sized = run("gcp-image-unused", image("i", archive_bytes=0))
    assert sized.monthly_cost == Decimal("1")  # 20 GB x 0.05 when no archive size


def test_image_listing_counts_disks_by_image_id_and_family():
    def d(source, source_id=None):
        return res(DISK, path(Z, "disks", "x"), 10, source_image=source, source_image_id=source_id)

    counts, families = _disks_from_images(
        [
            d("projects/p/global/images/a", "11"),
            d(None, "11"),
            d("projects/p/global/images/family/web"),
            d("projects/debian-cloud/global/images/debian-12"),
        ]
    )
    assert counts["projects/p/global/images/a"] == 1 and counts["11"] == 2
    assert families == {"projects/p|web"}
