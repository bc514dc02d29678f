"""The plugin's Config: RecBole's layers plus the plugin's model properties.

Precedence, lowest first: RecBole's overall/model/dataset defaults < the plugin's
``properties/<Model>.yaml`` < config files < config dict < ``--key=value`` on the command line.
For every model (RecBole's too), ``train_neg_sample_args`` follows ``loss_type`` unless set (Pop: none).
"""

from __future__ import annotations

from recbole.config import Config as RecBoleConfig

from recbole_xlstm.registry import (
    get_model,
    load_plugin_layers,
    recbole_load_internal_config_dict,
    set_train_neg_sampling,
)


class Config(RecBoleConfig):
    def _get_model_and_dataset(self, model, dataset):
        if isinstance(model, str):
            model = get_model(model)  # clear error for unknown names; plugin models first
        elif model is None and isinstance(self.external_config_dict.get("model"), str):
            model = get_model(self.external_config_dict["model"])
        return super()._get_model_and_dataset(model, dataset)

    def _load_internal_config_dict(self, model, model_class, dataset):
        # RecBole's original layering, not the registered wrapper, so the plugin layer goes in once.
        recbole_load_internal_config_dict(self, model, model_class, dataset)
        load_plugin_layers(self, model)
        set_train_neg_sampling(self, model)
