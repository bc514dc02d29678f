"""End-to-end runs on a tiny dataset: the plugin's script, RecBole's own quick start, bad input."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import run_recbole_xlstm
from recbole_xlstm.quick_start import DatasetNotFoundError
from recbole_xlstm.quick_start import run_recbole_xlstm as run_plugin

REPO = Path(__file__).resolve().parents[1]
METRICS = {"recall@10", "mrr@10", "ndcg@10"}


def cli_args(config: dict) -> list[str]:
    skip = {"load_col", "topk", "metrics"}  # structured values are set through a file below
    return [f"--{key}={value}" for key, value in config.items() if key not in skip]


def test_run_script_trains_selects_the_best_epoch_and_tests(tiny_config, tmp_path, monkeypatch):
    config = tiny_config(epochs=2)
    exp = tmp_path / "exp.yaml"
    exp.write_text("load_col: {inter: [user_id, item_id, timestamp]}\ntopk: [10]\nmetrics: [Recall, MRR, NDCG]\n")
    argv = ["--model=xLSTM4Rec", f"--config_files={exp}", *cli_args(config)]
    monkeypatch.setattr(sys, "argv", ["run_recbole_xlstm.py", *argv])
    result = run_recbole_xlstm.main(argv)
    assert METRICS <= set(result["test_result"]) and METRICS <= set(result["best_valid_result"])
    assert 0.0 < result["test_result"]["recall@10"] <= 1.0
    checkpoint = Path(result["saved_model_file"])
    assert checkpoint.is_file() and checkpoint.parent == Path(config["checkpoint_dir"])
    assert list(Path("log").rglob("xLSTM4Rec-*.log")), "RecBole's log file was not written"
    # the log's "test result" line prints this dict: plain numbers, not np.float64(...) under numpy 2
    assert all(type(value) is float for value in result["test_result"].values())
    assert "np.float64" not in str(result["test_result"])


def test_the_same_seed_gives_the_same_metrics(tiny_config):
    first = run_plugin(model="xLSTM4Rec", config_dict=tiny_config())
    second = run_plugin(model="xLSTM4Rec", config_dict=tiny_config())
    assert first["test_result"] == second["test_result"]
    assert first["best_valid_result"] == second["best_valid_result"]


def test_recboles_own_run_recbole_runs_the_plugin_model(tiny_config):
    from recbole.quick_start import run_recbole  # imports ray: keep it inside the test

    result = run_recbole(model="xLSTM4Rec", config_dict=tiny_config())
    assert METRICS <= set(result["test_result"])


def test_recbole_builtin_model_through_the_plugin_script(tiny_config):
    result = run_plugin(model="SASRec", config_dict=tiny_config(n_layers=1, n_heads=1))
    assert METRICS <= set(result["test_result"])


def test_missing_dataset_fails_fast_with_the_path_and_no_prompt(tiny_root, tmp_path):
    # A subprocess with no stdin and a deadline: RecBole alone would try to download (and prompt).
    code = (
        "import recbole_xlstm.quick_start as q\n"
        f"q.run_recbole_xlstm(model='xLSTM4Rec', dataset='ml-1m', config_dict={{'data_path': {str(tiny_root)!r}}})\n"
    )
    env = dict(os.environ, PYTHONPATH=str(REPO))
    done = subprocess.run(
        [sys.executable, "-c", code],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env=env,
    )
    assert done.returncode != 0
    assert "DatasetNotFoundError: Dataset 'ml-1m' not found" in done.stderr
    assert str(tiny_root / "ml-1m" / "ml-1m.inter") in done.stderr
    assert "--data_path" in done.stderr


def test_missing_dataset_error_in_process(tiny_config):
    with pytest.raises(DatasetNotFoundError, match="Dataset 'nope' not found"):
        run_plugin(model="xLSTM4Rec", config_dict=tiny_config(dataset="nope"))


def test_multi_gpu_flags_reach_recboles_distributed_spawn(monkeypatch):
    import torch.multiprocessing as mp

    from recbole_xlstm import quick_start

    calls = {}

    def fake_spawn(fn, args, nprocs, join):
        calls.update(fn=fn, args=args, nprocs=nprocs, join=join)

    monkeypatch.setattr(mp, "spawn", fake_spawn)
    run_recbole_xlstm.main(
        [
            "--model=xLSTM4Rec",
            "--dataset=ml-100k",
            "--nproc=2",
            "--world_size=4",
            "--ip=10.0.0.1",
            "--port=6000",
            "--group_offset=2",
        ]
    )
    assert calls["fn"] is quick_start.run_recbole_xlstms and calls["nprocs"] == 2 and calls["join"]
    model, dataset, files, kwargs = calls["args"]
    assert (model, dataset, files) == ("xLSTM4Rec", "ml-100k", None)
    assert {k: kwargs["config_dict"][k] for k in ("world_size", "ip", "port", "nproc", "offset")} == {
        "world_size": 4,
        "ip": "10.0.0.1",
        "port": "6000",
        "nproc": 2,
        "offset": 2,
    }
