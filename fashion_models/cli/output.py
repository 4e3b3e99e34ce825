"""What the CLI prints: the end-of-study summary, the promotion line, the status table."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import optuna

from fashion_models.config.secrets import mask_url
from fashion_models.config.sections import StudyConfig
from fashion_models.search.queries import status_data
from fashion_models.track.registry import Promotion


def print_summary(
    config: StudyConfig,
    study: optuna.Study,
    promotion: Promotion | None,
    echo: Callable[[str], None] = print,
) -> None:
    """Trial counts by state, best value and params, where to look in MLflow."""
    data = status_data(config, study)
    echo("\n" + counts_line(data))
    echo(best_line(data))
    if data["best"] is not None:
        for name, value in sorted(data["best"]["params"].items()):
            shown = f"{value:.6g}" if isinstance(value, float) else value  # 0.30000000000000004
            echo(f"  {name} = {shown}")
    echo(f"MLflow: experiment {config.tracking.experiment!r} at {mask_url(config.tracking.uri)}")
    if promotion is not None:
        echo(promotion_line(promotion))


def promotion_line(p: Promotion) -> str:
    """One line on what happened in the registry (end of a study, `optuna-run promote`)."""
    holder = "now holds" if p.promoted else "does not take"
    return (
        f"registry: {p.model_name} version {p.version} (trial {p.trial}, test accuracy "
        f"{p.test_accuracy:.4f}) {holder} @{p.alias}: {p.reason}"
    )


def status_json(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2, default=str)


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def status_table(data: dict[str, Any]) -> str:
    """A fixed-width table of the trials, then counts and the best trial."""
    headers = ["#", "state", data["metric"], "test_acc", "costs", "budget", "params", "secs"]
    headers += ["pruned@", "run id"]
    rows = [
        [
            str(t["number"]),
            t["state"] + (" *" if t["on_front"] else ""),
            _fmt(t["value"]),
            _fmt(t["test_accuracy"]),
            costs_text(t["costs"]),
            {None: "-", True: "within", False: "OVER"}[t["feasible"]],
            " ".join(f"{k}={_fmt(v)}" for k, v in sorted(t["params"].items())),
            _fmt(t["duration_s"]),
            _fmt(t["pruned_at_step"]),
            t["run_id"] or (f"as #{t['duplicate_of']}" if t["duplicate_of"] is not None else "-"),
        ]
        for t in data["trials"]
    ]
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in [headers, *rows]
    ]
    lines += ["", counts_line(data)]
    if data["front"]:
        objectives = ", ".join(data["metrics"])
        lines.append(f"Pareto front ({objectives}; * above): trials {data['front']}")
    lines.append(best_line(data))
    return "\n".join(lines)


def costs_text(costs: dict[str, float]) -> str:
    """`1.72ms 115MF 872k 3.6MB`: serve_ms, mflops, weights, model_mb ("-": not measured)."""
    if not costs:
        return "-"
    parts = [
        f"{costs['serve_ms']:.3g}ms" if "serve_ms" in costs else "",
        f"{costs['mflops']:.3g}MF" if "mflops" in costs else "",
        f"{costs['params'] / 1000:.0f}k" if "params" in costs else "",
        f"{costs['model_mb']:.2g}MB" if "model_mb" in costs else "",
    ]
    return " ".join(p for p in parts if p)


def counts_line(data: dict[str, Any]) -> str:
    """`study 'name': 2 complete, 4 pruned (n_trials 6)`, from search.queries.status_data
    (the end-of-study summary and `status` both print it)."""
    counts = ", ".join(
        f"{n} {s.lower().replace('_', ' ')}" for s, n in sorted(data["counts"].items())
    )
    return f"study {data['study']!r}: {counts or 'no trials'} (n_trials {data['n_trials']})"


def best_line(data: dict[str, Any]) -> str:
    """`best trial 3: val_accuracy = 0.9078, test accuracy = 0.9012, run <id>` (summary and
    `status`), chosen on the validation metric as search.queries defines it."""
    best = data["best"]
    if best is None:
        return "best: no complete trial yet"
    test = best["test_accuracy"]
    return (
        f"best trial {best['number']}: {data['metric']} = {best['value']:.4f}, "
        f"test accuracy = {'-' if test is None else f'{test:.4f}'}, run {best['run_id']}"
    )
