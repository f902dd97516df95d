"""Bulk writes into moto's in-process backends, and two lookups that keep moto linear at scale.

Everything moto-internal that the simulator relies on lives here, so a moto upgrade that moves
something breaks one small file (and ``tests/test_sim*.py`` says where).

Why not boto3 for everything: each request through moto's HTTP layer costs ~8 ms on this machine
(werkzeug, request parsing, XML serialisation), so 20,000 resources would take minutes. The
:class:`BackendWriter` calls the *same backend methods* moto's request handlers call (with the
same arguments those handlers pass), so the objects are ordinary moto objects that every describe
call, paginator and filter sees as if they had been created through the API.

Two moto lookups are linear in the size of the region and are called once per resource, which
makes both seeding and the scanner's listing quadratic (RECIPES: 1k tagged volumes ~1 s, 3k ~6 s):

* ``TagBackend.describe_tags`` scans every tag of every resource of the region, and each EC2 object
  calls it (with an exact ``resource-id`` filter) to render its own tags. :func:`install_fast_lookups`
  answers that exact case from the tag dictionary directly. Results are identical: the filter
  is an ``fnmatch`` pattern that, without wildcards, matches exactly that one id; key order and
  fields are the same as moto's.
* ``InstanceBackend.get_instance`` and ``get_instance_by_id`` walk (and copy) every reservation
  of the region; ``AttachVolume``, ``AssociateAddress`` and ELBv2 ``RegisterTargets`` call them.
  :func:`install_fast_lookups` puts a per-backend index in front of them, checked on every hit
  (the instance must still be in that reservation) and rebuilt by the same full walk on a miss,
  so they return the same instance objects as before, or raise the same error.

Besides, :class:`BackendWriter` attaches the volumes of the instances it creates itself, the way
``attach_volume`` does (tagging them through ``RunInstances`` would scan every volume of the region
per volume), and lets moto validate each instance type once per region instead of on every call.
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

_PATCH_LOCK = threading.Lock()
_WILDCARDS = frozenset("*?[")


def install_fast_lookups() -> None:
    """Make moto's per-resource tag and instance lookups O(1) (see the module docstring).

    Idempotent and process-wide (every moto backend of this process); results are unchanged.
    """
    from moto.ec2.exceptions import InvalidInstanceIdError
    from moto.ec2.models.instances import InstanceBackend
    from moto.ec2.models.tags import TagBackend
    from moto.ec2.utils import EC2_PREFIX_TO_RESOURCE, get_prefix

    with _PATCH_LOCK:
        if getattr(TagBackend.describe_tags, "_cloudwaste_fast", False):
            return
        original = TagBackend.describe_tags

        def describe_tags(self: Any, filters: dict[str, list[str]] | None = None) -> list[dict[str, str]]:
            ids = filters.get("resource-id") if filters and len(filters) == 1 else None
            if not ids or any(_WILDCARDS.intersection(rid) for rid in ids):
                return original(self, filters)
            wanted = set(ids)
            results = []
            # moto walks self.tags in insertion order; keep that order for several ids.
            for rid in self.tags if len(wanted) > 1 else wanted:
                if rid not in wanted:
                    continue
                for key, value in self.tags.get(rid, {}).items():
                    results.append(
                        {
                            "resource_id": rid,
                            "key": key,
                            "value": value,
                            "resource_type": EC2_PREFIX_TO_RESOURCE.get(get_prefix(rid), ""),
                        }
                    )
            return results

        describe_tags._cloudwaste_fast = True  # type: ignore[attr-defined]
        describe_tags._cloudwaste_original = original  # type: ignore[attr-defined]
        describe_tags.__doc__ = original.__doc__
        TagBackend.describe_tags = describe_tags

        def find_instance(self: Any, instance_id: str) -> Any:
            index = self.__dict__.get("_cloudwaste_instance_index")
            hit = index.get(instance_id) if index is not None else None
            if hit is not None:
                reservation, instance = hit
                if self.reservations.get(reservation.id) is reservation and instance in reservation.instances:
                    return instance
            # Miss or stale: the same walk as moto's, remembering every instance on the way.
            index = {}
            for reservation in list(self.reservations.values()):
                for instance in reservation.instances:
                    index[instance.id] = (reservation, instance)
            self.__dict__["_cloudwaste_instance_index"] = index
            hit = index.get(instance_id)
            return hit[1] if hit is not None else None

        def get_instance_by_id(self: Any, instance_id: str) -> Any:
            return find_instance(self, instance_id)

        def get_instance(self: Any, instance_id: str) -> Any:
            instance = find_instance(self, instance_id)
            if instance is None:
                raise InvalidInstanceIdError(instance_id)
            return instance

        for fast, name in ((get_instance_by_id, "get_instance_by_id"), (get_instance, "get_instance")):
            fast._cloudwaste_original = getattr(InstanceBackend, name)  # type: ignore[attr-defined]
            fast.__doc__ = getattr(InstanceBackend, name).__doc__
        InstanceBackend.get_instance_by_id = get_instance_by_id
        InstanceBackend.get_instance = get_instance


def naive(dt: datetime) -> datetime:
    """moto keeps naive UTC datetimes."""
    from datetime import UTC

    return dt.astimezone(UTC).replace(tzinfo=None, microsecond=0)


class BackendWriter:
    """Creates resources in one account and region of the moto running in this process.

    Raises :class:`RuntimeError` on construction when ``probe_vpc_id`` (created through the API
    just before) is not in this process's backend, i.e. when the moto server runs elsewhere.
    """

    def __init__(self, account_id: str, region: str, *, probe_vpc_id: str) -> None:
        from moto.backends import get_backend

        self.account_id = account_id
        self.region = region
        self.ec2 = get_backend("ec2")[account_id][region]
        if probe_vpc_id not in self.ec2.vpcs:
            raise RuntimeError(
                "seed_estate must run in the same process as the moto server it seeds (use start_moto): "
                f"VPC {probe_vpc_id} is not in this process's moto backend for {account_id}/{region}"
            )
        self.elbv2 = get_backend("elbv2")[account_id][region]
        self.cloudwatch = get_backend("cloudwatch")[account_id][region]
        self._validated_types: set[str] = set()

    # EC2 -------------------------------------------------------------------------------------

    def run_instance(
        self,
        *,
        image_id: str,
        instance_type: str,
        subnet_id: str,
        disks: list[tuple[str, int, str, bool]],
        tags: dict[str, str],
        launched: datetime,
    ) -> Any:
        """One instance with its volumes, as ``RunInstances`` with TagSpecifications for both.

        ``disks``: (device name, size GiB, volume type, delete on termination) per volume.
        """
        from moto.ec2.models.block_device import BlockDeviceType
        from moto.ec2.models.elastic_block_store import VolumeAttachment

        reservation = self.ec2.run_instances(
            image_id,
            1,
            None,
            [],
            instance_type=instance_type,
            # False makes moto check the type against its offerings (and raise when
            # MOTO_EC2_ENABLE_INSTANCE_TYPE_VALIDATION is on): once per type is enough.
            is_instance_type_default=instance_type in self._validated_types,
            region_name=self.region,
            subnet_id=subnet_id,
            # Present but empty: moto then creates no default root volume; ours follow.
            block_device_mappings=[],
            tags={"instance": dict(tags)},
        )
        self._validated_types.add(instance_type)
        instance = reservation.instances[0]
        instance.launch_time = naive(launched)
        for device, size, volume_type, delete_on_termination in disks:
            volume = self.ec2.create_volume(
                size=size, zone_name=instance._placement.zone, volume_type=volume_type
            )
            volume.add_tags(dict(tags))
            volume.create_time = naive(launched)
            # What EBSBackend.attach_volume does, minus its scan of every instance of the region.
            volume.attachment = VolumeAttachment(volume, instance, device, "attached")
            volume.attachment.attach_time = naive(launched)
            instance.block_device_mapping[device] = BlockDeviceType(
                volume_id=volume.id,
                status=volume.status,
                size=volume.size,
                attach_time=naive(launched),
                delete_on_termination=delete_on_termination,
            )
        return instance

    def stop_instances(self, instances: list[Any], stopped_at: list[datetime]) -> None:
        """Stop them (as ``StopInstances``) and set the stop time AWS puts in the reason."""
        self.ec2.stop_instances([i.id for i in instances])
        for instance, when in zip(instances, stopped_at, strict=True):
            # AWS's format; moto's own says "UTC".
            instance._reason = f"User initiated ({naive(when):%Y-%m-%d %H:%M:%S} GMT)"

    def create_volume(
        self,
        *,
        zone: str,
        size: int,
        volume_type: str,
        iops: int | None,
        tags: dict[str, str] | None,
        created: datetime,
    ) -> Any:
        volume = self.ec2.create_volume(size=size, zone_name=zone, volume_type=volume_type, iops=iops)
        if tags:
            volume.add_tags(dict(tags))
        volume.create_time = naive(created)
        return volume

    def delete_volume(self, volume_id: str) -> None:
        self.ec2.delete_volume(volume_id)

    def allocate_address(self, tags: dict[str, str]) -> Any:
        return self.ec2.allocate_address("vpc", tags=dict(tags))

    def associate_address(self, allocation_id: str, instance: Any) -> None:
        self.ec2.associate_address(instance=instance, allocation_id=allocation_id)

    def create_snapshot(
        self, *, volume_id: str, description: str, tags: dict[str, str], started: datetime
    ) -> Any:
        snapshot = self.ec2.create_snapshot(volume_id, description)
        snapshot.add_tags(dict(tags))
        snapshot.start_time = naive(started)
        return snapshot

    def create_nat_gateway(
        self, *, subnet_id: str, allocation_id: str, tags: dict[str, str], created: datetime
    ) -> Any:
        nat = self.ec2.create_nat_gateway(subnet_id=subnet_id, allocation_id=allocation_id, tags=dict(tags))
        nat._created_at = naive(created)
        # Its network interface as AWS reports it (moto's looks like a detached one: "available",
        # a plain "interface", not managed by AWS).
        eni = nat._eni
        eni.status, eni.interface_type, eni.requester_managed = "in-use", "nat_gateway", True
        eni.description = f"Interface for NAT Gateway {nat.id}"
        return nat

    # ELBv2 -----------------------------------------------------------------------------------

    def create_load_balancer(
        self, *, name: str, subnet_ids: list[str], scheme: str, tags: dict[str, str], created: datetime
    ) -> Any:
        from moto.core.utils import iso_8601_datetime_with_milliseconds

        lb = self.elbv2.create_load_balancer(
            name=name,
            security_groups=[],
            subnet_ids=list(subnet_ids),
            subnet_mappings=[],
            scheme=scheme,
            loadbalancer_type="application",
            ip_address_type="ipv4",
            tags=[{"Key": k, "Value": v} for k, v in tags.items()],
        )
        lb.created_time = iso_8601_datetime_with_milliseconds(naive(created))
        return lb

    def create_forwarding_target_group(self, *, load_balancer_arn: str, name: str, vpc_id: str) -> Any:
        """An HTTP:80 instance target group and a listener on the load balancer forwarding to it."""
        group = self.elbv2.create_target_group(
            name, vpc_id=vpc_id, protocol="HTTP", port=80, target_type="instance"
        )
        self.elbv2.create_listener(
            load_balancer_arn=load_balancer_arn,
            protocol="HTTP",
            port=80,
            ssl_policy="ELBSecurityPolicy-2016-08",
            certificate=None,
            actions=[{"Type": "forward", "TargetGroupArn": group.arn}],
        )
        return group

    def register_targets(self, target_group_arn: str, instance_ids: list[str]) -> None:
        self.elbv2.register_targets(target_group_arn, [{"Id": iid, "Port": 80} for iid in instance_ids])

    # CloudWatch ------------------------------------------------------------------------------

    def put_metric_data(self, namespace: str, metric_data: list[dict[str, Any]]) -> None:
        """As ``PutMetricData`` (timestamps as aware or naive UTC datetimes)."""
        self.cloudwatch.put_metric_data(namespace, metric_data)
