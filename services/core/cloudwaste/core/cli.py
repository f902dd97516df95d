"""The `cloudwaste` command: migrate the database, serve a service, and the clients that CronJobs and
operators run against the services (scan, findings, export) or offline (rules, iam-policy).

Exit status: 0 success; 1 failure (an RPC error, an unreachable service, a scan that FAILED);
2 usage error; 3 a scan that PARTIALLY_SUCCEEDED (`scan --wait`); 130 interrupted (Ctrl-C);
141 the reader of the output went away (e.g. `| head`), as for any Unix tool.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from collections.abc import Iterable, Sequence

SERVICES = ("scanner", "enricher", "exporter", "predictor")

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_PARTIAL = 0, 1, 2, 3
DEFAULT_TIMEOUT = 10.0


class CommandError(Exception):
    """Ends the command with one line on stderr and this exit status (no traceback)."""

    def __init__(self, message: str, status: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.status = status


def _migrate(args: argparse.Namespace) -> int:
    from cloudwaste.core.migrate import upgrade
    from cloudwaste.core.settings import SettingsError, database_url
    from sqlalchemy.exc import OperationalError

    url = args.database_url or os.environ.get("CLOUDWASTE_DATABASE_URL")
    if not url:
        raise CommandError("set CLOUDWASTE_DATABASE_URL or pass --database-url", EXIT_USAGE)
    try:
        database_url({"CLOUDWASTE_DATABASE_URL": url})
    except SettingsError as exc:
        raise CommandError(str(exc), EXIT_USAGE) from None
    try:
        upgrade(url)
    except OperationalError as exc:
        # psycopg's first line names the host and port and why (refused, timeout, authentication);
        # it never holds the password
        why = str(exc.orig or exc).strip().splitlines()[0].removeprefix("connection failed: ")
        raise CommandError(f"cannot reach PostgreSQL: {why}") from None
    print("database schema is at head")
    return 0


def _serve(args: argparse.Namespace) -> int:
    from importlib import import_module

    from cloudwaste.core.server import StartupError
    from cloudwaste.core.settings import SettingsError

    try:
        import_module(f"cloudwaste.{args.service}.server").main()
    except (SettingsError, StartupError) as exc:
        print(f"cloudwaste serve {args.service}: {exc}", file=sys.stderr)
        return 2
    return 0


def _connected(channel, address: str, seconds: float, command: str) -> bool:
    """Waits up to `seconds` for the channel to connect; when it cannot, says which address in one
    line (a long export or purge deadline must not be spent waiting for a wrong address)."""
    import grpc

    try:
        grpc.channel_ready_future(channel).result(timeout=seconds)
        return True
    except grpc.FutureTimeoutError:
        print(
            f"cloudwaste {command}: exporter at {address} unreachable (no connection within {_seconds(seconds)} s)",
            file=sys.stderr,
        )
        return False


def _export(args: argparse.Namespace) -> int:
    import grpc
    from cloudwaste.core.channels import channel_from_env as make_channel
    from cloudwaste.exporter.v1 import export_run_pb2, exporter_service_pb2, exporter_service_pb2_grpc

    channel = make_channel(args.exporter_address)
    if not _connected(channel, args.exporter_address, min(args.connect_timeout, args.timeout), "export"):
        return 1
    stub = exporter_service_pb2_grpc.ExporterServiceStub(channel)
    request = exporter_service_pb2.ExportDatasetRequest(
        destination_uri=args.destination,
        labeled_only=args.labeled_only,
        format=export_run_pb2.DATASET_FORMAT_JSONL_GZ
        if args.format == "jsonl.gz"
        else export_run_pb2.DATASET_FORMAT_PARQUET,
        full=args.full,
        request_id=args.request_id,
    )
    last = None
    try:
        for msg in stub.ExportDataset(request, timeout=args.timeout, wait_for_ready=True):
            last = msg
            state = export_run_pb2.ExportRunState.Name(msg.export_run.state).removeprefix("EXPORT_RUN_STATE_")
            print(
                f"export {msg.export_run.name}: {state}, {msg.rows_written}/{msg.rows_total} rows", flush=True
            )
    except grpc.RpcError as exc:
        print(
            f"cloudwaste export: exporter at {args.exporter_address} answered {exc.code().name}: {exc.details()}",
            file=sys.stderr,
        )
        return 1
    if last is None or last.export_run.state != export_run_pb2.EXPORT_RUN_STATE_SUCCEEDED:
        why = last.export_run.error_message if last is not None else ""
        print(f"export did not succeed: {why or 'no final state received'}", file=sys.stderr)
        return 1
    run = last.export_run
    if not run.manifest_uri:
        print(f"nothing new since {run.previous_export or 'the start'}: wrote nothing to {run.dataset_uri}")
        return 0
    for f in run.files:
        print(f"wrote {f.uri} ({f.row_count} rows, {f.size_bytes} bytes, sha256 {f.sha256})")
    print(
        f"manifest {run.manifest_uri} ({run.row_count} rows in {len(run.files)} files, sha256 {run.sha256})"
    )
    return 0


def _purge(args: argparse.Namespace) -> int:
    """The monthly CronJob: PurgeExpiredData on the exporter, then print the audit record."""
    import grpc
    from cloudwaste.exporter.v1 import exporter_service_pb2, exporter_service_pb2_grpc, purge_run_pb2

    address = args.exporter_address or os.environ.get("CLOUDWASTE_EXPORTER_ADDRESS", "")
    if not address:
        print("cloudwaste purge: pass --exporter-address or set CLOUDWASTE_EXPORTER_ADDRESS", file=sys.stderr)
        return 2
    request = exporter_service_pb2.PurgeExpiredDataRequest(dry_run=args.dry_run, request_id=args.request_id)
    for field in (
        "ml_retention_days",
        "export_retention_days",
        "partitions_ahead",
        "finding_retention_days",
        "scan_run_retention_days",
    ):
        if getattr(args, field) is not None:
            setattr(request, field, getattr(args, field))
    from cloudwaste.core.channels import channel_from_env

    channel = channel_from_env(address)
    if not _connected(channel, address, min(args.connect_timeout, args.timeout), "purge"):
        return 1
    stub = exporter_service_pb2_grpc.ExporterServiceStub(channel)
    deadline = time.monotonic() + args.timeout
    try:
        run = stub.PurgeExpiredData(request, timeout=args.timeout, wait_for_ready=True).purge_run
        print(f"{run.name}: queued", flush=True)
        ended = (purge_run_pb2.PURGE_RUN_STATE_SUCCEEDED, purge_run_pb2.PURGE_RUN_STATE_FAILED)
        while run.state not in ended:  # the exporter's worker runs it
            if time.monotonic() > deadline:
                print(f"cloudwaste purge: {run.name} has not ended after {args.timeout:g} s", file=sys.stderr)
                return 1
            time.sleep(1.0)
            run = stub.GetPurgeRun(
                exporter_service_pb2.GetPurgeRunRequest(name=run.name), timeout=30
            ).purge_run
    except grpc.RpcError as exc:
        print(
            f"cloudwaste purge: exporter at {address} answered {exc.code().name}: {exc.details()}",
            file=sys.stderr,
        )
        return 1
    verb = "would remove" if run.dry_run else "removed"
    print(f"{run.name}: {purge_run_pb2.PurgeRunState.Name(run.state).removeprefix('PURGE_RUN_STATE_')}")
    print(
        f"  ML rows older than {run.ml_cutoff_time.ToDatetime():%Y-%m-%d} ({run.ml_retention_days} days): "
        f"{verb} {run.ml_rows_removed} rows in {len(run.ml_partitions_dropped)} partitions "
        f"{', '.join(run.ml_partitions_dropped) or ''}".rstrip()
    )
    print(
        f"  export files of expired months: {verb} {len(run.export_files_removed)}; records of exports "
        f"with no file left, older than {run.export_retention_days} days: {verb} {run.export_runs_removed}"
    )
    print(
        f"  findings resolved more than {run.finding_retention_days} days ago: {verb} {run.findings_removed} "
        f"with {run.observations_removed} observations; scan runs older than {run.scan_run_retention_days} "
        f"days that nothing references: {verb} {run.scan_runs_removed} with {run.enrichment_runs_removed} "
        f"enrichment runs; shadow predictions as old: {verb} {run.shadow_predictions_removed}"
    )
    made = "partitions it would create ahead" if run.dry_run else "partitions created ahead"
    print(f"  {made}: {', '.join(run.ml_partitions_created) or 'none needed'}")
    if run.state != purge_run_pb2.PURGE_RUN_STATE_SUCCEEDED:
        print(f"cloudwaste purge: {run.error_message}", file=sys.stderr)
        return 1
    return 0


def _anomaly_evaluate(args: argparse.Namespace) -> int:
    from cloudwaste.predictor import nab

    return nab.run_cli(args.data_dir, args.out, args.name, args.windows)


def _train(args: argparse.Namespace) -> int:
    """A training worker in this process: `--worker` claims queued runs until SIGTERM; otherwise
    trains one dataset now (a Kubernetes Job or CronJob). Settings come from the predictor's
    CLOUDWASTE_* variables (database, dataset root, S3)."""
    import signal
    import threading

    from cloudwaste.core import logs
    from cloudwaste.core.errors import CloudWasteError
    from cloudwaste.core.settings import SettingsError
    from cloudwaste.predictor.settings import PredictorSettings

    try:
        settings = PredictorSettings.from_env()
    except SettingsError as exc:
        print(f"cloudwaste train: {exc}", file=sys.stderr)
        return 2
    logs.configure("predictor-training", settings.log_level)
    if args.worker:
        from cloudwaste.predictor.worker import run_worker

        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        run_worker(settings, stop)
        return 0
    from cloudwaste.core.db import Database
    from cloudwaste.predictor.store import PredictorStore
    from cloudwaste.predictor.training import Trainer
    from cloudwaste.predictor.worker import worker_id

    db = Database(settings.database_url, pool_size=2)
    try:
        store = PredictorStore(db)
        dataset = args.dataset_uri or store.latest_export_uri()
        if not dataset:
            print("cloudwaste train: no successful export yet; pass --dataset-uri", file=sys.stderr)
            return 1
        trainer = Trainer(store, None, settings)
        run, mv = trainer.train_now(dataset, not args.skip_activation, worker_id(), args.model_kind)
    except CloudWasteError as exc:
        print(f"cloudwaste train: {exc}", file=sys.stderr)
        return 1
    finally:
        db.dispose()
    print(
        f"trainingRuns/{run.id}: SUCCEEDED, models/{mv.model_kind}/versions/{mv.version} "
        f"({'active' if mv.active else 'not activated'})"
    )
    for key, value in sorted(mv.metrics.items()):
        base = mv.baseline_metrics.get(key)
        print(f"  held-out {key}: {value:.3f}" + (f" (baseline {base:.3f})" if base is not None else ""))
    return 0


# --------------------------------------------------------------------------------------------------
# Scanner clients
# --------------------------------------------------------------------------------------------------


def _seconds(value: float) -> str:
    return f"{value:.0f}" if value >= 10 or value == int(value) else f"{value:.1f}"


class ScannerClient:
    """One channel to the scanner; every call has a deadline and waits for the connection within it.

    Errors become CommandError: "scanner at ADDR unreachable (DEADLINE_EXCEEDED after 5 s)" when
    the channel never connected, else "scanner at ADDR answered CODE: details".
    """

    def __init__(self, address: str, timeout: float) -> None:
        from cloudwaste.scanner.v1 import scanner_service_pb2_grpc

        self.address, self.timeout = address, timeout
        self._connected = threading.Event()
        from cloudwaste.core.channels import channel_from_env as make_channel

        self.channel = make_channel(address)
        self.channel.subscribe(self._on_state, try_to_connect=False)
        self.stub = scanner_service_pb2_grpc.ScannerServiceStub(self.channel)

    def _on_state(self, state) -> None:
        import grpc

        if state == grpc.ChannelConnectivity.READY:
            self._connected.set()

    def call(self, method: str, request):
        import grpc

        started = time.monotonic()
        try:
            return getattr(self.stub, method)(request, timeout=self.timeout, wait_for_ready=True)
        except grpc.RpcError as exc:
            code = exc.code()
            if code in (grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.UNAVAILABLE) and (
                not self._connected.is_set()
            ):
                waited = (
                    self.timeout if code == grpc.StatusCode.DEADLINE_EXCEEDED else time.monotonic() - started
                )
                raise CommandError(
                    f"scanner at {self.address} unreachable ({code.name} after {_seconds(waited)} s)"
                ) from None
            if code == grpc.StatusCode.DEADLINE_EXCEEDED:
                raise CommandError(
                    f"scanner at {self.address} did not answer {method} within {_seconds(self.timeout)} s "
                    "(DEADLINE_EXCEEDED; raise --timeout)"
                ) from None
            details = (exc.details() or "").strip().replace("\n", " ")
            if code == grpc.StatusCode.UNAVAILABLE:
                raise CommandError(
                    f"scanner at {self.address} unavailable (UNAVAILABLE: {details})"
                ) from None
            raise CommandError(f"scanner at {self.address} answered {code.name}: {details}") from None

    def close(self) -> None:
        self.channel.unsubscribe(self._on_state)
        self.channel.close()


def _scanner(args: argparse.Namespace) -> ScannerClient:
    address = args.scanner_address or os.environ.get("CLOUDWASTE_SCANNER_ADDRESS", "")
    if not address.strip():
        raise CommandError("set CLOUDWASTE_SCANNER_ADDRESS or pass --scanner-address HOST:PORT", EXIT_USAGE)
    return ScannerClient(address.strip(), args.timeout)


def _money(m) -> float:
    return m.units + m.nanos / 1e9


def _run_line(run) -> str:
    from cloudwaste.scanner.v1 import scan_run_pb2

    state = scan_run_pb2.ScanRunState.Name(run.state).removeprefix("SCAN_RUN_STATE_")
    total = run.regions_total or "?"
    line = (
        f"{run.name} {state}: regions {run.regions_done}/{total}, {run.resources_scanned} resources, "
        f"{run.findings_count} findings"
    )
    if run.state in (scan_run_pb2.SCAN_RUN_STATE_SUCCEEDED, scan_run_pb2.SCAN_RUN_STATE_PARTIALLY_SUCCEEDED):
        line += f", ${_money(run.total_monthly_waste):,.2f}/month"
    return line


def _scan(args: argparse.Namespace) -> int:
    from cloudwaste.scanner.v1 import scan_run_pb2, scanner_service_pb2

    client = _scanner(args)
    try:
        run = client.call(
            "StartScan",
            scanner_service_pb2.StartScanRequest(cloud_account=args.account, regions=args.region or []),
        ).scan_run
        print(_run_line(run), flush=True)
        if not args.wait:
            return EXIT_OK
        ongoing = (scan_run_pb2.SCAN_RUN_STATE_PENDING, scan_run_pb2.SCAN_RUN_STATE_RUNNING)
        deadline = time.monotonic() + args.max_wait
        shown = _run_line(run)
        while run.state in ongoing:
            if time.monotonic() > deadline:
                raise CommandError(
                    f"{run.name} still {scan_run_pb2.ScanRunState.Name(run.state)} after "
                    f"{_seconds(args.max_wait)} s (--max-wait); it goes on in the scanner"
                )
            time.sleep(args.poll_interval)
            run = client.call("GetScanRun", scanner_service_pb2.GetScanRunRequest(name=run.name)).scan_run
            line = _run_line(run)
            if line != shown:
                print(line, flush=True)
                shown = line
        for r in run.region_results:
            if not r.succeeded:
                print(f"  region {r.region} failed: {r.error_message}", flush=True)
            for kind, why in sorted(dict(getattr(r, "failed_kinds", {})).items()):
                print(f"  region {r.region}: {kind} not listed: {why}", flush=True)
        if run.error_message:
            print(f"  {run.error_message}", flush=True)
    finally:
        client.close()
    if run.state == scan_run_pb2.SCAN_RUN_STATE_SUCCEEDED:
        return EXIT_OK
    if run.state == scan_run_pb2.SCAN_RUN_STATE_PARTIALLY_SUCCEEDED:
        return EXIT_PARTIAL
    return EXIT_FAILED


ALL_STATES = -1


def _finding_state(value: str) -> int:
    """argparse type: open/kept/ignored/deleted/... -> FINDING_STATE_<UPPER>, from the enum itself;
    "all" -> ALL_STATES."""
    from cloudwaste.scanner.v1 import finding_pb2

    value = value.strip().lower()
    if value == "all":
        return ALL_STATES
    known = [
        n.removeprefix("FINDING_STATE_").lower()
        for n in finding_pb2.FindingState.keys()
        if n != "FINDING_STATE_UNSPECIFIED"
    ]
    try:
        return finding_pb2.FindingState.Value("FINDING_STATE_" + value.upper())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a finding state this version knows (choose from {', '.join([*known, 'all'])})"
        ) from None


def _iter_findings(client: ScannerClient, args: argparse.Namespace) -> Iterable:
    from cloudwaste.scanner.v1 import scanner_service_pb2

    flt = {"cloud_account": args.account, "scan_run": args.scan_run, "category": args.category}
    if args.state == ALL_STATES:
        if "all_states" in scanner_service_pb2.ListFindingsRequest.DESCRIPTOR.fields_by_name:
            flt["all_states"] = True
    elif args.state:
        flt["state"] = args.state
    token = ""
    while True:
        resp = client.call(
            "ListFindings",
            scanner_service_pb2.ListFindingsRequest(page_size=args.page_size, page_token=token, **flt),
        )
        yield from resp.findings
        token = resp.next_page_token
        if not token:
            return


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], right: Iterable[int] = ()) -> list[str]:
    right = set(right)
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]

    def fmt(cells: Sequence[str]) -> str:
        return "  ".join(
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    return [fmt(headers), fmt(["-" * w for w in widths]), *(fmt(r) for r in rows)]


def _findings(args: argparse.Namespace) -> int:
    from cloudwaste.common.v1 import confidence_pb2
    from cloudwaste.scanner.v1 import finding_pb2
    from google.protobuf.json_format import MessageToDict

    client = _scanner(args)
    try:
        if args.format == "json":
            for f in _iter_findings(client, args):
                sys.stdout.write(json.dumps(MessageToDict(f, preserving_proto_field_name=True)) + "\n")
            sys.stdout.flush()
            return EXIT_OK
        rows, total = [], 0.0
        for f in _iter_findings(client, args):
            cost = _money(f.monthly_cost)
            total += cost
            rows.append(
                [
                    f.name.removeprefix("findings/"),
                    f.category,
                    f.region,
                    finding_pb2.FindingState.Name(f.state).removeprefix("FINDING_STATE_").lower(),
                    confidence_pb2.ConfidenceLevel.Name(f.confidence)
                    .removeprefix("CONFIDENCE_LEVEL_")
                    .lower(),
                    f"{cost:,.2f}",
                    f.resource_name,
                ]
            )
    finally:
        client.close()
    headers = ["finding", "category", "region", "state", "confidence", "$/month", "resource"]
    for line in _table(headers, rows, right=[5]):
        print(line)
    print(f"{len(rows)} findings, ${total:,.2f}/month")
    return EXIT_OK


# --------------------------------------------------------------------------------------------------
# Offline: the rule catalog
# --------------------------------------------------------------------------------------------------


def _catalog():
    try:
        from cloudwaste.scanner import catalog
    except ImportError as exc:
        raise CommandError(
            f"the rule catalog (cloudwaste.scanner.catalog, in cloudwaste[scanner]) cannot be imported: {exc}"
        ) from None
    return catalog


def _offline(call):
    """Runs a catalog call; its bad-input error (an unknown provider...) is a usage error."""
    from cloudwaste.core.errors import CloudWasteError, InvalidArgument

    try:
        return call()
    except InvalidArgument as exc:
        raise CommandError(str(exc), EXIT_USAGE) from None
    except CloudWasteError as exc:
        raise CommandError(f"{exc.code}: {exc}") from None


def _rules(args: argparse.Namespace) -> int:
    catalog = _catalog()
    rules = _offline(lambda: catalog.describe_rules(args.provider))
    if args.format == "json":
        for r in rules:
            sys.stdout.write(json.dumps(r, default=str, sort_keys=True) + "\n")
        sys.stdout.flush()
        return EXIT_OK
    if args.format == "markdown":
        sys.stdout.write(_offline(lambda: catalog.rules_markdown(args.provider or "aws")))
        return EXIT_OK
    rows = [
        [
            str(r.get("key", "")),
            str(r.get("provider", "")),
            str(r.get("kind", "")),
            ", ".join(
                f"{k}={v.get('default') if isinstance(v, dict) else v}"
                for k, v in (r.get("parameters") or {}).items()
            ),
            str(r.get("title", "")),
        ]
        for r in rules
    ]
    for line in _table(["key", "provider", "kind", "parameters (default)", "title"], rows):
        print(line)
    print(f"{len(rows)} rules; `--format json` adds docs and IAM permissions")
    return EXIT_OK


def _iam_policy(args: argparse.Namespace) -> int:
    catalog = _catalog()
    policy = _offline(lambda: catalog.iam_policy(args.provider, organization=args.organization))
    print(json.dumps(policy, indent=2, default=str))
    return EXIT_OK


# --------------------------------------------------------------------------------------------------
# GDPR erasure: exports rewritten without a tenant's rows (storage only, no service, no database)
# --------------------------------------------------------------------------------------------------


def _tenant_hash(value: str) -> str:
    import re

    value = value.strip().lower()
    if not re.fullmatch(r"[0-9a-f]{64}", value):
        # the value is not echoed: it might be the tenant id itself
        raise argparse.ArgumentTypeError(
            "is not a tenant hash (64 hex characters, from EraseTenantData's tenant_hashes)"
        )
    return value


def _rewrite_export(args: argparse.Namespace) -> int:
    """Rewrites one dataset (an export folder) without the rows of the given tenant hashes."""
    from cloudwaste.core.errors import CloudWasteError, InvalidArgument
    from cloudwaste.core.settings import SettingsError
    from cloudwaste.core.storage import Storage, storage_settings
    from cloudwaste.exporter.rewrite import DELETED, MISSING, rewrite_without

    try:
        conf = storage_settings(os.environ, "EXPORT_ROOT", "/exports")
        storage = Storage(
            conf["root"],
            s3_endpoint_url=conf["s3_endpoint_url"],
            s3_region=conf["s3_region"],
            setting="CLOUDWASTE_EXPORT_ROOT",
        )
    except SettingsError as exc:
        raise CommandError(str(exc), EXIT_USAGE) from None
    try:
        result = rewrite_without(storage, args.dataset_uri, args.tenant_hash)
    except InvalidArgument as exc:
        raise CommandError(str(exc), EXIT_USAGE) from None
    except CloudWasteError as exc:
        raise CommandError(f"{exc.code}: {exc}") from None
    if result.manifests == 0:
        raise CommandError(
            f"no export manifest under {result.dataset_uri}: check the URI (a dataset the purge "
            "emptied holds nothing to rewrite)"
        )
    for f in result.changed:
        if f.action == DELETED:
            print(f"deleted {f.uri}: all its {f.rows_before} rows were the tenant's")
        elif f.action == MISSING:
            print(f"dropped {f.uri} from its manifest: the file is gone ({f.rows_before} rows listed)")
        else:
            print(f"rewrote {f.uri}: removed {f.rows_removed} of {f.rows_before} rows, {f.rows_after} left")
    for uri in result.manifests_rewritten:
        print(f"rewrote manifest {uri}")
    print(
        f"{result.dataset_uri}: {result.rows_removed} rows removed from {len(result.changed)} of "
        f"{len(result.files)} files; {len(result.manifests_rewritten)} of {result.manifests} manifests "
        "rewritten"
    )
    return EXIT_OK


# --------------------------------------------------------------------------------------------------
# AWS prices: the price table rebuilt from the AWS Price List Query API (no service, no database)
# --------------------------------------------------------------------------------------------------


def _region_list(value: str) -> list[str]:
    """AWS ("eu-west-1"), Azure ("westeurope") or GCP ("europe-west1") region names; the AWS form is
    checked once the provider is known (`_prices_refresh`)."""
    import re

    regions = [r.strip().lower() for r in value.split(",") if r.strip()]
    bad = [r for r in regions if not re.fullmatch(r"[a-z]{2,}[a-z0-9-]*[a-z0-9]", r)]
    if not regions or bad:
        raise argparse.ArgumentTypeError(f"not a region name: {', '.join(bad) or value!r}")
    return regions


def _group_list(value: str) -> list[str]:
    import re

    groups = [g.strip() for g in value.split(",") if g.strip()]
    bad = [g for g in groups if not re.fullmatch(r"[a-z][a-z0-9_]*", g)]
    if not groups or bad:
        raise argparse.ArgumentTypeError(f"not a price group name: {', '.join(bad) or value!r}")
    return groups


def _prices_refresh(args: argparse.Namespace) -> int:
    """Writes a new price table from the Price List API; the old file stays untouched on any failure."""
    try:
        from cloudwaste.scanner import price_refresh
    except ImportError as exc:
        raise CommandError(
            f"the price refresher (cloudwaste.scanner.price_refresh, in cloudwaste[scanner]) cannot be imported: {exc}"
        ) from None
    regions = sorted({r for group in args.regions or () for r in group}) or None
    if args.provider != "aws":
        return _cloud_prices_refresh(args, regions)
    import re

    bad = [r for r in regions or () if not re.fullmatch(r"[a-z]{2,4}(-[a-z]+)+-\d+", r)]
    if bad:
        raise CommandError(f"not a region name: {', '.join(bad)}", EXIT_USAGE)
    if args.groups or args.api_key:
        raise CommandError("--groups and --api-key are for --provider azure or gcp", EXIT_USAGE)
    try:
        result = price_refresh.run(args.output, regions=regions, endpoint_url=args.endpoint_url or None)
    except price_refresh.RefreshError as exc:
        raise CommandError(f"nothing written: {exc}") from None
    except OSError as exc:
        raise CommandError(f"nothing written: {exc}") from None
    for line in result.report():
        print(line)
    return EXIT_OK


def _cloud_prices_refresh(args: argparse.Namespace, regions: list[str] | None) -> int:
    """Azure/GCP: refreshes each price group file in the --output folder (the shipped table is the
    template of a group the folder lacks); a group that fails keeps its file untouched."""
    try:
        from cloudwaste.scanner import cloud_price_refresh
    except ImportError as exc:
        raise CommandError(
            f"the price refresher (cloudwaste.scanner.cloud_price_refresh, in cloudwaste[scanner]) cannot be imported: {exc}"
        ) from None
    if not os.path.isdir(args.output):
        raise CommandError(
            f"--output must be an existing folder for --provider {args.provider}: {args.output}", EXIT_USAGE
        )
    groups = sorted({g for chunk in args.groups or () for g in chunk}) or None
    try:
        result = cloud_price_refresh.run(
            args.provider,
            args.output,
            regions=regions,
            groups=groups,
            endpoint_url=args.endpoint_url or None,
            api_key=args.api_key or None,
        )
    except (cloud_price_refresh.FetchError, OSError) as exc:
        raise CommandError(f"nothing written: {exc}") from None
    for line in result.report():
        print(line)
    if result.ok:
        return EXIT_OK
    return EXIT_PARTIAL if len(result.failed) < len(result.groups) else EXIT_FAILED


# --------------------------------------------------------------------------------------------------


def _positive(value: str) -> float:
    try:
        f = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of seconds") from None
    if not f > 0:
        raise argparse.ArgumentTypeError("must be > 0")
    return f


def _page_size(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not an integer") from None
    if not 1 <= n <= 1000:
        raise argparse.ArgumentTypeError("must be between 1 and 1000")
    return n


def _scanner_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--scanner-address",
        default="",
        metavar="HOST:PORT",
        help="the scanner's gRPC address (default: $CLOUDWASTE_SCANNER_ADDRESS)",
    )
    p.add_argument(
        "--timeout",
        type=_positive,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=f"deadline of each call, including connecting (default {DEFAULT_TIMEOUT:g})",
    )


def _health(args: argparse.Namespace) -> int:
    """grpc.health.v1 Check, as the kubelet's gRPC probe does but through this process's TLS
    (CLOUDWASTE_TLS_*), which the kubelet's probe cannot speak: the exec probe of a service
    serving mutual TLS. Exit 0 when SERVING, 1 otherwise (the reason on stderr)."""
    import grpc
    from cloudwaste.core.channels import channel_from_env
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    options = [("grpc.ssl_target_name_override", args.server_name)] if args.server_name else []
    with channel_from_env(args.address, options) as channel:
        try:
            status = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=args.service), timeout=args.timeout
            ).status
        except grpc.RpcError as exc:
            print(f"health of {args.address}: {exc.code().name}: {exc.details()}", file=sys.stderr)
            return 1
    if status != health_pb2.HealthCheckResponse.SERVING:
        print(f"health of {args.address}: {health_pb2.HealthCheckResponse.ServingStatus.Name(status)}", file=sys.stderr)
        return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cloudwaste", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    m = sub.add_parser("migrate", help="apply database migrations (Alembic) up to head")
    m.add_argument("--database-url", default="")
    m.set_defaults(fn=_migrate)
    s = sub.add_parser("serve", help="run one service until SIGTERM")
    s.add_argument("service", choices=SERVICES)
    s.set_defaults(fn=_serve)
    h = sub.add_parser("health", help="grpc.health.v1 Check of a service (a probe that speaks its TLS)")
    h.add_argument("--address", default="127.0.0.1:50051", help="host:port (default 127.0.0.1:50051)")
    h.add_argument("--service", default="", help='"" (readiness, the default) or "liveness"')
    h.add_argument("--server-name", default="", help="the name the server's certificate carries")
    h.add_argument("--timeout", type=float, default=5.0, help="deadline in seconds")
    h.set_defaults(fn=_health)
    e = sub.add_parser("export", help="ask the exporter for a dataset export and follow its progress")
    e.add_argument("--exporter-address", required=True, help="host:port of the exporter")
    e.add_argument("--destination", required=True, help="e.g. file:///exports")
    e.add_argument("--labeled-only", action="store_true")
    e.add_argument("--format", choices=("parquet", "jsonl.gz"), default="parquet")
    e.add_argument(
        "--full",
        action="store_true",
        help="every row, not only those written or changed since the previous export to the destination",
    )
    e.add_argument("--request-id", default="", help="makes a retried call follow the first one's run")
    e.add_argument("--timeout", type=float, default=3600.0, help="deadline in seconds")
    e.add_argument(
        "--connect-timeout", type=float, default=30.0, help="seconds to wait for a connection to the exporter"
    )
    e.set_defaults(fn=_export)
    pu = sub.add_parser(
        "purge",
        help="apply the retention policy (the monthly CronJob): PurgeExpiredData on the exporter",
        description="Drops ML month partitions past the ML retention with the export files of those "
        "months, deletes findings resolved long ago and scan runs nothing needs, creates the coming "
        "months' partitions, and prints the audit record. Exit 0 when it succeeded, 1 otherwise, 2 usage.",
    )
    pu.add_argument(
        "--exporter-address", default="", help="host:port (default: $CLOUDWASTE_EXPORTER_ADDRESS)"
    )
    pu.add_argument("--ml-retention-days", type=int, help="default 1095 (three years)")
    pu.add_argument(
        "--export-retention-days", type=int, help="records of exports with no file left; default 365"
    )
    pu.add_argument("--finding-retention-days", type=int, help="RESOLVED findings; default 365")
    pu.add_argument("--scan-run-retention-days", type=int, help="scan runs nothing references; default 365")
    pu.add_argument(
        "--partitions-ahead", type=int, help="months of ML partitions to create ahead (default 3)"
    )
    pu.add_argument("--dry-run", action="store_true", help="report what would be removed; remove nothing")
    pu.add_argument("--request-id", default="", help="makes a retried call follow the first one's purge")
    pu.add_argument("--timeout", type=float, default=600.0, help="deadline in seconds")
    pu.add_argument(
        "--connect-timeout", type=float, default=30.0, help="seconds to wait for a connection to the exporter"
    )
    pu.set_defaults(fn=_purge)
    tr = sub.add_parser(
        "train",
        help="train a model kind in this process (a Job), or --worker: claim queued training runs",
        description="Without --worker: train on --dataset-uri (default: the newest successful export), "
        "register the model and activate it; the predictors pick it up. Exit 0 when it succeeded, 1 "
        "otherwise, 2 usage. With --worker: claim TrainModels' queued runs until SIGTERM. Settings "
        "from the predictor's CLOUDWASTE_* variables.",
    )
    tr.add_argument("--worker", action="store_true", help="claim and train queued runs until SIGTERM")
    tr.add_argument("--dataset-uri", default="", help="file:// or s3:// under CLOUDWASTE_DATASET_ROOT")
    tr.add_argument("--skip-activation", action="store_true", help="register the model without activating it")
    tr.add_argument("--model-kind", default="waste", help="the model kind to train (default: waste)")
    tr.set_defaults(fn=_train)

    an = sub.add_parser("anomaly", help="the anomaly detector, offline (no service needed)")
    an_sub = an.add_subparsers(dest="anomaly_command", required=True)
    ae = an_sub.add_parser(
        "evaluate",
        help="score timestamp,value CSVs and write the Numenta Anomaly Benchmark's results layout",
        description="Runs the detector, with its one configuration, over every CSV (timestamp,value) in "
        "DATA_DIR or in its category folders (as NAB's data/), and writes RESULTS_DIR/NAME/<category>/"
        "NAME_<file>.csv with NAB's columns. With --windows (NAB's labels: a JSON of anomaly windows per "
        "file), also scores the results with NAB's profiles and prints the score and each file's "
        "detections. Exit 0 on success, 2 on bad input.",
    )
    ae.add_argument("data_dir", metavar="DATA_DIR", help="a folder of CSVs, or of category folders of CSVs")
    ae.add_argument("--out", required=True, metavar="RESULTS_DIR", help="where the results layout is written")
    ae.add_argument("--name", default="cloudwaste", help="the detector's name in the layout (letters, digits)")
    ae.add_argument("--windows", metavar="FILE", help="labeled anomaly windows (JSON) to score against")
    ae.set_defaults(fn=_anomaly_evaluate)

    sc = sub.add_parser(
        "scan",
        help="start a scan of an account (StartScan); --wait follows it to the end",
        description="Start a scan and print the run. With --wait, poll it until it ends; the exit status "
        "says how: 0 SUCCEEDED, 3 PARTIALLY_SUCCEEDED, 1 FAILED (or any error), 2 usage.",
    )
    sc.add_argument("account", metavar="ACCOUNT", help='the account to scan: "cloudAccounts/{uuid}"')
    sc.add_argument("--region", action="append", metavar="R", help="scan only this region (repeat for more)")
    sc.add_argument("--wait", action="store_true", help="poll GetScanRun until the run ends")
    sc.add_argument(
        "--max-wait",
        type=_positive,
        default=3600.0,
        metavar="SECONDS",
        help="give up waiting after this (default 3600; exit 1, the scan goes on)",
    )
    sc.add_argument("--poll-interval", type=_positive, default=1.0, metavar="SECONDS", help=argparse.SUPPRESS)
    _scanner_flags(sc)
    sc.set_defaults(fn=_scan)

    fi = sub.add_parser(
        "findings",
        help="list findings (every page of ListFindings)",
        description="List findings, newest first. json: one JSON object per line (proto field names).",
    )
    fi.add_argument("--account", default="", metavar="A", help='only this account: "cloudAccounts/{uuid}"')
    fi.add_argument("--scan-run", default="", metavar="R", help='only this run: "scanRuns/{uuid}"')
    fi.add_argument(
        "--state",
        type=_finding_state,
        default=0,
        metavar="S",
        help="open, kept, ignored, deleted, resolved, or all (default: the scanner's default, open)",
    )
    fi.add_argument("--category", default="", metavar="C", help="scenario key, e.g. ebs-volume-unattached")
    fi.add_argument(
        "--format",
        choices=("table", "json"),
        default="table",
        help="table (default) or json: one JSON object per line",
    )
    fi.add_argument("--page-size", type=_page_size, default=500, help=argparse.SUPPRESS)
    _scanner_flags(fi)
    fi.set_defaults(fn=_findings)

    ru = sub.add_parser("rules", help="the detection rule registry (offline, no service needed)")
    ru.add_argument("--provider", default=None, metavar="P", help="only this provider, e.g. aws")
    ru.add_argument(
        "--format",
        choices=("table", "json", "markdown"),
        default="table",
        help="table (default), json (one JSON object per line) or markdown (the README's table)",
    )
    ru.set_defaults(fn=_rules)

    ip = sub.add_parser(
        "iam-policy", help="the read-only IAM policy the scanner's role needs, from the rules (offline)"
    )
    ip.add_argument("provider", metavar="PROVIDER", help="e.g. aws")
    ip.add_argument(
        "--organization",
        action="store_true",
        help="add the statement the management account's role needs to list the organization's members",
    )
    ip.set_defaults(fn=_iam_policy)

    rw = sub.add_parser(
        "rewrite-export",
        help="rewrite an exported dataset without a tenant's rows (GDPR, after EraseTenantData)",
        description="For every file the dataset's manifests list, remove the rows whose tenant_hash is "
        "one of --tenant-hash (EraseTenantData's tenant_hashes) and rewrite the manifests; a file left "
        "with no row is deleted. Running it again changes nothing. Storage settings from the exporter's "
        "CLOUDWASTE_EXPORT_ROOT, CLOUDWASTE_S3_ENDPOINT_URL and CLOUDWASTE_S3_REGION; no service or "
        "database needed. Run it once no export to the dataset is running. Exit 0 when it succeeded, 1 "
        "otherwise (no manifest there included), 2 usage.",
    )
    rw.add_argument(
        "--dataset-uri",
        required=True,
        metavar="URI",
        help="a dataset of EraseTenantData's exports_to_rewrite (an export folder under CLOUDWASTE_EXPORT_ROOT)",
    )
    rw.add_argument(
        "--tenant-hash",
        required=True,
        action="append",
        type=_tenant_hash,
        metavar="H",
        help="a hash of EraseTenantData's tenant_hashes (repeat for each)",
    )
    rw.set_defaults(fn=_rewrite_export)

    pc = sub.add_parser("prices", help="the price tables (offline or against the vendors' price APIs)")
    pc_sub = pc.add_subparsers(dest="prices_command", required=True)
    pr = pc_sub.add_parser(
        "refresh",
        help="rebuild a price table from the vendor's price API (AWS Price List, Azure Retail Prices, "
        "GCP Cloud Billing Catalog)",
        description="AWS (default): reads on-demand list prices with pricing:GetProducts (AWS credentials "
        "from the usual chain; the Query API answers in us-east-1) for every region asked, and writes a "
        "schema-2 price table to --output: validated first, then written atomically; on any failure nothing "
        "is written. Azure / GCP: refreshes each price group (one JSON file per group) in the --output "
        "folder from the Azure Retail Prices API (no credentials) or the Cloud Billing Catalog API (--api-key "
        "or CLOUDWASTE_GCP_API_KEY, else Application Default Credentials); a group whose fetch fails keeps "
        "its file. Prints what it read, how many malformed items it skipped, which prices are not "
        "refreshable and which regions are derived. Exit 0 when everything was written, 3 when some Azure/GCP "
        "groups failed, 1 otherwise, 2 usage.",
    )
    pr.add_argument(
        "--provider", choices=("aws", "azure", "gcp"), default="aws", help="whose prices (default: aws)"
    )
    pr.add_argument(
        "--output",
        required=True,
        metavar="PATH",
        help="aws: where to write the table (JSON); azure/gcp: the folder of group files to refresh (it must "
        "exist; a group it lacks starts from the shipped table)",
    )
    pr.add_argument(
        "--regions",
        nargs="+",
        type=_region_list,
        metavar="R",
        help="only these regions (space or comma separated; the base region is always included); default: "
        "aws every region of the commercial partition the product knows, azure/gcp the regions each group lists",
    )
    pr.add_argument(
        "--groups",
        nargs="+",
        type=_group_list,
        metavar="G",
        help="azure/gcp: only these group files (e.g. vms,disks); default: every shipped group",
    )
    pr.add_argument(
        "--api-key",
        default="",
        metavar="KEY",
        help="gcp: a Cloud Billing Catalog API key (better: set CLOUDWASTE_GCP_API_KEY; with neither, "
        "Application Default Credentials)",
    )
    pr.add_argument("--endpoint-url", default="", metavar="URL", help="another price API endpoint")
    pr.set_defaults(fn=_prices_refresh)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    label = f"cloudwaste {args.command}"
    try:
        return args.fn(args)
    except CommandError as exc:
        print(f"{label}: {exc}", file=sys.stderr)
        return exc.status
    except KeyboardInterrupt:
        print(f"{label}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader went away (e.g. `| head`): stop quietly, as Unix tools do
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except OSError:
            pass
        return 141


if __name__ == "__main__":
    sys.exit(main())
