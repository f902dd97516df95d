"""NAB around the detector: reading a data folder, the results layout, and the scorer on tiny
hand-computed cases."""

from __future__ import annotations

import datetime as dt
import json
import math

import numpy as np
import pytest
from cloudwaste.predictor import nab

T0 = dt.datetime(2024, 1, 1)
ROWS = 1000  # probationary rows: 150
WINDOW = (500, 600)  # row indexes of the one window (100 row steps long)


def times(n: int = ROWS) -> np.ndarray:
    return np.array([T0 + dt.timedelta(minutes=5 * i) for i in range(n)], dtype="datetime64[us]")


def at(i: int) -> dt.datetime:
    return T0 + dt.timedelta(minutes=5 * i)


WINDOWS = {"f.csv": [(at(WINDOW[0]), at(WINDOW[1]))]}


def result(detections: dict[int, float]) -> nab.FileResult:
    scores = np.zeros(ROWS)
    for i, s in detections.items():
        scores[i] = s
    return nab.FileResult("cat", "f.csv", times(), scores)


def raw(detections: dict[int, float], threshold: float | None = 0.5, profile: str = "standard") -> float:
    return nab.score([result(detections)], WINDOWS, profile, threshold)["raw"]


def sigma(y: float) -> float:
    return 2 / (1 + math.exp(5 * y)) - 1


def test_a_detection_at_the_left_edge_earns_almost_one():
    assert raw({500: 1.0}) == pytest.approx(sigma(-1), abs=1e-12)
    assert sigma(-1) == pytest.approx(0.9866, abs=1e-4)


def test_a_detection_at_the_center_and_at_the_right_edge():
    assert raw({550: 1.0}) == pytest.approx(sigma(-0.5))
    assert raw({600: 1.0}) == pytest.approx(0.0, abs=1e-12)


def test_a_missed_window_costs_one():
    assert raw({}) == -1.0
    assert raw({}, profile="reward_low_FN_rate") == -2.0


def test_false_positives_cost_by_distance_after_the_window():
    far = raw({500: 1.0, 950: 1.0}) - sigma(-1)  # 3.5 window lengths after: the full cost
    assert far == pytest.approx(-0.11, abs=1e-4)
    near = raw({500: 1.0, 601: 1.0}) - sigma(-1)  # one row after: almost free
    assert near == pytest.approx(0.11 * sigma(0.01), abs=1e-12) and abs(near) < 0.003
    before = raw({500: 1.0, 300: 1.0}) - sigma(-1)  # before the first window: the full cost
    assert before == pytest.approx(-0.11, abs=1e-12)
    assert raw({500: 1.0, 950: 1.0}, profile="reward_low_FP_rate") - sigma(-1) == pytest.approx(
        -0.22, abs=1e-4
    )


def test_only_the_earliest_detection_of_a_window_counts():
    assert raw({520: 1.0, 530: 1.0, 590: 1.0}) == pytest.approx(sigma(-0.8))
    report = nab.score([result({520: 1.0, 530: 1.0})], WINDOWS)
    assert report["files"][0]["detections"] == [str(at(520))]
    assert (report["tp"], report["fn"], report["fp"]) == (1, 0, 0)


def test_detections_in_the_probationary_period_are_ignored():
    assert nab.probationary_rows(ROWS) == 150 and nab.probationary_rows(10_000) == 750
    assert raw({10: 1.0, 149: 1.0}) == -1.0
    assert raw({150: 1.0}) == pytest.approx(-1.11)


def test_normalized_score_and_the_oracle_threshold():
    detections = {520: 0.9, 950: 0.6, 960: 0.6}  # a TP at 0.9, two far FPs at 0.6
    fixed = nab.score([result(detections)], WINDOWS, threshold=0.5)
    oracle = nab.score([result(detections)], WINDOWS)
    assert oracle["threshold"] == 0.9 and oracle["raw"] == pytest.approx(sigma(-0.8))
    assert oracle["raw"] > fixed["raw"] and fixed["fp"] == 2
    assert oracle["normalized"] == pytest.approx(100 * (sigma(-0.8) + 1) / 2)
    none = nab.score([result({950: 0.6})], WINDOWS)  # only an FP: no detection is best
    assert none["threshold"] is None and none["normalized"] == 0.0


