"""Load RecBole checkpoints without unpickling arbitrary code.

RecBole 1.2.1's Trainer saves ``{"config": Config, "state_dict": ..., "optimizer": ...}`` with
torch.save. torch >= 2.6 loads with ``weights_only=True`` and refuses the Config object and the
enums inside it. Instead of ``weights_only=False`` (which would run any code a file carries), the
loads here stay weights-only and allow exactly the types a RecBole checkpoint holds. (The
checkpoint must also be written with pickle protocol 2: see compat.TorchForRecBoleTrainer.)

RecBole's Config must not be allow-listed as itself: the weights-only unpickler may *call* an
allowed class, and ``Config(config_dict=...)`` runs ``eval`` on string values. Its pickled name
is mapped to a subclass that can be rebuilt from state but refuses to be called.
"""

from __future__ import annotations

import functools
import os
import pickle
from enum import Enum
from typing import Any

import numpy as np
import torch
import yaml
from recbole.config import Config
from recbole.utils import enum_type


class CheckpointError(RuntimeError):
    """A checkpoint that is missing, corrupt, or holds something other than RecBole's own types."""


def _uncallable(config_class: type) -> type:
    """A subclass that unpickling can rebuild from state (NEWOBJ + BUILD) but never call."""

    def refuse(self, *args: Any, **kwargs: Any) -> None:
        raise pickle.UnpicklingError(f"a checkpoint tried to call {config_class.__qualname__}(...); refused")

    namespace = {"__init__": refuse, "restores_to": config_class}
    return type(f"Uncallable{config_class.__name__}", (config_class,), namespace)


@functools.cache  # one stand-in class per Config class, so loaded configs share a type
def _config_classes() -> dict[str, type]:
    """The pickled names of the Config classes a checkpoint may hold, and their stand-ins."""
    from recbole_xlstm.config import Config as PluginConfig

    return {f"{c.__module__}.{c.__qualname__}": _uncallable(c) for c in (Config, PluginConfig)}


def _recbole_enums() -> list[type]:
    return [
        obj
        for obj in vars(enum_type).values()
        if isinstance(obj, type) and issubclass(obj, Enum) and obj.__module__ == enum_type.__name__
    ]


class ModelClassPlaceholder:
    """Stands for the model class that Config keeps (``config.model_class``) while loading; the real
    class is then looked up by ``config["model"]``. Model classes are not allow-listed: unpickling
    could call them."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise pickle.UnpicklingError("a checkpoint tried to construct a model class; refused")


def _numpy_scalar_globals() -> list:
    """best_valid_score and some config values are numpy scalars: these rebuild a scalar from its
    dtype and bytes (torch's documented allow-list for numpy scalars)."""
    scalar = np.array(0.0)[()].__reduce__()[0]  # numpy(._)core.multiarray.scalar, by version
    dtype_classes = [c for c in vars(getattr(np, "dtypes", object)).values() if isinstance(c, type)]
    # A file written under numpy 1 names numpy.core, under numpy 2 numpy._core: accept both.
    names = ("numpy.core.multiarray.scalar", "numpy._core.multiarray.scalar")
    return [*((scalar, name) for name in names), np.dtype, *dtype_classes]


def _is_model_class_name(name: str) -> bool:
    from recbole_xlstm.registry import PLUGIN_MODELS

    plugin_names = {f"{module}.{model}" for model, module in PLUGIN_MODELS.items()}
    return name.startswith("recbole.model.") or name in plugin_names


def checkpoint_safe_globals(model_class_names: tuple[str, ...] = ()) -> list:
    """The globals a RecBole 1.2.1 checkpoint references, for torch's weights-only unpickler."""
    return [
        *((stand_in, name) for name, stand_in in _config_classes().items()),
        *((ModelClassPlaceholder, name) for name in model_class_names),
        # Config keeps its yaml loader class as an attribute; constructing a loader runs nothing.
        yaml.loader.FullLoader,
        *_recbole_enums(),
        *_numpy_scalar_globals(),
    ]


def restore_config_class(checkpoint: Any) -> Any:
    from recbole_xlstm.registry import get_model

    config = checkpoint.get("config") if isinstance(checkpoint, dict) else None
    if config is not None and hasattr(type(config), "restores_to"):
        config.__class__ = type(config).restores_to
        if getattr(config, "model_class", None) is ModelClassPlaceholder:
            config.model_class = get_model(config["model"])
    return checkpoint


def load_checkpoint(checkpoint_file: str, map_location: Any = "cpu") -> dict:
    """Load a RecBole checkpoint weights-only, with RecBole's Config restored.

    A missing file, a corrupt one, or one holding anything beyond weights, RecBole's Config and its
    enums raises CheckpointError naming the file.
    """
    if not os.path.isfile(checkpoint_file):
        raise CheckpointError(
            f"Checkpoint '{checkpoint_file}' does not exist. Train first (saved=True), or pass the path of a "
            "checkpoint under checkpoint_dir."
        )
    try:
        unsafe_globals = torch.serialization.get_unsafe_globals_in_checkpoint(checkpoint_file)
        model_classes = tuple(name for name in unsafe_globals if _is_model_class_name(name))
        with torch.serialization.safe_globals(checkpoint_safe_globals(model_classes)):
            checkpoint = torch.load(checkpoint_file, map_location=map_location, weights_only=True)
    except (pickle.UnpicklingError, EOFError, RuntimeError, ValueError) as error:
        lines = [line for line in str(error).splitlines() if "error" in line.lower() or "Unsupported" in line]
        hint = ""
        if "Unsupported operand 149" in str(error):
            hint = (
                " It was written with pickle protocol 4 (RecBole without recbole_xlstm); if you trust the file, "
                "re-save it with torch.save(torch.load(path, weights_only=False), path)."
            )
        raise CheckpointError(
            f"Checkpoint '{checkpoint_file}' could not be loaded safely: it is corrupt, or it holds objects "
            f"other than RecBole's (only weights, RecBole's Config and enums are allowed).{hint} "
            f"torch said: {' '.join(lines)[:500] or str(error)[:500]}"
        ) from error
    return restore_config_class(checkpoint)
