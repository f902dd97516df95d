"""`cloudwaste prices refresh --provider azure|gcp`: rebuild the Azure and GCP price tables (one JSON
file per group, see :mod:`cloudwaste.scanner.cloud_prices`) from the vendors' public price APIs.

Every price leaf path of a group (``("vm_hour", "Standard_D2s_v3")`` in ``azure/vms``) is priced
by the first :class:`PathMapping` of the provider's registry whose pattern matches it (``*`` is any
key). A mapping turns the path into a *recipe*: a sum of vendor price *components* times
coefficients (an Azure VM size is one component, its Linux consumption meter; a GCP machine type is
its series' vCPU-hour x vCPUs + GiB-hour x GiB). The provider module (:mod:`..._azure`,
:mod:`..._gcp`) knows which API requests price which components and reads the answers into
``{region: {component: price}}``; this module builds and writes the tables:

* the regions asked are the group's listed regions (or `regions` plus the group's base region);
* a path no mapping covers (:data:`NOT_REFRESHABLE` says why, when known) keeps its old value and is
  reported as "not refreshable"; a base-region price the API did not return keeps its old value
  and is reported too;
* a region the API priced only in part lists what it got and derives the rest from the base
  region with the median ratio of the prices both list (``derived_from``/``factor``, as the AWS
  refresher does); a region it priced not at all keeps its old entry;
* an item or SKU that cannot be read is skipped and counted, never fatal; a failed request (after
  honouring 429 Retry-After) fails its group only: that group's file is left untouched, the others
  are still written, and the report says which failed;
* a table is written only when it validates (`cloud_prices.validate_group`), atomically: a
  temporary file in the same folder, then ``os.replace``.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from importlib import resources
from typing import Any

from cloudwaste.scanner.cloud_prices import validate_group
from cloudwaste.scanner.pricing import leaf_paths

PROVIDERS = ("azure", "gcp")
METHODS = {"azure": "azure-retail-prices-api", "gcp": "gcp-cloud-billing-catalog"}
MAX_ATTEMPTS = 5  # per request, 429/503 included
MAX_RETRY_AFTER = 60.0
TIMEOUT = 60.0
_Q6 = Decimal("0.000001")
_Q4 = Decimal("0.0001")

Path = tuple[str, ...]
Component = tuple[str, ...]
Recipe = tuple[tuple[Component, Decimal], ...]


class FetchError(Exception):
    """A request failed (or the answer is unusable): the group it was for is not written."""


class MalformedItem(ValueError):
    pass


# --- the registry -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PathMapping:
    """Prices the leaf paths matching `pattern` (group first; ``*`` matches any key).

    `recipe(path)` (the path without its group) is the sum of components that prices it, or None
    when this mapping cannot price that particular key (an unknown machine family): the path is
    then not refreshable. `query` says in words which API request and item price it."""

    pattern: tuple[str, ...]
    query: str
    recipe: Callable[[Path], Recipe | None]

    def matches(self, group: str, path: Path) -> bool:
        full = (group, *path)
        return len(full) == len(self.pattern) and all(
            p in ("*", k) for p, k in zip(self.pattern, full, strict=True)
        )


@dataclass(frozen=True)
class NotRefreshable:
    """Paths known to have no vendor price item (a cap or a rule stated only on a pricing page)."""

    pattern: tuple[str, ...]
    reason: str

    def matches(self, group: str, path: Path) -> bool:
        full = (group, *path)
        return len(full) == len(self.pattern) and all(
            p in ("*", k) for p, k in zip(self.pattern, full, strict=True)
        )


def one(component: Component) -> Recipe:
    return ((component, Decimal(1)),)


def mappings_for(provider: str) -> tuple[tuple[PathMapping, ...], tuple[NotRefreshable, ...]]:
    if provider == "azure":
        from cloudwaste.scanner import cloud_price_refresh_azure as mod
    elif provider == "gcp":
        from cloudwaste.scanner import cloud_price_refresh_gcp as mod
    else:
        raise ValueError(f"no price refresher for provider {provider!r} (azure or gcp)")
    return mod.MAPPINGS, mod.NOT_REFRESHABLE


def coverage(provider: str, group: str, path: Path) -> tuple[PathMapping | None, Recipe | None, str]:
    """(mapping, recipe, why-not) for one leaf path: recipe None means not refreshable."""
    mappings, not_refreshable = mappings_for(provider)
    for known in not_refreshable:
        if known.matches(group, path):
            return None, None, known.reason
    for mapping in mappings:
        if mapping.matches(group, path):
            recipe = mapping.recipe(path)
            if recipe is None:
                return mapping, None, f"{mapping.query}: no recipe for {path[-1]!r}"
            return mapping, recipe, ""
    return None, None, "no mapping covers this path"


# --- fetching helpers shared by the providers -----------------------------------------------------


@dataclass
class FetchStats:
    calls: int = 0
    items: int = 0
    retries: int = 0
    malformed: int = 0
    malformed_reasons: dict[str, int] = field(default_factory=dict)
    conflicts: list[str] = field(default_factory=list)

    def bad(self, reason: str) -> None:
        self.malformed += 1
        self.malformed_reasons[reason] = self.malformed_reasons.get(reason, 0) + 1


_sleep = time.sleep  # tests may replace it


def get_json(session, url: str, params: Mapping[str, Any] | None, stats: FetchStats, what: str) -> Any:
    """GET `url` and decode its JSON body; 429 and 503 are retried as Retry-After asks (capped),
    anything else that is not 200 raises FetchError."""
    import requests

    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            response = session.get(url, params=params, timeout=TIMEOUT)
        except requests.RequestException as exc:
            raise FetchError(f"{what}: {exc}") from exc
        stats.calls += 1
        if response.status_code in (429, 503) and attempt < MAX_ATTEMPTS:
            stats.retries += 1
            _sleep(_retry_after(response.headers.get("Retry-After"), attempt))
            continue
        if response.status_code != 200:
            body = (response.text or "")[:200].replace("\n", " ")
            raise FetchError(f"{what}: HTTP {response.status_code} {body}".rstrip())
        try:
            return response.json()
        except ValueError as exc:
            raise FetchError(f"{what}: the answer is not JSON ({exc})") from None
    raise FetchError(f"{what}: still throttled after {MAX_ATTEMPTS} attempts")  # pragma: no cover


def _retry_after(value: str | None, attempt: int) -> float:
    try:
        seconds = float(value) if value is not None else 2.0**attempt
    except ValueError:
        seconds = 2.0**attempt  # an HTTP date: back off instead
    return max(0.0, min(seconds, MAX_RETRY_AFTER))


def price_decimal(value: Any, what: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise MalformedItem(f"{what} is not a number")
    try:
        d = Decimal(str(value))
    except ArithmeticError:
        raise MalformedItem(f"{what} is not a number") from None
    if not d.is_finite() or d < 0:
        raise MalformedItem(f"{what} is not a non-negative number")
    return d


def record(
    found: dict[str, dict[Component, tuple[str, Decimal]]],
    region: str,
    component: Component,
    price: Decimal,
    stamp: str,
    stats: FetchStats,
) -> None:
    """Keep the newest price (by `stamp`, an ISO date) of a component in a region; two different
    prices of the same date are a conflict (the first is kept)."""
    prices = found.setdefault(region, {})
    old = prices.get(component)
    if old is None or stamp > old[0]:
        prices[component] = (stamp, price)
    elif stamp == old[0] and price != old[1]:
        stats.conflicts.append(f"{region} {'/'.join(component)}: {old[1]} vs {price}")


# --- building a group's table ---------------------------------------------------------------------


@dataclass
class GroupResult:
    group: str
    written: bool = False
    error: str | None = None
    output: str | None = None
    regions: int = 0
    prices: int = 0
    stats: FetchStats = field(default_factory=FetchStats)
    not_refreshable: dict[str, str] = field(default_factory=dict)  # path -> why
    kept_base: list[str] = field(default_factory=list)  # refreshable base paths the API did not price
    derived: dict[str, tuple[Decimal, list[str]]] = field(default_factory=dict)  # region -> (factor, paths)
    kept_regions: list[str] = field(default_factory=list)  # regions the API priced nothing for


@dataclass
class Result:
    provider: str
    output_dir: str
    groups: list[GroupResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(g.written for g in self.groups)

    @property
    def failed(self) -> list[str]:
        return [g.group for g in self.groups if not g.written]

    def report(self) -> list[str]:
        lines = []
        for g in self.groups:
            s = g.stats
            head = f"{self.provider}/{g.group}: "
            if not g.written:
                lines.append(head + f"FAILED, file left untouched: {g.error}")
                continue
            read = (
                f"in {s.calls} calls ({s.retries} retried)" if s.calls else "already read for another group"
            )
            lines.append(
                head + f"wrote {g.output}: {g.regions} regions, {g.prices} prices from {s.items} items {read}"
            )
            if s.malformed:
                reasons = ", ".join(f"{r}: {n}" for r, n in sorted(s.malformed_reasons.items()))
                lines.append(head + f"skipped {s.malformed} malformed items ({reasons})")
            if s.conflicts:
                lines.append(
                    head + f"{len(s.conflicts)} conflicting prices, first kept: " + "; ".join(s.conflicts[:5])
                )
            for path, why in g.not_refreshable.items():
                lines.append(head + f"not refreshable, old value kept: {path} ({why})")
            if g.kept_base:
                lines.append(head + f"not returned by the API, old value kept: {_shown(g.kept_base)}")
            for region, (factor, paths) in sorted(g.derived.items()):
                lines.append(head + f"{region}: no {_shown(paths)}; derived from the base region x {factor}")
            if g.kept_regions:
                lines.append(
                    head + f"no prices returned for {', '.join(g.kept_regions)}: previous entries kept"
                )
        failed = self.failed
        lines.append(
            f"{self.provider}: {len(self.groups) - len(failed)} of {len(self.groups)} groups written"
            + (f"; failed: {', '.join(failed)}" if failed else "")
        )
        return lines


def _shown(paths: list[str], limit: int = 8) -> str:
    return ", ".join(paths[:limit]) + (f" and {len(paths) - limit} more" if len(paths) > limit else "")


def base_region(table: Mapping[str, Any]) -> str:
    regions = table["regions"]
    base = (table.get("unlisted_regions") or {}).get("derived_from")
    if base in regions:
        return base
    for name, entry in regions.items():
        if "derived_from" not in entry:
            return name
    raise FetchError("the table has no region that lists its prices")


def all_paths(table: Mapping[str, Any]) -> list[Path]:
    """Every leaf path any region lists, in the order they first appear."""
    seen: dict[Path, None] = {}
    for entry in table["regions"].values():
        for path in leaf_paths(entry):
            seen.setdefault(path, None)
    return list(seen)


def _get(node: Any, path: Path) -> Any:
    for key in path:
        if not isinstance(node, Mapping) or key not in node:
            return None
        node = node[key]
    return node


def _set(tree: dict, path: Path, value: Any) -> None:
    for key in path[:-1]:
        tree = tree.setdefault(key, {})
    tree[path[-1]] = value


def _price(recipe: Recipe, prices: Mapping[Component, Decimal]) -> Decimal | None:
    total = Decimal(0)
    for component, coefficient in recipe:
        if component not in prices:
            return None
        total += prices[component] * coefficient
    if len(recipe) > 1 or recipe[0][1] != 1:
        total = total.quantize(_Q6)
    return total.normalize()


def build_table(
    provider: str,
    group: str,
    old: Mapping[str, Any],
    recipes: Mapping[Path, Recipe],
    priced: Mapping[str, Mapping[Component, Decimal]],
    wanted: Sequence[str],
    *,
    now: dt.datetime,
    source: str,
    result: GroupResult,
) -> dict[str, Any]:
    """The refreshed table of one group (not yet validated)."""
    base = base_region(old)
    paths = all_paths(old)
    old_regions = old["regions"]
    values: dict[str, dict[Path, Decimal]] = {}
    for region in wanted:
        got = {p: v for p, r in recipes.items() if (v := _price(r, priced.get(region, {}))) is not None}
        if got:
            values[region] = got
    base_got = values.get(base, {})
    if not base_got:
        raise FetchError(f"the API priced nothing of this group in the base region {base}")

    regions: dict[str, Any] = {}
    # the base region: every path it lists, refreshed where the API priced it
    base_entry: dict[str, Any] = {}
    base_old = old_regions.get(base, {})
    for path in paths:
        if path in base_got:
            _set(base_entry, path, base_got[path])
        elif (value := _get(base_old, path)) is not None:
            _set(base_entry, path, value)
            if path in recipes:
                result.kept_base.append(".".join(path))
        elif path in recipes:
            result.kept_base.append(".".join(path) + " (no old value either)")
    regions[base] = base_entry

    order = [r for r in old_regions if r != base] + sorted(
        r for r in wanted if r not in old_regions and r != base
    )
    for region in order:
        got = values.get(region, {})
        old_entry = old_regions.get(region)
        if not got:
            if old_entry is not None:
                regions[region] = copy.deepcopy(old_entry)
                if region in wanted:
                    result.kept_regions.append(region)
            continue
        missing = [p for p in paths if p not in got and _get(base_entry, p) is not None]
        entry: dict[str, Any] = {}
        if missing:
            ratios = [got[p] / Decimal(str(base_got[p])) for p in got if base_got.get(p)]
            factor = (
                statistics.median(ratios).quantize(_Q4)
                if ratios
                else Decimal(str((old.get("unlisted_regions") or {}).get("factor", 1)))
            )
            entry.update(derived_from=base, factor=factor.normalize())
            derived = []
            for p in missing:
                # a path the API cannot price keeps a value the old entry listed explicitly
                if p not in recipes and old_entry is not None and (value := _get(old_entry, p)) is not None:
                    _set(entry, p, value)
                else:
                    derived.append(".".join(p))
            if derived:
                result.derived[region] = (entry["factor"], derived)
        for path in paths:
            if path in got:
                _set(entry, path, got[path])
        regions[region] = entry

    kept = sorted(set(result.not_refreshable) | {p.split(" ")[0] for p in result.kept_base})
    table = {
        "schema_version": old["schema_version"],
        "provider": provider,
        "group": group,
        "currency": "USD",
        "hours_per_month": old["hours_per_month"],
        "price_date": now.date().isoformat(),
        "method": METHODS[provider],
        "source": source
        + f" Fetched by `cloudwaste prices refresh --provider {provider}` on {now.date().isoformat()}."
        + (
            f" Kept from the previous table ({old.get('method')}, {old.get('price_date')}): {', '.join(kept)}."
            if kept
            else ""
        ),
        "unlisted_regions": copy.deepcopy(
            old.get("unlisted_regions") or {"derived_from": base, "factor": 1.15}
        ),
        "regions": regions,
    }
    result.regions = len(regions)
    result.prices = sum(len(v) for v in values.values())
    return table


# --- writing ------------------------------------------------------------------------------------------


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        value = value.normalize()
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def write_group(table: Mapping[str, Any], provider: str, group: str, folder: str | os.PathLike) -> str:
    """Validate `table` and write it to `folder`/<group>.json atomically."""
    problems = validate_group(table, provider, group)
    if problems:
        raise FetchError("the refreshed table does not validate: " + "; ".join(problems[:10]))
    folder = os.fspath(folder)
    path = os.path.join(folder, f"{group}.json")
    fd, tmp = tempfile.mkstemp(prefix=f".{group}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(table, fh, indent=2, default=_json_default)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


# --- the refresh --------------------------------------------------------------------------------------


def shipped_folder(provider: str):
    return resources.files("cloudwaste.scanner") / "data" / f"{provider}_prices"


def shipped_groups(provider: str) -> list[str]:
    return sorted(
        e.name.removesuffix(".json") for e in shipped_folder(provider).iterdir() if e.name.endswith(".json")
    )


def read_group(provider: str, group: str, output_dir: str | os.PathLike) -> dict[str, Any]:
    """The group's current table: the one in `output_dir` when there is one, else the shipped one."""
    here = os.path.join(os.fspath(output_dir), f"{group}.json")
    entry = here if os.path.exists(here) else shipped_folder(provider) / f"{group}.json"
    if not os.path.exists(here) and not entry.is_file():
        raise FetchError(f"no {provider} price group {group!r} (neither in {output_dir} nor shipped)")
    with open(here, encoding="utf-8") if os.path.exists(here) else entry.open(encoding="utf-8") as fh:
        table = json.load(fh, parse_float=Decimal)
    problems = validate_group(table, provider, group)
    if problems:
        raise FetchError("the current table does not validate: " + "; ".join(problems[:5]))
    return table


