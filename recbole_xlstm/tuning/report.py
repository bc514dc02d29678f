"""What a search leaves behind: a table of all trials (CSV and markdown), the best configuration as a
YAML file run_recbole_xlstm.py accepts, and a summary."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


class SearchExistsError(FileExistsError):
    """A search's output folder already holds a search, whose results would be overwritten."""


def refuse_existing_search(output_dir: Path, *markers: str) -> None:
    """Raise SearchExistsError when ``output_dir`` holds any of ``markers`` (files or folders a search writes)."""
    if any((output_dir / marker).exists() for marker in markers):
        raise SearchExistsError(
            f"{output_dir} already holds a search; its results would be overwritten. "
            "Pass another --tune_dir, or move that folder away first."
        )


# properties a trial sets for itself, or that only set the search's own budget: left out of best_config.yaml
TRIAL_ONLY_PROPERTIES = ("checkpoint_dir", "show_progress", "gpu_id", "use_gpu", "epochs", "model", "dataset")


@dataclass
class TrialRow:
    trial_id: str
    params: dict[str, Any]
    best_valid_score: float | None
    epochs: int
    seconds: float
    status: str  # completed | stopped early | skipped: why | error: what
    metric_name: str = "valid_score"
    checkpoint_file: str | None = None
    scores: list[float] = field(default_factory=list)


def _format(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def table_rows(rows: list[TrialRow]) -> tuple[list[str], list[list[Any]]]:
    names = list(dict.fromkeys(name for row in rows for name in row.params))
    header = ["trial", *names, f"best valid {rows[0].metric_name if rows else 'score'}", "epochs", "seconds", "status"]
    body = [
        [
            row.trial_id,
            *[row.params.get(n) for n in names],
            None if row.best_valid_score is None else round(row.best_valid_score, 4),
            row.epochs,
            round(row.seconds, 1),
            row.status,
        ]
        for row in rows
    ]
    return header, body


def write_trials_csv(path: Path, rows: list[TrialRow]) -> None:
    header, body = table_rows(rows)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(body)


def trials_markdown(rows: list[TrialRow], best_trial: str | None = None, bigger: bool = True) -> str:
    """Trials best first; trials without a score (failed, skipped) last."""
    header, body = table_rows(rows)
    sign = -1 if bigger else 1
    ranked = sorted(body, key=lambda r: (r[-4] is None, sign * (r[-4] or 0)))
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in ranked:
        cells = [_format(c).replace("|", "\\|") for c in r]
        if r[0] == best_trial:
            cells[0] = f"**{cells[0]}** (best)"
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def best_config_yaml(summary: dict[str, Any]) -> str:
    config = {k: v for k, v in summary["fixed_properties"].items() if k not in TRIAL_ONLY_PROPERTIES}
    config.update(summary["best_params"] or {})
    files = " ".join([*summary["config_files"], "best_config.yaml"])
    head = (
        f"# Best of {summary['num_trials']} trials for {summary['model']} on {summary['dataset']} "
        f"(search space {summary['params_file']}),\n"
        f"# chosen on validation {summary['valid_metric']} = {summary['best_valid_score']:.4f}.\n"
        f"# The search ran at most {summary['max_epochs']} epochs per trial; epochs is left to your other config.\n"
        f"# python run_recbole_xlstm.py --model={summary['model']} --dataset={summary['dataset']} "
        f'--config_files="{files}"\n'
    )
    return head + yaml.safe_dump(config, sort_keys=False, default_flow_style=None)


def summary_markdown(summary: dict[str, Any]) -> str:
    lines = [
        f"# Search: {summary['model']} on {summary['dataset']}",
        "",
        (
            f"- search space: `{summary['params_file']}`; search: {summary['search_alg']}, "
            f"scheduler: {summary['scheduler']}, at most {summary['max_epochs']} epochs per trial, "
            f"resources per trial {summary['resources_per_trial']}"
        ),
        (
            f"- trials: {summary['num_trials']} ({summary['completed']} completed, "
            f"{summary['stopped_early']} stopped early, {summary['skipped']} skipped, {summary['errors']} failed)"
        ),
        f"- wall time: search {summary['search_seconds']:.0f} s, in all {summary['total_seconds']:.0f} s",
    ]
    if summary.get("environment"):
        env = summary["environment"]
        machine = f"{env['cpu']} ({env['cpu_cores']} cores)" + (
            f", GPUs: {', '.join(env['gpus'])}" if env["gpus"] else ""
        )
        packages = ", ".join(f"{k} {v}" for k, v in env.items() if k not in ("cpu", "cpu_cores", "gpus") and v)
        lines.append(f"- machine: {machine}; {packages}")
    if summary["best_params"] is not None:
        lines += [
            f"- best trial {summary['best_trial']}: {summary['best_params']}",
            f"- its valid {summary['valid_metric']}: {summary['best_valid_score']:.4f}",
            f"- its best checkpoint, evaluated once after the search: valid {summary['best_valid_result']}",
            f"- test {summary['test_result']}",
        ]
    return "\n".join(lines) + "\n"


def write_search_results(output_dir: Path, rows: list[TrialRow], summary: dict[str, Any], bigger: bool = True) -> None:
    output_dir = Path(output_dir)
    write_trials_csv(output_dir / "trials.csv", rows)
    (output_dir / "trials.md").write_text(trials_markdown(rows, summary.get("best_trial"), bigger))
    (output_dir / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    (output_dir / "summary.md").write_text(summary_markdown(summary))
    if summary["best_params"] is not None:
        (output_dir / "best_config.yaml").write_text(best_config_yaml(summary))
