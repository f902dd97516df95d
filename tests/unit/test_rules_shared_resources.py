"""Resources other accounts share with the scanned one: capacity reservations and Transit Gateway
attachments are listed (and priced) only where the scanned account pays for them."""

from __future__ import annotations

import datetime as dt

import boto3
from botocore.stub import Stubber
from cloudwaste.scanner.domain import Resource
from cloudwaste.scanner.kinds import load_all as load_kinds
from cloudwaste.scanner.pricing import AwsPrices
from cloudwaste.scanner.rules import Context, Series, load_all

KINDS = load_kinds()
RULES = load_all().rules
NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
ME, OTHER = "111111111111", "222222222222"


def _conn(client, account):
    class Conn:
        account_id = account

        def client(self, service, region):
            return client

    return Conn()


def test_capacity_reservations_shared_by_other_accounts_are_not_listed():
    ec2 = boto3.client("ec2", region_name="eu-west-1", aws_access_key_id="a", aws_secret_access_key="b")

    def cr(cid, owner, billed=None):
        out = {
            "CapacityReservationId": cid,
            "OwnerId": owner,
            "State": "active",
            "InstanceType": "m5.large",
            "TotalInstanceCount": 2,
            "AvailableInstanceCount": 2,
        }
        return out | ({"UnusedReservationBillingOwnerId": billed} if billed else {})

    crs = [
        cr("cr-mine", ME),
        cr("cr-shared", OTHER),
        cr("cr-billed-to-me", OTHER, ME),
        cr("cr-billed-away", ME, OTHER),
    ]
    for account, expected in (
        (ME, {"cr-mine", "cr-billed-to-me"}),
        ("", {c["CapacityReservationId"] for c in crs}),
    ):
        with Stubber(ec2) as stub:
            stub.add_response("describe_capacity_reservations", {"CapacityReservations": crs}, {})
            out = KINDS.get("aws.ec2.capacity_reservation").list(_conn(ec2, account), "eu-west-1", NOW, {})
        assert {r.resource_id for r in out} == expected


def test_tgw_attachments_of_other_accounts_are_not_listed():
    ec2 = boto3.client("ec2", region_name="eu-west-1", aws_access_key_id="a", aws_secret_access_key="b")

    def att(aid, owner, kind="vpc", tgw_owner=ME):
        return {
            "TransitGatewayAttachmentId": aid,
            "TransitGatewayId": "tgw-1",
            "TransitGatewayOwnerId": tgw_owner,
            "ResourceOwnerId": owner,
            "ResourceType": kind,
            "State": "available",
        }

    atts = [
        att("a-mine", ME),
        att("a-theirs", OTHER),
        att("a-peer", OTHER, "peering"),
        att("a-on-shared-tgw", ME, tgw_owner=OTHER),
    ]
    for account, expected in (
        (ME, {"a-mine", "a-peer", "a-on-shared-tgw"}),
        ("", {a["TransitGatewayAttachmentId"] for a in atts}),
    ):
        with Stubber(ec2) as stub:
            stub.add_response("describe_transit_gateway_attachments", {"TransitGatewayAttachments": atts}, {})
            out = KINDS.get("aws.ec2.transit_gateway_attachment").list(
                _conn(ec2, account), "eu-west-1", NOW, {}
            )
        assert {r.resource_id for r in out} == expected


def test_tgw_attachment_to_another_accounts_gateway_needs_datapoints():
    rule = RULES["transit-gateway-attachment-idle"]
    params = {k: v for k, v in rule.resolve_params().items() if k != "enabled"}
    empty, zeros = Series((), 30), Series((0.0,) * 30, 30)

    def run(series, **owners):
        r = Resource(
            "aws",
            "aws.ec2.transit_gateway_attachment",
            "a-1",
            "eu-west-1",
            created_at=NOW - dt.timedelta(days=90),
            attributes={
                "state": "available",
                "transit_gateway_id": "tgw-1",
                "resource_type": "vpc",
                **owners,
            },
        )
        ctx = Context(now=NOW, prices=AwsPrices("eu-west-1"), metric=lambda res, name, days: series)
        return rule.evaluate(r, params, ctx)

    shared = {"resource_owner_id": ME, "transit_gateway_owner_id": OTHER}
    own = {"resource_owner_id": ME, "transit_gateway_owner_id": ME}
    assert run(empty, **shared) is None  # its metrics go to the gateway owner's account
    assert run(zeros, **shared).confidence == "HIGH"
    assert run(empty, **own).confidence == "MEDIUM"  # AWS publishes nothing while no traffic flows
    assert run(empty).confidence == "MEDIUM"  # owners unknown: as before
