"""The chunkwise and recurrent forms give what the parallel form gives (to the tolerances in
benchmarks/kernel_agreement.py), for outputs and for the gradients training uses. The Triton/CUDA cases
run only where there is a GPU (the device script runs them)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from kernel_agreement import TOLERANCE, compare_cell, compare_models, compare_recurrent

from recbole_xlstm.model.backends import NATIVE_CHUNKWISE_KERNEL, TRITON_CHUNKWISE_KERNEL

needs_gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


# 50: padded to one chunk of 64, or four of 16; 200: four chunks of 64 or 13 of 16, padded (16: the CPU default)
@pytest.mark.parametrize("chunk_size", [16, 64])
@pytest.mark.parametrize("length", [50, 200])
def test_native_chunkwise_cell_matches_the_parallel_form_with_gradients(length, chunk_size):
    row = compare_cell(NATIVE_CHUNKWISE_KERNEL, length, "cpu", chunk_size)
    assert row["output"] < TOLERANCE["native"] and row["gradients"] < TOLERANCE["native"], row


# every block variant: mLSTM only, with a feed-forward part after each mLSTM layer, and beside an sLSTM block
VARIANTS = {
    "mlstm": ([], {}),
    "mlstm_feedforward": ([], {"mlstm_feedforward": 2.0}),
    "mixed_feedforward": ([1], {"mlstm_feedforward": 2.0}),
}


@pytest.mark.parametrize("variant", VARIANTS)
def test_chunkwise_model_matches_the_parallel_model_scores_and_gradients(variant):
    slstm_at, extra = VARIANTS[variant]
    row = compare_models("cpu", 50, slstm_at, **extra)
    assert row["output"] < TOLERANCE["native"] and row["gradients"] < TOLERANCE["native"], row


@pytest.mark.parametrize("variant", VARIANTS)
def test_recurrent_step_matches_the_parallel_forward(variant):
    slstm_at, extra = VARIANTS[variant]
    row = compare_recurrent("cpu", 30, slstm_at, **extra)
    assert row["output"] < 1e-4, row


@needs_gpu
@pytest.mark.parametrize("length", [50, 200, 1000])
def test_triton_chunkwise_cell_matches_the_parallel_form_with_gradients(length):
    row = compare_cell(TRITON_CHUNKWISE_KERNEL, length, "cuda")
    assert row["output"] < TOLERANCE["triton"] and row["gradients"] < TOLERANCE["triton"], row


@needs_gpu
@pytest.mark.parametrize("variant", VARIANTS)
def test_cuda_backend_model_matches_the_torch_model_scores_and_gradients(variant):
    slstm_at, extra = VARIANTS[variant]
    row = compare_models("cuda", 200, slstm_at, **extra)
    assert row["output"] < TOLERANCE["triton"] and row["gradients"] < TOLERANCE["triton"], row


def chunkwise_call(kernel_name: str, device: str, batch: int, length: int, max_grid_z: int | None) -> tuple:
    """Output, input gradients and the batch of each kernel launch, of one chunkwise call on fixed inputs."""
    from recbole_xlstm.model.backends import ChunkwiseMLSTM

    generator = torch.Generator().manual_seed(0)
    shapes = [(batch, 4, length, 16)] * 3 + [(batch, 4, length, 1)] * 2
    inputs = [torch.randn(*shape, generator=generator).to(device).requires_grad_() for shape in shapes]
    cell = ChunkwiseMLSTM(kernel_name, 64, max_grid_z=max_grid_z)
    kernel, launches = cell.kernel, []
    cell.kernel = lambda q, **kwargs: launches.append(q.shape[0]) or kernel(q=q, **kwargs)
    h = cell(*inputs)
    h.square().sum().backward()
    return h.detach(), [t.grad for t in inputs], launches


def test_a_batch_over_the_kernels_block_limit_runs_in_slices_with_the_same_outputs_and_gradients():
    # 5 sequences x 4 heads x 2 chunks = 40 blocks; at most 16 a call: slices of 2, 2 and 1 sequences
    sliced, sliced_grads, launches = chunkwise_call(NATIVE_CHUNKWISE_KERNEL, "cpu", 5, 100, max_grid_z=16)
    whole, whole_grads, _ = chunkwise_call(NATIVE_CHUNKWISE_KERNEL, "cpu", 5, 100, max_grid_z=None)
    assert launches == [2, 2, 1]
    assert sliced.shape == (5, 4, 100, 16)
    torch.testing.assert_close(sliced, whole, rtol=1e-5, atol=1e-6)
    for got, expected in zip(sliced_grads, whole_grads):
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)


def test_a_sequence_over_the_kernels_block_limit_is_refused_by_name():
    from recbole_xlstm.model.backends import ChunkwiseMLSTM

    q = torch.zeros(1, 4, 128, 16)
    gate = torch.zeros(1, 4, 128, 1)
    with pytest.raises(ValueError, match="raise mlstm_chunk_size"):
        ChunkwiseMLSTM(NATIVE_CHUNKWISE_KERNEL, 64, max_grid_z=7)(q, q, q, gate, gate)


@needs_gpu
def test_triton_chunkwise_runs_ml1m_full_ranking_batch_past_cudas_grid_limit():
    # 4096 users x 4 heads x 4 chunks of length 200 = 65,536 > 65,535: failed with "invalid argument" unsliced
    from recbole_xlstm.model.backends import CUDA_MAX_GRID_Z

    h, grads, launches = chunkwise_call(TRITON_CHUNKWISE_KERNEL, "cuda", 4096, 200, max_grid_z=CUDA_MAX_GRID_Z)
    assert launches == [4095, 1]
    assert h.shape == (4096, 4, 200, 16) and torch.isfinite(h).all()
    assert all(torch.isfinite(g).all() for g in grads)
