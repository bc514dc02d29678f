"""Train and test a model the way RecBole's quick start does, without importing recbole.quick_start
(RecBole 1.2.1 imports ray there at module level) and with the plugin's Config and registry."""

from __future__ import annotations

import logging
import os
import sys
from collections import OrderedDict
from collections.abc import Mapping, MutableMapping
from logging import getLogger
from typing import Any

import torch.distributed as dist
from recbole.data import create_dataset, data_preparation
from recbole.data.transform import construct_transform
from recbole.utils import get_environment, get_flops, init_logger, init_seed, set_color

from recbole_xlstm.checkpoint import load_checkpoint
from recbole_xlstm.config import Config
from recbole_xlstm.label_smoothing import smooth_recbole_loss
from recbole_xlstm.model.validation import check_label_smoothing
from recbole_xlstm.registry import PLUGIN_MODELS, get_model, get_trainer
from recbole_xlstm.resume import check_resumable, resume_training


def plain_floats(result: Mapping[str, Any] | None) -> OrderedDict | None:
    """RecBole's metrics as Python floats: under numpy 2 its np.float64 values would print as
    ``np.float64(0.1156)`` in the log's "best valid" and "test result" lines."""
    return None if result is None else OrderedDict((name, float(value)) for name, value in result.items())


class DatasetNotFoundError(FileNotFoundError):
    """The atomic files of a dataset are not where the configuration points."""


def check_dataset_files(config: Config) -> None:
    """Fail with a clear message before RecBole would try to download (a raw URLError offline, a
    stdin prompt for large files) or load an empty folder."""
    dataset, data_path = config["dataset"], config["data_path"]
    suffixes = config["benchmark_filename"] or [None]
    expected = [os.path.join(data_path, f"{dataset}.{part}.inter" if part else f"{dataset}.inter") for part in suffixes]
    missing = [path for path in expected if not os.path.isfile(path)]
    if missing:
        raise DatasetNotFoundError(
            f"Dataset '{dataset}' not found: no {', '.join(missing)}. Put RecBole atomic files "
            f"({dataset}.inter, optionally .item/.user) in a folder named '{dataset}' and pass its parent as "
            f"--data_path=... (now '{os.path.dirname(os.path.normpath(data_path))}'). RecBole's own datasets can be "
            "downloaded from its dataset list and converted with RecBole's conversion tools."
        )


