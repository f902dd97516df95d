"""The `cloudwaste` command: migrate the database, serve a service, export (the CronJob's client)."""

from __future__ import annotations

import argparse
import os
import sys

SERVICES = ("scanner", "enricher", "exporter", "predictor")


def _migrate(args: argparse.Namespace) -> int:
    from cloudwaste.core.migrate import upgrade

    url = args.database_url or os.environ.get("CLOUDWASTE_DATABASE_URL")
    if not url:
        print("cloudwaste migrate: set CLOUDWASTE_DATABASE_URL or pass --database-url", file=sys.stderr)
        return 2
    upgrade(url)
    print("database schema is at head")
    return 0


def _serve(args: argparse.Namespace) -> int:
    from importlib import import_module

    from cloudwaste.core.settings import SettingsError

    try:
        import_module(f"cloudwaste.{args.service}.server").main()
    except SettingsError as exc:
        print(f"cloudwaste serve {args.service}: {exc}", file=sys.stderr)
        return 2
    return 0


def _export(args: argparse.Namespace) -> int:
    import grpc
    from cloudwaste.exporter.v1 import export_run_pb2, exporter_service_pb2, exporter_service_pb2_grpc

    channel = grpc.insecure_channel(args.exporter_address)
    stub = exporter_service_pb2_grpc.ExporterServiceStub(channel)
    request = exporter_service_pb2.ExportDatasetRequest(
        destination_uri=args.destination,
        labeled_only=args.labeled_only,
        format=export_run_pb2.DATASET_FORMAT_PARQUET,
    )
    last = None
    try:
        for msg in stub.ExportDataset(request, timeout=args.timeout, wait_for_ready=True):
            last = msg
            print(f"export {msg.export_run.name}: {msg.rows_written}/{msg.rows_total} rows", flush=True)
    except grpc.RpcError as exc:
        print(f"export failed: {exc.code().name}: {exc.details()}", file=sys.stderr)
        return 1
    if last is None or last.export_run.state != export_run_pb2.EXPORT_RUN_STATE_SUCCEEDED:
        print("export did not finish", file=sys.stderr)
        return 1
    run = last.export_run
    print(f"wrote {run.dataset_uri} ({run.row_count} rows, {run.size_bytes} bytes, sha256 {run.sha256})")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cloudwaste", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    m = sub.add_parser("migrate", help="apply database migrations (Alembic) up to head")
    m.add_argument("--database-url", default="")
    m.set_defaults(fn=_migrate)
    s = sub.add_parser("serve", help="run one service until SIGTERM")
    s.add_argument("service", choices=SERVICES)
    s.set_defaults(fn=_serve)
    e = sub.add_parser("export", help="ask the exporter for a dataset export and follow its progress")
    e.add_argument("--exporter-address", required=True, help="host:port of the exporter")
    e.add_argument("--destination", required=True, help="e.g. file:///exports")
    e.add_argument("--labeled-only", action="store_true")
    e.add_argument("--timeout", type=float, default=3600.0, help="deadline in seconds")
    e.set_defaults(fn=_export)
    args = parser.parse_args(argv)
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
