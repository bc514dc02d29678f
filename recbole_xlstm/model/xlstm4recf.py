r"""
xLSTM4RecF
################################################

Reference:
    Maximilian Beck et al. "xLSTM: Extended Long Short-Term Memory." NeurIPS 2024.
    The use of item features follows RecBole's SASRecF (Zhang et al., "Feature-level Deeper Self-Attention
    Network for Sequential Recommendation", IJCAI 2019).

xLSTM4Rec with side information: item features (``selected_features``), user features (``user_features``), the
time since the previous interaction, and the time from the last interaction to the request.
"""

from __future__ import annotations

import logging

import torch
from recbole.model.layers import FeatureSeqEmbLayer
from torch import nn

from recbole_xlstm.model.features import TimeGapEncoder, UserFeatureEmbLayer, check_fields, gaps_between, time_is_real
from recbole_xlstm.model.validation import InvalidPropertyError, check_xlstm_properties
from recbole_xlstm.model.xlstm4rec import xLSTM4Rec

TIME_ENCODINGS = ("buckets", "continuous", "none")


def check_feature_properties(config) -> None:
    """xLSTM4Rec's checks, then the side-information properties (before any data is read)."""
    check_xlstm_properties(config)
    if config["time_encoding"] not in TIME_ENCODINGS:
        raise InvalidPropertyError(
            f"time_encoding must be one of {', '.join(TIME_ENCODINGS)}, got {config['time_encoding']!r}."
        )
    buckets = config["time_buckets"]
    if not isinstance(buckets, int) or isinstance(buckets, bool) or buckets < 2:
        raise InvalidPropertyError(f"time_buckets must be a whole number of at least 2, got {buckets!r}.")
    if config["pooling_mode"] not in ("mean", "max", "sum"):
        raise InvalidPropertyError(f"pooling_mode must be mean, max or sum, got {config['pooling_mode']!r}.")
    for name in ("selected_features", "user_features"):
        value = config[name] or []
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise InvalidPropertyError(f"{name} must be a list of field names such as [genre], got {value!r}.")


