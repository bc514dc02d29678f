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


def test_an_unknown_property_is_refused_with_where_it_was_set_and_a_did_you_mean(tmp_path, monkeypatch):
    import pytest

    from recbole_xlstm.pipeline import checked_config
    from recbole_xlstm.property_names import UnknownPropertyError

    with pytest.raises(UnknownPropertyError, match="Unknown property hiden_size in config_dict: .*Did you mean "
                       "hidden_size\\? If your own code reads it, add it to extra_properties: \\[hiden_size\\]"):
        checked_config(model="xLSTM4Rec", dataset="ml-100k", config_dict={"hiden_size": 16})
    config_file = tmp_path / "exp.yaml"
    config_file.write_text("num_blocks: 1\nlerning_rate: 0.01\n")
    with pytest.raises(UnknownPropertyError, match=f"lerning_rate in {config_file}: .*Did you mean learning_rate"):
        checked_config(model="xLSTM4Rec", dataset="ml-100k", config_file_list=[str(config_file)])
    monkeypatch.setattr(sys, "argv", ["run", "--stoping_step=2"])
    with pytest.raises(UnknownPropertyError, match="stoping_step on the command line: .*Did you mean stopping_step"):
        checked_config(model="xLSTM4Rec", dataset="ml-100k")


def test_extra_properties_lets_the_users_own_code_read_its_own_names():
    from recbole_xlstm.pipeline import checked_config

    config = checked_config(
        model="xLSTM4Rec", dataset="ml-100k", config_dict={"extra_properties": ["my_weight"], "my_weight": 0.5}
    )
    assert config["my_weight"] == 0.5


def test_every_name_recboles_and_the_plugins_files_set_and_the_commands_flags_are_known():
    from recbole_xlstm.cli import parse_args
    from recbole_xlstm.property_names import known_property_names

    shipped = yaml.safe_load((PROPERTIES_DIR / "xLSTM4Rec.yaml").read_text())
    flags = {action.dest for action in parse_args([]).parser._actions if action.dest != "help"}
    assert set(shipped) | flags | {"n_layers", "inner_size", "selected_features", "gpu_id"} <= known_property_names()


def test_a_config_file_error_names_the_file_and_the_line(tmp_path):
    import pytest

    from recbole_xlstm.model.validation import InvalidPropertyError

    cases = {
        "hidden_size 8\n": "line 1: 'hidden_size 8' is not name: value",
        "epochs: 5\nhidden_size 8\nnum_blocks: 1\n": "line 2: .*each line must be name: value",
        "epochs: [1, 2\nhidden_size: 8\n": "line 2: expected ',' or ']'",
    }
    for text, message in cases.items():
        config_file = tmp_path / "exp.yaml"
        config_file.write_text(text)
        with pytest.raises(InvalidPropertyError, match=f"Config file {config_file}, {message}"):
            Config(model="xLSTM4Rec", dataset="ml-100k", config_file_list=[str(config_file)])
    with pytest.raises(InvalidPropertyError, match="Config file nowhere.yaml cannot be read: No such file"):
        Config(model="xLSTM4Rec", dataset="ml-100k", config_file_list=["nowhere.yaml"])
