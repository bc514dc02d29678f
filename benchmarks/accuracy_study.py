"""xLSTM4Rec against RecBole's baselines on one protocol: a learning-rate grid per model, then 3 seeds of
each model's best, and an ablation of xLSTM4Rec; every run through run_recbole_xlstm.py.

    python benchmarks/accuracy_study.py --datasets ml-100k amazon-beauty --workers 2        # run (CPU or GPU)
    python benchmarks/accuracy_study.py --report --runs_dir benchmarks/runs/2026-11-27     # tables and charts
    python benchmarks/accuracy_study.py --resume --seeds 2020 2021 --runs_dir ...          # add what it lacks

Each run is its own process (``--workers`` at once), writes its log under ``--runs_dir`` and adds one line to
``runs.jsonl`` there when it finishes; a run killed at ``--deadline_s`` is listed as not finished and never
counted. ``--report`` turns runs.jsonl into benchmarks/results/<dataset>.md, .csv and .png.

Protocol (props/<dataset>.yaml): leave-one-out by time, full ranking, NDCG@10 on validation picks the best
epoch (early stopping) and the best learning rate; test is evaluated once, with the best epoch's weights.
Every model: hidden size 64, CE loss (Pop has none), the same batch size, epochs and patience per dataset, and
the same grid of learning rates (seed 2020), then the best rate with seeds 2021 and 2022. A rate of the grid equal
to a model's own default runs as its default run (named without a rate), so a grid resumed into a study of the
defaults (``--learning_rates default``) runs only the other rates.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SHARED_DATA = REPO.parent / "shared" / "datasets"

CONTINUED_MARK = "==== accuracy_study: continued from"  # in a log, before the leg a checkpoint went on with
RESULT_LINE = re.compile(r"^RESULT (.*)$", re.MULTILINE)  # what a finished run prints last (see child)
MODELS = ["xLSTM4Rec", "SASRec", "GRU4Rec", "NARM", "BERT4Rec", "Pop"]
SEEDS = [2020, 2021, 2022]


@dataclass
class DatasetPlan:
    """What every model gets on one dataset."""

    data_path: str | None  # None: RecBole's own (ml-100k ships in its wheel)
    models: list[str]
    learning_rates: list[float]
    settings: dict[str, object]
    seeds: list[int] = field(default_factory=lambda: list(SEEDS))
    ablation: dict[str, dict] = field(default_factory=dict)


ABLATION_LR = 0.002  # the ablation's learning rate unless --ablation_lr says otherwise
ABLATION = {  # name: properties over the model's defaults (xLSTM4Rec's unless VARIANT_MODELS names another)
    "1 mLSTM block": {"num_blocks": 1},
    "3 mLSTM blocks": {"num_blocks": 3},
    "4 mLSTM blocks": {"num_blocks": 4},
    "sLSTM only (2)": {"slstm_at": [0, 1]},
    "sLSTM first, mLSTM second": {"slstm_at": [0]},
    "mLSTM first, sLSTM second": {"slstm_at": [1]},
    "max length 20": {"MAX_ITEM_LIST_LENGTH": 20},
    "max length 100": {"MAX_ITEM_LIST_LENGTH": 100},
    "no embedding dropout": {"dropout_prob": 0.0},
    "with position embeddings": {"position_embedding": True},
    "xLSTM dropout 0.1": {"xlstm_dropout": 0.1},
    "xLSTM dropout 0.2": {"xlstm_dropout": 0.2},
    "xLSTM dropout 0.3": {"xlstm_dropout": 0.3},
    "xLSTM dropout 0.4": {"xlstm_dropout": 0.4},
    # the best regulariser of amazon-beauty's converged runs with the lead of its 6-epoch ablation: less capacity
    "1 mLSTM block, xLSTM dropout 0.2": {"num_blocks": 1, "xlstm_dropout": 0.2},
    "embedding dropout 0.5": {"dropout_prob": 0.5},
    "weight decay 1e-4": {"weight_decay": 1e-4},
    # amazon-beauty's best block dropout with SASRec's level of input dropout (its hidden_dropout_prob 0.5): block
    # dropout alone plateaued from 0.2 to 0.4, and the item embeddings hold 93% of the parameters
    "xLSTM dropout 0.2, embedding dropout 0.5": {"xlstm_dropout": 0.2, "dropout_prob": 0.5},
    # wider q/k/v blocks: at hidden 64 the mLSTM inner size is 128, and the package's default blocks of 4 mix only 4
    # channels into each query/key/value channel (32 blocks of 4x4); 128 is one dense projection
    "xLSTM dropout 0.2, q/k/v blocks of 16": {"xlstm_dropout": 0.2, "qkv_proj_blocksize": 16},
    "xLSTM dropout 0.2, q/k/v blocks of 32": {"xlstm_dropout": 0.2, "qkv_proj_blocksize": 32},
    "xLSTM dropout 0.2, dense q/k/v (blocks of 128)": {"xlstm_dropout": 0.2, "qkv_proj_blocksize": 128},
    # SASRec's input order: dropout after the LayerNorm, so the blocks see exact zeros (ours rescales them away)
    "xLSTM dropout 0.2, dropout after the input LayerNorm": {"xlstm_dropout": 0.2, "dropout_after_norm": True},
    # a shorter window with the best block dropout: 1,019 of amazon-beauty's 22,363 users have more than 21 items,
    # so it changes little data, and the parallel mLSTM is O(L^2) on CPU (ml-100k: level accuracy at 0.28x the epoch)
    "max length 20, xLSTM dropout 0.2": {"MAX_ITEM_LIST_LENGTH": 20, "xlstm_dropout": 0.2},
    # an output-side regulariser, where the dropouts act on the input and the blocks: the target keeps 0.9 of the
    # probability and the rest is spread over all items, which penalises overconfident scores on sparse data
    "xLSTM dropout 0.2, label smoothing 0.1": {"xlstm_dropout": 0.2, "label_smoothing": 0.1},
    # the same output regulariser on the best baseline: whether the gain above is xLSTM4Rec's or label smoothing's
    "SASRec, label smoothing 0.1": {"label_smoothing": 0.1},
    # ml-100k's best placement (an sLSTM block below the mLSTM block: +7.6% on test over three seeds) on top of
    # amazon-beauty's best regularisers, before it could become a default for both
    "sLSTM first, xLSTM dropout 0.2, label smoothing 0.1": {
        "slstm_at": [0],
        "xlstm_dropout": 0.2,
        "label_smoothing": 0.1,
    },
    # ml-100k, where block dropout cost accuracy: smoothing alone, and on that dataset's best baseline
    "label smoothing 0.1": {"label_smoothing": 0.1},
    "GRU4Rec, label smoothing 0.1": {"label_smoothing": 0.1},
    # ml-100k: the baseline with the best validation there, under the smoothing amazon-beauty's configuration uses
    "NARM, label smoothing 0.1": {"label_smoothing": 0.1},
    # ml-100k: its best placement with the regulariser that raised validation for both it and GRU4Rec, without the
    # block dropout that cost it test accuracy there
    "sLSTM first, label smoothing 0.1": {"slstm_at": [0], "label_smoothing": 0.1},
    # amazon-beauty: whether the recurrent baselines, which 0.1 lifted there, gain more from stronger smoothing
    "GRU4Rec, label smoothing 0.2": {"label_smoothing": 0.2},
    "NARM, label smoothing 0.2": {"label_smoothing": 0.2},
    # amazon-beauty: the same on the best baseline, whose test sets the target there
    "SASRec, label smoothing 0.2": {"label_smoothing": 0.2},
    # amazon-beauty: its best configuration under the smoothing that lifted SASRec's test to within 5% of it
    "sLSTM first, xLSTM dropout 0.2, label smoothing 0.2": {
        "slstm_at": [0],
        "xlstm_dropout": 0.2,
        "label_smoothing": 0.2,
    },
    # issue 7's block variants: a gated feed-forward after each mLSTM layer (as Mamba4Rec and LRURec put one after
    # each recurrent layer; the package's sLSTM blocks carry one), with amazon-beauty's best regularisers
    "mLSTM feed-forward 2.0, xLSTM dropout 0.2, label smoothing 0.2": {
        "mlstm_feedforward": 2.0,
        "xlstm_dropout": 0.2,
        "label_smoothing": 0.2,
    },
    "sLSTM first, mLSTM feed-forward 2.0, xLSTM dropout 0.2, label smoothing 0.2": {
        "slstm_at": [0],
        "mlstm_feedforward": 2.0,
        "xlstm_dropout": 0.2,
        "label_smoothing": 0.2,
    },
    # decoupled weight decay (LRURec's AdamW 1e-2), where RecBole's weight_decay is Adam's L2 penalty
    "mLSTM feed-forward 2.0, xLSTM dropout 0.2, label smoothing 0.2, AdamW 0.01": {
        "mlstm_feedforward": 2.0,
        "xlstm_dropout": 0.2,
        "label_smoothing": 0.2,
        "learner": "adamw",
        "weight_decay": 0.01,
    },
}
VARIANT_MODELS = {  # variants of a model other than xLSTM4Rec
    "SASRec, label smoothing 0.1": "SASRec",
    "GRU4Rec, label smoothing 0.1": "GRU4Rec",
    "NARM, label smoothing 0.1": "NARM",
    "GRU4Rec, label smoothing 0.2": "GRU4Rec",
    "NARM, label smoothing 0.2": "NARM",
    "SASRec, label smoothing 0.2": "SASRec",
}


def variant_model(variant: str) -> str:
    return VARIANT_MODELS.get(variant, "xLSTM4Rec")


COMMON = {"hidden_size": 64, "eval_batch_size": 4096, "show_progress": False, "eval_step": 1}
PLANS = {
    "ml-100k": DatasetPlan(
        None, MODELS, [0.001, 0.002, 0.004], {**COMMON, "train_batch_size": 512, "epochs": 60, "stopping_step": 5},
        ablation=ABLATION,
    ),
    "amazon-beauty": DatasetPlan(
        str(SHARED_DATA), MODELS, [0.001, 0.002, 0.004],
        {**COMMON, "train_batch_size": 512, "epochs": 60, "stopping_step": 5}, ablation=ABLATION,
    ),
    "ml-1m": DatasetPlan(
        str(SHARED_DATA), ["xLSTM4Rec", "SASRec", "GRU4Rec", "Pop"], [0.002],
        {**COMMON, "train_batch_size": 2048, "epochs": 60, "stopping_step": 5},
    ),
}  # fmt: skip


@dataclass
class Job:
    dataset: str
    model: str
    phase: str  # grid | seed | ablation | prepare
    seed: int
    learning_rate: float | None
    extra: dict = field(default_factory=dict)
    variant: str = ""
    priority: tuple = (0, 0, 0)  # lower first: (phase rank, seed index, model index)
    requires: tuple = ()  # names of jobs that must have finished first
    resume_from: str = ""  # --continue_time_stopped: the checkpoint the run goes on from
    earlier: dict = field(default_factory=dict)  # and the record of the run it continues

    @property
    def name(self) -> str:
        lr = "" if self.learning_rate is None else f"-lr{self.learning_rate:g}"
        variant = f"-{re.sub(r'[^A-Za-z0-9]+', '_', self.variant)}" if self.variant else ""
        return f"{self.dataset}-{self.model}-{self.phase}{variant}{lr}-s{self.seed}"


def grid_rates(plan: DatasetPlan, model: str) -> list[float | None]:
    """The rates a model's grid runs; one equal to the model's own default runs as the default (None), so a grid
    that includes it runs it once, and --resume finds a run made at the default."""
    from study_report import default_learning_rate

    if model == "Pop":
        return [None]  # it counts; no rate
    default = plan.settings.get("learning_rate", default_learning_rate(model))
    return list(dict.fromkeys(None if lr == default else lr for lr in plan.learning_rates))


def run_flags(
    job: Job, plan: DatasetPlan, runs_dir: Path, device_flags: list[str], xlstm_compile: bool | None = None
) -> list[str]:
    settings = {**plan.settings, **job.extra, "seed": job.seed}
    if job.model == "Pop":
        settings = {k: v for k, v in settings.items() if k not in ("hidden_size",)}
        settings["epochs"] = 1  # Pop counts; one pass is its whole training (the plugin gives it no negatives)
    if job.learning_rate is not None:
        settings["learning_rate"] = job.learning_rate
    if job.model == "xLSTM4Rec" and xlstm_compile is not None:
        settings.setdefault("xlstm_compile", xlstm_compile)
    settings["checkpoint_dir"] = str(runs_dir / "saved" / job.name)  # one per run: RecBole names files by second
    if plan.data_path:
        settings["data_path"] = plan.data_path
    if job.model != "Pop":  # sequential models share one processed dataset (see prepare)
        settings["dataset_save_path"] = str(dataset_cache(runs_dir, job.dataset, job.seed))
    flags = [f"--model={job.model}", f"--dataset={job.dataset}", f"--config_files={REPO / 'props' / job.dataset}.yaml"]
    flags += [
        f"--{key}={value!r}" if isinstance(value, (list, dict)) else f"--{key}={value}"
        for key, value in settings.items()
    ]
    return flags + device_flags


def dataset_cache(runs_dir: Path, dataset: str, seed: int) -> Path:
    # RecBole 1.2.1 reuses a saved dataset only if its seed matches the run's (data/utils.py create_dataset)
    return runs_dir / "datasets" / f"seed{seed}" / f"{dataset}-SequentialDataset.pth"


def prepare_dataset(dataset: str, seed: int, runs_dir: Path) -> None:
    """Builds the dataset once per seed (as SASRec sees it: RecBole's SequentialDataset) and saves it where
    the runs load it from (``dataset_save_path``), instead of each run filtering and remapping the atomic
    files again."""
    from recbole.data import create_dataset

    from recbole_xlstm import Config
    from recbole_xlstm.pipeline import check_dataset_files

    plan = PLANS[dataset]
    cache = dataset_cache(runs_dir, dataset, seed)
    config_dict = {**plan.settings, "checkpoint_dir": str(cache.parent), "save_dataset": True, "seed": seed}
    if plan.data_path:
        config_dict["data_path"] = plan.data_path
    config = Config(model="SASRec", dataset=dataset, config_file_list=[str(REPO / "props" / f"{dataset}.yaml")],
                    config_dict=config_dict)  # fmt: skip
    check_dataset_files(config)  # a clear error instead of RecBole's download attempt
    create_dataset(config)
    assert cache.is_file(), cache


def stop_training_by(deadline: float) -> dict:
    """Makes RecBole's ``Trainer.fit`` stop as early stopping does, at the first validation after which one more
    epoch would end past ``deadline`` (a ``time.time()``); the test then runs with the best epoch's weights as
    usual. A run under a study's deadline thus ends with a result instead of being killed. Returns a dict whose
    "stopped" turns True if the time stopped it."""
    import recbole.trainer.trainer as recbole_trainer

    state = {"stopped": False, "epoch_started": None, "last_epoch": False}
    train_epoch, early_stopping = recbole_trainer.Trainer._train_epoch, recbole_trainer.early_stopping

    def timed_train_epoch(self, train_data, epoch_idx, *args, **kwargs):
        state["epoch_started"], state["last_epoch"] = time.time(), epoch_idx >= self.epochs - 1
        return train_epoch(self, train_data, epoch_idx, *args, **kwargs)

    def early_stopping_or_time(*args, **kwargs):
        best, cur_step, stop, update = early_stopping(*args, **kwargs)
        now, started = time.time(), state["epoch_started"]
        if stop or started is None or state["last_epoch"]:  # ending anyway: not the time's doing
            return best, cur_step, stop, update
        if now + (now - started) > deadline:
            stop = state["stopped"] = True
            print(f"stopping: another epoch ({now - started:.0f} s) would end past the study's deadline", flush=True)
        return best, cur_step, stop, update

    # RecBole 1.2.1's fit calls the early_stopping its module imported, after every validation
    recbole_trainer.Trainer._train_epoch = timed_train_epoch
    recbole_trainer.early_stopping = early_stopping_or_time
    return state


def child(flags: list[str], stop_by: float | None = None) -> None:
    """One run, in this process: run_recbole_xlstm.main with these flags, then one JSON line with its results
    and the run's peak memory. ``stop_by``: see stop_training_by."""
    import torch

    sys.path.insert(0, str(REPO))
    import run_recbole_xlstm

    time_stop = stop_training_by(stop_by) if stop_by is not None else {"stopped": False}
    sys.argv = ["run_recbole_xlstm.py", *flags]  # RecBole's Config reads its properties from sys.argv
    result = run_recbole_xlstm.main()
    if torch.cuda.is_available():
        peak = torch.cuda.max_memory_allocated() / 2**20
        memory = "cuda max allocated"
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        memory = "peak RSS"
    print("RESULT " + json.dumps({"valid": result["best_valid_result"], "test": result["test_result"],
                                  "peak_mem_mib": peak, "memory": memory,
                                  "stopped_by_time": time_stop["stopped"]}))  # fmt: skip


def parse_log(text: str) -> dict:
    """What RecBole's log says about a run: parameters, seconds per training epoch, the best epoch."""
    params = re.search(r"Trainable parameters: (\d+)", text)
    # a continued run's log holds both legs, and the second runs again the epochs after the checkpoint's:
    # an epoch's last lines are the ones its weights went on from
    epoch_times = list(dict(
        (int(e), float(t)) for e, t in re.findall(r"epoch (\d+) training \[time: ([0-9.]+)s", text)
    ).values())  # fmt: skip
    valid = sorted(dict(
        (int(e), float(s))
        for e, s in re.findall(r"epoch (\d+) evaluating \[time: [0-9.]+s, valid_score: ([0-9.]+)\]", text)
    ).items())  # fmt: skip
    best_epoch = None
    if valid:
        best = max(score for _, score in valid)
        # RecBole 1.2.1's early_stopping takes a validation equal to the best (value >= best, at the log's 4
        # decimals) as the new best: the weights saved, tested and counted from are those of the last best
        best_epoch = [epoch for epoch, score in valid if score == best][-1]
    backend = re.search(r"xLSTM backend\S*: (.*)", text)
    return {
        "params": int(params.group(1)) if params else None,
        "epochs_run": len(epoch_times),
        "sec_per_epoch": statistics.mean(epoch_times) if epoch_times else None,
        "best_epoch": best_epoch,
        "valid_curve": [score for _, score in valid],  # valid NDCG@10 (valid_metric) after each epoch
        "backend": backend.group(1).strip() if backend else None,
    }


def deadline_stopped(runs: list[dict]) -> list[dict]:
    """The finished runs a deadline stopped short of early stopping."""
    return [r for r in runs if r["status"] == "ok" and r.get("stopped_by_time")]


def newest_checkpoint(runs_dir: Path, name: str) -> Path | None:
    """The checkpoint a run (or its last continued leg) saved last, under saved/<name>/; None if none."""
    saved = sorted((runs_dir / "saved" / name).glob("*.pth"), key=lambda path: path.stat().st_mtime)
    return saved[-1] if saved else None


RERUN_KEYS = ("date", "command", "device", "workers", "threads_per_run")  # what environment.json says of a study


class Scheduler:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.runs_dir = Path(args.runs_dir)
        (self.runs_dir / "logs").mkdir(parents=True, exist_ok=True)
        self.results_file = self.runs_dir / "runs.jsonl"
        self.start = time.time()
        self.pending: list[Job] = []
        self.running: dict[str, tuple[Job, subprocess.Popen, float]] = {}
        self.done: dict[str, dict] = {}
        self.device_flags = [] if args.device == "cuda" else ["--use_gpu=False"]
        self.not_started = 0  # runs dropped because one they need failed

    def left(self) -> float:
        return self.args.deadline_s - (time.time() - self.start)

    def plan(self) -> None:
        for d_index, dataset in enumerate(self.args.datasets):
            plan = PLANS[dataset]
            ablation_seeds = (self.args.ablation_seeds or plan.seeds[:1]) if self.args.ablation else []
            prepares = {seed: Job(dataset, "SASRec", "prepare", seed, None, priority=(-1, 0, 0))
                        for seed in dict.fromkeys(plan.seeds + ablation_seeds)}  # fmt: skip
            self.pending += prepares.values()
            prepare = prepares[plan.seeds[0]]
            for m_index, model in enumerate([] if self.args.ablation_only else plan.models):
                for lr in grid_rates(plan, model):
                    self.pending.append(Job(dataset, model, "grid", plan.seeds[0], lr, priority=(d_index, 0, m_index),
                                            requires=(prepare.name,)))  # fmt: skip
            for s_index, seed in enumerate(ablation_seeds):
                for v_index, (variant, props) in enumerate(plan.ablation.items()):
                    self.pending.append(Job(dataset, variant_model(variant), "ablation", seed, self.args.ablation_lr,
                                            extra=props, variant=variant, priority=(10 + d_index, s_index, v_index),
                                            requires=(prepares[seed].name,)))  # fmt: skip

    def add_seeds(self, dataset: str, model: str) -> None:
        """When a model's grid is complete: its best rate with the other seeds."""
        plan = PLANS[dataset]
        grid = [
            r for r in self.done.values() if r["dataset"] == dataset and r["model"] == model and r["phase"] == "grid"
        ]
        expected = len(grid_rates(plan, model))
        if len(grid) < expected or any(r["status"] != "ok" for r in grid):
            return
        best = max(grid, key=lambda r: r["valid"]["ndcg@10"])
        # seed-major, in the order of the models list: a deadline then cuts the last seed of the last models,
        # not every seed of the model whose grid happened to finish last
        d_index, m_index = self.args.datasets.index(dataset), plan.models.index(model)
        for s_index, seed in enumerate(plan.seeds[1:], start=1):
            prepare = Job(dataset, "SASRec", "prepare", seed, None).name
            self.pending.append(Job(dataset, model, "seed", seed, best["learning_rate"],
                                    priority=(d_index + 0.5, s_index, m_index), requires=(prepare,)))  # fmt: skip

    def skip_recorded(self) -> None:
        """--resume: the runs that runs.jsonl holds as finished count as done and are not run again; a grid
        they complete sends its best rate on to the other seeds, as if it had just finished."""
        from study_report import load_runs

        rerun = self.args.rerun_time_stopped or self.args.continue_time_stopped
        runs = load_runs(self.runs_dir)
        recorded = {r["name"]: r for r in runs if r["status"] == "ok" and not (rerun and r.get("stopped_by_time"))}

        def take_recorded() -> None:
            for job in [j for j in self.pending if j.name in recorded]:
                self.pending.remove(job)
                self.done[job.name] = recorded[job.name]
                print(f"recorded {job.name}: not run again", flush=True)

        take_recorded()
        for dataset, model in dict.fromkeys(
            (r["dataset"], r["model"]) for r in self.done.values() if r["phase"] == "grid"
        ):
            self.add_seeds(dataset, model)
        take_recorded()  # seeds of a complete grid that ran before
        if self.args.continue_time_stopped:
            self.continue_from_checkpoints(runs)

    def continue_from_checkpoints(self, runs: list[dict]) -> None:
        """--continue_time_stopped: a planned run that a deadline stopped goes on from the checkpoint its first
        leg saved (under saved/<name>/, its best epoch) instead of from the start; without one it starts again.
        ``runs``: the records of runs.jsonl, the last of each name."""
        stopped = {r["name"]: r for r in deadline_stopped(runs)}
        for job in [j for j in self.pending if j.name in stopped]:
            checkpoint = newest_checkpoint(self.runs_dir, job.name)
            if checkpoint is None:
                print(
                    f"no checkpoint of {job.name} under {self.runs_dir / 'saved'}: it runs from the start", flush=True
                )
                continue
            job.resume_from, job.earlier = str(checkpoint.resolve()), stopped[job.name]
            print(f"continue {job.name} from {checkpoint.name}", flush=True)

    def launch(self, job: Job) -> None:
        log = open(self.runs_dir / "logs" / f"{job.name}.log", "a" if job.resume_from else "w")
        if job.resume_from:  # the log keeps the first leg: parse_log reads the epochs of both
            log.write(f"\n{CONTINUED_MARK} {job.resume_from} ====\n")
            log.flush()
        env = {**os.environ, "OMP_NUM_THREADS": str(self.args.threads_per_run)}
        if job.phase == "prepare":
            command = [sys.executable, __file__, "--prepare", job.dataset, "--seed", str(job.seed),
                       "--runs_dir", str(self.runs_dir)]  # fmt: skip
            if self.args.data_path:
                command.append(f"--data_path={self.args.data_path}")
        else:
            flags = run_flags(job, PLANS[job.dataset], self.runs_dir, self.device_flags, self.args.xlstm_compile)
            command = [sys.executable, __file__, "--child"]
            if self.args.time_stop_margin_s is not None and self.args.deadline_s != float("inf"):
                stop_by = self.start + self.args.deadline_s - self.args.time_stop_margin_s
                command += ["--stop_by", f"{stop_by:.0f}"]
            command += ["--", *flags, *([f"--resume_from={job.resume_from}"] if job.resume_from else [])]
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=self.runs_dir, env=env)
        self.running[job.name] = (job, process, time.time())
        print(f"[{time.time() - self.start:6.0f}s] start  {job.name}", flush=True)

    def finish(self, name: str) -> None:
        job, process, started = self.running.pop(name)
        text = (self.runs_dir / "logs" / f"{name}.log").read_text(errors="replace")
        record = {"name": name, "dataset": job.dataset, "model": job.model, "phase": job.phase, "seed": job.seed,
                  "learning_rate": job.learning_rate, "variant": job.variant, "extra": job.extra,
                  "device": self.args.device, "wall_s": time.time() - started,
                  "epochs_planned": {**PLANS[job.dataset].settings, **job.extra}.get("epochs")}  # fmt: skip
        if job.resume_from:
            record.update(continued_from=Path(job.resume_from).name, wall_s=record["wall_s"] + job.earlier["wall_s"])
        found = ([None] + list(RESULT_LINE.finditer(text)))[-1]  # a continued run's log holds its first leg's too
        if process.returncode == 0 and (found or job.phase == "prepare"):
            record["status"] = "ok"
            if found:
                record.update(json.loads(found.group(1)), **parse_log(text))
                if job.resume_from and job.earlier.get("device") != record["device"]:
                    # the legs ran on different devices: the time of an epoch is this device's alone
                    record["sec_per_epoch"] = parse_log(text.split(CONTINUED_MARK)[-1])["sec_per_epoch"]
        else:  # the last line of a traceback names the error
            tail = [line for line in text.strip().splitlines() if line.strip()][-1:] or ["no output"]
            record["status"] = f"failed ({process.returncode}): {tail[0][:300]}"
        self.done[name] = record
        if job.phase != "prepare":
            with open(self.results_file, "a") as out:
                out.write(json.dumps(record) + "\n")
        print(f"[{time.time() - self.start:6.0f}s] {record['status'][:300]:6s} {name}", flush=True)
        if job.phase == "grid":
            self.add_seeds(job.dataset, job.model)

    def ready(self, job: Job) -> bool:
        return all(self.done.get(r, {}).get("status") == "ok" for r in job.requires)

    def blocked(self, job: Job) -> bool:
        return any(r in self.done and self.done[r]["status"] != "ok" for r in job.requires)

    def loop(self) -> None:
        from recbole_xlstm import environment

        environment_file = self.runs_dir / "environment.json"
        plans = {
            name: {"models": plan.models, "learning_rates": plan.learning_rates, "seeds": plan.seeds,
                   "settings": plan.settings}
            for name, plan in PLANS.items() if name in self.args.datasets
        }  # fmt: skip
        command = shlex.join(["python", "benchmarks/accuracy_study.py", *sys.argv[1:]])  # quoted: it can be rerun
        env = {**environment(), "date": time.strftime("%Y-%m-%d"), "device": self.args.device,
               "workers": self.args.workers, "threads_per_run": self.args.threads_per_run, "command": command,
               "plans": plans}  # fmt: skip
        if environment_file.is_file():  # a rerun into the same runs: its records replace those of the same name
            # a rerun can run elsewhere (a GPU for a CPU study's missing runs): its machine goes with it
            rerun = {key: env[key] for key in RERUN_KEYS}
            add_to_environment(self.runs_dir, "reruns", {**rerun, "machine": environment()})
        else:
            environment_file.write_text(json.dumps(env, indent=1))
        self.plan()
        if self.args.resume:
            self.skip_recorded()
        while self.pending or self.running:
            for name, (_, process, _) in list(self.running.items()):
                if process.poll() is not None:
                    self.finish(name)
            for job in [j for j in self.pending if self.blocked(j)]:
                print(f"not started {job.name}: a run it needs failed", flush=True)
                self.pending.remove(job)
                self.not_started += 1
            if self.left() <= 0:
                break
            self.pending.sort(key=lambda j: j.priority)
            for job in list(self.pending):
                if len(self.running) >= self.args.workers:
                    break
                if self.ready(job) and self.left() > self.args.min_left_s:
                    self.pending.remove(job)
                    self.launch(job)
            if not self.running and not any(self.ready(j) for j in self.pending):
                break
            time.sleep(1)
        for name, (job, process, _) in list(self.running.items()):
            process.kill()
            process.wait()
            record = {"name": name, "dataset": job.dataset, "model": job.model, "phase": job.phase,
                      "status": f"not finished: killed at the {self.args.deadline_s:.0f} s deadline"}  # fmt: skip
            with open(self.results_file, "a") as out:
                out.write(json.dumps(record) + "\n")
            print(f"killed {name}", flush=True)
        for job in self.pending:
            print(f"not started {job.name}", flush=True)

    def failed(self) -> int:
        """Runs that failed or could not start because one they need failed (deadline kills are not failures)."""
        return self.not_started + sum(r["status"].startswith("failed") for r in self.done.values())


