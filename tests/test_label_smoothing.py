"""label_smoothing on RecBole's own models, through the plugin's quick start (recbole_xlstm.model.label_smoothing)."""

from __future__ import annotations

import pytest
import torch
from recbole.data import create_dataset, data_preparation

from recbole_xlstm.model.validation import InvalidPropertyError
from recbole_xlstm.quick_start import build_model, checked_config


def built(model: str, config_dict: dict):
    config = checked_config(model=model, config_dict=config_dict)
    train, _, _ = data_preparation(config, create_dataset(config))
    return build_model(config, train._dataset), train


@pytest.mark.parametrize("model", ["SASRec", "GRU4Rec"])
def test_a_recbole_model_trains_with_the_smoothed_cross_entropy(tiny_config, model):
    smoothed, train = built(model, tiny_config(label_smoothing=0.2))
    plain, _ = built(model, tiny_config())  # RecBole's own loss, untouched
    plain.load_state_dict(smoothed.state_dict())
    smoothed.eval()
    plain.eval()
    data = next(iter(train))
    with torch.no_grad():
        sequence = smoothed.forward(data[smoothed.ITEM_SEQ], data[smoothed.ITEM_SEQ_LEN])
        log_p = torch.log_softmax(sequence @ smoothed.item_embedding.weight.T, -1)
        target = -log_p.gather(1, data[smoothed.POS_ITEM_ID].unsqueeze(1)).mean()
        uniform = -log_p.mean()  # over every item and every sequence
        torch.testing.assert_close(plain.calculate_loss(data), target)
        torch.testing.assert_close(smoothed.calculate_loss(data), 0.8 * target + 0.2 * uniform)


def test_a_model_that_builds_its_loss_inside_calculate_loss_is_refused_not_silently_unsmoothed(tiny_config):
    with pytest.raises(InvalidPropertyError, match=r"label_smoothing=0\.1 cannot be applied to BERT4Rec.*"
                       r"Set label_smoothing: 0\.0"):  # fmt: skip
        built("BERT4Rec", tiny_config(label_smoothing=0.1))


@pytest.mark.parametrize(
    "model, overrides, message",
    [
        ("GRU4Rec", {"label_smoothing": 0.1, "loss_type": "BPR"}, r"applies to loss_type CE only"),
        ("SASRec", {"label_smoothing": 1.0}, r"label_smoothing must be in \[0, 1\), got 1\.0"),
    ],
)
def test_a_recbole_models_label_smoothing_is_checked_before_any_data_is_read(
    tiny_config, tmp_path, model, overrides, message
):
    # no dataset there: the property is refused first, not the missing files
    config_dict = tiny_config(data_path=str(tmp_path / "nowhere"), **overrides)
    with pytest.raises(InvalidPropertyError, match=message):
        checked_config(model=model, config_dict=config_dict)
