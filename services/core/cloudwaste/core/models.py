"""The shared PostgreSQL schema (SQLAlchemy 2 declarative). Alembic migrations are made from it.

Ownership (a service never writes another's tables): scanner owns cloud_accounts, scan_runs,
findings, user_actions, the base columns of ml_training_data and the hand-off to the enricher
(scan_handoffs, enrichment_inputs: the enricher reads those, never the scanner's other tables); the
enricher owns
enrichment_runs, the enrichment columns of ml_training_data, cloudwatch_metrics_history and
cost_trend_data; the exporter owns export_runs, purge_runs and the partitions of ml_training_data
(it creates them ahead and drops expired ones; the scanner creates a missing one as a fallback); the predictor owns training_runs and model_versions.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# 2: label_source (explicit decisions vs resources that disappeared while open)
ML_SCHEMA_VERSION = 2


class Base(DeclarativeBase):
    pass


def _pk() -> Mapped[uuid.UUID]:
    return mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)


def _now() -> Mapped[dt.datetime]:
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


class Tenant(Base):
    """What CloudWaste generated for a tenant: the external id every AWS role of the tenant's
    accounts requires in its trust policy (confused-deputy protection). Never chosen by a caller,
    so no tenant can name another's."""

    __tablename__ = "tenants"
    tenant_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    aws_external_id: Mapped[str] = mapped_column(String(64), unique=True)
    create_time: Mapped[dt.datetime] = _now()


class CloudAccount(Base):
    __tablename__ = "cloud_accounts"
    id: Mapped[uuid.UUID] = _pk()
    tenant_id: Mapped[str] = mapped_column(String(128))
    provider: Mapped[str] = mapped_column(String(16))
    display_name: Mapped[str] = mapped_column(String(256))
    regions: Mapped[list[str]] = mapped_column(ARRAY(String(64)), default=list)
    # Provider access: role ARN and external id for AWS. Never long-lived secrets.
    access: Mapped[dict] = mapped_column(JSONB, default=dict)
    ml_collection_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # Per-rule parameter overrides {rule_key: {param: value}}, validated by the rule registry.
    rule_parameters: Mapped[dict] = mapped_column(JSONB, default=dict, server_default=text("'{}'::jsonb"))
    create_time: Mapped[dt.datetime] = _now()
    update_time: Mapped[dt.datetime] = _now()
    # CreateCloudAccount's request id (AIP-155): a retry returns this account
    request_id: Mapped[str | None] = mapped_column(String(128), unique=True)

    __table_args__ = (Index("ix_cloud_accounts_tenant_create_time", "tenant_id", "create_time"),)


class ScanRun(Base):
    __tablename__ = "scan_runs"
    id: Mapped[uuid.UUID] = _pk()
    cloud_account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cloud_accounts.id"), index=True)
    state: Mapped[str] = mapped_column(String(32), default="PENDING")
    regions: Mapped[list[str]] = mapped_column(ARRAY(String(64)), default=list)
    region_results: Mapped[list] = mapped_column(JSONB, default=list)
    resources_scanned: Mapped[int] = mapped_column(BigInteger, default=0)
    findings_count: Mapped[int] = mapped_column(BigInteger, default=0)
    total_monthly_waste: Mapped[Decimal] = mapped_column(Numeric(14, 4), default=Decimal(0))
    error_message: Mapped[str | None] = mapped_column(Text)
    error_code: Mapped[int | None] = mapped_column(Integer)  # google.rpc.Code of the error
    claimed_by: Mapped[str | None] = mapped_column(String(128))
    create_time: Mapped[dt.datetime] = _now()
    start_time: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    end_time: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # At-least-once hand-off to the enricher: set once EnrichScanRun answered OK.
    enrichment_notified_time: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    enrichment_attempts: Mapped[int] = mapped_column(Integer, default=0)
    new_findings_count: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    resolved_findings_count: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    reopened_findings_count: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    # StartScan's request id (AIP-155): a retry returns this run
    request_id: Mapped[str | None] = mapped_column(String(128), unique=True)
    # While RUNNING: until when the claiming worker vouches for it (renewed as it works)
    lease_expire_time: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("ix_scan_runs_state_create_time", "state", "create_time"),
        Index("ix_scan_runs_account_create_time", "cloud_account_id", "create_time"),
    )


