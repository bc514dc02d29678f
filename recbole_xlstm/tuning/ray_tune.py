"""Ray Tune search over a hyper.test file, selecting on validation only.

A trial trains with RecBole's trainer and reports the validation metrics after every epoch
(through ``Trainer.fit``'s ``callback_fn``), so ASHA can stop weak trials early. The test split is
built (RecBole builds all three dataloaders) but never evaluated in a trial; after the search the
best trial's best checkpoint is evaluated on test once. RecBole's own Ray example instead reports the
test metrics once per trial, which makes the selection peek at the test set.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recbole.utils import init_logger

from recbole_xlstm.config import Config
from recbole_xlstm.model.validation import InvalidPropertyError
from recbole_xlstm.pipeline import build_trainer, check_dataset_files, checked_config, prepare
from recbole_xlstm.property_names import check_property_names
from recbole_xlstm.provenance import environment
from recbole_xlstm.quick_start import evaluate_checkpoint
from recbole_xlstm.tuning.report import TrialRow, refuse_existing_search, write_search_results
from recbole_xlstm.tuning.space import HyperSpaceError, SearchParameter, plain, read_hyper_file, to_ray_space

FINISHED_FILE = "recbole_trial.json"  # written by a trial that ran to its end (not stopped by the scheduler)


@dataclass
class TuneOptions:
    """How to search; every field is a command-line flag of run_recbole_xlstm.py."""

    params_file: str
    num_samples: int = 20
    scheduler: str = "asha"  # "asha" or "fifo" (no early stopping)
    # "random" (Ray's sampler), "grid" (every combination of choice-only spaces once; num_samples
    # does not apply) or "hyperopt" (TPE over RecBole's own hyperopt space)
    search_alg: str = "random"
    grace_period: int = 1  # epochs every trial gets before ASHA may stop it
    reduction_factor: int = 2
    cpus_per_trial: float = 1.0
    gpus_per_trial: float | None = None  # None: 0.25 where the cluster has GPUs, else 0
    max_concurrent: int = 0  # 0: as many as the resources allow
    ray_address: str | None = None  # None: RAY_ADDRESS if set, else a local Ray
    output_dir: str | None = None
    seed: int = 2020  # the sampler's seed: the same command samples the same configurations


@dataclass
class TrialSetup:
    """What every trial shares: passed to the workers, so only plain values and absolute paths."""

    model: str
    dataset: str
    config_file_list: list[str]
    config_dict: dict[str, Any]
    cpus_per_trial: float = 1.0


def _resolve_paths(config: Config, config_file_list: list[str] | None) -> tuple[str, list[str]]:
    """Absolute data_path (the folder holding <dataset>/) and config files: Ray runs each trial in
    its own working directory, where relative paths would point nowhere."""
    data_root = os.path.dirname(os.path.abspath(os.path.normpath(config["data_path"])))
    files = [os.path.abspath(f) for f in (config_file_list or [])]
    return data_root, files


def check_search_parameters(params: list[SearchParameter], config: Config) -> None:
    """Every searched name must be a property RecBole or the model reads; RecBole would otherwise
    ignore it silently and the search would spend its budget on nothing."""
    known = set(config.internal_config_dict) | set(config.final_config_dict)
    unknown = [p.name for p in params if p.name not in known]
    if unknown:
        import difflib

        hints = {n: difflib.get_close_matches(n, sorted(known), n=1) for n in unknown}
        hint = "; ".join(f"{n}: did you mean {h[0]}?" for n, h in hints.items() if h)
        raise HyperSpaceError(
            f"{', '.join(unknown)} {'is' if len(unknown) == 1 else 'are'} not a property of {config['model']} "
            f"or RecBole, so searching {'it' if len(unknown) == 1 else 'them'} would change nothing. "
            f"Remove {'it' if len(unknown) == 1 else 'them'} from the search-space file. {hint}"
        )


def trial_config(setup: TrialSetup, params: dict[str, Any], trial_dir: str, gpu_ids: list) -> dict[str, Any]:
    config = dict(setup.config_dict)
    config.update({k: plain(v) for k, v in params.items()})
    config.update(
        model=setup.model,
        dataset=setup.dataset,
        checkpoint_dir=trial_dir,
        show_progress=False,
        # RecBole's Config sets CUDA_VISIBLE_DEVICES to gpu_id (default "0"), which would move every
        # trial onto the first GPU: hand it the GPUs Ray assigned to this trial instead
        gpu_id=",".join(str(i) for i in gpu_ids),
        use_gpu=bool(gpu_ids),
    )
    return config


@contextmanager
def without_the_workers_command_line() -> Iterator[None]:
    """RecBole's Config reads sys.argv. In a Ray worker that is Ray's own command line (``--node-ip-address=...``,
    which the plugin would refuse as unknown properties), not the user's: the driver already passed the user's
    ``--key=value`` properties in the trial's config_dict."""
    saved = sys.argv
    sys.argv = saved[:1]
    try:
        yield
    finally:
        sys.argv = saved


