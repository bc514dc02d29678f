"""Which kernels run the xLSTM blocks.

- ``torch``: the xlstm package's own pure-torch forms (parallel mLSTM, O(L^2);
  sLSTM "vanilla", a Python loop over time). Runs anywhere.
- ``torch_chunkwise``: mLSTM through mlstm_kernels' native chunkwise kernel (pure torch,
  O(L * chunk)), sLSTM vanilla. Same outputs as ``torch`` to float tolerance; for long sequences.
- ``cuda``: sLSTM through the package's CUDA kernel (compiled with nvcc on first use) and mLSTM
  through mlstm_kernels' chunkwise Triton kernel. Fails loudly if either is missing.
- ``auto``: mLSTM chunkwise (Triton on a GPU, native on CPU) from MAX_ITEM_LIST_LENGTH 200 on a GPU
  and 128 on CPU (CHUNKWISE_FROM_LENGTH), the parallel form below; sLSTM cuda on a GPU where it builds.
  A GPU piece that fails falls back to the torch form with a warning.
"""

from __future__ import annotations

import logging
from typing import Callable

import torch
from torch import nn
from xlstm import xLSTMBlockStack, xLSTMBlockStackConfig
from xlstm.blocks.mlstm.cell import mLSTMCell

from recbole_xlstm.model.blocks import BlockStack
from recbole_xlstm.model.gpu_layers import use_gpu_friendly_layers

BACKENDS = ("auto", "torch", "torch_chunkwise", "cuda")
NATIVE_CHUNKWISE_KERNEL = "chunkwise--native_custbw"
TRITON_CHUNKWISE_KERNEL = "chunkwise--triton_xl_chunk"
# CUDA's largest grid z. mlstm_kernels 2.0.6's Triton chunkwise kernels launch chunks x batch x heads blocks
# along z and fail with "Triton Error [CUDA]: invalid argument" beyond it: ml-1m's full-ranking evaluation
# (4096 users, 4 heads, 200 items in 4 chunks: 65,536) did, on an H200.
CUDA_MAX_GRID_Z = 65535

logger = logging.getLogger()


# The chunk each kernel runs when mlstm_chunk_size is null: the fastest training step measured for it. Smaller chunks
# pad the sequence less; the measurements are in docs/results.md (Speed) and benchmarks/results/speed_cpu_chunk*.md.
DEFAULT_CHUNK_SIZE = {NATIVE_CHUNKWISE_KERNEL: 16, TRITON_CHUNKWISE_KERNEL: 64}


class ChunkwiseMLSTM:
    """Stands in for ``parallel_stabilized_simple`` as ``mLSTMCell.backend_fn`` (xlstm 2.0.6 has
    no switch for it) and calls a chunkwise kernel of mlstm_kernels instead.

    mlstm_kernels' chunkwise kernels need the length to be a multiple of the chunk size, so the
    sequence is right-padded and cut back: the kernel is causal, so padding after the last
    position changes nothing before it. ``max_grid_z``: the most chunks x batch x heads one call
    may have; a larger batch runs in slices (sequences are independent). ``chunk_size`` None: the
    kernel's DEFAULT_CHUNK_SIZE.
    """

    def __init__(self, kernel_name: str, chunk_size: int | None = None, max_grid_z: int | None = None) -> None:
        from mlstm_kernels.torch import get_mlstm_kernel

        self.kernel_name = kernel_name
        self.kernel = get_mlstm_kernel(kernel_name)
        self.chunk_size = DEFAULT_CHUNK_SIZE[kernel_name] if chunk_size is None else chunk_size
        self.max_grid_z = max_grid_z

    def __call__(
        self,
        queries: torch.Tensor,
        keys: torch.Tensor,
        values: torch.Tensor,
        igate_preact: torch.Tensor,
        fgate_preact: torch.Tensor,
        **kwargs,
    ) -> torch.Tensor:
        batch, heads, seq_len = queries.shape[:3]
        pad = (-seq_len) % self.chunk_size
        chunks = (seq_len + pad) // self.chunk_size
        if self.max_grid_z is not None and batch * heads * chunks > self.max_grid_z:
            if heads * chunks > self.max_grid_z:
                raise ValueError(
                    f"{self.kernel_name}: {heads} heads x {chunks} chunks exceed the kernel's "
                    f"{self.max_grid_z} blocks even for one sequence; raise mlstm_chunk_size."
                )
            step = self.max_grid_z // (heads * chunks)
            inputs = (queries, keys, values, igate_preact, fgate_preact)
            return torch.cat([self(*(t[s : s + step] for t in inputs)) for s in range(0, batch, step)])

        def padded(t: torch.Tensor) -> torch.Tensor:
            # the cell hands over transposed views; Triton kernels index memory as if contiguous
            return nn.functional.pad(t, (0, 0, 0, pad)) if pad else t.contiguous()

        h = self.kernel(
            q=padded(queries),
            k=padded(keys),
            v=padded(values),
            i=padded(igate_preact).squeeze(-1),
            f=padded(fgate_preact).squeeze(-1),
            chunk_size=self.chunk_size,
        )
        return h[:, :, :seq_len]


def use_mlstm_kernel(stack: nn.Module, kernel: Callable) -> None:
    for module in stack.modules():
        if isinstance(module, mLSTMCell):
            module.backend_fn = kernel


