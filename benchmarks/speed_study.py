"""Training and inference speed of xLSTM4Rec against SASRec and GRU4Rec at sequence lengths 50, 200 and 1000.

    python benchmarks/speed_study.py                      # CPU: benchmarks/results/speed_cpu.{md,csv}
    python benchmarks/speed_study.py --device cuda        # GPU: benchmarks/results/speed_cuda.{md,csv}
    python benchmarks/speed_study.py --lengths 20 --repeats 2 --output /tmp/quick   # a smoke run

For every (model, length) a fresh child process builds the model (hidden size 64, 2 blocks or layers,
MAX_ITEM_LIST_LENGTH = the length, a synthetic catalogue of 1682 items), runs warm-up steps (torch.compile
and Triton compile there) and then times, on synthetic full-length sequences:
- a training step: ``calculate_loss`` (CE over all items) + backward + Adam step, per batch;
- inference: ``full_sort_predict`` (scores for all items) under no_grad, per batch;
- peak memory of the training step: CUDA's max_memory_allocated on a GPU; on CPU the growth of the
  process's peak RSS over what it held before the first step (ru_maxrss);
- one profiled training step: its operator count and, on a GPU, its kernel count and GPU busy time, which
  tell a launch-bound step from a compute-bound one.
A training epoch is (number of batches) x (this step) plus RecBole's data loading, which is the same for
every model, so the step's ratio to SASRec's is the per-epoch ratio. The children run one after another;
ratios divide by SASRec's median at the same length in the same run.
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

# name: (RecBole model, properties, devices it runs on)
VARIANTS = {
    "SASRec": ("SASRec", {"n_layers": 2, "n_heads": 2, "inner_size": 256}, ("cpu", "cuda")),
    "GRU4Rec": ("GRU4Rec", {"embedding_size": 64, "num_layers": 1}, ("cpu", "cuda")),
    "xLSTM4Rec parallel, compiled": ("xLSTM4Rec", {"xlstm_backend": "torch", "xlstm_compile": True}, ("cpu",)),
    "xLSTM4Rec chunkwise, compiled": (
        "xLSTM4Rec",
        {"xlstm_backend": "torch_chunkwise", "xlstm_compile": True},
        ("cpu",),
    ),
    "xLSTM4Rec parallel, eager": ("xLSTM4Rec", {"xlstm_backend": "torch", "xlstm_compile": False}, ("cuda",)),
    "xLSTM4Rec Triton chunkwise, eager": ("xLSTM4Rec", {"xlstm_backend": "cuda", "xlstm_compile": False}, ("cuda",)),
    "xLSTM4Rec Triton chunkwise, compiled": (
        "xLSTM4Rec",
        {"xlstm_backend": "cuda", "xlstm_compile": True},
        ("cuda",),
    ),
}
# Run only when --variants names them: what a GPU step spends its time on, one change at a time (at the
# same length and batch as SASRec's row). "reproducibility": RecBole's flag (default True), which sets
# cudnn.deterministic and turns cudnn.benchmark off. "amp": the step under torch.autocast, as RecBole's
# enable_amp does (float16 on a GPU, bfloat16 on CPU).
PROBE_VARIANTS = {
    "SASRec, cudnn.benchmark": ("SASRec", {**VARIANTS["SASRec"][1], "reproducibility": False}, ("cuda",)),
    "SASRec, AMP": ("SASRec", {**VARIANTS["SASRec"][1], "amp": True}, ("cuda",)),
    "xLSTM4Rec Triton chunkwise, eager, cudnn.benchmark": (
        "xLSTM4Rec",
        {"xlstm_backend": "cuda", "xlstm_compile": False, "reproducibility": False},
        ("cuda",),
    ),
    **{
        f"xLSTM4Rec Triton chunkwise, eager, chunk {chunk}": (
            "xLSTM4Rec",
            {"xlstm_backend": "cuda", "xlstm_compile": False, "mlstm_chunk_size": chunk},
            ("cuda",),
        )
        for chunk in (16, 32, 128)  # on CPU the native kernel is fastest at 16 (below); Triton keeps 64 until timed
    },
    "xLSTM4Rec Triton chunkwise, eager, AMP": (
        "xLSTM4Rec",
        {"xlstm_backend": "cuda", "xlstm_compile": False, "amp": True},
        ("cuda",),
    ),
    "xLSTM4Rec parallel, compiled, cuda": ("xLSTM4Rec", {"xlstm_backend": "torch", "xlstm_compile": True}, ("cuda",)),
    # The block order that leads on amazon-beauty's validation (docs/results.md): the first block sLSTM, whose CPU form
    # is xlstm's Python loop over time, so its cost grows with the length unlike the mLSTM rows'.
    **{
        f"xLSTM4Rec sLSTM first, {form}, compiled": (
            "xLSTM4Rec",
            {**VARIANTS[f"xLSTM4Rec {form}, compiled"][1], "slstm_at": [0]},
            ("cpu",),
        )
        for form in ("parallel", "chunkwise")
    },
    # mlstm_kernels' chunkwise kernels pad the length to a multiple of the chunk: at length 200 a chunk of 64
    # computes 256 positions, one of 16 computes 208 (in 13 chunks instead of 4). "xLSTM4Rec chunkwise, compiled"
    # runs the native kernel's default chunk (backends.DEFAULT_CHUNK_SIZE).
    **{
        f"xLSTM4Rec chunkwise, compiled, chunk {chunk}": (
            "xLSTM4Rec",
            {**VARIANTS["xLSTM4Rec chunkwise, compiled"][1], "mlstm_chunk_size": chunk},
            ("cpu",),
        )
        for chunk in (16, 32, 64, 128)
    },
}
ALL_VARIANTS = {**VARIANTS, **PROBE_VARIANTS}
TOP_KERNELS = 8  # per row, in the profile's kernel list
CPU_MEMORY_LIMIT_BYTES = 16 * 2**30  # a child past this fails with an allocation error instead of swapping the box


def measure(variant: str, length: int, batch: int, device: str, repeats: int, warmup: int) -> dict:
    """Runs in the child: build, warm up, time. Returns one row."""
    import torch
    from streaming_latency import N_ITEMS, build, write_catalogue

    model_name, props, _ = ALL_VARIANTS[variant]
    props = dict(props)
    amp = props.pop("amp", False)
    on_gpu = device == "cuda"
    with tempfile.TemporaryDirectory() as tmp:
        model = build(model_name, length, write_catalogue(Path(tmp)), use_gpu=on_gpu, hidden_size=64, **props)
    model = model.to(device).train()
    generator = torch.Generator().manual_seed(0)
    interaction = {
        model.ITEM_SEQ: torch.randint(1, N_ITEMS + 1, (batch, length), generator=generator).to(device),
        model.ITEM_SEQ_LEN: torch.full((batch,), length).to(device),
        model.POS_ITEM_ID: torch.randint(1, N_ITEMS + 1, (batch,), generator=generator).to(device),
    }
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    def sync() -> None:
        if on_gpu:
            torch.cuda.synchronize()

    def autocast():
        return torch.autocast(device_type=device, enabled=amp)

    def train_step() -> None:
        optimizer.zero_grad()
        with autocast():
            loss = model.calculate_loss(interaction)
        loss.backward()
        optimizer.step()

    @torch.no_grad()
    def inference() -> None:
        with autocast():
            model.full_sort_predict(interaction)

    def timed(step, training: bool) -> tuple[list[float], float]:
        model.train(training)
        start = time.perf_counter()
        for _ in range(warmup):
            step()
        sync()
        warmup_s = time.perf_counter() - start
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            step()
            sync()
            times.append((time.perf_counter() - start) * 1000)
        return times, warmup_s

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    if on_gpu:
        torch.cuda.reset_peak_memory_stats()
        allocated_before = torch.cuda.memory_allocated()
    train_ms, warmup_s = timed(train_step, training=True)
    if on_gpu:
        peak = torch.cuda.max_memory_allocated() - allocated_before
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - rss_before
    infer_ms, _ = timed(inference, training=False)
    model.train()  # inference left it in eval mode; the profiled step must train as the timed ones did
    return {
        "device": device,
        "length": length,
        "batch": batch,
        "variant": variant,
        "train_ms": statistics.median(train_ms),
        "samples_per_s": batch / statistics.median(train_ms) * 1000,
        "infer_ms": statistics.median(infer_ms),
        "peak_mem_mib": peak / 2**20,
        "warmup_s": warmup_s,
        "params": sum(p.numel() for p in model.parameters()),
        "backend": getattr(model, "backend_used", "-"),
        "threads": torch.get_num_threads(),
        **profile_step(train_step, sync, on_gpu),
        "status": "ok",
    }


def profile_step(step, sync, on_gpu: bool) -> dict:
    """One more training step under torch.profiler: the operators it dispatches (top-level aten calls, from
    Python and from autograd) and, on a GPU, the kernels it launches and the time they keep the GPU busy.
    Busy time well under the step's wall time means the step waits on launching work, not on the GPU."""
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if on_gpu else [])
    try:
        with profile(activities=activities) as profiled:
            step()
            sync()
        events = profiled.events()
    except Exception as error:  # a profiler failure must not cost the row its timings
        return {"profile": f"failed: {type(error).__name__}: {str(error)[:120]}"}

    ops = top_level_aten_ops(events)
    kernels = [e for e in events if e.device_type == DeviceType.CUDA]
    return {
        "ops_per_step": len(ops),
        "kernels_per_step": len(kernels) if on_gpu else None,
        "gpu_busy_ms": sum(e.time_range.elapsed_us() for e in kernels) / 1000 if on_gpu else None,
        "top_kernels": top_kernels(kernels) if on_gpu else [],
        "profile": "ok",
    }


