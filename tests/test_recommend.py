"""Top-k for people from a checkpoint the run script wrote: titles, scores, probabilities, seen items,
cold start, batch CSV, and checkpoints that must not load."""

from __future__ import annotations

import csv
import os
import re
import shutil
from collections import Counter

import numpy as np
import pytest
import torch
from conftest import train_with_the_run_script

import run_recbole_xlstm
from recbole_xlstm import CheckpointError
from recbole_xlstm.serving.recommend import Recommender, UnknownItemError


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return train_with_the_run_script(tmp_path_factory.mktemp("recommend"))


@pytest.fixture(scope="module")
def recommender(trained):
    return Recommender.from_checkpoint(trained[0], device="cpu")


def raw_history(recommender: Recommender, user: str) -> list[str]:
    return [recommender.raw_item(i) for i in recommender.histories[recommender.user_id(user)]]


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        run_recbole_xlstm.main(["--recommend", *argv])
        code = 0
    except SystemExit as exit_:
        code = exit_.code
    out, err = capsys.readouterr()
    return code, out, err


def rows_of(table: str) -> list[list[str]]:
    """The ranked rows of Recommendations.table(): rank, item, title words..., score, probability."""
    return [line.split() for line in table.splitlines() if line.split() and line.split()[0].isdigit()]


# --- the checkpoint ------------------------------------------------------------------------------


def test_a_checkpoint_of_the_run_script_scores_exactly_as_the_model_that_wrote_it(trained, recommender):
    _, model, _ = trained
    model.eval()
    users = ["1", "2", "40"]
    histories = [recommender.histories[recommender.user_id(u)] for u in users]
    interaction_scores = recommender.scores(histories)
    max_len = recommender.config["MAX_ITEM_LIST_LENGTH"]
    item_seq = torch.zeros(len(users), max_len, dtype=torch.long)
    lengths = []
    for row, history in enumerate(histories):
        window = history[-max_len:]
        item_seq[row, : len(window)] = torch.as_tensor(window)
        lengths.append(len(window))
    with torch.no_grad():
        expected = model.full_sort_predict({model.ITEM_SEQ: item_seq, model.ITEM_SEQ_LEN: torch.tensor(lengths)})
    assert torch.equal(interaction_scores, expected)


def test_histories_are_in_time_order_as_in_the_atomic_file(recommender, trained):
    root = trained[2]
    rows = [line.split("\t") for line in (root / "tiny" / "tiny.inter").read_text().splitlines()[1:]]
    user_7 = [item for user, item, _ in sorted((r for r in rows if r[0] == "7"), key=lambda r: float(r[2]))]
    assert raw_history(recommender, "7") == user_7


# --- the command ---------------------------------------------------------------------------------


def test_the_command_prints_top_k_with_titles_scores_and_probabilities(trained, recommender, capsys):
    code, out, _ = run_cli(capsys, f"--checkpoint={trained[0]}", "--user=7", "--topk=5")
    assert code == 0
    assert out.startswith("Top 5 for user 7, by xLSTM4Rec")
    rows = rows_of(out)
    assert [int(r[0]) for r in rows] == [1, 2, 3, 4, 5]
    seen = set(raw_history(recommender, "7"))
    assert not seen & {r[1] for r in rows}, "an item the user already has was recommended"
    assert all(r[2:4] == ["Item", r[1]] for r in rows)  # titles from tiny.item
    scores = recommender.scores([recommender.histories[recommender.user_id("7")]])[0]
    scores[0] = -torch.inf
    probabilities = torch.softmax(scores, dim=0)
    token_id = recommender.dataset.field2token_id["item_id"]
    for row in rows:
        item = token_id[row[1]]
        assert float(row[-2]) == pytest.approx(float(scores[item]), abs=1e-4)
        assert float(row[-1]) == pytest.approx(float(probabilities[item]), abs=1e-6)
    # the best unseen items, in order
    unseen = [i for i in torch.argsort(scores, descending=True).tolist() if recommender.raw_item(i) not in seen]
    assert [r[1] for r in rows] == [recommender.raw_item(i) for i in unseen[:5]]


