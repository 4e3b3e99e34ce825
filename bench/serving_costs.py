"""What measuring the serving costs costs, and whether `serve_ms` is what the shop pays.

    .venv/bin/python bench/serving_costs.py [--repeats 5]

For the default configuration of each shipped search space (the seed MLP and CNN, the
quickstart, the champion, a ResNet), in one process with one TensorFlow thread (as a worker
of `--workers 2` on 2 cores):

- the seconds a trial spends before it trains: building the untrained model and measuring it
  (`run/training_run.serving_costs`), median of `--repeats`;
- the costs it measured: serve_ms (median, p95), MFLOPs, weights, MB;
- what the shop pays for the same model: `serving.shop.Shop.classify` of one photo (decoding
  a PNG, preprocessing, the forward graph, the answer), median of 200 calls after 20 warm-up
  calls, so the difference from serve_ms is the per-photo work around the model.

Prints a Markdown table.

    .venv/bin/python bench/serving_costs.py --study experiments/shop_budget.yaml

Re-measures, on this (idle) machine, the configurations of a finished multi-objective study
whose serve_ms its workers measured beside each other's training: its Pareto front, the
trial `registry.choose` picks, and the champion space's configuration for comparison. Each is
measured `--repeats` times; the table gives the median serve_ms beside the study's own.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")
os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import optuna  # noqa: E402

from fashion_models.config.search_space import load_search_space  # noqa: E402
from fashion_models.config.study_file import load_config  # noqa: E402
from fashion_models.run.training_run import serving_costs  # noqa: E402
from fashion_models.search.queries import best_completed_trial, pareto_front  # noqa: E402
from fashion_models.serving.pyfunc import example_image  # noqa: E402
from fashion_models.serving.shop import Shop  # noqa: E402
from fashion_models.train.devices import configure_tensorflow  # noqa: E402
from fashion_models.train.model import build, with_tta  # noqa: E402
from fashion_models.train.precision import resolved_params  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SPACES = ["seed_mlp", "seed_cnn", "quickstart", "champion"]
RESNET = {"stages": 3, "blocks_per_stage": 2, "width": 16}


def default_params(space_name: str) -> tuple[str, dict[str, object]]:
    space = load_search_space(ROOT / "search_spaces" / f"{space_name}.yaml")
    trial = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0)).ask()
    return space.model, resolved_params(space.suggest(trial))


def shop_ms(model_type: str, params: dict[str, object]) -> float:
    model = with_tta(build(model_type, params), str(params.get("tta", "none")))
    shop = Shop(model, None)  # type: ignore[arg-type]  # classify never searches the index
    photo = example_image()
    for _ in range(20):
        shop.classify([photo])
    times = []
    for _ in range(200):
        start = time.perf_counter()
        shop.classify([photo])
        times.append(time.perf_counter() - start)
    shop.close()
    return statistics.median(times) * 1e3


def idle_serve_ms(model_type: str, params: dict[str, object], repeats: int) -> list[float]:
    return [serving_costs(model_type, params).serve_ms for _ in range(repeats)]


def study_front(study_file: Path, repeats: int) -> None:
    """The front of a finished study, its pick and the champion, re-measured here."""
    config = load_config(study_file)
    study = optuna.load_study(study_name=config.study.name, storage=config.storage)
    pick = best_completed_trial(study, config.registry.choose)
    trials = sorted(pareto_front(study), key=lambda t: t.values[1])
    if pick is not None and pick.number not in {t.number for t in trials}:
        trials.append(pick)
    print(
        "| trial | family | val_accuracy | test_accuracy | study serve_ms | idle serve_ms "
        "(median, min-max) | MFLOPs | weights |"
    )
    print("|---|---|---|---|---|---|---|---|")
    space = config.search_space
    for trial in trials:
        params = resolved_params(space.suggest(optuna.trial.FixedTrial(trial.params)))
        model_type = space.model_of(params)
        times = idle_serve_ms(model_type, params, repeats)
        costs = serving_costs(model_type, params)
        mark = " (pick)" if pick is not None and trial.number == pick.number else ""
        print(
            f"| {trial.number}{mark} | {model_type} | {trial.values[0]:.4f} "
            f"| {trial.user_attrs.get('test_accuracy', float('nan')):.4f} "
            f"| {trial.values[1]:.3f} | {statistics.median(times):.3f} "
            f"({min(times):.3f}-{max(times):.3f}) | {costs.mflops:.2f} | {costs.params:,} |"
        )
    model_type, params = default_params("champion")
    times = idle_serve_ms(model_type, params, repeats)
    print(
        f"| champion space's network | {model_type} | - | - | - | {statistics.median(times):.3f} "
        f"({min(times):.3f}-{max(times):.3f}) | - | - |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--study", type=Path, help="a finished multi-objective study's file")
    args = parser.parse_args()
    configure_tensorflow()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if args.study:
        study_front(args.study, args.repeats)
        return
    configs = [(name, *default_params(name)) for name in SPACES]
    configs.append(("resnet (3 stages x 2 blocks, width 16)", "resnet", dict(RESNET)))
    print(
        "| configuration | build + measure s | serve_ms | p95 | MFLOPs | weights | MB "
        "| shop classify ms |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, model_type, params in configs:
        seconds, costs = [], None
        for _ in range(args.repeats):
            start = time.perf_counter()
            costs = serving_costs(model_type, params)
            seconds.append(time.perf_counter() - start)
        assert costs is not None
        print(
            f"| {name} | {statistics.median(seconds):.2f} | {costs.serve_ms:.3f} "
            f"| {costs.serve_ms_p95:.3f} | {costs.mflops:.2f} | {costs.params:,} "
            f"| {costs.model_mb:.2f} | {shop_ms(model_type, params):.3f} |"
        )


if __name__ == "__main__":
    main()
