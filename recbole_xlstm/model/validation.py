"""Reject impossible xLSTM4Rec settings before any data is loaded or any block is built.

The xlstm package would otherwise fail deep inside a constructor with an assert or a shape
error that does not name the property to change.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

from recbole_xlstm.model.backends import BACKENDS


class InvalidPropertyError(ValueError):
    """A property value that xLSTM4Rec cannot be built with; the message names the property."""


def mlstm_inner_size(hidden_size: int, proj_factor: float) -> int:
    """The mLSTM up-projection width, rounded up to a multiple of 64 as xlstm 2.0.6 does it."""
    return int(math.ceil(proj_factor * hidden_size / 64) * 64)


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise InvalidPropertyError(message)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_xlstm_properties(config: Mapping[str, Any]) -> None:
    """Raise InvalidPropertyError for the first xLSTM4Rec property that cannot work."""
    hidden_size = config["hidden_size"]
    num_blocks = config["num_blocks"]
    _require(_is_int(hidden_size) and hidden_size > 0, f"hidden_size must be a positive integer, got {hidden_size!r}.")
    _require(_is_int(num_blocks) and num_blocks > 0, f"num_blocks must be a positive integer, got {num_blocks!r}.")

    slstm_at = config["slstm_at"]
    if slstm_at is None:
        slstm_at = []
    _require(
        isinstance(slstm_at, (list, tuple)) and all(_is_int(i) for i in slstm_at),
        f"slstm_at must be a list of block indices such as [1], got {slstm_at!r}.",
    )
    bad = [i for i in slstm_at if not 0 <= i < num_blocks]
    _require(
        not bad,
        f"slstm_at {list(slstm_at)} has indices {bad} outside the blocks 0..{num_blocks - 1} "
        f"(num_blocks={num_blocks}). Use indices below num_blocks, or raise num_blocks.",
    )
    _require(len(set(slstm_at)) == len(slstm_at), f"slstm_at {list(slstm_at)} lists a block twice.")

    conv = config["conv1d_kernel_size"]
    has_mlstm = len(slstm_at) < num_blocks
    if has_mlstm:
        proj_factor = config["mlstm_proj_factor"]
        _require(
            isinstance(proj_factor, (int, float)) and proj_factor > 0,
            f"mlstm_proj_factor must be a positive number, got {proj_factor!r}.",
        )
        inner = mlstm_inner_size(hidden_size, proj_factor)
        heads = config["num_heads"]
        _require(
            _is_int(heads) and heads > 0 and inner % heads == 0,
            f"num_heads={heads!r} must divide the mLSTM inner size {inner} "
            f"(mlstm_proj_factor {proj_factor} x hidden_size {hidden_size}, rounded up to a multiple of 64). "
            f"Divisors that work: {[d for d in range(1, 17) if inner % d == 0]}.",
        )
        blocksize = config["qkv_proj_blocksize"]
        _require(
            _is_int(blocksize) and blocksize > 0 and inner % blocksize == 0,
            f"qkv_proj_blocksize={blocksize!r} must divide the mLSTM inner size {inner}.",
        )
        _require(_is_int(conv) and conv > 0, f"conv1d_kernel_size must be >= 1 for mLSTM blocks, got {conv!r}.")
        ffn = config["mlstm_feedforward"]  # None: a checkpoint saved before the property existed
        _require(
            ffn is None or (isinstance(ffn, (int, float)) and not isinstance(ffn, bool) and ffn >= 0),
            f"mlstm_feedforward must be 0 (no feed-forward part) or a positive up-projection factor such as 2.0, "
            f"got {ffn!r}.",
        )
    if slstm_at:
        heads = config["slstm_num_heads"]
        _require(
            _is_int(heads) and heads > 0 and hidden_size % heads == 0,
            f"slstm_num_heads={heads!r} must divide hidden_size={hidden_size} (sLSTM heads split the hidden state).",
        )
        _require(_is_int(conv) and conv >= 0, f"conv1d_kernel_size must be >= 0, got {conv!r}.")
        ff = config["slstm_proj_factor"]
        _require(isinstance(ff, (int, float)) and ff > 0, f"slstm_proj_factor must be a positive number, got {ff!r}.")

    for name in ("position_embedding", "dropout_after_norm"):
        flag = config[name]  # None: a checkpoint saved before the property existed
        _require(flag in (True, False, None), f"{name} must be True or False, got {flag!r}.")

    for name in ("dropout_prob", "xlstm_dropout"):
        p = config[name]
        _require(isinstance(p, (int, float)) and 0 <= p < 1, f"{name} must be in [0, 1), got {p!r}.")

    max_len = config["MAX_ITEM_LIST_LENGTH"]
    context = config["context_length"]
    if context is not None:
        _require(
            _is_int(context) and context > 0, f"context_length must be a positive integer or null, got {context!r}."
        )
        _require(
            max_len <= context,
            f"MAX_ITEM_LIST_LENGTH={max_len} is longer than context_length={context}, the longest sequence "
            f"the xLSTM blocks are built for. Lower MAX_ITEM_LIST_LENGTH or raise context_length (null: follow it).",
        )

    backend = config["xlstm_backend"]
    _require(backend in BACKENDS, f"xlstm_backend must be one of {list(BACKENDS)}, got {backend!r}.")
    chunk = config["mlstm_chunk_size"]
    _require(
        chunk is None or (_is_int(chunk) and chunk >= 16 and chunk & (chunk - 1) == 0),
        f"mlstm_chunk_size must be a power of two >= 16 (the chunkwise kernels' tile) or null (each kernel's "
        f"measured best), got {chunk!r}.",
    )
    _require(config["loss_type"] in ("CE", "BPR"), f"loss_type must be 'CE' or 'BPR', got {config['loss_type']!r}.")
    check_label_smoothing(config)


def check_label_smoothing(config: Mapping[str, Any]) -> None:
    """label_smoothing in [0, 1), and nonzero only with loss_type CE; any model's (RecBole's own have no such
    property, and None is how their configs, and checkpoints saved before it existed, read it)."""
    smoothing = config["label_smoothing"]
    if smoothing is None:
        return
    _require(
        isinstance(smoothing, (int, float)) and not isinstance(smoothing, bool) and 0 <= smoothing < 1,
        f"label_smoothing must be in [0, 1), got {smoothing!r}.",
    )
    _require(
        smoothing == 0 or config["loss_type"] == "CE",
        f"label_smoothing={smoothing} applies to loss_type CE only (BPR compares one positive with one "
        "negative and has no distribution to smooth). Set label_smoothing: 0.0, or loss_type: CE.",
    )