def compiled_for_training(stack: xLSTMBlockStack) -> Callable:
    """torch.compile of the stack's forward: Inductor fuses the many small element-wise ops of
    the parallel mLSTM, which dominate its eager training step on CPU.

    dynamic=False: an epoch's last, smaller batch would otherwise make dynamo recompile with a
    dynamic batch size and keep that slower graph for every later batch. The model pads that batch
    to the compiled size instead (xLSTM4Rec._run_compiled), so a run compiles once.
    """
    return torch.compile(stack.forward, dynamic=False)


def _probe(kernel: ChunkwiseMLSTM, device: torch.device) -> None:
    """Run the kernel once on a tiny input: Triton compiles lazily, so import alone proves little."""
    q = torch.randn(1, 1, kernel.chunk_size, 16, device=device, requires_grad=True)
    gate = torch.zeros(1, 1, kernel.chunk_size, 1, device=device)
    kernel(q, q, q, gate, gate).sum().backward()


# From these sequence lengths on, per device type, ``auto`` runs mLSTM chunkwise: below them the parallel form's
# training step was the faster (benchmarks/results/speed_cpu_threshold_round*.md, speed_cuda.md).
CHUNKWISE_FROM_LENGTH = {"cpu": 128, "cuda": 200}
PARALLEL_MLSTM = "mLSTM parallel (xlstm pure torch)"


def describe(config: xLSTMBlockStackConfig, mlstm: str, slstm: str) -> str:
    pieces = [mlstm] if config.mlstm_block is not None else []
    return ", ".join(pieces + ([slstm] if config.slstm_block is not None else []))


GPU_LAYERS = "dense headwise projections, per-head norms"


def build_block_stack(
    make_config: Callable[[str], xLSTMBlockStackConfig],
    requested: str,
    device: torch.device,
    chunk_size: int | None,
    seq_len: int = 0,
) -> tuple[xLSTMBlockStack, str]:
    """Build the block stack for the requested backend (``auto``: chunkwise mLSTM from the device's
    CHUNKWISE_FROM_LENGTH on, the parallel form below it). ``chunk_size`` None: DEFAULT_CHUNK_SIZE of the
    kernel that runs. On a GPU, whatever the backend, the projections and norms run in the forms of
    gpu_layers (same parameters and outputs, faster kernels).

    Returns the stack and a one-line description of what runs (logged, and kept on the model).
    """
    stack, description = _stack_for_backend(make_config, requested, device, chunk_size, seq_len)
    if device.type == "cuda":
        use_gpu_friendly_layers(stack)
        description = f"{description}, {GPU_LAYERS}"
    return stack, description


def _stack_for_backend(
    make_config: Callable[[str], xLSTMBlockStackConfig],
    requested: str,
    device: torch.device,
    chunk_size: int | None,
    seq_len: int,
) -> tuple[xLSTMBlockStack, str]:
    if requested not in BACKENDS:
        raise ValueError(f"xlstm_backend '{requested}' is not one of {list(BACKENDS)}")
    on_gpu = device.type == "cuda"
    if requested == "cuda" and not on_gpu:
        raise ValueError(
            "xlstm_backend 'cuda' needs a CUDA device, but this run uses "
            f"'{device}'. Set use_gpu=True on a machine with a GPU, or xlstm_backend: auto."
        )
    long_sequences = seq_len >= CHUNKWISE_FROM_LENGTH["cuda" if on_gpu else "cpu"]
    if requested == "auto" and not on_gpu:
        requested = "torch_chunkwise" if long_sequences else "torch"

    if requested in ("torch", "torch_chunkwise"):
        stack = BlockStack(make_config("vanilla"))
        if requested == "torch_chunkwise":
            kernel = ChunkwiseMLSTM(NATIVE_CHUNKWISE_KERNEL, chunk_size)
            use_mlstm_kernel(stack, kernel)
            mlstm = f"mLSTM {NATIVE_CHUNKWISE_KERNEL} (chunk {kernel.chunk_size})"
            return stack, describe(stack.config, mlstm, "sLSTM vanilla")
        return stack, describe(stack.config, PARALLEL_MLSTM, "sLSTM vanilla")

    strict = requested == "cuda"
    try:
        stack = BlockStack(make_config("cuda"))
        slstm = "sLSTM cuda"
    except Exception as error:  # nvcc/ninja missing or kernel compile failure
        if strict:
            raise RuntimeError(f"xlstm_backend 'cuda': the sLSTM CUDA kernel failed to build: {error}") from error
        logger.warning(f"sLSTM CUDA kernel unavailable ({error}); falling back to the vanilla sLSTM.")
        stack = BlockStack(make_config("vanilla"))
        slstm = "sLSTM vanilla (fallback)"
    if not strict and not long_sequences:
        return stack, describe(stack.config, PARALLEL_MLSTM, slstm)
    try:
        kernel = ChunkwiseMLSTM(TRITON_CHUNKWISE_KERNEL, chunk_size, max_grid_z=CUDA_MAX_GRID_Z)
        _probe(kernel, device)
        use_mlstm_kernel(stack, kernel)
        mlstm = f"mLSTM {TRITON_CHUNKWISE_KERNEL} (chunk {kernel.chunk_size})"
    except Exception as error:  # triton missing, or the kernel rejects this GPU
        if strict:
            raise RuntimeError(f"xlstm_backend 'cuda': the Triton mLSTM kernel failed: {error}") from error
        logger.warning(f"Triton mLSTM kernel unavailable ({error}); falling back to the parallel torch mLSTM.")
        mlstm = "mLSTM parallel (fallback)"
    return stack, describe(stack.config, mlstm, slstm)
