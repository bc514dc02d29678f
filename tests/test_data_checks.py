"""The checks of a dataset's atomic files before RecBole reads them (recbole_xlstm.data_checks), through the
plugin's config path as every entry point takes it."""

from __future__ import annotations

import pytest

from recbole_xlstm.data_checks import DatasetFormatError
from recbole_xlstm.pipeline import checked_config

HEADER = "user_id:token\titem_id:token\trating:float\ttimestamp:float"
ROWS = [f"{u}\t{(u * 7 + t) % 20 + 1}\t{1 + t % 5}\t{1000 + t}" for u in range(1, 11) for t in range(6)]


def write(root, inter: list[str], name: str = "mine", **others: list[str]):
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.inter").write_text("".join(line + "\n" for line in inter))
    for suffix, lines in others.items():
        (folder / f"{name}.{suffix}").write_text("".join(line + "\n" for line in lines))
    return root


def config_for(root, **extra):
    return checked_config(model="xLSTM4Rec", dataset="mine", config_dict={"data_path": str(root), **extra})


@pytest.mark.parametrize(
    "lines, message",
    [
        ([], r"mine.inter is empty: its first line must be the header"),
        ([HEADER], r"mine.inter has a header and no rows"),
        (["user_id\titem_id\ttimestamp", *ROWS], r"line 1, column 1 \('user_id'\): a header column is name:type"),
        ([HEADER.replace("\t", ","), *(r.replace("\t", ",") for r in ROWS)],
         r"line 1: one column with the separator tab, but the header has ',': .* field_separator: \",\""),
        ([HEADER.replace("item_id", "product"), *ROWS], r"has no item_id column \(the item id\); its header has "
         r"user_id, product, rating, timestamp\. .* set ITEM_ID_FIELD"),
        ([HEADER.replace("item_id:token", "item_id:float"), *ROWS], r"item_id \(the item id\) is declared :float"),
        ([HEADER.replace("rating:float", "rating:number"), *ROWS], r"column rating has type 'number'"),
        ([HEADER, *ROWS[:3], "4\t5\t3\tyesterday", *ROWS[3:]],
         r"mine.inter, line 5, column timestamp: 'yesterday' is not a number"),
        ([HEADER, *ROWS[:2], "4\t5\t3", *ROWS[2:9], "4\t5\t3\t1\t9", *ROWS[9:]],
         r"mine.inter: lines 4, 12 do not have the header's 4 columns separated by tab"),
        ([HEADER.rsplit("\t", 1)[0], *(r.rsplit("\t", 1)[0] for r in ROWS)],
         r"has no timestamp column \(the time that orders each user's history\)"),
    ],
    ids=["empty", "header only", "no types", "comma", "no item column", "float id", "unknown type",
         "text in a float", "ragged", "no time"],
)  # fmt: skip
def test_a_bad_interaction_file_is_refused_with_the_file_line_and_fix(tmp_path, lines, message):
    with pytest.raises(DatasetFormatError, match=message):
        config_for(write(tmp_path, lines))


def test_windows_line_endings_are_refused(tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "mine.inter").write_bytes(("\r\n".join([HEADER, *ROWS]) + "\r\n").encode())
    with pytest.raises(DatasetFormatError, match="Windows line endings"):
        config_for(tmp_path)


def test_the_time_field_is_loaded_when_the_default_load_col_would_drop_it(tmp_path):
    config = config_for(write(tmp_path, [HEADER, *ROWS]))  # RecBole's default load_col: user and item only
    assert config["load_col"]["inter"] == ["user_id", "item_id", "timestamp"]
    assert any("loading it (load_col: {inter: ['user_id', 'item_id', 'timestamp']})" in w
               for w in config.dataset_warnings)  # fmt: skip


def test_a_chosen_load_col_with_the_time_field_is_left_alone_and_unknown_columns_are_refused(tmp_path):
    write(tmp_path, [HEADER, *ROWS])
    config = config_for(tmp_path, load_col={"inter": ["user_id", "item_id", "timestamp"]})
    assert config["load_col"] == {"inter": ["user_id", "item_id", "timestamp"]} and not config.dataset_warnings
    with pytest.raises(DatasetFormatError, match="load_col names stamp for .*mine.inter, whose header has"):
        config_for(tmp_path, load_col={"inter": ["user_id", "item_id", "stamp"]})


def test_duplicated_interactions_are_counted_and_point_to_rm_dup_inter(tmp_path):
    config = config_for(write(tmp_path, [HEADER, *ROWS, *ROWS[:7]]))
    assert any("7 rows repeat an earlier row's user_id, item_id, timestamp" in w and "rm_dup_inter" in w
               for w in config.dataset_warnings)  # fmt: skip
    config = config_for(tmp_path, rm_dup_inter="first")  # the user chose what RecBole does with them
    assert not any("repeat" in w for w in config.dataset_warnings)


def test_item_and_user_files_get_the_same_checks(tmp_path):
    items = ["item_id:token\tgenre:token_seq\tyear:float", *(f"{i}\tDrama Comedy\t199{i % 10}" for i in range(1, 21))]
    write(tmp_path, [HEADER, *ROWS], item=items[:4] + ["5\tDrama"] + items[4:])
    with pytest.raises(DatasetFormatError, match=r"mine.item: lines 5 do not have the header's 3 columns"):
        config_for(tmp_path, load_col=None)
    write(tmp_path, [HEADER, *ROWS], item=[items[0], "1\tDrama\tnineties", *items[2:]])
    with pytest.raises(DatasetFormatError, match=r"mine.item, line 2, column year: 'nineties' is not a number"):
        config_for(tmp_path, load_col=None)
    # RecBole loads no .item file unless load_col names it (or is None): nothing to check then
    config_for(tmp_path)
    write(tmp_path, [HEADER, *ROWS], item=items, user=["uid:token\tage:float", "1\t20"])
    with pytest.raises(DatasetFormatError, match=r"mine.user has no user_id column \(the user id that joins it"):
        config_for(tmp_path, load_col=None)


def test_a_good_file_passes_and_missing_values_are_left_to_recbole(tmp_path):
    config = config_for(write(tmp_path, [HEADER, *ROWS[:5], "3\t4\t\t1001", *ROWS[5:]]), load_col=None)
    assert config["load_col"] is None and config.dataset_warnings == []


def test_an_item_id_on_two_rows_of_the_item_file_is_warned(tmp_path):
    items = ["item_id:token\tgenre:token_seq", *(f"{i}\tDrama" for i in range(1, 21)), "3\tComedy"]
    config = config_for(write(tmp_path, [HEADER, *ROWS], item=items), load_col=None)
    assert any("mine.item: 1 rows repeat an earlier row's item_id" in w for w in config.dataset_warnings)
