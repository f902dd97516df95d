"""`make demo`: the whole path on one machine, driven over gRPC only.

scan an account -> findings priced in $/month -> enrichment -> simulated user decisions ->
export to Parquet -> train the waste model -> ONNX -> the predictor serves it -> PredictWaste
on the findings still open. Prints what a user wants to see, stops everything, exits 0.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
from collections import Counter, defaultdict
from decimal import Decimal
from pathlib import Path
from urllib.parse import unquote

import grpc
from botocore.exceptions import ClientError
from cloudwaste.common.v1 import provider_pb2
from cloudwaste.core.protoconv import money_amount, provider_key
from cloudwaste.enricher.v1 import enricher_service_pb2, enricher_service_pb2_grpc, enrichment_run_pb2
from cloudwaste.exporter.v1 import export_run_pb2, exporter_service_pb2, exporter_service_pb2_grpc
from cloudwaste.predictor.client import wait_for_serving, wait_for_training, waste_features
from cloudwaste.predictor.v1 import predictor_service_pb2, predictor_service_pb2_grpc
from cloudwaste.scanner.v1 import (
    cloud_account_pb2,
    finding_pb2,
    scan_run_pb2,
    scanner_service_pb2,
    scanner_service_pb2_grpc,
)
from cloudwaste.sim import billing
from cloudwaste.sim.aws import act_on
from cloudwaste.sim.clouds import cloud_account
from cloudwaste.sim.clouds import delete as delete_resource
from cloudwaste.sim.local import LocalDeployment
from cloudwaste.sim.truth import GroundTruth

DECISION_STATE = {
    "deleted": finding_pb2.FINDING_STATE_DELETED,
    "kept": finding_pb2.FINDING_STATE_KEPT,
    "ignored": finding_pb2.FINDING_STATE_IGNORED,
}
RUNNING = (scan_run_pb2.SCAN_RUN_STATE_PENDING, scan_run_pb2.SCAN_RUN_STATE_RUNNING)
TOP_RULES = 12  # rules shown by $/month in step 2; the others on one line


class Step:
    def __init__(self, total: int) -> None:
        self.n, self.total, self.t0 = 0, total, time.perf_counter()

    def __call__(self, text: str) -> None:
        self.n += 1
        print(f"[{self.n}/{self.total}] {text}", flush=True)

    def done(self, text: str = "") -> None:
        print(f"      {text} ({time.perf_counter() - self.t0:.1f} s so far)", flush=True)


def list_all_findings(stub, **filters) -> list[finding_pb2.Finding]:
    out, token = [], ""
    while True:
        resp = stub.ListFindings(
            scanner_service_pb2.ListFindingsRequest(page_size=200, page_token=token, **filters), timeout=30
        )
        out.extend(resp.findings)
        token = resp.next_page_token
        if not token:
            return out


def _create_aws(scanner, truth: GroundTruth) -> cloud_account_pb2.CloudAccount:
    return scanner.CreateCloudAccount(
        scanner_service_pb2.CreateCloudAccountRequest(
            cloud_account=cloud_account_pb2.CloudAccount(
                provider=provider_pb2.PROVIDER_AWS,
                tenant_id="demo-tenant",
                display_name="Demo estate",
                regions=list(truth.regions),
                ml_collection_enabled=True,
                aws=cloud_account_pb2.AwsAccess(
                    role_arn=f"arn:aws:iam::{truth.account_id}:role/CloudWasteReadOnly",
                    cost_export_uri=billing.export_uri(truth.account_id),  # the estate's CUR 2.0 export
                ),
            )
        ),
        timeout=10,
    ).cloud_account


def _create_cloud(scanner, provider: str, truth: GroundTruth) -> cloud_account_pb2.CloudAccount:
    account = cloud_account(provider, truth.regions, "demo-tenant", f"Demo {provider}")
    return scanner.CreateCloudAccount(
        scanner_service_pb2.CreateCloudAccountRequest(cloud_account=account), timeout=10
    ).cloud_account


def scan_and_wait(scanner, account: str, regions: int) -> scan_run_pb2.ScanRun:
    """StartScan, then GetScanRun until it ends, printing progress per scope."""
    scan = scanner.StartScan(scanner_service_pb2.StartScanRequest(cloud_account=account), timeout=10).scan_run
    shown = -1
    while scan.state in RUNNING:
        time.sleep(0.25)
        scan = scanner.GetScanRun(scanner_service_pb2.GetScanRunRequest(name=scan.name), timeout=10).scan_run
        if scan.regions_done != shown:
            shown = scan.regions_done
            print(
                f"      scopes {scan.regions_done}/{scan.regions_total or regions}, "
                f"{scan.resources_scanned} resources, {scan.findings_count} findings",
                flush=True,
            )
    return scan


def wait_enrichment(enricher, scan_run: str, timeout: float = 30) -> enrichment_run_pb2.EnrichmentRun | None:
    """The scanner queues the enrichment when the scan ends and the enricher's worker runs it: polls
    GetEnrichmentRun until the run has ended (SUCCEEDED or FAILED); None if it never appeared."""
    ended = (
        enrichment_run_pb2.ENRICHMENT_RUN_STATE_SUCCEEDED,
        enrichment_run_pb2.ENRICHMENT_RUN_STATE_FAILED,
    )
    er, deadline = None, time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            er = enricher.GetEnrichmentRun(
                enricher_service_pb2.GetEnrichmentRunRequest(scan_run=scan_run), timeout=5
            ).enrichment_run
            if er.state in ended:
                break
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.NOT_FOUND:  # not queued yet
                raise
        time.sleep(0.1)
    return er


PHASE2 = (
    "metrics_summary",
    "parent_resource_hash",
    "cost_real_monthly",
    "tags_anonymized",
    "temporal_features",
)


def phase2_fill(paths: list[str]) -> str:
    """What share of the exported rows has each enrichment column, and the real cost's variance."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    table = pa.concat_tables(
        [pq.read_table(p, columns=[*PHASE2, "cost_variance_pct", "cost_real_missing"]) for p in paths]
    )
    n = max(table.num_rows, 1)
    shares = ", ".join(f"{c} {1 - table[c].null_count / n:.0%}" for c in PHASE2)
    variance = table["cost_variance_pct"].drop_null()
    median = pc.approximate_median(variance).as_py() if len(variance) else None
    missing = Counter(v for v in table["cost_real_missing"].to_pylist() if v)
    why = ", ".join(f"{k} {v}" for k, v in missing.most_common())
    line = f"filled: {shares}"
    if median is not None:
        line += f"; real cost vs estimate: median {median:+.1f}%"
    return line + (f"; no real cost: {why}" if why else "")


