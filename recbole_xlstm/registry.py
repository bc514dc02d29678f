"""Find models: the plugin's first, then RecBole's; and make RecBole's own ``get_model`` find the plugin's.

RecBole 1.2.1's ``recbole.utils.get_model`` only imports ``recbole.model.<kind>.<name lower>``.
``register_models()`` aliases each plugin model module under ``recbole.model.sequential_recommender``,
so unchanged RecBole scripts can use the plugin's models. (Their properties reach RecBole's Config
through ``recbole_xlstm.config``.)
"""

from __future__ import annotations

import difflib
import importlib
import sys
from pathlib import Path

import recbole
import recbole.model.sequential_recommender as recbole_sequential
import recbole.utils
from recbole.utils import get_trainer  # noqa: F401  (the plugin's models train with RecBole's trainers)

PLUGIN_MODELS = {"xLSTM4Rec": "recbole_xlstm.model.xlstm4rec", "xLSTM4RecF": "recbole_xlstm.model.xlstm4recf"}


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


def register_models() -> None:
    """Make RecBole's own get_model find the plugin's models. Idempotent."""
    for name, module_name in PLUGIN_MODELS.items():
        module = importlib.import_module(module_name)
        alias = f"{recbole_sequential.__name__}.{name.lower()}"
        sys.modules.setdefault(alias, module)
        setattr(recbole_sequential, name.lower(), module)
