"""hyper.test: parsed the way RecBole's HyperTuning parses it, and every point of it is a model."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import pytest
from recbole.data import create_dataset
from recbole.trainer import HyperTuning

from recbole_xlstm import Config, xLSTM4Rec
from recbole_xlstm.tuning.ray_tune import check_search_parameters
from recbole_xlstm.tuning.space import HyperSpaceError, read_hyper_file, to_ray_space

HYPER_TEST = Path(__file__).resolve().parents[1] / "hyper.test"
# searched properties that shape the model (the others only change training)
MODEL_SHAPING = {"hidden_size", "num_blocks", "slstm_at", "num_heads", "slstm_num_heads", "MAX_ITEM_LIST_LENGTH"}


def test_hyper_test_covers_what_the_search_should_tune():
    names = {p.name for p in read_hyper_file(HYPER_TEST)}
    assert {
        "learning_rate",
        "hidden_size",
        "num_blocks",
        "slstm_at",
        "num_heads",
        "dropout_prob",
        "xlstm_dropout",  # the regulariser that helped on amazon-beauty and cost on ml-100k: data decides
        "MAX_ITEM_LIST_LENGTH",
        "weight_decay",
    } <= names


def test_recbole_hypertuning_reads_the_same_parameters():
    recbole_space = HyperTuning._build_space_from_file(str(HYPER_TEST))
    assert set(recbole_space) == {p.name for p in read_hyper_file(HYPER_TEST)}


def test_every_searched_name_is_a_property(tiny_config):
    config = Config(model="xLSTM4Rec", config_dict=tiny_config())
    check_search_parameters(read_hyper_file(HYPER_TEST), config)


def test_a_name_no_one_reads_is_refused_with_a_hint(tiny_config, tmp_path):
    space = tmp_path / "space.test"
    space.write_text("num_block choice [1,2]\nlearning_rate uniform 0.001,0.01\n")
    config = Config(model="xLSTM4Rec", config_dict=tiny_config())
    with pytest.raises(HyperSpaceError, match="num_block is not a property of xLSTM4Rec.*did you mean num_blocks"):
        check_search_parameters(read_hyper_file(space), config)


def _corner_points(params):
    """Every combination of the choices, with each continuous range at its low and its high end."""
    axes = []
    for p in params:
        if p.kind == "choice":
            axes.append([(p.name, v) for v in p.values])
        elif p.kind == "loguniform":
            axes.append([(p.name, math.exp(p.values[0])), (p.name, math.exp(p.values[1]))])
        else:
            axes.append([(p.name, p.values[0]), (p.name, p.values[1])])
    for combo in itertools.product(*axes):
        yield dict(combo)


def test_every_point_of_hyper_test_builds_a_model(tiny_config):
    params = read_hyper_file(HYPER_TEST)
    config = Config(model="xLSTM4Rec", config_dict=tiny_config())
    dataset = create_dataset(config)
    checked, built = 0, set()
    for point in _corner_points(params):
        for name, value in point.items():
            config[name] = value
        xLSTM4Rec.check_config(config)
        checked += 1
        shape = tuple((k, str(v)) for k, v in point.items() if k in MODEL_SHAPING)
        if shape not in built:
            model = xLSTM4Rec(config, dataset)
            assert model.num_blocks == point["num_blocks"]
            built.add(shape)
    assert checked == 2 ** sum(p.kind != "choice" for p in params) * math.prod(
        len(p.values) for p in params if p.kind == "choice"
    )
    assert len(built) > 1


def test_ray_samples_stay_inside_the_ranges():
    params = {p.name: p for p in read_hyper_file(HYPER_TEST)}
    space = to_ray_space(list(params.values()))
    for _ in range(200):
        lr = space["learning_rate"].sample()
        low, high = params["learning_rate"].values
        assert math.exp(low) <= lr <= math.exp(high)
        assert space["slstm_at"].sample() in [list(v) for v in params["slstm_at"].values]
        dropout = space["dropout_prob"].sample()
        assert params["dropout_prob"].values[0] <= dropout <= params["dropout_prob"].values[1]


@pytest.mark.parametrize(
    "line, message",
    [
        ("lr normal 0,1", "unknown kind 'normal'"),
        ("hidden_size choice [32,", "must be a Python list literal"),
        ("dropout_prob uniform 0.5,0.1", "needs low < high"),
        ("dropout_prob uniform 0.1", "expected 2 comma-separated numbers"),
        ("hidden_size choice []", "non-empty list"),
    ],
)
def test_bad_lines_name_the_file_and_line(tmp_path, line, message):
    space = tmp_path / "bad.test"
    space.write_text("learning_rate loguniform -8,-5\n" + line + "\n")
    with pytest.raises(HyperSpaceError, match=message) as info:
        read_hyper_file(space)
    assert f"{space}:2" in str(info.value)


def test_missing_file_and_duplicates(tmp_path):
    with pytest.raises(HyperSpaceError, match="not found"):
        read_hyper_file(tmp_path / "nope.test")
    space = tmp_path / "dup.test"
    space.write_text("hidden_size choice [32]\nhidden_size choice [64]\n")
    with pytest.raises(HyperSpaceError, match="hidden_size listed more than once"):
        read_hyper_file(space)


def test_the_baseline_spaces_name_only_properties_of_their_models(tiny_config):
    spaces = sorted((HYPER_TEST.parent / "benchmarks" / "hyper").glob("*.test"))
    assert spaces
    for space in spaces:
        model = space.stem
        config = Config(model=model, config_dict=tiny_config())
        check_search_parameters(read_hyper_file(space), config)
