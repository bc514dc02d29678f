"""The command: installed as recbole-xlstm (setup.cfg), run_recbole_xlstm.py at the root is the same command."""

from __future__ import annotations

import configparser
import importlib
import subprocess
import sys
from pathlib import Path

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
