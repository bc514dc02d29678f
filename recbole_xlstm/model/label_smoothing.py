"""``label_smoothing`` for RecBole's own models, so a baseline can train with the loss xLSTM4Rec trains with.

RecBole 1.2.1 has no such property: its CE models (SASRec, GRU4Rec, NARM, ...) build a plain
``nn.CrossEntropyLoss()`` as ``self.loss_fct``, and a ``--label_smoothing`` given to them would be silently
ignored. Runs through this plugin (its quick start, ``run_recbole_xlstm.py``, its tuning) set the smoothing on
that loss instead; a model whose CE loss is built inside ``calculate_loss`` (BERT4Rec) is refused.
"""

from __future__ import annotations

from logging import getLogger
from typing import Any, Mapping

from torch import nn

from recbole_xlstm.model.validation import InvalidPropertyError


def smooth_recbole_loss(model: nn.Module, config: Mapping[str, Any]) -> None:
    """Sets ``config["label_smoothing"]`` (checked: model.validation.check_label_smoothing) on the
    CrossEntropyLoss a RecBole model keeps as ``loss_fct``; nothing when it is unset or 0."""
    smoothing = config["label_smoothing"]
    if not smoothing:
        return
    loss = getattr(model, "loss_fct", None)
    if not isinstance(loss, nn.CrossEntropyLoss):
        held = f"its loss_fct is {type(loss).__name__}" if loss is not None else "it builds its loss in calculate_loss"
        raise InvalidPropertyError(
            f"label_smoothing={smoothing} cannot be applied to {config['model']}: {held}, not a CrossEntropyLoss "
            "kept as loss_fct (the one RecBole's CE models such as SASRec, GRU4Rec and NARM use). Set "
            "label_smoothing: 0.0 for this model."
        )
    loss.label_smoothing = float(smoothing)  # CrossEntropyLoss reads it at every forward
    getLogger().info(f"label_smoothing {smoothing} set on {config['model']}'s CrossEntropyLoss")
