"""Fixes for RecBole 1.2.1 on the libraries it now meets; each names the RecBole code and versions.

Applied once by ``import recbole_xlstm``.
"""

from __future__ import annotations

import functools
import inspect
from typing import Callable

from recbole.trainer import Trainer

from recbole_xlstm.checkpoint import recbole_checkpoint_loading

_PATCHED = "__recbole_xlstm_safe_load__"


def _loading_checkpoints_safely(method: Callable, checkpoint_file_of: Callable) -> Callable:
    if getattr(method, _PATCHED, False):
        return method
    signature = inspect.signature(method)

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        with recbole_checkpoint_loading(checkpoint_file_of(self, bound.arguments)):
            return method(self, *args, **kwargs)

    setattr(wrapper, _PATCHED, True)
    return wrapper


def _evaluated_file(trainer: Trainer, arguments: dict) -> str | None:
    if not arguments["load_best_model"] or not arguments["eval_data"]:
        return None
    return arguments["model_file"] or trainer.saved_model_file


def allow_recbole_checkpoints_in_weights_only_load() -> None:
    """torch >= 2.6 defaults torch.load to weights_only=True, and RecBole 1.2.1's
    ``Trainer.evaluate(load_best_model=True)`` and ``Trainer.resume_checkpoint`` (recbole/trainer/
    trainer.py, plain ``torch.load(file, map_location=...)``) then fail on the Config object that
    RecBole's own ``_save_checkpoint`` stores. Both now load inside ``recbole_checkpoint_loading``:
    still weights-only, with RecBole's types allowed. On torch < 2.6 this changes nothing.
    """
    Trainer.evaluate = _loading_checkpoints_safely(Trainer.evaluate, _evaluated_file)
    Trainer.resume_checkpoint = _loading_checkpoints_safely(
        Trainer.resume_checkpoint, lambda trainer, arguments: arguments["resume_file"]
    )


def apply() -> None:
    allow_recbole_checkpoints_in_weights_only_load()


__all__ = ["apply", "allow_recbole_checkpoints_in_weights_only_load"]
