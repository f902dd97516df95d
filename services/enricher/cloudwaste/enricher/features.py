"""Enrichment features computed from a finding's raw data. Pure functions, no I/O."""

from __future__ import annotations

import datetime as dt

from cloudwaste.core.privacy import anonymize_tags

__all__ = ["anonymize_tags", "temporal_features"]


def temporal_features(created: dt.datetime | None) -> dict[str, object] | None:
    """When the resource was created, coarsened to calendar features (UTC)."""
    if created is None:
        return None
    c = created.replace(tzinfo=dt.UTC) if created.tzinfo is None else created.astimezone(dt.UTC)
    weekend = c.weekday() >= 5
    return {
        "created_hour_of_day": c.hour,
        "created_day_of_week": c.weekday(),  # Monday = 0
        "created_day_of_month": c.day,
        "created_on_weekend": weekend,
        "created_in_business_hours": (not weekend) and 9 <= c.hour < 18,
    }
