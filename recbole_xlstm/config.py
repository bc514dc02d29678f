"""Properties: RecBole's layers plus the plugin's model properties, and the plugin's defaults for RecBole's.

Precedence, lowest first: RecBole's overall/model/dataset defaults < the plugin's
``model/properties/<Model>.yaml`` < config files < config dict < ``--key=value`` on the command line.
For every model (RecBole's too), ``train_neg_sample_args`` follows ``loss_type`` unless set (Pop: none).

``Config`` is the plugin's; ``register_properties()`` gives RecBole's own Config the same layers, so
unchanged RecBole scripts read the plugin's model properties.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Callable

from recbole.config import Config as RecBoleConfig

from recbole_xlstm.model.validation import InvalidPropertyError
from recbole_xlstm.registry import PLUGIN_MODELS, get_model

PROPERTIES_DIR = Path(__file__).resolve().parent / "model" / "properties"

# RecBole's own layering, kept before register_properties() wraps it (the plugin's Config builds on it too).
recbole_load_internal_config_dict: Callable = RecBoleConfig._load_internal_config_dict

# Models that learn by counting the items of their training batches: RecBole 1.2.1's Pop counts every item
# of a batch, so sampled negatives would count as interactions (and make its ranking depend on the seed).
COUNTING_MODELS = frozenset({"Pop"})


def plugin_property_files(model_name: str) -> list[Path]:
    """The property files of a plugin model and of the plugin models it extends, base first (xLSTM4RecF reads
    xLSTM4Rec's, then its own)."""
    if model_name not in PLUGIN_MODELS:
        return []
    classes = [c for c in reversed(get_model(model_name).__mro__) if c.__name__ in PLUGIN_MODELS]
    return [path for c in classes if (path := PROPERTIES_DIR / f"{c.__name__}.yaml").is_file()]


def set_train_neg_sampling(config: RecBoleConfig, model: str) -> None:
    """Unless the user set train_neg_sample_args: none for CE (it trains on all items, and RecBole 1.2.1
    raises with a sampler) and for the counting models; BPR keeps RecBole's sampler."""
    if "train_neg_sample_args" in config.external_config_dict:
        return
    loss_type = config.external_config_dict.get("loss_type", config.internal_config_dict.get("loss_type"))
    if loss_type == "CE" or model in COUNTING_MODELS:
        config.internal_config_dict["train_neg_sample_args"] = None


def load_plugin_layers(config: RecBoleConfig, model: str) -> None:
    """The plugin's model properties go above RecBole's internal layers and below the user's, then the
    negative-sampling policy."""
    for path in plugin_property_files(model):
        config._update_internal_config_dict(str(path))
    set_train_neg_sampling(config, model)


class Config(RecBoleConfig):
    """RecBole's Config with the plugin's layers, and a clear error (with a did-you-mean) for unknown models."""

    # what pipeline.checked_config found in the dataset's files, for the run's log once its logger exists
    dataset_warnings: tuple[str, ...] | list[str] = ()

    def _get_model_and_dataset(self, model, dataset):
        if isinstance(model, str):
            model = get_model(model)  # clear error for unknown names; plugin models first
        elif model is None and isinstance(self.external_config_dict.get("model"), str):
            model = get_model(self.external_config_dict["model"])
        return super()._get_model_and_dataset(model, dataset)

    def _load_cmd_line(self):
        try:
            return super()._load_cmd_line()
        except SyntaxError as error:  # RecBole 1.2.1: "There are duplicate commend arg '--epochs=0' ..."
            argument = re.search(r"'([^']*)'", str(error))
            raise InvalidPropertyError(
                f"{argument.group(1) if argument else 'A property'} is given twice on the command line, with "
                "different values: keep one."
            ) from error

    def _load_config_files(self, file_list):
        """RecBole's reading of config files, with errors that name the file and the line (RecBole 1.2.1 gives
        yaml's message without the file, or ``dictionary update sequence element #0`` for a line without a
        colon). Records which file set each name, for check_property_names."""
        merged: dict[str, Any] = {}
        self.property_files: dict[str, str] = {}
        for file in file_list or []:
            values = read_config_file(file, self.yaml_loader)
            merged.update(values)
            self.property_files.update(dict.fromkeys(values, file))
        return merged

    def _load_internal_config_dict(self, model, model_class, dataset):
        # RecBole's original layering, not the registered wrapper, so the plugin layer goes in once.
        recbole_load_internal_config_dict(self, model, model_class, dataset)
        load_plugin_layers(self, model)


def read_config_file(file: str, loader: Any) -> dict[str, Any]:
    """A config file's properties, read with RecBole's yaml loader; InvalidPropertyError naming the file (and the
    line) when it cannot be read or is not ``name: value`` lines."""
    import yaml

    try:
        with open(file, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as error:
        raise InvalidPropertyError(f"Config file {file} cannot be read: {error.strerror}.") from error
    try:
        values = yaml.load(text, Loader=loader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = line_without_colon(text) or (mark.line + 1 if mark is not None else None)
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        where = f", line {line}" if line else ""
        raise InvalidPropertyError(
            f"Config file {file}{where}: {problem}; each line must be name: value (a colon and a space)."
        ) from error
    if values is None:
        return {}
    if not isinstance(values, dict):
        line = line_without_colon(text) or 1
        raise InvalidPropertyError(
            f"Config file {file}, line {line}: {text.splitlines()[line - 1].strip()!r} is not name: value (a "
            "colon and a space between the property and its value)."
        )
    return values


def line_without_colon(text: str) -> int | None:
    """The number of the first top-level line that is not a comment, a list item or ``name: value``."""
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip() and not line[0].isspace() and line[0] not in "#-" and ":" not in line:
            return number
    return None


# RecBole properties that must be positive whole numbers, and what each is (RecBole would fail on them only after
# the data has loaded, deep inside torch).
POSITIVE_INTEGERS = {
    "epochs": "training epochs",
    "train_batch_size": "sequences per training step",
    "eval_batch_size": "sequences per evaluation step",
    "MAX_ITEM_LIST_LENGTH": "items of history a sequential model reads",
}


def check_run_properties(config: Mapping[str, Any]) -> None:
    """Raise InvalidPropertyError for a RecBole property no run can use (before any data is read)."""
    for name, meaning in POSITIVE_INTEGERS.items():
        value = config[name]
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            raise InvalidPropertyError(f"{name} ({meaning}) must be a whole number of at least 1, got {value!r}.")
    rate = config["learning_rate"]
    if not isinstance(rate, (int, float)) or isinstance(rate, bool) or not rate > 0:
        raise InvalidPropertyError(f"learning_rate must be a number above 0, such as 0.001, got {rate!r}.")


def _recbole_config_with_plugin_properties(self, model, model_class, dataset) -> None:
    recbole_load_internal_config_dict(self, model, model_class, dataset)
    if model in PLUGIN_MODELS:
        load_plugin_layers(self, model)


def register_properties() -> None:
    """Make RecBole's own Config read the plugin models' properties. Idempotent."""
    RecBoleConfig._load_internal_config_dict = _recbole_config_with_plugin_properties
