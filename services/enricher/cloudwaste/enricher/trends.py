"""Cost trends per account (keyed hash) and month, from the ML rows alone: the series the forecast
model and the dashboard read.

- `waste_detected`: the $/month of every finding of the account's last complete scan of the month
  (each dollar once: a parent finding's own cost excludes its parts'). A scan that ended
  PARTIALLY_SUCCEEDED does not set it (a region it missed would read as waste gone), and a scan
  enriched late never replaces a later one's level (`as_of`).
- `waste_eliminated`: the $/month of the findings the account's users marked deleted in the month,
  each resource once, at the cost it had when last detected. Recomputed in full each time, so a
  decision changed back is taken out again.
- `real_spend`: the account's spend in the month as its bill says (month to date for the current
  one), from the scan's hand-off (AWS Cost Explorer GetCostAndUsage, Azure Cost Management); null
  where the bill could not be read: a zero would read as "spent nothing".

Runs inside the enrichment's transaction: the trends and the enriched rows land together.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping

from cloudwaste.core.models import CostTrendData, EnrichmentInput, MlTrainingData
from sqlalchemy import Date, and_, cast, func, literal_column, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session


def _month(column):
    # a literal unit: a bound one differs between SELECT and GROUP BY, which PostgreSQL refuses
    return cast(func.date_trunc(literal_column("'month'"), column), Date)


def update_for_scan(
    s: Session, scan_run_id: uuid.UUID, complete: bool, spend: Mapping[dt.date, float] | None = None
) -> int:
    """Updates the trends of the accounts the scan run's ML rows belong to, with `spend` (the
    account's spend per month, from the hand-off); returns how many (account, month) rows were
    written."""
    rows = s.execute(
        select(
            MlTrainingData.account_hash,
            MlTrainingData.tenant_hash,
            func.sum(MlTrainingData.cost_monthly),
            func.max(MlTrainingData.detected_at),
        )
        .join(
            EnrichmentInput,
            and_(
                EnrichmentInput.ml_row_id == MlTrainingData.id,
                EnrichmentInput.ml_row_detected_at == MlTrainingData.detected_at,
            ),
        )
        .where(EnrichmentInput.scan_run_id == scan_run_id)
        .group_by(MlTrainingData.account_hash, MlTrainingData.tenant_hash)
    ).all()
    written = 0
    for account_hash, tenant_hash, detected, as_of in rows:
        if complete:
            insert = pg_insert(CostTrendData).values(
                account_hash=account_hash,
                month=as_of.date().replace(day=1),
                tenant_hash=tenant_hash,
                waste_detected=round(float(detected or 0), 4),
                as_of=as_of,
            )
            s.execute(
                insert.on_conflict_do_update(
                    index_elements=[CostTrendData.account_hash, CostTrendData.month],
                    set_={
                        "waste_detected": insert.excluded.waste_detected,
                        "as_of": insert.excluded.as_of,
                        "tenant_hash": insert.excluded.tenant_hash,
                    },
                    where=CostTrendData.as_of.is_(None) | (CostTrendData.as_of <= insert.excluded.as_of),
                )
            )
            written += 1
        written += _eliminated(s, account_hash, tenant_hash)
        for month, amount in (spend or {}).items():
            _set(s, account_hash, tenant_hash, month, "real_spend", amount)
            written += 1
    return written


def _set(s: Session, account_hash: str, tenant_hash: str, month, column: str, value: float) -> None:
    """One column of an (account, month) trend row, the row created when missing."""
    insert = pg_insert(CostTrendData).values(
        account_hash=account_hash, month=month, tenant_hash=tenant_hash, **{column: round(float(value), 4)}
    )
    s.execute(
        insert.on_conflict_do_update(
            index_elements=[CostTrendData.account_hash, CostTrendData.month],
            set_={column: insert.excluded[column]},
        )
    )


def _eliminated(s: Session, account_hash: str, tenant_hash: str) -> int:
    """Recomputes waste_eliminated for every month of the account."""
    latest = (
        select(MlTrainingData.labeled_at, MlTrainingData.cost_monthly)
        .where(
            MlTrainingData.tenant_hash == tenant_hash,  # indexed: narrows to the tenant's rows
            MlTrainingData.account_hash == account_hash,
            MlTrainingData.user_action == "deleted",
        )
        .distinct(MlTrainingData.resource_hash, MlTrainingData.detection_scenario)
        .order_by(MlTrainingData.resource_hash, MlTrainingData.detection_scenario, MlTrainingData.detected_at.desc())
        .subquery()
    )
    by_month = dict(
        s.execute(
            select(_month(latest.c.labeled_at), func.sum(latest.c.cost_monthly)).group_by(_month(latest.c.labeled_at))
        ).all()
    )
    # months with a trend row and nothing eliminated (any more) are 0: known, not unknown
    stale = update(CostTrendData).where(CostTrendData.account_hash == account_hash)
    if by_month:
        stale = stale.where(CostTrendData.month.not_in(list(by_month)))
    s.execute(stale.values(waste_eliminated=0.0))
    for month, total in by_month.items():
        _set(s, account_hash, tenant_hash, month, "waste_eliminated", total)
    return len(by_month)
