"""The contracts and the schema: buf lint (STANDARD) and Alembic migrations against the models."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent


def buf_binary() -> str:
    path = os.environ.get("BUF") or str(ROOT / ".tools" / "node_modules" / ".bin" / "buf")
    assert Path(path).exists(), f"buf not found at {path}: run `make setup`"
    return path


def test_buf_lint_standard_is_clean():
    proc = subprocess.run(
        [buf_binary(), "lint"], cwd=ROOT / "protos", capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_buf_lint_catches_a_bad_contract(tmp_path):
    (tmp_path / "buf.yaml").write_text((ROOT / "protos" / "buf.yaml").read_text())
    shutil.copytree(ROOT / "protos" / "third_party", tmp_path / "third_party")
    bad = tmp_path / "cloudwaste" / "bad" / "v1"
    bad.mkdir(parents=True)
    (bad / "bad.proto").write_text(
        'syntax = "proto3";\npackage cloudwaste.bad.v1;\n'
        "enum Color { RED = 0; }\nmessage M { Color c = 1; }\n"
        "service Bad { rpc Do(M) returns (M); }\n"
    )
    proc = subprocess.run([buf_binary(), "lint"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    for problem in (
        'should be suffixed with "_UNSPECIFIED"',
        'should be suffixed with "Service"',
        'should be named "DoRequest"',
    ):
        assert problem in out, out


def test_migrations_match_the_models_and_downgrade_cleanly(database_url):
    from alembic import command
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from cloudwaste.core.migrate import alembic_config
    from cloudwaste.core.models import Base

    engine = sa.create_engine(database_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diff == [], diff
    cfg = alembic_config(database_url)
    command.downgrade(cfg, "base")
    with engine.connect() as conn:
        assert "findings" not in sa.inspect(conn).get_table_names()
    command.upgrade(cfg, "head")
    with engine.connect() as conn:
        names = set(sa.inspect(conn).get_table_names())
        partitioned = conn.execute(
            sa.text(
                "SELECT partstrat FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid "
                "WHERE c.relname = 'ml_training_data'"
            )
        ).scalar()
    engine.dispose()
    assert {
        "cloud_accounts",
        "scan_runs",
        "findings",
        "user_actions",
        "ml_training_data",
        "export_runs",
        "model_versions",
        "training_runs",
        "cloudwatch_metrics_history",
        "cost_trend_data",
    } <= names
    assert partitioned == "r"  # range-partitioned by month


def test_migration_folds_per_scan_findings_into_stable_ones(database_url):
    """Data written by the skeleton (one finding per resource per scan) survives the upgrade: one
    finding per identity, an observation per scan, the decision on every ML row of the finding."""
    from alembic import command
    from cloudwaste.core.migrate import alembic_config

    cfg = alembic_config(database_url)
    command.downgrade(cfg, "0001")
    engine = sa.create_engine(database_url)
    t1, t2 = "2026-10-01 00:00:00+00", "2026-10-08 00:00:00+00"
    with engine.begin() as c:
        c.execute(
            sa.text(
                "CREATE TABLE ml_training_data_y2026m10 PARTITION OF ml_training_data "
                "FOR VALUES FROM ('2026-10-01') TO ('2026-11-01')"
            )
        )
        c.execute(
            sa.text(
                "INSERT INTO cloud_accounts VALUES ('00000000-0000-0000-0000-00000000000a', 't', 'aws', 'd', "
                "'{eu-west-1}', '{}', true, now())"
            )
        )
        for run, at in (("1", t1), ("2", t2)):
            c.execute(
                sa.text(
                    "INSERT INTO scan_runs (id, cloud_account_id, state, regions, region_results, "
                    "resources_scanned, findings_count, total_monthly_waste, create_time, enrichment_attempts) "
                    f"VALUES ('00000000-0000-0000-0000-00000000000{run}', '00000000-0000-0000-0000-00000000000a', "
                    f"'SUCCEEDED', '{{eu-west-1}}', '[]', 1, 1, 1, '{at}', 0)"
                )
            )
        rows = [  # finding, run, resource, state, ml row, time
            ("f1", "1", "vol-a", "OPEN", "m1", t1),
            ("f2", "2", "vol-a", "KEPT", "m2", t2),
            ("f3", "1", "vol-b", "OPEN", "m3", t1),
        ]
        for fid, run, rid, state, mid, at in rows:
            c.execute(
                sa.text(
                    "INSERT INTO ml_training_data (id, detected_at, schema_version, hash_key_id, resource_hash, "
                    "account_hash, tenant_hash, provider, resource_type, region_group, detection_scenario, "
                    "confidence_level, cost_monthly, resource_config, user_action) VALUES "
                    f"('{_uuid(mid)}', '{at}', 1, 'k', 'h', 'a', 't', 'aws', 'aws.ec2.volume', 'eu', "
                    f"'ebs-volume-unattached', 'HIGH', 1, '{{}}', {repr(state.lower()) if state != 'OPEN' else 'NULL'})"
                )
            )
            c.execute(
                sa.text(
                    "INSERT INTO findings (id, scan_run_id, cloud_account_id, provider, resource_id, resource_type, "
                    "resource_display_name, region, scenario, severity, confidence, state, monthly_cost, currency, "
                    "evidence, tags, resource_config, event_time, create_time, state_change_time, ml_row_id, "
                    "ml_row_detected_at) VALUES "
                    f"('{_uuid(fid)}', '00000000-0000-0000-0000-00000000000{run}', "
                    f"'00000000-0000-0000-0000-00000000000a', 'aws', '{rid}', 'aws.ec2.volume', '', 'eu-west-1', "
                    f"'ebs-volume-unattached', 'LOW', 'HIGH', '{state}', 1, 'USD', '{{}}', '{{}}', '{{}}', '{at}', "
                    f"'{at}', {repr(t2) if state != 'OPEN' else 'NULL'}, '{_uuid(mid)}', '{at}')"
                )
            )
    command.upgrade(cfg, "head")
    with engine.connect() as c:
        findings = c.execute(
            sa.text(
                "SELECT resource_id, state, observation_count, last_scan_run_id::text, create_time "
                "FROM findings ORDER BY resource_id"
            )
        ).all()
        labels = c.execute(
            sa.text(
                "SELECT f.resource_id, m.user_action, m.label_source, m.time_to_action_hours "
                "FROM finding_observations o JOIN findings f ON f.id = o.finding_id "
                "JOIN ml_training_data m ON m.id = o.ml_row_id AND m.detected_at = o.ml_row_detected_at "
                "ORDER BY f.resource_id, m.detected_at"
            )
        ).all()
    engine.dispose()
    assert [(r[0], r[1], r[2], r[3][-1]) for r in findings] == [
        ("vol-a", "KEPT", 2, "2"),
        ("vol-b", "OPEN", 1, "1"),
    ]
    assert [tuple(r[:3]) for r in labels] == [
        ("vol-a", "kept", "explicit"),
        ("vol-a", "kept", "explicit"),
        ("vol-b", None, None),
    ]
    assert labels[0][3] == labels[1][3] == 168.0  # from the first detection to the decision


def _uuid(short: str) -> str:
    return f"00000000-0000-0000-0000-{int(short[1:]) + (0 if short[0] == 'f' else 100):012d}"
