"""Find models and trainers in the plugin first, then in RecBole; make RecBole itself find them.

RecBole 1.2.1's ``recbole.utils.get_model`` only imports ``recbole.model.<kind>.<name lower>``,
and ``Config`` only reads ``recbole/properties/model/<name>.yaml``. ``register()`` aliases each
plugin model module under ``recbole.model.sequential_recommender`` and lets RecBole's Config
read the plugin's property file, so unchanged RecBole scripts can use the plugin's models.
"""

from __future__ import annotations

import difflib
import importlib
import sys
from pathlib import Path
from typing import Callable

import recbole
import recbole.model.sequential_recommender as recbole_sequential
import recbole.utils
from recbole.config import Config as RecBoleConfig

PLUGIN_MODELS = {"xLSTM4Rec": "recbole_xlstm.model.xlstm4rec"}
PROPERTIES_DIR = Path(__file__).resolve().parent / "properties"

# RecBole's own layering, kept before register() wraps it (the plugin's Config builds on it too).
recbole_load_internal_config_dict: Callable = RecBoleConfig._load_internal_config_dict


class UnknownModelError(ValueError):
    """A model name that neither the plugin nor RecBole knows."""


def recbole_model_names() -> list[str]:
    """RecBole's model class names, read from its property files (importing every model is slow)."""
    model_props = Path(recbole.__file__).resolve().parent / "properties" / "model"
    return sorted(p.stem for p in model_props.glob("*.yaml"))


def available_models() -> list[str]:
    return sorted(set(PLUGIN_MODELS) | set(recbole_model_names()), key=str.lower)


def _unknown_model(name: str) -> UnknownModelError:
    names = available_models()
    by_case = {n.lower(): n for n in names}
    close = [by_case[name.lower()]] if name.lower() in by_case else difflib.get_close_matches(name, names, n=3)
    hint = f" Did you mean {', '.join(close)}? (names are case-sensitive)" if close else ""
    return UnknownModelError(
        f"Unknown model '{name}'.{hint} Plugin models: {', '.join(PLUGIN_MODELS)}. "
        f"RecBole models: {', '.join(recbole_model_names())}."
    )


def get_model(model_name: str) -> type:
    """The model class named model_name: the plugin's first, then RecBole's."""
    if model_name in PLUGIN_MODELS:
        return getattr(importlib.import_module(PLUGIN_MODELS[model_name]), model_name)
    # Checked first: for a name it lacks, RecBole 1.2.1's get_model imports every model package,
    # and exlib_recommender fails on a missing lightgbm/xgboost before the name is even looked up.
    if model_name not in recbole_model_names():
        raise _unknown_model(model_name)
    return recbole.utils.get_model(model_name)


def get_trainer(model_type, model_name: str) -> type:
    """The plugin's ``<model_name>Trainer`` where it has one, else RecBole's choice."""
    plugin_trainers = importlib.import_module("recbole_xlstm.trainer")
    trainer = getattr(plugin_trainers, f"{model_name}Trainer", None)
    return trainer or recbole.utils.get_trainer(model_type, model_name)


def plugin_property_file(model_name: str) -> Path | None:
    path = PROPERTIES_DIR / f"{model_name}.yaml"
    return path if model_name in PLUGIN_MODELS and path.is_file() else None


# Models that learn by counting the items of their training batches: RecBole 1.2.1's Pop counts every item
# of a batch, so sampled negatives would count as interactions (and make its ranking depend on the seed).
COUNTING_MODELS = frozenset({"Pop"})


def set_train_neg_sampling(config: RecBoleConfig, model: str) -> None:
    """Unless the user set train_neg_sample_args: none for CE (it trains on all items, and RecBole 1.2.1
    raises with a sampler) and for the counting models; BPR keeps RecBole's sampler."""
    if "train_neg_sample_args" in config.external_config_dict:
        return
    loss_type = config.external_config_dict.get("loss_type", config.internal_config_dict.get("loss_type"))
    if loss_type == "CE" or model in COUNTING_MODELS:
        config.internal_config_dict["train_neg_sample_args"] = None


def load_plugin_layers(config: RecBoleConfig, model: str) -> None:
    """The plugin's model properties go above RecBole's internal layers and below the user's."""
    path = plugin_property_file(model)
    if path is not None:
        config._update_internal_config_dict(str(path))


def _recbole_config_with_plugin_properties(self, model, model_class, dataset) -> None:
    recbole_load_internal_config_dict(self, model, model_class, dataset)
    if model in PLUGIN_MODELS:
        load_plugin_layers(self, model)
        set_train_neg_sampling(self, model)


def register() -> None:
    """Make RecBole's own get_model, Config and quick start find the plugin's models. Idempotent."""
    for name, module_name in PLUGIN_MODELS.items():
        module = importlib.import_module(module_name)
        alias = f"{recbole_sequential.__name__}.{name.lower()}"
        sys.modules.setdefault(alias, module)
        setattr(recbole_sequential, name.lower(), module)
    RecBoleConfig._load_internal_config_dict = _recbole_config_with_plugin_properties
