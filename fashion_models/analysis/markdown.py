"""The design's report as Markdown: the answer first, then every cell, the figures, and how
it was made. Every number and the verdict come from the cells; nothing is written by hand."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from fashion_models.analysis.answer import Answer
from fashion_models.analysis.cells import Cell
from fashion_models.analysis.figures import FIGURES
from fashion_models.analysis.stats import Summary, seconds


def _pm(s: Summary) -> str:
    return f"{s.mean:.4f} ± {s.sd:.4f}" if s.n > 1 else f"{s.mean:.4f}"


def _ci(s: Summary) -> str:
    return f"[{s.low:.4f}, {s.high:.4f}]" if s.n > 1 else "-"


def _cell_line(name: str, c: Cell, factor: str) -> str:
    test, took = c.summary("test_accuracy"), seconds(float(c.values["train_seconds"].mean()))
    return (
        f"- {name}: {factor} = {c.level} at {c.epochs} epochs: test accuracy {_pm(test)} "
        f"(95% CI {_ci(test)}), validation accuracy {_pm(c.summary('val_accuracy'))}, "
        f"{took} of training, {c.param_count:,} parameters, seeds {list(c.seeds)}"
    )


def table(cells: Sequence[Cell], factor: str) -> str:
    head = (
        f"| {factor} | epochs | seeds | test accuracy | test 95% CI | validation accuracy "
        "| validation 95% CI | train - val gap | parameters | training |\n"
        "|---:|---:|---:|---|---|---|---|---:|---:|---:|"
    )
    rows = []
    for c in cells:
        test, val = c.summary("test_accuracy"), c.summary("val_accuracy")
        took = seconds(float(c.values["train_seconds"].mean()))
        rows.append(
            f"| {c.level} | {c.epochs} | {len(c.seeds)} | {_pm(test)} | {_ci(test)} | {_pm(val)} "
            f"| {_ci(val)} | {c.gap.mean:+.4f} | {c.param_count:,} | {took} |"
        )
    return "\n".join([head, *rows])


def report(cells: Sequence[Cell], answer: Answer, about: Mapping[str, str], title: str) -> str:
    """The whole report.md. `about` lists where the numbers came from (study, commits)."""
    ref = answer.reference
    best_val = max(cells, key=lambda c: float(np.mean(c.values["val_accuracy"])))
    lines = [
        f"# {title}",
        "",
        f"Does a network with another {answer.factor} beat {answer.factor} = {ref.level} "
        f"trained for {ref.epochs} epochs (the reference), in no more training time?",
        "",
        "## Answer",
        "",
        f"**{answer.sentence}**",
        "",
        f"Verdict: **{answer.verdict}**.",
        "",
        _cell_line("Reference", ref, answer.factor),
    ]
    if answer.best is not None:
        lines.append(_cell_line("Best cell within its time", answer.best, answer.factor))
    lines += [
        _cell_line("Best cell overall, by validation accuracy", best_val, answer.factor),
        "",
        "The best cell is chosen on validation accuracy among the cells of another "
        f"{answer.factor} whose mean training time is at most the reference's "
        f"({seconds(answer.reference_seconds)}); test accuracy is only reported. The difference "
        "is paired by training seed (the same seed trains both cells), and its 95% interval "
        "is Student's t over the seeds: yes when the whole interval is above zero, no when "
        "below, otherwise not distinguishable.",
        "",
        "## Every cell",
        "",
        "Mean ± sample standard deviation over seeds; 95% confidence intervals of the mean "
        "(Student's t). A cell with e epochs is the first e epochs of each seed's run, "
        "evaluated on validation and test after every epoch; training seconds are the "
        "epochs' fit time (training and validation passes), without the test passes.",
        "",
        table(cells, answer.factor),
        "",
        "## Figures",
        "",
        *[f"![{name.removesuffix('.png')}]({name})" for name in FIGURES],
        "",
        "## How it was made",
        "",
        *[f"- {key}: {value}" for key, value in about.items()],
        "",
    ]
    return "\n".join(lines)
