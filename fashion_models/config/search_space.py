"""Search-space files -> validated parameter specs -> Optuna suggestions.

A file names a model (cnn|mlp|resnet), or a list of them to search over (the `model` param,
sampled first; each param is then sampled only for the families that take it), and its
params. Each param is
``{type: int|float|categorical|fixed, low, high, step, log, choices, value, per_layer}``;
``per_layer: conv_layers`` samples ``filters_0 .. filters_{n-1}`` for the n layers that exist.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fashion_models.config.params import ParamSpec
from fashion_models.config.vocabulary import MODEL_TYPES, RULES
from fashion_models.config.yaml_source import KeyPath, YamlDocument, describe, load_yaml

if TYPE_CHECKING:
    import optuna

PARAM_TYPES = ("int", "float", "categorical", "fixed")  # the `type:` of a param
_KEYS_BY_TYPE = {
    "int": {"low", "high", "step", "log"},
    "float": {"low", "high", "step", "log"},
    "categorical": {"choices"},
    "fixed": {"value"},
}
# Spec types each kind of vocabulary param may use.
_TYPES_BY_KIND = {
    "int": ("int", "categorical", "fixed"),
    "float": ("float", "categorical", "fixed"),
    "bool": ("categorical", "fixed"),
    "choice": ("categorical", "fixed"),
}
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


MODEL = "model"  # the param of a space over several families: which one a trial builds


@dataclass(frozen=True)
class SearchSpace:
    """A validated search-space file."""

    path: Path
    model: str  # the family; of a space over several, the first (model_of says which)
    params: tuple[ParamSpec, ...]
    models: tuple[str, ...] = ()  # the families searched over (empty: `model` alone)

    @property
    def families(self) -> tuple[str, ...]:
        return self.models or (self.model,)

    def model_of(self, params: Mapping[str, Any]) -> str:
        """The family a configuration builds: its sampled `model`, else the space's one."""
        return str(params.get(MODEL, self.model))

    def spec(self, name: str) -> ParamSpec | None:
        return next((p for p in self.params if p.name == name), None)

    def suggest(self, trial: optuna.trial.BaseTrial) -> dict[str, Any]:
        """Sample one configuration: the family first (a space over several), then shared
        params, then per-layer params for the layers that exist, so that absent layers (and
        params of another family) never get a sampled value."""
        out: dict[str, Any] = {}
        if self.models:
            out[MODEL] = trial.suggest_categorical(MODEL, list(self.models))
        family = self.model_of(out)
        taken = [p for p in self.params if family in RULES[p.name].models]
        for p in taken:
            if p.per_layer is None:
                out[p.name] = p.suggest(trial, p.name)
        for p in taken:
            if p.per_layer is not None:
                for i in range(int(out[p.per_layer])):
                    out[f"{p.name}_{i}"] = p.suggest(trial, f"{p.name}_{i}", layer=i)
        return out

    def grid(self) -> dict[str, list[Any]]:
        """The search space as GridSampler wants it (per-layer params up to the most layers)."""
        out: dict[str, list[Any]] = {MODEL: list(self.models)} if self.models else {}
        for p in self.params:
            if p.type == "fixed":
                continue
            if p.per_layer is None:
                out[p.name] = p.values()
                continue
            count_spec = self.spec(p.per_layer)
            assert count_spec is not None
            for i in range(int(max(count_spec.values()))):
                out[f"{p.name}_{i}"] = p.values()
        return out