def top_level_aten_ops(events) -> list:
    """The profiled aten operators not called from inside another aten operator: what Python and autograd
    dispatched, each a launch (or more) on a GPU."""

    def is_aten(event) -> bool:
        return event is not None and event.name.startswith("aten::")

    return [e for e in events if is_aten(e) and not is_aten(e.cpu_parent)]


def top_kernels(kernels: list, count: int = TOP_KERNELS) -> list[dict]:
    """The kernels that kept the GPU busiest in the profiled step, summed by name."""
    by_name: dict[str, list[float]] = {}
    for kernel in kernels:
        total = by_name.setdefault(kernel.name, [0.0, 0])
        total[0] += kernel.time_range.elapsed_us() / 1000
        total[1] += 1
    ranked = sorted(by_name.items(), key=lambda item: -item[1][0])[:count]
    return [{"name": name, "ms": ms, "calls": calls} for name, (ms, calls) in ranked]


def run_child(variant: str, length: int, batch: int, device: str, args: argparse.Namespace) -> dict:
    command = [
        sys.executable, __file__, "--child", variant, "--device", device, "--lengths", str(length),
        "--repeats", str(args.repeats), "--warmup", str(args.warmup), "--batch", str(batch),
    ]  # fmt: skip
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=args.child_timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"status": f"not finished in {args.child_timeout} s"}
    for line in reversed(done.stdout.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
    return {"status": f"failed: {tail[:160]}"}


def batch_for(length: int, device: str, args: argparse.Namespace) -> int:
    # On this 2-core CPU box a batch of 256 at length 1000 needs tens of GiB for the O(L^2) forms.
    return args.long_batch if (length >= 1000 and device == "cpu") else args.batch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--lengths", type=int, nargs="+", default=[50, 200, 1000])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--long_batch", type=int, default=64, help="CPU batch at length >= 1000")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--child_timeout", type=int, default=900)
    parser.add_argument("--variants", nargs="+", default=None, help="a subset of the variants")
    parser.add_argument("--output", default=None, help="default: benchmarks/results/speed_<device>")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        if args.device == "cpu":
            resource.setrlimit(resource.RLIMIT_AS, (CPU_MEMORY_LIMIT_BYTES, CPU_MEMORY_LIMIT_BYTES))
        sys.argv = sys.argv[:1]  # RecBole's Config would read these flags as its properties
        print(json.dumps(measure(args.child, args.lengths[0], args.batch, args.device, args.repeats, args.warmup)))
        return

    # an explicit --variants runs those anywhere (the tests run the GPU rows' eager forms on CPU)
    variants = args.variants or [v for v in VARIANTS if args.device in VARIANTS[v][2]]
    unknown = [v for v in variants if v not in ALL_VARIANTS]
    if unknown:
        parser.error(f"unknown --variants {unknown}; choose from {list(ALL_VARIANTS)}")
    output = Path(args.output or REPO / "benchmarks" / "results" / f"speed_{args.device}")
    args.command = shlex.join(["python", "benchmarks/speed_study.py", *sys.argv[1:]])  # quoted: it can be rerun
    rows = []
    for length in args.lengths:
        for variant in variants:
            batch = batch_for(length, args.device, args)
            row = {"device": args.device, "length": length, "batch": batch, "variant": variant}
            row.update(run_child(variant, length, batch, args.device, args))
            rows.append(row)
            print(json.dumps(row), flush=True)
            add_ratios(rows)
            write_results(output, rows, args)  # after every row: a run cut short keeps what it measured


