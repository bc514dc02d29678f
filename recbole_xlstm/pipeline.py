"""The one path every run takes: checked config -> dataset -> model -> trainer -> fit / evaluate.

Training (quick_start), each tuning trial, recommending and evaluating a checkpoint all call these, so
a check, a seed or a fix added here holds for all of them. Nothing here imports ``recbole.quick_start``
(RecBole 1.2.1 imports ray there at module level).
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from recbole.data import create_dataset, data_preparation
from recbole.utils import init_seed

from recbole_xlstm.compat.checkpoint import load_checkpoint
from recbole_xlstm.config import Config, check_run_properties
from recbole_xlstm.data_checks import check_atomic_files
from recbole_xlstm.model.label_smoothing import smooth_recbole_loss
from recbole_xlstm.model.validation import check_label_smoothing
from recbole_xlstm.property_names import check_property_names
from recbole_xlstm.registry import PLUGIN_MODELS, get_model, get_trainer


class DatasetNotFoundError(FileNotFoundError):
    """The atomic files of a dataset are not where the configuration points."""


def check_dataset_files(config: Config) -> list[str]:
    """Fail with a clear message before RecBole would try to download (a raw URLError offline, a
    stdin prompt for large files), load an empty folder or fail on a file's format (data_checks). Returns
    warnings for the run's log; may add the time field to ``load_col`` (see data_checks)."""
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
    return check_atomic_files(config, data_path, expected)


def check_model_properties(config: Config) -> None:
    """Run the model's own property check, if it has one, before any data is loaded."""
    check = getattr(config.model_class, "check_config", None)
    if check is not None:
        check(config)
    else:  # RecBole's models: the one property the plugin adds to them (see model/label_smoothing.py)
        check_label_smoothing(config)


def checked_config(**config_args: Any) -> Config:
    """The plugin's Config, with the run's and the model's properties and the dataset's files checked before any
    data is read."""
    config = Config(**config_args)
    check_property_names(config, config.property_files)
    check_run_properties(config)
    check_model_properties(config)
    config.dataset_warnings = check_dataset_files(config)
    return config


def checkpoint_and_config(model_file: str, device: str | None = None, data_path: str | None = None) -> tuple:
    """(checkpoint, its Config) loaded weights-only, the Config set to run on ``device`` (default:
    cuda if available) and, when given, to read the dataset from ``data_path`` (the folder holding
    the dataset's folder) instead of where training read it."""
    checkpoint = load_checkpoint(model_file)
    config = checkpoint["config"]
    if data_path is not None:
        config["data_path"] = os.path.join(data_path, config["dataset"])
    config["device"] = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    return checkpoint, config


@dataclass
class Prepared:
    """What a run works on: the dataset as RecBole loaded it, its three dataloaders and the model."""

    dataset: Any
    train_data: Any
    valid_data: Any
    test_data: Any
    model: Any


def load_dataset(config: Config) -> Any:
    """The dataset as RecBole loads it (seeded first, as RecBole's quick start does), before it is split."""
    init_seed(config["seed"], config["reproducibility"])
    return create_dataset(config)


def prepare(config: Config, checkpoint: dict | None = None, seed_offset: int = 0, dataset: Any = None) -> Prepared:
    """Load the dataset (unless ``dataset``: one load_dataset returned) and its dataloaders as RecBole's quick
    start does, and build the model (with a checkpoint's weights, in eval mode, when one is given)."""
    dataset = load_dataset(config) if dataset is None else dataset
    train_data, valid_data, test_data = data_preparation(config, dataset)
    model = build_model(config, train_data._dataset, checkpoint, seed_offset)
    return Prepared(dataset, train_data, valid_data, test_data, model)


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


def build_trainer(config: Config, model: Any) -> Any:
    return get_trainer(config["MODEL_TYPE"], config["model"])(config, model)


def plain_floats(result: Mapping[str, Any] | None) -> OrderedDict | None:
    """RecBole's metrics as Python floats: under numpy 2 its np.float64 values would print as
    ``np.float64(0.1156)`` in the log's "best valid" and "test result" lines."""
    return None if result is None else OrderedDict((name, float(value)) for name, value in result.items())


def evaluate(trainer: Any, data: Any, load_best_model: bool = False, show_progress: bool = False) -> OrderedDict:
    return plain_floats(trainer.evaluate(data, load_best_model=load_best_model, show_progress=show_progress))
