"""One parameter of a search space, validated: how it is suggested to Optuna, and its grid."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import optuna


@dataclass(frozen=True)
class ParamSpec:
    """One parameter of a search space, validated."""

    name: str
    type: str
    low: float | None = None
    high: float | None = None
    step: float | None = None
    log: bool = False
    choices: tuple[Any, ...] = ()
    value: Any = None
    per_layer: str | None = None

    def suggest(self, trial: optuna.trial.BaseTrial, name: str, layer: int | None = None) -> Any:
        """Ask `trial` for this param under `name` (fixed params are not asked; a fixed
        per-layer list gives layer i its i-th value)."""
        if self.type == "fixed":
            if isinstance(self.value, tuple) and layer is not None:
                return self.value[layer]
            return self.value
        if self.type == "categorical":
            return trial.suggest_categorical(name, list(self.choices))
        assert self.low is not None and self.high is not None  # guaranteed by load
        if self.type == "int":
            step = int(self.step) if self.step is not None else 1
            return trial.suggest_int(name, int(self.low), int(self.high), step=step, log=self.log)
        return trial.suggest_float(name, self.low, self.high, step=self.step, log=self.log)

    def values(self) -> list[Any]:
        """Every value this param can take (for a grid); floats need a step."""
        if self.type == "fixed":
            return [self.value]
        if self.type == "categorical":
            return list(self.choices)
        assert self.low is not None and self.high is not None
        if self.type == "int":
            return list(range(int(self.low), int(self.high) + 1, int(self.step or 1)))
        if self.step is None:
            raise ValueError(f"float param {self.name!r} has no step, so it has no finite grid")
        count = int(math.floor((self.high - self.low) / self.step + 1e-9)) + 1
        return [round(self.low + i * self.step, 12) for i in range(count)]
