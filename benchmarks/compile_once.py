"""How long the compiled training of a default xLSTM4Rec run spends on its first and last batch, per way of
handling the epoch's last, smaller batch (issue 11):

- ``static``: a graph per batch size (the model before padding): the last batch compiles a second graph;
- ``pad``: the last batch padded to the compiled size (xLSTM4Rec._run_compiled, the shipped way);
- ``dynamic``: one graph with the batch dimension marked dynamic, no padding.

One epoch of ml-100k at the shipped defaults, one process per way (each compiles from an empty cache):

    python benchmarks/compile_once.py --ways static pad dynamic --output benchmarks/results/compile_once.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def one_epoch(way: str) -> dict:
    """Train one epoch in this process the way ``way`` says; the seconds of each training batch."""
    import torch

    import recbole_xlstm  # noqa: F401
    from recbole_xlstm.model import backends, xlstm4rec
    from recbole_xlstm.pipeline import build_trainer, checked_config, prepare

    model_class = xlstm4rec.xLSTM4Rec
    if way in ("static", "dynamic"):
        model_class._run_compiled = lambda self, hidden: self._train_blocks(hidden)
    if way == "dynamic":
        compiled = backends.compiled_for_training

        def dynamic(stack):
            graph = torch.compile(stack.forward, dynamic=None)

            def run(hidden):
                torch._dynamo.mark_dynamic(hidden, 0)
                return graph(hidden)

            return run

        xlstm4rec.compiled_for_training = dynamic
        assert compiled is not dynamic
    config = checked_config(
        model="xLSTM4Rec", dataset="ml-100k",
        config_dict={"epochs": 1, "show_progress": False, "eval_step": 0, "state": "ERROR", "use_gpu": False},
    )  # fmt: skip
    prepared = prepare(config)
    trainer = build_trainer(config, prepared.model)
    times: list[float] = []
    loss = prepared.model.calculate_loss

    def timed(interaction):
        times.append(time.perf_counter())
        return loss(interaction)

    started = time.perf_counter()
    trainer._train_epoch(prepared.train_data, 0, loss_func=timed)
    ended = time.perf_counter()
    steps = [b - a for a, b in zip(times, [*times[1:], ended])]
    return {
        "way": way,
        "batches": len(steps),
        "first_batch_s": round(steps[0], 2),
        "last_batch_s": round(steps[-1], 2),
        "median_batch_s": round(statistics.median(steps[1:-1]), 4),
        "epoch_s": round(ended - started, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ways", nargs="+", default=["static", "pad", "dynamic"])
    parser.add_argument("--output", default=None)
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print("RESULT " + json.dumps(one_epoch(args.one)))
        return
    results = []
    for way in args.ways:
        with tempfile.TemporaryDirectory() as cache:  # each way compiles from nothing, as a new run does
            env = dict(os.environ, TORCHINDUCTOR_CACHE_DIR=cache)
            done = subprocess.run([sys.executable, __file__, "--one", way], env=env, capture_output=True, text=True,
                                  cwd=tempfile.gettempdir())  # fmt: skip
        line = [x for x in done.stdout.splitlines() if x.startswith("RESULT ")]
        if done.returncode or not line:
            sys.exit(f"{way} failed:\n{done.stderr[-3000:]}")
        results.append(json.loads(line[0][7:]))
        print(results[-1], flush=True)
    if args.output:
        from recbole_xlstm.provenance import environment

        Path(args.output).write_text(json.dumps({
            "command": " ".join(["python", *sys.argv]), "date": time.strftime("%Y-%m-%d"),
            "threads": os.environ.get("OMP_NUM_THREADS"), "environment": environment(), "results": results,
        }, indent=1) + "\n")  # fmt: skip


if __name__ == "__main__":
    main()
