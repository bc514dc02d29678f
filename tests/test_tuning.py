"""Hyperparameter search: a trial reports validation every epoch and never touches test; RecBole's
HyperTuning runs our objective_function unchanged; a Ray Tune search writes its table and best config."""

from __future__ import annotations

import csv
import json
import os
import sys
from pathlib import Path

import pytest
import yaml
from packaging.version import Version
from recbole.trainer import HyperTuning
from recbole.trainer.trainer import Trainer

from recbole_xlstm import Config, pipeline
from recbole_xlstm.quick_start import objective_function
from recbole_xlstm.tuning import ray_tune
from recbole_xlstm.tuning.ray_tune import FINISHED_FILE, TrialSetup, TuneOptions, run_trial, trial_config, tune_with_ray
from recbole_xlstm.tuning.space import HyperSpaceError


@pytest.fixture
def spy_evaluations(monkeypatch):
    """Which of the three dataloaders every Trainer.evaluate call read."""
    splits: dict[int, str] = {}
    seen: list[str] = []
    prepare = pipeline.data_preparation

    def prepare_and_name(config, dataset):
        train, valid, test = prepare(config, dataset)
        splits.update({id(train): "train", id(valid): "valid", id(test): "test"})
        return train, valid, test

    evaluate = Trainer.evaluate

    def evaluate_and_record(self, eval_data, *args, **kwargs):
        seen.append(splits.get(id(eval_data), "unknown"))
        return evaluate(self, eval_data, *args, **kwargs)

    monkeypatch.setattr(pipeline, "data_preparation", prepare_and_name)
    monkeypatch.setattr(Trainer, "evaluate", evaluate_and_record)
    return seen


def _setup(tiny_config, model="xLSTM4Rec", **overrides) -> TrialSetup:
    config = tiny_config(**{"epochs": 2, **overrides})
    return TrialSetup(model=model, dataset=config.pop("dataset"), config_file_list=[], config_dict=config)


def test_a_trial_reports_validation_each_epoch_and_never_evaluates_test(tiny_config, tmp_path, spy_evaluations):
    reports = []
    outcome = run_trial(_setup(tiny_config), {"learning_rate": 0.01}, str(tmp_path), reports.append)

    assert [r["epoch"] for r in reports] == [1, 2]
    assert all(0 <= r["valid_ndcg@10"] <= 1 and r["valid_score"] == r["valid_ndcg@10"] for r in reports)
    assert not any(key.startswith("test") for r in reports for key in r)
    assert spy_evaluations == ["valid", "valid"]
    assert outcome["status"] == "completed"
    assert os.path.isfile(outcome["checkpoint_file"]) and Path(outcome["checkpoint_file"]).parent == tmp_path
    assert json.loads((tmp_path / FINISHED_FILE).read_text())["best_valid_score"] == max(
        r["valid_score"] for r in reports
    )


def test_a_trial_ignores_the_ray_workers_own_command_line(tiny_config, tmp_path, monkeypatch):
    # Ray 2.6.3 starts workers with --node-ip-address=... and the like; RecBole's Config would read them
    monkeypatch.setattr(sys, "argv", ["default_worker.py", "--node-ip-address=127.0.0.1", "--object-store-name=x"])
    outcome = run_trial(_setup(tiny_config, epochs=1), {"learning_rate": 0.01}, str(tmp_path), lambda metrics: None)
    assert outcome["status"] != "skipped", outcome


def test_a_trial_uses_the_sampled_values(tiny_config, tmp_path, monkeypatch):
    seen = {}
    real_config = pipeline.Config

    def recording_config(*args, **kwargs):
        config = real_config(*args, **kwargs)
        seen.update(hidden=config["hidden_size"], lr=config["learning_rate"], device=str(config["device"]))
        return config

    monkeypatch.setattr(pipeline, "Config", recording_config)
    run_trial(_setup(tiny_config, epochs=1), {"hidden_size": 32, "learning_rate": 0.003}, str(tmp_path), lambda r: None)
    assert seen == {"hidden": 32, "lr": 0.003, "device": "cpu"}


def test_an_impossible_point_is_skipped_with_the_reason(tiny_config, tmp_path):
    reports = []
    outcome = run_trial(_setup(tiny_config), {"num_blocks": 1, "slstm_at": [1]}, str(tmp_path), reports.append)
    assert outcome["status"] == "skipped" and "slstm_at" in outcome["reason"]
    assert reports == []
    assert json.loads((tmp_path / FINISHED_FILE).read_text())["status"] == "skipped"


def test_a_recbole_baseline_trains_through_the_same_trial(tiny_config, tmp_path, spy_evaluations):
    reports = []
    setup = _setup(tiny_config, model="SASRec", n_layers=1, n_heads=2, hidden_size=16, inner_size=32)
    run_trial(setup, {"learning_rate": 0.01}, str(tmp_path), reports.append)
    assert [r["epoch"] for r in reports] == [1, 2]
    assert "test" not in spy_evaluations


