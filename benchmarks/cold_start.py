"""Cold start by profile, evaluated on users the model never saw (issue 8).

The users whose first interaction is latest (the last ``--holdout`` share, by first timestamp) are held out
entirely: their interactions and their ``.user`` rows are removed, xLSTM4RecF is trained on the rest with
``--user_features``, and each held-out user's first item is ranked from their features alone
(``Recommender.for_profile``'s scores, all items ranked). The baseline is the training data's popularity
list, which is what a model without user features returns. A paired bootstrap over the held-out users gives
the interval of the relative difference in NDCG@10.

    python benchmarks/cold_start.py --dataset ml-100k --seeds 2020 2021 2022 \\
        --output benchmarks/results/cold_start_ml-100k
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

K = 10


def read_atomic(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)


def split_users(inter: pd.DataFrame, holdout: float) -> tuple[set[str], pd.DataFrame]:
    """(held-out user ids, each held-out user's first interaction): the last ``holdout`` share of users by the
    time of their first interaction."""
    inter = inter.assign(_time=inter["timestamp:float"].astype(float))
    first = inter.sort_values(["_time"], kind="stable").groupby("user_id:token", sort=False).head(1)
    first = first.sort_values("_time", kind="stable")
    held = first.tail(int(round(len(first) * holdout)))
    return set(held["user_id:token"]), held


def write_training_copy(source: Path, target: Path, dataset: str, held: set[str]) -> None:
    """The dataset without the held-out users' interactions and .user rows (their .item file unchanged), under
    ``target``'s own name: RecBole 1.2.1's Config reads a dataset named ml-100k from its bundled copy whatever
    data_path says."""
    target.mkdir(parents=True)
    for suffix in ("inter", "user", "item"):
        path = source / f"{dataset}.{suffix}"
        if not path.is_file():
            continue
        frame = read_atomic(path)
        if suffix in ("inter", "user"):
            frame = frame[~frame["user_id:token"].isin(held)]
        frame.to_csv(target / f"{target.name}.{suffix}", sep="\t", index=False)


def ranks_of(scores: torch.Tensor, target: int) -> int:
    """1-based rank of ``target`` among all items but [PAD]."""
    scores = scores.clone()
    scores[0] = -torch.inf
    return int((scores > scores[target]).sum()) + 1


def ndcg_and_recall(ranks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    hit = ranks <= K
    return np.where(hit, 1.0 / np.log2(ranks + 1), 0.0), hit.astype(float)


def evaluate(checkpoint: str, data_root: Path, held_first: pd.DataFrame, users: pd.DataFrame, features: list[str]):
    """Per held-out user: the rank of their first item by profile and by popularity, and the features dropped
    because the training data never had their value."""
    from recbole_xlstm.serving.recommend import Recommender

    recommender = Recommender.from_checkpoint(checkpoint, data_path=str(data_root), device="cpu")
    model, token_id = recommender.model, recommender.dataset.field2token_id
    popularity = torch.as_tensor(recommender.popularity)
    rows = []
    for _, first in held_first.iterrows():
        item = first["item_id:token"]
        if item not in token_id["item_id"]:
            continue  # an item only held-out users had: no model can rank it
        target = token_id["item_id"][item]
        row = users[users["user_id:token"] == first["user_id:token"]].iloc[0]
        profile = {f: row[c] for f in features for c in row.index if c.split(":")[0] == f}
        unseen = [f for f, v in profile.items() if v not in token_id[f]]
        profile = {f: v for f, v in profile.items() if f not in unseen}
        with torch.no_grad():
            scores = model.score_all_items(model.profile_output(profile=recommender.profile_ids(profile)))[0]
        rows.append((ranks_of(scores, target), ranks_of(popularity.clone(), target), len(unseen)))
    return np.array(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="ml-100k")
    parser.add_argument("--data_path", default=None, help="folder holding the dataset's folder (default: RecBole's)")
    parser.add_argument("--user_features", nargs="+", default=["age", "gender", "occupation"])
    parser.add_argument("--holdout", type=float, default=0.2)
    parser.add_argument("--seeds", type=int, nargs="+", default=[2020])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--extra", nargs="*", default=[], help="more properties, name=value (YAML values)")
    parser.add_argument("--output", required=True)
    args = parser.parse_args()

    import recbole
    import yaml
    from paired_bootstrap import paired_bootstrap

    from recbole_xlstm.provenance import environment
    from recbole_xlstm.quick_start import run_recbole_xlstm

    command = " ".join(["python", *map(shlex.quote, sys.argv)])
    sys.argv = sys.argv[:1]  # RecBole's Config would read this script's flags as its properties
    source = Path(args.data_path or Path(recbole.__file__).parent / "dataset_example") / args.dataset
    inter, users = read_atomic(source / f"{args.dataset}.inter"), read_atomic(source / f"{args.dataset}.user")
    held, held_first = split_users(inter, args.holdout)
    work = Path(tempfile.mkdtemp(prefix="cold_start_"))
    seen = f"{args.dataset}-seen"  # the training copy's dataset name
    write_training_copy(source, work / "data" / seen, args.dataset, held)
    columns = [c.split(":")[0] for c in users.columns]
    per_seed = []
    for seed in args.seeds:
        config = {
            "data_path": str(work / "data"), "seed": seed, "epochs": args.epochs, "show_progress": False,
            "checkpoint_dir": str(work / "saved"), "user_features": args.user_features,
            "load_col": {"inter": ["user_id", "item_id", "timestamp"], "user": columns[:1] + args.user_features},
            **{k: yaml.safe_load(v) for k, v in (e.split("=", 1) for e in args.extra)},
        }  # fmt: skip
        os.chdir(work)
        result = run_recbole_xlstm("xLSTM4RecF", seen, config_dict=config)
        rows = evaluate(result["saved_model_file"], work / "data", held_first, users, args.user_features)
        per_seed.append({"seed": seed, "test_ndcg@10_of_the_seen_users": result["test_result"]["ndcg@10"],
                         "rows": rows})  # fmt: skip
    profile_ranks = np.stack([s["rows"][:, 0] for s in per_seed])
    popular_ranks = per_seed[0]["rows"][:, 1]
    ndcg_profile = np.mean([ndcg_and_recall(r)[0] for r in profile_ranks], axis=0)  # each user over the seeds
    recall_profile = np.mean([ndcg_and_recall(r)[1] for r in profile_ranks], axis=0)
    ndcg_popular, recall_popular = ndcg_and_recall(popular_ranks)
    boot = paired_bootstrap(ndcg_profile, ndcg_popular)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    summary = {
        "command": command,
        "date": time.strftime("%Y-%m-%d"),
        "environment": environment(),
        "held_out_users": len(held),
        "ranked_users": int(len(popular_ranks)),
        "features_unseen_in_training": int(per_seed[0]["rows"][:, 2].sum()),
        "seeds": args.seeds,
        "ndcg@10": {"profile": float(ndcg_profile.mean()), "popularity": float(ndcg_popular.mean())},
        "recall@10": {"profile": float(recall_profile.mean()), "popularity": float(recall_popular.mean())},
        "paired_bootstrap_ndcg@10": {"relative_difference": boot.relative_difference, "low": boot.low,
                                     "high": boot.high, "resamples": boot.resamples},
        "seen_users_test_ndcg@10": [s["test_ndcg@10_of_the_seen_users"] for s in per_seed],
    }  # fmt: skip
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
