"""Region-aware AWS prices, read from data/aws_prices.json (data, not constants in code)."""

from __future__ import annotations

import json
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from importlib import resources
from typing import Any


@cache
def _table() -> dict[str, Any]:
    with (resources.files("cloudwaste.scanner") / "data" / "aws_prices.json").open() as fh:
        return json.load(fh, parse_float=Decimal)


def _d(x: Any) -> Decimal:
    return x if isinstance(x, Decimal) else Decimal(str(x))


def money(x: Decimal) -> Decimal:
    return x.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)


class AwsPrices:
    """Monthly prices for one region."""

    def __init__(self, region: str) -> None:
        t = _table()
        self.region = region
        self.currency: str = t["currency"]
        self.multiplier = _d(t["region_multipliers"].get(region, t["default_region_multiplier"]))
        self.hours = _d(t["hours_per_month"])
        self.base = t["base"]

    def _m(self, x: Any) -> Decimal:
        return money(_d(x) * self.multiplier)

    def ebs_volume(self, volume_type: str, size_gb: int, iops: int | None = None) -> Decimal:
        per_gb = self.base["ebs_gb_month"].get(volume_type, self.base["ebs_gb_month"]["gp2"])
        cost = _d(per_gb) * size_gb
        iops_price = self.base["ebs_iops_month"].get(volume_type)
        if iops and iops_price is not None:
            billable = iops - (self.base["ebs_gp3_free_iops"] if volume_type == "gp3" else 0)
            cost += _d(iops_price) * max(billable, 0)
        return self._m(cost)

    def ebs_snapshot(self, size_gb: int) -> Decimal:
        return self._m(_d(self.base["ebs_snapshot_gb_month"]) * size_gb)

    def idle_elastic_ip(self) -> Decimal:
        return self._m(_d(self.base["eip_idle_hour"]) * self.hours)

    def nat_gateway(self) -> Decimal:
        return self._m(_d(self.base["nat_gateway_hour"]) * self.hours)

    def load_balancer(self, lb_type: str) -> Decimal:
        hourly = self.base["load_balancer_hour"].get(lb_type, self.base["load_balancer_hour"]["application"])
        return self._m(_d(hourly) * self.hours)
