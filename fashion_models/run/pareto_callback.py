"""The Keras side of pruning a multi-objective study (search/pareto_pruning.py): after each
epoch, keep the trial's metric on the trial and stop it when it is behind the complete trials
that cost no more (their median) at the same epoch."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import keras
import optuna

from fashion_models.config.sections import ParetoPruning, StudyConfig
from fashion_models.search.pareto_pruning import INTERMEDIATE, PRUNED_BY, dominating_trial


class ParetoPruningCallback(keras.callbacks.Callback):
    """Records the metric per epoch (user attr INTERMEDIATE, since Trial.report refuses a
    multi-objective study) and, with `settings` (pruner: pareto; None: pruner none), raises
    optuna.TrialPruned when the trial is behind the median of the cheaper-or-equal complete
    trials at this epoch."""

    def __init__(
        self,
        trial: optuna.Trial,
        config: StudyConfig,
        costs: Mapping[str, float],
        settings: ParetoPruning | None,
    ) -> None:
        super().__init__()
        self.trial, self.config, self.costs, self.settings = trial, config, costs, settings
        self.curve: dict[str, float] = {}

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        value = float((logs or {})[self.config.study.metric])
        self.curve[str(epoch)] = value
        self.trial.set_user_attr(INTERMEDIATE, dict(self.curve))
        if self.settings is None:
            return
        by = dominating_trial(
            self.trial.study,
            self.trial.number,
            epoch,
            value,
            self.costs,
            self.config.study.cost_objectives,
            self.settings,
        )
        if by is not None:
            self.trial.set_user_attr(PRUNED_BY, by)
            raise optuna.TrialPruned(
                f"behind the median of the trials that cost no more at epoch {epoch} "
                f"(trial {by} among them)"
            )
