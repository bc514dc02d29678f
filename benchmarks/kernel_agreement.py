"""How far the fast forms of xLSTM4Rec's blocks are from the parallel (reference) form, measured.

    python benchmarks/kernel_agreement.py [--output benchmarks/results/kernel_agreement_cpu]

- mLSTM cell: mlstm_kernels' native chunkwise kernel (CPU and GPU) and its Triton chunkwise kernel (GPU)
  against the xlstm package's ``parallel_stabilized_simple``: outputs and the gradients of q, k, v and the
  gate pre-activations, for lengths that are and are not multiples of the chunk.
- Whole model: xLSTM4Rec with ``xlstm_backend: cuda`` (Triton mLSTM; CUDA sLSTM where it builds) against the
  same weights with ``torch``: scores for all items, and the loss's gradients.
- Recurrent form: ``xLSTM4Rec.step`` item by item against ``forward`` over the whole sequence.
tests/test_model.py, tests/test_streaming.py and tests/test_gpu_kernels.py assert the tolerances; this script
reports the numbers behind them.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from datetime import date
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))  # streaming_latency's model builder

from recbole_xlstm.model.backends import (  # noqa: E402
    NATIVE_CHUNKWISE_KERNEL,
    TRITON_CHUNKWISE_KERNEL,
    ChunkwiseMLSTM,
)

TOLERANCE = {"native": 1e-4, "triton": 1e-2}  # max |difference| / max |reference|, asserted by the tests


def cell_inputs(length: int, device: str, seed: int = 0) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(2, 4, length, 32, generator=generator) for _ in range(3))
    igate = torch.randn(2, 4, length, 1, generator=generator)
    fgate = torch.randn(2, 4, length, 1, generator=generator) + 3.0
    return [t.to(device).requires_grad_() for t in (q, k, v, igate, fgate)]


def relative_error(got: torch.Tensor, expected: torch.Tensor) -> float:
    return ((got.float() - expected.float()).abs().max() / expected.float().abs().max().clamp_min(1e-12)).item()


def per_head_norm(h: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.layer_norm(h, h.shape[-1:])


def compare_cell(kernel_name: str, length: int, device: str, chunk_size: int = 64) -> dict:
    """Relative max error of a chunkwise kernel's output and input gradients against the parallel form.

    Gradients are taken through a per-head layer norm of the cell's output, as the mLSTM layer applies one
    (xlstm's MultiHeadLayerNorm). mlstm_kernels 2.0.6's custom backward passes skip the gradient of the
    normaliser "as it cancels out in the forward in the groupnorm" (torch/chunkwise/native/bw.py): without
    the norm, their q/k/gate gradients differ from the parallel form's by O(1) (measured: 0.5 to 1.4 relative).
    """
    from xlstm.blocks.mlstm.backends import parallel_stabilized_simple

    inputs = cell_inputs(length, device)
    reference = parallel_stabilized_simple(*inputs)
    upstream = torch.randn_like(reference)
    reference_grads = torch.autograd.grad(per_head_norm(reference), inputs, upstream)
    inputs = cell_inputs(length, device)
    got = ChunkwiseMLSTM(kernel_name, chunk_size)(*inputs)
    grads = torch.autograd.grad(per_head_norm(got), inputs, upstream)
    return {
        "what": f"mLSTM cell {kernel_name} vs parallel",
        "device": device,
        "length": length,
        "output": relative_error(got, reference),
        "gradients": max(relative_error(g, r) for g, r in zip(grads, reference_grads)),
    }


def build_pair(device: str, length: int, slstm_at: list[int], root: Path, **extra) -> tuple:
    """Two xLSTM4Rec models with the same weights: backend torch, and backend cuda (or torch_chunkwise on CPU).
    ``extra``: more xLSTM4Rec properties for both (e.g. mlstm_feedforward)."""
    from streaming_latency import build, write_catalogue

    write_catalogue(root)
    fast_backend = "cuda" if device == "cuda" else "torch_chunkwise"
    props = {"use_gpu": device == "cuda", "slstm_at": slstm_at, "xlstm_compile": False, "dropout_prob": 0.0, **extra}
    reference = build("xLSTM4Rec", length, root, xlstm_backend="torch", **props).to(device)
    fast = build("xLSTM4Rec", length, root, xlstm_backend=fast_backend, **props).to(device)
    fast.load_state_dict(reference.state_dict())
    return reference, fast


def compare_models(device: str, length: int, slstm_at: list[int], **extra) -> dict:
    from streaming_latency import N_ITEMS

    with tempfile.TemporaryDirectory() as tmp:
        reference, fast = build_pair(device, length, slstm_at, Path(tmp), **extra)
    generator = torch.Generator().manual_seed(1)
    interaction = {
        reference.ITEM_SEQ: torch.randint(1, N_ITEMS + 1, (8, length), generator=generator).to(device),
        reference.ITEM_SEQ_LEN: torch.randint(1, length + 1, (8,), generator=generator).to(device),
        reference.POS_ITEM_ID: torch.randint(1, N_ITEMS + 1, (8,), generator=generator).to(device),
    }
    blocks = f"sLSTM at {slstm_at}" if slstm_at else "mLSTM only"
    blocks += "".join(f", {name} {value}" for name, value in extra.items())
    row = {"what": f"xLSTM4Rec ({blocks}) {fast.backend_used} vs torch", "device": device, "length": length}
    with torch.no_grad():
        row["output"] = relative_error(
            fast.eval().full_sort_predict(interaction), reference.eval().full_sort_predict(interaction)
        )
    grads = []
    for model in (reference, fast):
        model.train()
        model.zero_grad()
        model.calculate_loss(interaction).backward()
        grads.append([p.grad for p in model.parameters() if p.grad is not None])
    row["gradients"] = max(relative_error(g, r) for g, r in zip(grads[1], grads[0]))
    return row


def compare_recurrent(device: str, length: int, slstm_at: list[int] | None = None, **extra) -> dict:
    from streaming_latency import N_ITEMS

    with tempfile.TemporaryDirectory() as tmp:
        reference, _ = build_pair(device, length, slstm_at or [], Path(tmp), **extra)
    reference.eval()
    items = torch.randint(1, N_ITEMS + 1, (4, length), generator=torch.Generator().manual_seed(2)).to(device)
    with torch.no_grad():
        expected = reference.forward(items, torch.full((4,), length, device=device))
        state = None
        for t in range(length):
            got, state = reference.step(items[:, t], state)
    return {
        "what": "xLSTM4Rec step (recurrent) vs forward (parallel)",
        "device": device,
        "length": length,
        "output": relative_error(got, expected),
        "gradients": None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--output", default=None, help="default: benchmarks/results/kernel_agreement_<device>")
    parser.add_argument("--lengths", type=int, nargs="+", default=[50, 200])
    args = parser.parse_args()
    sys.argv = sys.argv[:1]  # RecBole's Config reads the command line
    checks = []
    for length in args.lengths:
        checks.append(lambda n=length: compare_cell(NATIVE_CHUNKWISE_KERNEL, n, args.device))
        if args.device == "cuda":
            checks.append(lambda n=length: compare_cell(TRITON_CHUNKWISE_KERNEL, n, args.device))
        checks.append(lambda n=length: compare_models(args.device, n, []))
        checks.append(lambda n=length: compare_recurrent(args.device, n))
    # last: on a GPU this builds the sLSTM CUDA kernel (nvcc), which may fail or take minutes
    checks.append(lambda: compare_models(args.device, 50, [1]))
    output = Path(args.output or REPO / "benchmarks" / "results" / f"kernel_agreement_{args.device}")
    output.parent.mkdir(parents=True, exist_ok=True)
    rows = []
    for check in checks:
        try:
            row = check()
        except Exception as error:  # a kernel that does not build here is a result too
            row = {"what": "failed", "error": f"{type(error).__name__}: {str(error)[:300]}"}
        rows.append(row)
        print(json.dumps(row), flush=True)
        write(output, rows, args.device)


def write(output: Path, rows: list[dict], device: str) -> None:
    from recbole_xlstm import environment, machine_line

    env = environment()
    output.with_suffix(".json").write_text(json.dumps({"environment": env, "rows": rows}, indent=1))

    def num(value) -> str:
        return "-" if value is None else f"{value:.2e}"

    lines = [
        f"# Fast forms of the xLSTM blocks against the parallel form ({device})",
        "",
        f"`python benchmarks/kernel_agreement.py --device {device}` ({date.today().isoformat()}). Relative error: "
        "max |fast - reference| / max |reference|, for the output and (worst over all tensors) the gradients. "
        f"Asserted in tests: native chunkwise {TOLERANCE['native']:g}, Triton {TOLERANCE['triton']:g} "
        "(tests/test_kernel_agreement.py), recurrent step 1e-4 (tests/test_streaming.py).",
        "",
        machine_line(env),
        "",
        "| what | length | output | gradients |",
        "|---|---|---|---|",
    ]
    for row in rows:
        if row["what"] == "failed":
            lines.append(f"| failed: {row['error']} | | | |")
        else:
            lines.append(f"| {row['what']} | {row['length']} | {num(row['output'])} | {num(row['gradients'])} |")
    output.with_suffix(".md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