def load_search_space(path: str | Path) -> SearchSpace:
    """Load and validate a search-space file; every problem is a ConfigError."""
    doc = load_yaml(path)
    if not isinstance(doc.data, dict):
        raise doc.error(
            (), f"expected a mapping with keys model and params, found {describe(doc.data)}"
        )
    unknown = sorted(set(doc.data) - {"model", "params", "description"})
    if unknown:
        raise doc.error((unknown[0],), "unknown key (allowed: model, params, description)")
    if not isinstance(doc.data.get("description", ""), str):
        raise doc.error(
            ("description",), f"expected text, found {describe(doc.data['description'])}"
        )
    model = doc.data.get("model")
    if isinstance(model, list) and len(model) == 1:
        model = model[0]
    models = tuple(model) if isinstance(model, list) else ()
    for index, family in enumerate(models or (model,)):
        if family not in MODEL_TYPES:
            where: KeyPath = ("model", index) if models else ("model",)
            raise doc.error(where, f"expected one of {list(MODEL_TYPES)}, found {describe(family)}")
    if len(set(models)) != len(models):
        raise doc.error(("model",), f"expected distinct families, found {model}")
    raw = doc.data.get("params")
    if not isinstance(raw, dict) or not raw:
        raise doc.error(
            ("params",), f"expected a non-empty mapping of params, found {describe(raw)}"
        )
    specs = tuple(_load_param(doc, models or (model,), name, spec) for name, spec in raw.items())
    by_name = {s.name: s for s in specs}
    for s in specs:
        if s.per_layer is not None:
            _check_layer_count(doc, s, by_name.get(s.per_layer))
    return SearchSpace(Path(path), str(models[0] if models else model), specs, models)


def _load_param(doc: YamlDocument, models: tuple[str, ...], name: str, raw: Any) -> ParamSpec:
    key: KeyPath = ("params", name)
    rule = RULES.get(name)
    if rule is None:
        known = ", ".join(RULES)
        raise doc.error(key, f"unknown parameter (known: {known})")
    if not set(models) & set(rule.models):
        raise doc.error(key, f"not a parameter of a {' or '.join(models)} model")
    if not isinstance(raw, dict):
        raise doc.error(key, f"expected a mapping with a type key, found {describe(raw)}")
    kind = raw.get("type")
    if kind not in PARAM_TYPES:
        raise doc.error(
            (*key, "type"), f"expected one of {list(PARAM_TYPES)}, found {describe(kind)}"
        )
    if kind not in _TYPES_BY_KIND[rule.kind]:
        allowed = list(_TYPES_BY_KIND[rule.kind])
        raise doc.error(
            (*key, "type"),
            f"{name} is a {rule.kind} parameter: expected one of {allowed}, found {kind!r}",
        )
    extra = sorted(set(raw) - _KEYS_BY_TYPE[kind] - {"type", "per_layer"})
    if extra:
        keys = ", ".join(sorted(_KEYS_BY_TYPE[kind] | {"type", "per_layer"}))
        raise doc.error((*key, extra[0]), f"unknown key for a {kind} param (allowed: {keys})")
    per_layer = raw.get("per_layer")
    if per_layer is not None and per_layer != rule.layers:
        expected = (
            f"per_layer: {rule.layers}"
            if rule.layers
            else "no per_layer (it is one value for the whole model)"
        )
        raise doc.error((*key, "per_layer"), f"expected {expected}, found {describe(per_layer)}")
    if kind == "fixed":
        spec = _fixed(doc, key, name, raw, per_layer)
    elif kind == "categorical":
        spec = _categorical(doc, key, name, raw, per_layer)
    else:
        spec = _range(doc, key, name, kind, raw, per_layer)
    _check_domain(doc, key, spec)
    return spec


def _fixed(
    doc: YamlDocument, key: KeyPath, name: str, raw: dict[str, Any], per_layer: str | None
) -> ParamSpec:
    if "value" not in raw:
        raise doc.error(key, "a fixed param needs a value")
    value = raw["value"]
    if isinstance(value, list) and per_layer is not None:
        if not value:
            raise doc.error((*key, "value"), "expected one value per layer, found an empty list")
        values = tuple(_scalar(doc, (*key, "value", i), v) for i, v in enumerate(value))
        return ParamSpec(name, "fixed", value=values, per_layer=per_layer)
    return ParamSpec(name, "fixed", value=_scalar(doc, (*key, "value"), value), per_layer=per_layer)


def _categorical(
    doc: YamlDocument, key: KeyPath, name: str, raw: dict[str, Any], per_layer: str | None
) -> ParamSpec:
    choices = raw.get("choices")
    if not isinstance(choices, list) or not choices:
        raise doc.error((*key, "choices"), f"expected a non-empty list, found {describe(choices)}")
    values = tuple(_scalar(doc, (*key, "choices", i), c) for i, c in enumerate(choices))
    # By value, as a model sees them (0 and 0.0 are one choice), but a bool is not a number.
    if len({(isinstance(v, bool), v) for v in values}) != len(values):
        raise doc.error((*key, "choices"), "choices must be distinct")
    return ParamSpec(name, "categorical", choices=values, per_layer=per_layer)


