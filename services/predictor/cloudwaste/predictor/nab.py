"""The Numenta Anomaly Benchmark (NAB) around the anomaly detector: read a data folder, write NAB's
results layout, and score it with NAB's profiles (no gRPC here).

The scorer follows NAB's rules as the dataset's README states them, so a CloudWaste score can be
set beside the published ones:

- the first min(floor(0.15 x rows), 750) rows of a file are probationary: detections there are ignored;
- one threshold for the whole corpus; a row with score >= threshold is a detection;
- a window earns A_TP x sigma(y) for its earliest detection (y = -1 at its left edge, 0 at its right
  edge; later detections add nothing) and costs A_FN when it has none;
- a detection outside every window costs A_FP x sigma(y), y = its distance after the end of the
  preceding window in window lengths, or the full A_FP before a file's first window;
- normalized = 100 x (S - S_null) / (S_perfect - S_null), S_perfect = A_TP x windows and
  S_null = -A_FN x windows (no detection at all).

sigma(y) = 2 / (1 + e^(5y)) - 1. A "window length" is counted in row steps (last row index - first
row index), so y is exactly -1 and 0 at a window's edges; NAB's own code differs from this by one
row, which moves nothing at the usual window lengths (over 100 rows).
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
import os
import re
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from cloudwaste.predictor.anomaly import DEFAULT, DetectorConfig, score_series

Window = tuple[dt.datetime, dt.datetime]


@dataclass(frozen=True)
class Profile:
    """NAB's weights: what a true positive earns and what a false positive and a miss cost."""

    a_tp: float
    a_fp: float
    a_fn: float


PROFILES: dict[str, Profile] = {
    "standard": Profile(a_tp=1.0, a_fp=0.11, a_fn=1.0),
    "reward_low_FP_rate": Profile(a_tp=1.0, a_fp=0.22, a_fn=1.0),
    "reward_low_FN_rate": Profile(a_tp=1.0, a_fp=0.11, a_fn=2.0),
}
HEADER = ("timestamp", "value")
RESULT_HEADER = ("timestamp", "value", "anomaly_score", "label")
class DataError(ValueError):
    """A data or labels file NAB cannot use; the message names the file (and line)."""


@dataclass(frozen=True)
class Series:
    """One data file: its category, file name, timestamps (as written and parsed) and values."""

    category: str
    name: str
    stamps: tuple[str, ...]
    times: np.ndarray  # datetime64[us], naive UTC
    values: np.ndarray  # float64; NaN where a value is missing


@dataclass(frozen=True)
class FileResult:
    """A detector's scores for one file (what NAB's results CSV holds, minus the text)."""

    category: str
    name: str
    times: np.ndarray
    scores: np.ndarray


# --- reading -------------------------------------------------------------------------------------


def discover(data_dir: Path) -> list[tuple[str, Path]]:
    """(category, csv) pairs, sorted: CSVs directly in `data_dir` are in the category named after
    the folder; each sub-folder of CSVs (NAB's `data/` layout) is a category of its own."""
    data_dir = Path(data_dir)
    found = [(data_dir.resolve().name, p) for p in data_dir.glob("*.csv") if p.is_file()]
    for sub in data_dir.iterdir():
        if sub.is_dir():
            found += [(sub.name, p) for p in sub.glob("*.csv") if p.is_file()]
    return sorted(found, key=lambda cp: (cp[0], cp[1].name))


def _naive_utc(t: dt.datetime) -> dt.datetime:
    return t.astimezone(dt.UTC).replace(tzinfo=None) if t.tzinfo else t


def parse_time(text: str) -> dt.datetime:
    """NAB's timestamps ("2014-02-14 14:30:00", with or without fractions or a zone) as naive UTC."""
    return _naive_utc(dt.datetime.fromisoformat(text.strip()))


