"""What the CLI prints: the end-of-study summary and sampled configurations."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import optuna

from fashion_models.config import StudyConfig
from fashion_models.registry import Promotion, best_completed_trial
from fashion_models.study import counts_by_state


def print_summary(
    config: StudyConfig,
    study: optuna.Study,
    promotion: Promotion | None,
    echo: Callable[[str], None] = print,
) -> None:
    """Best value and params, trial counts by state, where to look in MLflow."""
    counts = ", ".join(
        f"{n} {state.lower()}" for state, n in sorted(counts_by_state(study).items())
    )
    echo(f"\nstudy {study.study_name!r}: {counts}")
    best = best_completed_trial(study)
    if best is None:
        echo("no completed trial yet")
    else:
        echo(
            f"best trial {best.number}: {config.study.metric} = {best.value:.4f}, "
            f"test accuracy = {best.user_attrs.get('test_accuracy', float('nan')):.4f}"
        )
        for name, value in sorted(best.params.items()):
            shown = f"{value:.6g}" if isinstance(value, float) else value  # 0.30000000000000004
            echo(f"  {name} = {shown}")
    echo(f"MLflow: experiment {config.tracking.experiment!r} at {config.tracking.uri}")
    if promotion is not None:
        holder = "now holds" if promotion.promoted else "does not take"
        echo(
            f"registry: {promotion.model_name} version {promotion.version} "
            f"(trial {promotion.trial}) {holder} @{promotion.alias}: {promotion.reason}"
        )


def sample_configurations(config: StudyConfig, count: int) -> list[tuple[dict[str, Any], str]]:
    """`count` configurations drawn at random from the search space, each with its size."""
    from fashion_models.model import ArchitectureError, count_params

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=config.study.seed))
    out = []
    for _ in range(count):
        params = config.search_space.suggest(study.ask())
        try:
            size = f"{count_params(config.search_space.model, params):,} parameters"
        except ArchitectureError as exc:
            size = f"cannot be built: {exc}"
        out.append((params, size))
    return out
