"""RecBole checkpoints under torch's weights-only loading: evaluate, resume, refuse bad files."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import flip_weight_bytes
from recbole.data import create_dataset, data_preparation
from recbole.trainer import Trainer
from recbole.utils import init_seed

from recbole_xlstm import CheckpointError, Config, load_checkpoint, xLSTM4Rec
from recbole_xlstm.compat.checkpoint import TENSOR_DIGEST, checkpoint_safe_globals, save_checkpoint
from recbole_xlstm.quick_start import evaluate_checkpoint

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def trained(tiny_config):
    config = Config(model="xLSTM4Rec", config_dict=tiny_config())
    init_seed(config["seed"], config["reproducibility"])
    train, valid, test = data_preparation(config, create_dataset(config))
    model = xLSTM4Rec(config, train._dataset)
    trainer = Trainer(config, model)
    trainer.fit(train, valid, saved=True, show_progress=False)
    return config, trainer, train, test


def test_recbole_checkpoints_fail_weights_only_load_without_the_fixes(trained, tmp_path):
    # The failures the compat fix exists for (torch >= 2.6 defaults to weights_only=True).
    _, trainer, _, _ = trained
    state = load_checkpoint(trainer.saved_model_file)
    as_recbole_writes_it = tmp_path / "protocol4.pth"
    torch.save(state, as_recbole_writes_it, pickle_protocol=4)  # RecBole 1.2.1's _save_checkpoint
    with pytest.raises(pickle.UnpicklingError, match="Unsupported operand 149"):
        torch.load(as_recbole_writes_it, weights_only=True)
    with pytest.raises(CheckpointError, match="protocol 4"):
        load_checkpoint(str(as_recbole_writes_it))
    # protocol 2 (what the fix writes) still needs RecBole's types allowed
    with pytest.raises(pickle.UnpicklingError, match="recbole_xlstm.config.Config"):
        torch.load(trainer.saved_model_file, weights_only=True)


def test_compat_is_in_place_in_recboles_trainer_module():
    import recbole.trainer.trainer as module

    from recbole_xlstm.compat import TorchForRecBoleTrainer

    assert isinstance(module.torch, TorchForRecBoleTrainer)


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
    assert type(saved["config"]) is Config  # the plugin's Config, as the run saved it
    assert saved["config"]["model"] == "xLSTM4Rec"
    fresh = Trainer(config, xLSTM4Rec(config, train._dataset))
    fresh.resume_checkpoint(trainer.saved_model_file)
    assert fresh.start_epoch == saved["epoch"] + 1
    for key, value in saved["state_dict"].items():
        torch.testing.assert_close(fresh.model.state_dict()[key], value)


def test_a_checkpoint_evaluates_in_a_new_process(trained, tmp_path):
    # The Config comes back unpickled, never constructed: RecBole's metrics then need the numpy
    # aliases that import recbole_xlstm sets (np.float is gone since numpy 1.24).
    _, trainer, _, _ = trained
    code = (
        "import json, sys; from recbole_xlstm.quick_start import evaluate_checkpoint; "
        "print(json.dumps(evaluate_checkpoint(sys.argv[1], ('test',))['test']))"
    )
    env = dict(os.environ, PYTHONPATH=str(REPO))
    done = subprocess.run(
        [sys.executable, "-c", code, trainer.saved_model_file],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    in_new_process = json.loads(done.stdout.strip().splitlines()[-1])
    assert in_new_process == pytest.approx(evaluate_checkpoint(trainer.saved_model_file, ("test",))["test"])


def test_corrupt_checkpoint_names_the_file(trained, tmp_path):
    _, trainer, _, test = trained
    broken = tmp_path / "broken.pth"
    broken.write_bytes(Path(trainer.saved_model_file).read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="broken.pth' could not be loaded safely"):
        trainer.evaluate(test, load_best_model=True, model_file=str(broken))


def test_flipped_bytes_in_the_weights_are_refused_by_the_digest(trained, tmp_path):
    _, trainer, _, test = trained
    assert TENSOR_DIGEST in load_checkpoint(trainer.saved_model_file)
    flipped = tmp_path / "flipped.pth"
    flip_weight_bytes(Path(trainer.saved_model_file), flipped)
    with pytest.raises(CheckpointError, match="flipped.pth' is corrupt: its weights do not match the digest"):
        load_checkpoint(str(flipped))


def test_a_checkpoint_without_a_digest_loads_with_a_warning(trained, tmp_path, caplog):
    _, trainer, _, _ = trained
    state = torch.load(trainer.saved_model_file, weights_only=False)
    del state[TENSOR_DIGEST]
    legacy = tmp_path / "legacy.pth"
    torch.save(state, legacy, pickle_protocol=2)  # as the plugin saved before the digest
    loaded = load_checkpoint(str(legacy))
    assert loaded["epoch"] == state["epoch"]
    assert "legacy.pth' has no digest of its weights" in caplog.text and "cannot be verified" in caplog.text


def test_a_save_that_is_interrupted_leaves_the_previous_checkpoint_and_no_partial_file(tmp_path, monkeypatch):
    path = tmp_path / "best.pth"
    save_checkpoint({"state_dict": {"w": torch.ones(3)}, "epoch": 1}, str(path))

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupted)  # after the new bytes are written, before the rename
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint({"state_dict": {"w": torch.zeros(3)}, "epoch": 2}, str(path))
    assert os.listdir(tmp_path) == ["best.pth"]
    assert load_checkpoint(str(path))["epoch"] == 1


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


@pytest.mark.parametrize("name", ["recbole.config.configurator.Config", "recbole_xlstm.config.Config"])
def test_config_cannot_be_called_from_a_checkpoint(name):
    # Config(config_dict=...) evals strings, so a checkpoint may rebuild a Config, never call one.
    allowed = {entry[1]: entry[0] for entry in checkpoint_safe_globals() if isinstance(entry, tuple)}
    with pytest.raises(pickle.UnpicklingError, match="refused"):
        allowed[name](config_dict={"x": "__import__('os')"})
