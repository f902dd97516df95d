"""``python -m cloudwaste.sim.clouds serve``: the simulated Azure and GCP estates and the Microsoft
365 tenant in one process,
for `make demo` and `make up` (the AWS estate is `cloudwaste.sim.aws serve`, moto's process).

Starts a local ARM endpoint, a local Google endpoint and a local Graph endpoint on loopback ports,
seeds them, writes the scanner's credentials (the Azure principal's secret, the GCP service
account key, the M365 application's secret) into --credentials-dir (what the chart mounts from a
Kubernetes Secret), each estate's ground truth into --truth-dir (azure.json, gcp.json, m365.json)
and, once ready, {"azure": url, "gcp": url, "m365": url} into --ready-file; then serves until SIGTERM/SIGINT. A simulated user deletes a resource with
`delete(endpoint, resource_id)` (POST /_sim/delete).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import signal
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from cloudwaste.sim import azure_estate, gcp_estate, m365_estate
from cloudwaste.sim.truth import GroundTruth, TruthResource, atomic_write_text


def truth_of(seed: int, size: int, scopes: Sequence[str], resources: Sequence[TruthResource]) -> GroundTruth:
    return GroundTruth(seed, size, tuple(scopes), "", dt.datetime.now(dt.UTC).isoformat(), tuple(resources))


def cloud_account(provider: str, scopes: Sequence[str], tenant_id: str, display_name: str):
    """The CloudAccount message registering the simulated Azure subscriptions or GCP projects:
    their scopes, and access naming the credential file the estate wrote for the scanner."""
    from cloudwaste.common.v1 import provider_pb2
    from cloudwaste.scanner.v1 import cloud_account_pb2

    estate = {"azure": azure_estate, "gcp": gcp_estate, "m365": m365_estate}[provider]
    access = {
        "azure": cloud_account_pb2.AzureAccess,
        "gcp": cloud_account_pb2.GcpAccess,
        "m365": cloud_account_pb2.M365Access,
    }[provider]
    return cloud_account_pb2.CloudAccount(
        provider=provider_pb2.Provider.Value(f"PROVIDER_{provider.upper()}"),
        tenant_id=tenant_id,
        display_name=display_name,
        regions=list(scopes),
        ml_collection_enabled=True,
        **{provider: access(**estate.access_settings())},
    )


def delete(endpoint: str, resource_id: str) -> bool:
    """Deletes a resource of a running estate (a simulated user acting between two scans)."""
    request = urllib.request.Request(  # noqa: S310 (loopback)
        f"{endpoint}/_sim/delete", data=json.dumps({"resource_id": resource_id}).encode(), method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:  # noqa: S310 (loopback)
            return bool(json.load(resp)["deleted"])
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return False
        raise


def serve(args: argparse.Namespace) -> int:
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
    credentials, truth_dir = Path(args.credentials_dir), Path(args.truth_dir)
    ready = Path(args.ready_file)
    now = dt.datetime.now(dt.UTC)
    estates = {
        "azure": (azure_estate.start(credentials, size=args.size, seed=args.seed, now=now), azure_estate.SUBSCRIPTIONS),
        "gcp": (gcp_estate.start(credentials, size=args.size, seed=args.seed, now=now), gcp_estate.PROJECTS),
        "m365": (m365_estate.start(credentials, size=args.size, seed=args.seed, now=now), (m365_estate.DIRECTORY_ID,)),
    }
    try:
        for name, (estate, scopes) in estates.items():
            truth_of(args.seed, args.size, scopes, estate.truth).write(truth_dir / f"{name}.json")
        atomic_write_text(ready, json.dumps({n: e.api.url for n, (e, _) in estates.items()}) + "\n")
        print("; ".join(f"{n} ready at {e.api.url}: {len(e.truth)} resources" for n, (e, _) in estates.items()), flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        for estate, _ in estates.values():
            estate.api.stop()
        ready.unlink(missing_ok=True)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cloudwaste.sim.clouds", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("serve", help="start, seed and serve the Azure and GCP estates until SIGTERM/SIGINT")
    p.add_argument("--size", type=int, default=150, help="resources per cloud (about)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--credentials-dir", required=True, help="where the scanner's credential files go")
    p.add_argument("--truth-dir", required=True, help="where azure.json and gcp.json (ground truth) go")
    p.add_argument("--ready-file", required=True, help="written with the endpoints once seeding is done")
    return serve(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
