"""Going on training from a checkpoint (recbole_xlstm.resume, run_recbole_xlstm.py --resume_from)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch
from recbole.trainer import Trainer

import run_recbole_xlstm
from recbole_xlstm.compat.checkpoint import CheckpointError, load_checkpoint
from recbole_xlstm.quick_start import run_recbole_xlstm as run_plugin


def digest(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture
def epochs_trained(monkeypatch) -> list[int]:
    """The epoch indices RecBole's Trainer trains, in order."""
    trained: list[int] = []
    train_epoch = Trainer._train_epoch

    def recording(self, train_data, epoch_idx, *args, **kwargs):
        trained.append(epoch_idx)
        return train_epoch(self, train_data, epoch_idx, *args, **kwargs)

    monkeypatch.setattr(Trainer, "_train_epoch", recording)
    return trained


@pytest.fixture
def first_run(tiny_config) -> tuple[dict, int]:
    """Two epochs of xLSTM4Rec: its result and the epoch its checkpoint holds."""
    result = run_plugin(model="xLSTM4Rec", config_dict=tiny_config(epochs=2, stopping_step=10))
    return result, load_checkpoint(result["saved_model_file"])["epoch"]


def test_a_resumed_run_trains_on_from_the_saved_epoch_and_keeps_the_original(tiny_config, first_run, epochs_trained):
    first, saved_epoch = first_run
    original = first["saved_model_file"]
    before = digest(original)
    resumed = run_plugin(model="xLSTM4Rec", config_dict=tiny_config(epochs=4, stopping_step=10), resume_from=original)
    assert epochs_trained == list(range(saved_epoch + 1, 4))
    assert resumed["saved_model_file"] != original and Path(resumed["saved_model_file"]).is_file()
    assert digest(original) == before, "resuming changed the checkpoint it came from"
    assert {"recall@10", "ndcg@10"} <= set(resumed["test_result"])


def test_the_resumed_weights_are_the_checkpoints(tiny_config, first_run, monkeypatch):
    # an optimizer that does not step (a learning rate of 0 is refused as no run's): the resumed run cannot move
    # its weights, so every validation it runs scores what the checkpoint's epoch scored (a fresh model would not)
    first, _ = first_run
    monkeypatch.setattr(torch.optim.Adam, "step", lambda self, closure=None: None)
    scores: list[float] = []
    valid_epoch = Trainer._valid_epoch

    def recording(self, *args, **kwargs):
        score, result = valid_epoch(self, *args, **kwargs)
        scores.append(score)
        return score, result

    monkeypatch.setattr(Trainer, "_valid_epoch", recording)
    config = tiny_config(epochs=4, stopping_step=10)
    resumed = run_plugin(model="xLSTM4Rec", config_dict=config, resume_from=first["saved_model_file"])
    assert scores and all(score == pytest.approx(first["best_valid_score"], abs=1e-6) for score in scores)
    assert resumed["test_result"] == first["test_result"]
    assert resumed["best_valid_result"] == first["best_valid_result"]


def test_the_runs_learning_rate_replaces_the_checkpoints(tiny_config, first_run, monkeypatch):
    first, _ = first_run
    rates: list[float] = []
    fit = Trainer.fit

    def recording_fit(self, *args, **kwargs):
        rates.extend(group["lr"] for group in self.optimizer.param_groups)
        return fit(self, *args, **kwargs)

    monkeypatch.setattr(Trainer, "fit", recording_fit)
    config = tiny_config(epochs=3, stopping_step=10, learning_rate=0.0123)
    run_plugin(model="xLSTM4Rec", config_dict=config, resume_from=first["saved_model_file"])
    assert rates and all(rate == 0.0123 for rate in rates)


def test_nothing_left_to_train_is_an_error_naming_the_epochs(tiny_config, first_run, epochs_trained):
    first, saved_epoch = first_run
    with pytest.raises(CheckpointError, match=rf"after epoch {saved_epoch}.*--epochs above {saved_epoch + 1}"):
        run_plugin(model="xLSTM4Rec", config_dict=tiny_config(epochs=saved_epoch + 1),
                   resume_from=first["saved_model_file"])  # fmt: skip
    assert epochs_trained == []


def test_a_checkpoint_of_another_model_is_refused_before_training(tiny_config, first_run, epochs_trained):
    first, _ = first_run
    with pytest.raises(CheckpointError, match=r"model=xLSTM4Rec, this run has model=SASRec.*--model=xLSTM4Rec"):
        run_plugin(model="SASRec", config_dict=tiny_config(epochs=4, n_layers=1, n_heads=1),
                   resume_from=first["saved_model_file"])  # fmt: skip
    assert epochs_trained == []


def test_other_sizes_are_refused_with_the_reason(tiny_config, first_run):
    first, _ = first_run
    with pytest.raises(CheckpointError, match="other shapes.*hidden_size"):
        run_plugin(model="xLSTM4Rec", config_dict=tiny_config(epochs=4, hidden_size=32),
                   resume_from=first["saved_model_file"])  # fmt: skip


def test_the_script_reports_a_missing_checkpoint_without_a_traceback(tmp_path, monkeypatch, capsys):
    argv = ["--model=xLSTM4Rec", "--dataset=ml-100k", f"--resume_from={tmp_path / 'gone.pth'}", "--epochs=3"]
    monkeypatch.setattr("sys.argv", ["run_recbole_xlstm.py", *argv])  # RecBole's Config reads it
    with pytest.raises(SystemExit) as exit_info:
        run_recbole_xlstm.main(argv)
    assert exit_info.value.code == 2
    assert "gone.pth' does not exist" in capsys.readouterr().err


@pytest.mark.parametrize("other", ["--tune=hyper.test", "--recommend", "--nproc=2"])
def test_the_script_refuses_resume_with_flags_it_cannot_honour(other, capsys):
    with pytest.raises(SystemExit) as exit_info:
        run_recbole_xlstm.main(["--resume_from=some.pth", other])
    assert exit_info.value.code == 2
    assert "--resume_from" in capsys.readouterr().err


def test_resume_restores_the_saved_epochs_validation_and_never_writes_the_original(first_run, tmp_path):
    from recbole_xlstm.quick_start import load_data_and_model
    from recbole_xlstm.resume import resume_training

    first, saved_epoch = first_run
    original = first["saved_model_file"]
    config, model, _, _, valid_data, _ = load_data_and_model(original, device="cpu")
    config["epochs"] = 4
    model.train()
    trainer = Trainer(config, model)
    trainer.saved_model_file = original  # as if made in the second the original was written
    resume_training(trainer, original, config, valid_data)
    assert trainer.start_epoch == saved_epoch + 1
    # the checkpoint holds the epoch's score but not its metrics: without them a resumed run that never
    # improves would return best_valid_result None
    assert trainer.best_valid_result == pytest.approx(first["best_valid_result"])
    assert trainer.saved_model_file == original.removesuffix(".pth") + "-resumed.pth"
