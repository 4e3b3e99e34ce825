"""Pruning a multi-objective study, which Optuna refuses (`Trial.report` raises there): a trial
stops at an epoch where it is behind the median, at the same epoch, of the complete trials
that cost no more on every cost the study minimizes (at least `n_min_trials` of them).

It is Optuna's median rule (compare at the same step of the same budget) among the trials
that could make this one pointless: a model at least as cheap that is usually ahead at this
point. Its first design, pruning when any one cheaper complete trial was ahead, stopped 22 of
24 trials on bench/pareto_pruning.py and lost the most accurate model of the front (its
curve crossed the cheapest model's after epoch 1): one cheap, early-fast trial pruned
everything. A trial's per-epoch metric is kept in its user attrs (INTERMEDIATE), where the
other workers read it.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence

import optuna
from optuna.trial import TrialState

from fashion_models.config.sections import ParetoPruning
from fashion_models.search.queries import maximizes_metric

INTERMEDIATE = "intermediate_values"  # user attr: {"epoch": metric} of a multi-objective trial
PRUNED_BY = "pruned_by"  # user attr: the complete trial that pruned this one


def dominating_trial(
    study: optuna.Study,
    number: int,
    epoch: int,
    value: float,
    costs: Mapping[str, float],
    cost_names: Sequence[str],
    settings: ParetoPruning,
) -> int | None:
    """The earliest of the cheaper-or-equal complete trials ahead of trial `number` at `epoch`
    when it is behind their median there (the trial to name as the reason), else None."""
    if epoch < settings.n_warmup_steps or math.isnan(value):  # NaN: training's own check
        return None
    complete = [
        t
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if t.number != number
    ]
    if len(complete) < settings.n_startup_trials:
        return None
    maximize = maximizes_metric(study)
    cheaper: list[tuple[int, float]] = []
    for trial in sorted(complete, key=lambda t: t.number):
        theirs = trial.user_attrs.get(INTERMEDIATE, {}).get(str(epoch))
        if theirs is not None and all(
            trial.user_attrs.get(name, math.inf) <= costs[name] for name in cost_names
        ):
            cheaper.append((trial.number, float(theirs)))
    if len(cheaper) < settings.n_min_trials:
        return None
    median = statistics.median(v for _, v in cheaper)
    behind = value < median if maximize else value > median
    if not behind:
        return None
    return next(n for n, v in cheaper if (v > value if maximize else v < value))