def run_trial(
    setup: TrialSetup,
    params: dict[str, Any],
    trial_dir: str,
    report: Callable[[dict[str, Any]], None],
    gpu_ids: list | None = None,
) -> dict[str, Any]:
    """Train one configuration, calling ``report`` with the validation metrics after each epoch.

    Never evaluates the test split. Writes FINISHED_FILE in ``trial_dir`` when training ends by
    itself (epochs or RecBole's early stopping), and returns what it wrote.
    """
    try:
        with without_the_workers_command_line():
            config = checked_config(
                config_file_list=setup.config_file_list or None,
                config_dict=trial_config(setup, params, trial_dir, gpu_ids or []),
            )
    except InvalidPropertyError as err:
        # no report: a result without the metric would make Ray fail the trial
        outcome = {"status": "skipped", "reason": str(err)}
        Path(trial_dir, FINISHED_FILE).write_text(json.dumps(outcome))
        return outcome
    init_logger(config)
    prepared = prepare(config)  # RecBole builds the test split too; a trial never reads it
    train_data, valid_data = prepared.train_data, prepared.valid_data
    trainer = build_trainer(config, prepared.model)

    # fit's callback_fn gets only the score; keep the whole validation result of each epoch too
    last_valid = {}
    validate = trainer._valid_epoch

    def validate_and_keep(*args: Any, **kwargs: Any):
        score, result = validate(*args, **kwargs)
        last_valid.clear()
        last_valid.update(result)
        return score, result

    trainer._valid_epoch = validate_and_keep
    started = time.time()

    def after_epoch(epoch_idx: int, valid_score: float) -> None:
        report(
            {
                "valid_score": float(valid_score),
                **{f"valid_{k}": float(v) for k, v in last_valid.items()},
                "epoch": epoch_idx + 1,
                "best_valid_score": float(trainer.best_valid_score),
                "checkpoint_file": trainer.saved_model_file,
                "device": str(config["device"]),
            }
        )

    best_score, best_result = trainer.fit(
        train_data, valid_data, verbose=True, saved=True, show_progress=False, callback_fn=after_epoch
    )
    outcome = {
        "status": "completed",
        "best_valid_score": float(best_score),
        "best_valid_result": {k: float(v) for k, v in (best_result or {}).items()},
        "checkpoint_file": trainer.saved_model_file,
        "seconds": time.time() - started,
    }
    Path(trial_dir, FINISHED_FILE).write_text(json.dumps(outcome))
    return outcome


def ray_trial(params: dict[str, Any], setup: TrialSetup) -> None:
    """The Ray Tune trainable: one trial on the CPUs/GPU fraction Ray gave it."""
    import ray
    import torch

    from recbole_xlstm.tuning import ray_versions

    torch.set_num_threads(max(1, int(setup.cpus_per_trial)))
    run_trial(setup, params, ray_versions.trial_dir(), ray_versions.report, gpu_ids=ray.get_gpu_ids())


def _scheduler(options: TuneOptions, max_epochs: int):
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

    if options.scheduler == "fifo":
        return FIFOScheduler()
    if options.scheduler == "asha":
        return ASHAScheduler(
            time_attr="training_iteration",
            max_t=max_epochs,
            grace_period=min(options.grace_period, max_epochs),
            reduction_factor=options.reduction_factor,
        )
    raise ValueError(f"Unknown scheduler {options.scheduler!r}: use asha or fifo.")