def read_series(category: str, path: Path) -> Series:
    """One `timestamp,value` CSV. A bad header, time or number raises DataError naming the file
    and line; an empty value or "nan" is a missing point (the detector skips it)."""
    stamps, times, values = [], [], []
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = csv.reader(f)
            header = next(rows, None)
            if header is None or tuple(h.strip() for h in header[:2]) != HEADER:
                raise DataError(f"{path}:1: expected the header 'timestamp,value', got {header!r}")
            for row in rows:
                line = rows.line_num
                if not row:
                    continue
                if len(row) < 2:
                    raise DataError(f"{path}:{line}: expected 'timestamp,value', got {row!r}")
                try:
                    t = parse_time(row[0])
                except ValueError:
                    raise DataError(f"{path}:{line}: bad timestamp {row[0]!r}") from None
                try:
                    v = float(row[1]) if row[1].strip() else math.nan
                except ValueError:
                    raise DataError(f"{path}:{line}: bad number {row[1]!r}") from None
                stamps.append(row[0])
                times.append(t)
                values.append(v)
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise DataError(f"{path}: cannot read: {e}") from None
    return Series(
        category,
        path.name,
        tuple(stamps),
        np.array(times, dtype="datetime64[us]"),
        np.array(values, dtype=np.float64),
    )


def load_windows(path: Path) -> dict[str, list[Window]]:
    """The labeled windows by file. Keys may be a bare file name (the shared dataset's
    anomaly_windows.json) or NAB's "category/file.csv"; both are kept as given (see `_windows_for`)."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise DataError(f"{path}: cannot read the windows: {e}") from None
    if not isinstance(raw, dict):
        raise DataError(f"{path}: expected an object of file -> [[start, end], ...]")
    out: dict[str, list[Window]] = {}
    for key, pairs in raw.items():
        try:
            out[str(key)] = [(parse_time(a), parse_time(b)) for a, b in pairs]
        except (TypeError, ValueError):
            raise DataError(f"{path}: bad windows for {key!r}: expected [[start, end], ...]") from None
    return out


def _windows_for(windows: Mapping[str, list[Window]], category: str, name: str) -> list[Window]:
    return list(windows.get(f"{category}/{name}", windows.get(name, [])))


# --- writing -------------------------------------------------------------------------------------


def check_name(name: str) -> str:
    """NAB's detector names are letters and digits only (they become folder and file names)."""
    if not re.fullmatch(r"[A-Za-z0-9]+", name or ""):
        raise DataError(f"bad detector name {name!r}: use letters and digits only")
    return name


def write_results(results_dir: Path, name: str, series: Series, scores: np.ndarray) -> Path:
    """RESULTS_DIR/NAME/<category>/NAME_<file>.csv, written to a temp file beside it and renamed,
    so a reader never sees half a file."""
    check_name(name)
    if len(scores) != len(series.stamps):
        raise ValueError(f"{series.name}: {len(scores)} scores for {len(series.stamps)} rows")
    folder = Path(results_dir) / name / series.category
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{name}_{series.name}"
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(RESULT_HEADER)
            for stamp, value, s in zip(series.stamps, series.values, scores, strict=True):
                w.writerow((stamp, repr(float(value)), repr(float(s)), 0))
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


# --- scoring -------------------------------------------------------------------------------------


def sigma(y: np.ndarray | float) -> np.ndarray:
    """NAB's scaled sigmoid: 1 well before a window's end, 0 at it, -1 well after."""
    return 2.0 / (1.0 + np.exp(5.0 * np.clip(np.asarray(y, dtype=np.float64), -50.0, 50.0))) - 1.0


def probationary_rows(rows: int) -> int:
    return min(math.floor(0.15 * rows), 750)


@dataclass(frozen=True)
class _Layout:
    """What a detection at each scored row of one file is worth, independent of the threshold:
    `window` is the window's index (-1 outside every window) and `value` the unweighted sigma
    (for a true positive) or the unweighted FP cost (-1..0) outside windows."""

    rows: np.ndarray  # indexes of the scored (post-probation) rows
    window: np.ndarray
    value: np.ndarray
    n_windows: int


def _layout(times: np.ndarray, windows: Sequence[Window]) -> _Layout:
    n = len(times)
    idx = np.arange(n)
    window = np.full(n, -1, dtype=np.int64)
    value = np.full(n, -1.0)  # before the first window: the full FP cost
    spans = []
    for start, end in sorted(windows):
        inside = np.flatnonzero((times >= np.datetime64(start, "us")) & (times <= np.datetime64(end, "us")))
        if inside.size:  # a window without rows cannot be detected nor missed: NAB drops it
            spans.append((int(inside[0]), int(inside[-1])))
    for k, (a, b) in enumerate(spans):
        length = max(b - a, 1)
        window[a : b + 1] = k
        value[a : b + 1] = sigma((idx[a : b + 1] - b) / length)
        after_end = spans[k + 1][0] if k + 1 < len(spans) else n
        value[b + 1 : after_end] = sigma((idx[b + 1 : after_end] - b) / length)
    scored = idx[probationary_rows(n) :]
    return _Layout(scored, window[scored], value[scored], len(spans))


