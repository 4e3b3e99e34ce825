"""Pruning a multi-objective study, which Optuna refuses (`Trial.report` raises there): a trial
stops at an epoch where a complete trial that costs no more, on every cost the study
minimizes, was more accurate at the same epoch.

Such a trial can still reach the Pareto front only by overtaking, in its remaining epochs, a
model at least as cheap that was ahead of it at the same point of the same budget: the rule
the median pruner applies to one objective (compare at the same step), with "the median"
replaced by "one that costs no more". A trial's per-epoch metric is kept in its user attrs
(INTERMEDIATE), where the other workers read it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import optuna
from optuna.trial import TrialState

from fashion_models.config.sections import ParetoPruning

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
    """The earliest complete trial that prunes trial `number` (its metric `value` at `epoch`,
    its `costs`), or None: one that costs no more on each of `cost_names` and whose metric at
    the same epoch was better."""
    if epoch < settings.n_warmup_steps or math.isnan(value):  # NaN: training's own check
        return None
    complete = [
        t
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if t.number != number
    ]
    if len(complete) < settings.n_startup_trials:
        return None
    maximize = study.directions[0] == optuna.study.StudyDirection.MAXIMIZE
    for trial in sorted(complete, key=lambda t: t.number):
        theirs = trial.user_attrs.get(INTERMEDIATE, {}).get(str(epoch))
        if theirs is None:
            continue
        cheap = all(trial.user_attrs.get(name, math.inf) <= costs[name] for name in cost_names)
        better = theirs > value if maximize else theirs < value
        if cheap and better:
            return trial.number
    return None
