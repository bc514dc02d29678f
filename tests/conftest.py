"""Small data the tests build themselves, and a clean RecBole environment for each test."""

from __future__ import annotations

import os
import random
import sys
from pathlib import Path

import pytest
import torch

import recbole_xlstm  # noqa: F401  (registers the plugin and applies the compat fixes)

TINY = "tiny"
N_USERS = 80
N_ITEMS = 30


def write_tiny_dataset(root: Path, name: str = TINY, n_users: int = N_USERS, n_items: int = N_ITEMS) -> Path:
    """Users walk a cycle of items with a user-specific stride, so the next item is learnable.

    Writes RecBole atomic files <root>/<name>/<name>.inter and .item; returns root.
    """
    rng = random.Random(0)
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    rows = ["user_id:token\titem_id:token\ttimestamp:float"]
    for user in range(1, n_users + 1):
        stride = 1 + user % 3
        start = rng.randrange(n_items)
        length = rng.randint(6, 16)
        for t in range(length):
            item = (start + stride * t) % n_items + 1
            rows.append(f"{user}\t{item}\t{t + 1}")
    (folder / f"{name}.inter").write_text("\n".join(rows) + "\n")
    items = ["item_id:token\ttitle:token_seq"] + [f"{i}\tItem {i}" for i in range(1, n_items + 1)]
    (folder / f"{name}.item").write_text("\n".join(items) + "\n")
    return root


@pytest.fixture(autouse=True)
def clean_argv_and_cwd(monkeypatch, tmp_path):
    """RecBole's Config reads sys.argv and writes log/ and saved/ under the working directory."""
    monkeypatch.setattr(sys, "argv", ["pytest"])
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def tiny_root(tmp_path) -> Path:
    return write_tiny_dataset(tmp_path / "data")


def tiny_config_dict(root: Path, **overrides) -> dict:
    """A run that takes seconds: small model, short sequences, one epoch."""
    config = {
        "data_path": str(root),
        "dataset": TINY,
        "load_col": {"inter": ["user_id", "item_id", "timestamp"]},
        "MAX_ITEM_LIST_LENGTH": 10,
        "hidden_size": 16,
        "num_heads": 4,
        "slstm_num_heads": 2,
        "epochs": 1,
        "train_batch_size": 64,
        "eval_batch_size": 256,
        "show_progress": False,
        "save_dataset": False,
        "save_dataloaders": False,
        "checkpoint_dir": str(root.parent / "saved"),
        "topk": [5, 10],
        "metrics": ["Recall", "MRR", "NDCG"],
        "valid_metric": "NDCG@10",
        "seed": 2020,
        "reproducibility": True,
        "log_wandb": False,
        "use_gpu": False,
        # torch.compile costs ~15 s per new process; tests/test_model.py checks it gives the same outputs
        "xlstm_compile": False,
    }
    config.update(overrides)
    return config


@pytest.fixture
def tiny_config(tiny_root):
    def make(**overrides) -> dict:
        return tiny_config_dict(tiny_root, **overrides)

    return make


def _cli_args(config: dict) -> list[str]:
    skip = {"load_col", "topk", "metrics"}  # structured values are set through a file
    return [f"--{key}={value}" for key, value in config.items() if key not in skip]


def train_with_the_run_script(folder: Path, model: str = "xLSTM4Rec", **overrides) -> tuple[str, torch.nn.Module, Path]:
    """Runs run_recbole_xlstm.py's main as a user would; returns the checkpoint it saved, the model
    that wrote it (holding the best epoch's weights after the test evaluation), and the data root."""
    root = write_tiny_dataset(folder / "data")
    config = tiny_config_dict(root, **overrides)
    exp = folder / "exp.yaml"
    exp.write_text("load_col: {inter: [user_id, item_id, timestamp]}\ntopk: [10]\nmetrics: [Recall, NDCG]\n")
    argv = [f"--model={model}", f"--config_files={exp}", *_cli_args(config)]
    from recbole.trainer import Trainer

    import run_recbole_xlstm

    trainers: list[Trainer] = []
    init = Trainer.__init__

    def record(self, *args, **kwargs):
        init(self, *args, **kwargs)
        trainers.append(self)

    saved_argv, saved_cwd = sys.argv, os.getcwd()
    Trainer.__init__ = record
    try:
        os.chdir(folder)
        sys.argv = ["run_recbole_xlstm.py", *argv]  # RecBole's Config reads the command line itself
        result = run_recbole_xlstm.main(argv)
    finally:
        Trainer.__init__ = init
        sys.argv = saved_argv
        os.chdir(saved_cwd)
    return result["saved_model_file"], trainers[-1].model, root


def flip_weight_bytes(path: Path, target: Path, count: int = 2000) -> None:
    """Write ``target``: ``path`` with ``count`` bytes flipped inside its largest tensor's storage (a zip member of
    torch's format), the pickle and the zip index left readable."""
    import zipfile

    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        member = max((i for i in archive.infolist() if "/data/" in i.filename), key=lambda i: i.file_size)
    start = member.header_offset + 30 + len(member.filename.encode()) + len(member.extra) + 64
    for offset in range(start, start + min(count, member.file_size - 128)):
        data[offset] ^= 0xFF
    target.write_bytes(bytes(data))
