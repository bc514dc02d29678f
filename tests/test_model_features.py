"""xLSTM4RecF: item features, user features and time, read the RecBole way, on a small generated dataset with
unix timestamps, a .item and a .user file."""

from __future__ import annotations

import logging
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from recbole.data import create_dataset, data_preparation
from recbole.utils import init_seed

from recbole_xlstm import Config, xLSTM4RecF
from recbole_xlstm.model.features import gaps_between
from recbole_xlstm.model.validation import InvalidPropertyError
from recbole_xlstm.pipeline import checked_config

TOLERANCE = {"atol": 1e-4, "rtol": 1e-4}
START = 1_700_000_000  # unix seconds (November 2023)


def write_dataset(root: Path, name: str = "feat", real_time: bool = True, missing_genre: bool = False) -> Path:
    rng = random.Random(1)
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    inter = ["user_id:token\titem_id:token\ttimestamp:float"]
    for user in range(1, 41):
        time = START + user * 1000
        for position in range(rng.randint(6, 12)):
            time += rng.choice([30, 3600, 86400, 7 * 86400])
            inter.append(f"{user}\t{(user * 3 + position) % 25 + 1}\t{time if real_time else position + 1}")
    items = ["item_id:token\tgenre:token_seq\tprice:float"]
    for item in range(1, 26):
        genres = ["drama comedy", "action", "horror drama"][item % 3]
        genre = "" if missing_genre and item % 5 == 0 else genres
        items.append(f"{item}\t{genre}\t{item * 1.5}")
    users = ["user_id:token\tage:token\tgender:token"]
    users += [f"{u}\t{20 + u % 4 * 10}\t{'FM'[u % 2]}" for u in range(1, 42)]  # 41: no interactions
    (folder / f"{name}.inter").write_text("\n".join(inter) + "\n")
    (folder / f"{name}.item").write_text("\n".join(items) + "\n")
    (folder / f"{name}.user").write_text("\n".join(users) + "\n")
    return root


def config_dict(root: Path, **overrides) -> dict:
    return {
        "data_path": str(root), "dataset": "feat", "model": "xLSTM4RecF",
        "load_col": {"inter": ["user_id", "item_id", "timestamp"], "item": ["item_id", "genre", "price"],
                     "user": ["user_id", "age", "gender"]},
        "selected_features": ["genre", "price"], "user_features": ["age", "gender"], "numerical_features": ["price"],
        "MAX_ITEM_LIST_LENGTH": 8, "hidden_size": 16, "num_heads": 4, "slstm_num_heads": 2, "epochs": 1,
        "train_batch_size": 32, "eval_batch_size": 64, "show_progress": False, "xlstm_compile": False,
        "use_gpu": False, "seed": 2020, "checkpoint_dir": str(root.parent / "saved"), "state": "ERROR",
        **overrides,
    }  # fmt: skip


def build(root: Path, **overrides):
    config = Config(model="xLSTM4RecF", config_dict=config_dict(root, **overrides))
    init_seed(config["seed"], config["reproducibility"])
    train, valid, test = data_preparation(config, create_dataset(config))
    return config, xLSTM4RecF(config, train._dataset), train, test


def first_batch(data):
    return next(iter(data))[0] if isinstance(next(iter(data)), tuple) else next(iter(data))


@pytest.fixture
def root(tmp_path) -> Path:
    return write_dataset(tmp_path / "data")


def test_every_kind_of_side_information_changes_the_scores(root):
    _, model, _, test = build(root, dropout_prob=0.0)
    model.eval()
    price = model.feature_embed_layer.item_feat["price"]
    original_price = price.clone()

    def scale_price(batch):  # RecBole 1.2.1 keeps a float feature as (value, bucket index): scale the value
        price[..., 0].mul_(3.0)

    alterations = {
        "item features": scale_price,
        "user features": lambda b: b[model.USER_ID].copy_(b[model.USER_ID].flip(0)),
        "gaps": lambda b: b[model.TIME_SEQ].mul_(1.7),
        "request time": lambda b: b[model.TIME_FIELD].add_(365 * 86400),
    }
    changed = {}
    with torch.no_grad():
        scores = model.full_sort_predict(first_batch(test))
        for name, alter in alterations.items():
            altered = first_batch(test)
            alter(altered)
            changed[name] = not torch.allclose(model.full_sort_predict(altered), scores)
            price.copy_(original_price)
            torch.testing.assert_close(model.full_sort_predict(first_batch(test)), scores)  # each one alone
    assert changed == dict.fromkeys(alterations, True)


