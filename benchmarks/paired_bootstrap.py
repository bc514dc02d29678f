"""Is one model's test NDCG@10 above another's by more than the test users' own sampling noise?

The accuracy studies report the mean and std over seeds: that is the noise of training. The test
users are a sample too, and every seed is scored on the same ones, so more seeds do not shrink it.
This script scores the saved best checkpoints of two models on their test set with RecBole's own
evaluator, one value per user; averages each user's value over a model's checkpoints (its seeds);
then resamples the users with replacement, the same users for both models (a paired bootstrap), and
reports the relative difference of the two means, as the issue's targets state it, with its 95%
interval.

    python benchmarks/paired_bootstrap.py --dataset_label ml-100k \
        --a xLSTM4Rec runs/saved/ml-100k-xLSTM4Rec-*/*.pth --b GRU4Rec runs/saved/ml-100k-GRU4Rec-*/*.pth \
        --output benchmarks/results/converged/ml-100k_paired_bootstrap
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


@dataclass
class Scored:
    """One checkpoint's test users (ids in the dataset's internal numbering) and its value for each."""

    checkpoint: str
    user_ids: np.ndarray
    values: np.ndarray

    @property
    def mean(self) -> float:
        return float(self.values.mean())


def score_users(model_file: str, metric: str = "ndcg", k: int = 10, device: str = "cpu") -> Scored:
    """``metric``@``k`` of each test user of a saved model, through RecBole's Trainer.evaluate and
    metric classes (the means of these values are the study's test numbers)."""
    import torch
    from recbole.evaluator.register import metrics_dict

    from recbole_xlstm import get_trainer
    from recbole_xlstm.quick_start import load_data_and_model

    config, model, _, _, _, test_data = load_data_and_model(model_file, device)
    if k > max(config["topk"]):
        raise ValueError(f"{metric}@{k}: the checkpoint's config ranks only the top {max(config['topk'])} (topk)")
    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, model)
    user_batches: list[torch.Tensor] = []
    structs: list = []
    collect, evaluate = trainer.eval_collector.eval_batch_collect, trainer.evaluator.evaluate

    # RecBole 1.2.1 keeps per-user results only inside evaluate(): record the users each batch
    # scores and the collected struct, and let RecBole compute the same means as ever.
    def collect_and_record_users(scores, interaction, positive_u, positive_i):
        user_batches.append(interaction[config["USER_ID_FIELD"]].cpu())
        return collect(scores, interaction, positive_u, positive_i)

    def evaluate_and_keep_struct(struct):
        structs.append(struct)
        return evaluate(struct)

    trainer.eval_collector.eval_batch_collect = collect_and_record_users
    trainer.evaluator.evaluate = evaluate_and_keep_struct
    trainer.evaluate(test_data, load_best_model=False, show_progress=False)

    metric_object = metrics_dict[metric.lower()](config)
    per_user = metric_object.metric_info(*metric_object.used_info(structs[-1]))
    return Scored(model_file, torch.cat(user_batches).numpy(), np.asarray(per_user[:, k - 1], dtype=float))


def mean_over_checkpoints(scored: list[Scored]) -> tuple[np.ndarray, np.ndarray]:
    """(user ids, each user's value averaged over the checkpoints), users sorted by id; the
    checkpoints must have scored the same users."""
    first = np.sort(scored[0].user_ids)
    rows = []
    for s in scored:
        order = np.argsort(s.user_ids)
        if not np.array_equal(s.user_ids[order], first):
            raise ValueError(f"{s.checkpoint} scored other test users than {scored[0].checkpoint}: not the same split")
        rows.append(s.values[order])
    return first, np.mean(rows, axis=0)


@dataclass
class PairedResult:
    users: int
    mean_a: float
    mean_b: float
    relative_difference: float  # mean_a / mean_b - 1
    low: float  # 2.5th percentile of the resampled relative differences
    high: float  # 97.5th percentile
    share_above_zero: float  # share of resamples in which A's mean is above B's
    share_above_target: float  # ... in which it is above (1 + target) times B's
    target: float
    resamples: int
    seed: int


def paired_bootstrap(
    a: np.ndarray, b: np.ndarray, resamples: int = 10000, target: float = 0.05, seed: int = 0
) -> PairedResult:
    """Resample users with replacement (the same draw for both models) and return the 95% interval of
    mean(a) / mean(b) - 1."""
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"a and b must be the same users' values, got shapes {a.shape} and {b.shape}")
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(a), size=(resamples, len(a)))
    ratio = a[draws].mean(axis=1) / b[draws].mean(axis=1) - 1.0
    return PairedResult(
        users=len(a),
        mean_a=float(a.mean()),
        mean_b=float(b.mean()),
        relative_difference=float(a.mean() / b.mean() - 1.0),
        low=float(np.percentile(ratio, 2.5)),
        high=float(np.percentile(ratio, 97.5)),
        share_above_zero=float((ratio > 0).mean()),
        share_above_target=float((ratio > target).mean()),
        target=target,
        resamples=resamples,
        seed=seed,
    )


