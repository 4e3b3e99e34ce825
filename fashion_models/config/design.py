"""The `design:` section: a designed experiment, one factor of the search space (optionally
within families, a second factor) against epochs.

Each run trains the fixed number of epochs of the search space and is evaluated after every
epoch (validation and, for the report only, test); the cell (factor = v, epochs = e) of seed s
is the first e epochs of the run of v with seed s. With a constant learning rate that is the
same model as a run of e epochs (tests/run/test_training_run.py proves it), at a fraction of
the cost. `study.repeats` gives each grid point its seeds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fashion_models.config.checks import integer, mapping, string
from fashion_models.config.search_space import SearchSpace
from fashion_models.config.yaml_source import KeyPath, YamlDocument, describe

TIME_AXES = {"cpu": "train_cpu_seconds", "wall": "train_seconds"}  # history key of each
DEFAULT_MARGIN = 0.003  # equivalence margin: 0.3 accuracy points either way (TOST)


@dataclass(frozen=True)
class DesignSection:
    factor: str  # the search-space param varied, e.g. conv_layers
    levels: tuple[Any, ...]  # its values, in the order of the search space
    epochs: int  # every run's epochs (the search space's fixed `epochs`)
    reference: Any  # the factor's value in the reference cell (the baseline model)
    reference_epochs: int  # the reference cell's epochs
    # A second factor, e.g. conv_layout: each of its values is a family of networks over the
    # same levels, with a verdict of its own. None: one family.
    family: str | None = None
    families: tuple[Any, ...] = (None,)
    reference_family: Any = None
    margin: float = DEFAULT_MARGIN  # |difference| below it counts as equivalent (TOST)
    time: str = "cpu"  # the time axis and budget: process CPU seconds, or wall seconds

    @property
    def time_key(self) -> str:
        return TIME_AXES[self.time]


def load_design(
    doc: YamlDocument, raw: Any, space: SearchSpace, sampler: str, repeats: int
) -> DesignSection:
    key = ("design",)
    allowed = ("factor", "family", "reference", "equivalence_margin", "time")
    raw = mapping(doc, key, raw, allowed, required=("factor", "reference"))
    factor = _factor(doc, (*key, "factor"), raw["factor"], space)
    family = None
    if raw.get("family") is not None:
        family = _factor(doc, (*key, "family"), raw["family"], space)
        if family == factor:
            raise doc.error((*key, "family"), f"expected another param than factor {factor!r}")
    epochs = space.spec("epochs")
    if epochs is None or epochs.type != "fixed" or isinstance(epochs.value, tuple):
        raise doc.error(
            (*key, "factor"),
            "a design needs `epochs` fixed in the search space (each run's length)",
        )
    if sampler != "grid":
        raise doc.error(key, f"a design runs every cell: expected sampler grid, found {sampler!r}")
    if repeats < 2:
        raise doc.error(
            key, f"a design needs study.repeats >= 2 to measure the spread, found {repeats}"
        )
    named = (factor, "epochs") if family is None else (family, factor, "epochs")
    ref = mapping(doc, (*key, "reference"), raw["reference"], named, named)
    levels = _levels(doc, (*key, "reference"), space, factor, ref)
    families = (None,) if family is None else _levels(doc, (*key, "reference"), space, family, ref)
    ref_epochs = integer(doc, (*key, "reference", "epochs"), ref["epochs"], 1)
    if ref_epochs > int(epochs.value):
        raise doc.error(
            (*key, "reference", "epochs"),
            f"expected at most the runs' {epochs.value} epochs, found {ref_epochs}",
        )
    margin = raw.get("equivalence_margin", DEFAULT_MARGIN)
    if isinstance(margin, bool) or not isinstance(margin, int | float) or not 0 < margin < 1:
        raise doc.error(
            (*key, "equivalence_margin"),
            f"expected an accuracy difference in (0, 1), e.g. 0.003, found {describe(margin)}",
        )
    time = raw.get("time", "cpu")
    if time not in TIME_AXES:
        raise doc.error(
            (*key, "time"), f"expected one of {list(TIME_AXES)}, found {describe(time)}"
        )
    return DesignSection(
        factor,
        levels,
        int(epochs.value),
        ref[factor],
        ref_epochs,
        family=family,
        families=families,
        reference_family=None if family is None else ref[family],
        margin=float(margin),
        time=time,
    )


def _factor(doc: YamlDocument, key: KeyPath, raw: Any, space: SearchSpace) -> str:
    name = string(doc, key, raw)
    spec = space.spec(name)
    if spec is None or spec.per_layer is not None or spec.type == "float":
        raise doc.error(
            key,
            f"expected a whole-model int or categorical param of {space.path.name}, "
            f"found {describe(name)}",
        )
    return name


def _levels(
    doc: YamlDocument, key: KeyPath, space: SearchSpace, name: str, ref: dict[str, Any]
) -> tuple[Any, ...]:
    """The values of `name` in the search space, the reference's among them."""
    spec = space.spec(name)
    assert spec is not None  # checked by _factor
    levels = tuple(spec.values())
    if ref[name] not in levels:
        raise doc.error(
            (*key, name), f"expected one of {list(levels)}, found {describe(ref[name])}"
        )
    return levels
