"""Does a stack load a dataset exactly as the pinned one does? Prints a digest of what RecBole built.

Loads a dataset with all its feature files (.inter, .item, .user) through recbole_xlstm's Config
and RecBole's create_dataset, and prints, as JSON, the size of each table and a SHA-256 of its
processed contents (ids after remapping, filled and normalized values, token lists) and of the
id-to-token maps. Run it on both stacks (README: Install) and compare the digests:

    python benchmarks/stack_parity.py --dataset=ml-100k > pinned.json    # in the pinned venv
    python benchmarks/stack_parity.py --dataset=ml-100k > modern.json    # in the modern venv
    diff pinned.json modern.json                                         # only "environment" differs

Results: benchmarks/results/stack_parity.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from recbole.data import create_dataset  # noqa: E402

from recbole_xlstm import Config, environment  # noqa: E402


def plain(value: Any) -> Any:
    """One representation per value whatever the numpy/pandas version: numbers as floats, arrays as lists."""
    if isinstance(value, (np.ndarray, list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, (int, float, np.integer, np.floating)):
        return None if np.isnan(value) else float(value)
    return str(value)


def digest(rows: Any) -> str:
    return hashlib.sha256(json.dumps(rows, sort_keys=True).encode()).hexdigest()


def dataset_digest(dataset_name: str, data_path: str | None) -> dict[str, Any]:
    config_dict = {"dataset": dataset_name, "load_col": None, "save_dataset": False, "show_progress": False}
    if data_path:
        config_dict["data_path"] = data_path
    config = Config(model="xLSTM4Rec", config_dict=config_dict)
    dataset = create_dataset(config)
    tables = {}
    for name in dataset.feat_name_list:
        frame = getattr(dataset, name)
        columns = sorted(frame.columns)
        tables[name] = {
            "rows": len(frame),
            "columns": columns,
            "sha256": digest({column: plain(list(frame[column])) for column in columns}),
        }
    return {
        "dataset": dataset_name,
        "users": int(dataset.user_num),
        "items": int(dataset.item_num),
        "interactions": int(dataset.inter_num),
        "tables": tables,
        "id_to_token_sha256": digest(
            {field: plain(list(ids)) for field, ids in sorted(dataset.field2id_token.items())}
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="ml-100k")
    parser.add_argument("--data_path", default=None, help="parent folder of the dataset's folder (default: RecBole's)")
    args = parser.parse_args()
    result = dataset_digest(args.dataset, args.data_path)
    env = environment()
    result["environment"] = {k: env[k] for k in sorted(env) if k in ("python", "recbole", "numpy", "pandas", "torch")}
    print(json.dumps(result, indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
