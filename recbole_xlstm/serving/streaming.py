"""Recommendations that follow each interaction as it happens, in O(1) per interaction.

An xLSTM has a fixed-size recurrent state. ``StreamingRecommender`` keeps one per user and, given one
new interaction, advances it with the blocks' step (recurrent) form and ranks all items from it,
where an attention model (or ``forward``) would re-read the user's whole history.

    stream = StreamingRecommender.from_checkpoint("saved/xLSTM4Rec-....pth")
    recs = stream.add("196", "242")          # user 196 just watched item 242
    print(recs.table())

A user of the dataset starts from their history there (replayed once, on their first ``add``); any
other user id starts empty. The scores equal ``full_sort_predict`` on the same history to float
tolerance (tests/test_streaming.py) while it is at most MAX_ITEM_LIST_LENGTH long; after that
``full_sort_predict`` reads only the last MAX_ITEM_LIST_LENGTH items, and the state keeps them all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from recbole_xlstm.serving.recommend import Recommendations, Recommender, check_topk


@dataclass
class UserState:
    blocks: dict[str, Any] | None = None  # the xLSTM stack's recurrent state (None before any item)
    output: torch.Tensor | None = None  # [1, H] sequence output after the last item
    seen: set[int] = field(default_factory=set)
    length: int = 0

    def nbytes(self) -> int:
        """Memory of the recurrent state: fixed, whatever the history's length."""
        return tensor_bytes(self.blocks) + tensor_bytes(self.output)


def tensor_bytes(value: Any) -> int:
    """Bytes held by the tensors in a nested dict/tuple/list (an xLSTM stack's state)."""
    if isinstance(value, torch.Tensor):
        return value.numel() * value.element_size()
    if isinstance(value, dict):
        return sum(tensor_bytes(v) for v in value.values())
    if isinstance(value, (tuple, list)):
        return sum(tensor_bytes(v) for v in value)
    return 0


class StreamingRecommender:
    """Per-user xLSTM states over a trained xLSTM4Rec; ``add`` is one O(1) update plus one ranking."""

    def __init__(self, recommender: Recommender) -> None:
        if not hasattr(recommender.model, "step"):
            raise TypeError(
                f"{recommender.config['model']} has no recurrent step form; streaming needs an xLSTM4Rec checkpoint "
                "(use Recommender for other models: it re-reads the history each time)."
            )
        if recommender.config["position_embedding"]:
            raise ValueError(
                "this xLSTM4Rec was trained with position_embedding=True, which ties it to a window of "
                "MAX_ITEM_LIST_LENGTH items; streaming has no window. Use Recommender for it."
            )
        self.recommender = recommender
        self.model = recommender.model
        self.device = recommender.config["device"]
        self.states: dict[str, UserState] = {}

    @classmethod
    def from_checkpoint(
        cls, checkpoint_file: str, data_path: str | None = None, device: str | None = None
    ) -> StreamingRecommender:
        return cls(Recommender.from_checkpoint(checkpoint_file, data_path=data_path, device=device))

    def state(self, user: str) -> UserState:
        """This user's state. A user of the dataset starts from the last MAX_ITEM_LIST_LENGTH items of
        their history there (what the model was trained to read, and what Recommender reads), with
        all of it counted as seen."""
        user = str(user)
        if user not in self.states:
            state = self.states[user] = UserState()
            internal = self.recommender.user_id(user)
            history = self.recommender.histories.get(internal) if internal is not None else None
            if history is not None and len(history):
                self._advance(state, history[-self.recommender.config["MAX_ITEM_LIST_LENGTH"] :])
                state.seen.update(int(item) for item in history)
                state.length = len(history)
        return self.states[user]

    def add(self, user: str, item: str, topk: int = 10, exclude_seen: bool = True) -> Recommendations:
        """Record that ``user`` interacted with ``item`` (a raw id) and return their new top-k."""
        state = self.state(user)
        self._advance(state, self.recommender.item_ids([item]))
        return self.recommend(user, topk=topk, exclude_seen=exclude_seen)

    def extend(self, user: str, items: Sequence[str]) -> UserState:
        """Several interactions, oldest first, without ranking after each."""
        state = self.state(user)
        self._advance(state, self.recommender.item_ids(items))
        return state

    def recommend(self, user: str, topk: int = 10, exclude_seen: bool = True) -> Recommendations:
        check_topk(topk)
        state = self.state(user)
        if state.output is None:
            return self.recommender.popular(
                str(user), topk, f"user {user!r} has no interactions yet: the most popular items of the training data"
            )
        scores = self.model.score_all_items(state.output).float().cpu()
        seen = np.fromiter(state.seen, dtype=np.int64) if exclude_seen else None
        items = self.recommender.rank(scores, [seen], topk)[0]
        return Recommendations(
            user=str(user),
            history=[],  # the state, not a window of items, is what the model read
            history_length=state.length,
            items=items,
            excluded_seen=len(state.seen) if exclude_seen else 0,
            model=f"{self.recommender.config['model']} (streaming)",
        )

    def scores(self, user: str) -> torch.Tensor:
        """[n_items] logits from the user's current state."""
        state = self.state(user)
        if state.output is None:
            raise ValueError(f"user {user!r} has no interactions yet")
        return self.model.score_all_items(state.output).float().cpu()[0]

    def _advance(self, state: UserState, items: np.ndarray) -> None:
        for item in torch.as_tensor(items, dtype=torch.long, device=self.device):
            state.output, state.blocks = self.model.step(item.view(1), state.blocks)
            state.seen.add(int(item))
            state.length += 1


__all__ = ["StreamingRecommender", "UserState", "tensor_bytes"]
