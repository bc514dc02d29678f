"""RecBole checkpoints: saved atomically with a digest of their tensors, loaded without unpickling arbitrary code.

RecBole 1.2.1 writes a checkpoint straight to its final path (a kill during the save leaves a truncated best
checkpoint) and nothing checks its contents on load (flipped bytes inside the weights load and recommend
something else). ``save_checkpoint`` writes a temporary file in the same folder, fsyncs it and renames it over
the old one, and stores ``TENSOR_DIGEST``: a SHA-256 of every tensor the file holds. ``load_checkpoint`` checks
it; a file without one (written by an earlier version, or by RecBole) loads with a warning that it cannot be verified.

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
import hashlib
import logging
import os
import pickle
import tempfile
from enum import Enum
from typing import Any

import numpy as np
import torch
import yaml
from recbole.config import Config
from recbole.utils import enum_type


class CheckpointError(RuntimeError):
    """A checkpoint that is missing, corrupt, or holds something other than RecBole's own types."""


TENSOR_DIGEST = "recbole_xlstm_tensor_sha256"
logger = logging.getLogger(__name__)


def tensor_digest(obj: Any) -> str:
    """SHA-256 over every tensor in ``obj`` (dicts by key, then lists in order): its name path, dtype, shape and
    bytes. Other values are left to the unpickler, which refuses what it cannot read."""
    digest = hashlib.sha256()

    def visit(value: Any, path: str) -> None:
        if isinstance(value, torch.Tensor):
            tensor = value.detach().cpu().contiguous()
            digest.update(f"{path}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
            digest.update(tensor.view(-1).view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
        elif isinstance(value, dict):
            for key in sorted(value, key=str):
                visit(value[key], f"{path}/{key}")
        elif isinstance(value, (list, tuple)):
            for index, item in enumerate(value):
                visit(item, f"{path}/{index}")

    visit({k: v for k, v in obj.items() if k != TENSOR_DIGEST}, "")
    return digest.hexdigest()


def save_checkpoint(checkpoint: dict, path: str) -> None:
    """Write ``checkpoint`` (RecBole's dict) to ``path`` with its tensor digest: a temporary file in the same
    folder, fsynced, then renamed over ``path``, so ``path`` is the old file or the new one, never half of one.
    Pickle protocol 2: see recbole_xlstm.compat.recbole_fixes.TorchForRecBoleTrainer."""
    checkpoint = dict(checkpoint)
    checkpoint[TENSOR_DIGEST] = tensor_digest(checkpoint)
    folder = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".partial", dir=folder)
    try:
        with os.fdopen(handle, "wb") as file:
            torch.save(checkpoint, file, pickle_protocol=2)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:  # KeyboardInterrupt too: leave nothing half-written behind
        if os.path.exists(temporary):
            os.remove(temporary)
        raise


def verify_digest(checkpoint: Any, checkpoint_file: str) -> None:
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        return
    stored = checkpoint.get(TENSOR_DIGEST)
    if stored is None:
        logger.warning(
            f"Checkpoint '{checkpoint_file}' has no digest of its weights (written by an earlier recbole-xlstm, or by "
            "RecBole itself), so they cannot be verified."
        )
    elif stored != tensor_digest(checkpoint):
        raise CheckpointError(
            f"Checkpoint '{checkpoint_file}' is corrupt: its weights do not match the digest saved with them. Use "
            "another copy, or train again."
        )


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
    verify_digest(checkpoint, checkpoint_file)
    return restore_config_class(checkpoint)
