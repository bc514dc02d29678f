"""RecBole checkpoints under torch's weights-only loading: evaluate, resume, refuse bad files."""

from __future__ import annotations

import os
import pickle

import pytest
import torch
from recbole.config import Config as RecBoleConfig
from recbole.data import create_dataset, data_preparation
from recbole.trainer import Trainer
from recbole.utils import init_seed

from recbole_xlstm import CheckpointError, Config, load_checkpoint, xLSTM4Rec
from recbole_xlstm.checkpoint import checkpoint_safe_globals


@pytest.fixture
def trained(tiny_config):
    config = Config(model="xLSTM4Rec", config_dict=tiny_config(xlstm_compile=False))
    init_seed(config["seed"], config["reproducibility"])
    train, valid, test = data_preparation(config, create_dataset(config))
    model = xLSTM4Rec(config, train._dataset)
    trainer = Trainer(config, model)
    trainer.fit(train, valid, saved=True, show_progress=False)
    return config, trainer, train, test


def test_recbole_checkpoint_is_refused_by_plain_weights_only_load(trained):
    # The failure the compat fix exists for (torch >= 2.6 defaults to weights_only=True).
    _, trainer, _, _ = trained
    with pytest.raises(pickle.UnpicklingError):
        torch.load(trainer.saved_model_file, weights_only=True)


def test_evaluate_loads_the_best_checkpoint(trained):
    _, trainer, _, test = trained
    with torch.no_grad():
        for p in trainer.model.parameters():
            p.add_(1.0)  # spoil the weights in memory: only the checkpoint can restore them
    spoiled = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    result = trainer.evaluate(test, load_best_model=True, show_progress=False)
    assert "ndcg@10" in result
    reloaded = trainer.model.state_dict()
    assert any(not torch.equal(spoiled[k], reloaded[k]) for k in spoiled)


def test_resume_checkpoint_restores_epoch_and_weights(trained, tiny_config):
    config, trainer, train, _ = trained
    saved = load_checkpoint(trainer.saved_model_file)
    assert isinstance(saved["config"], RecBoleConfig) and type(saved["config"]) is RecBoleConfig
    assert saved["config"]["model"] == "xLSTM4Rec"
    fresh = Trainer(config, xLSTM4Rec(config, train._dataset))
    fresh.resume_checkpoint(trainer.saved_model_file)
    assert fresh.start_epoch == saved["epoch"] + 1
    for key, value in saved["state_dict"].items():
        torch.testing.assert_close(fresh.model.state_dict()[key], value)


def test_corrupt_checkpoint_names_the_file(trained, tmp_path):
    _, trainer, _, test = trained
    broken = tmp_path / "broken.pth"
    broken.write_bytes(open(trainer.saved_model_file, "rb").read()[:1000])
    with pytest.raises(CheckpointError, match="broken.pth' could not be loaded safely"):
        trainer.evaluate(test, load_best_model=True, model_file=str(broken))


def test_missing_checkpoint_says_so(trained, tmp_path):
    _, trainer, _, _ = trained
    with pytest.raises(CheckpointError, match="does not exist"):
        trainer.resume_checkpoint(str(tmp_path / "nothing.pth"))


class _Payload:
    def __reduce__(self):
        return (os.system, ("echo pwned > pwned.txt",))


def test_checkpoint_carrying_code_is_refused_and_nothing_runs(tmp_path):
    evil = tmp_path / "evil.pth"
    torch.save({"state_dict": {}, "config": _Payload()}, evil)
    with pytest.raises(CheckpointError, match="evil.pth' could not be loaded safely"):
        load_checkpoint(str(evil))
    assert not (tmp_path / "pwned.txt").exists()


def test_config_cannot_be_called_from_a_checkpoint():
    # Config(config_dict=...) evals strings, so a checkpoint may rebuild a Config, never call one.
    stand_in = dict((name, obj) for obj, name in checkpoint_safe_globals()[:1])["recbole.config.configurator.Config"]
    with pytest.raises(pickle.UnpicklingError):
        stand_in(config_dict={"x": "__import__('os')"})