def run(deploy: LocalDeployment, decide_share: float, seed: int) -> int:
    step = Step(9)
    truth = GroundTruth.from_json(deploy.truth_path.read_text())
    scanner = scanner_service_pb2_grpc.ScannerServiceStub(grpc.insecure_channel(deploy.addresses["scanner"]))
    enricher = enricher_service_pb2_grpc.EnricherServiceStub(
        grpc.insecure_channel(deploy.addresses["enricher"])
    )
    exporter = exporter_service_pb2_grpc.ExporterServiceStub(
        grpc.insecure_channel(deploy.addresses["exporter"])
    )
    predictor = predictor_service_pb2_grpc.PredictorServiceStub(
        grpc.insecure_channel(deploy.addresses["predictor"])
    )

    step("Register the simulated AWS account, Azure subscriptions, GCP projects and M365 tenant; scan them")
    accounts = {"aws": _create_aws(scanner, truth)}
    truths = {"aws": truth}
    for provider in sorted(deploy.cloud_endpoints):
        truths[provider] = GroundTruth.from_json(deploy.cloud_truth_path(provider).read_text())
        accounts[provider] = _create_cloud(scanner, provider, truths[provider])
    scans = {}
    for provider, account in accounts.items():
        print(f"      {provider}: {account.name}", flush=True)
        scans[provider] = scan_and_wait(scanner, account.name, len(truths[provider].regions))
    step.done(
        "; ".join(
            f"{p}: {scan_run_pb2.ScanRunState.Name(s.state).removeprefix('SCAN_RUN_STATE_')}, "
            f"{s.resources_scanned} resources"
            for p, s in scans.items()
        )
    )
    for provider, scan in scans.items():
        if scan.state != scan_run_pb2.SCAN_RUN_STATE_SUCCEEDED:
            why = scan.error_message or [
                {"region": r.region, "error": r.error_message, **dict(r.failed_kinds), **dict(r.failed_rules)}
                for r in scan.region_results
                if r.error_message or r.failed_kinds or r.failed_rules
            ]
            print(f"{provider} scan did not succeed: {why}")
            for name in ("scanner", "clouds"):  # what the scanner and the simulated clouds said
                lines = deploy.log_path(name).read_text(errors="replace").splitlines()
                warned = [line for line in lines if "WARNING" in line or "ERROR" in line or "Traceback" in line]
                print(f"--- {name}.log, last warnings:", *warned[-15:], sep="\n")
            return 1

    step("Findings priced in $/month")
    findings = [f for s in scans.values() for f in list_all_findings(scanner, scan_run=s.name)]
    per = defaultdict(lambda: [0, Decimal(0)])
    for f in findings:
        per[f.category][0] += 1
        per[f.category][1] += money_amount(f.monthly_cost)
    ranked = sorted(per.items(), key=lambda kv: (-kv[1][1], kv[0]))
    shown, rest = ranked[:TOP_RULES], ranked[TOP_RULES:]
    w = max([len("total monthly waste"), *(len(cat) for cat, _ in shown)]) + 2
    print(f"      {'rule':<{w}}{'findings':>9}{'$/month':>12}")
    for cat, (n, cost) in shown:
        print(f"      {cat:<{w}}{n:>9}{cost:>12,.2f}")
    if rest:
        label = f"{len(rest)} more rules"
        print(f"      {label:<{w}}{sum(n for _, (n, _) in rest):>9}{sum(c for _, (_, c) in rest):>12,.2f}")
    for provider, scan in scans.items():
        label = f"{provider} ({scan.findings_count} findings)"
        print(f"      {label:<{w}}{'':>9}{money_amount(scan.total_monthly_waste):>12,.2f}")
    total = sum((money_amount(s.total_monthly_waste) for s in scans.values()), Decimal(0))
    print(f"      {'total monthly waste':<{w}}{len(findings):>9}{total:>12,.2f}")
    print(f"      {len(per)} rules fired (`cloudwaste findings` lists every finding)")
    waste_ids = {t.resource_id for tr in truths.values() for t in tr.waste()}
    found_ids = {f.resource_name for f in findings}
    tp = len(waste_ids & found_ids)
    print(
        f"      against the ground truth: precision {tp / max(len(found_ids), 1):.2f}, "
        f"recall {tp / max(len(waste_ids), 1):.2f} ({tp} of {len(waste_ids)} known waste resources)"
    )
    if found_ids != waste_ids:  # the simulated estate's waste is known: detection must be exact
        print(f"      missed {sorted(waste_ids - found_ids)[:5]}, not waste {sorted(found_ids - waste_ids)[:5]}")
        return 1

    step(
        "Enrichment (anonymized tags, temporal features, metric history, cost trends), once the scanner hands each run over"
    )
    enriched = 0
    for scan in scans.values():
        er = wait_enrichment(enricher, scan.name)
        if er is None or er.state != enrichment_run_pb2.ENRICHMENT_RUN_STATE_SUCCEEDED:
            print(
                f"      enrichment did not finish{': ' + er.error_message if er and er.error_message else ''}"
            )
            return 1
        enriched += er.rows_enriched
    step.done(f"{enriched} ML rows enriched")

    step(
        f"Simulated user decisions on {decide_share:.0%} of the findings (noisy, from the estate's user model)"
    )
    rng = random.Random(seed)
    by_id = {t.resource_id: t for tr in truths.values() for t in tr.resources}
    order = list(findings)
    rng.shuffle(order)
    decided = defaultdict(int)
    for f in order[: int(len(order) * decide_share)]:
        t = by_id.get(f.resource_name)
        if t is None or t.decision is None:
            continue
        scanner.SetFindingState(
            scanner_service_pb2.SetFindingStateRequest(name=f.name, state=DECISION_STATE[t.decision]),
            timeout=10,
        )
        decided[t.decision] += 1
    step.done(
        ", ".join(f"{n} {d}" for d, n in sorted(decided.items()))
        + f" -> {sum(decided.values())} labeled ML rows"
    )

    step("Users delete what they marked deleted, and the account is scanned again: decisions stick")
    marked = [
        f
        for account in accounts.values()
        for f in list_all_findings(
            scanner, cloud_account=account.name, state=finding_pb2.FINDING_STATE_DELETED
        )
    ]
    # a machine's disks before the machine; unassigned seats cut after the licences are freed
    for f in sorted(marked, key=lambda f: (not f.parent_finding, f.category == "m365-sku-unassigned-seats")):
        provider = provider_key(f.provider)
        if provider != "aws":
            delete_resource(deploy.cloud_endpoints[provider], f.resource_name)
            continue
        try:
            act_on(deploy.moto_endpoint, by_id[f.resource_name], "delete", account_id=truth.account_id)
        except ClientError as exc:  # already gone with its machine (a root volume deleted on termination)
            if not exc.response.get("Error", {}).get("Code", "").endswith("NotFound"):
                raise
    rescans = [scan_and_wait(scanner, a.name, len(truths[p].regions)) for p, a in accounts.items()]
    after = Counter(
        finding_pb2.FindingState.Name(f.state).removeprefix("FINDING_STATE_").lower()
        for a in accounts.values()
        for f in list_all_findings(scanner, cloud_account=a.name, all_states=True)
    )
    print(
        f"      {len(marked)} resources deleted in the estates; the rescans saw "
        f"{sum(r.findings_count for r in rescans)} findings again or anew "
        f"({sum(r.new_findings_count for r in rescans)} new), resolved "
        f"{sum(r.resolved_findings_count for r in rescans)}"
    )
    step.done("findings now: " + ", ".join(f"{n} {s}" for s, n in sorted(after.items())))

    step("Export the anonymized ML table: Parquet (zstd) partitioned by month, with a manifest")
    destination = f"{deploy.export_root.as_uri()}/weekly"

    def export():
        last = None
        for msg in exporter.ExportDataset(
            exporter_service_pb2.ExportDatasetRequest(
                destination_uri=destination, format=export_run_pb2.DATASET_FORMAT_PARQUET
            ),
            timeout=300,
        ):
            last = msg
        return last.export_run

    exp = export()
    if exp.state != export_run_pb2.EXPORT_RUN_STATE_SUCCEEDED:
        print(f"      export failed: {exp.error_message}")
        return 1
    root = deploy.export_root.as_uri()
    for f in exp.files:
        print(
            f"      {unquote(f.uri.removeprefix(root + '/'))}  {f.row_count} rows, sha256 {f.sha256[:12]}..."
        )
    q = exp.quality
    print(
        f"      data quality {q.score:.0f}/100: {q.enriched_share:.0%} enriched, {q.labeled_share:.0%} labeled "
        f"({q.deleted_share_of_labeled:.0%} of them deleted), {q.duplicate_share:.0%} duplicates, "
        f"newest row {q.freshness_days * 24:.1f} h old"
    )
    print("      " + phase2_fill([unquote(f.uri.removeprefix("file://")) for f in exp.files]))
    again = export()
    print(f"      exported again the same week: {again.row_count} new rows, no file written (incremental)")
    step.done(
        f"{exp.row_count} rows, {exp.size_bytes / 1024:.1f} KiB, manifest "
        f"{unquote(exp.manifest_uri.removeprefix(root + '/'))}"
    )

    step("Train the waste model from the export (time-based split) -> ONNX -> model registry")
    queued = predictor.TrainModels(
        predictor_service_pb2.TrainModelsRequest(dataset_uri=exp.manifest_uri), timeout=30
    ).training_run
    print(f"      {queued.name} queued; the predictor's training worker (its own process) trains it")
    tr = wait_for_training(predictor, queued, timeout=600)
    if not tr.model_version.name:
        print(f"      training failed: {tr.error_message}")
        return 1
    mv = tr.model_version
    m, b = mv.metrics, mv.baseline_metrics
    print(
        f"      {mv.name} ({mv.algorithm}): trained and calibrated on {mv.training_rows} decisions, "
        f"held out the newest {mv.test_rows}"
    )
    print(f"      {'candidate':<28}{'calib. log loss':>16}{'held-out ROC-AUC':>18}{'Brier':>8}")
    for c in sorted(mv.candidates, key=lambda c: c.calibration_log_loss):
        mark = "  <- chosen" if c.chosen else ""
        print(
            f"      {c.name:<28}{c.calibration_log_loss:>16.3f}{c.metrics['roc_auc']:>18.3f}"
            f"{c.metrics['brier']:>8.3f}{mark}"
        )
    print(f"      {'held-out metric':<20}{'model':>8}{'rule-only':>11}")
    for k, better in (
        ("roc_auc", "higher"),
        ("average_precision", "higher"),
        ("brier", "lower"),
        ("log_loss", "lower"),
    ):
        print(f"      {k:<20}{m[k]:>8.3f}{b[k]:>11.3f}   ({better} is better)")
    print(f"      ONNX vs scikit-learn max |diff| on the held-out rows: {m['onnx_max_abs_diff']:.1e}")

    step(
        "The predictor serves the new model (no restart); the next scans score their findings with it; spend forecasts"
    )
    open_findings = [  # the default list: OPEN
        f for a in accounts.values() for f in list_all_findings(scanner, cloud_account=a.name)
    ]
    if not open_findings:
        print("      no open findings left")
    else:  # the serving process picks the new active model up on its next poll
        wait_for_serving(predictor, mv.name, waste_features(open_findings[0]))
        for p, a in accounts.items():
            scan_and_wait(scanner, a.name, len(truths[p].regions))
        ranked = scanner.ListFindings(
            scanner_service_pb2.ListFindingsRequest(order_by="expected_monthly_saving desc", page_size=10),
            timeout=10,
        )
        print(
            f'      {ranked.total_size} open findings; ListFindings(order_by="expected_monthly_saving desc"), '
            f"top 10 ({ranked.findings[0].prediction.model_version or 'not scored'}):"
        )
        w = max(len(f.category) for f in ranked.findings) + 2
        print(f"      {'saving':>8}  {'p(waste)':>8}  {'$/month':>9}  {'rule':<{w}}{'location':<16}resource")
        for f in ranked.findings:
            # an ARN, an ARM id or a GCP path is long: its last part names the resource
            shown = f.resource_name if len(f.resource_name) <= 40 else "..." + f.resource_name[-37:]
            print(
                f"      {money_amount(f.prediction.expected_monthly_saving):>8.2f}  "
                f"{f.prediction.waste_probability:>8.2f}  {money_amount(f.monthly_cost):>9.2f}  {f.category:<{w}}"
                f"{(f.location or f.region):<16}{shown}"
            )
        top = ranked.findings[0].prediction
        reasons = ", ".join(f"{t.feature}={t.value} {t.contribution:+.2f}" for t in top.top_features)
        print(f"      the top one's reasons: {reasons or 'none'}")
    for p, a in accounts.items():  # each account's spend ahead, from the months of its bill the scans read
        try:
            fc = predictor.ForecastCost(
                predictor_service_pb2.ForecastCostRequest(account_hash=a.account_hash), timeout=10
            )
        except grpc.RpcError as exc:
            why = (
                "its bill is not read (no billing reader)"
                if exc.code() == grpc.StatusCode.NOT_FOUND
                else exc.details()
            )
            print(f"      ForecastCost {p}: {exc.code().name}, {why}")
            continue
        ahead = ", ".join(f"{m.month} ${m.amount:,.0f} [{m.lower:,.0f}-{m.upper:,.0f}]" for m in fc.months)
        print(f"      ForecastCost {p} ({fc.history_months} months of its bill, {fc.method}): {ahead}")

    step("Stop everything")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cloudwaste-demo", description=__doc__)
    parser.add_argument("--size", type=int, default=500, help="resources in the simulated estate")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--decide-share", type=float, default=0.8, help="share of findings users decide on")
    parser.add_argument("--workdir", default="", help="keep state here (default: a temporary folder)")
    args = parser.parse_args(argv)
    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="cloudwaste-demo-"))
    t0 = time.perf_counter()
    print(
        f"CloudWaste demo: embedded PostgreSQL, a simulated AWS estate of {args.size} resources, "
        f"Azure subscriptions and GCP projects (seed {args.seed}) and the four services as processes; "
        f"state in {workdir}",
        flush=True,
    )
    deploy = LocalDeployment(workdir, size=args.size, seed=args.seed)
    code = 1
    try:
        deploy.start()
        print(
            f"      up in {time.perf_counter() - t0:.1f} s: "
            + ", ".join(f"{s} {a}" for s, a in deploy.addresses.items())
            + f"; moto {deploy.moto_endpoint}"
            + "".join(f"; {p} {u}" for p, u in sorted(deploy.cloud_endpoints.items()))
        )
        code = run(deploy, args.decide_share, args.seed)
    except grpc.RpcError as exc:
        print(f"demo failed: {exc.code().name}: {exc.details()}; logs in {deploy.log_dir}", file=sys.stderr)
    finally:
        codes = deploy.stop()
        print(f"      stopped: {', '.join(f'{k} exit {v}' for k, v in codes.items() if v is not None)}")
    print(f"demo {'finished' if code == 0 else 'FAILED'} in {time.perf_counter() - t0:.1f} s")
    if code == 0 and not args.workdir:
        shutil.rmtree(workdir, ignore_errors=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
