"""The Keras side of pruning a multi-objective study (search/pareto_pruning.py): after each
epoch, keep the trial's metric on the trial and stop it when a complete trial that costs no
more was more accurate at the same epoch."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import keras
import optuna

from fashion_models.config.sections import ParetoPruning, StudyConfig
from fashion_models.search.pareto_pruning import INTERMEDIATE, PRUNED_BY, dominating_trial


class ParetoPruningCallback(keras.callbacks.Callback):
    """Records `monitor` per epoch (user attr INTERMEDIATE, since Trial.report refuses a
    multi-objective study) and, with `settings` (pruner: pareto; None: pruner none), raises
    optuna.TrialPruned when a cheaper-or-equal complete trial was ahead at this epoch."""

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
            raise optuna.TrialPruned(f"trial {by} costs no more and was ahead at epoch {epoch}")
