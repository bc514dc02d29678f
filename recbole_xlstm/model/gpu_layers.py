"""Two xlstm 2.0.6 layers computed with GPU-friendlier kernels: same parameters, same outputs.

Profiled on an H200 (benchmarks/results/gpu_session_2026-11-28/probe_before.md: batch 2048, length 200, 2 mLSTM blocks,
the Triton chunkwise kernel), a training step kept the GPU busy 149 ms, of which
- 78.7 ms were 6 GEMMs of ``LinearHeadwiseExpand``: its einsum ``...hd,hod->...ho`` runs as a batched
  GEMM over the heads (32 of 4x4 for the defaults), and its weight gradient reduces batch x length rows
  into 32 tiny outputs, which occupies a few of the GPU's SMs for the whole reduction;
- 16.7 ms were ``GammaBeta1dBackwardCUDAKernel2``: ``MultiHeadLayerNorm`` calls ``F.group_norm`` on a
  2-D (batch x length, heads x head dim) tensor, whose affine-gradient kernel is slow for many rows.
The replacements compute the same functions with one dense GEMM (the block-diagonal weight) and a
per-head ``F.layer_norm`` followed by the per-channel affine. They change classes in place, so the
state_dict, the initialisation and ``step()`` stay the package's.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from xlstm.components.linear_headwise import LinearHeadwiseExpand
from xlstm.components.ln import MultiHeadLayerNorm


class HeadwiseExpandAsDenseGEMM(LinearHeadwiseExpand):
    """``LinearHeadwiseExpand`` as one GEMM with its block-diagonal weight (heads x out, in)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, torch.block_diag(*self.weight), self.bias)


class MultiHeadLayerNormPerHead(MultiHeadLayerNorm):
    """``MultiHeadLayerNorm`` (group norm with one group per head) as a layer norm over each head's
    features, then the same per-channel weight and bias."""

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if input.dim() != 4:
            raise ValueError(f"MultiHeadLayerNorm expects (B, NH, S, DH), got shape {tuple(input.shape)}")
        _, heads, _, head_dim = input.shape
        # computed as (B, S, NH, DH) and handed back transposed, the memory layout of the package's output:
        # its callers .view() the transposed result (xlstm/blocks/slstm/layer.py)
        out = F.layer_norm(input.transpose(1, 2), (head_dim,), eps=self.eps)
        if self.weight is not None:
            out = out * self.weight_proxy.view(heads, head_dim)
        if self.bias is not None:
            out = out + self.bias.view(heads, head_dim)
        return out.transpose(1, 2)


REPLACEMENTS = {LinearHeadwiseExpand: HeadwiseExpandAsDenseGEMM, MultiHeadLayerNorm: MultiHeadLayerNormPerHead}


def use_gpu_friendly_layers(stack: nn.Module) -> int:
    """Switch the stack's headwise projections and multi-head norms to the forms above; returns how many."""
    switched = 0
    for module in stack.modules():
        replacement = REPLACEMENTS.get(type(module))
        if replacement is not None:
            module.__class__ = replacement
            switched += 1
    return switched
