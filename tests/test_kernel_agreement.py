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


@pytest.mark.parametrize("length", [50, 200])  # 50: padded to one chunk of 64; 200: four chunks, padded
def test_native_chunkwise_cell_matches_the_parallel_form_with_gradients(length):
    row = compare_cell(NATIVE_CHUNKWISE_KERNEL, length, "cpu")
    assert row["output"] < TOLERANCE["native"] and row["gradients"] < TOLERANCE["native"], row


def test_chunkwise_model_matches_the_parallel_model_scores_and_gradients():
    row = compare_models("cpu", 50, [])
    assert row["output"] < TOLERANCE["native"] and row["gradients"] < TOLERANCE["native"], row


def test_recurrent_step_matches_the_parallel_forward():
    row = compare_recurrent("cpu", 30)
    assert row["output"] < 1e-4, row


@needs_gpu
@pytest.mark.parametrize("length", [50, 200, 1000])
def test_triton_chunkwise_cell_matches_the_parallel_form_with_gradients(length):
    row = compare_cell(TRITON_CHUNKWISE_KERNEL, length, "cuda")
    assert row["output"] < TOLERANCE["triton"] and row["gradients"] < TOLERANCE["triton"], row


@needs_gpu
def test_cuda_backend_model_matches_the_torch_model_scores_and_gradients():
    row = compare_models("cuda", 200, [])
    assert row["output"] < TOLERANCE["triton"] and row["gradients"] < TOLERANCE["triton"], row