class Finding(Base):
    """One per (cloud account, scope, resource, rule): scans update it, users decide on it."""

    __tablename__ = "findings"
    id: Mapped[uuid.UUID] = _pk()
    cloud_account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cloud_accounts.id"))
    # The latest scan run that saw the waste.
    last_scan_run_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("scan_runs.id"), index=True)
    provider: Mapped[str] = mapped_column(String(16))
    resource_id: Mapped[str] = mapped_column(Text)
    resource_type: Mapped[str] = mapped_column(String(64))
    resource_display_name: Mapped[str] = mapped_column(Text, default="")
    region: Mapped[str] = mapped_column(String(64))  # the scope: region, subscription, project...
    # Where the resource is within its scope (AWS region, Azure location, GCP region or zone).
    location: Mapped[str | None] = mapped_column(String(64))
    scenario: Mapped[str] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(16))
    confidence: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16), default="OPEN")
    # Bumped on every state change; the etag clients send back (AIP-154).
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    monthly_cost: Mapped[Decimal] = mapped_column(Numeric(14, 4))
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    evidence: Mapped[dict] = mapped_column(JSONB, default=dict)
    # Raw provider tags: operational data, shown to the customer, never copied to ML tables.
    tags: Mapped[dict] = mapped_column(JSONB, default=dict)
    resource_config: Mapped[dict] = mapped_column(JSONB, default=dict)
    # The rule parameters the waste was last detected with (to tell "parameters changed" apart).
    rule_params: Mapped[dict] = mapped_column(JSONB, default=dict, server_default=text("'{}'::jsonb"))
    resource_create_time: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    event_time: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))  # last observed
    create_time: Mapped[dt.datetime] = _now()  # first detected
    # Start of the current open cycle (first detection, or the latest reopening): decisions label
    # the ML rows observed since, and time-to-action counts from it.
    cycle_start_time: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    state_change_time: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    ignore_expire_time: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    resolve_reason: Mapped[str | None] = mapped_column(String(32))
    # The state the finding had when it was resolved: KEPT and IGNORED come back when it reopens.
    resolved_from_state: Mapped[str | None] = mapped_column(String(16))
    resolve_scan_run_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    parent_finding_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("findings.id", ondelete="SET NULL"), index=True
    )
    observation_count: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    # What the waste model said when the finding's last scan ended (null: not scored): p(deleted),
    # p x monthly_cost, and {"model_version", "predict_time", "top_features": [[feature, value,
    # contribution], ...]}.
    waste_probability: Mapped[float | None] = mapped_column(Double)
    expected_monthly_saving: Mapped[Decimal | None] = mapped_column(Numeric(14, 4))
    prediction: Mapped[dict | None] = mapped_column(JSONB)
    # The Finding message as ListFindings shows it, without its parts' cost, serialized by every
    # scanner write (scanner.rendering); NULL when a write did not (a trigger clears it then).
    listed_pb: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)

    __table_args__ = (
        Index("ux_findings_identity", "cloud_account_id", "region", "resource_id", "scenario", unique=True),
        Index("ix_findings_page", "create_time", "id"),
        # the findings without a stored rendering, which an idle scanner renders
        Index("ix_findings_unrendered", "id", postgresql_where=text("listed_pb IS NULL")),
        # an account's pages (ListFindings' usual filter), newest first, without other accounts' rows
        Index("ix_findings_account_page", "cloud_account_id", "create_time", "id"),
        # ListFindings' count of an account's OPEN findings (expired ignores included) reads the
        # index alone: 0.2 ms for a thousand, not 0.8 ms through the table
        Index(
            "ix_findings_account_state",
            "cloud_account_id",
            "state",
            postgresql_include=["ignore_expire_time"],
        ),
        Index("ix_findings_state_create_time", "state", "create_time"),
        Index("ix_findings_saving", text("coalesce(expected_monthly_saving, -1) DESC"), text("id DESC")),
        # the retention purge's look for findings resolved long ago
        Index(
            "ix_findings_resolved_time",
            "state_change_time",
            postgresql_where=text("state = 'RESOLVED'"),
        ),
    )


