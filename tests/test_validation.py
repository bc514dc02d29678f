"""Impossible xLSTM settings are rejected before any data is read, naming the property."""

from __future__ import annotations

import pytest

from recbole_xlstm.model.validation import InvalidPropertyError
from recbole_xlstm.quick_start import run_recbole_xlstm

BAD = [
    ({"num_heads": 3}, r"num_heads=3 must divide the mLSTM inner size 64"),
    ({"slstm_at": [0, 2], "num_blocks": 2}, r"slstm_at \[0, 2\] has indices \[2\] outside the blocks 0\.\.1"),
    ({"slstm_at": [-1]}, r"slstm_at \[-1\] has indices \[-1\]"),
    ({"slstm_at": [1], "slstm_num_heads": 3}, r"slstm_num_heads=3 must divide hidden_size=16"),
    ({"MAX_ITEM_LIST_LENGTH": 20, "context_length": 10}, r"MAX_ITEM_LIST_LENGTH=20 is longer than context_length=10"),
    ({"num_blocks": 0}, r"num_blocks must be a positive integer"),
    ({"xlstm_backend": "triton"}, r"xlstm_backend must be one of"),
    ({"mlstm_chunk_size": 48}, r"mlstm_chunk_size must be a power of two"),
    ({"dropout_prob": 1.0}, r"dropout_prob must be in \[0, 1\)"),
    ({"position_embedding": "yes"}, r"position_embedding must be True or False, got 'yes'"),
    ({"dropout_after_norm": "after"}, r"dropout_after_norm must be True or False, got 'after'"),
    ({"label_smoothing": 1.0}, r"label_smoothing must be in \[0, 1\), got 1\.0"),
    ({"label_smoothing": 0.1, "loss_type": "BPR"}, r"label_smoothing=0\.1 applies to loss_type CE only"),
    # RecBole's own properties, which RecBole would reject only inside torch, after the data has loaded
    ({"MAX_ITEM_LIST_LENGTH": 0}, r"MAX_ITEM_LIST_LENGTH \(items of history .*\) must be a whole number of at least 1"),
    ({"epochs": 0}, r"epochs \(training epochs\) must be a whole number of at least 1, got 0"),
    ({"train_batch_size": 0}, r"train_batch_size \(.*\) must be a whole number of at least 1"),
    ({"learning_rate": -1}, r"learning_rate must be a number above 0, such as 0\.001, got -1"),
]


@pytest.mark.parametrize("overrides, message", BAD, ids=[next(iter(o)) for o, _ in BAD])
def test_impossible_setting_is_rejected_before_the_dataset_is_read(tiny_config, overrides, message):
    # The dataset does not exist: a check that ran after loading data would fail differently.
    config = tiny_config(dataset="not-built-yet", **overrides)
    with pytest.raises(InvalidPropertyError, match=message):
        run_recbole_xlstm(model="xLSTM4Rec", config_dict=config)


def test_a_valid_mixed_stack_passes_the_check(tiny_config):
    from recbole_xlstm import Config

    config = Config(model="xLSTM4Rec", config_dict=tiny_config(slstm_at=[0], num_blocks=2))
    config.model_class.check_config(config)
