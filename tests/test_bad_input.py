"""Every bad input a user can give the command, one row each (issue 11): the command runs as a subprocess, as a
user runs it. Each row checks the exit status, that the last line of stderr names the problem, and that no file
the user had was changed (hashes before and after).

Rows with status 0 are inputs that used to fail or pass silently and now work, with a warning in the log."""

from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import flip_weight_bytes, write_tiny_dataset

HEADER = "user_id:token\titem_id:token\trating:float\ttimestamp:float"
ROWS = [f"{u}\t{(u * 7 + t) % 20 + 1}\t{1 + t % 5}\t{1000 + t}" for u in range(1, 31) for t in range(8)]
SMALL = ["--epochs=1", "--hidden_size=16", "--xlstm_compile=False", "--show_progress=False",
         "--MAX_ITEM_LIST_LENGTH=10"]  # fmt: skip

DATASETS = {  # name: .inter lines (and .item lines where given)
    "mine": [HEADER, *ROWS],
    "notypes": ["user_id\titem_id\trating\ttimestamp", *ROWS],
    "empty": [],
    "comma": [HEADER.replace("\t", ","), *(r.replace("\t", ",") for r in ROWS)],
    "noitem": [HEADER.replace("item_id", "product"), *ROWS],
    "floatid": [HEADER.replace("item_id:token", "item_id:float"), *ROWS],
    "texttime": [HEADER, *ROWS[:5], "3\t4\t5\tyesterday", *ROWS[5:]],
    "headeronly": [HEADER],
    "ragged": [HEADER, *ROWS[:5], "3\t4\t5", *ROWS[5:20], "3\t4\t5\t6\t7", *ROWS[20:]],
    "dups": [HEADER, *ROWS, *ROWS[:40]],
}
BAD_ITEMS = ["item_id:token\tgenre:token_seq", "1\tDrama", "2\tDrama\textra", "3\tComedy"]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def hashes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): sha256(p) for p in sorted(folder.rglob("*")) if p.is_file()}


def interruptible() -> None:
    """In the child, before Python starts: Ctrl-C's default disposition. A shell starts background jobs (CI's
    runner may be one) with SIGINT ignored, and Python then never raises KeyboardInterrupt; a terminal does not."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def command(folder: Path, *argv: str, **popen) -> subprocess.Popen:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    env.pop("RECBOLE_XLSTM_DEBUG", None)
    return subprocess.Popen([sys.executable, "-m", "recbole_xlstm.cli", *argv], cwd=folder, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **popen)  # fmt: skip


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    """A user's folder: datasets (good and bad), config files, a trained checkpoint and a CSV they wrote."""
    folder = tmp_path_factory.mktemp("user")
    for name, lines in DATASETS.items():
        (folder / "data" / name).mkdir(parents=True)
        (folder / "data" / name / f"{name}.inter").write_text("".join(line + "\n" for line in lines))
    (folder / "data" / "baditem").mkdir()
    (folder / "data" / "baditem" / "baditem.inter").write_text("".join(line + "\n" for line in DATASETS["mine"]))
    (folder / "data" / "baditem" / "baditem.item").write_text("".join(line + "\n" for line in BAD_ITEMS))
    (folder / "syntax.yaml").write_text("epochs: [1, 2\nhidden_size: 16\n")
    (folder / "nocolon.yaml").write_text("epochs 1\n")
    (folder / "space.test").write_text("learning_rate choice [0.001,0.01]\n")
    (folder / "hyper.test").write_text((Path(__file__).parents[1] / "hyper.test").read_text())  # the shipped one
    (folder / "items.yaml").write_text("load_col: {inter: [user_id, item_id, timestamp], item: [item_id, genre]}\n")
    (folder / "top.csv").write_text("user_id,rank,item_id,score\n1,1,5,0.9\n")
    write_tiny_dataset(folder / "data")
    trained = command(folder, "--dataset=tiny", "--data_path=data", "--checkpoint_dir=saved", *SMALL)
    _, err = trained.communicate(timeout=600)
    assert trained.returncode == 0, err[-3000:]
    (checkpoint,) = (folder / "saved").glob("*.pth")
    checkpoint.rename(folder / "model.pth")
    flip_weight_bytes(folder / "model.pth", folder / "flipped.pth")
    return folder


