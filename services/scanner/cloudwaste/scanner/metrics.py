"""The scanner's Prometheus metrics. Label values are bounded: provider keys, IAM action names,
resource kinds, scenario keys, run states. Never an id, an account or a name."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

SCANS = Counter(
    "cloudwaste_scanner_scan_runs_total", "Scan runs finished, by provider and final state.", ["provider", "state"]
)
SCAN_SECONDS = Histogram(
    "cloudwaste_scanner_scan_duration_seconds",
    "Wall time of a scan run, by provider.",
    ["provider"],
    buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600),
)
FINDINGS = Counter(
    "cloudwaste_scanner_findings_total",
    "Findings seen by a scan (one per finding and scan), by provider, resource kind and rule.",
    ["provider", "kind", "rule"],
)
RESOURCES = Counter(
    "cloudwaste_scanner_resources_scanned_total",
    "Resources listed by a scan, by provider and resource kind.",
    ["provider", "kind"],
)
# A scope is a region, a subscription, a project or a tenant (its name is never a label: an
# account's scopes may be customer identifiers).
SCOPES = Counter(
    "cloudwaste_scanner_scopes_total",
    "Scopes scanned, by provider and outcome (succeeded or failed).",
    ["provider", "outcome"],
)
RUNNING = Gauge("cloudwaste_scanner_scans_in_progress", "Scan runs being executed by this replica.")

PROVIDER_API_CALLS = Counter(
    "cloudwaste_scanner_provider_api_calls_total",
    "Calls made to a cloud provider's API, by provider and operation (as an IAM action).",
    ["provider", "operation"],
)
BILLING_READS = Counter(
    "cloudwaste_scanner_billing_reads_total",
    "Billing queries a scan needed, by provider and query, read from the provider or served from the day's cache.",
    ["provider", "query", "result"],
)
KIND_FAILURES = Counter(
    "cloudwaste_scanner_kind_failures_total",
    "Resource kinds that could not be listed completely in one scope.",
    ["provider", "kind"],
)
RULE_FAILURES = Counter(
    "cloudwaste_scanner_rule_failures_total",
    "Rules that raised while evaluating one scope (their findings there were left as they were).",
    ["provider", "rule"],
)
FINDINGS_SCORED = Counter(
    "cloudwaste_scanner_findings_scored_total",
    "Findings sent to the waste model when their scan ended, by result: scored, no_model (none trained "
    "yet) or failed (the predictor did not answer).",
    ["result"],
)
ML_ROWS = Counter("cloudwaste_scanner_ml_rows_total", "ML rows collected (one per finding and scan).")
DECISIONS = Counter(
    "cloudwaste_scanner_decisions_total", "User decisions recorded, by decision.", ["decision"]
)
IMPLICIT_LABELS = Counter(
    "cloudwaste_scanner_implicit_labels_total",
    "Open findings whose resource disappeared (implicit 'deleted').",
)
