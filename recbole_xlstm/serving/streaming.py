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

from collections.abc import Mapping, Sequence
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
    user: int | None = None  # the internal user id, for a model that reads user features
    last_time: float | None = None  # the timestamp of the last interaction, for a model that reads time
    profile: dict | None = None  # a new user's features (token ids), for a model that reads user features

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
        # xLSTM4RecF: user features and the time since the last interaction condition the output
        self.reads_time = recommender.reads_time
        self.conditions = hasattr(self.model, "condition")

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
            internal = self.recommender.user_id(user)
            state = self.states[user] = UserState(user=internal)
            history = self.recommender.histories.get(internal) if internal is not None else None
            if history is not None and len(history):
                window = self.recommender.config["MAX_ITEM_LIST_LENGTH"]
                times = self.recommender.times.get(internal)
                self._advance(state, history[-window:], None if times is None else times[-window:])
                state.seen.update(int(item) for item in history)
                state.length = len(history)
        return self.states[user]

    def set_profile(self, user: str, features: Mapping[str, str]) -> UserState:
        """A new user's features (raw values, e.g. {"age": "25"}): a model that reads user features (xLSTM4RecF)
        ranks from them before the first interaction, and adds them after it."""
        state = self.state(user)
        state.profile = self.recommender.profile_ids(features) if self.recommender.reads_profiles else None
        return state

    def add(
        self, user: str, item: str, topk: int = 10, exclude_seen: bool = True, timestamp: float | None = None
    ) -> Recommendations:
        """Record that ``user`` interacted with ``item`` (a raw id) at ``timestamp`` (unix seconds; used by a model
        that reads time, which then also ranks as of that moment) and return their new top-k."""
        state = self.state(user)
        self._advance(state, self.recommender.item_ids([item]), None if timestamp is None else [timestamp])
        return self.recommend(user, topk=topk, exclude_seen=exclude_seen, at=timestamp)

    def extend(self, user: str, items: Sequence[str], timestamps: Sequence[float] | None = None) -> UserState:
        """Several interactions, oldest first, without ranking after each."""
        state = self.state(user)
        self._advance(state, self.recommender.item_ids(items), timestamps)
        return state

    def recommend(
        self, user: str, topk: int = 10, exclude_seen: bool = True, at: float | None = None
    ) -> Recommendations:
        """``at``: the request time (unix seconds), for a model that reads the time since the last interaction."""
        check_topk(topk)
        state = self.state(user)
        if state.output is None:
            if self.recommender.reads_profiles and (state.profile is not None or state.user is not None):
                return self.recommender.from_profile(str(user), topk, internal=state.user, profile=state.profile)
            return self.recommender.popular(
                str(user), topk, f"user {user!r} has no interactions yet: the most popular items of the training data"
            )
        scores = self.model.score_all_items(self._output(state, at)).float().cpu()
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

    def scores(self, user: str, at: float | None = None) -> torch.Tensor:
        """[n_items] logits from the user's current state."""
        state = self.state(user)
        if state.output is None:
            raise ValueError(f"user {user!r} has no interactions yet")
        return self.model.score_all_items(self._output(state, at)).float().cpu()[0]

    def _output(self, state: UserState, at: float | None) -> torch.Tensor:
        """The state's sequence output, conditioned (xLSTM4RecF) on the user and the time since the last item."""
        if not self.conditions:
            return state.output
        with torch.no_grad():
            user = torch.tensor([state.user or 0], device=self.device)
            gap = None
            if self.reads_time and at is not None and state.last_time is not None:
                gap = torch.tensor([at - state.last_time], dtype=torch.float64, device=self.device)
            return self.model.condition(state.output, user, gap, state.profile)

    def _advance(self, state: UserState, items: np.ndarray, times: Sequence[float] | None = None) -> None:
        times = [None] * len(items) if times is None else list(times)
        for item, time in zip(torch.as_tensor(items, dtype=torch.long, device=self.device), times):
            if self.reads_time:
                gap = 0.0 if time is None or state.last_time is None else float(time) - state.last_time
                step = self.model.step(item.view(1), state.blocks, torch.tensor([gap], device=self.device))
                state.last_time = state.last_time if time is None else float(time)
            else:
                step = self.model.step(item.view(1), state.blocks)
            state.output, state.blocks = step
            state.seen.add(int(item))
            state.length += 1


__all__ = ["StreamingRecommender", "UserState", "tensor_bytes"]