def data(name: str, *without: str) -> list[str]:
    """Run on dataset ``name`` with the small settings, less the flags named in ``without``."""
    return [f"--dataset={name}", "--data_path=data", *(f for f in SMALL if f.split("=")[0] not in without)]


def recommend(*argv: str) -> list[str]:
    return ["--recommend", "--checkpoint=model.pth", *argv]


CASES = [  # (case, argv, exit status, what stderr's last line must match)
    ("timestamp column, RecBole's default load_col", data("mine"), 0, None),
    ("header without :type", data("notypes"), 2, r"notypes.inter, line 1, column 1 \('user_id'\): a header column "
     r"is name:type"),
    ("empty .inter file", data("empty"), 2, r"empty.inter is empty: its first line must be the header"),
    ("comma-separated file", data("comma"), 2, r"comma.inter, line 1: one column with the separator tab, but the "
     r"header has ','"),
    ("no item column", data("noitem"), 2, r"noitem.inter has no item_id column \(the item id\)"),
    ("item_id:float", data("floatid"), 2, r"item_id \(the item id\) is declared :float; RecBole needs :token"),
    ("non-numeric timestamp", data("texttime"), 2, r"texttime.inter, line 7, column timestamp: 'yesterday' is not a "
     r"number"),
    ("header-only file", data("headeronly"), 2, r"headeronly.inter has a header and no rows"),
    ("ragged rows", data("ragged"), 2, r"ragged.inter: lines 7, 23 do not have the header's 4 columns"),
    ("duplicated rows", data("dups"), 0, None),
    ("ragged .item file", [*data("baditem"), "--config_files=items.yaml"], 2, r"baditem.item: lines 3 do not have "
     r"the header's 2 columns"),
    ("unknown model", [*data("mine"), "--model=SASrec"], 2, r"Unknown model 'SASrec'. Did you mean SASRec\?"),
    ("missing dataset", data("nowhere"), 2, r"Dataset 'nowhere' not found: no .*nowhere.inter"),
    ("a model property the blocks cannot use", [*data("mine"), "--num_heads=3"], 2, r"num_heads"),
    ("property typo", [*data("mine"), "--hiden_size=16"], 2, r"Unknown property hiden_size on the command line: .*"
     r"Did you mean hidden_size\?"),
    ("property typo in a search's fixed settings", [*data("mine"), "--tune=space.test", "--hiden_size=16"], 2,
     r"Unknown property hiden_size on the command line"),
    ("MAX_ITEM_LIST_LENGTH=0", [*data("mine", "--MAX_ITEM_LIST_LENGTH"), "--MAX_ITEM_LIST_LENGTH=0"], 2,
     r"MAX_ITEM_LIST_LENGTH \(items of history a sequential model reads\) must be a whole number of at least 1"),
    ("learning_rate=-1", [*data("mine"), "--learning_rate=-1"], 2, r"learning_rate must be a number above 0"),
    ("epochs=0", [*data("mine", "--epochs"), "--epochs=0"], 2,
     r"epochs \(training epochs\) must be a whole number of at least 1, got 0"),
    ("a property given twice", [*data("mine"), "--epochs=3"], 2, r"--epochs=3 is given twice on the command "
     r"line, with different values: keep one"),
    ("YAML syntax error", [*data("mine"), "--config_files=syntax.yaml"], 2, r"Config file syntax.yaml, line 2: "
     r"expected ',' or '\]'"),
    ("config line without a colon", [*data("mine"), "--config_files=nocolon.yaml"], 2, r"Config file nocolon.yaml, "
     r"line 1: 'epochs 1' is not name: value"),
    ("flipped bytes in the checkpoint's weights", ["--recommend", "--checkpoint=flipped.pth", "--user=1"], 2,
     r"flipped.pth' is corrupt: its weights do not match the digest"),
    ("--output in a missing folder", recommend("--users=all", "--output=no/such/top.csv"), 2,
     r"the folder .*no/such does not exist"),
    ("--output with --user", recommend("--user=1", "--output=new.csv"), 2, r"--output writes the CSV of --users"),
    ("--output that exists", recommend("--users=all", "--output=top.csv"), 2, r"--output top.csv already exists"),
    ("--topk=0", recommend("--user=1", "--topk=0"), 2, r"--topk must be a whole number of at least 1, not '0'"),
    ("--topk=-1", recommend("--user=1", "--topk=-1"), 2, r"--topk must be a whole number of at least 1, not '-1'"),
    ("--topk=five", recommend("--user=1", "--topk=five"), 2, r"--topk must be a whole number of at least 1"),
    ("a flag --recommend does not take", recommend("--usr=1"), 2, r"--recommend takes no --usr=1"),
    ("--num_samples=0", [*data("mine"), "--tune=space.test", "--num_samples=0"], 2, r"--num_samples must be at "
     r"least 1, not 0"),
    ("exhaustive search over ranges", [*data("mine"), "--tune=hyper.test", "--tuner=recbole", "--algo=exhaustive"],
     2, r"--algo=exhaustive tries every combination of choice parameters; learning_rate, dropout_prob are ranges"),
]  # fmt: skip


