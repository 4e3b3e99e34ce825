"""The `design:` section: a designed experiment, one factor of the search space against epochs.

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
from fashion_models.config.yaml_source import YamlDocument, describe


@dataclass(frozen=True)
class DesignSection:
    factor: str  # the search-space param varied, e.g. conv_layers
    levels: tuple[Any, ...]  # its values, in the order of the search space
    epochs: int  # every run's epochs (the search space's fixed `epochs`)
    reference: Any  # the factor's value in the reference cell (the baseline model)
    reference_epochs: int  # the reference cell's epochs


def load_design(
    doc: YamlDocument, raw: Any, space: SearchSpace, sampler: str, repeats: int
) -> DesignSection:
    key = ("design",)
    raw = mapping(doc, key, raw, ("factor", "reference"), required=("factor", "reference"))
    factor = string(doc, (*key, "factor"), raw["factor"])
    spec = space.spec(factor)
    if spec is None or spec.per_layer is not None or spec.type == "float":
        raise doc.error(
            (*key, "factor"),
            f"expected a whole-model int or categorical param of {space.path.name}, "
            f"found {describe(factor)}",
        )
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
    ref = mapping(
        doc, (*key, "reference"), raw["reference"], (factor, "epochs"), (factor, "epochs")
    )
    levels = tuple(spec.values())
    if ref[factor] not in levels:
        raise doc.error(
            (*key, "reference", factor),
            f"expected one of {list(levels)}, found {describe(ref[factor])}",
        )
    ref_epochs = integer(doc, (*key, "reference", "epochs"), ref["epochs"], 1)
    if ref_epochs > int(epochs.value):
        raise doc.error(
            (*key, "reference", "epochs"),
            f"expected at most the runs' {epochs.value} epochs, found {ref_epochs}",
        )
    return DesignSection(factor, levels, int(epochs.value), ref[factor], ref_epochs)
