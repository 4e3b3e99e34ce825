"""Configurations drawn from a search space, each with its size: what `validate` shows."""

from __future__ import annotations

from typing import Any

import optuna

from fashion_models.config.sections import StudyConfig
from fashion_models.train.model import count_params
from fashion_models.train.params import ArchitectureError


def sample_configurations(config: StudyConfig, count: int) -> list[tuple[dict[str, Any], str]]:
    """`count` configurations drawn at random from the search space, each with its size."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=config.study.seed))
    out = []
    for _ in range(count):
        params = config.search_space.suggest(study.ask())
        try:
            size = f"{count_params(config.search_space.model_of(params), params):,} parameters"
        except ArchitectureError as exc:
            size = f"cannot be built: {exc}"
        out.append((params, size))
    return out
