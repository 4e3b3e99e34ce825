"""Reading one hyperparameter from the flat params dict: its default when absent, the check
that it is in range, and the two errors a bad value raises (before anything trains)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fashion_models.config.vocabulary import DEFAULTS
from fashion_models.errors import TrialError

INPUT_SHAPE = (28, 28, 1)  # every model takes 28x28 grey images and answers 10 classes
NUM_CLASSES = 10


class ArchitectureError(TrialError, ValueError):
    """The params describe a network that cannot be built (e.g. the image shrinks below 1x1)."""


class UnknownNameError(TrialError, ValueError):
    """A model type, optimizer, pooling or padding outside the vocabulary (a study file is
    checked against it at load; this guards direct callers)."""


def param(params: Mapping[str, Any], name: str) -> Any:
    return params.get(name, DEFAULTS[name])


def choice(value: Any, name: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise UnknownNameError(f"{name} must be one of {allowed}, but got {value!r}.")
    return str(value)


def as_bool(value: Any, name: str) -> bool:
    # bool("false") is True, so only accept real booleans (and 0/1 from integer spaces).
    if isinstance(value, bool) or value in (0, 1):
        return bool(value)
    raise UnknownNameError(f"{name} must be a boolean, but got {value!r}.")


def positive_int(value: Any, name: str, minimum: int = 1) -> int:
    number = int(value)
    if number < minimum:
        raise ArchitectureError(f"{name} must be >= {minimum}, but got {value!r}.")
    return number


def bn_momentum(params: Mapping[str, Any]) -> float:
    momentum = float(param(params, "bn_momentum"))
    if not 0.0 <= momentum < 1.0:
        raise ArchitectureError(f"bn_momentum must be in [0, 1), but got {momentum!r}.")
    return momentum


def rate_in_range(value: Any, name: str) -> float:
    rate = float(value)
    if not 0.0 <= rate < 1.0:
        raise ArchitectureError(f"{name} must be in [0, 1), but got {rate!r}.")
    return rate
