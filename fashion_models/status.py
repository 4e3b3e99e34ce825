"""Opening a study that must already exist, and `optuna-run status`: its trials at a glance."""

from __future__ import annotations

import json
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from fashion_models.claims import local_file
from fashion_models.config import StudyConfig
from fashion_models.registry import best_completed_trial
from fashion_models.study import build_storage, counts_by_state
from fashion_models.yaml_source import ConfigError


def load_existing_study(config: StudyConfig) -> optuna.Study:
    """The study of `config`, which must exist: a missing one is a user error, and nothing
    (not even an empty database file) is created while finding out."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    url = config.storage
    path = local_file(url)
    if path is not None and not path.is_file():
        raise _no_study(config, f"storage {url} does not exist")
    storage = build_storage(url)
    try:
        return optuna.load_study(study_name=config.study.name, storage=storage)
    except KeyError:
        raise _no_study(config, f"it is not in storage {url}") from None


def _no_study(config: StudyConfig, why: str) -> ConfigError:
    return ConfigError(
        config.path,
        "study.name",
        f"no study {config.study.name!r} yet: {why}; run `optuna-run {config.path}` first",
    )


def trial_row(trial: FrozenTrial) -> dict[str, Any]:
    """One trial as plain data (the --json form, and the source of the table)."""
    duration = trial.duration.total_seconds() if trial.duration else None
    pruned_at = trial.last_step if trial.state == TrialState.PRUNED else None
    return {
        "number": trial.number,
        "state": trial.state.name,
        "value": trial.value,
        "params": trial.params,
        "duration_s": round(duration, 2) if duration is not None else None,
        "pruned_at_step": pruned_at,
        "test_accuracy": trial.user_attrs.get("test_accuracy"),
        "run_id": trial.user_attrs.get("mlflow_run_id"),
        "fail_reason": trial.user_attrs.get("fail_reason"),
    }


def status_data(config: StudyConfig, study: optuna.Study) -> dict[str, Any]:
    best = best_completed_trial(study)
    return {
        "study": study.study_name,
        "storage": config.storage,
        "metric": config.study.metric,
        "direction": config.study.direction,
        "n_trials": config.study.n_trials,
        "counts": dict(counts_by_state(study)),
        "best": trial_row(best) if best is not None else None,
        "study_run_id": study.user_attrs.get("mlflow_study_run_id"),
        "trials": [trial_row(t) for t in study.get_trials(deepcopy=False)],
    }


def status_json(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2, default=str)


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def status_table(data: dict[str, Any]) -> str:
    """A fixed-width table of the trials, then counts and the best trial."""
    headers = ["#", "state", data["metric"], "test_acc", "params", "secs", "pruned@", "run id"]
    rows = [
        [
            str(t["number"]),
            t["state"],
            _fmt(t["value"]),
            _fmt(t["test_accuracy"]),
            " ".join(f"{k}={_fmt(v)}" for k, v in sorted(t["params"].items())),
            _fmt(t["duration_s"]),
            _fmt(t["pruned_at_step"]),
            t["run_id"] or "-",
        ]
        for t in data["trials"]
    ]
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in [headers, *rows]
    ]
    counts = ", ".join(f"{n} {s.lower()}" for s, n in sorted(data["counts"].items()))
    lines.append(
        f"\nstudy {data['study']!r}: {counts or 'no trials'} (n_trials {data['n_trials']})"
    )
    best = data["best"]
    if best is None:
        lines.append("best: no complete trial yet")
    else:
        lines.append(
            f"best: trial {best['number']}, {data['metric']} = {_fmt(best['value'])}, "
            f"test accuracy = {_fmt(best['test_accuracy'])}, run {best['run_id']}"
        )
    return "\n".join(lines)