def _range(
    doc: YamlDocument,
    key: KeyPath,
    name: str,
    kind: str,
    raw: dict[str, Any],
    per_layer: str | None,
) -> ParamSpec:
    integer = kind == "int"
    for needed in ("low", "high"):
        if needed not in raw:
            raise doc.error(key, f"an {kind} param needs low and high; {needed} is missing")
    low = _number(doc, (*key, "low"), raw["low"], integer)
    high = _number(doc, (*key, "high"), raw["high"], integer)
    step = (
        _number(doc, (*key, "step"), raw["step"], integer) if raw.get("step") is not None else None
    )
    log = raw.get("log", False)
    if not isinstance(log, bool):
        raise doc.error((*key, "log"), f"expected true or false, found {describe(log)}")
    if low > high:
        raise doc.error(key, f"`low <= high` must hold, but got (low={low}, high={high})")
    if log and low <= 0:
        raise doc.error((*key, "low"), f"a log-scale range needs low > 0, found {low}")
    if step is not None and step <= 0:
        raise doc.error((*key, "step"), f"expected a step > 0, found {step}")
    if log and step is not None and (kind == "float" or step != 1):
        raise doc.error((*key, "step"), "step cannot be combined with log: true")
    return ParamSpec(name, kind, low=low, high=high, step=step, log=log, per_layer=per_layer)


def _scalar(doc: YamlDocument, key: KeyPath, value: Any) -> Any:
    if isinstance(value, str) and _NUMBER.match(value):
        return float(value)  # YAML 1.1 reads 1e-3 as a string; every user means the number
    if value is not None and not isinstance(value, (bool, int, float, str)):
        raise doc.error(key, f"expected a number, string or boolean, found {describe(value)}")
    return value


def _number(doc: YamlDocument, key: KeyPath, value: Any, integer: bool) -> Any:
    value = _scalar(doc, key, value)
    if integer and isinstance(value, float) and value.is_integer() and not isinstance(value, bool):
        value = int(value)
    ok = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok or (isinstance(value, float) and not math.isfinite(value)):
        raise doc.error(
            key, f"expected {'an integer' if integer else 'a number'}, found {describe(value)}"
        )
    return value


def _check_domain(doc: YamlDocument, key: KeyPath, spec: ParamSpec) -> None:
    rule = RULES[spec.name]
    candidates: list[tuple[KeyPath, Any]]
    if spec.type == "fixed" and isinstance(spec.value, tuple):
        candidates = [(("value", i), v) for i, v in enumerate(spec.value)]
    elif spec.type == "fixed":
        candidates = [(("value",), spec.value)]
    elif spec.type == "categorical":
        candidates = [(("choices", i), c) for i, c in enumerate(spec.choices)]
    else:
        candidates = [(("low",), spec.low), (("high",), spec.high)]
    for where, value in candidates:
        problem = rule.problem(value)
        if problem is not None:
            raise doc.error((*key, *where), f"{spec.name}: {problem}, found {describe(value)}")


def _check_layer_count(doc: YamlDocument, spec: ParamSpec, count: ParamSpec | None) -> None:
    key: KeyPath = ("params", spec.name, "per_layer")
    if count is None:
        raise doc.error(key, f"per_layer points at {spec.per_layer!r}, which is not in params")
    ints = all(isinstance(v, int) and not isinstance(v, bool) for v in count.values())
    if count.type == "float" or not ints:
        raise doc.error(
            key, f"per_layer points at {spec.per_layer!r}, which is not an integer param"
        )
    most = max(count.values())
    if isinstance(spec.value, tuple) and len(spec.value) < most:
        raise doc.error(
            ("params", spec.name, "value"),
            f"expected one value per layer ({spec.per_layer} goes up to {most}), "
            f"found {len(spec.value)}",
        )
