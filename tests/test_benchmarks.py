"""The benchmark scripts still run, on sizes that take seconds (their numbers live in benchmarks/results)."""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import write_tiny_dataset

REPO = Path(__file__).resolve().parents[1]


def run_script(*argv: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run(
        [sys.executable, *argv], capture_output=True, text=True, timeout=600, cwd=cwd, env=env, check=False
    )


def test_stack_parity_digests_what_recbole_loaded(tmp_path):
    root = write_tiny_dataset(tmp_path / "data")
    script = str(REPO / "benchmarks" / "stack_parity.py")
    first = run_script(script, "--dataset=tiny", f"--data_path={root}", cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    digest = json.loads(first.stdout)
    assert (digest["users"], digest["items"]) == (81, 31)  # with RecBole's [PAD]
    assert digest["tables"]["item_feat"]["columns"] == ["item_id", "title"]
    # the same files give the same digest
    assert json.loads(run_script(script, "--dataset=tiny", f"--data_path={root}", cwd=tmp_path).stdout) == digest
    # a renamed title token keeps its id (the tables hold ids) but changes the id map; a title that
    # now shares a token with another changes the item table
    item_file = root / "tiny" / "tiny.item"
    item_file.write_text(item_file.read_text().replace("Item 5\n", "Item five\n").replace("Item 6\n", "Item 4\n"))
    changed = json.loads(run_script(script, "--dataset=tiny", f"--data_path={root}", cwd=tmp_path).stdout)
    assert changed["id_to_token_sha256"] != digest["id_to_token_sha256"]
    assert changed["tables"]["item_feat"]["sha256"] != digest["tables"]["item_feat"]["sha256"]
    assert changed["tables"]["inter_feat"]["sha256"] == digest["tables"]["inter_feat"]["sha256"]


def test_streaming_latency_writes_its_table(tmp_path):
    output = tmp_path / "latency"
    done = run_script(
        str(REPO / "benchmarks" / "streaming_latency.py"),
        "--lengths", "8", "--repeats", "2", "--rounds", "1", f"--output={output}",
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    rows = list(csv.DictReader(output.with_suffix(".csv").open()))
    assert {row["method"] for row in rows} >= {"xLSTM4Rec streaming (mLSTM x2)", "SASRec re-encode"}
    assert all(float(row["median_ms"]) > 0 for row in rows)
    assert "| 8 | xLSTM4Rec streaming (mLSTM x2) |" in output.with_suffix(".md").read_text()


def test_speed_study_times_each_model_against_sasrec(tmp_path):
    output = tmp_path / "speed"
    done = run_script(
        str(REPO / "benchmarks" / "speed_study.py"),
        "--lengths", "8", "--repeats", "1", "--warmup", "1", "--variants", "SASRec", "xLSTM4Rec parallel, eager",
        f"--output={output}",
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    rows = {row["variant"]: row for row in csv.DictReader(output.with_suffix(".csv").open())}
    assert rows["SASRec"]["status"] == rows["xLSTM4Rec parallel, eager"]["status"] == "ok"
    assert float(rows["SASRec"]["train_x_sasrec"]) == 1.0
    assert float(rows["xLSTM4Rec parallel, eager"]["train_ms"]) > 0
    assert "mLSTM parallel" in rows["xLSTM4Rec parallel, eager"]["backend"]
    # the profiled step: operators counted on every device, kernels only where there are any
    assert all(row["profile"] == "ok" for row in rows.values())
    assert 100 < int(rows["SASRec"]["ops_per_step"]) < int(rows["xLSTM4Rec parallel, eager"]["ops_per_step"])
    assert rows["SASRec"]["kernels_per_step"] == rows["SASRec"]["gpu_busy_ms"] == ""
    table = output.with_suffix(".md").read_text()
    assert "| ops/step | kernels/step | GPU busy ms/step |" in table
    assert "--variants SASRec 'xLSTM4Rec parallel, eager'" in table  # the command that reruns it


def test_speed_study_ranks_the_profiled_kernels_by_summed_time_and_tables_them(monkeypatch, tmp_path):
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    from speed_study import top_kernels, write_results

    def kernel(name: str, us: float):
        return type("Event", (), {"name": name, "time_range": type("Range", (), {"elapsed_us": lambda self: us})()})

    kernels = [kernel("gemm", 300), kernel("norm|grad", 500), kernel("gemm", 400), kernel("copy", 10)]
    ranked = top_kernels(kernels, count=2)
    assert ranked == [{"name": "gemm", "ms": 0.7, "calls": 2}, {"name": "norm|grad", "ms": 0.5, "calls": 1}]

    row = {"device": "cuda", "length": 200, "batch": 2048, "variant": "SASRec", "status": "ok", "train_ms": 2.0,
           "gpu_busy_ms": 1.4, "top_kernels": ranked}  # fmt: skip
    output = tmp_path / "speed_cuda"
    write_results(
        output, [row], argparse.Namespace(device="cuda", repeats=5, warmup=2, command="python speed_study.py")
    )
    table = output.with_suffix(".md").read_text()
    assert "| 200 | 2048 | SASRec | `gemm` | 2 | 0.70 | 50% |" in table
    assert "| 200 | 2048 | SASRec | `norm/grad` | 1 | 0.50 | 36% |" in table  # a '|' would split the cell


@pytest.mark.parametrize(
    "variant", ["xLSTM4Rec sLSTM first, parallel, compiled", "xLSTM4Rec sLSTM first, chunkwise, compiled"]
)
def test_speed_study_times_the_slstm_first_order_it_names(monkeypatch, tmp_path, variant):
    # Config keeps an unknown key silently, so a misspelt property would time the mLSTM-only stack under this name.
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    from speed_study import ALL_VARIANTS
    from streaming_latency import build, write_catalogue
    from xlstm.blocks.mlstm.block import mLSTMBlock
    from xlstm.blocks.slstm.block import sLSTMBlock

    model_name, props, devices = ALL_VARIANTS[variant]
    model = build(model_name, 8, write_catalogue(tmp_path), **props)
    assert [type(block) for block in model.xlstm.blocks] == [sLSTMBlock, mLSTMBlock]
    assert devices == ("cpu",)


@pytest.mark.parametrize("chunk", [16, 32, 64, 128])
def test_speed_study_runs_the_chunk_it_names(monkeypatch, tmp_path, chunk):
    # a misspelt property would time the default chunk under this name
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    from speed_study import ALL_VARIANTS
    from streaming_latency import build, write_catalogue

    from recbole_xlstm.model.backends import NATIVE_CHUNKWISE_KERNEL

    model_name, props, _ = ALL_VARIANTS[f"xLSTM4Rec chunkwise, compiled, chunk {chunk}"]
    model = build(model_name, 8, write_catalogue(tmp_path), **props)
    assert model.backend_used == f"mLSTM {NATIVE_CHUNKWISE_KERNEL} (chunk {chunk})"


def test_speed_study_refuses_a_variant_it_does_not_know(tmp_path):
    done = run_script(str(REPO / "benchmarks" / "speed_study.py"), "--variants", "SASRec", "SASrec", cwd=tmp_path)
    assert done.returncode == 2
    assert "unknown --variants ['SASrec']" in done.stderr and "'SASRec, AMP'" in done.stderr


def test_the_shipped_amazon_beauty_props_are_the_runs_the_readme_reports(monkeypatch, tmp_path):
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    from accuracy_study import ABLATION, PLANS
    from recbole.data import create_dataset
    from xlstm.blocks.mlstm.block import mLSTMBlock
    from xlstm.blocks.slstm.block import sLSTMBlock

    from recbole_xlstm.config import Config
    from recbole_xlstm.model import xLSTM4Rec

    data = write_tiny_dataset(tmp_path / "data", name="amazon-beauty")
    files = [str(REPO / "props" / "amazon-beauty.yaml"), str(REPO / "props" / "xLSTM4Rec-amazon-beauty.yaml")]
    config = Config(model="xLSTM4Rec", dataset="amazon-beauty", config_file_list=files,
                    config_dict={"data_path": str(data), "use_gpu": False})  # fmt: skip
    study = PLANS["amazon-beauty"].settings
    budget = {key: study[key] for key in ("train_batch_size", "epochs", "stopping_step", "eval_batch_size")}
    reported = {**ABLATION["sLSTM first, xLSTM dropout 0.2, label smoothing 0.2"], **budget, "learning_rate": 0.004}
    assert {key: config[key] for key in reported} == reported
    model = xLSTM4Rec(config, create_dataset(config))
    assert [type(block) for block in model.xlstm.blocks] == [sLSTMBlock, mLSTMBlock]


def test_accuracy_study_tunes_then_runs_seeds_of_the_best_rate_and_reports(tmp_path):
    data = write_tiny_dataset(tmp_path / "data", name="amazon-beauty")
    runs, results = tmp_path / "runs", tmp_path / "results"
    script = str(REPO / "benchmarks" / "accuracy_study.py")
    done = run_script(
        script, "--datasets", "amazon-beauty", f"--data_path={data}", "--models", "xLSTM4Rec", "Pop",
        "--learning_rates", "0.001", "0.01", "--seeds", "2020", "2021", "--epochs", "1",
        "--set", "train_batch_size=64", "--xlstm_compile", "False", "--ablation", "--ablation_variants",
        "1 mLSTM block", "--workers", "2", f"--runs_dir={runs}",
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    # the recorded command reruns the study: a variant's name with spaces stays one argument
    command = json.loads((runs / "environment.json").read_text())["command"]
    assert "--ablation_variants '1 mLSTM block' --workers" in command
    records = [json.loads(line) for line in (runs / "runs.jsonl").read_text().splitlines()]
    assert all(r["status"] == "ok" for r in records), [r["status"] for r in records]
    grid = {r["learning_rate"]: r for r in records if r["model"] == "xLSTM4Rec" and r["phase"] == "grid"}
    best = max(grid.values(), key=lambda r: r["valid"]["ndcg@10"])["learning_rate"]
    (seed_run,) = [r for r in records if r["model"] == "xLSTM4Rec" and r["phase"] == "seed"]
    assert (seed_run["seed"], seed_run["learning_rate"]) == (2021, best)
    assert "Load filtered dataset from" in (runs / "logs" / f"{seed_run['name']}.log").read_text()
    assert {r["phase"] for r in records if r["model"] == "Pop"} == {"grid", "seed"}
    # Pop counts (compat.pop_counts_every_occurrence, no sampled negatives): the seed changes nothing
    pop_2020, pop_2021 = sorted((r for r in records if r["model"] == "Pop"), key=lambda r: r["seed"])
    assert pop_2020["test"] == pop_2021["test"]

    report = run_script(script, "--report", f"--runs_dir={runs}", f"--results_dir={results}", cwd=tmp_path)
    assert report.returncode == 0, report.stderr[-2000:]
    table = (results / "amazon-beauty.md").read_text()
    assert f"| xLSTM4Rec | 2 | {best:g} |" in table and "| 1 mLSTM block |" in table
    rows = {row["model"]: row for row in csv.DictReader((results / "amazon-beauty.csv").open())}
    ndcg = [r["test"]["ndcg@10"] for r in records if r["model"] == "xLSTM4Rec" and r["phase"] != "ablation"
            and r["learning_rate"] == best]  # fmt: skip
    assert float(rows["xLSTM4Rec"]["ndcg@10_mean"]) == pytest.approx(sum(ndcg) / 2)
    assert (results / "amazon-beauty.png").stat().st_size > 0

    # runs that ended after their scheduler was killed: --collect records them from their logs, once
    (ablation_run,) = [r for r in records if r["phase"] == "ablation"]
    lost = {seed_run["name"]: seed_run, ablation_run["name"]: ablation_run}
    lines = (runs / "runs.jsonl").read_text().splitlines()
    (runs / "runs.jsonl").write_text("\n".join(line for line in lines if json.loads(line)["name"] not in lost) + "\n")
    for _ in range(2):
        collected = run_script(script, "--collect", f"--runs_dir={runs}", cwd=tmp_path)
        assert collected.returncode == 0, collected.stderr[-2000:]
    assert not [line for line in collected.stdout.splitlines() if line.startswith("collected")]  # nothing new
    again = [json.loads(line) for line in (runs / "runs.jsonl").read_text().splitlines()]
    again = {r["name"]: r for r in again if r["name"] in lost}
    assert len(again) == 2
    for name, record in lost.items():
        for key in ("dataset", "model", "phase", "seed", "learning_rate", "variant", "extra", "device", "test",
                    "valid", "best_epoch", "params"):  # fmt: skip
            assert again[name][key] == record[key], key
    assert sorted(json.loads((runs / "environment.json").read_text())["collected"][0]["runs"]) == sorted(lost)

    # one more seed, resumed into the same runs: only that seed's run is new
    resumed = run_script(
        script, "--resume", "--datasets", "amazon-beauty", f"--data_path={data}", "--models", "xLSTM4Rec",
        "--learning_rates", "0.001", "0.01", "--seeds", "2020", "2021", "2022", "--epochs", "1",
        "--set", "train_batch_size=64", "--xlstm_compile", "False", f"--runs_dir={runs}", cwd=tmp_path,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    started = [line.split()[-1] for line in resumed.stdout.splitlines() if " start " in line]
    assert [name for name in started if "prepare" not in name] == [f"amazon-beauty-xLSTM4Rec-seed-lr{best:g}-s2022"]
    report = run_script(script, "--report", f"--runs_dir={runs}", f"--results_dir={results}", cwd=tmp_path)
    assert report.returncode == 0, report.stderr[-2000:]
    table = (results / "amazon-beauty.md").read_text()
    assert (
        "Resumed (" in table
        and "running only what the runs lacked: `python benchmarks/accuracy_study.py --resume" in table
    )
    seeds = "seeds 2020, 2021 (Pop) and 2020, 2021, 2022 (xLSTM4Rec); the ablation's seeds 2020; the protocol"
    assert seeds in table and f"| xLSTM4Rec | 3 | {best:g} |" in table
    assert "learning rates 0.001, 0.01 for every model" in table


def test_best_epoch_is_the_last_of_equal_best_validations_as_recbole_keeps_it(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    from accuracy_study import parse_log

    scores = [0.0507, 0.0520, 0.0515, 0.0520, 0.0513]
    log = "".join(f"epoch {e} evaluating [time: 1.00s, valid_score: {s:.6f}]\n" for e, s in enumerate(scores))
    assert parse_log(log)["best_epoch"] == 3


def test_a_continued_runs_log_counts_each_epoch_once_with_the_weights_it_went_on_from(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    from accuracy_study import parse_log

    def leg(epochs: dict[int, tuple[float, float]]) -> str:
        lines = [
            f"epoch {e} training [time: {t:.2f}s, train loss: 1.0]\nepoch {e} evaluating [time: 1.00s, "
            f"valid_score: {s:.6f}]\n"
            for e, (t, s) in epochs.items()
        ]
        return "".join(lines)

    # the first leg saved epoch 0 (its best), ran 1 and 2, and stopped; the second went on from 0
    log = leg({0: (10, 0.05), 1: (10, 0.04), 2: (10, 0.045)}) + leg({1: (20, 0.06), 2: (20, 0.055), 3: (20, 0.058)})
    parsed = parse_log(log)
    assert parsed["valid_curve"] == [0.05, 0.06, 0.055, 0.058]
    assert (parsed["epochs_run"], parsed["sec_per_epoch"], parsed["best_epoch"]) == (4, 17.5, 1)


def test_accuracy_study_ends_training_at_its_deadline_with_the_best_epoch_tested_instead_of_killing_the_run(tmp_path):
    data = write_tiny_dataset(tmp_path / "data", name="amazon-beauty")
    runs, results = tmp_path / "runs", tmp_path / "results"
    script = str(REPO / "benchmarks" / "accuracy_study.py")

    def study_until_1_s_after_its_start(runs_dir: Path, epochs: int) -> subprocess.CompletedProcess:
        # the first validation is past that time, whatever the machine
        return run_script(
            script, "--datasets", "amazon-beauty", f"--data_path={data}", "--models", "xLSTM4Rec",
            "--learning_rates", "0.01", "--seeds", "2020", "--epochs", str(epochs), "--set", "train_batch_size=64",
            "stopping_step=10", "--xlstm_compile", "False", "--deadline_s", "600", "--time_stop_margin_s", "599",
            f"--runs_dir={runs_dir}", cwd=tmp_path,
        )  # fmt: skip

    done = study_until_1_s_after_its_start(runs, epochs=5)
    assert done.returncode == 0, done.stderr[-2000:]
    (record,) = [json.loads(line) for line in (runs / "runs.jsonl").read_text().splitlines()]
    assert record["status"] == "ok" and record["stopped_by_time"] is True
    assert (record["epochs_run"], record["epochs_planned"], record["best_epoch"]) == (1, 5, 0)
    assert len(record["valid_curve"]) == 1 and record["test"]["ndcg@10"] >= 0
    assert "would end past the study's deadline" in (runs / "logs" / f"{record['name']}.log").read_text()
    # a run past the deadline in its last planned epoch ends as planned: the time did not stop it
    last = study_until_1_s_after_its_start(tmp_path / "one_epoch", epochs=1)
    assert last.returncode == 0, last.stderr[-2000:]
    (planned,) = [json.loads(line) for line in (tmp_path / "one_epoch" / "runs.jsonl").read_text().splitlines()]
    assert (planned["status"], planned["stopped_by_time"], planned["epochs_run"]) == ("ok", False, 1)

    report = run_script(script, "--report", f"--runs_dir={runs}", f"--results_dir={results}", cwd=tmp_path)
    assert report.returncode == 0, report.stderr[-2000:]
    table = (results / "amazon-beauty.md").read_text()
    assert "| 0.0 | 1.0 (time) |" in table
    assert f"| xLSTM4Rec | {record['valid_curve'][0]:.4f} |" in table  # the validation curve


def test_accuracy_study_continues_a_deadline_stopped_run_from_its_checkpoint(tmp_path, monkeypatch):
    data = write_tiny_dataset(tmp_path / "data", name="amazon-beauty")
    runs = tmp_path / "runs"
    script = str(REPO / "benchmarks" / "accuracy_study.py")
    study = [script, "--datasets", "amazon-beauty", f"--data_path={data}", "--models", "xLSTM4Rec",
             "--learning_rates", "0.01", "--seeds", "2020", "--epochs", "4", "--set", "train_batch_size=64",
             "stopping_step=10", "--xlstm_compile", "False", f"--runs_dir={runs}"]  # fmt: skip
    # a deadline stops the first leg after its first validation (see the test above)
    first = run_script(*study, "--deadline_s", "600", "--time_stop_margin_s", "599", cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    (stopped,) = [json.loads(line) for line in (runs / "runs.jsonl").read_text().splitlines()]
    assert stopped["stopped_by_time"] and stopped["epochs_run"] == 1
    (checkpoint,) = (runs / "saved" / stopped["name"]).glob("*.pth")
    saved = checkpoint.read_bytes()
    # as if the first leg had run on a GPU: this leg's epochs alone then give the time of an epoch
    (runs / "runs.jsonl").write_text(json.dumps({**stopped, "device": "cuda"}) + "\n")

    done = run_script(*study, "--resume", "--continue_time_stopped", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"continue {stopped['name']} from {checkpoint.name}" in done.stdout
    record = [json.loads(line) for line in (runs / "runs.jsonl").read_text().splitlines()][-1]
    assert record["name"] == stopped["name"] and record["continued_from"] == checkpoint.name
    # it went on from epoch 0's weights to the planned 4 epochs; epoch 0 is the first leg's
    assert (record["status"], record["stopped_by_time"], record["epochs_run"]) == ("ok", False, 4)
    assert len(record["valid_curve"]) == 4 and record["valid_curve"][0] == stopped["valid_curve"][0]
    assert record["wall_s"] > stopped["wall_s"]
    log = (runs / "logs" / f"{record['name']}.log").read_text()
    assert "would end past the study's deadline" in log and "Resume training from epoch 1" in log
    assert checkpoint.read_bytes() == saved, "the first leg's checkpoint was written over"
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    from accuracy_study import CONTINUED_MARK, parse_log

    second_leg = parse_log(log.split(CONTINUED_MARK)[-1])
    assert second_leg["epochs_run"] == 3 and record["sec_per_epoch"] == second_leg["sec_per_epoch"]

    refused = run_script(script, "--continue_time_stopped", "--datasets", "amazon-beauty", f"--runs_dir={runs}",
                         cwd=tmp_path)  # fmt: skip
    assert refused.returncode == 2 and "--continue_time_stopped needs --resume" in refused.stderr


def test_accuracy_study_names_a_missing_dataset_and_exits_with_an_error(tmp_path):
    # RecBole itself would try to download it (a URLError traceback offline) in the preparing run
    done = run_script(
        str(REPO / "benchmarks" / "accuracy_study.py"), "--datasets", "amazon-beauty",
        f"--data_path={tmp_path / 'nowhere'}", "--models", "Pop", "--seeds", "2020", f"--runs_dir={tmp_path / 'runs'}",
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode != 0
    assert "Dataset 'amazon-beauty' not found" in done.stdout
    assert "not started amazon-beauty-Pop-grid-s2020: a run it needs failed" in done.stdout
    assert "run(s) failed or could not start" in done.stderr


def test_machine_line_names_the_machine_and_versions_and_marks_what_a_saved_record_lacks():
    from importlib.metadata import version

    from recbole_xlstm import environment, machine_line

    line = machine_line(environment())
    assert line.startswith("Machine: ") and f"{os.cpu_count()} cores" in line
    assert f"torch {version('torch')}" in line and "xlstm 2." in line  # the installed distributions' versions
    # a runs' environment.json from an older script: no GPU list, no pandas
    old = machine_line({"cpu": "Xeon", "cpu_cores": 2, "python": "3.11.7", "torch": "2.13.0"})
    assert old == (
        "Machine: Xeon, 2 cores, GPU: none. Python 3.11.7, torch 2.13.0, recbole ?, xlstm ?, mlstm_kernels ?, "
        "numpy ?, pandas ?."
    )
    assert "GPU: NVIDIA H100, NVIDIA H100." in machine_line({"gpus": ["NVIDIA H100", "NVIDIA H100"]})


def test_accuracy_study_runs_seeds_seed_by_seed_in_the_models_order(tmp_path, monkeypatch):
    # under a deadline the last seed of the last models is what gets cut, whatever order the grids end in
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    import argparse

    import accuracy_study

    args = argparse.Namespace(
        datasets=["amazon-beauty"], runs_dir=str(tmp_path), device="cpu", ablation=False, workers=2,
        threads_per_run=1, deadline_s=float("inf"), min_left_s=0.0, ablation_only=False, ablation_seeds=None,
    )  # fmt: skip
    scheduler = accuracy_study.Scheduler(args)
    scheduler.plan()
    plan = accuracy_study.PLANS["amazon-beauty"]
    for model in ["Pop", "SASRec", "xLSTM4Rec"]:  # the order their grids finish in
        for lr in [None] if model == "Pop" else plan.learning_rates:
            name = f"{model}-{lr}"
            valid = {"ndcg@10": 0.1 if lr == 0.002 else 0.05}
            scheduler.done[name] = {"dataset": "amazon-beauty", "model": model, "phase": "grid", "status": "ok",
                                    "learning_rate": lr, "valid": valid}  # fmt: skip
        scheduler.add_seeds("amazon-beauty", model)
    seeds = sorted((j for j in scheduler.pending if j.phase == "seed"), key=lambda j: j.priority)
    assert [(j.model, j.seed) for j in seeds] == [
        ("xLSTM4Rec", 2021),
        ("SASRec", 2021),
        ("Pop", 2021),
        ("xLSTM4Rec", 2022),
        ("SASRec", 2022),
        ("Pop", 2022),
    ]
    assert {j.learning_rate for j in seeds if j.model != "Pop"} == {0.002}
    grid = sorted((j for j in scheduler.pending if j.phase == "grid"), key=lambda j: j.priority)
    assert max(j.priority for j in grid) < min(j.priority for j in seeds)  # grids of one dataset first
    assert grid[0].model == "xLSTM4Rec"


def test_accuracy_study_ablation_only_plans_the_variants_in_their_order_and_nothing_else(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    import argparse

    import accuracy_study

    args = argparse.Namespace(
        datasets=["amazon-beauty"], runs_dir=str(tmp_path), device="cpu", ablation=True, ablation_only=True,
        ablation_lr=0.002, workers=2, threads_per_run=1, deadline_s=float("inf"), min_left_s=0.0,
        ablation_seeds=None,
    )  # fmt: skip
    scheduler = accuracy_study.Scheduler(args)
    scheduler.plan()
    runs = sorted((j for j in scheduler.pending if j.phase != "prepare"), key=lambda j: j.priority)
    assert [j.variant for j in runs] == list(accuracy_study.PLANS["amazon-beauty"].ablation)
    assert {(j.phase, j.seed, j.learning_rate) for j in runs} == {("ablation", 2020, 0.002)}
    # every variant runs xLSTM4Rec but those of a baseline, which run that baseline
    assert {j.variant for j in runs if j.model == "SASRec"} == {
        "SASRec, label smoothing 0.1", "SASRec, label smoothing 0.2"}  # fmt: skip
    assert {j.variant for j in runs if j.model == "GRU4Rec"} == {
        "GRU4Rec, label smoothing 0.1", "GRU4Rec, label smoothing 0.2"}  # fmt: skip
    assert {j.variant for j in runs if j.model == "NARM"} == {"NARM, label smoothing 0.1", "NARM, label smoothing 0.2"}
    baselines = {v for v in accuracy_study.ABLATION if v.startswith(("SASRec,", "GRU4Rec,", "NARM,"))}
    assert len(baselines) == 6
    assert {j.model for j in runs if j.variant not in baselines} == {"xLSTM4Rec"}
    sasrec = next(j for j in runs if j.variant == "SASRec, label smoothing 0.1")
    assert sasrec.extra == {"label_smoothing": 0.1}
    assert sasrec.name == "amazon-beauty-SASRec-ablation-SASRec_label_smoothing_0_1-lr0.002-s2020"


def test_ablation_seeds_run_each_variant_with_each_seed_on_that_seeds_own_prepared_dataset(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    import argparse

    import accuracy_study

    monkeypatch.setattr(accuracy_study.PLANS["ml-100k"], "seeds", [2020])
    args = argparse.Namespace(
        datasets=["ml-100k"], runs_dir=str(tmp_path), device="cpu", ablation=True, ablation_only=True,
        ablation_lr=0.001, workers=2, threads_per_run=1, deadline_s=float("inf"), min_left_s=0.0,
        ablation_seeds=[2021, 2022],
    )  # fmt: skip
    scheduler = accuracy_study.Scheduler(args)
    scheduler.plan()
    prepares = {j.name: j.seed for j in scheduler.pending if j.phase == "prepare"}
    assert sorted(prepares.values()) == [2020, 2021, 2022]
    runs = sorted((j for j in scheduler.pending if j.phase == "ablation"), key=lambda j: j.priority)
    variants = list(accuracy_study.PLANS["ml-100k"].ablation)
    assert [(j.seed, j.variant) for j in runs] == [(seed, v) for seed in (2021, 2022) for v in variants]
    assert all(prepares[j.requires[0]] == j.seed for j in runs)
    assert runs[0].name == f"ml-100k-xLSTM4Rec-ablation-{runs[0].variant.replace(' ', '_')}-lr0.001-s2021"


def test_ablation_table_compares_with_the_default_runs_of_the_same_seeds_and_rate_even_the_models_own(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    from study_report import ablation_table

    def run(phase: str, lr: float | None, ndcg: float, variant: str = "", seed: int = 2020) -> dict:
        scores = {"ndcg@10": ndcg, "recall@10": 2 * ndcg}
        return {"dataset": "ml-100k", "model": "xLSTM4Rec", "phase": phase, "status": "ok", "seed": seed,
                "learning_rate": lr, "variant": variant, "valid": scores, "test": scores}  # fmt: skip

    runs = [run("grid", None, 0.0600), run("grid", 0.004, 0.0500), run("seed", None, 0.0610, seed=2021),
            run("seed", None, 0.0620, seed=2022), run("ablation", None, 0.0551, "1 mLSTM block", seed=2021),
            run("ablation", None, 0.0550, "1 mLSTM block")]  # fmt: skip
    table = "\n".join(ablation_table(runs, "ml-100k"))
    assert "(lr 0.002; few seeds" in table  # the default, by its value
    assert "| default: 2 mLSTM blocks, max length 50 | 2020 | 0.0600 |" in table and "0.0500" not in table
    assert "| default: 2 mLSTM blocks, max length 50 | 2021 | 0.0610 |" in table and "0.0620" not in table
    assert table.index("| 1 mLSTM block | 2020 | 0.0550 |") < table.index("| 1 mLSTM block | 2021 | 0.0551 |")
    # two seeds: a mean row against the default's mean over the same two seeds (0.0600, 0.0610), not its third
    assert "| 1 mLSTM block | 2020, 2021 | 0.0551 ± 0.0001 | 0.0605 ± 0.0007 | -9.0% |" in table
    runs.append(run("ablation", None, 0.0700, "3 mLSTM blocks"))
    assert "| 3 mLSTM blocks | 2020" not in "\n".join(ablation_table(runs, "ml-100k")).split("several seeds")[1]
    # an ablation at a second rate gets its own table, against the default's run at that rate
    runs.append(dict(run("ablation", 0.004, 0.0450, "weight decay 1e-4"), best_epoch=13, stopped_by_time=True))
    first, second = "\n".join(ablation_table(runs, "ml-100k")).split("## Ablation")[1:]
    assert "weight decay" not in first and "(lr 0.004;" in second
    assert "| default: 2 mLSTM blocks, max length 50 | 2020 | 0.0500 |" in second and "0.0600" not in second
    # a run the deadline ended is marked, and the mark explained, in its own table only
    assert "| weight decay 1e-4 | 2020 | 0.0450 | 0.0450 | 0.0900 | 13 (time) |" in second
    assert "'(time)' after" in second
    assert "(time)" not in first
    # a default run the deadline ended is marked and explained as well
    runs[0]["stopped_by_time"] = True
    first = "\n".join(ablation_table(runs, "ml-100k")).split("## Ablation")[1]
    assert "| default: 2 mLSTM blocks, max length 50 | 2020 | 0.0600 | 0.0600 | 0.1200 | - (time) |" in first
    assert "'(time)' after" in first


def test_a_baselines_variants_get_their_own_table_against_that_baselines_runs(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    from study_report import ablation_table

    def run(model: str, phase: str, ndcg: float, variant: str = "", seed: int = 2020) -> dict:
        scores = {"ndcg@10": ndcg, "recall@10": 2 * ndcg}
        return {"dataset": "amazon-beauty", "model": model, "phase": phase, "status": "ok", "seed": seed,
                "learning_rate": 0.004, "variant": variant, "valid": scores, "test": scores}  # fmt: skip

    on_gpu = dict(run("SASRec", "seed", 0.0420, seed=2021), sec_per_epoch=4.2, device="cuda")
    runs = [run("SASRec", "grid", 0.0410), on_gpu,
            run("xLSTM4Rec", "grid", 0.0400), run("xLSTM4Rec", "seed", 0.0390, seed=2021),
            run("SASRec", "ablation", 0.0430, "SASRec, label smoothing 0.1"),
            run("SASRec", "ablation", 0.0440, "SASRec, label smoothing 0.1", seed=2021),
            run("xLSTM4Rec", "ablation", 0.0450, "xLSTM dropout 0.2")]  # fmt: skip
    ours, sasrec = "\n".join(ablation_table(runs, "amazon-beauty")).split("\n## ")[0:2]
    assert ours.startswith("## Ablation of xLSTM4Rec") and "label smoothing" not in ours
    assert "| default: 2 mLSTM blocks, max length 50 | 2020 | 0.0400 |" in ours and "0.0410" not in ours
    assert sasrec.startswith("Variants of SASRec (lr 0.004;") and "xLSTM dropout" not in sasrec
    assert "| default: RecBole's SASRec | 2021 | 0.0420 |" in sasrec and "0.0390" not in sasrec
    assert "| 4.2 cuda |" in sasrec  # a GPU run's seconds, named as such beside CPU runs
    # its mean against SASRec's own runs of the same seeds: (0.0435 / 0.0415) - 1
    assert "| SASRec, label smoothing 0.1 | 2020, 2021 | 0.0435 ± 0.0007 | 0.0415 ± 0.0007 | +4.8% |" in sasrec


def test_variants_of_several_seeds_are_compared_over_all_their_seeds_with_the_best_baseline(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    from study_report import variants_against

    def run(ndcg: float, seed: int, variant: str = "dropout", lr: float = 0.004, status: str = "ok") -> dict:
        scores = {"ndcg@10": ndcg, "recall@10": 2 * ndcg}
        return {"dataset": "amazon-beauty", "model": "xLSTM4Rec", "phase": "ablation", "status": status,
                "seed": seed, "learning_rate": lr, "variant": variant, "valid": scores, "test": scores}  # fmt: skip

    baseline = {"model": "SASRec", "ndcg@10_mean": 0.0400, "seeds": 1}
    runs = [dict(run(0.0420, 2022), stopped_by_time=True), run(0.0440, 2020), run(0.0430, 2021),
            run(0.0500, 2023, status="failed"), run(0.0700, 2020, lr=0.001), run(0.0360, 2020, "one block"),
            run(0.0380, 2021, "one block")]  # fmt: skip
    table = "\n".join(variants_against(baseline, runs, "amazon-beauty"))
    assert "against the best baseline (SASRec, test NDCG@10 0.0400, 1 seed(s): its spread is not measured)" in table
    # all three finished seeds in seed order, the failed one and the other rate's single run left out
    assert "| dropout | 0.004 | 2020, 2021, 2022 (time) | 0.0430 ± 0.0010 | 0.0860 ± 0.0020 | +7.5% |" in table
    assert "| one block | 0.004 | 2020, 2021 | 0.0370 ± 0.0014 | 0.0740 ± 0.0028 | -7.5% |" in table
    assert "| 0.001 |" not in table
    assert "'(time)' after a seed" in table
    assert "'(time)' after a seed" not in "\n".join(variants_against(baseline, runs[1:], "amazon-beauty"))
    assert variants_against(None, runs, "amazon-beauty") == []
    assert variants_against(baseline, runs[:1] + runs[4:6], "amazon-beauty") == []  # no variant with two seeds


def test_rates_are_also_picked_on_the_mean_validation_of_the_seeds_every_rate_ran(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    from study_report import rate_pick_table

    def run(model: str, lr: float, seed: int, valid: float, test: float, phase: str = "", variant: str = "") -> dict:
        return {"dataset": "ml-100k", "model": model, "phase": phase or ("grid" if seed == 2020 else "seed"),
                "status": "ok", "seed": seed, "learning_rate": lr, "variant": variant,
                "valid": {"ndcg@10": valid}, "test": {"ndcg@10": test}}  # fmt: skip

    runs = [
        # seed 2020 picks 0.004 for GRU4Rec; 0.001 is higher on the two seeds' mean validation
        run("GRU4Rec", 0.001, 2020, 0.0700, 0.0600), run("GRU4Rec", 0.004, 2020, 0.0710, 0.0650),
        run("GRU4Rec", 0.001, 2021, 0.0760, 0.0640), run("GRU4Rec", 0.004, 2021, 0.0690, 0.0700),
        run("GRU4Rec", 0.004, 2022, 0.0900, 0.0900),  # a seed 0.001 lacks: not in either mean
        run("xLSTM4Rec", 0.001, 2020, 0.0750, 0.0680), run("xLSTM4Rec", 0.004, 2020, 0.0740, 0.0600),
        run("xLSTM4Rec", 0.001, 2021, 0.0750, 0.0660), run("xLSTM4Rec", 0.004, 2021, 0.0700, 0.0600),
        run("xLSTM4Rec", 0.004, 2021, 0.0999, 0.0999, phase="ablation", variant="xLSTM dropout 0.2"),
        run("NARM", 0.001, 2020, 0.0800, 0.0800), run("NARM", 0.004, 2020, 0.0700, 0.0700),  # one shared seed
        dict(run("NARM", 0.004, 2021, 0.0990, 0.0990), status="failed"),
    ]  # fmt: skip
    table = "\n".join(rate_pick_table(runs, "ml-100k"))
    assert "| GRU4Rec | 2020, 2021 | 0.001 | 0.0730 | 0.0620 ± 0.0028 | mean validation |" in table
    assert "| GRU4Rec | 2020, 2021 | 0.004 | 0.0700 | 0.0675 ± 0.0035 | seed 2020 |" in table
    assert "| xLSTM4Rec | 2020, 2021 | 0.001 | 0.0750 | 0.0670 ± 0.0014 | mean validation, seed 2020 |" in table
    assert "| xLSTM4Rec | 2020, 2021 | 0.004 | 0.0720 | 0.0600 ± 0.0000 | - |" in table
    assert "NARM" not in table and "0.0999" not in table
    # each at its mean-validation pick: 0.0670 against GRU4Rec's 0.0620
    assert "xLSTM4Rec's test NDCG@10 0.0670 is +8.1% against the best baseline's (GRU4Rec, 0.0620)" in table
    assert "Not paired" not in table
    assert rate_pick_table(runs[:2] + runs[5:7], "ml-100k") == []  # one seed: nothing to average
    # GRU4Rec's 0.001 gains seed 2022: its mean is then over other seeds than xLSTM4Rec's, and the line says so
    table = "\n".join(rate_pick_table(runs + [run("GRU4Rec", 0.001, 2022, 0.0700, 0.0600)], "ml-100k"))
    assert "| GRU4Rec | 2020, 2021, 2022 |" in table and "Not paired: xLSTM4Rec's seeds are not GRU4Rec's." in table


def test_grid_table_marks_a_deadline_stopped_grid_run_and_says_its_rate_pick_is_provisional(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    from study_report import grid_table

    def run(model: str, lr: float, valid: float, stopped: bool = False) -> dict:
        return {"dataset": "ml-100k", "model": model, "phase": "grid", "status": "ok", "seed": 2020, "variant": "",
                "learning_rate": lr, "valid": {"ndcg@10": valid}, "stopped_by_time": stopped}  # fmt: skip

    finished = [run("BERT4Rec", 0.001, 0.0684), run("BERT4Rec", 0.002, 0.0685), run("GRU4Rec", 0.001, 0.0670),
                run("GRU4Rec", 0.002, 0.0709)]  # fmt: skip
    table = "\n".join(grid_table(finished + [run("BERT4Rec", 0.004, 0.0661, stopped=True)], "ml-100k"))
    assert "| BERT4Rec | 0.0684 | 0.0685 | 0.0661 (time) |" in table
    assert "| GRU4Rec | 0.0670 | 0.0709 | - |" in table
    assert "may change once it runs on" in table
    table = "\n".join(grid_table(finished + [run("BERT4Rec", 0.004, 0.0661)], "ml-100k"))
    assert "| BERT4Rec | 0.0684 | 0.0685 | 0.0661 |" in table and "(time)" not in table


def test_ablation_variants_narrow_each_datasets_own_ablation_and_leave_ml1m_without_one(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    import argparse
    import copy

    import accuracy_study

    monkeypatch.setattr(accuracy_study, "PLANS", copy.deepcopy(accuracy_study.PLANS))  # override_plans mutates it
    args = argparse.Namespace(models=None, learning_rates=None, seeds=None, epochs=None, data_path=None, set=None,
                              ablation_variants=["max length 20", "1 mLSTM block"])  # fmt: skip
    accuracy_study.override_plans(args)
    assert accuracy_study.PLANS["ml-100k"].ablation == {"max length 20": {"MAX_ITEM_LIST_LENGTH": 20},
                                                        "1 mLSTM block": {"num_blocks": 1}}  # fmt: skip
    assert accuracy_study.PLANS["ml-1m"].ablation == {}


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--datasets", "ml-1m", "--ablation_only"], "no ablation is planned for ml-1m: name ml-100k or amazon-beauty"),
        (["--ablation_variants", "2 mLSTM blocks"], "invalid choice: '2 mLSTM blocks'"),
        (["--ablation_seeds", "2021"], "--ablation_seeds needs --ablation or --ablation_only"),
        (["--ablation_lr", "0.001"], "--ablation_lr needs --ablation or --ablation_only"),
        (["--ablation_variants", "1 mLSTM block"], "--ablation_variants needs --ablation or --ablation_only"),
    ],
)
def test_accuracy_study_refuses_an_ablation_it_has_no_plan_for(tmp_path, flags, message):
    done = run_script(str(REPO / "benchmarks" / "accuracy_study.py"), *flags, f"--runs_dir={tmp_path}", cwd=tmp_path)
    assert done.returncode == 2
    assert message in done.stderr
    assert not (tmp_path / "runs.jsonl").exists()


@pytest.mark.parametrize("flag, missing", [("--report", "runs.jsonl"), ("--collect", "logs")])
def test_accuracy_study_names_a_runs_dir_without_runs_and_plans_no_ablation_note_for_it(tmp_path, flag, missing):
    runs_dir = tmp_path / "mistyped"
    done = run_script(str(REPO / "benchmarks" / "accuracy_study.py"), flag, "--ablation", "--datasets", "ml-1m",
                      f"--runs_dir={runs_dir}", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 2
    assert f"--runs_dir {runs_dir} has no {missing}: name the --runs_dir a study wrote its runs to" in done.stderr
    # the note is for studies that plan runs; --report and --collect plan none
    assert "no ablation is planned" not in done.stdout


def test_accuracy_study_resume_runs_only_what_runs_jsonl_does_not_hold_as_finished(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    import argparse
    import copy

    import accuracy_study

    monkeypatch.setattr(accuracy_study, "PLANS", copy.deepcopy(accuracy_study.PLANS))
    plan = accuracy_study.PLANS["ml-100k"]
    plan.models, plan.learning_rates, plan.seeds = ["xLSTM4Rec", "SASRec"], [None], [2020, 2021, 2022]

    def record(model: str, phase: str, seed: int, status: str = "ok") -> dict:
        job = accuracy_study.Job("ml-100k", model, phase, seed, None)
        return {"name": job.name, "dataset": "ml-100k", "model": model, "phase": phase, "seed": seed,
                "learning_rate": None, "status": status, "valid": {"ndcg@10": 0.07}}  # fmt: skip

    recorded = [record("xLSTM4Rec", "grid", 2020), record("xLSTM4Rec", "seed", 2021),
                record("SASRec", "grid", 2020, status="not finished: killed at the 60 s deadline")]  # fmt: skip
    (tmp_path / "runs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recorded))
    args = argparse.Namespace(datasets=["ml-100k"], runs_dir=str(tmp_path), device="cpu", ablation=False,
                              ablation_only=False, workers=1, threads_per_run=1, deadline_s=float("inf"),
                              min_left_s=0.0, resume=True, ablation_seeds=None, rerun_time_stopped=False,
                              continue_time_stopped=False)  # fmt: skip
    scheduler = accuracy_study.Scheduler(args)
    scheduler.plan()
    scheduler.skip_recorded()
    planned = sorted((j.model, j.phase, j.seed) for j in scheduler.pending if j.phase != "prepare")
    # xLSTM4Rec's grid and seed 2021 are done: only its seed 2022 is left; SASRec's grid did not finish: again
    assert planned == [("SASRec", "grid", 2020), ("xLSTM4Rec", "seed", 2022)]
    assert scheduler.done[recorded[0]["name"]]["status"] == "ok"

    # --rerun_time_stopped: a run a deadline stopped is a result, but runs again; a finished one does not
    recorded[1]["stopped_by_time"] = True
    (tmp_path / "runs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recorded))
    scheduler = accuracy_study.Scheduler(argparse.Namespace(**{**vars(args), "rerun_time_stopped": True}))
    scheduler.plan()
    scheduler.skip_recorded()
    planned = sorted((j.model, j.phase, j.seed) for j in scheduler.pending if j.phase != "prepare")
    assert planned == [("SASRec", "grid", 2020), ("xLSTM4Rec", "seed", 2021), ("xLSTM4Rec", "seed", 2022)]


def test_merge_adds_a_resumed_copys_new_runs_logs_and_study_and_keeps_what_runs_dir_holds(tmp_path):
    script = str(REPO / "benchmarks" / "accuracy_study.py")
    study = {"date": "2026-11-27", "command": "python benchmarks/accuracy_study.py --datasets ml-100k",
             "device": "cpu", "workers": 2, "threads_per_run": 1}  # fmt: skip

    def runs_dir(folder: Path, statuses: dict[str, str], environment: dict) -> Path:
        (folder / "logs").mkdir(parents=True)
        records = [{"name": name, "dataset": "ml-100k", "status": status} for name, status in statuses.items()]
        (folder / "runs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
        for name in statuses:
            (folder / "logs" / f"{name}.log").write_text(f"log of {name} in {folder.name}")
        (folder / "environment.json").write_text(json.dumps(environment))
        return folder

    committed = runs_dir(tmp_path / "committed", {"A": "ok", "B": "ok"}, {**study, "python": "3.11", "reruns": []})
    resumed = {**study, "date": "2026-11-29", "command": "python benchmarks/accuracy_study.py --resume"}
    copy = runs_dir(tmp_path / "copy", {"A": "ok", "B": "ok", "C": "ok", "D": "not finished: killed at the 60 s "
                    "deadline", "E": "failed (1): ValueError: Training loss is nan"},
                    {**study, "python": "3.11", "reruns": [{**resumed, "machine": {"python": "3.12"}}]})  # fmt: skip
    # a rerun of B that failed after the copy was made must not replace B's result
    with open(copy / "runs.jsonl", "a") as out:
        out.write(json.dumps({"name": "B", "dataset": "ml-100k", "status": "failed (1): killed"}) + "\n")
        out.write(json.dumps({"name": "G", "dataset": "ml-100k", "status": "ok"}) + "\n")  # its log is missing
    before = (committed / "runs.jsonl").read_text()

    done = run_script(script, "--merge", str(copy), f"--runs_dir={committed}", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = (committed / "runs.jsonl").read_text()
    assert lines.startswith(before)
    assert [json.loads(line)["name"] for line in lines[len(before) :].splitlines()] == ["C", "E"]
    assert "not merged D: not finished" in done.stdout and "not merged B: failed (1): killed" in done.stdout
    assert f"not merged G: {copy}/logs has no G.log" in done.stdout
    assert (committed / "logs" / "C.log").read_text() == "log of C in copy"
    assert (committed / "logs" / "B.log").read_text() == "log of B in committed"
    assert not (committed / "logs" / "D.log").exists()
    reruns = json.loads((committed / "environment.json").read_text())["reruns"]
    # the copy's own study, once: the one it shares with runs_dir is not a rerun
    assert reruns == [{**resumed, "machine": {"python": "3.12"}, "merged_from": str(copy)}]

    again = run_script(script, "--merge", str(copy), f"--runs_dir={committed}", cwd=tmp_path)
    assert again.returncode == 0 and (committed / "runs.jsonl").read_text() == lines
    assert json.loads((committed / "environment.json").read_text())["reruns"] == reruns

    elsewhere = runs_dir(tmp_path / "gpu", {"F": "ok"}, {**study, "device": "cuda", "python": "3.12"})
    assert run_script(script, "--merge", str(elsewhere), f"--runs_dir={committed}", cwd=tmp_path).returncode == 0
    assert json.loads((committed / "environment.json").read_text())["reruns"][-1] == {
        **study, "device": "cuda", "machine": {"python": "3.12"}, "merged_from": str(elsewhere)}  # fmt: skip


@pytest.mark.parametrize("source, message", [("missing", "has no runs.jsonl or environment.json"),
                                             ("committed", "--merge names --runs_dir itself")])  # fmt: skip
def test_merge_refuses_a_source_without_runs_or_runs_dir_itself(tmp_path, source, message):
    committed = tmp_path / "committed"
    committed.mkdir()
    (committed / "runs.jsonl").write_text('{"name": "A", "status": "ok"}\n')
    (committed / "environment.json").write_text("{}")
    done = run_script(str(REPO / "benchmarks" / "accuracy_study.py"), "--merge", str(tmp_path / source),
                      f"--runs_dir={committed}", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 2 and message in done.stderr
    assert (committed / "runs.jsonl").read_text() == '{"name": "A", "status": "ok"}\n'


def test_accuracy_study_refuses_to_resume_runs_that_ran_with_other_settings(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    import accuracy_study

    before = {**accuracy_study.PLANS["ml-100k"].settings, "train_batch_size": 256, "epochs": 6, "stopping_step": 3}
    (tmp_path / "environment.json").write_text(json.dumps({"plans": {"ml-100k": {"settings": before}}}))
    (tmp_path / "runs.jsonl").write_text("")
    done = run_script(str(REPO / "benchmarks" / "accuracy_study.py"), "--resume", "--datasets", "ml-100k",
                      "--set", "train_batch_size=256", f"--runs_dir={tmp_path}", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 2
    assert "--resume: ml-100k: epochs was 6, now 60, stopping_step was 3, now 5;" in done.stderr
    assert "train_batch_size" not in done.stderr.split("--resume:")[1].split(";")[0]
    assert (tmp_path / "runs.jsonl").read_text() == ""


def test_study_report_describes_the_seeds_and_rates_the_runs_have_not_only_those_first_planned(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    from study_report import describe

    env = {"plans": {"ml-100k": {"learning_rates": [None], "seeds": [2020], "settings": {"epochs": 60}}}}

    def run(model: str, phase: str, seed: int, lr: float | None) -> dict:
        return {"dataset": "ml-100k", "model": model, "phase": phase, "seed": seed, "learning_rate": lr,
                "status": "ok", "valid": {"ndcg@10": 0.07}}  # fmt: skip

    finished = [run("xLSTM4Rec", "grid", 2020, lr) for lr in (0.004, None, 0.001)]
    finished.append(run("xLSTM4Rec", "seed", 2021, None))
    text = "\n".join(describe(env, REPO, "ml-100k", finished))
    # xLSTM4Rec's default, 0.002, is named by its value
    assert "learning rates 0.001, 0.002, 0.004 for every model, the best on validation kept; seeds 2020, 2021;" in text
    finished.append(run("SASRec", "grid", 2020, None))
    text = "\n".join(describe(env, REPO, "ml-100k", finished))
    assert "learning rates xLSTM4Rec 0.001, 0.002, 0.004; SASRec 0.001, the best on validation kept;" in text
    # one list for both would claim seed 2021 for SASRec too
    assert "kept; seeds 2020 (SASRec) and 2020, 2021 (xLSTM4Rec); the protocol" in text
    finished.append(run("xLSTM4Rec", "ablation", 2022, None))  # an ablation seed that no model's own run has
    text = "\n".join(describe(env, REPO, "ml-100k", finished))
    assert "(xLSTM4Rec); the ablation's seeds 2022; the protocol" in text
    same = [run("xLSTM4Rec", "grid", 2020, None), run("xLSTM4Rec", "ablation", 2020, None)]
    assert "; seeds 2020; the protocol" in "\n".join(describe(env, REPO, "ml-100k", same))
    defaults = [run(m, "grid", 2020, None) for m in ("xLSTM4Rec", "SASRec")]
    text = "\n".join(describe(env, REPO, "ml-100k", defaults))
    assert "no tuning: each model at its own default learning rate" in text
    assert "; seeds 2020; the protocol" in "\n".join(describe(env, REPO, "ml-100k", []))  # none finished: the plan's
    assert "device ?, ? runs at a time" in text
    env.update(workers=2, reruns=[{"date": "d", "command": "python s.py --resume --workers 3"},
                                  {"date": "d", "command": "python s.py --resume"},
                                  {"date": "d", "command": "python s.py --resume --workers=5"},
                                  {"date": "d", "command": "python s.py --workers 4 --workers 6"}])  # fmt: skip
    # argparse takes the last --workers given (gpu_session.sh appends one to its own)
    assert "1 to 6 runs (each command's --workers) at a time" in "\n".join(describe(env, REPO, "ml-100k", defaults))


def test_a_grid_rate_equal_to_a_models_default_runs_once_as_the_default_run_a_resume_finds(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    import accuracy_study
    from study_report import default_learning_rate, final_runs, rate_label

    assert (default_learning_rate("xLSTM4Rec"), default_learning_rate("SASRec")) == (0.002, 0.001)
    plan = dataclasses.replace(accuracy_study.PLANS["ml-100k"], learning_rates=[0.001, 0.002, 0.004])
    assert accuracy_study.grid_rates(plan, "xLSTM4Rec") == [0.001, None, 0.004]
    assert accuracy_study.grid_rates(plan, "SASRec") == [None, 0.002, 0.004]
    assert accuracy_study.grid_rates(plan, "Pop") == [None]
    # a run at the default and seed runs at the same rate named by its value are one configuration
    runs = [{"dataset": "ml-100k", "model": "SASRec", "status": "ok", "phase": phase, "seed": seed,
             "learning_rate": lr, "valid": {"ndcg@10": 0.1}} for phase, seed, lr in
            [("grid", 2020, None), ("seed", 2021, 0.001), ("seed", 2022, 0.002)]]  # fmt: skip
    assert [r["seed"] for r in final_runs(runs, "ml-100k", "SASRec")] == [2020, 2021]
    assert rate_label(runs[0]) == "0.001 (default)" and rate_label(runs[2]) == "0.002"


def test_report_gives_one_seed_no_spread_instead_of_a_zero_std(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    from study_report import METRICS, write_reports

    def run(model: str, seed: int, ndcg: float) -> dict:
        scores = {metric: ndcg for metric in METRICS}
        phase = "grid" if seed == 2020 else "seed"
        return {"name": f"{model}-{seed}", "dataset": "ml-100k", "model": model, "phase": phase, "seed": seed,
                "learning_rate": 0.004, "status": "ok", "valid": scores, "test": scores}  # fmt: skip

    runs = [run("GRU4Rec", 2020, 0.0700), run("xLSTM4Rec", 2020, 0.0770)]
    (tmp_path / "runs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in runs))
    write_reports(tmp_path, tmp_path / "out")
    text = (tmp_path / "out" / "ml-100k.md").read_text()
    assert "| xLSTM4Rec | 1 | 0.004 | 0.0770 | 0.0770 |" in text and "± 0.0000" not in text
    assert "(GRU4Rec, 0.0700). One seed each: whether the gap is larger than the spread" in text
    assert "A model with one seed shows its value alone (no ±)" in text
    assert ",0.077,,0.077," in (tmp_path / "out" / "ml-100k.csv").read_text()  # std empty, not 0.0
    runs.append(run("GRU4Rec", 2021, 0.0720))
    (tmp_path / "runs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in runs))
    write_reports(tmp_path, tmp_path / "out")
    text = (tmp_path / "out" / "ml-100k.md").read_text()
    assert "| GRU4Rec | 2 | 0.004 | 0.0710 ± 0.0014 |" in text and "One seed each" not in text


def test_report_says_a_gain_over_fewer_seeds_than_the_best_baseline_is_not_yet_comparable(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    from study_report import METRICS, write_reports

    def run(model: str, phase: str, seed: int, lr: float, ndcg: float) -> dict:
        scores = {metric: ndcg for metric in METRICS}
        return {"name": f"{model}-{phase}-{lr}-{seed}", "dataset": "ml-100k", "model": model, "phase": phase,
                "seed": seed, "learning_rate": lr, "status": "ok", "valid": scores, "test": scores}  # fmt: skip

    runs = [run("GRU4Rec", "grid", 2020, 0.004, 0.0700), run("GRU4Rec", "seed", 2021, 0.004, 0.0700),
            run("xLSTM4Rec", "grid", 2020, 0.004, 0.0770)]  # fmt: skip
    (tmp_path / "runs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in runs))
    write_reports(tmp_path, tmp_path / "out")
    text = (tmp_path / "out" / "ml-100k.md").read_text()
    assert ("is +10.0% against the best baseline (GRU4Rec, 0.0700). Not yet comparable: xLSTM4Rec's mean is over 1 "
            "seed(s), GRU4Rec's over 2.") in text  # fmt: skip
    runs.append(run("xLSTM4Rec", "seed", 2021, 0.004, 0.0770))
    (tmp_path / "runs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in runs))
    write_reports(tmp_path, tmp_path / "out")
    text = (tmp_path / "out" / "ml-100k.md").read_text()
    assert "is +10.0% against the best baseline (GRU4Rec, 0.0700).\n" in text and "Not yet comparable" not in text


def test_report_says_what_each_later_study_ran(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    from study_report import rerun_sentence

    def sentence(command: str) -> str:
        return rerun_sentence({"date": "2026-12-04", "command": command})

    assert sentence("python benchmarks/accuracy_study.py --seeds 2021").startswith(
        "Run later (2026-12-04), replacing any earlier runs of its names:"
    )
    assert sentence("python benchmarks/accuracy_study.py --resume --seeds 2021").startswith(
        "Resumed (2026-12-04), running only what the runs lacked:"
    )
    rerun = sentence("python benchmarks/accuracy_study.py --resume --rerun_time_stopped --ablation_variants 'a b'")
    assert rerun.startswith("Resumed (2026-12-04), running what the runs lacked and, again, the runs a deadline")
    assert rerun.endswith("--ablation_variants 'a b'`.")
    continued = sentence("python benchmarks/accuracy_study.py --resume --continue_time_stopped")
    assert "continuing the runs a deadline had stopped from their best epoch's checkpoint" in continued


def test_report_gives_each_devices_costs_apart_and_names_the_machine_resumed_runs_ran_on(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    from study_report import METRICS, write_reports

    def run(model: str, seed: int, device: str | None, seconds: float, memory: float) -> dict:
        scores = {metric: 0.07 for metric in METRICS}
        record = {"name": f"{model}-{seed}", "dataset": "ml-100k", "model": model, "phase": "grid" if seed == 2020
                  else "seed", "seed": seed, "learning_rate": 0.004, "status": "ok", "valid": scores, "test": scores,
                  "sec_per_epoch": seconds, "peak_mem_mib": memory,
                  "memory": "cuda max allocated" if device == "cuda" else "peak RSS"}  # fmt: skip
        return record if device is None else {**record, "device": device}

    # SASRec's first seed ran with the study on the CPU (a record from before runs named their device), two more
    # were resumed on a GPU; GRU4Rec ran on the CPU only
    runs = [run("SASRec", 2020, None, 168.0, 2700.0), run("SASRec", 2021, "cuda", 4.0, 1300.0),
            run("SASRec", 2022, "cuda", 5.0, 1400.0), run("GRU4Rec", 2020, "cpu", 48.0, 1700.0),
            run("GRU4Rec", 2021, "cpu", 50.0, 1800.0)]  # fmt: skip
    (tmp_path / "runs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in runs))
    gpu = {"cpu": "Intel Xeon", "cpu_cores": 16, "gpus": ["NVIDIA H200"], "torch": "2.11.0", "python": "3.12.3"}
    env = {"device": "cpu", "cpu": "AMD EPYC", "cpu_cores": 2, "gpus": [], "workers": 2,
           "reruns": [{"date": "d", "command": "python s.py --resume", "device": "cuda", "machine": gpu}]}  # fmt: skip
    (tmp_path / "environment.json").write_text(json.dumps(env))
    write_reports(tmp_path, tmp_path / "out")
    text = (tmp_path / "out" / "ml-100k.md").read_text()
    # one mean of 168 s on the CPU and 4.5 s on the GPU would describe neither
    assert "| 168.0 cpu; 4.5 cuda | 2700 cpu; 1350 cuda |" in text
    assert "| 49.0 | 1750 |" in text  # one device: a plain mean, as before
    assert "Peak MiB: the run's peak RSS on cpu, cuda max allocated on cuda." in text
    assert "Machine: AMD EPYC, 2 cores, GPU: none." in text
    assert ("Runs on cuda (SASRec 2; their seconds per epoch and memory are given apart): Machine: Intel Xeon, 16 "
            "cores, GPU: NVIDIA H200. Python 3.12.3, torch 2.11.0") in text  # fmt: skip
    assert "168.0 cpu; 4.5 cuda" in (tmp_path / "out" / "ml-100k.csv").read_text()


def test_accuracy_study_records_the_device_and_machine_of_a_rerun_into_its_runs(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    import argparse

    import accuracy_study

    (tmp_path / "environment.json").write_text(json.dumps({"device": "cpu", "workers": 2}))
    args = argparse.Namespace(datasets=["ml-100k"], runs_dir=str(tmp_path), device="cuda", ablation=False,
                              ablation_only=False, workers=6, threads_per_run=1, deadline_s=0.0, min_left_s=0.0,
                              resume=False, ablation_seeds=None, rerun_time_stopped=False,
                              continue_time_stopped=False)  # fmt: skip
    accuracy_study.Scheduler(args).loop()  # a deadline of 0: records the rerun, starts nothing
    env = json.loads((tmp_path / "environment.json").read_text())
    (rerun,) = env["reruns"]
    assert (rerun["device"], rerun["workers"], env["device"]) == ("cuda", 6, "cpu")
    assert rerun["machine"]["cpu_cores"] == os.cpu_count() and rerun["machine"]["torch"]
    assert not (tmp_path / "runs.jsonl").exists()


def test_paired_bootstrap_draws_the_same_users_for_both_models(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    import numpy as np
    from paired_bootstrap import paired_bootstrap

    rng = np.random.default_rng(1)
    b = rng.random(500)
    # A scores every user 10% above B: paired draws see +10% in every resample; unpaired ones would not.
    paired = paired_bootstrap(1.1 * b, b, resamples=2000)
    assert paired.relative_difference == pytest.approx(0.1)
    assert paired.low == pytest.approx(0.1) and paired.high == pytest.approx(0.1)
    assert paired.share_above_zero == 1.0 and paired.share_above_target == 1.0
    # The same values for other users: equal means, and an interval that holds 0 on both sides.
    shuffled = paired_bootstrap(rng.permutation(b), b, resamples=2000)
    assert shuffled.relative_difference == pytest.approx(0.0)
    assert shuffled.low < -0.02 and shuffled.high > 0.02 and 0.2 < shuffled.share_above_zero < 0.8
    with pytest.raises(ValueError, match="same users"):
        paired_bootstrap(b, b[:-1])


def test_paired_bootstrap_scores_each_test_user_as_recboles_test_mean_and_writes_its_report(tmp_path, monkeypatch):
    from conftest import train_with_the_run_script

    from recbole_xlstm.quick_start import evaluate_checkpoint

    checkpoint, _, _ = train_with_the_run_script(tmp_path / "a", epochs=2)
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    from paired_bootstrap import main, score_users

    scored = score_users(checkpoint, "ndcg", 10)
    assert len(scored.user_ids) == len(set(scored.user_ids.tolist())) == 80  # every tiny user, once
    assert scored.mean == pytest.approx(evaluate_checkpoint(checkpoint)["test"]["ndcg@10"], abs=5e-5)
    assert scored.values.min() >= 0.0 and scored.values.max() <= 1.0 and scored.values.max() > 0.0

    out = tmp_path / "report" / "tiny_paired"
    result = main(["--dataset_label", "tiny", "--a", "A", checkpoint, "--b", "B", checkpoint,
                   "--resamples", "200", "--output", str(out)])  # fmt: skip
    assert result.relative_difference == 0.0 and result.low == 0.0 and result.high == 0.0
    report = out.with_suffix(".md").read_text()
    assert "| A | B | A against B |" in report and "+0.0% to +0.0%" in report
    assert json.loads(out.with_suffix(".json").read_text())["checkpoint_means"]["A"] == [pytest.approx(scored.mean)]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--a", "A", "{missing}", "--b", "B", "{file}"], "no such checkpoint: {missing}"),
        (["--a", "A", "{file}", "--b", "A", "{file}"], "both named A"),
        (["--a", "A", "{file}", "--b", "B", "{file}", "--metric", "auc@10"], "one of hit, map, mrr, ndcg"),
        (["--a", "A", "{file}", "--b", "B", "{file}", "--metric", "ndcg"], "expected NAME@K"),
    ],
)
def test_paired_bootstrap_names_what_is_wrong_with_its_arguments_before_loading_anything(tmp_path, args, message):
    paths = {"missing": str(tmp_path / "nope.pth"), "file": str(tmp_path / "empty.pth")}
    (tmp_path / "empty.pth").write_bytes(b"")  # never loaded: the arguments are checked first
    argv = [a.format(**paths) for a in args]
    done = run_script(str(REPO / "benchmarks" / "paired_bootstrap.py"), "--dataset_label", "x", *argv,
                      "--output", str(tmp_path / "o"), cwd=tmp_path)  # fmt: skip
    assert done.returncode == 2 and message.format(**paths) in done.stderr, done.stderr
    assert not (tmp_path / "o.md").exists()
