"""Side information for xLSTM4RecF: user features through RecBole's feature-embedding layers, and the time
between interactions.

RecBole 1.2.1's ``FeatureSeqEmbLayer`` embeds item features only (its ``types`` is ``["item"]``);
``UserFeatureEmbLayer`` is the same abstract layer with ``types = ["user"]``, so user fields are embedded by
RecBole's own code (token, token_seq, float and float_seq fields, ``pooling_mode`` for sequences).
"""

from __future__ import annotations

import torch
from recbole.data.interaction import Interaction
from recbole.model.layers import ContextSeqEmbAbstractLayer
from recbole.utils import FeatureType
from torch import nn

from recbole_xlstm.model.validation import InvalidPropertyError

# Timestamps below this are not unix seconds (it is 1973-03-03): per-user positions, as in the amazon-beauty
# and ml-1m files shipped beside this project.
UNIX_SECONDS_FLOOR = 1e8


class UserFeatureEmbLayer(ContextSeqEmbAbstractLayer):
    """Embeddings of the selected fields of the dataset's ``.user`` file, looked up by user id."""

    def __init__(self, dataset, embedding_size: int, selected_features: list[str], pooling_mode: str, device) -> None:
        super().__init__()
        self.device = device
        self.embedding_size = embedding_size
        self.dataset = dataset
        self.user_feat = dataset.get_user_feature().to(device)
        self.item_feat = None
        self.field_names = {"user": list(selected_features)}
        self.types = ["user"]
        self.pooling_mode = pooling_mode
        self.get_fields_name_dim()
        self.get_embedding()

    def forward(self, user_idx: torch.Tensor) -> torch.Tensor:
        """[B, F, H]: one embedding per selected field (a sequence field pooled)."""
        sparse, dense = self.embed_input_fields(user_idx, None)
        tables = [t for t in (sparse["user"], dense["user"]) if t is not None]
        return torch.cat(tables, dim=-2)

    def embed_profile(self, values: dict[str, torch.Tensor]) -> torch.Tensor:
        """[1, F, H] for a user who is not in the dataset: ``values`` holds each selected field as the dataset
        stores it (token ids), one row. RecBole's layer reads its features from the table it was built with, so
        it reads a one-row table of this profile instead, for this call."""
        table, self.user_feat = self.user_feat, Interaction(values).to(self.device)
        try:
            return self.forward(torch.zeros(1, dtype=torch.long, device=self.device))
        finally:
            self.user_feat = table


def check_fields(dataset, source: str, names: list[str]) -> None:
    """Refuse feature names the dataset did not load, listing those it has (and the load_col that loads them)."""
    feat = dataset.get_item_feature() if source == "item" else dataset.get_user_feature()
    id_field = dataset.iid_field if source == "item" else dataset.uid_field
    available = [f for f in feat.interaction if f != id_field]
    missing = [n for n in names if n not in available]
    property_name = "selected_features" if source == "item" else "user_features"
    if missing:
        raise InvalidPropertyError(
            f"{property_name} names {', '.join(missing)}, which the dataset's .{source} file did not load; it has "
            f"{', '.join(available) or 'no feature fields'}. Fix the name, or load the field: "
            f"load_col: {{{source}: [{id_field}, {', '.join(missing)}]}}."
        )
    # RecBole 1.2.1's feature layers skip, without a word, a float field not listed in numerical_features
    numerical = set(dataset.config["numerical_features"] or [])
    floats = [n for n in names if dataset.field2type[n] in (FeatureType.FLOAT, FeatureType.FLOAT_SEQ)]
    unlisted = [n for n in floats if n not in numerical]
    if unlisted:
        raise InvalidPropertyError(
            f"{property_name} names the float field{'s' if len(unlisted) > 1 else ''} {', '.join(unlisted)}, which "
            f"RecBole embeds only when listed in numerical_features: add numerical_features: [{', '.join(floats)}]."
        )


def time_is_real(timestamps: torch.Tensor) -> bool:
    """Whether a dataset's timestamps look like unix seconds rather than positions."""
    return bool(timestamps.numel()) and float(timestamps.max()) >= UNIX_SECONDS_FLOOR


class TimeGapEncoder(nn.Module):
    """An embedding of the seconds between two interactions: ``buckets`` of log2(1 + gap) (gaps from a second to
    decades fall into about 30), or ``continuous``, a linear map of log(1 + gap)."""

    def __init__(self, mode: str, hidden_size: int, num_buckets: int) -> None:
        super().__init__()
        self.mode, self.num_buckets = mode, num_buckets
        if mode == "buckets":
            self.embedding = nn.Embedding(num_buckets, hidden_size)
        else:
            self.projection = nn.Linear(1, hidden_size)

    def forward(self, gaps: torch.Tensor) -> torch.Tensor:
        gaps = gaps.clamp(min=0).to(torch.float32)
        if self.mode == "buckets":
            index = torch.floor(torch.log2(1 + gaps)).clamp(max=self.num_buckets - 1).long()
            return self.embedding(index)
        return self.projection(torch.log1p(gaps).unsqueeze(-1))


def gaps_between(times: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """[B, L] seconds since the previous interaction of the same (right-padded) sequence: 0 for the first item
    and for padding."""
    gaps = torch.zeros_like(times)
    gaps[:, 1:] = times[:, 1:] - times[:, :-1]
    positions = torch.arange(times.size(1), device=times.device)
    return torch.where(positions < lengths.unsqueeze(1), gaps, torch.zeros_like(gaps)).clamp(min=0)
