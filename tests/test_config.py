"""Property layering: RecBole's defaults < plugin properties < files < dict < command line."""

from __future__ import annotations

import sys

import yaml
from recbole.config import Config as RecBoleConfig

from recbole_xlstm import Config
from recbole_xlstm.config import PROPERTIES_DIR


def test_plugin_properties_load_without_any_user_setting():
    config = Config(model="xLSTM4Rec", dataset="ml-100k")
    shipped = yaml.safe_load((PROPERTIES_DIR / "xLSTM4Rec.yaml").read_text())
    for key, value in shipped.items():
        assert config[key] == value, key


def test_user_layers_override_in_recbole_order(tmp_path, monkeypatch):
    config_file = tmp_path / "exp.yaml"
    config_file.write_text("num_blocks: 3\nhidden_size: 32\nnum_heads: 2\n")
    monkeypatch.setattr(sys, "argv", ["run", "--num_heads=8"])
    config = Config(
        model="xLSTM4Rec",
        dataset="ml-100k",
        config_file_list=[str(config_file)],
        config_dict={"hidden_size": 128},
    )
    assert config["num_blocks"] == 3  # file over plugin default (2)
    assert config["hidden_size"] == 128  # dict over file
    assert config["num_heads"] == 8  # command line over dict and file


def test_train_neg_sample_args_follows_loss_type():
    ce = Config(model="xLSTM4Rec", dataset="ml-100k", config_dict={"loss_type": "CE"})
    assert ce["train_neg_sample_args"]["distribution"] == "none"
    bpr = Config(model="xLSTM4Rec", dataset="ml-100k", config_dict={"loss_type": "BPR"})
    assert bpr["train_neg_sample_args"] == {
        "distribution": "uniform",
        "sample_num": 1,
        "alpha": 1.0,
        "dynamic": False,
        "candidate_num": 0,
    }


def test_a_user_set_train_neg_sample_args_is_kept():
    custom = {"distribution": "popularity", "sample_num": 3, "alpha": 1.0, "dynamic": False, "candidate_num": 0}
    config = Config(
        model="xLSTM4Rec", dataset="ml-100k", config_dict={"loss_type": "BPR", "train_neg_sample_args": custom}
    )
    assert config["train_neg_sample_args"]["distribution"] == "popularity"
    assert config["train_neg_sample_args"]["sample_num"] == 3


def test_recbole_builtin_models_get_the_same_ce_convenience():
    # RecBole alone raises for SASRec's CE loss with the overall default sampler.
    config = Config(model="SASRec", dataset="ml-100k")
    assert config["train_neg_sample_args"]["distribution"] == "none"
    assert config["n_layers"] == 2  # RecBole's own SASRec properties


def test_pop_counts_training_items_without_sampled_negatives_unless_the_user_asks_for_them():
    # RecBole alone gives Pop its uniform pointwise sampler, and Pop then counts the sampled items too
    assert RecBoleConfig(model="Pop", dataset="ml-100k")["train_neg_sample_args"]["distribution"] == "uniform"
    assert Config(model="Pop", dataset="ml-100k")["train_neg_sample_args"]["distribution"] == "none"
    sampled = {"distribution": "uniform", "sample_num": 1, "alpha": 1.0, "dynamic": False, "candidate_num": 0}
    config = Config(model="Pop", dataset="ml-100k", config_dict={"train_neg_sample_args": sampled})
    assert config["train_neg_sample_args"]["distribution"] == "uniform"


def test_recboles_own_config_reads_the_plugin_properties_after_import():
    config = RecBoleConfig(model="xLSTM4Rec", dataset="ml-100k")
    assert config["num_blocks"] == 2
    assert config["xlstm_backend"] == "auto"
    assert config["train_neg_sample_args"]["distribution"] == "none"
