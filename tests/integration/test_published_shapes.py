"""The scanner reads what the vendors publish, not only what our simulated estate writes.

Azure: the example responses Microsoft publishes (tests/fixtures/azure/, copied unchanged) are
served by the local ARM endpoint and scanned with every Azure rule: each published resource is
listed, and the findings are the ones those bodies call for. GCP publishes schemas, not examples:
every field the simulated estate writes must be a field of Google's discovery schema
(tests/fixtures/gcp/), so the estate cannot drift into names Google does not use.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import pytest
from cloudwaste.sim import gcp_estate

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
NOW = dt.datetime.now(dt.UTC)

# --- GCP: the estate's bodies against Google's discovery schemas -----------------------------------

# compute collection -> its schema in the discovery subset (the others are not in it: not checked)
SCHEMA_OF = {"disks": "Disk", "addresses": "Address", "instances": "Instance", "snapshots": "Snapshot", "images": "Image"}


def _unknown_fields(value: Any, schema: dict, schemas: dict, where: str) -> list[str]:
    """Every key of `value` that `schema` (a discovery schema, $refs followed) does not define."""
    if "$ref" in schema:
        schema = schemas[schema["$ref"]]
    if isinstance(value, dict):
        if "additionalProperties" in schema:  # a map (labels): any key, values of that schema
            return [p for k, v in value.items() for p in _unknown_fields(v, schema["additionalProperties"], schemas, f"{where}.{k}")]
        props = schema.get("properties", {})
        out = []
        for k, v in value.items():
            if k not in props:
                out.append(f"{where}.{k}")
            else:
                out += _unknown_fields(v, props[k], schemas, f"{where}.{k}")
        return out
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _unknown_fields(v, schema.get("items", {}), schemas, f"{where}[{i}]")]
    return []


def test_every_field_of_the_gcp_estate_is_in_googles_schema(tmp_path):
    discovery = json.loads((FIXTURES / "gcp" / "compute.v1.discovery-subset.json").read_text())
    schemas = discovery["schemas"]
    estate = gcp_estate.start(tmp_path, size=200, seed=2, now=NOW)
    try:
        checked, problems = {}, []
        for project in estate.api.projects.values():
            for collection, scopes in project.resources.items():
                if collection not in SCHEMA_OF:
                    continue
                for bodies in scopes.values():
                    for name, body in bodies.items():
                        checked[collection] = checked.get(collection, 0) + 1
                        problems += _unknown_fields(body, {"$ref": SCHEMA_OF[collection]}, schemas, f"{collection}/{name}")
    finally:
        estate.api.stop()
    assert not problems, f"fields Google's schema does not define: {sorted(set(re.sub(r'/[^.]+', '', p) for p in problems))[:20]}"
    assert set(checked) == set(SCHEMA_OF), f"collections the estate does not fill: {set(SCHEMA_OF) - set(checked)}"


# --- Azure: Microsoft's published examples through the scanner --------------------------------------

SUB = "0b1c2d3e-0000-4000-8000-00000000abcd"
_PLACEHOLDER = re.compile(r"\{[A-Za-z]+\}")


def _published(name: str) -> list[dict]:
    """The `value` of a published list example, with the {placeholders} of its ids filled in."""
    text = (FIXTURES / "azure" / name).read_text()
    # the examples write their subscription as "subid", "{subscriptionId}" or a sample GUID
    text = re.sub(r"/subscriptions/(subid|\{subscriptionId\}|[0-9a-f-]{36})", f"/subscriptions/{SUB}", text)
    text = _PLACEHOLDER.sub(lambda m: m.group(0)[1:-1].lower(), text)
    return json.loads(text)["responses"]["200"]["body"]["value"]


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    from cloudwaste.sim import azure_estate

    estate = azure_estate.start(tmp_path_factory.mktemp("pub"), size=1, seed=1, now=NOW, services=(), subscriptions=(SUB,))
    files = {
        "azure.network.network_interface": "network_network_interfaces_list_all.json",
        "azure.network.security_group": "network_network_security_groups_list_all.json",
        "azure.network.load_balancer": "network_load_balancers_list_all.json",
        "azure.network.public_ip": "network_public_ip_addresses_list_all.json",
        "azure.network.nat_gateway": "network_nat_gateways_list_all.json",
        "azure.compute.disk": "compute_disks_list_by_subscription.json",
        "azure.compute.snapshot": "compute_snapshots_list_by_subscription.json",
        "azure.web.app_service_plan": "web_app_service_plans_list.json",
    }
    served = {}
    for kind, name in files.items():
        items = _published(name)
        for item in items:
            if not item["id"].lower().startswith("/subscriptions/"):
                item["id"] = "/" + item["id"].lstrip("/")
            estate.api.put(item)
        served[kind] = {i["id"].lower() for i in items}
    yield estate, served
    estate.api.stop()


def test_every_published_azure_resource_is_listed(published):
    from tests.integration.cloudscan import scan

    estate, served = published
    (outcome,) = scan("azure", estate, [SUB], check=False)
    assert outcome.succeeded, outcome.error_message
    listed: dict[str, set[str]] = {}
    for kind, rid in outcome.listed:
        listed.setdefault(kind, set()).add(rid)
    for kind, ids in served.items():
        assert listed.get(kind, set()) >= ids, f"{kind}: published resources not listed: {ids - listed.get(kind, set())}"
    failing = {k: v for k, v in outcome.kind_errors.items() if k in served}
    assert not failing, failing


def test_published_azure_bodies_give_the_findings_they_call_for(published):
    """What the published bodies show: `test-nic2` has no VM (an unattached NIC); `nsg1` and
    `nsg3` protect nothing; `lb3` is an empty load balancer, but of the Basic SKU, which bills
    nothing; every public IP is associated; every NAT gateway has subnets; both App Service plans
    host 4 sites."""
    from tests.integration.cloudscan import findings, scan

    estate, _ = published
    found = findings(scan("azure", estate, [SUB], check=False))
    by_rule: dict[str, set[str]] = {}
    for (rid, rule) in found:
        by_rule.setdefault(rule, set()).add(rid.rsplit("/", 1)[-1])
    assert by_rule.get("azure-nic-unattached") == {"test-nic2"}
    assert by_rule.get("azure-nsg-unattached") == {"nsg1", "nsg3"}
    for rule in ("azure-lb-no-backends", "azure-public-ip-unassociated", "azure-nat-gateway-no-subnets",
                 "azure-app-service-plan-no-apps"):
        assert rule not in by_rule, f"{rule} fired on {by_rule[rule]}"