def plan_group(
    provider: str, group: str, table: Mapping[str, Any], result: GroupResult
) -> dict[Path, Recipe]:
    recipes: dict[Path, Recipe] = {}
    for path in all_paths(table):
        _, recipe, why = coverage(provider, group, path)
        if recipe is None:
            result.not_refreshable[".".join(path)] = why
        else:
            recipes[path] = recipe
    return recipes


def run(
    provider: str,
    output_dir: str | os.PathLike,
    *,
    regions: Sequence[str] | None = None,
    groups: Sequence[str] | None = None,
    endpoint_url: str | None = None,
    session=None,
    api_key: str | None = None,
    now: dt.datetime | None = None,
) -> Result:
    """Refresh each group of `provider` (all shipped groups, or `groups`) into `output_dir`
    (<group>.json; the template is the file already there, else the shipped one). A group that
    fails is reported, not raised; see :meth:`Result.report`."""
    if provider not in PROVIDERS:
        raise ValueError(f"no price refresher for provider {provider!r} (azure or gcp)")
    now = now or dt.datetime.now(dt.UTC)
    output_dir = os.fspath(output_dir)
    if not os.path.isdir(output_dir):
        raise FetchError(f"{output_dir} is not a folder")
    if provider == "azure":
        from cloudwaste.scanner.cloud_price_refresh_azure import Fetcher
    else:
        from cloudwaste.scanner.cloud_price_refresh_gcp import Fetcher
    fetcher = Fetcher(endpoint_url=endpoint_url, session=session, api_key=api_key)
    result = Result(provider=provider, output_dir=output_dir)
    for group in groups or shipped_groups(provider):
        g = GroupResult(group=group)
        result.groups.append(g)
        try:
            old = read_group(provider, group, output_dir)
            recipes = plan_group(provider, group, old, g)
            base = base_region(old)
            wanted = sorted(set(regions) | {base}) if regions else list(old["regions"])
            components = {c for recipe in recipes.values() for c, _ in recipe}
            priced, source = fetcher.fetch(components, wanted, g.stats)
            table = build_table(
                provider, group, old, recipes, priced, wanted, now=now, source=source, result=g
            )
            g.output = write_group(table, provider, group, output_dir)
            g.written = True
        except (FetchError, OSError) as exc:
            g.error = str(exc)
    return result
