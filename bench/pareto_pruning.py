"""What `pruner: pareto` saves on a multi-objective study: the same study ([val_accuracy,
mflops] over a small CNN space, TPE with one seed, 4 epochs a trial) run twice side by side,
once pruned by `pareto` and once with `pruner: none`, compared by epochs trained and by the
Pareto front each found.

    .venv/bin/python bench/pareto_pruning.py [--trials 12] [--images 3000] [--out DIR]

Both studies run at once, one `optuna-run` worker each with one TensorFlow thread. Epochs are
counted from each trial's per-epoch metric (the user attr `intermediate_values`, pruned trials
included). The fronts are compared by their hypervolume in (validation accuracy, MFLOPs)
against one reference point for both (accuracy 0, 1.1 x the most MFLOPs either study drew),
and by the most accurate trial of each. Writes DIR/pareto_pruning.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import optuna

ROOT = Path(__file__).resolve().parent.parent
SPACE = """
model: cnn
params:
  conv_layers: {type: int, low: 1, high: 3}
  filters: {type: categorical, choices: [8, 16, 32, 64], per_layer: conv_layers}
  kernel_size: {type: fixed, value: 3}
  padding: {type: fixed, value: same}
  pooling: {type: fixed, value: max}
  dense_layers: {type: fixed, value: 1}
  dense_units: {type: categorical, choices: [16, 64, 256]}
  learning_rate: {type: float, low: 1.0e-4, high: 1.0e-2, log: true}
  batch_size: {type: fixed, value: 64}
  epochs: {type: fixed, value: 4}
"""
STUDY = """
study: {{name: {name}, n_trials: {trials}, seed: 7, metrics: [val_accuracy, mflops]}}
storage: sqlite:///{out}/{name}.db
sampler: {{type: tpe, n_startup_trials: 4}}
pruner: {pruner}
search_space: space.yaml
data: {{train_size: {images}, validation_split: 0.2, test_size: 2000}}
tracking: {{uri: "sqlite:///{out}/{name}-mlflow.db", experiment: {name}}}
registry: {{model_name: bench-{name}, promote: never}}
"""


def hypervolume(points: list[tuple[float, float]], reference: tuple[float, float]) -> float:
    """The area dominated by `points` (accuracy up, MFLOPs down) above/left of `reference`."""
    area, best = 0.0, reference[0]
    for accuracy, mflops in sorted(points, key=lambda p: p[1]):  # cheapest first
        if accuracy > best and mflops < reference[1]:
            area += (accuracy - best) * (reference[1] - mflops)
            best = accuracy
    return area


def summary(storage: str, name: str) -> dict[str, object]:
    study = optuna.load_study(study_name=name, storage=storage)
    trials = sorted(study.trials, key=lambda t: t.number)
    front = sorted(study.best_trials, key=lambda t: t.number)
    return {
        "trials": len(trials),
        "complete": sum(t.state.name == "COMPLETE" for t in trials),
        "pruned": sum(t.state.name == "PRUNED" for t in trials),
        "epochs": sum(len(t.user_attrs.get("intermediate_values", {})) for t in trials),
        "front": [
            {
                "trial": t.number,
                "val_accuracy": t.values[0],
                "mflops": t.values[1],
                "test_accuracy": t.user_attrs.get("test_accuracy"),
            }
            for t in front
        ],  # fmt: skip
        "drawn_mflops": [t.user_attrs.get("mflops") for t in trials],
        "seconds": sum(t.duration.total_seconds() for t in trials if t.duration),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--images", type=int, default=3000)
    parser.add_argument("--out", type=Path, default=Path("/tmp/pareto-pruning"))
    args = parser.parse_args()
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    (out / "space.yaml").write_text(textwrap.dedent(SPACE))
    runs = {"pareto": "{type: pareto}", "none": "{type: none}"}
    env = {**os.environ, "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1"}
    procs, started = {}, time.monotonic()
    for name, pruner in runs.items():
        path = out / f"{name}.yaml"
        path.write_text(
            STUDY.format(name=name, trials=args.trials, out=out, pruner=pruner, images=args.images)
        )
        log = (out / f"{name}.log").open("w")
        procs[name] = subprocess.Popen(
            [str(Path(sys.executable).parent / "optuna-run"), str(path)],
            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT,
        )  # fmt: skip
    for proc in procs.values():
        proc.wait()
    wall = time.monotonic() - started
    results = {name: summary(f"sqlite:///{out}/{name}.db", name) for name in runs}
    most = max(m for r in results.values() for m in r["drawn_mflops"] if m is not None)  # type: ignore[attr-defined]
    reference = (0.0, 1.1 * most)
    for r in results.values():
        points = [(f["val_accuracy"], f["mflops"]) for f in r["front"]]  # type: ignore[attr-defined]
        r["hypervolume"] = round(hypervolume(points, reference), 4)
        r["best_val_accuracy"] = max(p[0] for p in points)
    report = {"trials": args.trials, "images": args.images, "wall_s": round(wall), **results}
    (out / "pareto_pruning.json").write_text(json.dumps(report, indent=2))
    print(
        "| pruner | trials | complete | pruned | epochs | front (trial: val acc, MFLOPs) "
        "| hypervolume | best val acc |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, r in results.items():
        front = "; ".join(
            f"{f['trial']}: {f['val_accuracy']:.4f}, {f['mflops']:.2f}"
            for f in r["front"]  # type: ignore[attr-defined]
        )
        print(
            f"| {name} | {r['trials']} | {r['complete']} | {r['pruned']} | {r['epochs']} "
            f"| {front} | {r['hypervolume']} | {r['best_val_accuracy']:.4f} |"
        )
    print(f"wall {wall:.0f}s; raw figures in {out / 'pareto_pruning.json'}")


if __name__ == "__main__":
    main()