class FindingObservation(Base):
    """One per (scan run, finding): what that scan saw, and the ML row it produced (if any)."""

    __tablename__ = "finding_observations"
    scan_run_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("scan_runs.id"), primary_key=True)
    finding_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("findings.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    monthly_cost: Mapped[Decimal] = mapped_column(Numeric(14, 4))
    confidence: Mapped[str] = mapped_column(String(16))
    # The ML row of this observation (partitioned table: id + partition key); none when opted out.
    ml_row_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    ml_row_detected_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class UserAction(Base):
    __tablename__ = "user_actions"
    id: Mapped[uuid.UUID] = _pk()
    finding_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("findings.id", ondelete="CASCADE"), index=True)
    action: Mapped[str] = mapped_column(String(16))
    previous_state: Mapped[str] = mapped_column(String(16))
    create_time: Mapped[dt.datetime] = _now()


class MlTrainingData(Base):
    """One anonymized row per (finding, scan). Partitioned by month on detected_at."""

    __tablename__ = "ml_training_data"
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    detected_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    schema_version: Mapped[int] = mapped_column(Integer, default=ML_SCHEMA_VERSION)
    hash_key_id: Mapped[str] = mapped_column(String(32))
    resource_hash: Mapped[str] = mapped_column(String(64))
    account_hash: Mapped[str] = mapped_column(String(64))
    tenant_hash: Mapped[str] = mapped_column(String(64), index=True)
    provider: Mapped[str] = mapped_column(String(16))
    resource_type: Mapped[str] = mapped_column(String(64))
    region_group: Mapped[str] = mapped_column(String(32))
    detection_scenario: Mapped[str] = mapped_column(String(64))
    confidence_level: Mapped[str] = mapped_column(String(16))
    resource_age_days: Mapped[float | None] = mapped_column(Double)
    cost_monthly: Mapped[float] = mapped_column(Double)
    cost_real_monthly: Mapped[float | None] = mapped_column(Double)
    cost_variance_pct: Mapped[float | None] = mapped_column(Double)
    # Where cost_real_monthly was read ("aws_cur", "aws_cost_explorer", "azure_cost_management"),
    # or, when it is null, why ("no_billing_source", "billing_unavailable", "not_in_billing_data").
    cost_real_source: Mapped[str | None] = mapped_column(String(32))
    cost_real_missing: Mapped[str | None] = mapped_column(String(32))
    metrics_summary: Mapped[dict | None] = mapped_column(JSONB(none_as_null=True))  # no series: SQL NULL
    resource_config: Mapped[dict] = mapped_column(JSONB, default=dict)
    tags_anonymized: Mapped[dict | None] = mapped_column(JSONB)
    parent_resource_hash: Mapped[str | None] = mapped_column(String(64))
    parent_resource_type: Mapped[str | None] = mapped_column(String(64))
    parent_resource_state: Mapped[str | None] = mapped_column(String(32))
    temporal_features: Mapped[dict | None] = mapped_column(JSONB)
    user_action: Mapped[str | None] = mapped_column(String(16))
    # "explicit": a user's decision in CloudWaste; "implicit": the resource disappeared while the
    # finding was open (deleted outside CloudWaste). Null while unlabeled.
    label_source: Mapped[str | None] = mapped_column(String(16))
    time_to_action_hours: Mapped[float | None] = mapped_column(Double)
    labeled_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    enriched_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # When the row was written or last changed (a label, an enrichment): the start of the writing
    # transaction, kept by the trigger ml_row_changed (migration 0007). Incremental exports follow it.
    changed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = ({"postgresql_partition_by": "RANGE (detected_at)"},)


class ScanHandoff(Base):
    """What the scanner tells the enricher about a scan run: that it exists (written with it) and
    how it ended (`scan_state`, None until it is handed over: once the run has ended and its
    findings' metric history is collected). Deleted with the scan run."""

    __tablename__ = "scan_handoffs"
    scan_run_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("scan_runs.id", ondelete="CASCADE"), primary_key=True
    )
    scan_state: Mapped[str | None] = mapped_column(String(32))
    end_time: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # The account's bill, read once the run ended: where from ("aws_cur"...), or why not (a code of
    # domain.CostReport, and a sentence); the window of daily costs [start, end); the account's
    # spend per month ({"YYYY-MM-01": amount}, {} when unknown).
    cost_source: Mapped[str | None] = mapped_column(String(32))
    cost_missing: Mapped[str | None] = mapped_column(String(32))
    cost_note: Mapped[str | None] = mapped_column(Text)
    cost_window_start: Mapped[dt.date | None] = mapped_column(Date)
    cost_window_end: Mapped[dt.date | None] = mapped_column(Date)
    account_spend: Mapped[dict | None] = mapped_column(JSONB(none_as_null=True))


