"""Does the champion's cheap fidelity rank configurations the way the full retrain does?

    .venv/bin/python bench/fidelity.py STUDY.yaml [--configs 6] [--epochs 10] [--out DIR]

STUDY.yaml is a finished study without pruning (bench/pruning_efficiency.py writes one:
bench/out/pruning/unpruned.yaml), so that every trial has its full low-fidelity score: the
validation accuracy after 6 epochs on 16,000 images. `--configs` of its COMPLETE trials,
evenly spread over their ranking (best and worst included), are retrained the way `final:`
retrains the champion (train+validation, all 60,000 images, the trial's params with
`--epochs` epochs, seed = study seed + trial number; tta and precision as searched) and
evaluated once on the 10,000 test images. Reported: both scores per configuration, and
Spearman's rank correlation between them (scipy). Writes DIR/fidelity.json and .md.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import mlflow
import numpy as np
import optuna
from scipy.stats import spearmanr

from fashion_models.config.study_file import load_config
from fashion_models.run.session import study_splits
from fashion_models.run.training_run import train_and_log
from fashion_models.track.trial_run import TrialRun

FULL_IMAGES = 60000


def spread(trials: list[optuna.trial.FrozenTrial], k: int) -> list[optuna.trial.FrozenTrial]:
    """`k` trials evenly spaced over the ranking by value, best and worst included."""
    ranked = sorted(trials, key=lambda t: float(t.value or 0.0), reverse=True)
    picks = sorted({round(i) for i in np.linspace(0, len(ranked) - 1, min(k, len(ranked)))})
    return [ranked[i] for i in picks]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("study_file", type=Path)
    parser.add_argument("--configs", type=int, default=6)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--out", type=Path, default=Path("bench/out/fidelity"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    config = load_config(args.study_file)
    study = optuna.load_study(study_name=config.study.name, storage=config.storage)
    complete = study.get_trials(deepcopy=False, states=[optuna.trial.TrialState.COMPLETE])
    chosen = spread(complete, args.configs)
    chosen = chosen[::2] + chosen[1::2]  # spread out first: a run cut short still spans the range
    splits = study_splits(config, FULL_IMAGES)
    fit_on = (
        np.concatenate([splits.x_train, splits.x_val]),
        np.concatenate([splits.y_train, splits.y_val]),
    )
    store = Path(tempfile.mkdtemp(prefix="fidelity-"))
    mlflow.set_tracking_uri(f"sqlite:///{store}/mlflow.db")
    experiment = mlflow.create_experiment("fidelity", artifact_location=f"{store}/artifacts")
    rows = []
    for trial in chosen:
        params = config.search_space.suggest(optuna.trial.FixedTrial(trial.params))
        params["epochs"] = args.epochs
        seed = config.study.seed + trial.number
        started = time.time()
        with TrialRun(experiment, "fidelity", trial.number, {}) as run:
            trained = train_and_log(
                run, config.search_space.model, params, seed, splits, fit_on=fit_on,
                progress=print, label=f"trial {trial.number} full",
            )  # fmt: skip
            run.mark("COMPLETE")
        rows.append({
            "trial": trial.number, "low_fidelity_val_accuracy": trial.value,
            "full_test_accuracy": trained.test.accuracy,
            "seconds": round(time.time() - started, 1), "params": trial.params,
        })  # fmt: skip
        print(f"trial {trial.number}: low {trial.value:.4f} -> full {trained.test.accuracy:.4f}")
        write(args, config.data.train_size, len(fit_on[1]), rows)  # a cut-short run keeps its rows


def write(args: argparse.Namespace, low_images: int | None, full_images: int, rows: list) -> None:
    rho, p_value = (float("nan"), float("nan"))
    if len(rows) >= 3:
        rho, p_value = spearmanr(
            [r["low_fidelity_val_accuracy"] for r in rows], [r["full_test_accuracy"] for r in rows]
        )
    result = {
        "study_file": str(args.study_file), "full_images": full_images,
        "full_epochs": args.epochs, "spearman": float(rho), "p_value": float(p_value),
        "rows": rows, "command": " ".join(sys.argv),
    }  # fmt: skip
    (args.out / "fidelity.json").write_text(json.dumps(result, indent=2))
    lines = [
        f"low fidelity: {low_images} images, the trials' own epochs, validation accuracy; "
        f"full: {full_images} images x {args.epochs} epochs, test accuracy",
        "",
        "| trial | low-fidelity val accuracy | full test accuracy | retrain seconds |",
        "|---|---|---|---|",
        *(
            f"| {r['trial']} | {r['low_fidelity_val_accuracy']:.4f} | "
            f"{r['full_test_accuracy']:.4f} | {r['seconds']:.0f} |"
            for r in rows
        ),
        "",
        f"Spearman rho = {rho:.2f} (p = {p_value:.2f}, n = {len(rows)})",
    ]
    (args.out / "fidelity.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
