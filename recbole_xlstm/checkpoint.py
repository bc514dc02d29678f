"""Load RecBole checkpoints without unpickling arbitrary code.

RecBole 1.2.1's Trainer saves ``{"config": Config, "state_dict": ..., "optimizer": ...}`` with
torch.save. torch >= 2.6 loads with ``weights_only=True`` and refuses the Config object and the
enums inside it, so ``Trainer.evaluate(load_best_model=True)`` and ``resume_checkpoint`` fail on
RecBole's own files. Instead of ``weights_only=False`` (which would run any code a file carries),
the loads here stay weights-only and allow exactly the types a RecBole checkpoint holds.

RecBole's Config must not be allow-listed as itself: the weights-only unpickler may *call* an
allowed class, and ``Config(config_dict=...)`` runs ``eval`` on string values. Its pickled name
is mapped to a subclass that can be rebuilt from state but refuses to be called.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import traceback
from enum import Enum
from typing import Any, Iterator

import torch
import yaml
from recbole.config import Config
from recbole.utils import enum_type


class CheckpointError(RuntimeError):
    """A checkpoint that is missing, corrupt, or holds something other than RecBole's own types."""


class _CheckpointConfig(Config):
    """What a pickled RecBole Config is rebuilt as while loading; turned back into Config after."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise pickle.UnpicklingError("a checkpoint tried to call recbole Config(...); refused")


def _recbole_enums() -> list[type]:
    return [
        obj
        for obj in vars(enum_type).values()
        if isinstance(obj, type) and issubclass(obj, Enum) and obj.__module__ == enum_type.__name__
    ]


def checkpoint_safe_globals() -> list:
    """The globals a RecBole 1.2.1 checkpoint references, for torch's weights-only unpickler."""
    return [
        (_CheckpointConfig, "recbole.config.configurator.Config"),
        # Config keeps its yaml loader class as an attribute; constructing a loader runs nothing.
        yaml.loader.FullLoader,
        *_recbole_enums(),
    ]


def _raised_while_loading(error: BaseException) -> bool:
    frames = traceback.extract_tb(error.__traceback__)
    return any(frame.filename.endswith(os.path.join("torch", "serialization.py")) for frame in frames)


@contextlib.contextmanager
def recbole_checkpoint_loading(checkpoint_file: str | None = None) -> Iterator[None]:
    """Within this block, torch.load (weights-only) accepts RecBole checkpoints.

    A load that fails (corrupt file, or a type outside the allow-list) becomes a CheckpointError
    naming the file.
    """
    if checkpoint_file is not None and not os.path.isfile(checkpoint_file):
        raise CheckpointError(
            f"Checkpoint '{checkpoint_file}' does not exist. Train first (saved=True), or pass the path of a "
            "checkpoint under checkpoint_dir."
        )
    # torch < 2.5 has no safe_globals, and loads everything anyway (weights_only defaults to False).
    safe_globals = getattr(torch.serialization, "safe_globals", None)
    allowing = safe_globals(checkpoint_safe_globals()) if safe_globals else contextlib.nullcontext()
    try:
        with allowing:
            yield
    except (pickle.UnpicklingError, EOFError, RuntimeError, ValueError) as error:
        if isinstance(error, CheckpointError) or not _raised_while_loading(error):
            raise
        raise CheckpointError(
            f"Checkpoint '{checkpoint_file or '?'}' could not be loaded safely: it is corrupt, or it holds "
            f"objects other than RecBole's (only weights, RecBole's Config and enums are allowed). "
            f"torch said: {str(error).splitlines()[0]}"
        ) from error


def restore_config_class(checkpoint: Any) -> Any:
    if isinstance(checkpoint, dict) and type(checkpoint.get("config")) is _CheckpointConfig:
        checkpoint["config"].__class__ = Config
    return checkpoint


def load_checkpoint(checkpoint_file: str, map_location: Any = "cpu") -> dict:
    """Load a RecBole checkpoint weights-only, with RecBole's Config restored."""
    with recbole_checkpoint_loading(checkpoint_file):
        checkpoint = torch.load(checkpoint_file, map_location=map_location, weights_only=True)
    return restore_config_class(checkpoint)