class EnrichmentInput(Base):
    """One ML row a scan run wrote, with what its enrichment needs that the row may not hold (the
    raw tags, to anonymize; the resource's creation time). Written by the scanner in the scan's
    transaction; operational data, deleted with the scan run."""

    __tablename__ = "enrichment_inputs"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    scan_run_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("scan_runs.id", ondelete="CASCADE"), index=True)
    ml_row_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    ml_row_detected_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    tags: Mapped[dict] = mapped_column(JSONB, default=dict)
    resource_create_time: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # The resource (raw, operational), so the history collected after the scan finds its row.
    resource_kind: Mapped[str | None] = mapped_column(String(64))
    resource_id: Mapped[str | None] = mapped_column(Text)
    # The metric series read for the resource once the scan ended, by metric name: {"namespace",
    # "metric", "stat", "start", "period", "values": [720 hourly values, null for a gap]}.
    metric_history: Mapped[dict | None] = mapped_column(JSONB)
    # The resource's cost per day of the hand-off's cost window, from the bill ({"YYYY-MM-DD":
    # amount}; a day without a charge is absent); None when the bill was not read.
    cost_daily: Mapped[dict | None] = mapped_column(JSONB(none_as_null=True))
    # True when the resource's part of the bill could not be read (its subscription failed).
    cost_unread: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))


class EnrichmentRun(Base):
    __tablename__ = "enrichment_runs"
    scan_run_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    # Claimed by the enrichment worker: PENDING -> RUNNING -> SUCCEEDED | FAILED.
    state: Mapped[str] = mapped_column(String(16))
    rows_enriched: Mapped[int] = mapped_column(BigInteger, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error_message: Mapped[str | None] = mapped_column(Text)
    error_code: Mapped[int | None] = mapped_column(Integer)  # google.rpc.Code of the error
    claimed_by: Mapped[str | None] = mapped_column(String(128))
    create_time: Mapped[dt.datetime] = _now()
    update_time: Mapped[dt.datetime] = _now()
    start_time: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    end_time: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # Renewed by the worker while it enriches; a lapsed lease means the worker is gone.
    lease_expire_time: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_enrichment_runs_state_create_time", "state", "create_time"),)


class CloudwatchMetricsHistory(Base):
    """Full metric time series per resource (hash) and metric, with aggregates: one row per
    resource and metric, the latest window (every cloud's metrics, despite the name)."""

    __tablename__ = "cloudwatch_metrics_history"
    __table_args__ = (
        UniqueConstraint(
            "resource_hash", "namespace", "metric_name", "stat", name="uq_cloudwatch_metrics_history_resource_metric"
        ),
    )
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    resource_hash: Mapped[str] = mapped_column(String(64), index=True)
    tenant_hash: Mapped[str] = mapped_column(String(64))
    namespace: Mapped[str] = mapped_column(String(64))
    metric_name: Mapped[str] = mapped_column(String(64))
    stat: Mapped[str | None] = mapped_column(String(32))  # Average, Sum, Maximum...
    period_seconds: Mapped[int] = mapped_column(Integer)
    start_time: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    point_values: Mapped[list[float]] = mapped_column(ARRAY(Double))
    avg: Mapped[float | None] = mapped_column(Double)
    p50: Mapped[float | None] = mapped_column(Double)
    p95: Mapped[float | None] = mapped_column(Double)
    p99: Mapped[float | None] = mapped_column(Double)
    max: Mapped[float | None] = mapped_column(Double)
    trend: Mapped[float | None] = mapped_column(Double)  # least-squares slope, per day
    missing_share: Mapped[float | None] = mapped_column(Double)
    collected_at: Mapped[dt.datetime] = _now()


class CostTrendData(Base):
    """Per account (keyed hash) and month, in $/month: the waste level its last complete scan of
    the month found, the waste its users eliminated (findings marked deleted that month, at the
    cost they had), and the account's real spend (null until a billing source is read)."""

    __tablename__ = "cost_trend_data"
    account_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    month: Mapped[dt.date] = mapped_column(primary_key=True)
    tenant_hash: Mapped[str] = mapped_column(String(64))
    real_spend: Mapped[float | None] = mapped_column(Double)
    waste_detected: Mapped[float | None] = mapped_column(Double)
    waste_eliminated: Mapped[float | None] = mapped_column(Double)
    # when the scan that waste_detected comes from ran: an older scan enriched late never wins
    as_of: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class ExportRun(Base):
    __tablename__ = "export_runs"
    id: Mapped[uuid.UUID] = _pk()
    state: Mapped[str] = mapped_column(String(16))
    format: Mapped[str] = mapped_column(String(16))
    destination_uri: Mapped[str] = mapped_column(Text)
    labeled_only: Mapped[bool] = mapped_column(Boolean, default=False)
    dataset_uri: Mapped[str | None] = mapped_column(Text)
    manifest_uri: Mapped[str | None] = mapped_column(Text)
    row_count: Mapped[int] = mapped_column(BigInteger, default=0)
    size_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    sha256: Mapped[str | None] = mapped_column(String(64))
    schema_version: Mapped[int] = mapped_column(Integer, default=ML_SCHEMA_VERSION)
    error_message: Mapped[str | None] = mapped_column(Text)
    error_code: Mapped[int | None] = mapped_column(Integer)  # google.rpc.Code of the error
    # The data quality report of the exported rows (exporter/quality.py), once it succeeded.
    quality: Mapped[dict | None] = mapped_column(JSONB)
    # Long work claimed by the export worker: PENDING -> RUNNING (progress here) -> SUCCEEDED | FAILED.
    rows_written: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    rows_total: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    request_id: Mapped[str | None] = mapped_column(String(128), unique=True)
    claimed_by: Mapped[str | None] = mapped_column(String(128))
    # a running export's lease, renewed by its worker: lapsed, the worker is gone
    lease_expire_time: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    create_time: Mapped[dt.datetime] = _now()
    start_time: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    end_time: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # Incremental exports: the rows whose changed_at is in [changed_after, changed_before) (no
    # lower bound for a full export), the files published for them ([{"uri", "month", "row_count",
    # "size_bytes", "sha256"}], recorded before each is published so that a failed run's files can
    # be withdrawn) and the export of the same stream it continues.
    files: Mapped[list] = mapped_column(JSONB, default=list, server_default=text("'[]'::jsonb"))
    changed_after: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    changed_before: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    full_export: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    previous_export_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))

    __table_args__ = (Index("ix_export_runs_state_create_time", "state", "create_time"),)


