"""Two xlstm 2.0.6 layers computed with GPU-friendlier kernels: same parameters, same outputs.

Why: on a GPU, a training step of the default blocks spends most of its time in two places (profiled in
benchmarks/results/gpu_session_2026-11-28/):
- ``LinearHeadwiseExpand``: its einsum ``...hd,hod->...ho`` runs as a batched GEMM over many tiny heads
  (32 of 4x4 for the defaults), and its weight gradient reduces batch x length rows into those tiny outputs,
  which keeps only a few of the GPU's SMs busy;
- ``MultiHeadLayerNorm``: ``F.group_norm`` on a 2-D (batch x length, heads x head dim) tensor, whose
  affine-gradient kernel is slow for many rows.
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


def block_diagonal(blocks: torch.Tensor) -> torch.Tensor:
    """The (heads x out, heads x in) block-diagonal matrix of ``blocks`` (heads, out, in), in a number of
    operators that does not grow with the heads. ``torch.block_diag(*blocks)`` (torch 2.11 and 2.13) copies
    each block on its own and its backward slices each one out, several operators a head, and the GPU
    step at length 200 is bound by kernel launches (benchmarks/results/gpu_session_2026-11-28)."""
    heads, out_features, in_features = blocks.shape
    eye = torch.eye(heads, dtype=blocks.dtype, device=blocks.device)
    # [h, o, g, i] = blocks[h, o, i] where g == h, else 0: exact, since it only multiplies by 1 and 0
    dense = blocks.unsqueeze(2) * eye.view(heads, 1, heads, 1)
    return dense.reshape(heads * out_features, heads * in_features)


class HeadwiseExpandAsDenseGEMM(LinearHeadwiseExpand):
    """``LinearHeadwiseExpand`` as one GEMM with its block-diagonal weight (heads x out, in)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, block_diagonal(self.weight), self.bias)


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
