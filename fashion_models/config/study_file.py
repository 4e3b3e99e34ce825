"""Study files -> a frozen, typed StudyConfig. Every user error is raised here, at load."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from fashion_models.config.checks import integer, mapping, string
from fashion_models.config.components import (
    MULTI_OBJECTIVE_PRUNERS,
    PARETO,
    PRUNERS,
    SAMPLERS,
)
from fashion_models.config.design import load_design
from fashion_models.config.search_space import load_search_space
from fashion_models.config.sections import (
    COSTS,
    DEFAULT_STORAGE,
    DEFAULT_TRACKING_URI,
    FINAL_DATA,
    METRIC_DIRECTIONS,
    PROMOTE_RULES,
    ComponentSection,
    DataSection,
    FinalSection,
    RegistrySection,
    StudyConfig,
    StudySection,
    TrackingSection,
    WorkersSection,
)
from fashion_models.config.stores import GRPC_FORM, grpc_address, is_grpc
from fashion_models.config.yaml_source import (
    ConfigError,
    KeyPath,
    YamlDocument,
    describe,
    load_yaml,
)

_TOP_KEYS = (
    "study",
    "storage",
    "sampler",
    "pruner",
    "search_space",
    "data",
    "tracking",
    "registry",
    "workers",
    "final",
    "design",
    "budget",
)

# final.on, and the `true` a YAML 1.1 round trip makes of it: now final.data.
_RENAMED_FINAL_KEYS = ("on", "true")


def load_config(path: str | Path, env: Mapping[str, str] | None = None) -> StudyConfig:
    """Load and validate a study file and its search space (nothing is written anywhere)."""
    env = os.environ if env is None else env
    doc = load_yaml(path)
    top = mapping(doc, (), doc.data, _TOP_KEYS, required=("study", "search_space"))
    study = _study(doc, top["study"])
    space_name = top["search_space"]
    if not isinstance(space_name, str) or not space_name:
        raise doc.error(
            ("search_space",),
            f"expected a path to a search-space file, found {describe(space_name)}",
        )
    space_path = (doc.path.parent / space_name).resolve()
    if not space_path.is_file():
        raise doc.error(("search_space",), f"search-space file not found: {space_path}")
    storage = _url(doc, ("storage",), top.get("storage", DEFAULT_STORAGE), env, "OPTUNA_STORAGE")
    sampler = _component(doc, ("sampler",), top.get("sampler", "tpe"), tuple(SAMPLERS))
    space = load_search_space(space_path)
    if study.repeats > 1 and sampler.type != "grid":
        raise doc.error(
            ("study", "repeats"),
            f"repeats trains each grid point with several seeds: expected sampler grid, "
            f"found {sampler.type!r}",
        )
    design = top.get("design")
    return StudyConfig(
        path=doc.path,
        study=study,
        storage=storage,
        sampler=sampler,
        pruner=_pruner(doc, top, study),
        search_space=space,
        data=_data(doc, top.get("data", {})),
        tracking=_tracking(doc, top.get("tracking", {}), study.name, env),
        registry=_registry(doc, top.get("registry", {})),
        workers=_workers(doc, top.get("workers", {})),
        final=_final(doc, top["final"]) if "final" in top else None,
        design=load_design(doc, design, space, sampler.type, study.repeats) if design else None,
        budget=_cost_maxima(doc, ("budget",), top.get("budget", {})),
        source=doc,
    )


def _study(doc: YamlDocument, raw: Any) -> StudySection:
    allowed = ("name", "direction", "metric", "metrics", "n_trials", "timeout", "seed", "repeats")
    raw = mapping(doc, ("study",), raw, allowed, required=("name", "n_trials"))
    metric, costs = _metrics(doc, raw)
    direction = raw.get("direction", METRIC_DIRECTIONS[metric])
    if direction not in ("maximize", "minimize"):
        raise doc.error(
            ("study", "direction"), f"expected maximize or minimize, found {describe(direction)}"
        )
    if direction != METRIC_DIRECTIONS[metric]:
        raise doc.error(
            ("study", "direction"),
            f"{metric} must be {METRIC_DIRECTIONS[metric]}d, found {direction!r}",
        )
    timeout = raw.get("timeout")
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0
    ):
        raise doc.error(
            ("study", "timeout"), f"expected a number of seconds > 0, found {describe(timeout)}"
        )
    return StudySection(
        name=string(doc, ("study", "name"), raw["name"]),
        n_trials=integer(doc, ("study", "n_trials"), raw["n_trials"], 1),
        metric=metric,
        direction=direction,
        timeout=timeout,
        seed=integer(doc, ("study", "seed"), raw.get("seed", 0), 0),
        repeats=integer(doc, ("study", "repeats"), raw.get("repeats", 1), 1),
        cost_objectives=costs,
    )


def _metrics(doc: YamlDocument, raw: dict[str, Any]) -> tuple[str, tuple[str, ...]]:
    """`metric`, or `metrics: [metric, cost, ...]` (a multi-objective study: the metric
    trained and pruned on first, then the serving costs minimized beside it)."""
    if "metrics" not in raw:
        metric = raw.get("metric", "val_accuracy")
        if metric not in METRIC_DIRECTIONS:
            raise doc.error(
                ("study", "metric"),
                f"expected one of {list(METRIC_DIRECTIONS)}, found {describe(metric)}",
            )
        return metric, ()
    if "metric" in raw:
        raise doc.error(("study", "metrics"), "give metric or metrics, not both")
    metrics = raw["metrics"]
    if not isinstance(metrics, list) or not metrics:
        raise doc.error(
            ("study", "metrics"),
            f"expected a list: a metric, then serving costs, found {describe(metrics)}",
        )
    if metrics[0] not in METRIC_DIRECTIONS:
        raise doc.error(
            ("study", "metrics", 0),
            f"expected the metric trials are trained and pruned on first, one of "
            f"{list(METRIC_DIRECTIONS)}, found {describe(metrics[0])}",
        )
    for index, name in enumerate(metrics[1:], start=1):
        if name not in COSTS:
            raise doc.error(
                ("study", "metrics", index),
                f"expected a serving cost, one of {list(COSTS)}, found {describe(name)}",
            )
        if name in metrics[1:index]:
            raise doc.error(("study", "metrics", index), f"{name} is already an objective")
    return metrics[0], tuple(metrics[1:])


def _pruner(doc: YamlDocument, top: dict[str, Any], study: StudySection) -> ComponentSection:
    """Optuna's pruners for one objective; `pareto` (the default) or `none` for several."""
    multi = study.multi_objective
    raw = top.get("pruner", PARETO if multi else "median")
    pruner = _component(doc, ("pruner",), raw, (*PRUNERS, PARETO))
    if multi and pruner.type not in MULTI_OBJECTIVE_PRUNERS:
        raise doc.error(
            ("pruner", "type"),
            f"a multi-objective study (study.metrics) prunes with {PARETO} or none (Optuna's "
            f"pruners need one objective), found {pruner.type!r}",
        )
    if not multi and pruner.type == PARETO:
        raise doc.error(
            ("pruner", "type"),
            f"{PARETO} prunes a multi-objective study: name serving costs in study.metrics, "
            "or choose one of Optuna's pruners",
        )
    return pruner


