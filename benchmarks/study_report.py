"""benchmarks/results/<dataset>.md, .csv and .png from an accuracy study's runs.jsonl (see accuracy_study.py)."""

from __future__ import annotations

import csv
import functools
import json
import shlex
import statistics
from collections import defaultdict
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
METRICS = [f"{name}@{k}" for name in ("recall", "mrr", "ndcg", "hit", "precision") for k in (5, 10, 20)]
HEADLINE = ["ndcg@10", "recall@10", "mrr@10", "hit@10", "ndcg@20", "recall@20"]


@functools.cache  # the report asks once per run record; the files do not change while it runs
def default_learning_rate(model: str) -> float:
    """The rate a model trains with where none is given: the plugin's property file, else RecBole's file for
    the model, else RecBole's overall default."""
    import recbole
    import yaml

    from recbole_xlstm.config import plugin_property_files

    recbole_properties = Path(recbole.__file__).resolve().parent / "properties"
    for path in (*reversed(plugin_property_files(model)), recbole_properties / "model" / f"{model}.yaml",
                 recbole_properties / "overall.yaml"):  # fmt: skip
        rate = (yaml.safe_load(path.read_text()) or {}).get("learning_rate") if path and path.is_file() else None
        if rate is not None:
            return float(rate)
    raise ValueError(f"no learning_rate in {model}'s property files or RecBole's overall.yaml")


def rate_of(record: dict) -> float | None:
    """The learning rate a run trained with (a default one as the property files give it now); None for Pop."""
    if record["model"] == "Pop":
        return None
    return default_learning_rate(record["model"]) if record["learning_rate"] is None else record["learning_rate"]


def rate_label(record: dict) -> str:
    if record["model"] == "Pop":
        return "-"
    return f"{rate_of(record):g}" + (" (default)" if record["learning_rate"] is None else "")


def load_runs(runs_dir: Path) -> list[dict]:
    """The runs' records; where a run was rerun into the same runs_dir, its last record."""
    records = [json.loads(line) for line in (runs_dir / "runs.jsonl").read_text().splitlines() if line.strip()]
    return list({record["name"]: record for record in records}.values())


def final_runs(runs: list[dict], dataset: str, model: str) -> list[dict]:
    """The best learning rate of the grid (seed 2020 run) and the same rate's other seeds, all finished."""
    ok = [r for r in runs if r["dataset"] == dataset and r["model"] == model and r["status"] == "ok"]
    grid = [r for r in ok if r["phase"] == "grid"]
    if not grid:
        return []
    best = max(grid, key=lambda r: r["valid"]["ndcg@10"])
    return [best] + [r for r in ok if r["phase"] == "seed" and rate_of(r) == rate_of(best)]


def rerun_sentence(rerun: dict) -> str:
    """What a later study run into the same runs did, by its command's flags."""
    flags = shlex.split(rerun["command"])
    if "--resume" not in flags:
        return f"Run later ({rerun['date']}), replacing any earlier runs of its names: `{rerun['command']}`."
    if "--continue_time_stopped" in flags:
        return (f"Resumed ({rerun['date']}), running what the runs lacked and continuing the runs a deadline had "
                f"stopped from their best epoch's checkpoint: `{rerun['command']}`.")  # fmt: skip
    if "--rerun_time_stopped" in flags:
        return (f"Resumed ({rerun['date']}), running what the runs lacked and, again, the runs a deadline had "
                f"stopped: `{rerun['command']}`.")  # fmt: skip
    return f"Resumed ({rerun['date']}), running only what the runs lacked: `{rerun['command']}`."


def mean_std(values: list[float]) -> tuple[float, float | None]:
    """The mean, and the sample standard deviation; None for one value: one seed measures no spread, and
    "± 0.0000" would read as a measured zero."""
    return statistics.mean(values), (statistics.stdev(values) if len(values) > 1 else None)