def test_it_trains_through_the_plugins_pipeline_and_the_loss_falls(root):
    config, model, train, _ = build(root)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    batch = first_batch(train)
    losses = []
    for _ in range(15):
        optimizer.zero_grad()
        loss = model.calculate_loss(batch)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] * 0.9


@pytest.mark.parametrize("stack", [{"slstm_at": []}, {"slstm_at": [1]}, {"mlstm_feedforward": 2.0}])
def test_step_by_step_with_features_and_gaps_equals_the_forward_pass(root, stack):
    _, model, _, test = build(root, **stack)
    model.eval()
    batch = first_batch(test)
    items, lengths, times = batch[model.ITEM_SEQ][:4], batch[model.ITEM_SEQ_LEN][:4], batch[model.TIME_SEQ][:4]
    users, request = batch[model.USER_ID][:4], batch[model.TIME_FIELD][:4]
    with torch.no_grad():
        expected = model.forward(items, lengths, times, request, users)
        gaps = gaps_between(times, lengths)
        for row in range(4):
            state = None
            for position in range(int(lengths[row])):
                output, state = model.step(items[row, position].view(1), state, gaps[row, position].view(1))
            last = times[row, int(lengths[row]) - 1]
            got = model.condition(output, users[row].view(1), (request[row] - last).view(1))
            torch.testing.assert_close(got[0], expected[row], **TOLERANCE)


def test_the_chunkwise_backend_gives_the_parallel_forms_scores(root):
    _, parallel, _, test = build(root, xlstm_backend="torch")
    _, chunkwise, _, _ = build(root, xlstm_backend="torch_chunkwise", mlstm_chunk_size=16)
    chunkwise.load_state_dict(parallel.state_dict())
    parallel.eval(), chunkwise.eval()
    batch = first_batch(test)
    with torch.no_grad():
        torch.testing.assert_close(chunkwise.full_sort_predict(batch), parallel.full_sort_predict(batch), **TOLERANCE)


def test_positions_instead_of_time_turn_time_off_with_a_warning(tmp_path, caplog):
    root = write_dataset(tmp_path / "data", real_time=False)
    with caplog.at_level(logging.WARNING):
        _, model, _, test = build(root)
    assert model.time_encoding == "none" and model.gap_encoder is None
    assert "time_encoding buckets is off: the dataset's timestamp holds positions, not unix seconds" in caplog.text
    model.eval()
    with torch.no_grad():
        assert model.full_sort_predict(first_batch(test)).shape[1] == model.n_items


def test_continuous_time_encoding_and_no_request_time(root):
    _, model, _, test = build(root, time_encoding="continuous", request_time=False)
    assert model.request_encoder is None and isinstance(model.gap_encoder.projection, torch.nn.Linear)
    model.eval()
    with torch.no_grad():
        assert torch.isfinite(model.full_sort_predict(first_batch(test))).all()