def _component(
    doc: YamlDocument, key: KeyPath, raw: Any, types: tuple[str, ...]
) -> ComponentSection:
    if isinstance(raw, str):
        raw = {"type": raw}
    if not isinstance(raw, dict):
        raise doc.error(key, f"expected a mapping with a type key, found {describe(raw)}")
    kind = raw.get("type")
    if kind not in types:
        raise doc.error((*key, "type"), f"expected one of {list(types)}, found {describe(kind)}")
    kwargs = {k: v for k, v in raw.items() if k != "type"}
    if key == ("pruner",) and kind == "patient":
        inner = kwargs.get("wrapped_pruner", {"type": "median"})
        others = tuple(t for t in types if t != "patient")
        kwargs["wrapped_pruner"] = _component(doc, (*key, "wrapped_pruner"), inner, others)
    return ComponentSection(kind, kwargs, ".".join(map(str, key)))


def _data(doc: YamlDocument, raw: Any) -> DataSection:
    raw = mapping(doc, ("data",), raw, ("validation_split", "train_size", "test_size"))
    split = raw.get("validation_split", 0.2)
    if isinstance(split, bool) or not isinstance(split, (int, float)) or not 0 < split < 1:
        raise doc.error(
            ("data", "validation_split"), f"expected a number in (0, 1), found {describe(split)}"
        )
    sizes = {}
    for name, most in (("train_size", 60_000), ("test_size", 10_000)):
        value = raw.get(name)
        if value is not None:
            value = integer(doc, ("data", name), value, 100)
            if value > most:
                raise doc.error(("data", name), f"expected at most {most:,}, found {value:,}")
        sizes[name] = value
    pool = sizes["train_size"] or 60_000
    held_out = round(pool * split)
    if min(held_out, pool - held_out) < 10:  # every class needs a place in both splits
        raise doc.error(
            ("data", "validation_split"),
            f"expected a split leaving at least 10 images on each side of {pool:,} training "
            f"images, found {split} ({held_out:,} for validation)",
        )
    return DataSection(float(split), sizes["train_size"], sizes["test_size"])


