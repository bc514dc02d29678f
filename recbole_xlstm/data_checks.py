"""Checks of a dataset's atomic files (``.inter``, ``.item``, ``.user``) before RecBole reads them.

RecBole 1.2.1 reads them with pandas and fails deep inside (``not enough values to unpack``,
``KeyError: 'item_id'``, ``need at least one array to concatenate``), or reads ragged rows and duplicated
interactions without a word. One pass over each file here names the file, the line and the fix instead.

The time field: RecBole's default ``load_col`` for a dataset it does not know loads only the user and item
columns, and a sequential model then fails because it orders each history by time. When the ``.inter`` file has
the time column and ``load_col`` leaves it out, it is added to ``load_col`` and the run's log says so.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

FIELD_TYPES = ("token", "token_seq", "float", "float_seq")
FIRST_BAD_LINES = 5  # line numbers an error lists


class DatasetFormatError(ValueError):
    """An atomic file RecBole would fail on, or would read wrong."""


@dataclass
class AtomicFile:
    """One atomic file's header, and which of its columns the run loads."""

    path: str
    suffix: str  # inter, item or user
    types: dict[str, str]  # field name -> RecBole type, in the file's order
    loaded: set[str] = field(default_factory=set)


def loads_file(config: Mapping[str, Any], suffix: str) -> bool:
    """Whether RecBole loads ``suffix``'s file at all (``load_col`` without the suffix: it does not)."""
    load_col = config["load_col"]
    return load_col is None or suffix in load_col


def loaded_columns(config: Mapping[str, Any], atomic: AtomicFile) -> set[str]:
    """The columns of the file RecBole will load, as Dataset._get_load_and_unload_col reads ``load_col`` and
    ``unload_col``."""
    load_col = config["load_col"]
    if load_col is None or load_col.get(atomic.suffix) == "*":
        chosen = set(atomic.types)
    else:
        chosen = set(load_col.get(atomic.suffix, ())) & set(atomic.types)
    return chosen - set((config["unload_col"] or {}).get(atomic.suffix) or ())


def read_header(path: str, suffix: str, separator: str, encoding: str) -> AtomicFile:
    with open(path, encoding=encoding, newline="") as handle:
        header = handle.readline()
    name = os.path.basename(path)
    if not header.strip():
        raise DatasetFormatError(
            f"{path} is empty: its first line must be the header, columns name:type separated by "
            f"{sep_name(separator)} (e.g. user_id:token, item_id:token, timestamp:float), then one row per line."
        )
    if header.endswith("\r\n"):
        raise DatasetFormatError(
            f"{path} has Windows line endings (\\r\\n), which RecBole reads into the last column's type: "
            f"convert it, e.g. with dos2unix {name}."
        )
    columns = header.rstrip("\n").split(separator)
    if len(columns) == 1:
        for other, label in ((",", "','"), (";", "';'"), ("\t", "tab"), (" ", "' '")):
            if other != separator and other in columns[0]:
                raise DatasetFormatError(
                    f"{path}, line 1: one column with the separator {sep_name(separator)}, but the header has "
                    f"{label}: RecBole's atomic files are tab-separated. Convert the file, or set "
                    f"field_separator: \"{other.encode('unicode_escape').decode()}\" in a config file."
                )
    types = {}
    for number, column in enumerate(columns, start=1):
        column_name, colon, column_type = column.partition(":")
        if not colon or not column_name:
            raise DatasetFormatError(
                f"{path}, line 1, column {number} ({column!r}): a header column is name:type, with type one of "
                f"{', '.join(FIELD_TYPES)}; e.g. 'item_id:token'."
            )
        if column_type not in FIELD_TYPES:
            raise DatasetFormatError(
                f"{path}, line 1: column {column_name} has type {column_type!r}; RecBole's types are "
                f"{', '.join(FIELD_TYPES)}."
            )
        if column_name in types:
            raise DatasetFormatError(f"{path}, line 1: column {column_name} appears twice in the header.")
        types[column_name] = column_type
    return AtomicFile(path, suffix, types)


