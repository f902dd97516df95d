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
