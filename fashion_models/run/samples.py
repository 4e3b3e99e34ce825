"""Configurations drawn from a search space, each with what it costs to serve (and whether it
is within the study's budget): what `validate` shows."""

from __future__ import annotations

from typing import Any

import optuna

from fashion_models.config.sections import StudyConfig
from fashion_models.run.training_run import serving_costs
from fashion_models.serving.costs import budget_reason
from fashion_models.train.params import ArchitectureError
from fashion_models.train.precision import resolved_params


def sample_configurations(config: StudyConfig, count: int) -> list[tuple[dict[str, Any], str]]:
    """`count` configurations drawn at random from the search space, each with its costs."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=config.study.seed))
    out = []
    for _ in range(count):
        params = config.search_space.suggest(study.ask())
        try:
            costs = serving_costs(config.search_space.model_of(params), resolved_params(params))
        except ArchitectureError as exc:
            out.append((params, f"cannot be built: {exc}"))
            continue
        text = (
            f"{costs.params:,} parameters, {costs.serve_ms:.3g} ms a photo, "
            f"{costs.mflops:.3g} MFLOPs, {costs.model_mb:.2g} MB"
        )
        if config.budget:
            text += f"; {budget_reason(costs.as_dict(), config.budget) or 'within budget'}"
        out.append((params, text))
    return out
