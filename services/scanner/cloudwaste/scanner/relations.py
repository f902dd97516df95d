"""Relationships between the resources of one scope: which resource each belongs to (a volume's
instance, a snapshot's volume, an address's interface...) and what state that parent is in, for
the ML row's parent columns (the parent's id is hashed there like any other).

A kind declares its parent (`kinds.kind(parent=...)`) or its listing sets `Resource.parent_id`.
The parent's state is read from the parent as listed in the same scan (its `state`, `status` or
power state, lower case); a parent whose kind was listed in full where the child is, and that is
not there, is gone: the state is `orphan`. A parent the scan did not list leaves the state
unknown (None), never guessed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace

from cloudwaste.scanner.domain import ORPHAN, Resource
from cloudwaste.scanner.kinds import Kind

EXISTS = "exists"  # a parent listed with no state of its own
_STATE_ATTRIBUTES = ("state", "status", "power_state", "disk_state", "capability_status")
_STATE_LENGTH = 32  # ml_training_data.parent_resource_state


def parent_state(parent: Resource) -> str:
    for attribute in _STATE_ATTRIBUTES:
        value = parent.attributes.get(attribute)
        if value:
            return str(value).lower()[:_STATE_LENGTH]
    return EXISTS


def resolve(
    kinds: Iterable[Kind], listings: Mapping[str, list[Resource]], unreached: Mapping[str, frozenset[str]]
) -> dict[str, list[Resource]]:
    """The listings with each resource's parent linked (from its kind's declaration, unless the
    listing set one) and the parent's state filled (unless the listing set it)."""
    declared = {k.key: k.parent for k in kinds if k.parent is not None}
    linked: dict[str, list[Resource]] = {}
    for key, resources in listings.items():
        parent_of = declared.get(key)
        out = []
        for r in resources:
            if parent_of is not None and r.parent_id is None:
                found = parent_of(r)
                if found is not None:
                    r = replace(r, parent_kind=found[0], parent_id=found[1])
            out.append(r)
        linked[key] = out
    index = {(r.kind, r.resource_id): r for rs in linked.values() for r in rs}
    for resources in linked.values():
        for i, r in enumerate(resources):
            if not r.parent_id or not r.parent_kind or r.parent_state is not None:
                continue
            parent = index.get((r.parent_kind, r.parent_id))
            if parent is not None:
                state: str | None = parent_state(parent)
            elif r.parent_kind in linked and r.region not in unreached.get(r.parent_kind, ()):
                state = ORPHAN
            else:
                state = None
            if state is not None:
                resources[i] = replace(r, parent_state=state)
    return linked