def test_include_seen_ranks_the_whole_catalogue(trained, recommender, capsys):
    code, out, _ = run_cli(capsys, f"--checkpoint={trained[0]}", "--user=7", "--topk=8", "--include_seen")
    assert code == 0 and "0 seen items excluded" in out
    scores = recommender.scores([recommender.histories[recommender.user_id("7")]])[0]
    scores[0] = -torch.inf
    assert [r[1] for r in rows_of(out)] == [recommender.raw_item(i) for i in torch.topk(scores, 8).indices]


def test_a_history_given_on_the_command_line(trained, recommender, capsys):
    code, out, _ = run_cli(capsys, f"--checkpoint={trained[0]}", "--history=3,5,7", "--topk=3")
    assert code == 0 and out.startswith("Top 3 for the given history")
    recommended = [r[1] for r in rows_of(out)]
    assert len(recommended) == 3 and not {"3", "5", "7"} & set(recommended)
    expected = recommender.for_history(["3", "5", "7"], topk=3)
    assert recommended == [item.item_id for item in expected.items]


def test_an_unknown_item_in_the_history_is_named(trained, recommender, capsys):
    code, _, err = run_cli(capsys, f"--checkpoint={trained[0]}", "--history=3,no-such-item,7")
    assert code == 2 and "Unknown item id 'no-such-item'" in err
    with pytest.raises(UnknownItemError, match=re.escape("ids '999', '[PAD]': not an item")):
        recommender.for_history(["3", "999", "[PAD]"])


def test_unknown_user_and_empty_history_get_the_most_popular_items_and_are_told(trained, recommender, capsys):
    # leave-one-out by time: each user's items but the first (never a target) and the last two
    # (the valid and test targets)
    train_targets = Counter(
        recommender.raw_item(item) for history in recommender.histories.values() for item in history[1:-2]
    )
    code, out, _ = run_cli(capsys, f"--checkpoint={trained[0]}", "--user=nobody", "--topk=4")
    assert code == 0
    assert "cold start: user 'nobody' is not in dataset 'tiny': the most popular items of the training data" in out
    counts = [int(float(r[-2])) for r in rows_of(out)]
    assert counts == sorted(train_targets.values(), reverse=True)[:4]
    assert all(train_targets[r[1]] == int(float(r[-2])) for r in rows_of(out))
    empty = recommender.for_history([], topk=4)
    assert empty.cold_start.startswith("no history was given") and len(empty.items) == 4


def test_batch_mode_writes_every_user_to_csv(trained, recommender, capsys, tmp_path):
    out_file = tmp_path / "top3.csv"
    code, out, _ = run_cli(capsys, f"--checkpoint={trained[0]}", "--users=all", "--topk=3", f"--output={out_file}")
    assert code == 0 and f"top 3 for 80 users: {out_file}" in out
    rows = list(csv.DictReader(out_file.open()))
    assert len(rows) == 80 * 3
    by_user = {}
    for row in rows:
        by_user.setdefault(row["user"], []).append(row)
    assert [r["item_id"] for r in by_user["7"]] == [i.item_id for i in recommender.for_user("7", topk=3).items]
    assert all(r["title"] == f"Item {r['item_id']}" and r["cold_start"] == "" for r in rows)


def test_batch_mode_never_overwrites_a_file(trained, capsys, tmp_path):
    out_file = tmp_path / "earlier.csv"
    out_file.write_text("results of an earlier run\n")
    code, _, err = run_cli(capsys, f"--checkpoint={trained[0]}", "--users=all", f"--output={out_file}")
    assert code == 2 and "already exists" in err
    assert out_file.read_text() == "results of an earlier run\n"


