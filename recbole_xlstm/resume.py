"""Go on training from a checkpoint: a run that was interrupted (killed, out of time) continues from the
last epoch it saved instead of starting again.

RecBole 1.2.1's ``Trainer.resume_checkpoint`` restores the weights, the optimizer and the early-stopping
state, but its quick start never calls it, it only warns when the checkpoint holds another model, and it
makes the resumed run overwrite the checkpoint it came from. Here the checkpoint is checked against the
run first, copied to the new run's own checkpoint file, and resumed from the copy, so the original stays
as it was saved.

RecBole saves a checkpoint when validation improves, so training goes on from the run's best epoch; the
epochs it ran after that are run again (with fresh shuffles: the random state is not in the checkpoint).
"""

from __future__ import annotations

import os
import shutil
from itertools import chain, count
from logging import getLogger
from typing import Any

from recbole.utils import set_color

from recbole_xlstm.compat.checkpoint import CheckpointError, load_checkpoint

MUST_MATCH = ("model", "dataset")  # a checkpoint of another model or dataset cannot go on in this run


def check_resumable(checkpoint: dict, checkpoint_file: str, config: Any) -> None:
    """Raises CheckpointError when ``checkpoint`` cannot go on training as the run ``config`` describes."""
    saved = checkpoint.get("config")
    if saved is None or "optimizer" not in checkpoint or "epoch" not in checkpoint:
        raise CheckpointError(
            f"Checkpoint '{checkpoint_file}' holds no training state (config, optimizer, epoch): only a "
            "checkpoint saved while training (RecBole's Trainer, saved=True) can be resumed."
        )
    for key in MUST_MATCH:
        if str(saved[key]) != str(config[key]):
            raise CheckpointError(
                f"Checkpoint '{checkpoint_file}' was trained with {key}={saved[key]}, this run has {key}="
                f"{config[key]}: pass --{key}={saved[key]} to resume it."
            )
    last_epoch = checkpoint["epoch"]
    if last_epoch + 1 >= config["epochs"]:
        raise CheckpointError(
            f"Checkpoint '{checkpoint_file}' was saved after epoch {last_epoch} (0-based) and this run has "
            f"epochs={config['epochs']}: nothing is left to train. Pass --epochs above {last_epoch + 1}."
        )


def unused_name(path: str) -> str:
    """``path``, or ``<stem>-resumed[-N].pth`` beside it when it exists: RecBole names checkpoints by the second,
    so a run resumed in the second its checkpoint was written would otherwise be given that very file."""
    stem, suffix = os.path.splitext(path)
    candidates = chain([path, f"{stem}-resumed{suffix}"], (f"{stem}-resumed-{n}{suffix}" for n in count(2)))
    return next(name for name in candidates if not os.path.exists(name))


def resume_training(trainer: Any, checkpoint_file: str, config: Any, valid_data: Any) -> None:
    """Loads ``checkpoint_file`` into ``trainer`` (a RecBole Trainer not yet fitted) so that ``fit`` goes on
    from the epoch after the one it saved, writing to the trainer's own new checkpoint file.

    The run's ``learning_rate`` applies: RecBole's optimizer state carries the saved one, which would
    otherwise silently win over the command line. The saved epoch is validated again on ``valid_data``:
    the checkpoint holds its score but not its metrics, and without them a resumed run that never improves
    would return ``best_valid_result`` None.
    """
    checkpoint = load_checkpoint(checkpoint_file)
    check_resumable(checkpoint, checkpoint_file, config)
    own_file = unused_name(trainer.saved_model_file)
    shutil.copyfile(checkpoint_file, own_file)
    try:
        trainer.resume_checkpoint(own_file)
    except RuntimeError as error:  # load_state_dict: the weights do not fit this run's model
        raise CheckpointError(
            f"Checkpoint '{checkpoint_file}' does not fit this run's {config['model']}: its weights have other "
            "shapes, so a size hyperparameter differs (hidden_size, num_blocks, MAX_ITEM_LIST_LENGTH, ...). "
            f"Pass the values it was trained with. torch said: {str(error).splitlines()[0][:300]}"
        ) from error
    for group in trainer.optimizer.param_groups:
        if group["lr"] != config["learning_rate"]:
            getLogger().info(f"learning_rate {group['lr']} of the checkpoint -> {config['learning_rate']}")
            group["lr"] = config["learning_rate"]
    _, trainer.best_valid_result = trainer._valid_epoch(valid_data, show_progress=False)
    getLogger().info(set_color("Resumed", "blue") + f": {checkpoint_file}, saving to {own_file}")