@pytest.mark.parametrize("algo", ["exhaustive", "random", "bayes"])
def test_recbole_hypertuning_runs_objective_function_unchanged(tiny_config, tmp_path, algo):
    fixed = tmp_path / "fixed.yaml"
    fixed.write_text(yaml.safe_dump(dict(tiny_config(), model="xLSTM4Rec")))
    space = tmp_path / "space.test"
    space.write_text("learning_rate choice [0.001,0.01]\n")

    tuner = HyperTuning(
        objective_function, algo=algo, max_evals=2, params_file=str(space), fixed_config_file_list=[str(fixed)]
    )
    tuner.run()

    assert len(tuner.params2result) == (2 if algo == "exhaustive" else len(set(tuner.params_list)))
    assert 1 <= len(tuner.params2result) <= 2 and tuner.best_params["learning_rate"] in (0.001, 0.01)
    for result in tuner.params2result.values():
        assert result["model"] == "xLSTM4Rec" and "ndcg@10" in result["test_result"]
    tuner.export_result(str(tmp_path / "result.txt"))
    assert f"learning_rate:{tuner.best_params['learning_rate']}" in (tmp_path / "result.txt").read_text()


@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def _search(tiny_config, tmp_path, space_text, **options):
    fixed = tmp_path / "fixed.yaml"
    config = tiny_config(epochs=2)
    config.pop("checkpoint_dir")
    assert Path(config["data_path"]) == tmp_path / "data"
    config["data_path"] = "data"  # relative on purpose: trials run in their own working directories
    fixed.write_text(yaml.safe_dump(config))
    space = tmp_path / "space.test"
    space.write_text(space_text)
    options = TuneOptions(params_file=str(space), output_dir=str(tmp_path / "out"), **options)
    os.chdir(tmp_path)
    return tune_with_ray("xLSTM4Rec", None, options, [fixed.name], cmd_props_to_drop=())


