"""The GPU-friendly layers compute what xlstm's own do: outputs, gradients, state_dict, step()."""

import copy
from pathlib import Path

import pytest
import torch
from xlstm import (
    FeedForwardConfig,
    mLSTMBlockConfig,
    mLSTMLayerConfig,
    sLSTMBlockConfig,
    sLSTMLayerConfig,
    xLSTMBlockStack,
    xLSTMBlockStackConfig,
)
from xlstm.components.linear_headwise import LinearHeadwiseExpand, LinearHeadwiseExpandConfig
from xlstm.components.ln import MultiHeadLayerNorm

from recbole_xlstm.model.gpu_layers import (
    HeadwiseExpandAsDenseGEMM,
    MultiHeadLayerNormPerHead,
    block_diagonal,
    use_gpu_friendly_layers,
)


def outputs_and_gradients(module: torch.nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    x = x.clone().requires_grad_(True)
    out = module(x)
    (out * torch.linspace(-1, 1, out.numel()).view_as(out)).sum().backward()
    return [out.detach(), x.grad] + [p.grad for p in module.parameters()]


@pytest.mark.parametrize("bias", [True, False])
def test_headwise_expand_as_one_gemm_matches_the_einsum(bias):
    torch.manual_seed(0)
    original = LinearHeadwiseExpand(LinearHeadwiseExpandConfig(in_features=32, num_heads=8, bias=bias))
    with torch.no_grad():
        if bias:
            original.bias.normal_()
    dense = copy.deepcopy(original)
    dense.__class__ = HeadwiseExpandAsDenseGEMM
    x = torch.randn(3, 5, 32)
    for expected, got in zip(outputs_and_gradients(original, x), outputs_and_gradients(dense, x), strict=True):
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)


def test_block_diagonal_is_torchs_block_diag_and_passes_each_blocks_gradient_back():
    blocks = torch.randn(5, 3, 2, requires_grad=True)
    dense = block_diagonal(blocks)
    torch.testing.assert_close(dense, torch.block_diag(*blocks), rtol=0, atol=0)
    upstream = torch.randn_like(dense)
    (dense * upstream).sum().backward()
    expected = torch.stack([upstream[3 * h : 3 * h + 3, 2 * h : 2 * h + 2] for h in range(5)])
    torch.testing.assert_close(blocks.grad, expected, rtol=0, atol=0)


def test_the_dense_projection_dispatches_as_many_operators_for_32_heads_as_for_2(monkeypatch):
    # a GPU step at length 200 waits on launches (gpu_session_2026-11-28): the op count must not grow with heads
    from torch.profiler import ProfilerActivity, profile

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from speed_study import top_level_aten_ops  # ops/step, as the speed study counts them

    def forward_backward_ops(heads: int) -> int:
        layer = LinearHeadwiseExpand(LinearHeadwiseExpandConfig(in_features=4 * heads, num_heads=heads, bias=True))
        layer.__class__ = HeadwiseExpandAsDenseGEMM
        x = torch.randn(3, 5, 4 * heads, requires_grad=True)
        with profile(activities=[ProfilerActivity.CPU]) as profiled:
            layer(x).sum().backward()
        return len(top_level_aten_ops(profiled.events()))

    assert forward_backward_ops(32) == forward_backward_ops(2)


@pytest.mark.parametrize("bias", [True, False])
def test_multihead_norm_per_head_matches_group_norm_with_its_memory_layout(bias):
    torch.manual_seed(0)
    original = MultiHeadLayerNorm(ndim=24, weight=True, bias=bias)
    with torch.no_grad():
        for p in original.parameters():
            p.normal_()
    per_head = copy.deepcopy(original)
    per_head.__class__ = MultiHeadLayerNormPerHead
    x = torch.randn(2, 4, 7, 6) * 3 + 1  # (B, NH, S, DH)
    for expected, got in zip(outputs_and_gradients(original, x), outputs_and_gradients(per_head, x), strict=True):
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    # sLSTM's caller views the transposed output: the layout must allow what the package's allows
    per_head(x).transpose(1, 2).view(2, 7, -1)
    with pytest.raises(ValueError, match=r"\(B, NH, S, DH\)"):
        per_head(torch.randn(2, 4, 6))


def test_a_switched_stack_keeps_its_state_dict_and_gives_the_same_forward_and_step():
    config = xLSTMBlockStackConfig(
        mlstm_block=mLSTMBlockConfig(mlstm=mLSTMLayerConfig(num_heads=2, qkv_proj_blocksize=4)),
        slstm_block=sLSTMBlockConfig(
            slstm=sLSTMLayerConfig(backend="vanilla", num_heads=2), feedforward=FeedForwardConfig(proj_factor=1.3)
        ),
        context_length=9,
        num_blocks=3,
        embedding_dim=16,
        slstm_at=[1],
    )
    torch.manual_seed(0)
    original = xLSTMBlockStack(config)
    switched = copy.deepcopy(original)
    # per mLSTM block: q, k, v and the cell's norm; the sLSTM block: its 4 gate projections and group norm
    assert use_gpu_friendly_layers(switched) == 2 * 4 + 5
    assert switched.state_dict().keys() == original.state_dict().keys()
    copy.deepcopy(switched)  # RecBole's get_flops deep-copies the model
    x = torch.randn(2, 9, config.embedding_dim)
    torch.testing.assert_close(switched(x), original(x), rtol=1e-4, atol=1e-5)
    state_original = state_switched = None
    for t in range(3):
        expected, state_original = original.step(x[:, t : t + 1], state_original)
        got, state_switched = switched.step(x[:, t : t + 1], state_switched)
        torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("device, switched", [("cpu", False), ("cuda", True)])
def test_the_block_stack_gets_the_gpu_layers_on_a_gpu_only(device, switched):
    from recbole_xlstm.model.backends import GPU_LAYERS, build_block_stack

    def make_config(slstm_backend: str) -> xLSTMBlockStackConfig:
        return xLSTMBlockStackConfig(
            mlstm_block=mLSTMBlockConfig(mlstm=mLSTMLayerConfig(num_heads=2)),
            context_length=8,
            num_blocks=2,
            embedding_dim=16,
        )

    # the pure-torch backend builds without a GPU, so the cuda branch is testable here
    stack, description = build_block_stack(make_config, "torch", torch.device(device), chunk_size=64, seq_len=8)
    kinds = {type(m) for m in stack.modules()} & {
        LinearHeadwiseExpand,
        MultiHeadLayerNorm,
        HeadwiseExpandAsDenseGEMM,
        MultiHeadLayerNormPerHead,
    }
    expected = (
        {HeadwiseExpandAsDenseGEMM, MultiHeadLayerNormPerHead}
        if switched
        else {LinearHeadwiseExpand, MultiHeadLayerNorm}
    )
    assert kinds == expected
    assert description.endswith(GPU_LAYERS) == switched
