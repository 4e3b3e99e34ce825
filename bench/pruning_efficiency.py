"""What pruning buys on the champion's search: the same study (experiments/champion.yaml's
search space, sampler and seed, its 20,000-image fidelity) run twice side by side, once with
its successive-halving pruner and once without pruning, and compared by epochs trained.

    .venv/bin/python bench/pruning_efficiency.py [--trials 14] [--pruned-trials 30] [--out DIR]

Both studies run at the same time, one `optuna-run` worker each with one TensorFlow thread,
so they share the 2-core machine under the same conditions; a worker runs its trials one
after the other (trial order = trial number). Epochs are counted from each trial's
intermediate values (one per epoch trained, pruned trials included). The unpruned study's
best validation accuracy minus 0.3 points is the target; the result is the epochs each study
trained before its best COMPLETE trial reached it, and the best found at equal epoch budgets.
No final retrain: this compares the searches. Writes DIR/pruning_efficiency.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import optuna
import yaml

ROOT = Path(__file__).resolve().parent.parent
CHAMPION = ROOT / "experiments" / "champion.yaml"
TOLERANCE = 0.003  # "within 0.3 points" of the unpruned best


def study_file(out: Path, name: str, trials: int, pruned: bool) -> Path:
    doc = yaml.safe_load(CHAMPION.read_text())
    doc["study"].update(name=name, n_trials=trials)
    doc["study"].pop("timeout", None)
    doc["storage"] = f"sqlite:///{out / name}.db"
    doc["tracking"] = {"uri": f"sqlite:///{out / name}-mlflow.db", "experiment": name}
    doc["registry"]["model_name"] = f"bench-{name}"
    doc["search_space"] = str((CHAMPION.parent / doc["search_space"]).resolve())
    doc.pop("final", None)
    if not pruned:
        doc["pruner"] = {"type": "none"}
    path = out / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def curve(storage: str, name: str) -> list[dict[str, object]]:
    """Per trial in order: epochs trained, cumulative epochs, state, value, best so far."""
    study = optuna.load_study(study_name=name, storage=storage)
    rows, total, best = [], 0, None
    for trial in sorted(study.trials, key=lambda t: t.number):
        epochs = len(trial.intermediate_values)
        total += epochs
        if trial.state == optuna.trial.TrialState.COMPLETE and trial.value is not None:
            best = trial.value if best is None else max(best, trial.value)
        rows.append({
            "trial": trial.number, "state": trial.state.name, "epochs": epochs,
            "cumulative_epochs": total, "value": trial.value, "best_so_far": best,
            "last_intermediate": trial.intermediate_values.get(max(trial.intermediate_values))
            if trial.intermediate_values else None,
        })  # fmt: skip
    return rows


def epochs_to(rows: list[dict[str, object]], target: float) -> int | None:
    for row in rows:
        if row["best_so_far"] is not None and float(row["best_so_far"]) >= target:  # type: ignore[arg-type]
            return int(row["cumulative_epochs"])  # type: ignore[call-overload]
    return None


def best_within(rows: list[dict[str, object]], budget: int) -> float | None:
    """The best COMPLETE value among the trials finished within `budget` epochs."""
    best = None
    for row in rows:
        if int(row["cumulative_epochs"]) > budget:  # type: ignore[call-overload]
            break
        best = row["best_so_far"]
    return None if best is None else float(best)  # type: ignore[arg-type]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=14, help="trials of the unpruned study")
    parser.add_argument("--pruned-trials", type=int, default=30)
    parser.add_argument("--out", type=Path, default=Path("bench/out/pruning"))
    parser.add_argument(
        "--analyze-only", action="store_true", help="only read the studies already in --out"
    )
    args = parser.parse_args()
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    names = ("unpruned", "pruned")
    wall = {} if args.analyze_only else run_studies(out, args.trials, args.pruned_trials)
    analyze(out, names, wall)


def run_studies(out: Path, trials: int, pruned_trials: int) -> dict[str, float]:
    """Both studies side by side; the seconds from the start until each ended."""
    env = {**os.environ, "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1",
           "OMP_NUM_THREADS": "1"}  # fmt: skip
    runs = {
        "unpruned": study_file(out, "unpruned", trials, pruned=False),
        "pruned": study_file(out, "pruned", pruned_trials, pruned=True),
    }
    cli = Path(sys.executable).parent / "optuna-run"
    started, procs = time.time(), {}
    for name, path in runs.items():
        log = (out / f"{name}.log").open("w")
        procs[name] = subprocess.Popen(
            [str(cli), "run", str(path), "--workers", "1"], stdout=log, stderr=subprocess.STDOUT,
            env=env, cwd=out,
        )  # fmt: skip
    wall = {}
    for name, proc in procs.items():
        if proc.wait() != 0:
            sys.exit(f"{name} study failed: see {out / name}.log")
        wall[name] = round(time.time() - started, 1)
    return wall


def analyze(out: Path, names: tuple[str, ...], wall: dict[str, float]) -> None:
    curves = {name: curve(f"sqlite:///{out / name}.db", name) for name in names}
    unpruned_best = max(float(r["value"]) for r in curves["unpruned"] if r["value"] is not None)  # type: ignore[arg-type]
    target = unpruned_best - TOLERANCE
    budgets = sorted({int(r["cumulative_epochs"]) for rows in curves.values() for r in rows})  # type: ignore[call-overload]
    result = {
        "unpruned_best": unpruned_best,
        "target": target,
        "epochs_to_target": {name: epochs_to(rows, target) for name, rows in curves.items()},
        "epochs_to_unpruned_best": {
            name: epochs_to(rows, unpruned_best) for name, rows in curves.items()
        },
        "total_epochs": {name: rows[-1]["cumulative_epochs"] for name, rows in curves.items()},
        "wall_seconds_since_start": wall,
        "best_at_budget": {
            str(b): {name: best_within(rows, b) for name, rows in curves.items()} for b in budgets
        },
        "curves": curves,
        "command": " ".join(sys.argv),
    }
    (out / "pruning_efficiency.json").write_text(json.dumps(result, indent=2))
    lines = [
        f"unpruned best {unpruned_best:.4f}, target {target:.4f} (0.3 points below)",
        "| study | trials | complete | pruned | epochs trained | epochs to target | "
        "epochs to the unpruned best | wall |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, rows in curves.items():
        states = [r["state"] for r in rows]
        lines.append(
            f"| {name} | {len(rows)} | {states.count('COMPLETE')} | {states.count('PRUNED')} | "
            f"{rows[-1]['cumulative_epochs']} | {result['epochs_to_target'][name]} | "
            f"{result['epochs_to_unpruned_best'][name]} | "
            f"{f'{wall[name]:.0f} s' if name in wall else '-'} |"
        )
    lines += ["", f"| epoch budget | {' | '.join(f'best {n}' for n in names)} |", "|---|---|---|"]
    for b, best in result["best_at_budget"].items():  # type: ignore[union-attr]
        cells = [f"{v:.4f}" if v is not None else "-" for v in best.values()]
        lines.append(f"| {b} | {' | '.join(cells)} |")
    (out / "pruning_efficiency.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
