"""xLSTM4Rec's default run on ml-100k next to Pop and SASRec, through run_recbole_xlstm.py.

    python benchmarks/foundation_ml100k.py [--models xLSTM4Rec SASRec Pop]

Each model runs in its own process, one after another (time nothing else meanwhile), with the
same settings: xLSTM4Rec's training defaults (batch 256, at most 10 epochs, early stop after 3
evaluations without gain) and the leave-one-out, time-ordered, full-ranking protocol given
explicitly (RecBole gives general models such as Pop a random split otherwise).
Writes benchmarks/results/foundation_ml100k.md and .csv.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
SETTINGS = [
    "--dataset=ml-100k",
    "--train_batch_size=256",
    "--epochs=10",
    "--stopping_step=3",
    "--eval_args={'split':{'LS':'valid_and_test'},'order':'TO','mode':'full'}",
    "--show_progress=False",
]
METRICS = ["recall@10", "mrr@10", "ndcg@10"]


def parse(log: str) -> dict:
    def metrics(tag: str) -> dict:
        line = re.search(rf"{tag}\s*:\s*OrderedDict\((.*)\)", log)
        return {k: float(v) for k, v in re.findall(r"\('([\w@]+)', ([0-9.e-]+)\)", line.group(1))} if line else {}

    epoch_times = [float(t) for t in re.findall(r"epoch \d+ training \[time: ([0-9.]+)s", log)]
    return {
        "valid": metrics("best valid "),
        "test": metrics("test result"),
        "epochs": len(epoch_times),
        "sec_per_epoch": sum(epoch_times) / len(epoch_times) if epoch_times else float("nan"),
        "backend": (re.search(r"xLSTM backend\S*: (.*)", log) or [None, "-"])[1],
    }


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def versions() -> str:
    code = (
        "import recbole, torch, xlstm, numpy, pandas, sys;"
        "print(f'Python {sys.version.split()[0]}, recbole {recbole.__version__}, torch {torch.__version__}, "
        "xlstm {xlstm.__version__}, numpy {numpy.__version__}, pandas {pandas.__version__}')"
    )
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", nargs="+", default=["xLSTM4Rec", "SASRec", "Pop"])
    args = parser.parse_args()
    rows = []
    for model in args.models:
        start = time.time()
        done = subprocess.run(
            [sys.executable, str(REPO / "run_recbole_xlstm.py"), f"--model={model}", *SETTINGS],
            capture_output=True, text=True, cwd=REPO,
        )
        wall = time.time() - start
        (RESULTS / f"foundation_ml100k_{model}.log").write_text(done.stdout + done.stderr)
        if done.returncode != 0:
            raise SystemExit(f"{model} failed; see benchmarks/results/foundation_ml100k_{model}.log")
        result = parse(done.stdout + done.stderr)
        rows.append({"model": model, "wall_s": round(wall), **result})
        print(model, rows[-1], flush=True)

    header = ["model"] + [f"valid {m}" for m in METRICS] + [f"test {m}" for m in METRICS]
    header += ["epochs run", "s/epoch (train)", "wall s (whole run)"]
    table = []
    for r in rows:
        table.append(
            [r["model"]] + [f"{r['valid'].get(m, float('nan')):.4f}" for m in METRICS]
            + [f"{r['test'].get(m, float('nan')):.4f}" for m in METRICS]
            + [str(r["epochs"]), f"{r['sec_per_epoch']:.1f}", str(r["wall_s"])]
        )
    with open(RESULTS / "foundation_ml100k.csv", "w", newline="") as f:
        csv.writer(f).writerows([header, *table])
    lines = [
        "# ml-100k: xLSTM4Rec's default run next to Pop and SASRec",
        "",
        f"Command: `python benchmarks/foundation_ml100k.py` ({datetime.date.today()}).",
        f"Settings, the same for every model: `{' '.join(SETTINGS)}`; "
        "everything else RecBole's or the model's defaults.",
        f"Hardware: {cpu_name()}, 2 cores, CPU only. Versions: {versions()}.",
        "xLSTM4Rec backend: " + "; ".join(f"{r['model']}: {r['backend']}" for r in rows if r["backend"] != "-"),
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *["| " + " | ".join(row) + " |" for row in table],
        "",
        "valid = the best epoch's validation result (valid_metric MRR@10, RecBole's default); "
        "test = that checkpoint on test.",
    ]
    (RESULTS / "foundation_ml100k.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