def _file_counts(result: FileResult, lay: _Layout, detected: np.ndarray, p: Profile) -> dict:
    """Per-file TP/FN/FP, the earliest detection of each detected window, and the raw score."""
    det_rows, det_win, det_val = lay.rows[detected], lay.window[detected], lay.value[detected]
    tps, raw = [], 0.0
    for k in range(lay.n_windows):
        hits = np.flatnonzero(det_win == k)
        if hits.size:
            first = hits[0]  # rows are in time order
            raw += p.a_tp * det_val[first]
            tps.append(str(result.times[det_rows[first]].astype("datetime64[s]")).replace("T", " "))
        else:
            raw -= p.a_fn
    fp = det_win == -1
    raw += p.a_fp * float(det_val[fp].sum())
    return {
        "category": result.category,
        "file": result.name,
        "windows": lay.n_windows,
        "tp": len(tps),
        "fn": lay.n_windows - len(tps),
        "fp": int(fp.sum()),
        "detections": tps,
        "raw": raw,
    }


def _oracle(results: Sequence[FileResult], layouts: Sequence[_Layout], p: Profile) -> float:
    """The threshold maximizing the raw score (NAB's sweep over every distinct score): lowering
    the threshold adds rows in descending score order, and a window's worth is the best (earliest)
    sigma of its detected rows, so the total is updated row by row."""
    scores, win, val = [], [], []
    offset = 0
    for r, lay in zip(results, layouts, strict=True):
        scores.append(r.scores[lay.rows])
        win.append(np.where(lay.window >= 0, lay.window + offset, -1))
        val.append(lay.value)
        offset += lay.n_windows
    s, w, v = (np.concatenate(a) if a else np.empty(0) for a in (scores, win, val))
    s = np.nan_to_num(s, nan=-np.inf)
    order = np.argsort(-s, kind="stable")
    s, w, v = s[order], w[order].astype(np.int64), v[order]
    best = np.full(offset, -p.a_fn)
    total = -p.a_fn * offset
    best_total, best_threshold = total, math.inf  # no detection at all
    for i in range(len(s)):
        if w[i] < 0:
            total += p.a_fp * v[i]
        elif p.a_tp * v[i] > best[w[i]]:
            total += p.a_tp * v[i] - best[w[i]]
            best[w[i]] = p.a_tp * v[i]
        last_of_tie = i + 1 == len(s) or s[i + 1] < s[i]
        if last_of_tie and total > best_total + 1e-12 and np.isfinite(s[i]):
            best_total, best_threshold = total, float(s[i])
    return best_threshold


def score(
    results: Sequence[FileResult],
    windows: Mapping[str, list[Window]],
    profile: str = "standard",
    threshold: float | None = None,
) -> dict:
    """NAB's score of `results` under `profile`, at `threshold` or, when None, at the threshold
    NAB's oracle sweep picks. The report holds the normalized and raw scores, the threshold, the
    totals and, per file, its windows, TP (with each window's earliest detection), FN and FP."""
    p = PROFILES[profile]
    layouts = [_layout(r.times, _windows_for(windows, r.category, r.name)) for r in results]
    if threshold is None:
        threshold = _oracle(results, layouts, p)
    files = [
        _file_counts(r, lay, np.nan_to_num(r.scores[lay.rows], nan=-np.inf) >= threshold, p)
        for r, lay in zip(results, layouts, strict=True)
    ]
    n_windows = sum(f["windows"] for f in files)
    raw = sum(f["raw"] for f in files)
    perfect, null = p.a_tp * n_windows, -p.a_fn * n_windows
    normalized = 100.0 * (raw - null) / (perfect - null) if n_windows else 0.0
    return {
        "profile": profile,
        "threshold": threshold if math.isfinite(threshold) else None,
        "normalized": normalized,
        "raw": raw,
        "windows": n_windows,
        "tp": sum(f["tp"] for f in files),
        "fn": sum(f["fn"] for f in files),
        "fp": sum(f["fp"] for f in files),
        "files": files,
    }