def mean_pm_std(mean: float, std: float | None) -> str:
    return f"{mean:.4f}" if std is None else f"{mean:.4f} ± {std:.4f}"


def summarise(runs: list[dict], dataset: str) -> list[dict]:
    rows = []
    models = list(dict.fromkeys(r["model"] for r in runs if r["dataset"] == dataset and r["phase"] == "grid"))
    for model in models:
        chosen = final_runs(runs, dataset, model)
        if not chosen:
            continue
        row = {"dataset": dataset, "model": model, "seeds": len(chosen), "learning_rate": chosen[0]["learning_rate"]}
        for metric in METRICS:
            row[f"{metric}_mean"], row[f"{metric}_std"] = mean_std([r["test"][metric] for r in chosen])
        row["valid_ndcg@10_mean"] = mean_std([r["valid"]["ndcg@10"] for r in chosen])[0]
        for key in ("best_epoch", "epochs_run", "sec_per_epoch", "peak_mem_mib", "params"):
            if key in COST_FORMATS:  # a device's cost
                row[key] = per_device_mean(chosen, key, COST_FORMATS[key])
                continue
            values = [r[key] for r in chosen if r.get(key) is not None]
            row[key] = statistics.mean(values) if values else None
        row["stopped_by_time"] = sum(bool(r.get("stopped_by_time")) for r in chosen)
        row["memory"] = chosen[0].get("memory")
        row["backend"] = chosen[0].get("backend")
        rows.append(row)
    return rows


COST_FORMATS = {"sec_per_epoch": ".1f", "peak_mem_mib": ".0f"}  # what depends on the device a run ran on


def per_device_mean(runs: list[dict], key: str, spec: str) -> float | str | None:
    """The runs' mean of a cost (seconds per epoch, peak memory); where they ran on different devices (a CPU
    study's runs resumed on a GPU), each device's mean apart, as text: one mean of a CPU's and a GPU's seconds
    would describe neither."""
    by_device: dict[str, list[float]] = {}
    for r in runs:
        if r.get(key) is not None:
            by_device.setdefault(r.get("device", "?"), []).append(r[key])
    if len(by_device) <= 1:
        values = next(iter(by_device.values()), [])
        return statistics.mean(values) if values else None
    return "; ".join(f"{format(statistics.mean(values), spec)} {device}" for device, values in by_device.items())


def fmt(value, spec: str = ".4f") -> str:
    if isinstance(value, str):  # already a cell: per_device_mean's means by device
        return value
    return "-" if value is None else format(value, spec)