def check_model_properties(config: Config) -> None:
    """Run the model's own property check, if it has one, before any data is loaded."""
    check = getattr(config.model_class, "check_config", None)
    if check is not None:
        check(config)
    else:  # RecBole's models: the one property the plugin adds to them (see label_smoothing)
        check_label_smoothing(config)


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

    dataset = create_dataset(config)
    logger.info(dataset)
    train_data, valid_data, test_data = data_preparation(config, dataset)

    model = build_model(config, train_data._dataset, seed_offset=config["local_rank"])
    logger.info(model)
    if hasattr(model, "backend_used"):
        logger.info(set_color("xLSTM backend", "blue") + f": {model.backend_used}")
    transform = construct_transform(config)
    flops = get_flops(model, dataset, config["device"], logger, transform)
    logger.info(set_color("FLOPs", "blue") + f": {flops}")

    data = (train_data, valid_data, test_data)
    result = train_and_test(
        config, model, data, saved, verbose=True, show_progress=config["show_progress"], resume_from=resume_from
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
    select on the test set); ``recbole_xlstm.tuning`` is the Ray Tune path.
    """
    config = checked_config(config_dict=config_dict, config_file_list=config_file_list)
    # init_logger uses logging.basicConfig, which does nothing while the root logger has handlers:
    # drop the previous trial's so each trial gets its own log file (as RecBole's objective does)
    root = getLogger()
    for handler in root.handlers[:]:
        root.removeHandler(handler)
    init_logger(config)
    logging.basicConfig(level=logging.ERROR)
    dataset = create_dataset(config)
    train_data, valid_data, test_data = data_preparation(config, dataset)
    model = build_model(config, train_data._dataset)
    data = (train_data, valid_data, test_data)
    result = train_and_test(config, model, data, saved, verbose=False, show_progress=False)
    result.pop("saved_model_file")  # not in the return value of RecBole's objective_function
    return {"model": config["model"], **result}


def checked_config(**config_args: Any) -> Config:
    """The plugin's Config, with the model's properties and the dataset's files checked (before any data is
    read) and the seed set: how every training run starts."""
    config = Config(**config_args)
    check_model_properties(config)
    check_dataset_files(config)
    init_seed(config["seed"], config["reproducibility"])
    return config


def train_and_test(
    config: Config,
    model: Any,
    data: tuple,
    saved: bool,
    verbose: bool,
    show_progress: bool,
    resume_from: str | None = None,
) -> dict[str, Any]:
    """Fit with validation every ``eval_step`` epochs, then test once: with the best epoch's weights when
    ``saved``, else with the last. ``data``: (train, valid, test) dataloaders; ``verbose``: the per-epoch
    log lines; ``resume_from``: a checkpoint to go on from. Metrics are plain floats."""
    train_data, valid_data, test_data = data
    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, model)
    if resume_from is not None:
        resume_training(trainer, resume_from, config, valid_data)
    best_valid_score, best_valid_result = trainer.fit(
        train_data, valid_data, verbose=verbose, saved=saved, show_progress=show_progress
    )
    test_result = trainer.evaluate(test_data, load_best_model=saved, show_progress=show_progress)
    return {
        "best_valid_score": best_valid_score,
        "valid_score_bigger": config["valid_metric_bigger"],
        "best_valid_result": plain_floats(best_valid_result),
        "test_result": plain_floats(test_result),
        "saved_model_file": trainer.saved_model_file if saved else None,
    }


def build_model(config: Config, train_dataset: Any, checkpoint: dict | None = None, seed_offset: int = 0) -> Any:
    """The model as RecBole's quick start builds it: seeded, on ``config["device"]``; with a
    checkpoint's weights, and in eval mode, when one is given."""
    init_seed(config["seed"] + seed_offset, config["reproducibility"])
    model = get_model(config["model"])(config, train_dataset).to(config["device"])
    if config["model"] not in PLUGIN_MODELS:  # the plugin's own models build their loss with it
        smooth_recbole_loss(model, config)
    if checkpoint is not None:
        model.load_state_dict(checkpoint["state_dict"])
        model.load_other_parameter(checkpoint.get("other_parameter"))
        model.eval()
    return model


def checkpoint_and_config(model_file: str, device: str | None = None, data_path: str | None = None) -> tuple:
    """(checkpoint, its Config) loaded weights-only, the Config set to run on ``device`` (default:
    cuda if available) and, when given, to read the dataset from ``data_path`` (the folder holding
    the dataset's folder) instead of where training read it."""
    import torch

    checkpoint = load_checkpoint(model_file)
    config = checkpoint["config"]
    if data_path is not None:
        config["data_path"] = os.path.join(data_path, config["dataset"])
    config["device"] = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    return checkpoint, config


def load_data_and_model(model_file: str, device: str | None = None) -> tuple:
    """``recbole.quick_start.load_data_and_model`` with safe loading: (config, model, dataset,
    train_data, valid_data, test_data), the model in eval mode with the checkpoint's weights.

    ``device`` overrides the device the checkpoint was trained on (default: cuda if available).
    """
    checkpoint, config = checkpoint_and_config(model_file, device)
    init_seed(config["seed"], config["reproducibility"])
    dataset = create_dataset(config)
    train_data, valid_data, test_data = data_preparation(config, dataset)
    model = build_model(config, train_data._dataset, checkpoint)
    return config, model, dataset, train_data, valid_data, test_data


def evaluate_checkpoint(
    model_file: str, splits: tuple[str, ...] = ("test",), device: str | None = None
) -> dict[str, dict[str, float]]:
    """RecBole's metrics of a saved model on its dataset's ``splits`` ("valid", "test"), data loaded once."""
    config, model, _, _, valid_data, test_data = load_data_and_model(model_file, device)
    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, model)
    data = {"valid": valid_data, "test": test_data}
    return {
        split: {
            k: float(v) for k, v in trainer.evaluate(data[split], load_best_model=False, show_progress=False).items()
        }
        for split in splits
    }