def test_batch_mode_for_a_list_flags_the_cold_start_rows(trained, capsys, tmp_path):
    out_file = tmp_path / "some.csv"
    code, _, _ = run_cli(capsys, f"--checkpoint={trained[0]}", "--users=7,nobody", "--topk=2", f"--output={out_file}")
    assert code == 0
    rows = list(csv.DictReader(out_file.open()))
    assert [r["user"] for r in rows] == ["7", "7", "nobody", "nobody"]
    assert rows[0]["cold_start"] == "" and "not in dataset" in rows[2]["cold_start"]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--user=7"], "needs --checkpoint"),
        (["--checkpoint=x.pth"], "exactly one of --user"),
        (["--checkpoint=x.pth", "--user=7", "--history=1"], "exactly one of --user"),
        (["--checkpoint=x.pth", "--users=all"], "add --output"),
        (["--checkpoint=x.pth", "--user=7", "--topk=0"], "--topk must be a whole number"),
    ],
)
def test_the_command_says_what_is_missing(capsys, argv, message):
    code, _, err = run_cli(capsys, *argv)
    assert code == 2 and message in err


# --- checkpoints that must not load ------------------------------------------------------------------


class _Payload:
    def __reduce__(self):
        return (os.system, ("echo pwned > pwned.txt",))


def test_a_checkpoint_carrying_code_is_refused_and_runs_nothing(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    evil = tmp_path / "evil.pth"
    torch.save({"state_dict": {}, "config": _Payload()}, evil)
    code, _, err = run_cli(capsys, f"--checkpoint={evil}", "--user=7")
    assert code == 2 and "evil.pth' could not be loaded safely" in err
    assert not (tmp_path / "pwned.txt").exists()
    with pytest.raises(CheckpointError):
        Recommender.from_checkpoint(str(evil))


def test_a_moved_dataset_is_found_with_data_path(trained, tmp_path, capsys):
    checkpoint, _, root = trained
    moved = tmp_path / "elsewhere"
    shutil.copytree(root, moved)
    hidden = root.with_name("data-hidden")
    root.rename(hidden)
    try:
        code, _, err = run_cli(capsys, f"--checkpoint={checkpoint}", "--user=7")
        assert code == 2 and "Dataset 'tiny' not found" in err and "--data_path" in err
        code, out, _ = run_cli(capsys, f"--checkpoint={checkpoint}", "--user=7", f"--data_path={moved}")
        assert code == 0 and out.startswith("Top 10 for user 7")
    finally:
        hidden.rename(root)


def test_a_recbole_baseline_checkpoint_recommends_too(tmp_path):
    checkpoint, _, _ = train_with_the_run_script(tmp_path, model="SASRec", n_layers=1, n_heads=1)
    recs = Recommender.from_checkpoint(checkpoint, device="cpu").for_user("7", topk=3)
    assert recs.model == "SASRec" and len(recs.items) == 3
    assert np.all(np.diff([item.score for item in recs.items]) <= 0)


def test_the_former_import_paths_are_the_serving_modules_themselves():
    import recbole_xlstm.recommend
    import recbole_xlstm.streaming
    from recbole_xlstm.serving import recommend, streaming

    assert recbole_xlstm.recommend is recommend and recbole_xlstm.streaming is streaming
    assert recbole_xlstm.recommend.Recommender is Recommender


def test_write_csv_refuses_an_existing_file_unless_asked_to_overwrite(recommender, tmp_path):
    existing = tmp_path / "top.csv"
    existing.write_text("kept\n")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        recommender.write_csv(str(existing), users=["1"], topk=3)
    assert existing.read_text() == "kept\n"
    assert recommender.write_csv(str(existing), users=["1"], topk=3, overwrite=True) == 1
    assert existing.read_text().startswith("user,rank,item_id")


@pytest.mark.parametrize("topk", [0, -1, "5", 2.5, True])
def test_topk_is_checked_in_the_python_api_as_on_the_command_line(recommender, topk):
    with pytest.raises(ValueError, match=f"topk must be a whole number of at least 1, not {re.escape(repr(topk))}"):
        recommender.for_user("1", topk=topk)
    with pytest.raises(ValueError, match="topk must be a whole number"):
        recommender.for_history(["1"], topk=topk)
