"""Ground truth of a simulated estate: which resources exist, which are waste, what a user decided.

The values here are cloud-agnostic and carry no SDK dependency, so a scanner test, a benchmark or
the training pipeline can read a ground-truth file without importing moto or boto3.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1

#: The decisions a simulated user makes on a waste finding.
DECISIONS: tuple[str, ...] = ("deleted", "kept", "ignored")


@dataclass(frozen=True)
class TruthResource:
    """One simulated resource, as the scanner will report it.

    Attributes:
        resource_id: The id the scanner reports: ``vol-...``, ``eipalloc-...``, ``i-...``,
            ``snap-...``, ``nat-...`` or, for load balancers, the ARN.
        resource_type: One of ``aws.ec2.volume``, ``aws.ec2.elastic_ip``, ``aws.ec2.instance``,
            ``aws.ec2.snapshot``, ``aws.ec2.nat_gateway``, ``aws.elbv2.load_balancer``.
        region: The region the resource lives in.
        scenario: The waste scenario key (e.g. ``ebs-volume-unattached``), or ``None`` when the
            resource is not waste (including deliberate near misses).
        decision: For waste only: ``deleted``, ``kept`` or ``ignored``, the simulated user's
            decision on the finding. ``None`` for resources that are not waste.
        tags: The resource's tags exactly as created.
    """

    resource_id: str
    resource_type: str
    region: str
    scenario: str | None
    decision: str | None
    tags: dict[str, str] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        if (self.scenario is None) != (self.decision is None):
            raise ValueError(f"{self.resource_id}: a decision is given exactly when a scenario is")
        if self.decision is not None and self.decision not in DECISIONS:
            raise ValueError(f"{self.resource_id}: unknown decision {self.decision!r}")

    @property
    def is_waste(self) -> bool:
        return self.scenario is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "resource_id": self.resource_id,
            "resource_type": self.resource_type,
            "region": self.region,
            "scenario": self.scenario,
            "decision": self.decision,
            "tags": dict(self.tags),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TruthResource:
        return cls(
            resource_id=str(data["resource_id"]),
            resource_type=str(data["resource_type"]),
            region=str(data["region"]),
            scenario=data.get("scenario"),
            decision=data.get("decision"),
            tags={str(k): str(v) for k, v in (data.get("tags") or {}).items()},
        )


@dataclass(frozen=True)
class GroundTruth:
    """Everything a seeded estate contains, with the known waste and simulated decisions.

    Attributes:
        seed: The seed the estate was generated from.
        size: The requested size; ``len(resources)`` is the actual count (at least ``size``).
        regions: The regions the estate spans.
        account_id: The (moto) account the resources were created in.
        created_at: ISO-8601 UTC timestamp used as "now" when the estate was generated; all
            backdated times are relative to it.
        resources: Every resource the scanner can enumerate, in creation order.
    """

    seed: int
    size: int
    regions: tuple[str, ...]
    account_id: str
    created_at: str
    resources: tuple[TruthResource, ...]

    def waste(self) -> tuple[TruthResource, ...]:
        """The resources that are waste (those with a scenario)."""
        return tuple(r for r in self.resources if r.scenario is not None)

    def by_scenario(self) -> dict[str, int]:
        """Number of waste resources per scenario key, sorted by key."""
        counts = Counter(r.scenario for r in self.resources if r.scenario is not None)
        return {k: counts[k] for k in sorted(counts)}

    def by_type(self) -> dict[str, int]:
        """Number of resources (waste or not) per resource type, sorted by type."""
        counts = Counter(r.resource_type for r in self.resources)
        return {k: counts[k] for k in sorted(counts)}

    def get(self, resource_id: str) -> TruthResource | None:
        """The resource with this id, or ``None``."""
        for r in self.resources:
            if r.resource_id == resource_id:
                return r
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "seed": self.seed,
            "size": self.size,
            "regions": list(self.regions),
            "account_id": self.account_id,
            "created_at": self.created_at,
            "resources": [r.to_dict() for r in self.resources],
        }

    def to_json(self, *, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, sort_keys=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GroundTruth:
        version = data.get("schema_version", SCHEMA_VERSION)
        if version != SCHEMA_VERSION:
            raise ValueError(f"unsupported ground-truth schema_version {version}")
        return cls(
            seed=int(data["seed"]),
            size=int(data["size"]),
            regions=tuple(data["regions"]),
            account_id=str(data["account_id"]),
            created_at=str(data["created_at"]),
            resources=tuple(TruthResource.from_dict(r) for r in data["resources"]),
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> GroundTruth:
        return cls.from_dict(json.loads(text))

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> GroundTruth:
        return cls.from_json(Path(path).read_text(encoding="utf-8"))

    def write(self, path: str | os.PathLike[str]) -> Path:
        """Write the JSON atomically (temp file in the same directory, then ``os.replace``)."""
        return atomic_write_text(path, self.to_json() + "\n")


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` to ``path`` so readers see either the old file or the whole new one."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        os.chmod(tmp, 0o644)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return target
