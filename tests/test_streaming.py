"""StreamingRecommender: a history fed one interaction at a time gives the scores of the full forward
pass over it, for mLSTM-only and mixed mLSTM/sLSTM stacks, with a state whose size does not grow."""

from __future__ import annotations

import pytest
import torch
from conftest import train_with_the_run_script

from recbole_xlstm.serving.recommend import Recommender, UnknownItemError
from recbole_xlstm.serving.streaming import StreamingRecommender

# Float32 recurrent vs parallel forms of the same blocks; measured differences are about 1e-6.
TOLERANCE = {"atol": 1e-4, "rtol": 1e-4}

STACKS = {
    "mlstm": {"num_blocks": 2, "slstm_at": []},
    "mixed": {"num_blocks": 2, "slstm_at": [1]},
    "mlstm_feedforward": {"num_blocks": 2, "slstm_at": [], "mlstm_feedforward": 2.0},
}


@pytest.fixture(scope="module", params=list(STACKS))
def stream(request, tmp_path_factory):
    checkpoint, _, _ = train_with_the_run_script(tmp_path_factory.mktemp(request.param), **STACKS[request.param])
    return StreamingRecommender(Recommender.from_checkpoint(checkpoint, device="cpu"))


def full_forward_scores(stream: StreamingRecommender, raw_items: list[str]) -> torch.Tensor:
    return stream.recommender.scores([stream.recommender.item_ids(raw_items)])[0]


def test_item_by_item_scores_equal_the_full_forward_pass_after_every_item(stream):
    max_len = stream.recommender.config["MAX_ITEM_LIST_LENGTH"]
    history = [str(item) for item in (4, 9, 4, 17, 2, 30, 11, 5, 23, 8)][:max_len]
    for n, item in enumerate(history, start=1):
        stream.add("new visitor", item)
        torch.testing.assert_close(stream.scores("new visitor"), full_forward_scores(stream, history[:n]), **TOLERANCE)


def test_a_dataset_user_continues_from_their_history(stream):
    recommender = stream.recommender
    max_len = recommender.config["MAX_ITEM_LIST_LENGTH"]
    user = next(  # one with room for one more item in the full forward pass's window
        str(recommender.dataset.id2token("user_id", u))
        for u, h in sorted(recommender.histories.items())
        if len(h) < max_len
    )
    history = [recommender.raw_item(i) for i in recommender.histories[recommender.user_id(user)]]
    # warm start: the state replays the dataset history, so its top-k is Recommender's
    warm = stream.recommend(user, topk=5)
    assert [i.item_id for i in warm.items] == [i.item_id for i in recommender.for_user(user, topk=5).items]
    recs = stream.add(user, "12", topk=5)
    torch.testing.assert_close(stream.scores(user), full_forward_scores(stream, [*history, "12"]), **TOLERANCE)
    assert recs.history_length == len(history) + 1
    assert not {*history, "12"} & {item.item_id for item in recs.items}  # seen items stay excluded


def test_the_state_does_not_grow_with_the_history(stream):
    stream.extend("long reader", ["1", "2", "3"])
    size = stream.state("long reader").nbytes()
    stream.extend("long reader", [str(1 + i % 30) for i in range(40)])
    assert stream.state("long reader").nbytes() == size
    assert stream.state("long reader").length == 43


def test_unknown_items_and_empty_states(stream):
    with pytest.raises(UnknownItemError, match="'no-such-item'"):
        stream.add("someone", "no-such-item")
    assert stream.recommend("someone", topk=3).cold_start.startswith("user 'someone' has no interactions yet")


def test_streaming_needs_an_xlstm_checkpoint(tmp_path):
    checkpoint, _, _ = train_with_the_run_script(tmp_path, model="SASRec", n_layers=1, n_heads=1)
    with pytest.raises(TypeError, match="SASRec has no recurrent step form"):
        StreamingRecommender(Recommender.from_checkpoint(checkpoint, device="cpu"))


def test_streaming_refuses_a_model_trained_with_position_embeddings():
    from types import SimpleNamespace

    model = SimpleNamespace(step=lambda items, state: None)  # what a model needs to stream, but for positions
    recommender = SimpleNamespace(model=model, config={"model": "xLSTM4Rec", "position_embedding": True})
    with pytest.raises(ValueError, match="position_embedding=True"):
        StreamingRecommender(recommender)