# --- the whole evaluation ------------------------------------------------------------------------


def evaluate(
    data_dir: Path,
    out_dir: Path,
    name: str = "cloudwaste",
    windows: Path | None = None,
    config: DetectorConfig = DEFAULT,
) -> dict:
    """Scores every CSV of `data_dir` with `config` (one configuration for every file), writes NAB's
    results layout under `out_dir`, and scores it with every profile at the oracle threshold and at
    the fixed one (`config.threshold`). A file that cannot be read is skipped and reported; the
    others still count. Without windows (no --windows) only the results are written: the labels
    are read only when asked for, and only to score."""
    check_name(name)
    data_dir, out_dir = Path(data_dir), Path(out_dir)
    if not data_dir.is_dir():
        raise DataError(f"{data_dir}: no such folder")
    found = discover(data_dir)
    if not found:
        raise DataError(f"{data_dir}: no CSV files")
    labels = load_windows(windows) if windows is not None else None
    results, skipped = [], []
    for category, path in found:
        try:
            series = read_series(category, path)
        except DataError as e:
            skipped.append(str(e))
            continue
        scores = score_series(series.values, config)
        write_results(out_dir, name, series, scores)
        results.append(FileResult(category, series.name, series.times, scores))
    report: dict = {
        "name": name,
        "data_dir": str(data_dir),
        "results_dir": str(out_dir / name),
        "files": len(results),
        "rows": int(sum(len(r.scores) for r in results)),
        "skipped": skipped,
        "windows_file": str(windows) if windows is not None else None,
        "config": asdict(config),
        "fixed_threshold": config.threshold,
        "profiles": {},
    }
    if labels is not None:
        for profile in PROFILES:
            report["profiles"][profile] = {
                "oracle": score(results, labels, profile),
                "fixed": score(results, labels, profile, config.threshold),
            }
    return report


def format_report(report: dict) -> str:
    """The text the CLI prints: each profile's score at the oracle and the fixed threshold, then
    the standard profile's detections per file."""

    def th(t: float | None) -> str:
        return "none (no detection)" if t is None else f"{t:.6g}"

    out = [
        f"NAB evaluation of {report['files']} file(s), {report['rows']:,} rows -> {report['results_dir']}",
    ]
    out += [f"warning: skipped {msg}" for msg in report["skipped"]]
    if not report["profiles"]:
        out.append("no anomaly windows found: results written, nothing scored")
        return "\n".join(out)
    out.append(f"{'profile':<20} {'threshold':<22} {'score':>7} {'raw':>8} {'TP':>4} {'FN':>4} {'FP':>5}")
    for profile, by_kind in report["profiles"].items():
        for kind in ("oracle", "fixed"):
            r = by_kind[kind]
            out.append(
                f"{profile:<20} {kind + ' ' + th(r['threshold']):<22} {r['normalized']:7.1f} "
                f"{r['raw']:8.2f} {r['tp']:4d} {r['fn']:4d} {r['fp']:5d}"
            )
    for kind in ("oracle", "fixed"):
        r = report["profiles"]["standard"][kind]
        out.append(f"\nstandard profile, {kind} threshold {th(r['threshold'])}: detections per file")
        for f in r["files"]:
            hits = ", ".join(f["detections"]) or "-"
            out.append(
                f"  {f['category']}/{f['file']}: windows {f['windows']} TP {f['tp']} FN {f['fn']} "
                f"FP {f['fp']}  raw {f['raw']:+.3f}  first detections: {hits}"
            )
    return "\n".join(out)


def run_cli(data_dir: str, out: str, name: str, windows: str | None) -> int:
    """`cloudwaste anomaly evaluate DATA_DIR --out RESULTS_DIR [--name NAME] [--windows FILE]`:
    prints the report; 2 with a one-line message on bad input (or when no file could be read)."""
    try:
        report = evaluate(Path(data_dir), Path(out), name, Path(windows) if windows else None)
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(format_report(report))
    if not report["files"]:
        print("error: no data file could be read", file=sys.stderr)
        return 2
    return 0
