"""Top-k next items for people, from a checkpoint: for a user of the dataset or for a history given
by hand, with titles, the model's score and its softmax probability.

Works for any RecBole sequential model's checkpoint (xLSTM4Rec, SASRec, GRU4Rec, ...): it scores
with the model's own ``full_sort_predict``. Loading is weights-only (recbole_xlstm.compat.checkpoint).

    recommender = Recommender.from_checkpoint("saved/xLSTM4Rec-....pth")
    print(recommender.for_user("196", topk=10).table())
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
from recbole.data.interaction import Interaction
from recbole.utils import FeatureType

from recbole_xlstm.pipeline import (
    DatasetNotFoundError,
    check_dataset_files,
    checkpoint_and_config,
    load_dataset,
    prepare,
)

# Columns of a dataset's .item file that hold a title, in the order they are looked for.
TITLE_FIELDS = ("title", "movie_title", "name", "item_name", "product_title")


class UnknownFeatureError(ValueError):
    """A profile names a feature the model does not read, or a value the dataset does not have."""


class UnknownItemError(KeyError):
    """An item id in a given history is not an item of the dataset."""

    def __str__(self) -> str:  # KeyError would print the message with quotes
        return str(self.args[0])


@dataclass
class RecommendedItem:
    rank: int
    item_id: str  # the dataset's raw id, as in its atomic files
    title: str | None
    score: float  # the model's logit; on cold start, the item's count in the training data
    probability: float  # the model's softmax over all items; on cold start, the item's share of training counts


@dataclass
class Recommendations:
    user: str | None  # None for a history given by hand
    history: list[str]  # raw item ids the model read (the last MAX_ITEM_LIST_LENGTH of the user's history)
    history_length: int  # the user's whole history, of which ``history`` is the end
    items: list[RecommendedItem]
    excluded_seen: int = 0  # items of the history left out of the ranking
    cold_start: str | None = None  # why there was no history to rank from, and what ranked the items instead
    model: str = ""
    by_profile: bool = False  # a cold start ranked by the model from the user's features (else by popularity)

    def table(self) -> str:
        """What the command prints."""
        who = f"user {self.user}" if self.user is not None else "the given history"
        lines = [f"Top {len(self.items)} for {who}, by {self.model}"]
        if self.cold_start:
            lines.append(f"cold start: {self.cold_start}")
        else:
            lines.append(
                f"history: {self.history_length} items (the model read the last {len(self.history)}); "
                f"{self.excluded_seen} seen items excluded"
            )
        width = max([5, *(len(str(item.title or "")) for item in self.items)])
        counts = self.cold_start and not self.by_profile
        score_name = "count" if counts else "score"
        lines.append(f"{'rank':>4}  {'item':>8}  {'title':<{width}}  {score_name:>9}  {'probability':>11}")
        for item in self.items:
            score = f"{item.score:9.0f}" if counts else f"{item.score:9.4f}"
            lines.append(
                f"{item.rank:>4}  {item.item_id:>8}  {item.title or '':<{width}}  {score}  {item.probability:11.6f}"
            )
        return "\n".join(lines)


@dataclass
class Recommender:
    """A trained sequential model with what it needs to recommend: the dataset's id maps, each
    user's history in time order, training popularity (for cold start) and titles."""

    model: torch.nn.Module
    config: Any
    dataset: Any
    histories: dict[int, np.ndarray]  # internal user id -> internal item ids, oldest first
    popularity: np.ndarray  # [n_items] how often each item is a training target (as RecBole's Pop counts)
    titles: dict[int, str] = field(default_factory=dict)  # internal item id -> title
    times: dict[int, np.ndarray] = field(default_factory=dict)  # internal user id -> timestamps of the history

    @classmethod
    def from_checkpoint(
        cls, checkpoint_file: str, data_path: str | None = None, device: str | None = None
    ) -> Recommender:
        """``data_path``: the folder holding the dataset's folder, when it is not where training read it."""
        checkpoint, config = checkpoint_and_config(checkpoint_file, device, data_path)
        try:
            check_dataset_files(config)
        except DatasetNotFoundError as error:
            raise DatasetNotFoundError(
                f"{error} The checkpoint '{checkpoint_file}' was trained on it; "
                "pass --data_path to say where it is now."
            ) from error
        dataset = load_dataset(config)
        histories, times = _histories(dataset)  # from the interactions as loaded: splitting sorts and converts them
        prepared = prepare(config, checkpoint, dataset=dataset)
        train_dataset = prepared.train_data._dataset  # RecBole's own split, as in training
        popularity = np.bincount(
            train_dataset.inter_feat[dataset.iid_field].numpy(), minlength=dataset.item_num
        ).astype(np.float64)
        popularity[0] = 0.0  # [PAD]
        return cls(prepared.model, config, dataset, histories, popularity, _titles(config, dataset), times)

    # --- ids ------------------------------------------------------------------------------------

    def item_ids(self, raw_items: Sequence[str]) -> np.ndarray:
        """Raw item ids -> internal ids; an id the dataset does not have raises UnknownItemError naming it."""
        token_id = self.dataset.field2token_id[self.dataset.iid_field]
        unknown = [str(item) for item in raw_items if str(item) not in token_id or str(item) == "[PAD]"]
        if unknown:
            raise UnknownItemError(
                f"Unknown item id{'s' if len(unknown) > 1 else ''} {', '.join(repr(u) for u in unknown)}: not an item "
                f"of dataset '{self.config['dataset']}' (ids are the item_id tokens of its .inter file, for example "
                f"{', '.join(repr(t) for t in list(token_id)[1:4])})."
            )
        return np.array([token_id[str(item)] for item in raw_items], dtype=np.int64)

    def raw_item(self, item: int) -> str:
        return str(self.dataset.id2token(self.dataset.iid_field, int(item)))

    def user_id(self, raw_user: str) -> int | None:
        return self.dataset.field2token_id[self.dataset.uid_field].get(str(raw_user))

    # --- recommending ---------------------------------------------------------------------------

    def for_user(
        self, user: str, topk: int = 10, exclude_seen: bool = True, at: float | None = None
    ) -> Recommendations:
        """``at``: the request time (unix seconds), for a model that reads the time since the last interaction."""
        return next(self.for_users([user], topk=topk, exclude_seen=exclude_seen, at=at))

    def for_history(self, raw_items: Sequence[str], topk: int = 10, exclude_seen: bool = True) -> Recommendations:
        check_topk(topk)
        items = self.item_ids(raw_items)
        if len(items) == 0:
            return self.popular(None, topk, "no history was given: the most popular items of the training data")
        return self._score([(None, items)], topk, exclude_seen)[0]

    def for_users(
        self,
        users: Iterable[str] | None = None,
        topk: int = 10,
        exclude_seen: bool = True,
        batch_size: int = 256,
        at: float | None = None,
    ) -> Iterator[Recommendations]:
        """Every user of the dataset (``users=None``) or the given raw ids, in that order, scored
        ``batch_size`` at a time."""
        check_topk(topk)
        if users is None:
            users = [self.dataset.id2token(self.dataset.uid_field, u) for u in sorted(self.histories)]
        pending: list[tuple[str, np.ndarray | Recommendations]] = []  # a history to score, or a cold start
        to_score = 0
        for user in users:
            internal = self.user_id(user)
            history = self.histories.get(internal) if internal is not None else None
            if history is None or len(history) == 0:
                if internal is not None and self.reads_profiles:
                    pending.append((str(user), self.from_profile(str(user), topk, internal=internal)))
                    continue
                reason = (
                    f"user {user!r} is not in dataset '{self.config['dataset']}'"
                    if internal is None
                    else f"user {user!r} has no interactions"
                )
                pending.append(
                    (
                        str(user),
                        self.popular(str(user), topk, f"{reason}: the most popular items of the training data"),
                    )
                )
            else:
                pending.append((str(user), history))
                to_score += 1
            if to_score == batch_size:
                yield from self._in_order(pending, topk, exclude_seen, at)
                pending, to_score = [], 0
        yield from self._in_order(pending, topk, exclude_seen, at)

    def _in_order(
        self,
        pending: list[tuple[str, np.ndarray | Recommendations]],
        topk: int,
        exclude_seen: bool,
        at: float | None = None,
    ) -> Iterator[Recommendations]:
        batch = [(u, e) for u, e in pending if isinstance(e, np.ndarray)]
        scored = iter(self._score(batch, topk, exclude_seen, at))
        for _, entry in pending:
            yield next(scored) if isinstance(entry, np.ndarray) else entry

    def write_csv(
        self,
        path: str,
        users: Iterable[str] | None = None,
        topk: int = 10,
        exclude_seen: bool = True,
        overwrite: bool = False,
    ) -> int:
        """One row per (user, rank): user, rank, item_id, title, score, probability, cold_start.
        Returns the number of users written. An existing file is refused unless ``overwrite``."""
        check_topk(topk)
        if os.path.exists(path) and not overwrite:
            raise FileExistsError(f"{path} already exists; pass overwrite=True to replace it, or name a new file")
        written = 0
        with open(path, "w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out)
            writer.writerow(["user", "rank", "item_id", "title", "score", "probability", "cold_start"])
            for recs in self.for_users(users, topk=topk, exclude_seen=exclude_seen):
                for item in recs.items:
                    writer.writerow(
                        [recs.user, item.rank, item.item_id, item.title or "", f"{item.score:.6g}",
                         f"{item.probability:.6g}", recs.cold_start or ""]
                    )  # fmt: skip
                written += 1
        return written

    def scores(
        self,
        histories: Sequence[np.ndarray],
        users: Sequence[int | None] | None = None,
        times: Sequence[np.ndarray | None] | None = None,
        at: float | None = None,
    ) -> torch.Tensor:
        """[B, n_items] logits of the model's ``full_sort_predict`` for these histories (internal ids,
        oldest first; the last MAX_ITEM_LIST_LENGTH are read). A model that reads side information
        (xLSTM4RecF) also gets each row's internal user id (None: unknown), the history's timestamps and
        the request time ``at`` (unix seconds; None: no request-time term)."""
        max_len = self.config["MAX_ITEM_LIST_LENGTH"]
        windows = [h[-max_len:] for h in histories]
        item_seq = torch.zeros(len(windows), max_len, dtype=torch.long)
        for row, window in enumerate(windows):
            item_seq[row, : len(window)] = torch.as_tensor(window)
        fields = {
            self.model.ITEM_SEQ: item_seq,
            self.model.ITEM_SEQ_LEN: torch.tensor([len(w) for w in windows], dtype=torch.long),
        }
        fields.update(self._side_information(len(windows), max_len, users, times, at))
        interaction = Interaction(fields).to(self.config["device"])
        with torch.no_grad():
            return self.model.full_sort_predict(interaction).float().cpu()

    def _side_information(
        self, rows: int, max_len: int, users: Sequence[int | None] | None, times: Sequence | None, at: float | None
    ) -> dict[str, torch.Tensor]:
        """The fields an xLSTM4RecF reads besides the items (none for other models). Unknown users get RecBole's
        padding user (no features); unknown times give zero gaps."""
        fields = {}
        if getattr(self.model, "user_layer", None) is not None:
            fields[self.model.USER_ID] = torch.tensor([u or 0 for u in (users or [None] * rows)], dtype=torch.long)
        if self.reads_time:
            time_seq = torch.zeros(rows, max_len, dtype=torch.float64)
            for row, row_times in enumerate(times or [None] * rows):
                if row_times is not None and len(row_times):
                    window = torch.as_tensor(row_times[-max_len:], dtype=torch.float64)
                    time_seq[row, : len(window)] = window
            fields[self.model.TIME_SEQ] = time_seq
            if at is not None:
                fields[self.model.TIME_FIELD] = torch.full((rows,), float(at), dtype=torch.float64)
        return fields

    def rank(self, scores: torch.Tensor, seen: Sequence[np.ndarray | None], topk: int) -> list[list[RecommendedItem]]:
        """Top-k of each row of [B, n_items] logits; ``seen`` items (per row, or None) are left out.
        Probabilities are the softmax over all items but [PAD], seen ones included."""
        scores = scores.clone()
        scores[:, 0] = -torch.inf  # [PAD]
        probabilities = torch.softmax(scores, dim=1)
        for row, items in enumerate(seen):
            if items is not None and len(items):
                scores[row, torch.as_tensor(items)] = -torch.inf  # repeated ids are fine here
        k = min(topk, scores.shape[1] - 1)
        top_scores, top_items = torch.topk(scores, k, dim=1)
        top_probabilities = torch.gather(probabilities, 1, top_items)
        # plain lists: indexing tensors element by element costs far more than the model's step
        return [
            [
                RecommendedItem(
                    rank=r + 1,
                    item_id=self.raw_item(item),
                    title=self.titles.get(item),
                    score=score,
                    probability=probability,
                )
                for r, (score, item, probability) in enumerate(zip(score_row, item_row, probability_row))
                if score > -math.inf  # fewer unseen items than k
            ]
            for score_row, item_row, probability_row in zip(
                top_scores.tolist(), top_items.tolist(), top_probabilities.tolist()
            )
        ]

    def _score(
        self, batch: list[tuple[str | None, np.ndarray]], topk: int, exclude_seen: bool, at: float | None = None
    ) -> list[Recommendations]:
        if not batch:
            return []
        histories = [history for _, history in batch]
        users = [None if user is None else self.user_id(user) for user, _ in batch]
        times = [self.times.get(u) if u is not None else None for u in users]
        scores = self.scores(histories, users, times, at)
        ranked = self.rank(scores, [h if exclude_seen else None for h in histories], topk)
        max_len = self.config["MAX_ITEM_LIST_LENGTH"]
        return [
            Recommendations(
                user=user,
                history=[self.raw_item(i) for i in history[-max_len:]],
                history_length=len(history),
                items=items,
                excluded_seen=len(np.unique(history)) if exclude_seen else 0,
                model=self.config["model"],
            )
            for (user, history), items in zip(batch, ranked)
        ]

    @property
    def reads_time(self) -> bool:
        """Whether the model reads the time between interactions (xLSTM4RecF with a time_encoding)."""
        return getattr(self.model, "time_encoding", "none") != "none"

    @property
    def reads_profiles(self) -> bool:
        """Whether the model ranks from user features (xLSTM4RecF with user_features)."""
        return getattr(self.model, "user_layer", None) is not None

    def for_profile(self, profile: Mapping[str, str], topk: int = 10) -> Recommendations:
        """A new user's top-k from their features alone (raw values, e.g. {"age": "25", "gender": "F"}), by a model
        that reads user features; the most popular items for a model that does not. A feature left out is
        missing, as RecBole fills it."""
        check_topk(topk)
        if not self.reads_profiles:
            return self.popular(None, topk, f"{self.config['model']} reads no user features: the most popular items")
        return self.from_profile(None, topk, profile=self.profile_ids(profile))

    def profile_ids(self, profile: Mapping[str, str]) -> dict[str, torch.Tensor]:
        """Raw feature values -> one row of the dataset's user table (token ids), for UserFeatureEmbLayer."""
        fields = self.model.user_features
        unknown = [name for name in profile if name not in fields]
        if unknown:
            raise UnknownFeatureError(
                f"{', '.join(unknown)}: not a user feature this {self.config['model']} reads; it reads "
                f"{', '.join(fields)}."
            )
        table = self.model.user_layer.user_feat
        row = {}
        for name in fields:
            value = profile.get(name)
            kind = self.dataset.field2type[name]
            if kind not in (FeatureType.TOKEN, FeatureType.TOKEN_SEQ):
                raise UnknownFeatureError(f"{name} is a {kind.value} feature; a profile takes token features only.")
            tokens = [] if value is None else [value] if kind == FeatureType.TOKEN else str(value).split()
            token_id = self.dataset.field2token_id[name]
            bad = [t for t in tokens if t not in token_id]
            if bad:
                raise UnknownFeatureError(
                    f"{name}={bad[0]!r} is not a value of the dataset's {name} (for example "
                    f"{', '.join(repr(t) for t in list(token_id)[1:6])})."
                )
            ids = torch.zeros_like(table[name][:1])
            if kind == FeatureType.TOKEN:
                ids[0] = token_id[tokens[0]] if tokens else 0
            else:
                ids[0, : len(tokens)] = torch.tensor([token_id[t] for t in tokens][: ids.shape[1]])
            row[name] = ids
        return row

    def from_profile(
        self, name: str | None, topk: int, internal: int | None = None, profile: dict | None = None
    ) -> Recommendations:
        """Ranked by the model from the features of dataset user ``internal``, or of a ``profile`` (token ids)."""
        device = self.config["device"]
        user = None if internal is None else torch.tensor([internal], device=device)
        output = self.model.profile_output(user=user, profile=profile)
        items = self.rank(self.model.score_all_items(output).float().cpu(), [None], topk)[0]
        who = f"user {name!r} has no interactions" if name is not None else "no history was given"
        return Recommendations(
            name, [], 0, items, model=self.config["model"], by_profile=True,
            cold_start=f"{who}: ranked by {self.config['model']} from the user's features",
        )  # fmt: skip

    def popular(self, user: str | None, topk: int, reason: str) -> Recommendations:
        counts = torch.as_tensor(self.popularity)
        top = torch.topk(counts, min(topk, int((counts > 0).sum())))
        total = float(counts.sum())
        items = [
            RecommendedItem(
                rank=r + 1,
                item_id=self.raw_item(item),
                title=self.titles.get(int(item)),
                score=float(count),
                probability=float(count) / total,
            )
            for r, (count, item) in enumerate(zip(top.values, top.indices))
        ]
        return Recommendations(user, [], 0, items, cold_start=reason, model=self.config["model"])


def check_topk(topk: Any) -> None:
    """topk as the command line checks it: a whole number of at least 1."""
    if not isinstance(topk, int) or isinstance(topk, bool) or topk < 1:
        raise ValueError(f"topk must be a whole number of at least 1, not {topk!r}")


def _histories(dataset: Any) -> tuple[dict[int, np.ndarray], dict[int, np.ndarray]]:
    """Each user's items and their timestamps (empty without a time field), oldest first, from the dataset
    RecBole loaded (before it is split): by user, then time, ties kept in file order, as RecBole's own sequence
    building sorts them."""
    inter = dataset.inter_feat
    timed = dataset.time_field in inter
    keys = [dataset.uid_field] + ([dataset.time_field] if timed else [])
    ordered = inter.sort_values(keys, kind="stable")
    groups = ordered.groupby(dataset.uid_field, sort=True)
    histories = {int(user): group.to_numpy(dtype=np.int64) for user, group in groups[dataset.iid_field]}
    times = {int(user): group.to_numpy(dtype=np.float64) for user, group in groups[dataset.time_field]} if timed else {}
    return histories, times


def _titles(config: Any, dataset: Any) -> dict[int, str]:
    """Internal item id -> title, from the dataset's .item file when it has a title column."""
    path = os.path.join(config["data_path"], f"{config['dataset']}.item")
    if not os.path.isfile(path):
        return {}
    separator = config["field_separator"]
    with open(path, encoding=config["encoding"]) as item_file:
        header = item_file.readline().rstrip("\n").split(separator)
    names = {column.split(":")[0]: column for column in header}
    item_column = names.get(dataset.iid_field)
    title_column = next((names[f] for f in TITLE_FIELDS if f in names), None)
    if item_column is None or title_column is None:
        return {}
    frame = pd.read_csv(
        path, sep=separator, usecols=[item_column, title_column], dtype=str, keep_default_na=False,
        encoding=config["encoding"], engine="python", quoting=csv.QUOTE_NONE,
    )  # fmt: skip
    token_id = dataset.field2token_id[dataset.iid_field]
    return {token_id[item]: title for item, title in zip(frame[item_column], frame[title_column]) if item in token_id}


__all__ = ["Recommendations", "RecommendedItem", "Recommender", "UnknownFeatureError", "UnknownItemError"]
