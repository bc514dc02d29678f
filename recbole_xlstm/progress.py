"""Where a training run is (epoch, batch), so that Ctrl-C can say where it stopped and what it kept.

RecBole 1.2.1's ``Trainer.fit`` keeps neither in an attribute. ``track`` wraps the trainer's ``_train_epoch``,
passing it a loss function that counts batches; the evaluation of each epoch is marked too.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during ``fit``; its message (also in the run's log) says where, and what was kept."""


@dataclass
class Progress:
    epoch: int | None = None
    batch: int = 0
    batches: int | None = None
    validating: bool = False

    def where(self) -> str:
        if self.epoch is None:
            return "before the first epoch"
        if self.validating:
            return f"epoch {self.epoch}, during validation"
        of = f" of {self.batches}" if self.batches else ""
        return f"epoch {self.epoch}, batch {self.batch}{of}"


def track(trainer: Any) -> Progress:
    """Instrument ``trainer`` (an instance; its class is left alone) and return the Progress it updates."""
    progress = Progress()
    train_epoch, valid_epoch = trainer._train_epoch, trainer._valid_epoch

    def counted_train_epoch(train_data: Any, epoch_idx: int, loss_func: Any = None, show_progress: bool = False):
        progress.epoch, progress.batch, progress.validating = epoch_idx, 0, False
        progress.batches = len(train_data) if hasattr(train_data, "__len__") else None
        loss = loss_func or trainer.model.calculate_loss

        def counted_loss(interaction: Any) -> Any:
            progress.batch += 1
            return loss(interaction)

        return train_epoch(train_data, epoch_idx, loss_func=counted_loss, show_progress=show_progress)

    def marked_valid_epoch(*args: Any, **kwargs: Any) -> Any:
        progress.validating = True
        try:
            return valid_epoch(*args, **kwargs)
        finally:
            progress.validating = False

    trainer._train_epoch, trainer._valid_epoch = counted_train_epoch, marked_valid_epoch
    return progress


def interrupted_line(progress: Progress, trainer: Any, saved: bool) -> str:
    """The log's line for a run stopped by Ctrl-C: where, and which checkpoint holds the best epoch so far."""
    kept = "no checkpoint was saved (saved=False)"
    if saved:
        path = trainer.saved_model_file
        if os.path.isfile(path):
            kept = f"the best epoch so far is in {path}; go on with --resume_from={path}"
        else:
            kept = "no epoch had been validated yet, so no checkpoint was saved"
    return f"interrupted at {progress.where()}: {kept}"
