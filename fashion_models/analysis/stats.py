"""Means, spreads and 95% confidence intervals over training seeds (Student's t), the
equivalence test (TOST) and the verdict a paired comparison supports."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

CONFIDENCE = 0.95
ALPHA = 1 - CONFIDENCE
YES, NO, UNDECIDED = "yes", "no", "not distinguishable at this sample size"
EQUIVALENT = "equivalent"  # shown with its margin: "equivalent within ±0.3 points"


@dataclass(frozen=True)
class Summary:
    """Mean, sample standard deviation and the 95% t-interval of the mean of n values."""

    n: int
    mean: float
    sd: float  # nan for n = 1
    low: float  # nan for n = 1: one value says nothing about the spread
    high: float


def summarize(values: Sequence[float] | np.ndarray) -> Summary:
    x = np.asarray(values, dtype=float)
    n = len(x)
    if n == 0:
        raise ValueError("no values to summarize")
    mean = float(x.mean())
    if n == 1:
        return Summary(1, mean, float("nan"), float("nan"), float("nan"))
    sd = float(x.std(ddof=1))
    half = float(stats.t.ppf(0.5 + CONFIDENCE / 2, df=n - 1)) * sd / np.sqrt(n)
    return Summary(n, mean, sd, mean - half, mean + half)


def paired_difference(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> Summary:
    """The summary of a[i] - b[i]: the same seed i on both sides, so seed-to-seed luck that
    both share cancels out."""
    if len(a) != len(b):
        raise ValueError(f"a paired comparison needs the same seeds, got {len(a)} and {len(b)}")
    return summarize(np.asarray(a, dtype=float) - np.asarray(b, dtype=float))


def tost_p(difference: Summary, margin: float) -> float:
    """The p-value of two one-sided t-tests that the true difference lies within
    (-margin, +margin): the larger of the two one-sided p-values. Below ALPHA, the 90% interval
    lies inside the margin and the difference counts as none (nan for fewer than 2 seeds)."""
    if difference.n < 2 or np.isnan(difference.sd):
        return float("nan")
    df, se = difference.n - 1, difference.sd / np.sqrt(difference.n)
    if se == 0:
        return 0.0 if abs(difference.mean) < margin else 1.0
    above_lower = float(stats.t.sf((difference.mean + margin) / se, df))  # H0: d <= -margin
    below_upper = float(stats.t.cdf((difference.mean - margin) / se, df))  # H0: d >= +margin
    return max(above_lower, below_upper)


def verdict(difference: Summary, margin: float | None = None) -> str:
    """Four outcomes of a paired difference, from its numbers:
    - equivalent: the two one-sided tests put it within +-margin (TOST, alpha 0.05), whether or
      not the 95% interval also excludes zero (a difference smaller than the margin is none);
    - yes / no: the whole 95% interval above / below zero, and not equivalent;
    - not distinguishable at this sample size: neither.
    Without a margin there is no equivalence verdict."""
    if difference.n < 2 or np.isnan(difference.low):
        return UNDECIDED
    if margin is not None and tost_p(difference, margin) < ALPHA:
        return EQUIVALENT
    if difference.low > 0:
        return YES
    if difference.high < 0:
        return NO
    return UNDECIDED


def verdict_text(outcome: str, margin: float | None) -> str:
    """The verdict as the report prints it (the margin in accuracy points)."""
    if outcome == EQUIVALENT and margin is not None:
        return f"equivalent within ±{margin * 100:.1f} points"
    return outcome


def seconds(value: float) -> str:
    """Training time as the report shows it: whole seconds, tenths under ten."""
    return f"{value:.1f} s" if value < 10 else f"{value:.0f} s"