def write_chart(rows: list[dict], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for ax, metric in zip(axes, ("ndcg@10", "recall@10")):
        names = [r["model"] for r in rows]
        colors = ["tab:red" if n == "xLSTM4Rec" else "tab:gray" for n in names]
        ax.bar(names, [r[f"{metric}_mean"] for r in rows], yerr=[r[f"{metric}_std"] or 0.0 for r in rows], color=colors,
               capsize=3)  # fmt: skip
        ax.set_title(f"test {metric.upper()} (mean, std over seeds)")
        ax.tick_params(axis="x", rotation=30)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_reports(runs_dir: Path, output_dir: Path = RESULTS) -> list[Path]:
    runs = load_runs(runs_dir)
    env_file = runs_dir / "environment.json"
    env = json.loads(env_file.read_text()) if env_file.is_file() else {}
    for r in runs:  # records written before runs named their device ran on the study's
        r.setdefault("device", env.get("device", "?"))
    written = []
    for dataset in dict.fromkeys(r["dataset"] for r in runs):
        rows = summarise(runs, dataset)
        output_dir.mkdir(parents=True, exist_ok=True)
        with open(output_dir / f"{dataset}.csv", "w", newline="") as out:
            writer = csv.DictWriter(out, fieldnames=list(rows[0]) if rows else ["dataset"])
            writer.writeheader()
            writer.writerows(rows)
        lines = [f"# {dataset}: xLSTM4Rec against RecBole's baselines", ""]
        lines += describe(env, runs_dir, dataset, [r for r in runs if r["dataset"] == dataset and r["status"] == "ok"])
        lines += ["", "## Test metrics (mean ± std over seeds)", ""]
        lines += ["| model | seeds | lr | " + " | ".join(m.upper() for m in HEADLINE)
                  + " | best epoch | epochs run | s/epoch | peak MiB | params |"]  # fmt: skip
        lines += ["|---" * (len(HEADLINE) + 8) + "|"]
        for r in sorted(rows, key=lambda r: -r["ndcg@10_mean"]):
            cells = [mean_pm_std(r[f"{m}_mean"], r[f"{m}_std"]) for m in HEADLINE]
            rate = rate_label(r)
            lines.append(f"| {r['model']} | {r['seeds']} | {rate} | " + " | ".join(cells)
                         + f" | {fmt(r['best_epoch'], '.1f')} | {epochs_run(r)} | {fmt(r['sec_per_epoch'], '.1f')} | "
                         f"{fmt(r['peak_mem_mib'], '.0f')} | {fmt(r['params'], '.0f')} |")  # fmt: skip
        best_baseline = max(
            (r for r in rows if r["model"] != "xLSTM4Rec"), key=lambda r: r["ndcg@10_mean"], default=None
        )
        ours = next((r for r in rows if r["model"] == "xLSTM4Rec"), None)
        if ours and best_baseline:
            gain = ours["ndcg@10_mean"] / best_baseline["ndcg@10_mean"] - 1
            lines += ["", f"xLSTM4Rec's mean test NDCG@10 is {gain:+.1%} against the best baseline "
                      f"({best_baseline['model']}, {best_baseline['ndcg@10_mean']:.4f})."]  # fmt: skip
            if ours["seeds"] != best_baseline["seeds"]:  # a one-seed mean against three is not yet a comparison
                lines[-1] += (f" Not yet comparable: xLSTM4Rec's mean is over {ours['seeds']} seed(s), "
                              f"{best_baseline['model']}'s over {best_baseline['seeds']}.")  # fmt: skip
            elif ours["seeds"] == 1:
                lines[-1] += " One seed each: whether the gap is larger than the spread over seeds is not measured yet."
        memory = memory_kinds([r for r in runs if r["dataset"] == dataset and r["status"] == "ok"])
        lines += ["", f"Peak MiB: the run's {memory}. Best epoch: the epoch whose validation "
                  "NDCG@10 was kept (0-based). All metrics (test, mean and std) are in the CSV next to this file.",
                  ""]  # fmt: skip
        if any(r["seeds"] == 1 for r in rows):
            lines += ["A model with one seed shows its value alone (no ±): one seed measures no spread.", ""]
        if any(r["stopped_by_time"] for r in rows):
            lines += ["'(time)': the study's deadline ended training (`--time_stop_margin_s`) before the epochs "
                      "or early stopping did; the test used the best epoch reached. Such models are not converged, "
                      "and compare only at their epochs: see the validation curves below.", ""]  # fmt: skip
        lines += curve_table(runs, dataset) + grid_table(runs, dataset) + rate_pick_table(runs, dataset)
        lines += ablation_table(runs, dataset) + variants_against(best_baseline, runs, dataset)
        lines += unfinished(runs, dataset)
        (output_dir / f"{dataset}.md").write_text("\n".join(lines) + "\n")
        if rows:
            write_chart(sorted(rows, key=lambda r: -r["ndcg@10_mean"]), output_dir / f"{dataset}.png", dataset)
        written.append(output_dir / f"{dataset}.md")
        print(f"wrote {output_dir / dataset}.md, .csv, .png")
    return written


def memory_kinds(finished: list[dict]) -> str:
    """What the peak memory column measures: peak RSS on a CPU, CUDA's max allocated on a GPU; each device's
    where the runs ran on several."""
    kinds = {r.get("device", "?"): r["memory"] for r in finished if r.get("memory")}
    if len(set(kinds.values())) <= 1:
        return next(iter(kinds.values()), "peak memory")
    return ", ".join(f"{memory} on {device}" for device, memory in kinds.items())


def seeds_run(finished: list[dict]) -> str:
    """The seeds each model's finished runs have, and the ablation's apart: one list for every model would claim
    seeds that only some models (or only the ablation's variants) ran. Empty when nothing finished."""

    def listed(runs: list[dict]) -> str:
        return ", ".join(map(str, sorted({r["seed"] for r in runs})))

    own = [r for r in finished if r["phase"] != "ablation"]
    ablation = listed([r for r in finished if r["phase"] == "ablation"])  # "" when the ablation has no runs
    models_of: dict[str, list[str]] = {}  # a list of seeds: the models that ran exactly those
    for model in sorted({r["model"] for r in own}):  # sorted: runs finish in any order
        models_of.setdefault(listed([r for r in own if r["model"] == model]), []).append(model)
    parts = []
    if len(models_of) == 1:
        parts.append(f"seeds {next(iter(models_of))}")
    elif models_of:
        parts.append("seeds " + " and ".join(f"{seeds} ({', '.join(models)})" for seeds, models in models_of.items()))
    if ablation and [ablation] != list(models_of):  # the same seeds as every model's need no second list
        parts.append(f"the ablation's seeds {ablation}")
    return "; ".join(parts)


def describe(env: dict, runs_dir: Path, dataset: str, finished: list[dict]) -> list[str]:
    """The study's protocol and machine; seeds and learning rates as the finished runs have them (a resumed study
    can add to those its first command planned)."""
    from recbole_xlstm import machine_line

    plan = env.get("plans", {}).get(dataset)
    protocol = []
    if plan:
        seeds = seeds_run(finished) or f"seeds {', '.join(map(str, plan['seeds']))}"
        grid = {model: set(scores) for model, scores in grid_scores(finished, dataset).items()}
        defaults_only = all(
            r["learning_rate"] is None for r in finished if r["phase"] == "grid" and r["model"] != "Pop"
        )
        if not grid:  # nothing finished: what the command planned
            grid = {"": {lr for lr in plan["learning_rates"] if lr is not None}}
            defaults_only = plan["learning_rates"] == [None]
        rate_sets = {tuple(sorted(rates)) for rates in grid.values()}
        if defaults_only:
            tuning = "no tuning: each model at its own default learning rate"
        elif len(rate_sets) == 1:
            tuning = (
                f"learning rates {', '.join(f'{lr:g}' for lr in next(iter(rate_sets)))} for every model, "
                "the best on validation kept"
            )
        else:
            tuning = (
                "learning rates "
                + "; ".join(f"{model} {', '.join(f'{lr:g}' for lr in sorted(rates))}" for model, rates in grid.items())
                + ", the best on validation kept"
            )
        settings = ", ".join(f"{k}={v}" for k, v in plan["settings"].items())
        protocol = [
            f"Command: `{env.get('command', '?')}`.",
            *map(rerun_sentence, env.get("reruns", [])),
            *[
                f"Recorded from their logs ({entry['date']}, `--collect`: they ended after their scheduler was "
                f"stopped): {', '.join(entry['runs'])}."
                for entry in env.get("collected", [])
            ],
            f"Every model: {settings}; {tuning}; {seeds}; the protocol of "
            f"props/{dataset}.yaml (leave-one-out by time, full ranking, NDCG@10 on validation picks the epoch).",
            "",
        ]
    return protocol + [
        f"Runs of {env.get('date', '?')}, `python benchmarks/accuracy_study.py` ({runs_dir.name}); device "
        f"{env.get('device', '?')}, {runs_at_a_time(env)} at a time, {env.get('threads_per_run', '?')} CPU "
        "thread(s) each (seconds per epoch are therefore under contention; benchmarks/speed_study.py times "
        "models alone).",
        machine_line(env),
        *elsewhere(env, finished),
    ]


def elsewhere(env: dict, finished: list[dict]) -> list[str]:
    """A line per other device that reruns ran on (their records name it), with how many runs of each model ran
    there and that machine: the study's machine line describes only the first command's."""
    from recbole_xlstm import machine_line

    lines = []
    for device in dict.fromkeys(
        r["device"] for r in finished if r.get("device", env.get("device")) != env.get("device")
    ):
        runs = [r for r in finished if r.get("device") == device]
        counts = ", ".join(
            f"{model} {sum(r['model'] == model for r in runs)}" for model in sorted({r["model"] for r in runs})
        )
        machines = [
            rerun["machine"] for rerun in env.get("reruns", []) if rerun.get("device") == device and "machine" in rerun
        ]
        where = machine_line(machines[-1]) if machines else "Machine: not recorded."
        lines.append(f"Runs on {device} ({counts}; their seconds per epoch and memory are given apart): {where}")
    return lines


def runs_at_a_time(env: dict) -> str:
    """The first command's --workers, or their range where a resume or rerun ran more or fewer at once."""
    workers = [env.get("workers", "?")] + [workers_of(rerun["command"]) for rerun in env.get("reruns", [])]
    if len(set(workers)) == 1:
        return f"{workers[0]} runs"
    numbers = [w for w in workers if isinstance(w, int)]
    return f"{min(numbers)} to {max(numbers)} runs (each command's --workers)"


def workers_of(command: str) -> int:
    """A recorded accuracy_study command's --workers (written '--workers 3' or '--workers=3'); the last one given,
    as argparse takes it; 1, its default, if none."""
    flags = shlex.split(command)
    workers = 1
    for flag, after in zip(flags, flags[1:] + [""]):
        if flag.startswith("--workers="):
            workers = int(flag.partition("=")[2])
        elif flag == "--workers":
            workers = int(after)
    return workers


TIME_MARK = " (time)"  # after a run's epochs: the deadline, not early stopping, ended its training


def time_marked(cell: str, stopped_by_time) -> str:
    return cell + (TIME_MARK if stopped_by_time else "")


def epochs_run(row: dict) -> str:
    return time_marked(fmt(row["epochs_run"], ".1f"), row["stopped_by_time"])


def curve_table(runs: list[dict], dataset: str) -> list[str]:
    """Valid NDCG@10 after each epoch of each model's best grid run, where any run was stopped by time (its
    models then ran different numbers of epochs)."""
    curves = {}
    for model in dict.fromkeys(r["model"] for r in runs if r["dataset"] == dataset):
        chosen = final_runs(runs, dataset, model)
        if chosen and chosen[0].get("valid_curve"):
            curves[model] = chosen[0]["valid_curve"]
    stopped = any(r.get("stopped_by_time") for r in runs if r["dataset"] == dataset and r["status"] == "ok")
    if not stopped or not curves:
        return []
    longest = max(len(curve) for curve in curves.values())
    lines = ["## Validation NDCG@10 after each epoch (each model's best-rate run of the first seed)", "",
             "| model | " + " | ".join(str(epoch) for epoch in range(longest)) + " |",
             "|---" * (longest + 1) + "|"]  # fmt: skip
    for model, curve in curves.items():
        cells = [f"{score:.4f}" for score in curve] + [""] * (longest - len(curve))
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    return lines + [""]


def finished_grid_runs(runs: list[dict], dataset: str) -> list[dict]:
    """The grid runs of a dataset that finished. Pop has no rate and no grid."""
    return [
        r
        for r in runs
        if r["dataset"] == dataset and r["phase"] == "grid" and r["status"] == "ok" and r["model"] != "Pop"
    ]


def grid_scores(runs: list[dict], dataset: str) -> dict[str, dict[float, float]]:
    """Each model's finished grid: the rate it trained with (a default resolved to its value) to its valid NDCG@10."""
    by_model = defaultdict(dict)
    for r in finished_grid_runs(runs, dataset):
        by_model[r["model"]][rate_of(r)] = r["valid"]["ndcg@10"]
    return dict(by_model)


def grid_table(runs: list[dict], dataset: str) -> list[str]:
    by_model = grid_scores(runs, dataset)
    rates = sorted({lr for scores in by_model.values() for lr in scores})
    if all(len(scores) < 2 for scores in by_model.values()):  # no grid: one rate per model
        return []
    # a deadline-stopped grid run's validation is that of fewer epochs: the pick among the rates is provisional
    stopped = {(r["model"], rate_of(r)) for r in finished_grid_runs(runs, dataset) if r.get("stopped_by_time")}
    lines = ["## Learning-rate grid (valid NDCG@10, seed 2020)", "",
             "| model | " + " | ".join(f"{lr:g}" for lr in rates) + " |", "|---" * (len(rates) + 1) + "|"]  # fmt: skip
    for model, scores in by_model.items():
        cells = [time_marked(fmt(scores.get(lr)), (model, lr) in stopped) for lr in rates]
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    if stopped:
        lines += ["", f"'{TIME_MARK.strip()}': the deadline, not early stopping, ended that grid run: its validation "
                  "is of fewer epochs, and the rate picked over it may change once it runs on."]  # fmt: skip
    return lines + [""]


def rates_over_shared_seeds(runs: list[dict], dataset: str) -> dict[str, tuple[list[int], dict[float, list[dict]]]]:
    """Each model's rates, each with its finished runs on the seeds that every rate of that model has run: the
    pick is then a paired comparison, and not one of means over different seeds. Models with fewer than two
    rates or two shared seeds are left out; so is Pop, which has no rate."""
    by_model = defaultdict(lambda: defaultdict(dict))
    for r in runs:
        if r["dataset"] == dataset and r["phase"] in ("grid", "seed") and r["status"] == "ok" and r["model"] != "Pop":
            by_model[r["model"]][rate_of(r)][r["seed"]] = r
    shared = {}
    for model, by_rate in by_model.items():
        seeds = sorted(set.intersection(*(set(by_seed) for by_seed in by_rate.values())))
        if len(by_rate) >= 2 and len(seeds) >= 2:
            shared[model] = seeds, {lr: [by_rate[lr][seed] for seed in seeds] for lr in sorted(by_rate)}
    return shared


def rate_pick_table(runs: list[dict], dataset: str) -> list[str]:
    """The rate each model's mean validation over several seeds picks, beside the first seed's pick (the
    protocol's): one seed's validation is a noisy judge, and this says whether the verdict depends on it."""
    shared = rates_over_shared_seeds(runs, dataset)
    if not shared:
        return []
    lines = ["## Learning rates over several seeds (NDCG@10, mean over the seeds every rate of the model ran)", "",
             "| model | seeds | lr | valid | test | picked by |", "|---|---|---|---|---|---|"]  # fmt: skip
    picked_test = {}
    for model, (seeds, by_rate) in shared.items():
        valid = {lr: statistics.mean(r["valid"]["ndcg@10"] for r in group) for lr, group in by_rate.items()}
        mean_pick = max(valid, key=valid.get)
        grid_pick = final_runs(runs, dataset, model)[:1]  # the protocol's pick: the grid seed's validation
        judges_of = {"mean validation": mean_pick}
        if grid_pick:
            judges_of[f"seed {grid_pick[0]['seed']}"] = rate_of(grid_pick[0])
        for lr, group in by_rate.items():
            test = mean_std([r["test"]["ndcg@10"] for r in group])
            judges = [name for name, pick in judges_of.items() if pick == lr]
            lines.append(f"| {model} | {', '.join(map(str, seeds))} | {lr:g} | {valid[lr]:.4f} | "
                         f"{mean_pm_std(*test)} | {', '.join(judges) or '-'} |")  # fmt: skip
            if lr == mean_pick:
                picked_test[model] = test[0]
    lines.append("")
    baselines = {model: test for model, test in picked_test.items() if model != "xLSTM4Rec"}
    if "xLSTM4Rec" in picked_test and baselines:
        best = max(baselines, key=baselines.get)
        verdict = (f"Each model at the rate its mean validation picks, on those seeds: xLSTM4Rec's test NDCG@10 "
                   f"{picked_test['xLSTM4Rec']:.4f} is {picked_test['xLSTM4Rec'] / baselines[best] - 1:+.1%} against "
                   f"the best baseline's ({best}, {baselines[best]:.4f}).")  # fmt: skip
        if shared["xLSTM4Rec"][0] != shared[best][0]:  # then the two means are not over the same seeds
            verdict += f" Not paired: xLSTM4Rec's seeds are not {best}'s."
        lines += [verdict, ""]
    return lines


def finished_ablation_runs(runs: list[dict], dataset: str) -> list[dict]:
    return [r for r in runs if r["dataset"] == dataset and r["phase"] == "ablation" and r["status"] == "ok"]


def ablation_table(runs: list[dict], dataset: str) -> list[str]:
    """Each variant's runs beside its model's default runs with the same seeds and learning rate: one table per
    model and rate the ablation ran (xLSTM4Rec's first; a baseline's variants, such as the same loss, apart)."""
    rows = finished_ablation_runs(runs, dataset)
    lines = []
    groups = sorted(dict.fromkeys((r["model"], rate_of(r)) for r in rows), key=lambda g: g[0] != "xLSTM4Rec")
    for model, lr in groups:
        group = [r for r in rows if r["model"] == model and rate_of(r) == lr]
        lines += ([""] if lines else []) + ablation_table_at(runs, dataset, group, lr, model)
    return lines


DEFAULT_LABELS = {"xLSTM4Rec": "default: 2 mLSTM blocks, max length 50"}


def ablation_table_at(runs: list[dict], dataset: str, rows: list[dict], lr: float, model: str) -> list[str]:
    seeds = sorted({r["seed"] for r in rows})
    default = [r for r in runs if r["dataset"] == dataset and r["model"] == model and r["status"] == "ok"
               and r["phase"] in ("grid", "seed") and r["seed"] in seeds and rate_of(r) == lr]  # fmt: skip
    variants = list(dict.fromkeys(r["variant"] for r in rows))
    rows = sorted(rows, key=lambda r: (variants.index(r["variant"]), r["seed"]))
    rate = f"lr {lr:g}"
    title = "Ablation of xLSTM4Rec" if model == "xLSTM4Rec" else f"Variants of {model}"
    lines = [f"## {title} ({rate}; few seeds: differences under about the seed spread above are noise)", "",
             "| variant | seed | valid NDCG@10 | test NDCG@10 | test Recall@10 | best epoch | s/epoch | params |",
             "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    label = DEFAULT_LABELS.get(model, f"default: RecBole's {model}")
    default = sorted((dict(r, variant=label) for r in default), key=lambda r: r["seed"])
    for r in default + rows:
        best_epoch = time_marked(fmt(r.get("best_epoch"), "d"), r.get("stopped_by_time"))
        # a run resumed on a GPU sits beside CPU runs: its seconds are not theirs
        seconds = fmt(r.get("sec_per_epoch"), ".1f") + (" cuda" if r.get("device") == "cuda" else "")
        lines.append(f"| {r['variant']} | {r['seed']} | {r['valid']['ndcg@10']:.4f} | {r['test']['ndcg@10']:.4f} | "
                     f"{r['test']['recall@10']:.4f} | {best_epoch} | {seconds} | "
                     f"{fmt(r.get('params'), 'd')} |")  # fmt: skip
    if any(r.get("stopped_by_time") for r in default + rows):  # the default's runs are marked too
        lines += ["", f"'{TIME_MARK.strip()}' after a best epoch: the study's deadline ended that run's training "
                  "before early stopping did; the test used the best epoch reached."]  # fmt: skip
    return lines + [""] + ablation_means(default, rows)


def ablation_means(default: list[dict], rows: list[dict]) -> list[str]:
    """Variants run with several seeds: their mean beside the default's mean over the very same seeds."""
    by_seed = {r["seed"]: r for r in default}
    lines = []
    for variant in dict.fromkeys(r["variant"] for r in rows):
        runs = [r for r in rows if r["variant"] == variant and r["seed"] in by_seed]
        if len(runs) < 2:
            continue
        base = [by_seed[r["seed"]] for r in runs]
        cells = []
        for metric in ("valid", "test"):
            ours = mean_std([r[metric]["ndcg@10"] for r in runs])
            theirs = mean_std([r[metric]["ndcg@10"] for r in base])
            cells += [mean_pm_std(*ours), mean_pm_std(*theirs),
                      f"{ours[0] / theirs[0] - 1:+.1%}"]  # fmt: skip
        recall = mean_std([r["test"]["recall@10"] for r in runs])
        lines.append(f"| {variant} | {', '.join(str(r['seed']) for r in runs)} | " + " | ".join(cells)
                     + f" | {mean_pm_std(*recall)} |")  # fmt: skip
    if not lines:
        return []
    return ["Variants with several seeds, against the default with the same seeds (mean ± std):", "",
            "| variant | seeds | valid NDCG@10 | default's | change | test NDCG@10 | default's | change | "
            "test Recall@10 |", "|---|---|---|---|---|---|---|---|---|", *lines, ""]  # fmt: skip


def variants_against(baseline: dict | None, runs: list[dict], dataset: str) -> list[str]:
    """Each ablation variant run on several seeds, over all of its seeds, against the best baseline's mean: the
    paired means above leave out the seeds the default lacks, and say nothing of the baselines."""
    if baseline is None:
        return []
    rows = finished_ablation_runs(runs, dataset)
    groups = defaultdict(list)
    for r in rows:
        groups[(r["variant"], rate_of(r))].append(r)
    lines = []
    for (variant, lr), group in groups.items():
        if len(group) < 2:
            continue
        ndcg, recall = (mean_std([r["test"][m] for r in group]) for m in ("ndcg@10", "recall@10"))
        seeds = ", ".join(
            time_marked(str(r["seed"]), r.get("stopped_by_time")) for r in sorted(group, key=lambda r: r["seed"])
        )
        lines.append(f"| {variant} | {lr:g} | {seeds} | {mean_pm_std(*ndcg)} | {mean_pm_std(*recall)} | "
                     f"{ndcg[0] / baseline['ndcg@10_mean'] - 1:+.1%} |")  # fmt: skip
    if not lines:
        return []
    spread = f", {baseline['seeds']} seed(s)" + (": its spread is not measured" if baseline["seeds"] == 1 else "")
    return [
        f"Variants with several seeds, over all their seeds, against the best baseline ({baseline['model']}, "
        f"test NDCG@10 {baseline['ndcg@10_mean']:.4f}{spread}):",
        "",
        "| variant | lr | seeds | test NDCG@10 | test Recall@10 | against " + baseline["model"] + " |",
        "|---|---|---|---|---|---|",
        *lines,
        "",
    ] + (
        [f"'{TIME_MARK.strip()}' after a seed: the deadline, not early stopping, ended that run.", ""]
        if any(TIME_MARK in line for line in lines)
        else []
    )


def unfinished(runs: list[dict], dataset: str) -> list[str]:
    bad = [r for r in runs if r["dataset"] == dataset and r["status"] != "ok"]
    if not bad:
        return []
    return ["## Runs that did not finish (not counted above)", ""] + [f"- {r['name']}: {r['status']}" for r in bad]
