"""What RecBole 1.2.1's sine.py costs: eager forward + backward of one training batch with torch's
anomaly mode on (as importing RecBole's sequential models leaves it) and off (as recbole_xlstm.compat
puts it back), for xLSTM4Rec, SASRec and GRU4Rec.

    python benchmarks/anomaly_mode_cost.py

Batch 256, length 50, hidden 64, CE loss over 1682 items, untrained models, eager (xLSTM4Rec's
torch.compile off), torch on 2 threads. On and off alternate twice, 5 timed steps each after 3
warm-up steps; the medians are printed. docs/compat.md links here.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from streaming_latency import N_ITEMS, build, write_catalogue  # noqa: E402


def main() -> None:
    sys.argv = sys.argv[:1]
    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as tmp:
        root = write_catalogue(Path(tmp))
        for name, props in [("xLSTM4Rec", {"xlstm_compile": False}), ("SASRec", {}), ("GRU4Rec", {})]:
            model = build(name, 50, root, loss_type="CE", train_neg_sample_args=None, **props).train()
            generator = torch.Generator().manual_seed(0)
            batch = {
                model.ITEM_SEQ: torch.randint(1, N_ITEMS + 1, (256, 50), generator=generator),
                model.ITEM_SEQ_LEN: torch.full((256,), 50),
                model.POS_ITEM_ID: torch.randint(1, N_ITEMS + 1, (256,), generator=generator),
            }
            times: dict[bool, list[float]] = {True: [], False: []}
            for anomaly in (True, False, True, False):
                torch.autograd.set_detect_anomaly(anomaly)
                for step in range(8):
                    began = time.perf_counter()
                    model.calculate_loss(batch).backward()
                    if step >= 3:
                        times[anomaly].append((time.perf_counter() - began) * 1000)
            torch.autograd.set_detect_anomaly(False)
            on, off = statistics.median(times[True]), statistics.median(times[False])
            print(f"{name}: forward+backward {on:.0f} ms with anomaly mode, {off:.0f} ms without: {on / off:.2f}x")
    print(f"torch {torch.__version__}, 2 threads")


if __name__ == "__main__":
    main()
