"""RecBole's quick-start names, with the plugin's Config and registry: ``run_recbole_xlstm`` (RecBole's
``run_recbole``), ``run`` (one process or RecBole's multi-process spawn), ``objective_function`` and
``load_data_and_model``. Each goes through ``recbole_xlstm.pipeline``; none imports ``recbole.quick_start``
(RecBole 1.2.1 imports ray there at module level)."""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from logging import getLogger
from typing import Any

import torch.distributed as dist
from recbole.data.transform import construct_transform
from recbole.utils import get_environment, get_flops, init_logger, set_color

from recbole_xlstm.compat.checkpoint import load_checkpoint
from recbole_xlstm.config import Config
from recbole_xlstm.pipeline import (  # noqa: F401  (DatasetNotFoundError, check_dataset_files: public names here)
    DatasetNotFoundError,
    build_model,
    build_trainer,
    check_dataset_files,
    checked_config,
    checkpoint_and_config,
    evaluate,
    plain_floats,
    prepare,
)
from recbole_xlstm.progress import TrainingInterrupted, interrupted_line, track
from recbole_xlstm.resume import check_resumable, resume_training


def run_recbole_xlstm(
    model: str | None = None,
    dataset: str | None = None,
    config_file_list: list[str] | None = None,
    config_dict: dict[str, Any] | None = None,
    saved: bool = True,
    queue: Any = None,
    resume_from: str | None = None,
) -> dict[str, Any]:
    """Train with validation each epoch, reload the best checkpoint, test; RecBole's result dict.
    ``resume_from``: a checkpoint of an earlier run to go on training from (see recbole_xlstm.resume)."""
    config = checked_config(model=model, dataset=dataset, config_file_list=config_file_list, config_dict=config_dict)
    if resume_from is not None:  # before the data is read: a wrong checkpoint fails in seconds
        check_resumable(load_checkpoint(resume_from), resume_from, config)
    init_logger(config)
    logger = getLogger()
    logger.info(sys.argv)
    logger.info(config)
    for warning in config.dataset_warnings:
        logger.warning(warning)

    prepared = prepare(config, seed_offset=config["local_rank"])
    logger.info(prepared.dataset)
    model = prepared.model
    logger.info(model)
    if hasattr(model, "backend_used"):
        logger.info(set_color("xLSTM backend", "blue") + f": {model.backend_used}")
    transform = construct_transform(config)
    flops = get_flops(model, prepared.dataset, config["device"], logger, transform)
    logger.info(set_color("FLOPs", "blue") + f": {flops}")

    result = train_and_test(
        config, prepared, saved, verbose=True, show_progress=config["show_progress"], resume_from=resume_from
    )

    logger.info("The running environment of this training is as follows:\n" + get_environment(config).draw())
    logger.info(set_color("best valid ", "yellow") + f": {result['best_valid_result']}")
    logger.info(set_color("test result", "yellow") + f": {result['test_result']}")
    if not config["single_spec"]:
        dist.destroy_process_group()
    if config["local_rank"] == 0 and queue is not None:
        queue.put(result)
    return result


def run_recbole_xlstms(rank: int, *args: Any) -> None:
    """One process of a multi-GPU run (the target of torch.multiprocessing.spawn)."""
    kwargs = args[-1]
    if not isinstance(kwargs, MutableMapping):
        raise ValueError(f"The last argument of run_recbole_xlstms should be a dict, got {type(kwargs)}")
    kwargs["config_dict"] = dict(kwargs.get("config_dict") or {}, local_rank=rank)
    run_recbole_xlstm(*args[:3], **kwargs)


def run(
    model: str | None,
    dataset: str | None,
    config_file_list: list[str] | None = None,
    config_dict: dict[str, Any] | None = None,
    saved: bool = True,
    nproc: int = 1,
    world_size: int = -1,
    ip: str = "localhost",
    port: str = "5678",
    group_offset: int = 0,
    resume_from: str | None = None,
) -> dict[str, Any] | None:
    """One process, or ``nproc`` processes of RecBole's own distributed training (as recbole.quick_start.run).
    ``resume_from``: a checkpoint to go on training from, in one process."""
    if nproc == 1 and world_size <= 0:
        return run_recbole_xlstm(model, dataset, config_file_list, config_dict, saved, resume_from=resume_from)
    if resume_from is not None:
        raise ValueError("resume_from runs in one process: drop nproc and world_size to resume a checkpoint")
    import torch.multiprocessing as mp

    world_size = nproc if world_size == -1 else world_size
    queue = mp.get_context("spawn").SimpleQueue()
    config_dict = dict(config_dict or {}, world_size=world_size, ip=ip, port=port, nproc=nproc, offset=group_offset)
    kwargs = {"config_dict": config_dict, "queue": queue, "saved": saved}
    mp.spawn(run_recbole_xlstms, args=(model, dataset, config_file_list, kwargs), nprocs=nproc, join=True)
    return None if queue.empty() else queue.get()