def report_markdown(
    label: str,
    name_a: str,
    name_b: str,
    metric: str,
    result: PairedResult,
    scored: dict[str, list[Scored]],
    command: str,
    machine: str,
) -> str:
    per_checkpoint = [
        f"| {name} | {Path(s.checkpoint).parent.name} | {s.mean:.4f} |"
        for name in (name_a, name_b)
        for s in scored[name]
    ]
    return "\n".join(
        [
            f"# {label}: {name_a} against {name_b}, test {metric} per user, paired bootstrap",
            "",
            f"Command: `{command}`.",
            f"Date: {datetime.now(timezone.utc).strftime('%Y-%m-%d')}. {machine}",
            "",
            f"Each user's test {metric} is averaged over a model's checkpoints (its seeds); the "
            f"{result.users} test users are then drawn with replacement {result.resamples} times, the same draw "
            f"for both models (numpy seed {result.seed}).",
            "",
            f"| {name_a} | {name_b} | {name_a} against {name_b} | 95% interval | "
            f"resamples above 0 | resamples above +{result.target:.0%} |",
            "|---|---|---|---|---|---|",
            f"| {result.mean_a:.4f} | {result.mean_b:.4f} | {result.relative_difference:+.1%} | "
            f"{result.low:+.1%} to {result.high:+.1%} | {result.share_above_zero:.1%} | "
            f"{result.share_above_target:.1%} |",
            "",
            "The checkpoints, by the run (folder) that saved them; the mean of each is that run's test number:",
            "",
            f"| model | run | test {metric} |",
            "|---|---|---|",
            *per_checkpoint,
            "",
        ]
    )


def main(argv: list[str] | None = None) -> PairedResult:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--a",
        nargs="+",
        required=True,
        metavar=("NAME", "CHECKPOINT"),
        help="the model compared: its name, then its checkpoints (one per seed)",
    )
    parser.add_argument(
        "--b",
        nargs="+",
        required=True,
        metavar=("NAME", "CHECKPOINT"),
        help="the model it is compared with: its name, then its checkpoints",
    )
    parser.add_argument("--dataset_label", required=True, help="for the report's title")
    parser.add_argument("--metric", default="ndcg@10", help="a RecBole top-k metric, e.g. ndcg@10, recall@10")
    parser.add_argument("--target", type=float, default=0.05, help="the relative margin the target asks for")
    parser.add_argument("--resamples", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu", help="where the checkpoints are scored (cpu, cuda)")
    parser.add_argument("--output", required=True, help="path without suffix: writes .md and .json")
    args = parser.parse_args(argv)
    for flag in ("a", "b"):
        if len(getattr(args, flag)) < 2:
            parser.error(f"--{flag}: give the model's name, then at least one checkpoint")
        missing = [f for f in getattr(args, flag)[1:] if not os.path.isfile(f)]
        if missing:
            parser.error(f"--{flag}: no such checkpoint: {', '.join(missing)}")
    if args.a[0] == args.b[0]:
        parser.error(f"--a and --b are both named {args.a[0]}: give the two models different names")
    from recbole.evaluator.register import metrics_dict

    metric, _, k = args.metric.lower().partition("@")
    topk_metrics = sorted(name for name, cls in metrics_dict.items() if cls.metric_need == ["rec.topk"])
    if metric not in topk_metrics or not k.isdigit():
        parser.error(f"--metric {args.metric}: expected NAME@K with NAME one of {', '.join(topk_metrics)}")

    from recbole_xlstm import environment, machine_line

    command = shlex.join(["python", "benchmarks/paired_bootstrap.py", *(sys.argv[1:] if argv is None else argv)])
    scored = {names[0]: [score_users(f, metric, int(k), args.device) for f in names[1:]] for names in (args.a, args.b)}
    (users_a, a), (users_b, b) = (mean_over_checkpoints(scored[n[0]]) for n in (args.a, args.b))
    if not np.array_equal(users_a, users_b):
        parser.error("the two models' checkpoints scored different test users: not the same dataset and split")
    result = paired_bootstrap(a, b, args.resamples, args.target, args.seed)
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".md").write_text(
        report_markdown(
            args.dataset_label, args.a[0], args.b[0], args.metric, result, scored, command, machine_line(environment())
        )
    )
    summary = {
        "command": command,
        **asdict(result),
        "checkpoints": {n: [s.checkpoint for s in v] for n, v in scored.items()},
        "checkpoint_means": {n: [s.mean for s in v] for n, v in scored.items()},
    }
    out.with_suffix(".json").write_text(json.dumps(summary, indent=1) + "\n")
    print(out.with_suffix(".md").read_text())
    return result


if __name__ == "__main__":
    main()
