"""The registry of resource kinds (after Cloud Custodian's resource managers).

A kind (``aws.ec2.volume``) declares the provider that lists it, the API operations its listing
makes (named as IAM actions, e.g. ``ec2:DescribeVolumes``), the IAM permissions those need, the
fields that carry its id, name and creation time, the configuration fields that may enter an ML
row, the other kinds its listing needs (an instance needs the volumes attached to it) and the
listing function itself. The engine lists a kind once per scope, only when an enabled rule needs
it, and gives the same listing to every rule of that kind.
"""

from __future__ import annotations

import datetime as dt
import importlib
import inspect
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cloudwaste.scanner.domain import Resource

_KIND_KEY = re.compile(r"^[a-z0-9]+(\.[a-z0-9_]+){2,}$")

# list(connection, scope, now, dependencies) -> resources of this kind in this scope.
# `dependencies` maps each kind named in `requires` to its complete listing in the same scope.
Lister = Callable[[Any, str, dt.datetime, Mapping[str, Sequence[Resource]]], list[Resource]]

# Allowed types of one ML configuration field.
ConfigTypes = type | tuple[type, ...]
# parent(resource) -> (parent kind, parent resource id), or None when it has no parent.
ParentOf = Callable[[Resource], "tuple[str, str] | None"]


def parent_at(attribute: str, parent_kind: str) -> ParentOf:
    """The parent is the `parent_kind` resource whose id is in the `attribute` attribute (the
    first, when it is a list): a disk's `managed_by`, a snapshot's `source_disk`..."""

    def parent(r: Resource) -> tuple[str, str] | None:
        value = r.attributes.get(attribute)
        if isinstance(value, list | tuple):
            value = value[0] if value else None
        return (parent_kind, str(value)) if value else None

    return parent


class Listing(list):
    """What a listing returns when some regions did not answer (a GCP aggregated list with partial
    success): the resources of the regions that did, and `unreached` {region: why}. The engine
    evaluates those resources, reports the kind as incomplete, and the store resolves no finding
    of this kind in an unreached region (absent there is not gone)."""

    def __init__(self, resources=(), unreached: Mapping[str, str] | None = None) -> None:
        super().__init__(resources)
        self.unreached: dict[str, str] = dict(unreached or {})


@dataclass(frozen=True)
class Kind:
    key: str  # "<provider>.<service>.<type>", e.g. "aws.ec2.volume"
    provider: str
    title: str
    # API operations the listing makes, named as IAM actions ("ec2:DescribeVolumes").
    operations: tuple[str, ...]
    # Where the id, the display name and the creation time come from in the provider's record
    # ("tag:Name" means the Name tag); created_field is None when the API does not say.
    id_field: str
    name_field: str
    created_field: str | None
    # Configuration fields that may reach an ML row, with their allowed types. Nothing else does.
    ml_config: Mapping[str, ConfigTypes]
    list: Lister
    # Kinds whose listing (same scope) this kind's listing reads.
    requires: tuple[str, ...] = ()
    # IAM permissions the operations need; empty means "the operations themselves".
    extra_permissions: tuple[str, ...] = ()
    doc: str = ""
    # The resource this one belongs to, as (parent kind, parent resource id), or None: a volume's
    # instance, a snapshot's volume, an address's interface... (see `parent_at`). A listing that
    # sets Resource.parent_id itself takes precedence.
    parent: ParentOf | None = None

    @property
    def permissions(self) -> tuple[str, ...]:
        """Every IAM permission listing this kind needs (its operations, plus any extra ones)."""
        return tuple(sorted(set(self.operations) | set(self.extra_permissions)))


@dataclass
class KindRegistry:
    kinds: dict[str, Kind] = field(default_factory=dict)

    def register(self, kind: Kind) -> Kind:
        if not _KIND_KEY.match(kind.key):
            raise ValueError(f"kind key {kind.key!r} must look like provider.service.type")
        if not kind.key.startswith(kind.provider + "."):
            raise ValueError(f"kind {kind.key!r} must start with its provider {kind.provider!r}")
        if kind.key in self.kinds:
            raise ValueError(f"kind {kind.key!r} registered twice")
        self.kinds[kind.key] = kind
        return kind

    def get(self, key: str) -> Kind:
        try:
            return self.kinds[key]
        except KeyError:
            raise KeyError(f"resource kind {key!r} is not registered") from None

    def __contains__(self, key: object) -> bool:
        return key in self.kinds

    def __iter__(self) -> Iterator[Kind]:
        return iter(self.kinds.values())

    def for_provider(self, provider: str) -> list[Kind]:
        return [k for k in self.kinds.values() if k.provider == provider]

    def closure(self, keys: Sequence[str] | set[str] | frozenset[str]) -> list[Kind]:
        """The kinds with everything they require, dependencies first (each exactly once).

        Raises KeyError for an unregistered kind and ValueError for a dependency cycle.
        """
        ordered: list[Kind] = []
        state: dict[str, str] = {}

        def visit(key: str, path: tuple[str, ...]) -> None:
            if state.get(key) == "done":
                return
            if state.get(key) == "visiting":
                raise ValueError(f"kinds require each other in a cycle: {' -> '.join((*path, key))}")
            state[key] = "visiting"
            kind = self.get(key)
            for dep in kind.requires:
                visit(dep, (*path, key))
            state[key] = "done"
            ordered.append(kind)

        for key in sorted(keys):
            visit(key, ())
        return ordered


KINDS = KindRegistry()


def kind(
    *,
    key: str,
    provider: str,
    title: str,
    operations: tuple[str, ...],
    id_field: str,
    name_field: str,
    created_field: str | None,
    ml_config: Mapping[str, ConfigTypes],
    requires: tuple[str, ...] = (),
    extra_permissions: tuple[str, ...] = (),
    parent: ParentOf | None = None,
) -> Callable[[Lister], Lister]:
    """Decorator: registers the function as the kind's listing; its docstring is the kind's doc."""

    def wrap(fn: Lister) -> Lister:
        KINDS.register(
            Kind(
                key=key,
                provider=provider,
                title=title,
                operations=operations,
                id_field=id_field,
                name_field=name_field,
                created_field=created_field,
                ml_config=dict(ml_config),
                list=fn,
                requires=requires,
                extra_permissions=extra_permissions,
                doc=inspect.cleandoc(fn.__doc__ or ""),
                parent=parent,
            )
        )
        return fn

    return wrap


class LazyModule:
    """A module imported on first attribute access: registering kinds must not pay for an SDK's
    import (google.cloud.compute_v1 takes a second), which only listing needs."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._module: Any = None

    def __getattr__(self, attr: str) -> Any:
        if self._module is None:
            self._module = importlib.import_module(self._name)
        return getattr(self._module, attr)


def load_all() -> KindRegistry:
    """Imports every kind module so that the registry is complete."""
    from cloudwaste.scanner.kinds import aws, azure, gcp, m365  # noqa: F401

    return KINDS


def ml_config_allowlist(kind_key: str) -> Mapping[str, ConfigTypes]:
    """The ML configuration allow-list of a kind; empty for a kind nobody registered."""
    registry = load_all()
    return registry.kinds[kind_key].ml_config if kind_key in registry else {}