def collect(runs_dir: Path) -> list[dict]:
    """Adds to runs.jsonl the runs that finished after their scheduler stopped (killed before its deadline, or
    its terminal closed: the runs go on), from their logs: the run's flags (RecBole logs sys.argv) and the
    RESULT line. Runs without a RESULT line are listed, not recorded."""
    from study_report import load_runs

    known = {record["name"] for record in load_runs(runs_dir)} if (runs_dir / "runs.jsonl").is_file() else set()
    added = []
    for log in sorted((runs_dir / "logs").glob("*.log")):
        name, text = log.stem, log.read_text(errors="replace")
        argv = re.search(r"\['run_recbole_xlstm\.py', (.*?)\]$", text, re.MULTILINE)
        if name in known or argv is None:  # recorded already, or a dataset preparation
            continue
        found = RESULT_LINE.search(text)
        if not found:
            print(f"not collected {name}: no RESULT line in its log")
            continue
        flags = dict(re.findall(r"'--(\w+)=([^']*)'", argv.group(1)))
        job = job_of_run(name, flags)
        if job is None:
            print(f"not collected {name}: an ablation variant this script no longer has")
            continue
        # the scheduler passes --use_gpu=False to every CPU run (Scheduler.device_flags) and nothing to a GPU one
        device = "cpu" if flags.get("use_gpu") == "False" else "cuda"
        record = {"name": name, "dataset": job.dataset, "model": job.model, "phase": job.phase, "seed": job.seed,
                  "learning_rate": job.learning_rate, "variant": job.variant, "extra": job.extra, "device": device,
                  "wall_s": None, "status": "ok", "collected_from_log": True}  # fmt: skip
        record.update(json.loads(found.group(1)), **parse_log(text))
        with open(runs_dir / "runs.jsonl", "a") as out:
            out.write(json.dumps(record) + "\n")
        added.append(record)
        print(f"collected {name}")
    if added:
        add_to_environment(
            runs_dir, "collected", {"date": time.strftime("%Y-%m-%d"), "runs": [r["name"] for r in added]}
        )
    return added


