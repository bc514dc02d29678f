"""Model lookup: the plugin first, then RecBole; RecBole's own get_model after import."""

from __future__ import annotations

import sys

import pytest
import recbole.utils
from recbole.model.sequential_recommender import SASRec

from recbole_xlstm import Config, UnknownModelError, get_model, register, xLSTM4Rec


def test_recboles_get_model_finds_the_plugin_model():
    assert recbole.utils.get_model("xLSTM4Rec") is xLSTM4Rec


def test_plugin_get_model_falls_back_to_recbole():
    assert get_model("xLSTM4Rec") is xLSTM4Rec
    assert get_model("SASRec") is SASRec


def test_register_twice_changes_nothing():
    register()
    register()
    assert recbole.utils.get_model("xLSTM4Rec") is xLSTM4Rec


def test_unknown_model_lists_the_available_ones():
    with pytest.raises(UnknownModelError) as raised:
        get_model("NoSuchRec")
    message = str(raised.value)
    assert "Unknown model 'NoSuchRec'" in message
    assert "xLSTM4Rec" in message and "SASRec" in message and "GRU4Rec" in message


def test_wrong_case_suggests_the_right_name():
    with pytest.raises(UnknownModelError, match="Did you mean xLSTM4Rec"):
        get_model("xlstm4rec")


def test_config_with_unknown_model_raises_the_clear_error():
    with pytest.raises(UnknownModelError, match="Unknown model 'SASrec'.*Did you mean SASRec"):
        Config(model="SASrec", dataset="ml-100k")


def test_without_recbole_the_import_says_how_to_install_it(monkeypatch):
    import importlib

    monkeypatch.setitem(sys.modules, "recbole", None)  # as if RecBole were not installed
    monkeypatch.delitem(sys.modules, "recbole_xlstm")
    with pytest.raises(ModuleNotFoundError, match=r"needs RecBole 1\.2\.1.*\[pinned\].*--no-deps recbole==1\.2\.1"):
        importlib.import_module("recbole_xlstm")