def test_ray_search_writes_the_table_and_a_best_config_that_runs(local_ray, tiny_config, tmp_path, monkeypatch):
    test_evaluations = []
    evaluate = ray_tune.evaluate_checkpoint

    def evaluate_and_count(model_file, splits, *args, **kwargs):
        test_evaluations.append((model_file, splits))
        return evaluate(model_file, splits, *args, **kwargs)

    monkeypatch.setattr(ray_tune, "evaluate_checkpoint", evaluate_and_count)
    summary = _search(
        tiny_config,
        tmp_path,
        "learning_rate loguniform -6,-4\nnum_blocks choice [1,2]\n",
        num_samples=2,
        grace_period=1,
    )
    out = tmp_path / "out"
    with open(out / "trials.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 and {r["status"] for r in rows} <= {"completed", "stopped early"}
    assert all(1 <= int(r["epochs"]) <= 2 for r in rows)
    assert "best valid ndcg@10" in rows[0]
    assert "(best)" in (out / "trials.md").read_text()

    assert summary["num_trials"] == 2 and summary["errors"] == 0
    assert summary["resources_per_trial"] == {"cpu": 1.0, "gpu": 0}  # no GPU here, none asked for
    assert test_evaluations == [(summary["best_checkpoint"], ("valid", "test"))]
    assert summary["stopped_early"] == sum(r["status"] == "stopped early" for r in rows)
    # the best checkpoint, reloaded, scores what the trial reported on validation; test once, after
    assert summary["best_valid_result"]["ndcg@10"] == pytest.approx(summary["best_valid_score"], abs=1e-4)
    assert set(summary["test_result"]) == set(summary["best_valid_result"])

    best = yaml.safe_load((out / "best_config.yaml").read_text())
    assert best["learning_rate"] == pytest.approx(summary["best_params"]["learning_rate"])
    assert os.path.isabs(best["data_path"]) and "epochs" not in best
    command = (out / "best_config.yaml").read_text().splitlines()[3]
    assert command.startswith("# python run_recbole_xlstm.py --model=xLSTM4Rec --dataset=tiny")
    config = Config(model="xLSTM4Rec", config_file_list=[str(tmp_path / "fixed.yaml"), str(out / "best_config.yaml")])
    assert (
        config["learning_rate"] == pytest.approx(best["learning_rate"]) and config["num_blocks"] == best["num_blocks"]
    )


def test_a_failing_trial_is_reported_and_the_search_goes_on(local_ray, tiny_config, tmp_path):
    # a weight decay torch's Adam rejects (the plugin's checks leave it to torch): that trial raises in its worker
    summary = _search(tiny_config, tmp_path, "weight_decay choice [-1.0,0.0]\n", search_alg="grid", scheduler="fifo")
    with open(tmp_path / "out" / "trials.csv") as f:
        rows = {float(r["weight_decay"]): r for r in csv.DictReader(f)}
    assert rows[-1.0]["status"].startswith("error: ") and "weight_decay" in rows[-1.0]["status"].lower()
    assert rows[0.0]["status"] == "completed" and int(rows[0.0]["epochs"]) == 2
    assert summary["errors"] == 1 and summary["best_params"] == {"weight_decay": 0.0}
    assert summary["test_result"] is not None


def trial_intervals(search_dir: Path) -> list[tuple[float, float]]:
    """(start, end) of each trial, from Ray's own files: params.json is written when a trial starts, and the
    trial writes FINISHED_FILE when it ends."""
    intervals = []
    for params in search_dir.rglob("params.json"):
        intervals.append((params.stat().st_mtime, (params.parent / FINISHED_FILE).stat().st_mtime))
    return sorted(intervals)


@pytest.mark.parametrize("search_alg", ["random", "grid"])
def test_max_concurrent_caps_the_trials_running_at_once(local_ray, tiny_config, tmp_path, search_alg):
    # a quarter CPU each: without the cap, Ray's 2 CPUs would run all three trials at once
    _search(tiny_config, tmp_path, "learning_rate choice [0.001,0.002,0.004]\n", num_samples=3,
            search_alg=search_alg, scheduler="fifo", cpus_per_trial=0.25, max_concurrent=1)  # fmt: skip
    intervals = trial_intervals(tmp_path / "out")
    assert len(intervals) == 3
    with open(tmp_path / "out" / "trials.csv") as f:
        assert {r["status"] for r in csv.DictReader(f)} == {"completed"}  # trained, not skipped
    for (_, previous_end), (start, _) in zip(intervals, intervals[1:]):
        assert start >= previous_end - 0.5, intervals


def test_grid_search_refuses_ranges(tiny_config, tmp_path):
    with pytest.raises(HyperSpaceError, match="learning_rate is a range"):
        _search(tiny_config, tmp_path, "learning_rate uniform 0.001,0.01\n", search_alg="grid")


def test_a_trial_runs_on_the_gpus_ray_gave_it(tiny_config):
    # RecBole's Config would otherwise set CUDA_VISIBLE_DEVICES to its default gpu_id "0"
    setup = _setup(tiny_config)
    assert trial_config(setup, {}, "/trial", [3])["gpu_id"] == "3"
    assert trial_config(setup, {}, "/trial", [3])["use_gpu"] is True
    assert trial_config(setup, {}, "/trial", [])["use_gpu"] is False


@pytest.mark.parametrize("address, env", [("ray://head:10001", None), (None, "ray://from-env:10001")])
def test_ray_address_joins_an_existing_cluster(tiny_config, tmp_path, monkeypatch, address, env):
    import ray

    class Joined(Exception):
        pass

    def fake_init(**kwargs):
        raise Joined(kwargs)

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", fake_init)
    if env:
        monkeypatch.setenv("RAY_ADDRESS", env)
    else:
        monkeypatch.delenv("RAY_ADDRESS", raising=False)
    with pytest.raises(Joined) as joined:
        _search(tiny_config, tmp_path, "learning_rate uniform 0.001,0.01\n", ray_address=address)
    assert joined.value.args[0] == {"address": address or env}


def test_the_recbole_tuner_from_the_command_line(tiny_config, tmp_path):
    import run_recbole_xlstm

    fixed = tmp_path / "fixed.yaml"
    fixed.write_text(yaml.safe_dump(tiny_config()))
    space = tmp_path / "space.test"
    space.write_text("learning_rate choice [0.001,0.01]\n")
    summary = run_recbole_xlstm.main(
        [
            "--dataset=tiny",
            f"--config_files={fixed}",
            f"--tune={space}",
            "--tuner=recbole",
            f"--tune_dir={tmp_path / 'out'}",
        ]
    )
    assert summary["num_trials"] == 2
    best = yaml.safe_load((tmp_path / "out" / "best_config.yaml").read_text())
    assert best == summary["best_params"]
    assert "Valid result" in (tmp_path / "out" / "hyper_result.txt").read_text()


def test_a_previous_search_is_never_overwritten(tiny_config, tmp_path):
    previous = tmp_path / "out"
    previous.mkdir()
    (previous / "summary.json").write_text("{}")
    with pytest.raises(FileExistsError, match="already holds a search"):
        _search(tiny_config, tmp_path, "learning_rate uniform 0.001,0.01\n")
    assert (previous / "summary.json").read_text() == "{}"


def test_ray_versions_uses_the_api_of_the_installed_ray():
    import ray

    from recbole_xlstm.tuning import ray_versions

    current = Version(ray.__version__) >= Version("2.50")
    assert ray_versions.TUNE_HAS_OWN_SESSION is current
    run_config = ray_versions.run_config(name="ray", storage_path="/results")
    assert type(run_config).__module__.startswith("ray.tune" if current else "ray.air")
    assert (run_config.name, run_config.storage_path) == ("ray", "/results")
    assert run_config.failure_config.max_failures == 0 and run_config.failure_config.fail_fast is False


def test_without_ray_the_tuner_says_how_to_install_it(tiny_config, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if ray were not installed
    with pytest.raises(
        ModuleNotFoundError, match=r"Ray Tune is not installed.*\[pinned\].*\[modern\].*--tuner=recbole"
    ):
        _search(tiny_config, tmp_path, "learning_rate uniform 0.001,0.01\n")
