"""Fixes for RecBole 1.2.1 on the libraries it now meets; each names the RecBole code and versions.

Applied once by ``import recbole_xlstm``.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import recbole.trainer.trainer as recbole_trainer_module
import torch

from recbole_xlstm.checkpoint import load_checkpoint


class TorchForRecBoleTrainer:
    """Stands in for ``torch`` inside recbole/trainer/trainer.py only; everything but save and load
    is torch itself.

    With torch >= 2.6, ``torch.load`` defaults to ``weights_only=True``, and RecBole 1.2.1's
    checkpoints fail it twice: ``Trainer._save_checkpoint`` writes ``pickle_protocol=4``, whose
    opcodes (FRAME, STACK_GLOBAL, ...) torch's weights-only unpickler cannot read, and the file holds
    RecBole's Config and enums. So ``Trainer.evaluate(load_best_model=True)`` and
    ``Trainer.resume_checkpoint`` break on RecBole's own files. Here checkpoints are written with
    protocol 2 and read weights-only with exactly RecBole's types allowed (recbole_xlstm.checkpoint).
    """

    def __init__(self, torch_module: ModuleType) -> None:
        self._torch = torch_module

    def __getattr__(self, name: str) -> Any:
        return getattr(self._torch, name)

    def save(self, obj: Any, f: Any, pickle_protocol: int = 2, **kwargs: Any) -> None:
        # RecBole passes pickle_protocol=4; it is overridden on purpose (see the class docstring).
        self._torch.save(obj, f, pickle_protocol=2, **kwargs)

    def load(self, f: Any, map_location: Any = None, **kwargs: Any) -> Any:
        return load_checkpoint(f, map_location=map_location)


def weights_only_checkpoints_for_recbole_trainer() -> None:
    if not isinstance(recbole_trainer_module.torch, TorchForRecBoleTrainer):
        recbole_trainer_module.torch = TorchForRecBoleTrainer(torch)


def apply() -> None:
    weights_only_checkpoints_for_recbole_trainer()


__all__ = ["apply", "TorchForRecBoleTrainer", "weights_only_checkpoints_for_recbole_trainer"]
