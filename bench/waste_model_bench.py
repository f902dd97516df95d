#!/usr/bin/env python
"""The waste model against the oracle: the true probability of each simulated decision.

Usage:  python bench/waste_model_bench.py [--resources 5000] [--weeks 10] [--seeds 3] [--json PATH]

Per seed: a simulated decision history (`cloudwaste.sim.history.simulate`: `--resources`
resources over `--weeks` weekly scans, findings built by the rules, ML rows by the scanner's
`base_row` and the enricher's functions, decisions drawn by the simulated user), written as weekly
incremental exports (EXPORT_SCHEMA); the product trainer (`train_waste_model`) on those files;
then, on the trainer's held-out examples:
  model        the served ONNX graph it returns (`WasteModel.predict`)
  oracle       the true p(deleted) of each decision (DecisionModel's score at the decision)
  visible      the oracle from what a first ML row can carry (the free-text notes tag averaged
               out, the age at first detection instead of at the decision)
  rule-only    the trainer's baseline (the rule's confidence level's deletion rate)
and every candidate the trainer compared, as it reports them (with and without implicit labels:
what the implicit source adds). Targets, on the mean over seeds: model ROC-AUC >= 95% of the
oracle's; model Brier <= 110% of the oracle's (lower is better).

Exit status: 0 when every target passes, 1 when one fails, 2 when the bench could not run.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from _harness import Target, finish, log, run_in_tempdir  # bench/ is on sys.path when run as a script

AUC_SHARE = 0.95  # model ROC-AUC >= this x the oracle's
BRIER_OVER = 1.10  # model Brier <= this x the oracle's


def scores(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import brier_score_loss, roc_auc_score

    return {"roc_auc": float(roc_auc_score(y, p)), "brier": float(brier_score_loss(y, p))}


def one_seed(args: argparse.Namespace, seed: int, tmp: Path) -> dict:
    from cloudwaste.predictor.kinds import waste
    from cloudwaste.sim.history import simulate, write_export

    t0 = time.perf_counter()
    history = simulate(args.resources, args.weeks, seed)
    paths = write_export(history, tmp / f"seed-{seed}")
    t_sim = time.perf_counter() - t0

    t0 = time.perf_counter()
    trained = waste.train_waste_model(paths)
    t_train = time.perf_counter() - t0
    test = waste.held_out(paths)  # the trainer's held-out examples, with the findings they are
    test_rows, test_keys, y = test.rows, list(test.keys), test.labels
    split = "waste.held_out"
    p_model = np.array(waste.WasteModel.from_bytes(trained.onnx, "bench").predict(test_rows))
    visible = history.visible_oracle()
    without_notes = history.visible_oracle(first_row=False)
    sources = [f.label_source for f in history.findings if f.label_source]
    return {
        "seed": seed,
        "split": split,
        "explicit_examples": trained.training_rows + trained.test_rows,
        "implicit_labels": sources.count("implicit"),
        "implicit_share": sources.count("implicit") / len(sources),
        "training_rows": trained.training_rows,
        "test_rows": trained.test_rows,
        "test_examples": len(y),
        "positive_rate_test": float(y.mean()),
        "algorithm": getattr(trained, "algorithm", ""),
        "model": scores(y, p_model),
        "trainer_metrics": dict(trained.metrics),
        "oracle": scores(y, np.array([history.oracle[k] for k in test_keys])),
        "oracle_without_notes": scores(y, np.array([without_notes[k] for k in test_keys])),
        "oracle_visible": scores(y, np.array([visible[k] for k in test_keys])),
        "rule_only": {k: trained.baseline_metrics[k] for k in ("roc_auc", "brier")},
        "candidates": [_candidate(c) for c in getattr(trained, "candidates", None) or []],
        "simulate_s": t_sim,
        "train_s": t_train,
    }


def _candidate(c) -> dict:
    """A candidate as the trainer reports it (a dict, or an object with attributes), flattened."""
    c = c if isinstance(c, dict) else vars(c)
    m = c.get("metrics", {})
    return {
        "name": str(c.get("name", "?")),
        "chosen": bool(c.get("chosen")),
        **{k: float(m[k]) for k in ("roc_auc", "brier") if k in m},
    }


def run(args: argparse.Namespace, tmp: Path) -> dict:
    out = []
    for seed in range(args.seeds):
        out.append(one_seed(args, seed, tmp))
        r = out[-1]
        log(
            f"seed {seed}: simulated + exported in {r['simulate_s']:.1f} s, trained in {r['train_s']:.1f} s; "
            f"model roc_auc {r['model']['roc_auc']:.3f} (oracle {r['oracle']['roc_auc']:.3f})"
        )
    return {"resources": args.resources, "weeks": args.weeks, "seeds": out}


def _mean(runs: list[dict], part: str, metric: str) -> float:
    return float(np.mean([r[part][metric] for r in runs]))


def _delta(runs: list[dict], without: str, with_: str, metric: str) -> float:
    by = [{c["name"]: c.get(metric, np.nan) for c in r["candidates"]} for r in runs]
    return float(np.mean([c[with_] - c[without] for c in by]))


def report(result: dict) -> list[Target]:
    runs = result["seeds"]
    print(
        f"\n{result['resources']:,} resources x {result['weeks']} weekly scans; held out: {runs[0]['split']}"
    )
    parts = ("model", "oracle", "oracle_without_notes", "oracle_visible", "rule_only")
    head = f"{'seed':>5}{'explicit':>9}{'implicit':>9}{'train':>7}{'test':>6}{'pos':>6}"
    print("\nROC-AUC / Brier on the same held-out examples")
    print(head + "".join(f"{p:>22}" for p in parts))
    for r in [*runs, None]:
        cells = (
            f"{r['seed']:>5}{r['explicit_examples']:>9}{r['implicit_share']:>9.1%}{r['training_rows']:>7}"
            f"{r['test_examples']:>6}{r['positive_rate_test']:>6.2f}"
            if r
            else f"{'mean':>5}{'':>9}{np.mean([x['implicit_share'] for x in runs]):>9.1%}{'':>19}"
        )
        for p in parts:
            src = [r] if r else runs
            cells += f"{_mean(src, p, 'roc_auc'):>13.3f} / {_mean(src, p, 'brier'):.3f}"
        print(cells)
    trainer_auc = [r["trainer_metrics"].get("roc_auc") for r in runs]
    print(
        "trainer's own held-out roc_auc (its metrics): "
        + ", ".join("-" if a is None else f"{a:.3f}" for a in trainer_auc)
        + "; chosen: "
        + ", ".join(r["algorithm"] or "-" for r in runs)
    )
    names = list(dict.fromkeys(c["name"] for r in runs for c in r["candidates"]))
    if names:
        print(
            f"\ncandidates (the trainer's held-out metrics, mean of {len(runs)} seeds; * chosen in n seeds)"
        )
        print(f"{'candidate':<32}{'roc_auc':>9}{'brier':>9}{'chosen':>8}")
        for name in names:
            cs = [c for r in runs for c in r["candidates"] if c["name"] == name]
            auc = np.mean([c.get("roc_auc", np.nan) for c in cs])
            brier = np.mean([c.get("brier", np.nan) for c in cs])
            print(f"{name:<32}{auc:>9.3f}{brier:>9.3f}{sum(c['chosen'] for c in cs):>8}")
    pairs = [(n, n + "+implicit") for n in names if n + "+implicit" in names]
    if pairs:
        print(
            "implicit labels add (candidate+implicit minus candidate, mean of seeds): "
            + "; ".join(
                f"{a} {_delta(runs, a, b, 'roc_auc'):+.4f} ROC-AUC, {_delta(runs, a, b, 'brier'):+.4f} Brier"
                for a, b in pairs
            )
        )
    print(
        "\ntime per seed: simulate + export "
        f"{np.mean([r['simulate_s'] for r in runs]):.1f} s, train {np.mean([r['train_s'] for r in runs]):.1f} s"
    )
    auc, auc_o = _mean(runs, "model", "roc_auc"), _mean(runs, "oracle", "roc_auc")
    brier, brier_o = _mean(runs, "model", "brier"), _mean(runs, "oracle", "brier")
    rule = f"rule-only {_mean(runs, 'rule_only', 'roc_auc'):.3f} / {_mean(runs, 'rule_only', 'brier'):.3f}"
    return [
        Target(
            f"model ROC-AUC >= {AUC_SHARE:.0%} of the oracle's (mean of {len(runs)} seeds)",
            f"{auc:.3f} ({rule})",
            f"oracle {auc_o:.3f}",
            auc / auc_o,
            auc >= AUC_SHARE * auc_o,
        ),
        Target(
            f"model Brier <= {BRIER_OVER:.0%} of the oracle's (mean of {len(runs)} seeds)",
            f"{brier:.4f}",
            f"oracle {brier_o:.4f}",
            brier / brier_o,
            brier <= BRIER_OVER * brier_o,
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--resources", type=int, default=5000)
    ap.add_argument("--weeks", type=int, default=10)
    ap.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1, one history each")
    ap.add_argument("--json", default="")
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore")
    log(f"waste model bench: {args.resources:,} resources x {args.weeks} weeks, {args.seeds} seeds")
    result = run_in_tempdir("cloudwaste-waste-bench-", lambda tmp: run(args, tmp), lambda _tmp: [])
    return finish(result, report, args.json)


if __name__ == "__main__":
    sys.exit(main())