def _tracking(
    doc: YamlDocument, raw: Any, study_name: str, env: Mapping[str, str]
) -> TrackingSection:
    raw = mapping(doc, ("tracking",), raw, ("uri", "experiment"))
    uri = _url(
        doc, ("tracking", "uri"), raw.get("uri", DEFAULT_TRACKING_URI), env, "MLFLOW_TRACKING_URI"
    )
    experiment = string(doc, ("tracking", "experiment"), raw.get("experiment", study_name))
    return TrackingSection(uri, experiment)


def _url(doc: YamlDocument, key: KeyPath, value: Any, env: Mapping[str, str], var: str) -> str:
    """The storage or tracking URL, from the environment variable if set; checked offline."""
    url = env.get(var) or string(doc, key, value)
    tracking = key[0] == "tracking"
    problem = _url_problem(url, tracking)
    if problem is None:
        return url
    if env.get(var):
        raise ConfigError(doc.path, f"{var} (environment)", f"{problem}, found {url!r}")
    raise doc.error(key, f"{problem}, found {url!r}")


def _url_problem(url: str, tracking: bool) -> str | None:
    expected = (
        "expected an MLflow tracking URI (sqlite:///..., postgresql+psycopg://..., http(s)://...)"
        if tracking
        else "expected an SQLAlchemy URL (sqlite:///..., postgresql+psycopg://...), "
        f"a storage proxy's {GRPC_FORM} or a journal file path"
    )
    if is_grpc(url) and not tracking:
        try:
            grpc_address(url)
        except ValueError as exc:
            return f"expected a storage proxy's {GRPC_FORM}: {exc}"
        return None
    if "://" not in url:
        return expected if tracking else None
    if tracking and url.split("://")[0] in ("http", "https", "databricks"):
        return None
    why = _sqlalchemy_problem(url)
    return None if why is None else f"{expected}: {why}"


def proxied_storage_problem(url: str) -> str | None:
    """What is wrong with `url` as the storage a storage proxy serves (None: nothing): Optuna's
    proxy serves a database (RDBStorage), not a journal file or another proxy."""
    expected = "expected the SQLAlchemy URL of a database (postgresql+psycopg://..., sqlite:///...)"
    if "://" not in url or is_grpc(url):
        return expected
    why = _sqlalchemy_problem(url)
    return None if why is None else f"{expected}: {why}"