def write_csv(path, rows):
    path.write_text("timestamp,value\n" + "".join(f"{at(i)},{v}\n" for i, v in enumerate(rows)))


def test_discover_flat_and_category_folders(tmp_path):
    write_csv(tmp_path / "b.csv", [1, 2])
    write_csv(tmp_path / "a.csv", [1, 2])
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "realX").mkdir()
    write_csv(tmp_path / "realX" / "c.csv", [1])
    found = [(c, p.name) for c, p in nab.discover(tmp_path)]
    assert found == [("realX", "c.csv"), (tmp_path.name, "a.csv"), (tmp_path.name, "b.csv")]


def test_bad_csvs_name_the_file_and_line(tmp_path):
    (tmp_path / "h.csv").write_text("time,val\n2024-01-01 00:00:00,1\n")
    with pytest.raises(nab.DataError, match=r"h\.csv:1: expected the header"):
        nab.read_series("c", tmp_path / "h.csv")
    (tmp_path / "n.csv").write_text("timestamp,value\n2024-01-01 00:00:00,1\n2024-01-01 00:05:00,abc\n")
    with pytest.raises(nab.DataError, match=r"n\.csv:3: bad number 'abc'"):
        nab.read_series("c", tmp_path / "n.csv")


def test_load_windows_accepts_both_key_forms(tmp_path):
    pairs = [["2024-01-01 00:00:00.000000", "2024-01-01 01:00:00.000000"]]
    (tmp_path / "w.json").write_text(json.dumps({"f.csv": pairs, "cat/g.csv": pairs}))
    w = nab.load_windows(tmp_path / "w.json")
    assert nab._windows_for(w, "any", "f.csv") == nab._windows_for(w, "cat", "g.csv") == [(at(0), at(12))]
    assert nab._windows_for(w, "other", "g.csv") == []


def test_evaluate_writes_nab_layout_and_skips_bad_files(tmp_path):
    data, out = tmp_path / "realX", tmp_path / "results"
    data.mkdir()
    rng = np.random.default_rng(0)
    values = 10 + rng.normal(0, 1, ROWS)
    values[550] = 100
    write_csv(data / "f.csv", values)
    (data / "bad.csv").write_text("timestamp,value\n2024-01-01 00:00:00,oops\n")
    windows = tmp_path / "w.json"
    windows.write_text(json.dumps({"f.csv": [[str(at(500)), str(at(600))]]}))
    report = nab.evaluate(data, out, "cw1", windows)
    assert report["files"] == 1 and "bad.csv:2" in report["skipped"][0]
    written = out / "cw1" / "realX" / "cw1_f.csv"
    lines = written.read_text().splitlines()
    assert lines[0] == "timestamp,value,anomaly_score,label" and len(lines) == ROWS + 1
    assert all(line.endswith(",0") for line in lines[1:])
    assert [p.name for p in written.parent.iterdir()] == ["cw1_f.csv"]  # no temp file left
    standard = report["profiles"]["standard"]
    assert standard["oracle"]["tp"] == 1 and standard["oracle"]["normalized"] > 90
    assert standard["fixed"]["threshold"] == 0.5
    json.dumps(report)
    text = nab.format_report(report)
    assert "standard" in text and "realX/f.csv" in text and "skipped" in text


def test_run_cli_exit_codes(tmp_path, capsys):
    assert nab.run_cli(str(tmp_path / "missing"), str(tmp_path / "o"), "cw", None) == 2
    assert nab.run_cli(str(tmp_path), str(tmp_path / "o"), "cw", None) == 2  # no CSVs
    write_csv(tmp_path / "f.csv", [1.0] * 50)
    assert nab.run_cli(str(tmp_path), str(tmp_path / "o"), "bad-name", None) == 2
    err = capsys.readouterr().err
    assert "no such folder" in err and "no CSV files" in err and "letters and digits" in err
    assert nab.run_cli(str(tmp_path), str(tmp_path / "o"), "cw", None) == 0
    assert "nothing scored" in capsys.readouterr().out