def job_of_run(name: str, flags: dict[str, str]) -> Job | None:
    """The Job that a run's name and logged flags describe (an ablation's variant is the one whose name the run
    bears; None if no variant does)."""
    phase = name[len(f"{flags['dataset']}-{flags['model']}-") :].split("-")[0]
    rate = learning_rate(flags.get("learning_rate", "default"))
    job = Job(flags["dataset"], flags["model"], phase, int(flags["seed"]), rate)
    if phase != "ablation":
        return job
    variants = (dataclasses.replace(job, variant=v, extra=props) for v, props in ABLATION.items())
    return next((variant for variant in variants if variant.name == name), None)


def merge(source: Path, runs_dir: Path) -> list[str]:
    """Adds the runs of a study that ran in ``source`` (another runs dir, often a ``--resume`` copy of this one)
    to ``runs_dir``: their records, their logs, and each study that ran there as a rerun entry of environment.json
    (with its machine and ``merged_from``). Left out: records ``runs_dir`` already holds (a copy's own), runs killed
    at a deadline (not results), a failed run whose name ``runs_dir`` holds as finished (it would replace a
    result), and a record without its log. Returns the names merged."""
    from study_report import load_runs

    held = set((runs_dir / "runs.jsonl").read_text().splitlines())
    finished = {r["name"] for r in load_runs(runs_dir) if r["status"] == "ok"}
    merged = []
    for line in (source / "runs.jsonl").read_text().splitlines():
        if not line.strip() or line in held:
            continue
        record = json.loads(line)
        log_name = f"{record['name']}.log"
        if record["status"].startswith("not finished"):
            print(f"not merged {record['name']}: {record['status']}")
        elif record["status"] != "ok" and record["name"] in finished:
            print(f"not merged {record['name']}: {record['status'][:100]}; {runs_dir} holds it as finished")
        elif not (source / "logs" / log_name).is_file():  # a record must come with its log
            print(f"not merged {record['name']}: {source}/logs has no {log_name}")
        else:
            shutil.copy(source / "logs" / log_name, runs_dir / "logs" / log_name)
            with open(runs_dir / "runs.jsonl", "a") as out:
                out.write(line + "\n")
            merged.append(record["name"])
            print(f"merged {record['name']}" + (" (replaces its record)" if record["name"] in finished else ""))
    if merged:
        studies = json.loads((source / "environment.json").read_text())
        machine = {k: v for k, v in studies.items() if k not in (*RERUN_KEYS, "plans", "reruns", "collected")}
        first = {**{k: studies.get(k) for k in RERUN_KEYS}, "machine": machine}
        recorded = json.loads((runs_dir / "environment.json").read_text())
        known = {study_key(recorded), *map(study_key, recorded.get("reruns", []))}
        for study in [first, *studies.get("reruns", [])]:
            if study_key(study) not in known:  # a --resume copy holds runs_dir's own studies too
                add_to_environment(runs_dir, "reruns", {**study, "merged_from": str(source)})
    return merged