def test_a_missing_feature_value_is_filled_as_recbole_fills_it(tmp_path):
    root = write_dataset(tmp_path / "data", missing_genre=True)
    _, model, _, test = build(root)
    genre = model.feature_embed_layer.item_feat["genre"]
    token_of = model.feature_embed_layer.dataset.field2id_token["item_id"]
    empty = [i for i, token in enumerate(token_of) if token != "[PAD]" and int(token) % 5 == 0]
    assert empty and (genre[empty] == 0).all()  # RecBole's padding token for an empty sequence
    model.eval()
    with torch.no_grad():
        assert torch.isfinite(model.full_sort_predict(first_batch(test))).all()


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"selected_features": ["genres"]}, r"selected_features names genres, which the dataset's .item file did not "
         r"load; it has genre, price\. .*load_col: \{item: \[item_id, genres\]\}"),
        ({"user_features": ["occupation"]}, r"user_features names occupation, .* it has age, gender"),
        ({"numerical_features": []}, r"selected_features names the float field price, which RecBole embeds only "
         r"when listed in numerical_features: add numerical_features: \[price\]"),
    ],
)  # fmt: skip
def test_an_unknown_feature_name_is_refused_with_the_fields_there_are(root, overrides, message):
    # and a float field RecBole would skip unless listed in numerical_features is refused, not dropped
    with pytest.raises(InvalidPropertyError, match=message):
        build(root, **overrides)


@pytest.mark.parametrize(
    "overrides, message",
    [({"time_encoding": "log"}, "time_encoding must be one of buckets, continuous, none"),
     ({"time_buckets": 1}, "time_buckets must be a whole number of at least 2"),
     ({"pooling_mode": "median"}, "pooling_mode must be mean, max or sum")],
)  # fmt: skip
def test_impossible_side_information_properties_are_refused_before_data_loads(root, overrides, message):
    with pytest.raises(InvalidPropertyError, match=message):
        checked_config(config_dict=config_dict(root, data_path=str(root / "nowhere"), **overrides))


def test_xlstm4rec_properties_are_read_first_then_its_own(root):
    config = Config(model="xLSTM4RecF", dataset="ml-100k")
    assert config["mlstm_proj_factor"] == 2.0 and config["time_encoding"] == "buckets"
    assert config["selected_features"] == [] and config["train_neg_sample_args"]["distribution"] == "none"
    # RecBole's ml-100k.yaml scales every float field to [0, 1], timestamps included: not for a model that reads time
    assert config["normalize_all"] is False and Config(model="xLSTM4Rec", dataset="ml-100k")["normalize_all"] is True


@pytest.fixture(scope="module")
def feature_stream(tmp_path_factory):
    from recbole_xlstm.quick_start import run_recbole_xlstm
    from recbole_xlstm.serving.recommend import Recommender
    from recbole_xlstm.serving.streaming import StreamingRecommender

    root = write_dataset(tmp_path_factory.mktemp("served") / "data")
    result = run_recbole_xlstm(config_dict=config_dict(root, epochs=2, slstm_at=[1]))
    stream = StreamingRecommender(Recommender.from_checkpoint(result["saved_model_file"], device="cpu"))
    stream.checkpoint = result["saved_model_file"]
    return stream


def test_a_dataset_user_streams_with_timestamps_as_the_recommender_scores_them(feature_stream):
    recommender = feature_stream.recommender
    max_len = recommender.config["MAX_ITEM_LIST_LENGTH"]
    user, internal = next((str(recommender.dataset.id2token("user_id", u)), u)
                          for u, h in sorted(recommender.histories.items()) if len(h) < max_len)  # fmt: skip
    history, times = recommender.histories[internal], recommender.times[internal]
    new_time, request = float(times[-1]) + 3600, float(times[-1]) + 7200
    feature_stream.add(user, "7", timestamp=new_time)
    expected = recommender.scores([np.append(history, recommender.item_ids(["7"]))], [internal],
                                  [np.append(times, new_time)], at=request)[0]  # fmt: skip
    torch.testing.assert_close(feature_stream.scores(user, at=request), expected, **TOLERANCE)
    # the user's features and the request time both count: without them the scores differ
    assert not torch.allclose(recommender.scores([np.append(history, 7)], [None], [np.append(times, new_time)],
                                                 at=request)[0], expected)  # fmt: skip
    assert not torch.allclose(feature_stream.scores(user, at=request + 180 * 86400), expected)
    assert [i.item_id for i in recommender.for_user(user, topk=5, at=request).items]


