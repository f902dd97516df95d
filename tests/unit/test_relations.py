"""Parent links and parent states (relations.resolve): declared by a kind or set by its listing,
the state read from the parent as listed, `orphan` only when the parent's kind was listed in full
where the child is, unknown otherwise."""

from __future__ import annotations

from cloudwaste.scanner import relations
from cloudwaste.scanner.domain import Resource
from cloudwaste.scanner.kinds import Kind, parent_at
from cloudwaste.scanner.kinds import load_all as load_kinds

VM, DISK, SNAP = "t.compute.vm", "t.compute.disk", "t.compute.snapshot"


def _kind(key: str, parent=None) -> Kind:
    return Kind(key, "t", key, (), "id", "name", None, {}, lambda *a: [], parent=parent)


KINDS = [_kind(VM), _kind(DISK, parent_at("managed_by", VM)), _kind(SNAP, parent_at("source", DISK))]


def _r(kind: str, rid: str, region: str = "r1", **attributes) -> Resource:
    return Resource("t", kind, rid, region, attributes=attributes)


def test_a_declared_parent_is_linked_and_its_state_read_from_the_listing():
    listings = {
        VM: [_r(VM, "vm-1", power_state="Deallocated"), _r(VM, "vm-2")],
        DISK: [_r(DISK, "d-1", managed_by="vm-1"), _r(DISK, "d-2", managed_by=None), _r(DISK, "d-3", managed_by="vm-2")],
    }
    out = {r.resource_id: r for rs in relations.resolve(KINDS, listings, {}).values() for r in rs}
    assert (out["d-1"].parent_kind, out["d-1"].parent_id, out["d-1"].parent_state) == (VM, "vm-1", "deallocated")
    assert (out["d-2"].parent_kind, out["d-2"].parent_id, out["d-2"].parent_state) == (None, None, None)
    assert out["d-3"].parent_state == relations.EXISTS  # listed, with no state of its own
    assert out["vm-1"].parent_id is None


def test_a_parent_gone_is_an_orphan_only_where_its_kind_was_listed_in_full():
    listings = {
        DISK: [_r(DISK, "d-1", region="r1")],
        SNAP: [_r(SNAP, "s-1", region="r1", source="d-gone"), _r(SNAP, "s-2", region="r2", source="d-gone-2")],
    }
    out = {r.resource_id: r for rs in relations.resolve(KINDS, listings, {DISK: frozenset({"r2"})}).values() for r in rs}
    assert out["s-1"].parent_state == "orphan"
    assert out["s-2"].parent_state is None  # r2 did not answer for disks: absent there is not gone


def test_an_unlisted_parent_kind_leaves_the_state_unknown_and_a_listing_set_parent_wins():
    listings = {
        SNAP: [
            _r(SNAP, "s-1", source="d-1"),
            Resource("t", SNAP, "s-2", "r1", attributes={"source": "d-1"}, parent_id="x", parent_kind=VM,
                     parent_state="kept-by-listing"),
        ]
    }
    out = {r.resource_id: r for rs in relations.resolve(KINDS, listings, {}).values() for r in rs}
    assert (out["s-1"].parent_kind, out["s-1"].parent_state) == (DISK, None)
    assert (out["s-2"].parent_id, out["s-2"].parent_state) == ("x", "kept-by-listing")


def test_a_long_state_fits_the_column():
    listings = {VM: [_r(VM, "vm-1", status="X" * 100)], DISK: [_r(DISK, "d-1", managed_by="vm-1")]}
    (disk,) = relations.resolve(KINDS, listings, {})[DISK]
    assert disk.parent_state == "x" * 32


def test_declared_parents_name_registered_kinds():
    """Every parent a kind declares (the Auto Scaling group aside, which CloudWaste does not list)
    is a kind of the same provider."""
    kinds = load_kinds()
    declared = {k.key for k in kinds.kinds.values() if k.parent is not None}
    assert {"azure.compute.disk", "azure.network.public_ip", "gcp.compute.disk", "gcp.compute.address",
            "aws.ec2.instance"} <= declared
    probe = {
        "azure.compute.disk": {"managed_by": "/subscriptions/s/resourcegroups/g/providers/microsoft.compute/virtualmachines/v"},
        "azure.network.public_ip": {
            "ip_configuration": "/subscriptions/s/resourcegroups/g/providers/microsoft.network/networkinterfaces/n/ipconfigurations/c"
        },
        "gcp.compute.address": {"users": ["projects/p/regions/r/forwardingRules/f"]},
    }
    for key, attributes in probe.items():
        kind = kinds.get(key)
        parent_kind, parent_id = kind.parent(Resource(kind.provider, key, "x", "r", attributes=attributes))
        assert parent_kind in kinds.kinds and parent_kind.startswith(kind.provider + ".")
        assert not parent_id.endswith("/c")  # the NIC, not its IP configuration