def study_key(study: dict) -> tuple:
    return tuple(study.get(key) for key in RERUN_KEYS)


def add_to_environment(runs_dir: Path, key: str, entry: dict) -> None:
    """Appends to a list in the runs' environment.json (what was rerun or collected there, and when)."""
    environment_file = runs_dir / "environment.json"
    env = json.loads(environment_file.read_text()) if environment_file.is_file() else {}
    env.setdefault(key, []).append(entry)
    environment_file.write_text(json.dumps(env, indent=1))


def changed_settings(runs_dir: Path, datasets: list[str]) -> str:
    """How this study's settings differ from those the runs dir's first study recorded (its environment.json);
    empty where they agree, or where nothing was recorded for a dataset."""
    environment_file = runs_dir / "environment.json"
    recorded = json.loads(environment_file.read_text()).get("plans", {}) if environment_file.is_file() else {}
    changes = []
    for dataset in datasets:
        before = recorded.get(dataset, {}).get("settings")
        now = json.loads(json.dumps(PLANS[dataset].settings))  # as JSON holds it: lists, not tuples
        if before is not None and before != now:
            keys = sorted(k for k in {*before, *now} if before.get(k) != now.get(k))
            changes.append(f"{dataset}: " + ", ".join(f"{k} was {before.get(k)!r}, now {now.get(k)!r}" for k in keys))
    return "; ".join(changes)