def _search_space(options: TuneOptions, params: list[SearchParameter], metric: str, mode: str):
    """(param_space, search_alg) for Tuner."""
    if options.search_alg == "random":
        from ray.tune.search import BasicVariantGenerator

        # Ray applies max_concurrent_trials to a Searcher only: this generator takes its own cap (Ray 2.6.3 and
        # current Ray log "max_concurrent_trials will be ignored" and run every trial at once otherwise)
        generator = BasicVariantGenerator(random_state=options.seed, max_concurrent=options.max_concurrent)
        return to_ray_space(params), generator
    if options.search_alg == "grid":
        from ray import tune

        ranges = [p.name for p in params if p.kind != "choice"]
        if ranges:
            raise HyperSpaceError(
                f"--search_alg=grid needs choice parameters only; {', '.join(ranges)} "
                f"{'is a range' if len(ranges) == 1 else 'are ranges'}. Use choice lists, or --search_alg=random."
            )
        return {p.name: tune.grid_search(list(p.values)) for p in params}, None
    if options.search_alg == "hyperopt":
        from ray.tune.search.hyperopt import HyperOptSearch
        from recbole.trainer import HyperTuning

        space = HyperTuning._build_space_from_file(options.params_file)  # RecBole's own hyperopt space
        return None, HyperOptSearch(space=space, metric=metric, mode=mode, random_state_seed=options.seed)
    raise ValueError(f"Unknown search_alg {options.search_alg!r}: use random, grid or hyperopt.")


def _trial_id(result: Any) -> str:
    if result.metrics and result.metrics.get("trial_id"):
        return str(result.metrics["trial_id"])
    match = re.search(r"_([0-9a-f]{5}_\d{5})_", os.path.basename(str(result.path or "")))
    return match.group(1) if match else str(result.path)


def _row(result: Any, param_names: list[str], metric_name: str, max_epochs: int) -> TrialRow:
    metrics = dict(result.metrics or {})
    finished = {}
    trial_path = str(result.path) if result.path else ""  # Result.log_dir is gone in current Ray
    if trial_path and os.path.isfile(os.path.join(trial_path, FINISHED_FILE)):
        finished = json.loads(Path(trial_path, FINISHED_FILE).read_text())
    history = result.metrics_dataframe
    scores = [] if history is None or "valid_score" not in history else history["valid_score"].dropna().tolist()
    if result.error is not None:
        lines = [line for line in str(result.error).strip().splitlines() if line.strip()]
        status = "error: " + (lines[-1].strip() if lines else type(result.error).__name__)
    elif finished.get("status") == "skipped":
        status = "skipped: " + finished["reason"]
    elif finished.get("status") == "completed" or len(scores) >= max_epochs:
        # a trial that reaches the scheduler's max_t is stopped by it at its last report, before it
        # can write FINISHED_FILE; one that RecBole's early stopping ends writes it
        status = "completed"
    elif scores:
        status = "stopped early"
    else:
        status = "no result"
    return TrialRow(
        trial_id=_trial_id(result),
        params={name: plain(result.config.get(name)) for name in param_names} if result.config else {},
        scores=scores,
        best_valid_score=metrics.get("best_valid_score", max(scores) if scores else None),
        epochs=int(metrics.get("epoch", len(scores))) if scores else 0,
        seconds=float(metrics.get("time_total_s", 0.0)),
        status=status,
        checkpoint_file=finished.get("checkpoint_file") or metrics.get("checkpoint_file"),
        metric_name=metric_name,
    )


