"""The design's report as Markdown: the answers first, then what to do, every cell, the
figures, and how it was made. Every number and verdict comes from the cells; nothing is
written by hand."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from fashion_models.analysis.answer import TIME_NAMES, Answers, Comparison, Question
from fashion_models.analysis.cells import Cell
from fashion_models.analysis.figures import FIGURES
from fashion_models.analysis.stats import Summary, seconds, verdict_text


def _pm(s: Summary) -> str:
    return f"{s.mean:.4f} ± {s.sd:.4f}" if s.n > 1 else f"{s.mean:.4f}"


def _ci(s: Summary) -> str:
    return f"[{s.low:.4f}, {s.high:.4f}]" if s.n > 1 else "-"


def _times(c: Cell) -> str:
    """CPU and wall seconds side by side (wall alone for runs from before CPU was logged)."""
    wall = seconds(c.mean("train_seconds"))
    if "train_cpu_seconds" not in c.values:
        return f"- | {wall}"
    return f"{seconds(c.mean('train_cpu_seconds'))} | {wall}"


def _cell_line(name: str, c: Cell, q: Question) -> str:
    test = c.summary("test_accuracy")
    return (
        f"- {name}: {q.name(c)}: test accuracy {_pm(test)} (95% CI {_ci(test)}), validation "
        f"accuracy {_pm(c.summary('val_accuracy'))}, {q.took(c)} of training, "
        f"{c.param_count:,} parameters, {len(c.seeds)} seeds"
    )


def _comparison_line(c: Comparison, q: Question) -> str:
    d = c.difference
    tost = "" if q.margin is None else f", equivalence test p = {c.tost:.3f}"
    return (
        f"  - difference from the reference: {d.mean:+.4f} (95% CI {d.low:+.4f} to "
        f"{d.high:+.4f}, half-width ±{(d.high - d.low) / 2 * 100:.2f} points{tost}): "
        f"**{verdict_text(c.verdict, q.margin)}**"
    )


def table(cells: Sequence[Cell], q: Question) -> str:
    family = "" if q.family is None else f"{q.family} | "
    align = "" if q.family is None else "---|"
    head = (
        f"| {family}{q.factor} | epochs | seeds | test accuracy | test 95% CI | validation "
        "accuracy | validation 95% CI | train - val gap | parameters | CPU s | wall s |\n"
        f"|{align}---:|---:|---:|---|---|---|---|---:|---:|---:|---:|"
    )
    rows = []
    for c in cells:
        test, val = c.summary("test_accuracy"), c.summary("val_accuracy")
        first = "" if q.family is None else f"{c.family} | "
        rows.append(
            f"| {first}{c.level} | {c.epochs} | {len(c.seeds)} | {_pm(test)} | {_ci(test)} "
            f"| {_pm(val)} | {_ci(val)} | {c.gap.mean:+.4f} | {c.param_count:,} | {_times(c)} |"
        )
    return "\n".join([head, *rows])


def _family_section(answers: Answers, index: int) -> list[str]:
    q, answer = answers.question, answers.families[index]
    title = "Deeper networks" if answer.family is None else f"Family {answer.family}"
    lines = [f"### {title}", "", f"**{answer.sentence}**", ""]
    lines.append(f"Verdict: **{verdict_text(answer.verdict, q.margin)}**.")
    if answer.best is not None:
        lines += ["", _cell_line("Best cell within the time", answer.best.cell, q)]
        lines.append(_comparison_line(answer.best, q))
    return [*lines, ""]


def _method(answers: Answers) -> str:
    q = answers.question
    margin = (
        ""
        if q.margin is None
        else (
            f" Equivalent (checked first): two one-sided t-tests (TOST, alpha 0.05, i.e. the "
            f"90% interval) put the difference within ±{q.margin * 100:.1f} points, whether or "
            "not the 95% interval also excludes zero."
        )
    )
    return (
        "Each best cell is chosen on validation accuracy among the cells whose mean training "
        f"time ({TIME_NAMES.get(q.time_key, q.time_key)} seconds) is at most the reference's "
        f"({q.seconds(answers.budget)}); test accuracy is only reported. Differences are paired "
        "by training seed (the same seed trains both cells), with Student's t 95% intervals "
        "over the seeds. Yes: the whole interval above zero. No: the whole interval below "
        "zero." + margin + " Not distinguishable at this sample size: none of these."
    )


def report(answers: Answers, cells: Sequence[Cell], about: Mapping[str, str], title: str) -> str:
    """The whole report.md. `about` lists where the numbers came from (study, commits)."""
    q, ref = answers.question, answers.reference
    best_val = max(cells, key=lambda c: c.mean("val_accuracy"))
    lines = [
        f"# {title}",
        "",
        f"Does a network with more layers beat {q.name(ref)} (the reference), in no more "
        "training time? And how many epochs does the reference itself need?",
        "",
        "## Answer",
        "",
        _cell_line("Reference", ref, q),
        "",
    ]
    for i in range(len(answers.families)):
        lines += _family_section(answers, i)
    lines += ["### Fewer epochs of the reference", "", f"**{answers.epochs_sentence}**", ""]
    if answers.epochs is not None:
        lines += [
            f"Verdict: **{verdict_text(answers.epochs.verdict, q.margin)}**.",
            "",
            _cell_line("Its best epoch count", answers.epochs.cell, q),
            _comparison_line(answers.epochs, q),
            "",
        ]
    lines += [
        _cell_line("Best cell overall, by validation accuracy", best_val, q),
        "",
        _method(answers),
        "",
        "## What to do",
        "",
        answers.advice,
        "",
        "## Every cell",
        "",
        "Mean ± sample standard deviation over seeds; 95% confidence intervals of the mean "
        "(Student's t). A cell with e epochs is the first e epochs of each seed's run, "
        "evaluated on validation and test after every epoch; training seconds are the "
        "epochs' fit (training and validation passes, without the test passes), in CPU "
        "seconds of the trial's process and in wall seconds.",
        "",
        table(cells, q),
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
