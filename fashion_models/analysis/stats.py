"""Means, spreads and 95% confidence intervals over training seeds (Student's t), and the
verdict a paired comparison supports."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

CONFIDENCE = 0.95
YES, NO, UNDECIDED = "yes", "no", "not distinguishable at this sample size"


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


def verdict(difference: Summary) -> str:
    """`yes` when the whole interval is above zero, `no` when below, otherwise undecided."""
    if difference.n < 2 or np.isnan(difference.low):
        return UNDECIDED
    if difference.low > 0:
        return YES
    if difference.high < 0:
        return NO
    return UNDECIDED


def seconds(value: float) -> str:
    """Training time as the report shows it: whole seconds, tenths under ten."""
    return f"{value:.1f} s" if value < 10 else f"{value:.0f} s"