def tune_with_ray(
    model: str | None,
    dataset: str | None,
    options: TuneOptions,
    config_file_list: list[str] | None = None,
    config_dict: dict[str, Any] | None = None,
    cmd_props_to_drop: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Search, then evaluate the best trial's best checkpoint on test once. Returns the summary
    also written to ``<output_dir>/summary.json``."""
    try:
        import ray
        from ray import tune
    except ModuleNotFoundError as error:
        from recbole_xlstm import INSTALL_HINT

        raise ModuleNotFoundError(
            f"Ray Tune is not installed, and --tuner=ray needs it. {INSTALL_HINT} Or tune with --tuner=recbole."
        ) from error

    from recbole_xlstm.tuning import ray_versions

    started = time.time()
    config = Config(model=model, dataset=dataset, config_file_list=config_file_list, config_dict=config_dict)
    check_property_names(config, config.property_files)  # the fixed settings, before Ray starts
    for warning in check_dataset_files(config):
        print(f"warning: {warning}", file=sys.stderr)
    params = read_hyper_file(options.params_file)
    check_search_parameters(params, config)
    data_root, files = _resolve_paths(config, config_file_list)
    # --key=value properties from the command line: the workers do not see this process's argv
    # (the command line overrides config_dict, as in RecBole's Config)
    fixed = dict(config_dict or {})
    fixed.update({k: v for k, v in config.cmd_config_dict.items() if k not in cmd_props_to_drop})
    if "data_path" in config.external_config_dict:
        fixed["data_path"] = data_root  # else RecBole's default, already absolute, applies in every trial
    metric_name = config["valid_metric"].lower()
    mode = "max" if config["valid_metric_bigger"] else "min"
    max_epochs = int(config["epochs"])

    output_dir = Path(
        options.output_dir
        or Path("tune_results") / f"{config['model']}-{config['dataset']}-{time.strftime('%Y%m%d-%H%M%S')}"
    ).absolute()
    refuse_existing_search(output_dir, "summary.json", "ray")
    param_space, search_alg = _search_space(options, params, "valid_score", mode)
    scheduler = _scheduler(options, max_epochs)
    output_dir.mkdir(parents=True, exist_ok=True)
    if not ray.is_initialized():
        address = options.ray_address or os.environ.get("RAY_ADDRESS")
        if address:
            ray.init(address=address)
        else:
            ray.init(include_dashboard=False, log_to_driver=False)
    cluster_gpus = ray.cluster_resources().get("GPU", 0)
    gpus = options.gpus_per_trial if options.gpus_per_trial is not None else (0.25 if cluster_gpus else 0)
    if gpus and not cluster_gpus:
        raise ValueError(f"--gpus_per_trial={gpus} but the Ray cluster has no GPU; use --gpus_per_trial=0.")
    resources = {"cpu": options.cpus_per_trial, "gpu": gpus}

    setup = TrialSetup(
        model=config["model"],
        dataset=config["dataset"],
        config_file_list=files,
        config_dict=fixed,
        cpus_per_trial=options.cpus_per_trial,
    )
    tuner = tune.Tuner(
        tune.with_resources(tune.with_parameters(ray_trial, setup=setup), resources),
        param_space=param_space,
        tune_config=tune.TuneConfig(
            metric="valid_score",
            mode=mode,
            num_samples=1 if options.search_alg == "grid" else options.num_samples,
            scheduler=scheduler,
            search_alg=search_alg,
            max_concurrent_trials=None if options.search_alg == "random" else options.max_concurrent or None,
        ),
        run_config=ray_versions.run_config(name="ray", storage_path=str(output_dir)),
    )
    grid = tuner.fit()
    rows = [_row(result, [p.name for p in params], metric_name, max_epochs) for result in grid]
    search_seconds = time.time() - started

    scored = [r for r in rows if r.best_valid_score is not None and r.checkpoint_file]
    best = (max if mode == "max" else min)(scored, key=lambda r: r.best_valid_score) if scored else None
    # the only look at the test split: the chosen trial's best-validation checkpoint, once
    evaluated = evaluate_checkpoint(best.checkpoint_file, ("valid", "test")) if best else {}

    summary = {
        "model": config["model"],
        "dataset": config["dataset"],
        "params_file": os.path.abspath(options.params_file),
        "valid_metric": metric_name,
        "num_trials": len(rows),
        "stopped_early": sum(r.status == "stopped early" for r in rows),
        "completed": sum(r.status == "completed" for r in rows),
        "errors": sum(r.status.startswith("error") for r in rows),
        "skipped": sum(r.status.startswith("skipped") for r in rows),
        "scheduler": options.scheduler,
        "search_alg": options.search_alg,
        "resources_per_trial": resources,
        "max_epochs": max_epochs,
        "search_seconds": round(search_seconds, 1),
        "best_trial": best.trial_id if best else None,
        "best_params": best.params if best else None,
        "best_valid_score": best.best_valid_score if best else None,
        "best_valid_result": evaluated.get("valid"),
        "test_result": evaluated.get("test"),
        "best_checkpoint": best.checkpoint_file if best else None,
        "total_seconds": round(time.time() - started, 1),
        "fixed_properties": {k: plain(v) for k, v in fixed.items()},
        "config_files": files,
        "output_dir": str(output_dir),
        "environment": environment(),
    }
    write_search_results(output_dir, rows, summary, bigger=mode == "max")
    return summary
