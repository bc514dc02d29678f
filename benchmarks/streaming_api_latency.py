"""End-to-end latency of the Python API on a real checkpoint: StreamingRecommender.add (one interaction
-> new top-k, titles and all) against Recommender.for_user (re-reads the user's last
MAX_ITEM_LIST_LENGTH items).

    python benchmarks/streaming_api_latency.py --checkpoint=saved/xLSTM4Rec-....pth [--user=196]

One thread. The user starts from their dataset history, gets 5 untimed random interactions, then
``--adds`` timed ones (so the history grows by that much), then ``--reads`` timed for_user calls.
Prints one line; docs/recommend.md (Streaming) quotes it.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from recbole_xlstm.serving.streaming import StreamingRecommender  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--user", default="196")
    parser.add_argument("--adds", type=int, default=300)
    parser.add_argument("--reads", type=int, default=100)
    args = parser.parse_args()
    sys.argv = sys.argv[:1]  # RecBole reads the command line as its properties
    torch.set_num_threads(1)

    stream = StreamingRecommender.from_checkpoint(args.checkpoint, device="cpu")
    recommender = stream.recommender
    items = [recommender.raw_item(i) for i in range(1, recommender.dataset.item_num)]
    rng = random.Random(0)
    stream.recommend(args.user)  # its state, from the dataset history
    for _ in range(5):
        stream.add(args.user, rng.choice(items))
    start_length = stream.state(args.user).length

    adds = []
    for _ in range(args.adds):
        item = rng.choice(items)
        began = time.perf_counter()
        stream.add(args.user, item)
        adds.append((time.perf_counter() - began) * 1000)
    reads = []
    for _ in range(args.reads):
        began = time.perf_counter()
        recommender.for_user(args.user)
        reads.append((time.perf_counter() - began) * 1000)
    print(
        f"user {args.user}: StreamingRecommender.add median {statistics.median(adds):.2f} ms "
        f"(p90 {sorted(adds)[int(0.9 * (len(adds) - 1))]:.2f}) while the history grew from {start_length} to "
        f"{stream.state(args.user).length}; Recommender.for_user median {statistics.median(reads):.2f} ms; "
        f"state {stream.state(args.user).nbytes() / 1024:.1f} KiB; torch {torch.__version__}, 1 thread"
    )


if __name__ == "__main__":
    main()
