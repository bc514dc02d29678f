"""The xLSTM block stack of the plugin's models: the xlstm package's stack, with an optional feed-forward
part after each mLSTM layer.

xlstm 2.0.6's ``xLSTMBlockStack`` always builds its mLSTM blocks without a feed-forward part
(``mLSTMBlock`` passes ``feedforward=None`` to ``xLSTMBlock``), while its sLSTM blocks carry a gated one.
Recurrent recommenders (Mamba4Rec, LRURec) put a position-wise feed-forward after every recurrent layer.
``BlockStack`` builds those mLSTM positions as the package's own ``xLSTMBlock`` with an mLSTM layer and a
``FeedForwardConfig``: pre-LayerNorm, residual, the package's init, and its ``step()``. Without a
feed-forward part it is the package's stack, with the same state_dict keys.
"""

from __future__ import annotations

from copy import deepcopy
from dataclasses import dataclass

from torch import nn
from xlstm import FeedForwardConfig, xLSTMBlockStack, xLSTMBlockStackConfig
from xlstm.blocks.mlstm.block import mLSTMBlock
from xlstm.blocks.xlstm_block import xLSTMBlock, xLSTMBlockConfig


@dataclass
class BlockStackConfig(xLSTMBlockStackConfig):
    # the feed-forward part after each mLSTM layer; None: the package's mLSTM block (none)
    mlstm_feedforward: FeedForwardConfig | None = None


class BlockStack(xLSTMBlockStack):
    """``xLSTMBlockStack`` whose mLSTM blocks get ``config.mlstm_feedforward`` where it is set."""

    config_class = BlockStackConfig

    def _create_blocks(self, config: BlockStackConfig) -> nn.ModuleList:
        blocks = super()._create_blocks(config)
        feedforward = getattr(config, "mlstm_feedforward", None)
        if feedforward is None:
            return blocks
        return nn.ModuleList(
            with_feedforward(block, feedforward, index, config.num_blocks) if isinstance(block, mLSTMBlock) else block
            for index, block in enumerate(blocks)
        )


def with_feedforward(block: mLSTMBlock, feedforward: FeedForwardConfig, index: int, num_blocks: int) -> xLSTMBlock:
    """The package's block for ``block``'s mLSTM layer config, with a feed-forward part (freshly initialised)."""
    return xLSTMBlock(
        xLSTMBlockConfig(
            mlstm=block.config.mlstm,
            feedforward=deepcopy(feedforward),
            _num_blocks=num_blocks,
            _block_idx=index,
        )
    )