def test_a_new_visitor_streams_item_by_item_as_the_forward_pass_scores_them(feature_stream):
    recommender = feature_stream.recommender
    raw = ["3", "9", "4", "12", "20"]
    stamps = [START + k * 5000.0 for k in range(len(raw))]
    for n, (item, stamp) in enumerate(zip(raw, stamps), start=1):
        feature_stream.add("visitor", item, timestamp=stamp)
        expected = recommender.scores([recommender.item_ids(raw[:n])], [None], [np.array(stamps[:n])], at=stamp)[0]
        torch.testing.assert_close(feature_stream.scores("visitor", at=stamp), expected, **TOLERANCE)


def test_a_new_user_is_ranked_from_their_features_and_each_profile_gets_its_own_ranking(feature_stream):
    recommender = feature_stream.recommender
    young = recommender.for_profile({"age": "20", "gender": "F"}, topk=25)
    older = recommender.for_profile({"age": "50", "gender": "M"}, topk=25)
    assert young.by_profile and "ranked by xLSTM4RecF from the user's features" in young.cold_start
    assert [i.item_id for i in young.items] != [i.item_id for i in older.items]
    assert "score" in young.table().splitlines()[2] and "count" not in young.table()
    # a dataset user with features and no interactions: the same ranking as their profile given by hand
    known = recommender.for_user("41", topk=25)
    assert known.by_profile
    by_hand = recommender.for_profile({"age": "30", "gender": "M"}, topk=25)  # user 41's row of the .user file
    assert [i.item_id for i in known.items] == [i.item_id for i in by_hand.items]


def test_a_profile_with_an_unknown_feature_or_value_is_refused(feature_stream):
    from recbole_xlstm.serving.recommend import UnknownFeatureError

    with pytest.raises(UnknownFeatureError, match="occupation: not a user feature this xLSTM4RecF reads; it reads "
                       "age, gender"):  # fmt: skip
        feature_stream.recommender.for_profile({"occupation": "writer"})
    with pytest.raises(UnknownFeatureError, match="age='99' is not a value of the dataset's age"):
        feature_stream.recommender.for_profile({"age": "99"})


def test_the_command_ranks_a_new_user_from_features_given_on_the_command_line(feature_stream, capsys, monkeypatch):
    import sys

    from recbole_xlstm import cli

    argv = ["--recommend", f"--checkpoint={feature_stream.checkpoint}", "--user_features=age=20,gender=F", "--topk=3"]
    monkeypatch.setattr(sys, "argv", ["recbole-xlstm", *argv])
    cli.main(argv)
    printed = capsys.readouterr().out.splitlines()
    assert printed[1] == "cold start: no history was given: ranked by xLSTM4RecF from the user's features"
    expected = feature_stream.recommender.for_profile({"age": "20", "gender": "F"}, topk=3)
    assert [line.split()[1] for line in printed[3:]] == [i.item_id for i in expected.items]
    monkeypatch.setattr(sys, "argv", ["recbole-xlstm", *argv[:2], "--user_features=age"])
    with pytest.raises(SystemExit) as exit_info:
        cli.main([*argv[:2], "--user_features=age"])
    assert exit_info.value.code == 2 and "takes NAME=VALUE pairs" in capsys.readouterr().err


def test_a_new_streaming_user_with_a_profile_is_ranked_from_it_then_from_it_and_their_items(feature_stream):
    recommender, model = feature_stream.recommender, feature_stream.model
    profile = {"age": "20", "gender": "F"}
    feature_stream.set_profile("newcomer", profile)
    first = feature_stream.recommend("newcomer", topk=5)
    assert first.by_profile
    assert [i.item_id for i in first.items] == [i.item_id for i in recommender.for_profile(profile, topk=5).items]
    feature_stream.add("newcomer", "4", timestamp=START)
    with torch.no_grad():
        output, _ = model.step(torch.tensor([int(recommender.item_ids(["4"])[0])]), None, torch.zeros(1))
        expected = model.score_all_items(output + model.profile_output(profile=recommender.profile_ids(profile)))[0]
    torch.testing.assert_close(feature_stream.scores("newcomer"), expected, **TOLERANCE)
