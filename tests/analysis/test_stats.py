"""The statistics of a design against hand computations on fixed numbers."""

from __future__ import annotations

import math

import pytest

from fashion_models.analysis.stats import (
    EQUIVALENT,
    NO,
    UNDECIDED,
    YES,
    paired_difference,
    summarize,
    tost_p,
    verdict,
    verdict_text,
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


def test_tost_is_the_larger_of_two_one_sided_t_tests() -> None:
    from scipy import stats

    diffs = [0.001, -0.0015, 0.0005, 0.002, -0.0005, 0.0]
    d = summarize(diffs)
    # Against scipy's own one-sided one-sample t-tests at -margin and +margin.
    above = stats.ttest_1samp(diffs, -0.003, alternative="greater").pvalue
    below = stats.ttest_1samp(diffs, 0.003, alternative="less").pvalue
    assert tost_p(d, 0.003) == pytest.approx(max(above, below))
    assert tost_p(d, 0.003) < 0.05 and verdict(d, 0.003) == EQUIVALENT
    assert verdict(d) == UNDECIDED  # no margin: no equivalence verdict
    assert verdict_text(EQUIVALENT, 0.003) == "equivalent within ±0.3 points"


def test_a_real_difference_smaller_than_the_margin_is_equivalent() -> None:
    # +0.1 point on every seed: the 95% interval excludes zero, and yet the difference is
    # within +-0.3 points: the margin says such a difference is none.
    d = summarize([0.0010, 0.0011, 0.0009, 0.0010])
    assert d.low > 0 and verdict(d) == YES
    assert verdict(d, 0.003) == EQUIVALENT


def test_a_wide_interval_is_neither_equivalent_nor_a_verdict() -> None:
    d = summarize([0.01, -0.012, 0.004])
    assert tost_p(d, 0.003) > 0.05
    assert verdict(d, 0.003) == UNDECIDED
    assert math.isnan(tost_p(summarize([0.001]), 0.003))
