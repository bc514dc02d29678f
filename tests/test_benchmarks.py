"""The benchmark scripts still run, on sizes that take seconds (their numbers live in benchmarks/results)."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

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