def sep_name(separator: str) -> str:
    return "tab" if separator == "\t" else repr(separator)


def data_lines(path: str, encoding: str) -> Iterator[tuple[int, str]]:
    """(line number, line without its newline) for every line after the header."""
    with open(path, encoding=encoding) as handle:
        handle.readline()
        for number, line in enumerate(handle, start=2):
            yield number, line.rstrip("\n")


def is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def scan_rows(atomic: AtomicFile, config: Mapping[str, Any], key_fields: list[str]) -> int:
    """Refuse ragged rows and values of the wrong type; return how many rows repeat an earlier row's
    ``key_fields`` (0 when there are none to compare)."""
    separator, seq_separator = config["field_separator"], config["seq_separator"]
    width = len(atomic.types)
    names = list(atomic.types)
    numeric = [i for i, n in enumerate(names) if n in atomic.loaded and atomic.types[n] == "float"]
    numeric_seq = [i for i, n in enumerate(names) if n in atomic.loaded and atomic.types[n] == "float_seq"]
    keys = [names.index(n) for n in key_fields]
    seen: set[tuple[str, ...]] = set()
    duplicates, rows = 0, 0
    ragged: list[int] = []
    for number, line in data_lines(atomic.path, config["encoding"]):
        if not line:
            continue
        values = line.split(separator)
        if len(values) != width:
            ragged.append(number)
            if len(ragged) == FIRST_BAD_LINES:
                break
            continue
        rows += 1
        for i in numeric:
            if values[i] and not is_number(values[i]):
                raise DatasetFormatError(
                    f"{atomic.path}, line {number}, column {names[i]}: {values[i]!r} is not a number, and the "
                    f"header declares {names[i]}:float. Fix the value, or declare the column :token."
                )
        for i in numeric_seq:
            bad = [v for v in values[i].split(seq_separator) if v and not is_number(v)]
            if bad:
                raise DatasetFormatError(
                    f"{atomic.path}, line {number}, column {names[i]}: {bad[0]!r} is not a number, and the header "
                    f"declares {names[i]}:float_seq (values separated by {sep_name(seq_separator)})."
                )
        if keys:
            key = tuple(values[i] for i in keys)
            if key in seen:
                duplicates += 1
            else:
                seen.add(key)
    if ragged:
        raise DatasetFormatError(
            f"{atomic.path}: lines {', '.join(map(str, ragged))}{' ...' if len(ragged) == FIRST_BAD_LINES else ''} "
            f"do not have the header's {width} columns separated by {sep_name(separator)}. Fix or remove them."
        )
    if rows == 0:
        raise DatasetFormatError(f"{atomic.path} has a header and no rows: add one row per interaction (or entity).")
    return duplicates


def require(atomic: AtomicFile, name: str, role: str, expected: tuple[str, ...], fix: str) -> None:
    if name not in atomic.types:
        raise DatasetFormatError(
            f"{atomic.path} has no {name} column ({role}); its header has {', '.join(atomic.types)}. {fix}"
        )
    if atomic.types[name] not in expected:
        raise DatasetFormatError(
            f"{atomic.path}, line 1: {name} ({role}) is declared :{atomic.types[name]}; RecBole needs "
            f"{' or '.join(':' + t for t in expected)}. Change the header to {name}:{expected[0]}."
        )


def add_time_field(config: Any, inter: AtomicFile, time_field: str) -> str | None:
    """Load the .inter file's time column where ``load_col`` leaves it out (see the module's docstring)."""
    if time_field not in inter.types or time_field in inter.loaded or config["load_col"] is None:
        return None
    load_col = {suffix: list(names) for suffix, names in config["load_col"].items()}
    load_col["inter"].append(time_field)
    config["load_col"] = load_col
    inter.loaded.add(time_field)
    return (
        f"load_col did not load {time_field} from {inter.path}, and the run orders histories by it: loading it "
        f"(load_col: {{inter: {load_col['inter']}}}). Set load_col in a config file to choose the columns yourself."
    )