class PurgeRun(Base):
    """One application of the retention policy: the audit record of what it removed (exporter)."""

    __tablename__ = "purge_runs"
    id: Mapped[uuid.UUID] = _pk()
    state: Mapped[str] = mapped_column(String(16))
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    ml_retention_days: Mapped[int] = mapped_column(Integer)
    export_retention_days: Mapped[int] = mapped_column(Integer)
    ml_cutoff_time: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    ml_partitions_dropped: Mapped[list] = mapped_column(JSONB, default=list)
    ml_rows_removed: Mapped[int] = mapped_column(BigInteger, default=0)
    ml_partitions_created: Mapped[list] = mapped_column(JSONB, default=list)
    export_runs_removed: Mapped[int] = mapped_column(BigInteger, default=0)
    export_files_removed: Mapped[list] = mapped_column(JSONB, default=list)
    # The scanner's operational data (exporter/operational.py).
    finding_retention_days: Mapped[int | None] = mapped_column(Integer)
    scan_run_retention_days: Mapped[int | None] = mapped_column(Integer)
    findings_removed: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    observations_removed: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    scan_runs_removed: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    enrichment_runs_removed: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    shadow_predictions_removed: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    # Long work claimed by the exporter's worker: PENDING -> RUNNING -> SUCCEEDED | FAILED.
    partitions_ahead: Mapped[int] = mapped_column(Integer, default=3, server_default="3")
    request_id: Mapped[str | None] = mapped_column(String(128), unique=True)
    claimed_by: Mapped[str | None] = mapped_column(String(128))
    start_time: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    error_message: Mapped[str | None] = mapped_column(Text)
    error_code: Mapped[int | None] = mapped_column(Integer)  # google.rpc.Code of the error
    create_time: Mapped[dt.datetime] = _now()
    end_time: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("ix_purge_runs_create_time", "create_time", "id"),
        Index("ix_purge_runs_state_create_time", "state", "create_time"),
    )


