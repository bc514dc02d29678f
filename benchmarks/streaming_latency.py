"""Per-user update latency: one new interaction -> fresh top-k, for histories of 50, 200 and 1000 items.

Compared in one run, on one thread, batch of one user:
- xLSTM4Rec streaming: ``model.step`` (the blocks' recurrent form, O(1) in the history) + scoring
  all items + top-k: what ``StreamingRecommender.add`` does per interaction.
- xLSTM4Rec re-encoding the whole history with ``full_sort_predict`` (the parallel mLSTM form,
  the default on CPU; and mlstm_kernels' chunkwise form, ``xlstm_backend: torch_chunkwise``).
- SASRec re-encoding the whole history with ``full_sort_predict``.

Models are untrained (latency does not depend on the weights), hidden size 64, 2 blocks/layers,
MAX_ITEM_LIST_LENGTH = the history length, over a synthetic catalogue of 1682 items (ml-100k's).

    python benchmarks/streaming_latency.py            # writes benchmarks/results/streaming_latency.{md,csv}
    python benchmarks/streaming_latency.py --lengths 50 --repeats 5 --output /tmp/quick   # a smoke run
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from recbole.data import create_dataset  # noqa: E402
from recbole.utils import init_seed  # noqa: E402

from recbole_xlstm import Config, environment, get_model, machine_line  # noqa: E402
from recbole_xlstm.serving.streaming import tensor_bytes  # noqa: E402

N_ITEMS = 1682
TOPK = 10


def write_catalogue(root: Path) -> Path:
    folder = root / "synthetic"
    folder.mkdir(parents=True, exist_ok=True)
    rows = ["user_id:token\titem_id:token\ttimestamp:float"]
    for item in range(1, N_ITEMS + 1):  # every item once; 10 users
        rows.append(f"{item % 10}\t{item}\t{item}")
    (folder / "synthetic.inter").write_text("\n".join(rows) + "\n")
    return root


def build(model: str, length: int, root: Path, **props) -> torch.nn.Module:
    config = Config(
        model=model,
        config_dict={
            "data_path": str(root),
            "dataset": "synthetic",
            "MAX_ITEM_LIST_LENGTH": length,
            "hidden_size": 64,
            "use_gpu": False,
            "save_dataset": False,
            "show_progress": False,
            "user_inter_num_interval": "[0,inf)",
            "item_inter_num_interval": "[0,inf)",
            **props,
        },
    )
    init_seed(2020, config["reproducibility"])  # RecBole's default True: cudnn deterministic, no benchmark
    return get_model(model)(config, create_dataset(config)).eval()


def timed(step, repeats: int, warmup: int = 3) -> list[float]:
    for _ in range(warmup):
        step()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append((time.perf_counter() - start) * 1000)
    return times


def re_encode(model: torch.nn.Module, history: torch.Tensor):
    interaction = {model.ITEM_SEQ: history.view(1, -1), model.ITEM_SEQ_LEN: torch.tensor([history.numel()])}

    def step() -> None:
        torch.topk(model.full_sort_predict(interaction), TOPK)

    return step


def streaming(model: torch.nn.Module, history: torch.Tensor):
    state = None
    for item in history:  # the user's state after their whole history
        _, state = model.step(item.view(1), state)
    next_item = history[:1]

    def step() -> None:
        # one update from the same state each time (the state is replaced, not grown)
        output, _ = model.step(next_item, state)
        torch.topk(model.score_all_items(output), TOPK)

    return step, state


METHODS = {  # name: (model, properties, streaming or full re-encoding)
    "xLSTM4Rec streaming (mLSTM x2)": ("xLSTM4Rec", {"slstm_at": []}, "stream"),
    "xLSTM4Rec streaming (mLSTM + sLSTM)": ("xLSTM4Rec", {"slstm_at": [1]}, "stream"),
    "xLSTM4Rec re-encode, parallel mLSTM": ("xLSTM4Rec", {"xlstm_backend": "torch"}, "full"),
    "xLSTM4Rec re-encode, chunkwise mLSTM": ("xLSTM4Rec", {"xlstm_backend": "torch_chunkwise"}, "full"),
    "SASRec re-encode": ("SASRec", {"n_layers": 2, "n_heads": 2}, "full"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[50, 200, 1000])
    parser.add_argument("--repeats", type=int, default=50, help="timed runs per method and round")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--output", default=str(Path(__file__).resolve().parent / "results" / "streaming_latency"))
    args = parser.parse_args()
    sys.argv = sys.argv[:1]  # RecBole's Config would read these flags as its properties
    torch.set_num_threads(args.threads)

    rows = []
    with tempfile.TemporaryDirectory() as tmp, torch.inference_mode():
        root = write_catalogue(Path(tmp))
        generator = torch.Generator().manual_seed(0)
        steps = {}  # (length, method) -> (timed function, memory per user)
        for length in args.lengths:
            history = torch.randint(1, N_ITEMS + 1, (length,), generator=generator)
            for name, (model_name, props, how) in METHODS.items():
                model = build(model_name, length, root, **props)
                if how == "stream":
                    step, state = streaming(model, history)
                    steps[length, name] = (step, tensor_bytes(state))
                else:  # re-encoding keeps the history: its item ids (int64)
                    steps[length, name] = (re_encode(model, history), length * 8)
        # rounds interleave the methods, so that a slow spell of this shared machine hits them all
        times = {key: [] for key in steps}
        for round_ in range(args.rounds):
            for key, (step, _) in steps.items():
                times[key] += timed(step, args.repeats)
            print(f"round {round_ + 1}/{args.rounds} done", flush=True)
        for (length, name), (_, memory) in steps.items():
            samples = sorted(times[length, name])
            rows.append(
                {
                    "history": length,
                    "method": name,
                    "median_ms": statistics.median(samples),
                    "p90_ms": samples[int(0.9 * (len(samples) - 1))],
                    "per_user_memory_bytes": memory,
                }
            )
            print(f"L={length:5d}  {name:40s} median {rows[-1]['median_ms']:8.2f} ms", flush=True)

    for row in rows:
        stream = next(
            r for r in rows if r["history"] == row["history"] and r["method"] == "xLSTM4Rec streaming (mLSTM x2)"
        )
        row["x_streaming_mlstm"] = row["median_ms"] / stream["median_ms"]
    write_results(Path(args.output), rows, args)


def write_results(output: Path, rows: list[dict], args: argparse.Namespace) -> None:
    output.parent.mkdir(parents=True, exist_ok=True)
    with open(output.with_suffix(".csv"), "w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    env = environment()
    lines = [
        "# Per-user update latency: streaming xLSTM4Rec against re-encoding the history",
        "",
        f"`python benchmarks/streaming_latency.py` ({date.today().isoformat()}): one new interaction of one user "
        f"-> scores for all {N_ITEMS} items -> top {TOPK}. Median and 90th percentile of {args.rounds} rounds x "
        f"{args.repeats} timed runs (each after 3 warm-up runs; the rounds interleave the methods), torch on "
        f"{args.threads} thread{'s' if args.threads > 1 else ''}, eager, untrained models (hidden 64, 2 blocks "
        "or layers; MAX_ITEM_LIST_LENGTH = the history length). 'x streaming' divides by the mLSTM streaming "
        "time at the same length.",
        "",
        machine_line(env),
        "",
        "| history | method | median ms | p90 ms | x streaming | memory per user |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['history']} | {row['method']} | {row['median_ms']:.2f} | {row['p90_ms']:.2f} | "
            f"{row['x_streaming_mlstm']:.1f} | {row['per_user_memory_bytes'] / 1024:.1f} KiB |"
        )
    lines += [
        "",
        "Memory per user: the recurrent state for streaming (fixed), the history's item ids for re-encoding "
        "(it grows with the history; the activations of a re-encoding pass are not counted).",
    ]
    output.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print(f"wrote {output.with_suffix('.md')} and .csv")


if __name__ == "__main__":
    main()
