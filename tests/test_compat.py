"""recbole_xlstm.compat: for each fix, RecBole's own code still breaks on the versions it names
(checked where those versions are installed), and the patched path works on every stack.

The torch >= 2.6 checkpoint fix is tested in tests/test_checkpoint.py.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import recbole.data.dataset.dataset as recbole_dataset_module
import torch
from conftest import N_ITEMS, write_tiny_dataset
from packaging.version import Version
from recbole.data import create_dataset
from recbole.evaluator.metrics import NDCG
from recbole.utils import FeatureType

from recbole_xlstm import Config, compat

REPO = Path(__file__).resolve().parents[1]
NUMPY_2 = Version(np.__version__) >= Version("2")


def copy_on_write() -> bool:
    """Always on in pandas 3; an option in pandas 2.x (False, "warn" or True)."""
    if Version(pd.__version__) >= Version("3"):
        return True
    return pd.get_option("mode.copy_on_write") is True


# --- numpy 2 -------------------------------------------------------------------------------------


@pytest.mark.skipif(not NUMPY_2, reason=f"numpy {np.__version__} still has np.float_")
def test_recboles_own_config_fails_on_numpy_2():
    with pytest.raises(AttributeError, match=r"np\.float_` was removed in the NumPy 2\.0"):
        compat.ORIGINAL["Config.compatibility_settings"](None)


def test_config_sets_recboles_numpy_aliases_and_recboles_metrics_run(tiny_config):
    Config(model="xLSTM4Rec", config_dict=tiny_config())
    assert np.float is np.float64 and np.long is np.int_ and np.str is np.str_ and np.bool is np.bool_
    # evaluator/metrics.py allocates with dtype=np.float
    pos_index = np.array([[True, False, True], [False, False, False]])
    ndcg = NDCG(Config(model="xLSTM4Rec", config_dict=tiny_config())).metric_info(pos_index, np.array([2, 1]))
    assert ndcg.dtype == np.float64
    assert ndcg[0, 2] == pytest.approx((1 + 1 / np.log2(4)) / (1 + 1 / np.log2(3)))
    assert not ndcg[1].any()


# --- pandas copy-on-write -------------------------------------------------------------------------


def write_dataset_with_missing_features(root: Path) -> Path:
    """The tiny dataset, with an .item file where item 7 has no genres, brand, price or scores,
    and item 3 is not listed at all (with filter_inter_by_user_or_item off, RecBole keeps its
    interactions and adds it to item_feat with every feature missing)."""
    write_tiny_dataset(root)
    rows = ["item_id:token\tgenres:token_seq\tbrand:token\tprice:float\tscores:float_seq"]
    for item in range(1, N_ITEMS + 1):
        if item == 3:
            continue
        if item == 7:
            rows.append(f"{item}\t\t\t\t")
        else:
            rows.append(f"{item}\tg{item % 3} g{item % 5}\tb{item % 4}\t{float(item)}\t{item} {2 * item}")
    (root / "tiny" / "tiny.item").write_text("\n".join(rows) + "\n")
    return root


@pytest.fixture
def missing_features_config(tmp_path):
    def make(**overrides) -> Config:
        root = write_dataset_with_missing_features(tmp_path / "features")
        config_dict = {
            "data_path": str(root),
            "dataset": "tiny",
            "load_col": {
                "inter": ["user_id", "item_id", "timestamp"],
                "item": ["item_id", "genres", "brand", "price", "scores"],
            },
            "filter_inter_by_user_or_item": False,
            "save_dataset": False,
            "show_progress": False,
            **overrides,
        }
        return Config(model="xLSTM4Rec", config_dict=config_dict)

    return make


def item_features(dataset, raw_item: str) -> dict:
    row = dataset.item_feat[dataset.item_feat["item_id"] == dataset.token2id("item_id", raw_item)]
    return row.iloc[0].to_dict()


def test_missing_item_features_are_filled_as_recbole_intends(missing_features_config):
    dataset = create_dataset(missing_features_config())
    assert pd.Series.agg.__module__.startswith("pandas.")  # pandas' own again once loading is done
    prices = [float(i) for i in range(1, N_ITEMS + 1) if i not in (3, 7)]
    listed_without_values = item_features(dataset, "7")
    not_listed = item_features(dataset, "3")
    for features in (listed_without_values, not_listed):
        assert features["brand"] == 0  # [PAD]
        assert features["price"] == pytest.approx(np.mean(prices))  # the column mean
    assert len(listed_without_values["genres"]) == 0 and len(listed_without_values["scores"]) == 0
    assert not dataset.item_feat[["brand", "price"]].isna().any().any()
    # the other items keep what the file says; token_seq tokens are remapped per row (dataset.py:1217)
    item_8 = item_features(dataset, "8")
    assert item_8["price"] == 8.0 and item_8["scores"].tolist() == [8.0, 16.0]
    assert [dataset.id2token("genres", g) for g in item_8["genres"]] == ["g2", "g3"]


def test_float_seq_fields_are_normalized_per_row(missing_features_config):
    # dataset.py:712, Dataset._normalize
    dataset = create_dataset(missing_features_config(normalize_field=["scores"]))
    low, high = 1.0, 2.0 * N_ITEMS  # scores run from item 1's 1 to item 30's 60
    assert item_features(dataset, "8")["scores"] == pytest.approx([(8 - low) / (high - low), (16 - low) / (high - low)])


@pytest.mark.parametrize(
    "settings",
    [
        {"numerical_features": ["scores"]},
        {"numerical_features": ["scores"], "discretization": {"scores": {"method": "ED", "bucket": 3}}},
    ],
    ids=["numerical", "discretized"],
)
def test_float_seq_numerical_features_keep_one_entry_per_value(missing_features_config, settings):
    # dataset.py:792 and 809, Dataset._discretization: each row becomes a pair of arrays of its own
    # length, (ones, buckets) when discretized and (values, ones) when not (RecBole's order)
    dataset = create_dataset(missing_features_config(**settings))
    first, second = item_features(dataset, "8")["scores"]
    assert len(first) == len(second) == 2
    if "discretization" in settings:
        assert list(first) == [1.0, 1.0] and set(second) <= {1.0, 2.0, 3.0}
    else:
        assert list(first) == [8.0, 16.0] and list(second) == [1.0, 1.0]


def test_pre_split_benchmark_files_get_their_list_lengths(tmp_path):
    # sequential_dataset.py:165, SequentialDataset._benchmark_presets
    folder = tmp_path / "bench" / "tiny"
    folder.mkdir(parents=True)
    header = "user_id:token\titem_id_list:token_seq\titem_id:token\n"
    for part, rows in {
        "train": ["1\t1 2 3\t4", "2\t2 3\t4", "3\t5\t6"],
        "valid": ["1\t1 2 3 4\t5"],
        "test": ["1\t1 2 3 4 5\t6"],
    }.items():
        (folder / f"tiny.{part}.inter").write_text(header + "\n".join(rows) + "\n")
    config = Config(
        model="xLSTM4Rec",
        config_dict={
            "data_path": str(tmp_path / "bench"),
            "dataset": "tiny",
            "benchmark_filename": ["train", "valid", "test"],
            "load_col": {"inter": ["user_id", "item_id_list", "item_id"]},
            "save_dataset": False,
        },
    )
    dataset = create_dataset(config)
    assert dataset.inter_feat["item_length"].tolist() == [3, 2, 1, 4, 5]


def test_recboles_own_loading_breaks_on_an_empty_sequence_cell_under_copy_on_write(
    missing_features_config, monkeypatch
):
    # dataset.py:501 fills empty token_seq cells with a chained in-place fillna, then splits them
    monkeypatch.setattr(recbole_dataset_module, "pd", pd)
    config = missing_features_config()
    if copy_on_write():
        with pytest.raises(AttributeError, match="'float' object has no attribute 'split'"):
            create_dataset(config)
    else:
        assert len(item_features(create_dataset(config), "7")["genres"]) == 0


@pytest.mark.skipif(Version(pd.__version__) < Version("3"), reason=f"pandas {pd.__version__} applies agg(len) per row")
def test_recboles_own_remap_breaks_on_token_seq_fields_in_pandas_3(missing_features_config, monkeypatch):
    monkeypatch.setattr(recbole_dataset_module.Dataset, "_remap", compat.ORIGINAL["Dataset._remap"])
    with pytest.raises(ValueError, match=r"Length of values \(1\) does not match length of index"):
        create_dataset(missing_features_config())


def test_recboles_own_fill_nan_leaves_missing_values_under_copy_on_write():
    # dataset.py:648-650, run on a frame like the one RecBole builds for an item missing from .item
    item_feat = pd.DataFrame({"item_id": [1, 2], "brand": [3.0, np.nan], "price": [2.0, np.nan]})
    dataset = SimpleNamespace(
        feat_name_list=["item_feat"],
        item_feat=item_feat,
        field2type={"item_id": FeatureType.TOKEN, "brand": FeatureType.TOKEN, "price": FeatureType.FLOAT},
        logger=logging.getLogger("test"),
    )
    compat.ORIGINAL["Dataset._fill_nan"](dataset)
    assert dataset.item_feat[["brand", "price"]].isna().any().any() == copy_on_write()

    compat.fill_nan_by_assignment(compat.ORIGINAL["Dataset._fill_nan"])(dataset)
    assert dataset.item_feat["brand"].tolist() == [3.0, 0.0]
    assert dataset.item_feat["price"].tolist() == [2.0, 2.0]


# --- log folder ------------------------------------------------------------------------------------


def test_two_runs_starting_together_in_one_folder_both_make_recboles_log_folder(tmp_path, monkeypatch):
    # the race, made certain: the second run checks for ./log/<model> before the first makes it
    log_dir = tmp_path / "log" / "xLSTM4Rec"
    log_dir.mkdir(parents=True)
    monkeypatch.setattr(os.path, "exists", lambda path: False)
    with pytest.raises(FileExistsError):
        compat.ORIGINAL["logger.ensure_dir"](str(log_dir))

    import recbole.utils.logger as recbole_logger_module

    assert recbole_logger_module.ensure_dir is compat.ensure_dir_without_race  # what init_logger calls
    recbole_logger_module.ensure_dir(str(log_dir))
    recbole_logger_module.ensure_dir(str(tmp_path / "new" / "SASRec"))
    monkeypatch.undo()
    assert (tmp_path / "new" / "SASRec").is_dir()


# --- applied once, in place ------------------------------------------------------------------------


def test_each_version_shim_is_in_place_once_exactly_where_the_installed_versions_need_it():
    import recbole.trainer.trainer as recbole_trainer_module

    applied = compat.apply()  # a second apply must not wrap twice
    names = {fix.name: fix for fix in compat.FIXES}
    assert set(applied) == {fix.name for fix in compat.FIXES if fix.needed()}
    # the gates, against the versions installed here
    assert (names["numpy >= 2: Config.compatibility_settings"].name in applied) == NUMPY_2
    assert (Config.compatibility_settings is compat.numpy_aliases_for_recbole) == NUMPY_2
    assert (names["pandas >= 3: Series.agg(len) per row"].name in applied) == (Version(pd.__version__) >= Version("3"))
    assert np.float is np.float64 and np.long is np.int_  # numpy >= 1.24 removed them; every stack here needs them
    fill_nan = recbole_dataset_module.Dataset._fill_nan
    assert fill_nan.fixed_by_recbole_xlstm and fill_nan.__wrapped__ is compat.ORIGINAL["Dataset._fill_nan"]
    assert isinstance(recbole_dataset_module.pd, compat.PandasForRecBoleDataset)
    assert recbole_dataset_module.Dataset._load_feat.fixed_by_recbole_xlstm
    for owner, name in compat.SERIES_AGG_LEN_METHODS:
        method = getattr(owner, name)
        if Version(pd.__version__) >= Version("3"):
            assert method.fixed_by_recbole_xlstm and method.__wrapped__ is compat.ORIGINAL[f"{owner.__name__}.{name}"]
        else:
            assert method is compat.ORIGINAL[f"{owner.__name__}.{name}"]
    assert isinstance(recbole_trainer_module.torch, compat.TorchForRecBoleTrainer)


def imported_with(env: dict[str, str], code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", f"import logging\nlogging.basicConfig(level=logging.DEBUG)\n{code}"],
        capture_output=True, text=True, timeout=300, check=False,
        env=dict(os.environ, PYTHONPATH=str(REPO), **env),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout + done.stderr


def test_the_switch_turns_off_the_changes_of_behaviour_and_keeps_the_version_shims():
    code = (
        "import recbole_xlstm, torch\nfrom recbole.model.general_recommender.pop import Pop\n"
        "from recbole_xlstm import compat\n"
        "print('POP', Pop.calculate_loss is compat.ORIGINAL['Pop.calculate_loss'],\n"
        "      'ANOMALY', torch.is_anomaly_enabled())"
    )
    off = imported_with({compat.BEHAVIOUR_FIXES_VARIABLE: "off"}, code)
    assert "POP True ANOMALY True" in off  # RecBole's own Pop, and the anomaly mode its sine.py turns on
    assert "recbole_xlstm.compat: off (RECBOLE_XLSTM_BEHAVIOUR_FIXES=off): Pop counts every occurrence" in off
    assert "recbole_xlstm.compat: applied: torch >= 2.6: weights-only checkpoints" in off
    on = imported_with({}, code)
    assert "POP False ANOMALY False" in on
    assert "recbole_xlstm.compat: applied: Pop counts every occurrence" in on


def test_a_mistyped_switch_is_refused_by_name(monkeypatch):
    monkeypatch.setenv(compat.BEHAVIOUR_FIXES_VARIABLE, "no")
    with pytest.raises(ValueError, match="RECBOLE_XLSTM_BEHAVIOUR_FIXES='no': use on"):
        compat.apply()


# --- Pop's counts ----------------------------------------------------------------------------------


def test_pop_counts_an_item_as_often_as_it_occurs_in_a_batch():
    from recbole.model.general_recommender.pop import Pop

    def counts(calculate_loss) -> tuple[list[int], int]:
        pop = SimpleNamespace(ITEM_ID="item_id", item_cnt=torch.zeros(5, 1, dtype=torch.long), device="cpu")
        calculate_loss(pop, {"item_id": torch.tensor([3, 3, 3, 1, 2])})
        calculate_loss(pop, {"item_id": torch.tensor([3, 4])})
        return pop.item_cnt.squeeze(1).tolist(), int(pop.max_cnt)

    assert counts(compat.ORIGINAL["Pop.calculate_loss"]) == ([0, 1, 1, 2, 1], 2)  # RecBole's: once per batch
    assert Pop.calculate_loss is compat.pop_counts_every_occurrence
    assert counts(Pop.calculate_loss) == ([0, 1, 1, 4, 1], 4)


# --- torch anomaly mode ----------------------------------------------------------------------------


def anomaly_mode_after(code: str) -> bool:
    done = subprocess.run(
        [sys.executable, "-c", f"import torch\n{code}\nprint(torch.is_anomaly_enabled())"],
        capture_output=True, text=True, timeout=300, check=False, env=dict(os.environ, PYTHONPATH=str(REPO)),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip().splitlines()[-1] == "True"


def test_recboles_models_turn_on_anomaly_mode_and_the_import_turns_it_off():
    # sine.py:25 switches it on for the whole process; every op then records a stack trace
    assert anomaly_mode_after("import recbole.model.sequential_recommender")
    assert not anomaly_mode_after("import recbole_xlstm")
    assert not anomaly_mode_after("import recbole_xlstm\nrecbole_xlstm.get_model('SASRec')")
    assert not anomaly_mode_after("import recbole.model.sequential_recommender\nimport recbole_xlstm")


def test_anomaly_mode_a_user_turned_on_stays_on():
    assert anomaly_mode_after("torch.autograd.set_detect_anomaly(True)\nimport recbole_xlstm")