def learning_rate(text: str) -> float | None:
    return None if text == "default" else float(text)


def override_plans(args: argparse.Namespace) -> None:
    """Smaller studies (smoke tests, a rerun of some models) keep the protocol and change only the budget."""
    for plan in PLANS.values():
        if args.models:
            plan.models = [m for m in args.models if m in MODELS]
        if args.learning_rates:
            plan.learning_rates = args.learning_rates
        if args.seeds:
            plan.seeds = args.seeds
        if args.epochs:
            plan.settings["epochs"] = args.epochs
        if args.data_path:
            plan.data_path = args.data_path
        for setting in args.set or []:
            key, _, value = setting.partition("=")
            plan.settings[key] = yaml.safe_load(value)
        if args.ablation_variants:  # narrows a dataset's own ablation; ml-1m has none and gets none
            plan.ablation = {name: plan.ablation[name] for name in args.ablation_variants if name in plan.ablation}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["ml-100k", "amazon-beauty"], choices=list(PLANS))
    parser.add_argument("--runs_dir", default=str(REPO / "benchmarks" / "runs" / time.strftime("%Y-%m-%d")))
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--threads_per_run", type=int, default=1)
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--deadline_s", type=float, default=float("inf"))
    parser.add_argument("--min_left_s", type=float, default=0.0, help="start no run with less time than this left")
    parser.add_argument("--time_stop_margin_s", type=float, default=None,
                        help="end a run's training (keeping its best epoch, as early stopping does) when another "
                        "epoch would end later than this many seconds before --deadline_s: a run then finishes "
                        "with fewer epochs instead of being killed")  # fmt: skip
    parser.add_argument("--stop_by", type=float, default=None, help=argparse.SUPPRESS)
    parser.add_argument(
        "--ablation", action="store_true", help="also the xLSTM4Rec ablation (the first seed, or --ablation_seeds)"
    )
    parser.add_argument("--ablation_only", action="store_true",
                        help="only the ablation; its baseline: the xLSTM4Rec grid run in --runs_dir")  # fmt: skip
    parser.add_argument("--ablation_seeds", type=int, nargs="+", default=None,
                        help="the seeds the ablation runs with (default: the first of --seeds); its variants are "
                        "compared with xLSTM4Rec's runs of the same seeds and rate")  # fmt: skip
    parser.add_argument("--ablation_lr", type=learning_rate, default=None,
                        help="the ablation's rate (default 0.002); 'default': xLSTM4Rec's own (as "
                        "--learning_rates default)")  # fmt: skip
    parser.add_argument("--resume", action="store_true",
                        help="into a --runs_dir a study wrote: run only what its runs.jsonl does not hold as "
                        "finished (add seeds, models or rates to a study, or finish one cut short)")  # fmt: skip
    parser.add_argument("--rerun_time_stopped", action="store_true",
                        help="with --resume: a run that a deadline stopped (a result, but short of early stopping) "
                        "runs again; its new record replaces the old one")  # fmt: skip
    parser.add_argument("--continue_time_stopped", action="store_true",
                        help="with --resume: as --rerun_time_stopped, but the run goes on from the checkpoint of its "
                        "best epoch (saved/<name>/ in --runs_dir) instead of from the start")  # fmt: skip
    parser.add_argument("--report", action="store_true", help="write results from --runs_dir's runs.jsonl")
    parser.add_argument("--collect", action="store_true", help="record runs that ended after their scheduler stopped")
    parser.add_argument("--merge", default=None, metavar="SRC",
                        help="add the runs of another runs dir (e.g. a --resume copy) to --runs_dir")  # fmt: skip
    parser.add_argument("--results_dir", default=str(REPO / "benchmarks" / "results"), help="where --report writes")
    parser.add_argument("--prepare", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=SEEDS[0], help=argparse.SUPPRESS)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--models", nargs="+", default=None, help="instead of each dataset's models")
    parser.add_argument(
        "--learning_rates", type=learning_rate, nargs="+", default=None,
        help="instead of the grid; 'default': each model's own default rate (no tuning)",
    )  # fmt: skip
    parser.add_argument("--seeds", type=int, nargs="+", default=None, help="instead of 2020 2021 2022")
    parser.add_argument("--epochs", type=int, default=None, help="instead of each dataset's epochs")
    parser.add_argument("--data_path", default=None, help="where the datasets' folders are (all datasets)")
    parser.add_argument("--xlstm_compile", type=lambda v: v == "True", default=None,
                        help="True/False: xLSTM4Rec's xlstm_compile (default: the model's own default)")  # fmt: skip
    parser.add_argument("--set", nargs="+", default=None, metavar="KEY=VALUE", help="override a setting, all datasets")
    parser.add_argument("--ablation_variants", nargs="+", default=None, choices=list(ABLATION), metavar="VARIANT",
                        help=f"a subset of the ablation, from: {', '.join(map(repr, ABLATION))}")  # fmt: skip
    args, rest = parser.parse_known_args()
    args.ablation = args.ablation or args.ablation_only
    # each would plan nothing without the ablation: say so rather than run without it
    for flag in ("ablation_seeds", "ablation_lr", "ablation_variants"):
        if getattr(args, flag) is not None and not args.ablation:
            parser.error(f"--{flag} needs --ablation or --ablation_only")
    for flag in ("rerun_time_stopped", "continue_time_stopped"):
        if getattr(args, flag) and not args.resume:
            parser.error(f"--{flag} needs --resume (without it, every planned run runs anyway)")
    if args.ablation_lr is None:
        args.ablation_lr = ABLATION_LR
    override_plans(args)
    without = [d for d in args.datasets if not PLANS[d].ablation] if args.ablation else []
    if without and args.ablation_only and len(without) == len(args.datasets):
        with_ablation = [name for name, plan in PLANS.items() if plan.ablation]
        parser.error(f"no ablation is planned for {', '.join(without)}: name {' or '.join(with_ablation)} in "
                     "--datasets")  # fmt: skip
    if args.child:
        child([flag for flag in rest if flag != "--"], args.stop_by)
        return
    if args.prepare:
        sys.argv = sys.argv[:1]
        prepare_dataset(args.prepare, args.seed, Path(args.runs_dir))
        return
    # a runs dir's name mistyped would otherwise be a FileNotFoundError traceback (--report) or nothing (--collect)
    needed = "runs.jsonl" if args.report or args.resume or args.merge else "logs" if args.collect else None
    if needed and not (Path(args.runs_dir) / needed).exists():
        parser.error(f"--runs_dir {args.runs_dir} has no {needed}: name the --runs_dir a study wrote its runs to")
    if args.collect:
        collect(Path(args.runs_dir))
        return
    if args.merge:
        source = Path(args.merge)
        lacking = [name for name in ("runs.jsonl", "environment.json") if not (source / name).is_file()]
        if lacking:
            parser.error(f"--merge {args.merge} has no {' or '.join(lacking)}: name the --runs_dir a study wrote to")
        if source.resolve() == Path(args.runs_dir).resolve():
            parser.error("--merge names --runs_dir itself: name the other runs dir")
        merge(source, Path(args.runs_dir))
        return
    if args.report:
        from study_report import write_reports

        write_reports(Path(args.runs_dir), Path(args.results_dir))
        return
    if args.resume and (changed := changed_settings(Path(args.runs_dir), args.datasets)):
        parser.error(f"--resume: {changed}; the recorded runs ran with the recorded settings. Resume with the "
                     "same --set/--epochs, or use a new --runs_dir")  # fmt: skip
    if without:  # only where runs are planned: --report and --collect plan none
        print(f"no ablation is planned for {', '.join(without)}: it gets no ablation runs", flush=True)
    scheduler = Scheduler(args)
    scheduler.loop()
    if scheduler.failed():
        sys.exit(f"{scheduler.failed()} run(s) failed or could not start; their logs are in {args.runs_dir}/logs")


if __name__ == "__main__":
    main()
