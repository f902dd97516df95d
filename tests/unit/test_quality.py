"""The data quality score: each term behaves as the README's formula says."""

from __future__ import annotations

import pytest
from cloudwaste.exporter.quality import FEATURE_COLUMNS, score

PERFECT = dict(
    null_share=dict.fromkeys(FEATURE_COLUMNS, 0.0),
    duplicate_share=0.0,
    enriched_share=1.0,
    freshness_days=1.0,
    labeled=100,
    deleted=50,
)


def test_a_perfect_export_scores_100():
    assert score(**PERFECT) == 100.0


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"null_share": {**PERFECT["null_share"], "provider": 1.0}}, 100 - 35 / len(FEATURE_COLUMNS)),
        ({"duplicate_share": 0.5}, 92.5),
        ({"enriched_share": 0.0}, 80.0),
        ({"freshness_days": 7.0}, 100.0),
        ({"freshness_days": 18.5}, 92.5),
        ({"freshness_days": 45.0}, 85.0),
        ({"deleted": 25}, 92.5),  # a quarter deleted: balance min(1, 2 x 0.25) = 0.5
        ({"deleted": 10}, 88.0),
        ({"deleted": 100}, 85.0),  # one class only
        ({"labeled": 0, "deleted": 0}, 85.0),
    ],
)
def test_each_term_costs_what_its_weight_says(change, expected):
    assert score(**{**PERFECT, **change}) == pytest.approx(round(expected, 1))