def needs_time(config: Mapping[str, Any]) -> bool:
    """Whether RecBole will order interactions by time: sequential models sort each user's history by it, and
    eval_args order TO splits by it."""
    from recbole.utils import ModelType

    order = (config["eval_args"] or {}).get("order")
    return config["MODEL_TYPE"] == ModelType.SEQUENTIAL or order == "TO"


def check_atomic_files(config: Any, dataset_dir: str, inter_paths: list[str]) -> list[str]:
    """Check the dataset's atomic files as RecBole will read them; raise DatasetFormatError on the first problem.
    May add the time field to ``config["load_col"]``. Returns warnings for the run's log."""
    if not loads_file(config, "inter"):
        raise DatasetFormatError(
            f"load_col has no inter entry, so RecBole would load no interactions: add inter: [user_id, item_id, "
            f"timestamp] (the .inter file's columns) to load_col, now {config['load_col']}."
        )
    try:
        return check_files(config, dataset_dir, inter_paths)
    except UnicodeDecodeError as error:
        raise DatasetFormatError(
            f"A file of {dataset_dir} is not {config['encoding']} text ({error.reason}): save it as UTF-8, or set "
            "encoding in a config file to the one it uses."
        ) from error


def check_files(config: Any, dataset_dir: str, inter_paths: list[str]) -> list[str]:
    separator, encoding = config["field_separator"], config["encoding"]
    uid, iid, time_field = config["USER_ID_FIELD"], config["ITEM_ID_FIELD"], config["TIME_FIELD"]
    warnings: list[str] = []
    for path in inter_paths:
        inter = read_header(path, "inter", separator, encoding)
        inter.loaded = loaded_columns(config, inter)
        fix = "Rename the column in the header, or set {} to the name the file uses."
        require(inter, uid, "the user id", ("token",), fix.format("USER_ID_FIELD"))
        require(inter, iid, "the item id", ("token",), fix.format("ITEM_ID_FIELD"))
        named = () if config["load_col"] is None else config["load_col"]["inter"]
        missing = sorted(set(named) - set(inter.types)) if named != "*" else []
        if missing:
            raise DatasetFormatError(
                f"load_col names {', '.join(missing)} for {path}, whose header has {', '.join(inter.types)}: "
                "remove them from load_col, or add the columns to the file."
            )
        if needs_time(config):
            require(
                inter, time_field, "the time that orders each user's history", ("float",),
                "Add a timestamp:float column (positions 1, 2, 3 ... per user will do), or set TIME_FIELD to "
                "the file's time column.",
            )  # fmt: skip
            note = add_time_field(config, inter, time_field)
            if note:
                warnings.append(note)
        keys = [f for f in (uid, iid, time_field) if f in inter.loaded]
        duplicates = scan_rows(inter, config, keys if config["rm_dup_inter"] is None else [])
        if duplicates:
            warnings.append(
                f"{path}: {duplicates} rows repeat an earlier row's {', '.join(keys)}. RecBole keeps them as separate "
                "interactions; set rm_dup_inter: first (or last) in a config file to drop them."
            )
    for suffix, id_field in (("item", iid), ("user", uid)):
        path = os.path.join(dataset_dir, f"{config['dataset']}.{suffix}")
        if not os.path.isfile(path) or not loads_file(config, suffix):
            continue
        atomic = read_header(path, suffix, separator, encoding)
        atomic.loaded = loaded_columns(config, atomic)
        require(atomic, id_field, f"the {suffix} id that joins it to the interactions", ("token",),
                f"Rename the column in {os.path.basename(path)}'s header.")  # fmt: skip
        duplicates = scan_rows(atomic, config, [id_field])
        if duplicates:
            warnings.append(
                f"{path}: {duplicates} rows repeat an earlier row's {id_field}, so which row's features the model "
                f"reads is not defined: keep one row per {id_field}."
            )
    return warnings
