"""Alembic environment: the URL comes from CLOUDWASTE_DATABASE_URL or the caller's config."""

from __future__ import annotations

import os

from alembic import context
from cloudwaste.core.models import Base
from sqlalchemy import create_engine

config = context.config
url = config.get_main_option("sqlalchemy.url") or os.environ.get("CLOUDWASTE_DATABASE_URL")
if not url:
    raise SystemExit("CLOUDWASTE_DATABASE_URL is required to migrate")

engine = create_engine(url)
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
