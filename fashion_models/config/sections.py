"""The typed, frozen sections of a study file, each default commented. Built by config.py."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fashion_models.config.design import DesignSection
from fashion_models.config.search_space import SearchSpace
from fashion_models.config.yaml_source import ConfigError, YamlDocument

DEFAULT_STORAGE = "sqlite:///mlruns/optuna.db"
DEFAULT_TRACKING_URI = "sqlite:///mlruns/mlflow.db"
METRIC_DIRECTIONS = {"val_accuracy": "maximize", "val_loss": "minimize"}
PROMOTE_RULES = ("never", "always", "if_better")
# What a model costs the shop to serve (serving/costs.py), each lower is better; `budget:`
# caps any of them.
COSTS = ("serve_ms", "params", "model_mb", "mflops")
FINAL_DATA = ("train+validation", "train")


@dataclass(frozen=True)
class StudySection:
    name: str
    n_trials: int  # study-wide total of finished (complete or pruned) trials
    metric: str = "val_accuracy"  # what trials are judged and pruned on
    direction: str = "maximize"  # must agree with metric
    timeout: float | None = None  # seconds for this worker, None = no limit
    seed: int = 0  # sampler seed; trial n trains with seed + n (seed + replicate with repeats)
    repeats: int = 1  # grid studies: each grid point is trained with this many seeds
    # study.metrics [metric, cost, ...]: the serving costs minimized beside the metric, a
    # multi-objective study (Optuna's Pareto front); empty: one objective, the metric.
    cost_objectives: tuple[str, ...] = ()

    @property
    def objectives(self) -> tuple[str, ...]:
        """The study's values in order: the metric first, then each cost."""
        return (self.metric, *self.cost_objectives)

    @property
    def directions(self) -> tuple[str, ...]:
        return (self.direction, *("minimize" for _ in self.cost_objectives))

    @property
    def multi_objective(self) -> bool:
        return bool(self.cost_objectives)


@dataclass(frozen=True)
class ComponentSection:
    """A sampler or pruner: its type and keyword arguments for the Optuna class."""

    type: str
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    key: str = ""  # where it stands in the file, for error messages


@dataclass(frozen=True)
class ParetoPruning:
    """`pruner: pareto`, for a multi-objective study (Optuna's pruners need one objective):
    a trial stops at an epoch where it is behind the median, at the same epoch, of the
    complete trials that cost no more on every cost objective (search/pareto_pruning.py)."""

    n_startup_trials: int = 2  # complete trials before any trial is pruned
    n_warmup_steps: int = 1  # epochs (0-based) before which no trial is pruned
    n_min_trials: int = 2  # cheaper-or-equal complete trials needed to compare with


@dataclass(frozen=True)
class DataSection:
    validation_split: float = 0.2  # share of the training images held out, stratified
    train_size: int | None = None  # stratified subset of the 60,000 (None = all)
    test_size: int | None = None  # stratified subset of the 10,000 (None = all)


@dataclass(frozen=True)
class TrackingSection:
    uri: str  # MLflow tracking URI; MLFLOW_TRACKING_URI overrides it
    experiment: str


@dataclass(frozen=True)
class RegistrySection:
    model_name: str = "fashion-mnist-classifier"
    alias: str = "champion"
    promote: str = "if_better"  # never | always | if_better (on test accuracy)
    # The study's model is its most accurate complete trial (on the validation metric) within
    # these maxima of the serving costs; empty: the most accurate of all.
    choose: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class WorkersSection:
    heartbeat_interval: int = 10  # seconds between a running trial's heartbeats (RDB storages)
    grace_period: int = 30  # seconds without a heartbeat before a trial counts as dead
    max_consecutive_failures: int = 5  # failed trials in a row that stop a worker
    storage_retry_seconds: int = 120  # how long a dropped store connection is retried (0: never)
    # Draws over the budget in a row that stop a worker: the space has (next to) nothing
    # within it. Each costs under a second, so this bounds the time to say so.
    max_consecutive_over_budget: int = 50


@dataclass(frozen=True)
class FinalSection:
    """Retrain the best configuration after the search; that model is the one registered."""

    epochs: int | None = None  # None: the best trial's own epochs
    data: str = "train+validation"  # what it trains on: train+validation | train
    # Images drawn for the retrain (None: the study's data.train_size): trials may search on
    # a subset, a cheaper fidelity, and the model that ships learn from all 60,000.
    train_size: int | None = None


@dataclass(frozen=True)
class StudyConfig:
    path: Path
    study: StudySection
    storage: str  # SQLAlchemy URL, or a path for Optuna's journal file; OPTUNA_STORAGE overrides
    sampler: ComponentSection
    pruner: ComponentSection
    search_space: SearchSpace
    data: DataSection
    tracking: TrackingSection
    registry: RegistrySection
    workers: WorkersSection = WorkersSection()
    final: FinalSection | None = None  # no final retrain unless the file asks
    design: DesignSection | None = None  # a designed experiment (config/design.py), if any
    # The most each serving cost (COSTS) may be: a configuration over it is never trained.
    budget: Mapping[str, float] = field(default_factory=dict)
    # The parsed file, kept for the line numbers of keys found wrong after load.
    source: YamlDocument | None = field(default=None, compare=False, repr=False)

    def error(self, key: str, message: str) -> ConfigError:
        """A ConfigError for a key found wrong after load (e.g. a sampler kwarg Optuna
        rejects), with the key's line from the parse kept on the config."""
        path = tuple(key.split("."))
        if self.source is None:
            return ConfigError(self.path, path, message)
        return self.source.error(path, message)