@pytest.mark.parametrize("case, argv, status, message", CASES, ids=[case[0] for case in CASES])
def test_bad_input(workspace, case, argv, status, message):
    before = hashes(workspace)
    run = command(workspace, *argv)
    _, err = run.communicate(timeout=600)
    after = hashes(workspace)
    lines = [line for line in err.splitlines() if line.strip()]
    assert run.returncode == status, err[-3000:]
    if message is not None:
        assert lines[-1].startswith("error: ") and re.search(message, lines[-1]), lines[-1]
        assert "Traceback" not in err
    assert {name: after.get(name) for name in before} == before  # nothing the user had was changed


def test_a_run_on_a_file_with_a_time_column_loads_it_and_says_so(workspace):
    logs = sorted((workspace / "log").rglob("*mine*.log"), key=os.path.getmtime)
    text = logs[0].read_text()
    assert "load_col did not load timestamp" in text and "test result" in text


def test_duplicated_rows_are_counted_in_the_log(workspace):
    (log,) = (workspace / "log").rglob("*dups*.log")
    assert "40 rows repeat an earlier row's user_id, item_id, timestamp" in log.read_text()


def test_ctrl_c_during_training_says_where_keeps_the_best_checkpoint_and_exits_130(workspace):
    checkpoints = workspace / "interrupted"
    run = command(workspace, *data("tiny", "--epochs"), f"--checkpoint_dir={checkpoints}", "--epochs=100000",
                  "--stopping_step=100000", preexec_fn=interruptible)  # fmt: skip
    deadline = time.time() + 300
    while not list(checkpoints.glob("*.pth")) and time.time() < deadline and run.poll() is None:
        time.sleep(0.5)
    time.sleep(1)
    run.send_signal(signal.SIGINT)
    _, err = run.communicate(timeout=120)
    assert run.returncode == 130, err[-3000:]
    last = [line for line in err.splitlines() if line.strip()][-1]
    (checkpoint,) = checkpoints.glob("*.pth")
    assert re.search(rf"interrupted at epoch \d+, (batch \d+ of \d+|during validation): the best epoch so far is in "
                     rf"{re.escape(str(checkpoint))}; go on with --resume_from=", last), last  # fmt: skip
    assert [p.name for p in checkpoints.iterdir()] == [checkpoint.name]  # no half-written file beside it

    from recbole_xlstm import load_checkpoint

    assert load_checkpoint(str(checkpoint))["epoch"] >= 0  # intact: its digest checks out