class ModelVersion(Base):
    __tablename__ = "model_versions"
    id: Mapped[uuid.UUID] = _pk()
    model_kind: Mapped[str] = mapped_column(String(32))
    version: Mapped[int] = mapped_column(Integer)
    onnx: Mapped[bytes] = mapped_column(LargeBinary)
    feature_spec: Mapped[dict] = mapped_column(JSONB)
    metrics: Mapped[dict] = mapped_column(JSONB, default=dict)
    baseline_metrics: Mapped[dict] = mapped_column(JSONB, default=dict)
    # every candidate the training compared: [{name, chosen, calibration_log_loss, metrics}]
    candidates: Mapped[list] = mapped_column(JSONB, default=list, server_default=text("'[]'::jsonb"))
    algorithm: Mapped[str] = mapped_column(String(64), default="", server_default=text("''"))
    training_rows: Mapped[int] = mapped_column(BigInteger, default=0)
    test_rows: Mapped[int] = mapped_column(BigInteger, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=False)
    # scored beside the active version on live requests (SetModelVersionRole); one per kind at most
    shadow: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    training_run_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    create_time: Mapped[dt.datetime] = _now()

    __table_args__ = (
        Index("ux_model_versions_kind_version", "model_kind", "version", unique=True),
        Index(
            "ux_model_versions_one_active",
            "model_kind",
            unique=True,
            postgresql_where=text("active"),
        ),
        Index("ux_model_versions_one_shadow", "model_kind", unique=True, postgresql_where=text("shadow")),
    )


class ShadowPrediction(Base):
    """One live row scored by a kind's shadow version beside its active one (the predictor's)."""

    __tablename__ = "shadow_predictions"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    model_kind: Mapped[str] = mapped_column(String(32))
    active_version: Mapped[int] = mapped_column(Integer)
    shadow_version: Mapped[int] = mapped_column(Integer)
    active_probability: Mapped[float] = mapped_column(Double)
    shadow_probability: Mapped[float] = mapped_column(Double)
    # The finding the row was about, when the caller named it: how a decision labels it later.
    finding_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    create_time: Mapped[dt.datetime] = _now()

    __table_args__ = (
        Index("ix_shadow_predictions_pair", "model_kind", "shadow_version", "active_version"),
        Index("ix_shadow_predictions_create_time", "create_time"),  # the monthly purge
    )


class TrainingRun(Base):
    """Long work a training worker claims (SKIP LOCKED): PENDING -> RUNNING -> SUCCEEDED | FAILED."""

    __tablename__ = "training_runs"
    id: Mapped[uuid.UUID] = _pk()
    state: Mapped[str] = mapped_column(String(16))
    model_kind: Mapped[str] = mapped_column(String(32), default="waste", server_default=text("'waste'"))
    dataset_uri: Mapped[str] = mapped_column(Text)
    activate: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    request_id: Mapped[str | None] = mapped_column(String(128), unique=True)
    claimed_by: Mapped[str | None] = mapped_column(String(128))
    # a running training's lease, renewed by its worker: lapsed, the worker is gone
    lease_expire_time: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    model_version_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("model_versions.id"))
    error_message: Mapped[str | None] = mapped_column(Text)
    error_code: Mapped[int | None] = mapped_column(Integer)  # google.rpc.Code of the error
    create_time: Mapped[dt.datetime] = _now()
    start_time: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    end_time: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_training_runs_state_create_time", "state", "create_time"),)


class ErasureRun(Base):
    """The audit record of one GDPR erasure of a tenant's ML rows (EraseTenantData; the scanner
    writes it in the erasure's transaction). It holds no tenant id: the keyed hashes its rows
    carried, how many rows went, and the datasets that may still hold some (to rewrite)."""

    __tablename__ = "erasure_runs"
    id: Mapped[uuid.UUID] = _pk()
    tenant_hashes: Mapped[list] = mapped_column(JSONB, default=list)
    ml_rows_deleted: Mapped[int] = mapped_column(BigInteger, default=0)
    exports_to_rewrite: Mapped[list] = mapped_column(JSONB, default=list)
    create_time: Mapped[dt.datetime] = _now()

    __table_args__ = (Index("ix_erasure_runs_create_time", "create_time", "id"),)
