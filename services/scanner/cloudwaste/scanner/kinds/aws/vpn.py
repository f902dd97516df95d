"""Hybrid connectivity kinds: Site-to-Site VPN connections and transit gateway attachments."""

from __future__ import annotations

import datetime as dt

from cloudwaste.scanner.domain import Resource
from cloudwaste.scanner.kinds import kind
from cloudwaste.scanner.kinds.aws._common import PROVIDER, Deps, paginate, resource, tags

VPN_CONNECTION = "aws.ec2.vpn_connection"
TGW_ATTACHMENT = "aws.ec2.transit_gateway_attachment"

# --- aws.ec2.vpn_connection -----------------------------------------------------------------------


@kind(
    key=VPN_CONNECTION,
    provider=PROVIDER,
    title="Site-to-Site VPN connection",
    operations=("ec2:DescribeVpnConnections",),
    id_field="VpnConnectionId",
    name_field="tag:Name",
    created_field=None,  # AWS does not say when a VPN connection was created
    ml_config={"type": str, "gateway": str, "static_routes_only": bool, "tunnel_count": int},
)
def list_vpn_connections(conn, region: str, now: dt.datetime, deps: Deps) -> list[Resource]:
    """VPN connections that are not deleted (DescribeVpnConnections is not paginated), with the
    gateway they end on (virtual private gateway or transit gateway) and their tunnels' status."""
    out = []
    for v in conn.client("ec2", region).describe_vpn_connections().get("VpnConnections", []):
        if v.get("State") in ("deleted", "deleting"):
            continue
        telemetry = v.get("VgwTelemetry") or []
        gateway = "transit_gateway" if v.get("TransitGatewayId") else "vpn_gateway"
        out.append(
            resource(
                VPN_CONNECTION,
                v,
                region,
                tags(v.get("Tags")),
                attributes={
                    "state": v.get("State"),
                    "vpn_gateway_id": v.get("VpnGatewayId"),
                    "transit_gateway_id": v.get("TransitGatewayId"),
                    "tunnels_up": sum(1 for t in telemetry if t.get("Status") == "UP"),
                    "tunnel_count": len(telemetry),
                },
                config={
                    "type": v.get("Type", "ipsec.1"),
                    "gateway": gateway,
                    "static_routes_only": bool((v.get("Options") or {}).get("StaticRoutesOnly")),
                    "tunnel_count": len(telemetry),
                },
            )
        )
    return out


# --- aws.ec2.transit_gateway_attachment -----------------------------------------------------------


@kind(
    key=TGW_ATTACHMENT,
    provider=PROVIDER,
    title="Transit gateway attachment",
    operations=("ec2:DescribeTransitGatewayAttachments",),
    id_field="TransitGatewayAttachmentId",
    name_field="tag:Name",
    created_field="CreationTime",
    ml_config={"resource_type": str, "state": str},
)
def list_transit_gateway_attachments(conn, region: str, now: dt.datetime, deps: Deps) -> list[Resource]:
    """Transit gateway attachments (VPC, VPN, Direct Connect, peering, Connect) that are not
    deleted and that this account pays for (paginated). DescribeTransitGatewayAttachments returns
    those of the account's transit gateways and those the account owns; an attachment of another
    account's resource (`ResourceOwnerId`) to this account's transit gateway is billed to that
    account by default and is left out. A peering attachment is kept when this account owns
    either side (`TransitGatewayOwnerId` or `ResourceOwnerId`): each side's owner pays for it.
    Without the scanned account's id (`conn.account_id` empty) nothing is left out."""
    account = getattr(conn, "account_id", "") or ""
    out = []
    for a in paginate(
        conn.client("ec2", region), "describe_transit_gateway_attachments", "TransitGatewayAttachments"
    ):
        if a.get("State") in ("deleted", "deleting", "failed", "rejected"):
            continue
        owners = {a.get("ResourceOwnerId")}
        if a.get("ResourceType") == "peering":
            owners.add(a.get("TransitGatewayOwnerId"))
        if account and a.get("ResourceOwnerId") and account not in owners:
            continue
        out.append(
            resource(
                TGW_ATTACHMENT,
                a,
                region,
                tags(a.get("Tags")),
                attributes={
                    "state": a.get("State"),
                    "transit_gateway_id": a.get("TransitGatewayId"),
                    "resource_type": a.get("ResourceType"),
                    "resource_id": a.get("ResourceId"),
                    "resource_owner_id": a.get("ResourceOwnerId"),
                    "transit_gateway_owner_id": a.get("TransitGatewayOwnerId"),
                },
                config={"resource_type": a.get("ResourceType") or "", "state": a.get("State") or ""},
            )
        )
    return out