def add_ratios(rows: list[dict]) -> None:
    for row in rows:
        sasrec = next((r for r in rows if r["length"] == row["length"] and r["variant"] == "SASRec"), None)
        ok = row["status"] == "ok" and sasrec is not None and sasrec["status"] == "ok"
        row["train_x_sasrec"] = row["train_ms"] / sasrec["train_ms"] if ok else None
        row["infer_x_sasrec"] = row["infer_ms"] / sasrec["infer_ms"] if ok else None


FIELDS = [
    "device", "length", "batch", "variant", "train_ms", "train_x_sasrec", "samples_per_s", "infer_ms",
    "infer_x_sasrec", "peak_mem_mib", "warmup_s", "params", "backend", "threads", "ops_per_step", "kernels_per_step",
    "gpu_busy_ms", "profile", "status",
]  # fmt: skip


def write_results(output: Path, rows: list[dict], args: argparse.Namespace) -> None:
    from recbole_xlstm import environment, machine_line

    output.parent.mkdir(parents=True, exist_ok=True)
    with open(output.with_suffix(".csv"), "w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=FIELDS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    env = environment()

    def num(value, fmt: str) -> str:
        return "-" if value is None else format(value, fmt)

    memory = "CUDA max_memory_allocated" if args.device == "cuda" else "growth of the process's peak RSS"
    lines = [
        f"# Speed: xLSTM4Rec against SASRec and GRU4Rec ({args.device})",
        "",
        f"`{args.command}` ({date.today().isoformat()}). Synthetic "
        "full-length sequences over 1682 items, hidden size 64, 2 blocks/layers, CE loss over all items. "
        f"Medians of {args.repeats} steps after {args.warmup} warm-up steps, each model in its own process, "
        "one after another. 'x SASRec' divides by SASRec's median at the same length in this run: a training "
        "epoch is batches x step, so it is also the per-epoch ratio. Peak memory of a training step: "
        f"{memory}. One more training step runs under torch.profiler: ops/step counts its top-level aten "
        "operators (forward, backward, optimizer); on a GPU, kernels/step the kernels (and copies) it "
        "launched and GPU busy the sum of their durations (well under train ms: the step waits on launches, "
        "not on the GPU).",
        "",
        machine_line(env),
        "",
        "| length | batch | model | train ms/batch | x SASRec | samples/s | inference ms/batch | x SASRec "
        "| peak MiB | warm-up s | ops/step | kernels/step | GPU busy ms/step | status |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        status = r["status"] if r.get("profile", "ok") == "ok" else f"{r['status']} (profile {r['profile']})"
        lines.append(
            f"| {r['length']} | {r['batch']} | {r['variant']} | {num(r.get('train_ms'), '.1f')} | "
            f"{num(r.get('train_x_sasrec'), '.2f')} | {num(r.get('samples_per_s'), '.0f')} | "
            f"{num(r.get('infer_ms'), '.1f')} | {num(r.get('infer_x_sasrec'), '.2f')} | "
            f"{num(r.get('peak_mem_mib'), '.0f')} | {num(r.get('warmup_s'), '.1f')} | "
            f"{num(r.get('ops_per_step'), 'd')} | {num(r.get('kernels_per_step'), 'd')} | "
            f"{num(r.get('gpu_busy_ms'), '.1f')} | {status} |"
        )
    backends = sorted({(r["variant"], r.get("backend")) for r in rows if r.get("backend") not in (None, "-")})
    if backends:
        lines += ["", "What ran the xLSTM blocks:", ""] + [f"- {v}: {b}" for v, b in backends]
    profiled = [r for r in rows if r.get("top_kernels")]
    if profiled:
        lines += [
            "",
            "## Where the GPU time of the profiled training step goes",
            "",
            f"The {TOP_KERNELS} kernels with the most GPU time, summed by name (names cut at 90 characters).",
            "",
            "| length | batch | model | kernel | calls | ms | share of GPU busy |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in profiled:
            for k in r["top_kernels"]:
                share = k["ms"] / r["gpu_busy_ms"] if r.get("gpu_busy_ms") else 0
                name = k["name"].replace("|", "/")[:90]
                lines.append(
                    f"| {r['length']} | {r['batch']} | {r['variant']} | `{name}` | {k['calls']} | "
                    f"{k['ms']:.2f} | {share:.0%} |"
                )
    output.with_suffix(".md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