def objective_function(
    config_dict: dict[str, Any] | None = None, config_file_list: list[str] | None = None, saved: bool = True
) -> dict[str, Any]:
    """One trial of RecBole's ``HyperTuning``: same signature and return value as
    ``recbole.quick_start.objective_function``, with the plugin's Config and registry.

    Unlike RecBole's, it does not call ``ray.tune.report`` with the test metrics (that made Ray
    select on the test set); ``recbole_xlstm.tuning.ray_tune`` is the Ray Tune path.
    """
    config = checked_config(config_dict=config_dict, config_file_list=config_file_list)
    # init_logger uses logging.basicConfig, which does nothing while the root logger has handlers:
    # drop the previous trial's so each trial gets its own log file (as RecBole's objective does)
    root = getLogger()
    for handler in root.handlers[:]:
        root.removeHandler(handler)
    init_logger(config)
    logging.basicConfig(level=logging.ERROR)
    for warning in config.dataset_warnings:
        root.warning(warning)
    result = train_and_test(config, prepare(config), saved, verbose=False, show_progress=False)
    result.pop("saved_model_file")  # not in the return value of RecBole's objective_function
    return {"model": config["model"], **result}


def train_and_test(
    config: Config,
    prepared: Any,
    saved: bool,
    verbose: bool,
    show_progress: bool,
    resume_from: str | None = None,
) -> dict[str, Any]:
    """Fit with validation every ``eval_step`` epochs, then test once: with the best epoch's weights when
    ``saved``, else with the last. ``prepared``: pipeline.prepare's dataloaders and model; ``verbose``: the
    per-epoch log lines; ``resume_from``: a checkpoint to go on from. Metrics are plain floats."""
    trainer = build_trainer(config, prepared.model)
    if resume_from is not None:
        resume_training(trainer, resume_from, config, prepared.valid_data)
    progress = track(trainer)
    try:
        best_valid_score, best_valid_result = trainer.fit(
            prepared.train_data, prepared.valid_data, verbose=verbose, saved=saved, show_progress=show_progress
        )
    except KeyboardInterrupt as interrupt:
        line = interrupted_line(progress, trainer, saved)
        getLogger().warning(line)
        raise TrainingInterrupted(line) from interrupt
    return {
        "best_valid_score": best_valid_score,
        "valid_score_bigger": config["valid_metric_bigger"],
        "best_valid_result": plain_floats(best_valid_result),
        "test_result": evaluate(trainer, prepared.test_data, load_best_model=saved, show_progress=show_progress),
        "saved_model_file": trainer.saved_model_file if saved else None,
    }


def load_data_and_model(model_file: str, device: str | None = None) -> tuple:
    """``recbole.quick_start.load_data_and_model`` with safe loading: (config, model, dataset,
    train_data, valid_data, test_data), the model in eval mode with the checkpoint's weights.

    ``device`` overrides the device the checkpoint was trained on (default: cuda if available).
    """
    checkpoint, config = checkpoint_and_config(model_file, device)
    prepared = prepare(config, checkpoint)
    return config, prepared.model, prepared.dataset, prepared.train_data, prepared.valid_data, prepared.test_data


def evaluate_checkpoint(
    model_file: str, splits: tuple[str, ...] = ("test",), device: str | None = None
) -> dict[str, dict[str, float]]:
    """RecBole's metrics of a saved model on its dataset's ``splits`` ("valid", "test"), data loaded once."""
    checkpoint, config = checkpoint_and_config(model_file, device)
    prepared = prepare(config, checkpoint)
    trainer = build_trainer(config, prepared.model)
    data = {"valid": prepared.valid_data, "test": prepared.test_data}
    return {split: dict(evaluate(trainer, data[split])) for split in splits}


__all__ = ["load_data_and_model", "objective_function", "run", "run_recbole_xlstm", "evaluate_checkpoint"]