class xLSTM4RecF(xLSTM4Rec):
    r"""xLSTM4Rec reading side information, the RecBole way (as SASRecF reads item features).

    - Item features: each position's item embedding is concatenated with the embeddings of the item's
      ``selected_features`` (RecBole's ``FeatureSeqEmbLayer``) and projected back to ``hidden_size``.
    - Time since the previous interaction: an embedding (``time_encoding``) added to each position's input.
    - User features and the time from the last interaction to the request: added to the sequence output, after
      the blocks. They describe the user and the moment of the request, not a step of the sequence, so the
      recurrent state stays what the history alone gives, and a user with no history is ranked from them alone.
    In evaluation, the target interaction's timestamp is the request time: a serving system knows when it is asked.
    """

    check_config = staticmethod(check_feature_properties)

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        check_feature_properties(config)
        self.selected_features = list(config["selected_features"] or [])
        self.user_features = list(config["user_features"] or [])
        self.pooling_mode = config["pooling_mode"]
        check_fields(dataset, "item", self.selected_features)
        check_fields(dataset, "user", self.user_features)
        device = config["device"]

        self.feature_embed_layer = None
        if self.selected_features:
            self.feature_embed_layer = FeatureSeqEmbLayer(
                dataset, self.hidden_size, self.selected_features, self.pooling_mode, device
            )
            fields = self.feature_embed_layer.num_feature_field["item"]
            self.concat_layer = nn.Linear(self.hidden_size * (1 + fields), self.hidden_size)

        self.user_layer = None
        if self.user_features:
            self.user_layer = UserFeatureEmbLayer(
                dataset, self.hidden_size, self.user_features, self.pooling_mode, device
            )
            fields = self.user_layer.num_feature_field["user"]
            self.user_projection = nn.Linear(self.hidden_size * fields, self.hidden_size)

        self.TIME_FIELD = config["TIME_FIELD"]
        self.TIME_SEQ = self.TIME_FIELD + config["LIST_SUFFIX"]
        self.time_encoding = self._time_encoding(config, dataset)
        self.gap_encoder = self.request_encoder = None
        if self.time_encoding != "none":
            self.gap_encoder = TimeGapEncoder(self.time_encoding, self.hidden_size, config["time_buckets"])
            if config["request_time"]:
                self.request_encoder = TimeGapEncoder(self.time_encoding, self.hidden_size, config["time_buckets"])

        for module in (self.feature_embed_layer, self.user_layer, self.gap_encoder, self.request_encoder):
            if module is not None:
                for embedding in module.modules():
                    if isinstance(embedding, nn.Embedding):
                        nn.init.normal_(embedding.weight, mean=0.0, std=self.initializer_range)

    def _time_encoding(self, config, dataset) -> str:
        wanted = config["time_encoding"]
        if wanted == "none":
            return wanted
        times = dataset.inter_feat[self.TIME_FIELD] if self.TIME_FIELD in dataset.inter_feat else None
        if times is None or not time_is_real(times):
            logging.getLogger().warning(
                f"time_encoding {wanted} is off: the dataset's {self.TIME_FIELD} "
                f"{'was not loaded' if times is None else 'holds positions, not unix seconds'}, so gaps between "
                "interactions mean nothing. xLSTM4RecF uses item and user features only."
            )
            return "none"
        return wanted

    def input_embedding(self, item_seq: torch.Tensor, gaps: torch.Tensor | None) -> torch.Tensor:
        """[B, L, H]: what the blocks read at each position: the item, its features and the gap before it."""
        embedded = self.item_embedding(item_seq)
        if self.feature_embed_layer is not None:
            sparse, dense = self.feature_embed_layer(None, item_seq)
            tables = [t for t in (sparse["item"], dense["item"]) if t is not None]
            features = torch.cat(tables, dim=-2)
            features = features.reshape(*features.shape[:-2], -1)
            embedded = self.concat_layer(torch.cat([embedded, features], dim=-1))
        if self.position_embedding is not None:
            embedded = embedded + self.position_embedding(torch.arange(item_seq.size(1), device=item_seq.device))
        if self.gap_encoder is not None and gaps is not None:
            embedded = embedded + self.gap_encoder(gaps)
        return self._normalise_input(embedded)

    def condition(
        self,
        seq_output: torch.Tensor,
        user: torch.Tensor | None,
        request_gap: torch.Tensor | None,
        profile: dict | None = None,
    ) -> torch.Tensor:
        """The sequence output with the user's features (of dataset user ids ``user``, or of a new user's
        ``profile``) and the time since the last interaction added."""
        if self.user_layer is not None and (user is not None or profile is not None):
            fields = self.user_layer.embed_profile(profile) if profile is not None else self.user_layer(user)
            seq_output = seq_output + self.user_projection(fields.reshape(fields.size(0), -1))
        if self.request_encoder is not None and request_gap is not None:
            seq_output = seq_output + self.request_encoder(request_gap)
        return seq_output

    @torch.no_grad()
    def profile_output(self, user: torch.Tensor | None = None, profile: dict | None = None) -> torch.Tensor:
        """[1, H] (or [B, H] for ``user`` ids) for users with no history: their features alone, what ``condition``
        adds to a history's output. ``profile``: the fields of a user the dataset does not have (token ids)."""
        fields = self.user_layer.embed_profile(profile) if profile is not None else self.user_layer(user)
        return self.user_projection(fields.reshape(fields.size(0), -1))

    def forward(
        self,
        item_seq: torch.Tensor,
        item_seq_len: torch.Tensor,
        time_seq: torch.Tensor | None = None,
        request_time: torch.Tensor | None = None,
        user: torch.Tensor | None = None,
    ) -> torch.Tensor:
        gaps = gaps_between(time_seq, item_seq_len) if time_seq is not None else None
        hidden = self._run_blocks(self.input_embedding(item_seq, gaps))
        seq_output = self.gather_indexes(hidden, item_seq_len - 1)
        request_gap = None
        if time_seq is not None and request_time is not None:
            request_gap = request_time - time_seq.gather(1, (item_seq_len - 1).unsqueeze(1)).squeeze(1)
        return self.condition(seq_output, user, request_gap)

    def sequence_output(self, interaction) -> torch.Tensor:
        """RecBole's batches carry every field; a Recommender's may lack the times or the request time."""

        def field(name: str, used: bool) -> torch.Tensor | None:
            return interaction[name] if used and name in interaction else None

        timed = self.time_encoding != "none"
        return self.forward(
            interaction[self.ITEM_SEQ],
            interaction[self.ITEM_SEQ_LEN],
            time_seq=field(self.TIME_SEQ, timed),
            request_time=field(self.TIME_FIELD, timed and self.request_encoder is not None),
            user=field(self.USER_ID, self.user_layer is not None),
        )

    @torch.no_grad()
    def step(
        self, items: torch.Tensor, state: dict | None = None, gaps: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, dict]:
        """xLSTM4Rec.step with the items' features and, when the model reads time, ``gaps`` [B]: the seconds since
        each sequence's previous interaction (0 for its first). Returns the output before ``condition``."""
        if self.position_embedding is not None:
            return super().step(items, state)  # refuses, with the reason
        if self.gap_encoder is not None and gaps is None:
            gaps = torch.zeros_like(items, dtype=torch.float32)
        hidden = self.input_embedding(items.unsqueeze(1), None if gaps is None else gaps.unsqueeze(1))
        hidden, state = self.xlstm.step(hidden, state)
        return hidden[:, 0], state