def _sqlalchemy_problem(url: str) -> str | None:
    try:
        make_url(url).get_dialect()  # imports the dialect and driver; connects to nothing
    except (ArgumentError, NoSuchModuleError, ImportError) as exc:
        return str(exc)
    return None


def _registry(doc: YamlDocument, raw: Any) -> RegistrySection:
    raw = mapping(doc, ("registry",), raw, ("model_name", "alias", "promote", "choose"))
    defaults = RegistrySection()
    promote = raw.get("promote", defaults.promote)
    if promote not in PROMOTE_RULES:
        raise doc.error(
            ("registry", "promote"),
            f"expected one of {list(PROMOTE_RULES)}, found {describe(promote)}",
        )
    return RegistrySection(
        model_name=string(
            doc, ("registry", "model_name"), raw.get("model_name", defaults.model_name)
        ),
        alias=string(doc, ("registry", "alias"), raw.get("alias", defaults.alias)),
        promote=promote,
        choose=_cost_maxima(doc, ("registry", "choose"), raw.get("choose", {})),
    )


def _workers(doc: YamlDocument, raw: Any) -> WorkersSection:
    names = (
        "heartbeat_interval",
        "grace_period",
        "max_consecutive_failures",
        "max_consecutive_over_budget",
    )
    raw = mapping(doc, ("workers",), raw, (*names, "storage_retry_seconds"))
    defaults = WorkersSection()
    values = {n: integer(doc, ("workers", n), raw.get(n, getattr(defaults, n)), 1) for n in names}
    retry = raw.get("storage_retry_seconds", defaults.storage_retry_seconds)
    values["storage_retry_seconds"] = integer(doc, ("workers", "storage_retry_seconds"), retry, 0)
    section = WorkersSection(**values)
    if section.grace_period <= section.heartbeat_interval:
        raise doc.error(
            ("workers", "grace_period"),
            f"expected more than heartbeat_interval ({section.heartbeat_interval}), "
            f"found {section.grace_period}",
        )
    return section


def _final(doc: YamlDocument, raw: Any) -> FinalSection:
    raw = {} if raw is None else raw
    for old in _RENAMED_FINAL_KEYS:
        if isinstance(raw, dict) and old in raw:
            # `on:` is a YAML 1.1 boolean: a tool that loads and writes the file back turns it
            # into `true:`. The key is `data` now; either old spelling says so.
            raise doc.error(
                ("final", old),
                f"renamed: write `data: {FinalSection.data}` (or `data: train`); `on` is read "
                "as a boolean by YAML 1.1 tools",
            )
    raw = mapping(doc, ("final",), raw, ("epochs", "data", "train_size"))
    epochs = raw.get("epochs")
    if epochs is not None:
        epochs = integer(doc, ("final", "epochs"), epochs, 1)
    data = raw.get("data", FinalSection.data)
    if data not in FINAL_DATA:
        raise doc.error(
            ("final", "data"), f"expected one of {list(FINAL_DATA)}, found {describe(data)}"
        )
    train_size = raw.get("train_size")
    if train_size is not None:
        train_size = integer(doc, ("final", "train_size"), train_size, 100)
        if train_size > 60_000:
            raise doc.error(
                ("final", "train_size"), f"expected at most 60,000, found {train_size:,}"
            )
    return FinalSection(epochs, data, train_size)


def _cost_maxima(doc: YamlDocument, key: KeyPath, raw: Any) -> dict[str, float]:
    """`budget:` or `registry.choose:`: the most each serving cost it names may be, each a
    finite number > 0."""
    raw = mapping(doc, key, raw, COSTS)
    maxima: dict[str, float] = {}
    for name, most in raw.items():
        number = not isinstance(most, bool) and isinstance(most, (int, float))
        if not number or not 0 < most < math.inf:
            raise doc.error(
                (*key, name), f"expected a finite maximum {name} > 0, found {describe(most)}"
            )
        maxima[name] = float(most)
    return maxima
