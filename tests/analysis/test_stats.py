"""The statistics of a design against hand computations on fixed numbers."""

from __future__ import annotations

import math

import pytest

from fashion_models.analysis.stats import (
    NO,
    UNDECIDED,
    YES,
    paired_difference,
    summarize,
    verdict,
)

T_975_DF2 = 4.302652729911275  # Student's t, 97.5th percentile, 2 degrees of freedom (tables)


def test_summary_of_three_seeds_by_hand() -> None:
    s = summarize([0.90, 0.91, 0.92])
    half = T_975_DF2 * 0.01 / math.sqrt(3)  # sd of (0.90, 0.91, 0.92) is 0.01
    assert (s.n, s.mean, s.sd) == (3, pytest.approx(0.91), pytest.approx(0.01))
    assert s.low == pytest.approx(0.91 - half) and s.high == pytest.approx(0.91 + half)


def test_one_value_has_no_spread() -> None:
    s = summarize([0.5])
    assert s.mean == 0.5 and math.isnan(s.sd) and math.isnan(s.low)
    assert verdict(s) == UNDECIDED


def test_pairing_cancels_what_the_seeds_share() -> None:
    # Seed luck moves both sides together: unpaired the intervals overlap, paired they do not.
    a, b = [0.900, 0.920, 0.880], [0.895, 0.914, 0.876]
    d = paired_difference(a, b)
    assert d.mean == pytest.approx(0.005)
    assert d.sd == pytest.approx(0.001)  # differences 0.005, 0.006, 0.004
    assert d.low == pytest.approx(0.005 - T_975_DF2 * 0.001 / math.sqrt(3))
    assert verdict(d) == YES
    assert summarize(a).low < summarize(b).high  # unpaired, the intervals overlap


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ([0.91, 0.92, 0.93], [0.90, 0.91, 0.92], YES),
        ([0.89, 0.90, 0.91], [0.90, 0.91, 0.92], NO),
        ([0.91, 0.90, 0.93], [0.90, 0.91, 0.92], UNDECIDED),
    ],
)
def test_verdict_follows_the_interval(a: list[float], b: list[float], expected: str) -> None:
    assert verdict(paired_difference(a, b)) == expected


def test_pairs_need_the_same_seeds() -> None:
    with pytest.raises(ValueError, match="same seeds"):
        paired_difference([0.9, 0.9], [0.9])
