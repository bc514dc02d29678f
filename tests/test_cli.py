"""The command: installed as recbole-xlstm (setup.cfg), run_recbole_xlstm.py at the root is the same command."""

from __future__ import annotations

import configparser
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from recbole_xlstm import cli

REPO = Path(__file__).resolve().parents[1]


def test_setup_cfg_declares_the_console_script_and_it_names_a_function_of_the_package():
    setup = configparser.ConfigParser()
    setup.read(REPO / "setup.cfg")
    scripts = dict(
        line.split("=", 1) for line in setup["options.entry_points"]["console_scripts"].strip().splitlines()
    )
    target = scripts["recbole-xlstm "].strip()
    module, function = target.split(":")
    assert getattr(importlib.import_module(module), function) is cli.entry_point


def test_the_console_script_exits_0_after_a_run_that_returns_results(monkeypatch):
    # console scripts call sys.exit(entry_point()): main's result dict there would print and exit 1
    monkeypatch.setattr(cli, "main", lambda argv=None: {"test_result": {"ndcg@10": 0.1}})
    assert cli.entry_point() is None


def test_the_root_script_and_the_package_module_give_the_same_command():
    def usage(*command: str) -> str:
        done = subprocess.run(
            [sys.executable, *command, "--help"], capture_output=True, text=True, timeout=300, cwd=REPO, check=True
        )
        return done.stdout

    from_root = usage("run_recbole_xlstm.py")
    assert "--recommend" in from_root and "--tune" in from_root and "recbole-xlstm --model=xLSTM4Rec" in from_root
    assert usage("-m", "recbole_xlstm.cli") == from_root


def run_cli(monkeypatch, capsys, *argv: str) -> tuple[int, str]:
    """main() as the command runs it (RecBole's Config reads sys.argv too): exit status and stderr."""
    monkeypatch.setattr(sys, "argv", ["recbole-xlstm", *argv])
    with pytest.raises(SystemExit) as exit_info:
        cli.main(list(argv))
    return exit_info.value.code, capsys.readouterr().err


def test_an_expected_error_is_one_line_and_exit_2_and_debug_shows_the_traceback(monkeypatch, capsys):
    from recbole_xlstm import UnknownModelError

    code, err = run_cli(monkeypatch, capsys, "--model=SASrec", "--dataset=ml-100k")
    assert code == 2
    assert err.startswith("error: Unknown model 'SASrec'. Did you mean SASRec?") and "Traceback" not in err
    monkeypatch.setattr(sys, "argv", ["recbole-xlstm", "--model=SASrec", "--debug"])
    with pytest.raises(UnknownModelError):
        cli.main(["--model=SASrec", "--debug"])
    monkeypatch.setenv(cli.DEBUG_VARIABLE, "1")
    with pytest.raises(UnknownModelError):
        cli.main(["--model=SASrec"])


def test_an_impossible_property_on_the_command_line_fails_before_any_data_is_read(monkeypatch, capsys, tmp_path):
    # the dataset does not exist: a check after loading would fail on that instead
    code, err = run_cli(monkeypatch, capsys, "--dataset=nowhere", f"--data_path={tmp_path}", "--epochs=0")
    assert code == 2 and err == "error: epochs (training epochs) must be a whole number of at least 1, got 0.\n"


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--user=196", "--output=top.csv"], "--output writes the CSV of --users=...; --user and --history print"),
        (["--users=all", "--output=no/such/folder/top.csv"], "the folder .*no/such/folder does not exist"),
    ],
)
def test_recommend_output_mistakes_are_refused_before_the_checkpoint_is_read(monkeypatch, capsys, argv, message):
    import re

    code, err = run_cli(monkeypatch, capsys, "--recommend", "--checkpoint=never-read.pth", *argv)
    assert code == 2 and re.search(message, err), err
    assert "never-read.pth" not in err  # refused before the checkpoint is looked at


def test_recommend_output_in_a_folder_that_cannot_be_written_is_refused(monkeypatch, capsys, tmp_path):
    import os

    # root (as CI runs) may write anywhere, so the folder is made unwritable in os.access's eyes only
    access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode: False if str(path) == str(tmp_path) else access(path, mode))
    code, err = run_cli(
        monkeypatch, capsys, "--recommend", "--checkpoint=x.pth", "--users=all", f"--output={tmp_path / 'top.csv'}"
    )
    assert code == 2 and f"the folder {tmp_path} is not writable" in err


@pytest.mark.parametrize("flag", ["--num_samples=0", "--max_evals=0"])
def test_a_search_of_no_trials_is_refused_before_anything_starts(monkeypatch, capsys, flag):
    code, err = run_cli(monkeypatch, capsys, "--tune=hyper.test", flag)
    assert code == 2 and f"{flag.split('=')[0]} must be at least 1, not 0" in err
