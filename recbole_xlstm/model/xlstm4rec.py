r"""
xLSTM4Rec
################################################

Reference:
    Maximilian Beck et al. "xLSTM: Extended Long Short-Term Memory." NeurIPS 2024.

The item sequence is embedded, passed through a stack of mLSTM/sLSTM blocks from the
``xlstm`` package (NX-AI), and the hidden state at the last real position scores every item.
"""

from __future__ import annotations

import logging

import torch
from recbole.model.abstract_recommender import SequentialRecommender
from recbole.model.loss import BPRLoss
from torch import nn
from xlstm import (
    FeedForwardConfig,
    mLSTMBlockConfig,
    mLSTMLayerConfig,
    sLSTMBlockConfig,
    sLSTMLayerConfig,
)

from recbole_xlstm.model.backends import build_block_stack, compiled_for_training
from recbole_xlstm.model.blocks import BlockStackConfig
from recbole_xlstm.model.validation import check_xlstm_properties


class xLSTM4Rec(SequentialRecommender):
    r"""xLSTM4Rec applies a stack of xLSTM blocks (Beck et al., 2024) to next-item prediction.

    Blocks are mLSTM (matrix memory, parallelisable) by default; the indices listed in
    ``slstm_at`` hold sLSTM blocks (scalar memory with recurrent mixing) instead. With
    ``mlstm_feedforward`` > 0 each mLSTM layer is followed by a gated feed-forward part, as sLSTM
    blocks always are (model/blocks.py).
    The sequence is right-padded, and every block is causal, so the state at
    ``item_seq_len - 1`` never sees padding.
    """

    check_config = staticmethod(check_xlstm_properties)

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        check_xlstm_properties(config)

        self.hidden_size = config["hidden_size"]
        self.num_blocks = config["num_blocks"]
        self.slstm_at = list(config["slstm_at"] or [])
        self.num_heads = config["num_heads"]
        self.slstm_num_heads = config["slstm_num_heads"]
        self.conv1d_kernel_size = config["conv1d_kernel_size"]
        self.qkv_proj_blocksize = config["qkv_proj_blocksize"]
        self.mlstm_proj_factor = config["mlstm_proj_factor"]
        self.slstm_proj_factor = config["slstm_proj_factor"]
        self.mlstm_feedforward = config["mlstm_feedforward"] or 0.0  # None: saved before the property existed
        self.dropout_prob = config["dropout_prob"]
        self.dropout_after_norm = bool(config["dropout_after_norm"])  # None: saved before the property existed
        self.xlstm_dropout = config["xlstm_dropout"]
        self.context_length = config["context_length"] or self.max_seq_length
        self.initializer_range = config["initializer_range"]
        self.loss_type = config["loss_type"]
        self.label_smoothing = config["label_smoothing"] or 0.0  # None: saved before the property existed

        self.item_embedding = nn.Embedding(self.n_items, self.hidden_size, padding_idx=0)
        # Learned absolute positions as in SASRec; off by default: the blocks are recurrent and
        # already know the order, and the ablation (benchmarks/results) measures what they add.
        self.position_embedding = (
            nn.Embedding(self.max_seq_length, self.hidden_size) if config["position_embedding"] else None
        )
        self.emb_dropout = nn.Dropout(self.dropout_prob)
        self.LayerNorm = nn.LayerNorm(self.hidden_size, eps=1e-12)

        self.xlstm, self.backend_used = build_block_stack(
            self._stack_config,
            requested=config["xlstm_backend"],
            device=torch.device(config["device"]),
            chunk_size=config["mlstm_chunk_size"],
            seq_len=self.max_seq_length,
        )

        self.xlstm_compile = config["xlstm_compile"]
        # Compiled on the first training step; a plain function attribute, not a module, so the
        # state_dict keeps the eager stack's keys.
        self._train_blocks = None
        self._compiled_rows = 0  # the batch size the training graph was compiled for

        if self.loss_type == "BPR":
            self.loss_fct = BPRLoss()
        elif self.loss_type == "CE":
            # The smoothed share also reaches item 0 (padding), which is never a target: 1 of n_items classes.
            self.loss_fct = nn.CrossEntropyLoss(label_smoothing=self.label_smoothing)
        else:
            raise NotImplementedError("Make sure 'loss_type' in ['BPR', 'CE']!")

        # Only the embedding is initialised here: the xLSTM blocks already ran the
        # package's own reset_parameters() (small/wang init, power-law gate biases).
        nn.init.normal_(self.item_embedding.weight, mean=0.0, std=self.initializer_range)
        if self.position_embedding is not None:
            nn.init.normal_(self.position_embedding.weight, mean=0.0, std=self.initializer_range)
        with torch.no_grad():
            self.item_embedding.weight[0].zero_()

    def _stack_config(self, slstm_backend: str) -> BlockStackConfig:
        mlstm_block = None
        if len(self.slstm_at) < self.num_blocks:
            mlstm_block = mLSTMBlockConfig(
                mlstm=mLSTMLayerConfig(
                    conv1d_kernel_size=self.conv1d_kernel_size,
                    qkv_proj_blocksize=self.qkv_proj_blocksize,
                    num_heads=self.num_heads,
                    proj_factor=self.mlstm_proj_factor,
                )
            )
        slstm_block = None
        if self.slstm_at:
            slstm_block = sLSTMBlockConfig(
                slstm=sLSTMLayerConfig(
                    backend=slstm_backend,
                    num_heads=self.slstm_num_heads,
                    conv1d_kernel_size=self.conv1d_kernel_size,
                    bias_init="powerlaw_blockdependent",
                ),
                feedforward=FeedForwardConfig(proj_factor=self.slstm_proj_factor, act_fn="gelu"),
            )
        mlstm_feedforward = None
        if mlstm_block is not None and self.mlstm_feedforward > 0:
            mlstm_feedforward = FeedForwardConfig(
                proj_factor=self.mlstm_feedforward, act_fn="gelu", dropout=self.xlstm_dropout
            )
        return BlockStackConfig(
            mlstm_block=mlstm_block,
            slstm_block=slstm_block,
            mlstm_feedforward=mlstm_feedforward,
            context_length=self.context_length,
            num_blocks=self.num_blocks,
            embedding_dim=self.hidden_size,
            dropout=self.xlstm_dropout,
            slstm_at=self.slstm_at,
        )

    def forward(self, item_seq: torch.Tensor, item_seq_len: torch.Tensor) -> torch.Tensor:
        item_emb = self.item_embedding(item_seq)
        if self.position_embedding is not None:
            positions = torch.arange(item_seq.size(1), device=item_seq.device)
            item_emb = item_emb + self.position_embedding(positions)
        hidden = self._run_blocks(self._normalise_input(item_emb))
        return self.gather_indexes(hidden, item_seq_len - 1)  # [B, H]

    def __getstate__(self) -> dict:
        # A copy (RecBole's get_flops deep-copies the model) must compile its own blocks, not call ours.
        return {**super().__getstate__(), "_train_blocks": None, "_compiled_rows": 0}

    def _normalise_input(self, item_emb: torch.Tensor) -> torch.Tensor:
        # SASRec drops out after its LayerNorm, so the blocks see exact zeros; dropping out before it
        # (the default, kept so that earlier checkpoints and results reproduce) lets the LayerNorm
        # rescale what dropout left.
        if self.dropout_after_norm:
            return self.emb_dropout(self.LayerNorm(item_emb))
        return self.LayerNorm(self.emb_dropout(item_emb))

    def _run_blocks(self, hidden: torch.Tensor) -> torch.Tensor:
        # Only training is compiled: evaluation is cheap, and its shapes would force recompiles.
        if self.training and self.xlstm_compile:
            if self._train_blocks is None:
                self._train_blocks = compiled_for_training(self.xlstm)
            try:
                return self._run_compiled(hidden)
            except torch._dynamo.exc.BackendCompilerFailed as error:
                logging.getLogger().warning(f"torch.compile failed ({error}); training the xLSTM blocks eagerly.")
                self.xlstm_compile = False
        return self.xlstm(hidden)

    def _run_compiled(self, hidden: torch.Tensor) -> torch.Tensor:
        # The graph is compiled for static shapes (backends.compiled_for_training), so a batch smaller than the
        # first (an epoch's last) is padded to its size rather than compiled again: rows do not interact in the
        # blocks, and the padding's outputs are dropped (benchmarks/compile_once.py measured both ways).
        rows = hidden.size(0)
        if rows > self._compiled_rows:
            self._compiled_rows = rows
        if rows == self._compiled_rows:
            return self._train_blocks(hidden)
        padding = hidden.new_zeros(self._compiled_rows - rows, *hidden.shape[1:])
        return self._train_blocks(torch.cat([hidden, padding]))[:rows]

    def sequence_output(self, interaction) -> torch.Tensor:
        """[B, H]: what the model knows after each sequence of ``interaction``, which scores the items.
        xLSTM4RecF adds features and time here."""
        return self.forward(interaction[self.ITEM_SEQ], interaction[self.ITEM_SEQ_LEN])

    def calculate_loss(self, interaction) -> torch.Tensor:
        seq_output = self.sequence_output(interaction)
        pos_items = interaction[self.POS_ITEM_ID]
        if self.loss_type == "BPR":
            neg_items = interaction[self.NEG_ITEM_ID]
            pos_score = torch.sum(seq_output * self.item_embedding(pos_items), dim=-1)
            neg_score = torch.sum(seq_output * self.item_embedding(neg_items), dim=-1)
            return self.loss_fct(pos_score, neg_score)
        logits = torch.matmul(seq_output, self.item_embedding.weight.transpose(0, 1))
        return self.loss_fct(logits, pos_items)

    def predict(self, interaction) -> torch.Tensor:
        test_item = interaction[self.ITEM_ID]
        seq_output = self.sequence_output(interaction)
        return torch.mul(seq_output, self.item_embedding(test_item)).sum(dim=1)  # [B]

    def full_sort_predict(self, interaction) -> torch.Tensor:
        return self.score_all_items(self.sequence_output(interaction))

    def score_all_items(self, seq_output: torch.Tensor) -> torch.Tensor:
        """[B, H] sequence outputs -> [B, n_items] logits."""
        return torch.matmul(seq_output, self.item_embedding.weight.transpose(0, 1))

    @torch.no_grad()
    def step(self, items: torch.Tensor, state: dict | None = None) -> tuple[torch.Tensor, dict]:
        """One more interaction per sequence, in the blocks' recurrent form: O(1) in the history's
        length, where ``forward`` re-reads all of it.

        ``items`` [B] are the next item ids; ``state`` is what the previous call returned (None for
        an empty history). Returns the sequence output [B, H] after these items, the one
        ``forward`` gives at the last position of the same history (tests/test_streaming.py checks
        this to a tolerance), and the new state. For histories longer than MAX_ITEM_LIST_LENGTH,
        ``forward`` sees only the last MAX_ITEM_LIST_LENGTH items and the state keeps all of them.
        """
        if self.position_embedding is not None:
            raise ValueError(
                "step() cannot run a model trained with position_embedding=True: its positions index "
                "forward's window of MAX_ITEM_LIST_LENGTH items, and the recurrent state has no window. "
                "Rank with Recommender (which calls forward), or train with position_embedding=False."
            )
        hidden = self._normalise_input(self.item_embedding(items.unsqueeze(1)))
        hidden, state = self.xlstm.step(hidden, state)
        return hidden[:, 0], state
