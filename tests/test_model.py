"""xLSTM4Rec's forward pass, losses and scoring, on a tiny generated dataset."""

from __future__ import annotations

import pytest
import torch
from recbole.data import create_dataset, data_preparation
from recbole.data.interaction import Interaction
from recbole.utils import init_seed
from xlstm import mLSTMBlockConfig, mLSTMLayerConfig, xLSTMBlockStackConfig
from xlstm.blocks.mlstm.cell import mLSTMCell

from recbole_xlstm import Config, xLSTM4Rec
from recbole_xlstm.model.backends import NATIVE_CHUNKWISE_KERNEL, PARALLEL_MLSTM, ChunkwiseMLSTM, build_block_stack

STACKS = {
    "mlstm": {"slstm_at": []},
    "mixed": {"slstm_at": [1]},
    "mlstm_feedforward": {"slstm_at": [], "mlstm_feedforward": 2.0},
    "mixed_feedforward": {"slstm_at": [1], "mlstm_feedforward": 2.0},
}


def build(config_dict: dict):
    config = Config(model="xLSTM4Rec", config_dict=config_dict)
    init_seed(config["seed"], config["reproducibility"])
    dataset = create_dataset(config)
    train, valid, test = data_preparation(config, dataset)
    model = xLSTM4Rec(config, train._dataset)
    return config, model, train


def batch(model: xLSTM4Rec, sequences: list[list[int]], max_len: int, items=None) -> Interaction:
    seq = torch.zeros(len(sequences), max_len, dtype=torch.long)
    for row, items_of_user in enumerate(sequences):
        seq[row, : len(items_of_user)] = torch.tensor(items_of_user)
    data = {model.ITEM_SEQ: seq, model.ITEM_SEQ_LEN: torch.tensor([len(s) for s in sequences])}
    if items is not None:
        data[model.ITEM_ID] = torch.tensor(items)
    return Interaction(data)


@pytest.mark.parametrize("kind", STACKS)
def test_next_item_score_ignores_everything_after_the_last_real_position(tiny_config, kind):
    config, model, _ = build(tiny_config(**STACKS[kind]))
    model.eval()
    max_len = config["MAX_ITEM_LIST_LENGTH"]
    history = [3, 7, 2, 9]
    clean = batch(model, [history], max_len)
    dirty = batch(model, [history], max_len)
    dirty[model.ITEM_SEQ][0, len(history) :] = torch.randint(1, model.n_items, (max_len - len(history),))
    with torch.no_grad():
        expected = model.full_sort_predict(clean)
        got = model.full_sort_predict(dirty)
        # and the earlier positions do matter: the test can tell a model that ignores its input
        other = model.full_sort_predict(batch(model, [[5, 7, 2, 9]], max_len))
    torch.testing.assert_close(got, expected)
    assert not torch.allclose(other, expected)


@pytest.mark.parametrize("loss_type", ["CE", "BPR"])
def test_loss_falls_when_training_a_few_steps(tiny_config, loss_type):
    overrides = {"loss_type": loss_type, "dropout_prob": 0.0}
    config, model, train = build(tiny_config(**overrides))
    if loss_type == "BPR":
        assert config["train_neg_sample_args"]["distribution"] == "uniform"
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    data = next(iter(train))
    model.train()
    losses = []
    for _ in range(15):
        optimizer.zero_grad()
        loss = model.calculate_loss(data)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0], losses


@pytest.mark.parametrize("kind", STACKS)
def test_full_sort_predict_agrees_with_predict(tiny_config, kind):
    config, model, _ = build(tiny_config(**STACKS[kind]))
    model.eval()
    sequences = [[1, 2, 3], [4], [5, 6, 7, 8, 9, 10, 11, 12, 13, 14]]
    items = [4, 9, 2]
    with torch.no_grad():
        full = model.full_sort_predict(batch(model, sequences, config["MAX_ITEM_LIST_LENGTH"]))
        single = model.predict(batch(model, sequences, config["MAX_ITEM_LIST_LENGTH"], items=items))
    assert full.shape == (len(sequences), model.n_items)
    torch.testing.assert_close(full[torch.arange(len(items)), torch.tensor(items)], single)


def test_a_single_user_with_a_single_item_gets_scores(tiny_config):
    config, model, _ = build(tiny_config(slstm_at=[1]))
    model.eval()
    with torch.no_grad():
        scores = model.full_sort_predict(batch(model, [[7]], config["MAX_ITEM_LIST_LENGTH"]))
    assert scores.shape == (1, model.n_items)
    assert torch.isfinite(scores).all()


def test_item_padding_row_starts_at_zero_and_blocks_keep_the_package_init(tiny_config):
    _, model, _ = build(tiny_config())
    assert torch.count_nonzero(model.item_embedding.weight[0]) == 0
    # xlstm's own mLSTM init: forget-gate weights zero, biases on a 3..6 linspace
    cell = model.xlstm.blocks[0].xlstm.mlstm_cell
    assert torch.count_nonzero(cell.fgate.weight) == 0
    assert cell.fgate.bias.min() >= 3.0 and cell.fgate.bias.max() <= 6.0


def test_position_embeddings_are_added_to_the_items_and_only_they_change_the_scores(tiny_config):
    config, plain, _ = build(tiny_config())
    _, positional, _ = build(tiny_config(position_embedding=True))
    missing, unexpected = positional.load_state_dict(plain.state_dict(), strict=False)
    assert missing == ["position_embedding.weight"] and not unexpected
    plain.eval()
    positional.eval()
    sequences = batch(plain, [[3, 7, 2, 9], [5]], config["MAX_ITEM_LIST_LENGTH"])
    with torch.no_grad():
        positional.position_embedding.weight.zero_()
        torch.testing.assert_close(positional.full_sort_predict(sequences), plain.full_sort_predict(sequences))
        positional.position_embedding.weight.normal_(std=0.5)
        assert not torch.allclose(positional.full_sort_predict(sequences), plain.full_sort_predict(sequences))


def test_dropout_after_norm_feeds_the_blocks_exact_zeros_and_only_changes_training(tiny_config):
    config, before, _ = build(tiny_config(dropout_prob=0.5))
    _, after, _ = build(tiny_config(dropout_prob=0.5, dropout_after_norm=True))
    after.load_state_dict(before.state_dict())
    block_inputs = []
    for model in (before, after):
        model.xlstm.register_forward_pre_hook(lambda module, args: block_inputs.append(args[0]))
    sequences = batch(before, [[3, 7, 2, 9], [5, 1]], config["MAX_ITEM_LIST_LENGTH"])
    torch.manual_seed(0)
    for model in (before, after):
        model.train()
        model.full_sort_predict(sequences)
    real = sequences[before.ITEM_SEQ] != 0  # padding embeds to zeros either way
    dropped_before, dropped_after = ((block[real] == 0).float().mean().item() for block in block_inputs)
    # dropout then LayerNorm: the norm turns the dropped channels into nonzero values
    assert dropped_before == 0
    assert 0.35 < dropped_after < 0.65
    # without dropout (evaluation) the order makes no difference
    before.eval()
    after.eval()
    with torch.no_grad():
        torch.testing.assert_close(after.full_sort_predict(sequences), before.full_sort_predict(sequences))


def test_a_config_saved_before_dropout_after_norm_existed_builds_the_dropout_first_model(tiny_config):
    config = Config(model="xLSTM4Rec", config_dict=tiny_config(dropout_prob=0.5))
    del config.final_config_dict["dropout_after_norm"]  # as in a checkpoint written before the property
    config.model_class.check_config(config)
    dataset = create_dataset(config)
    train, _, _ = data_preparation(config, dataset)
    assert xLSTM4Rec(config, train._dataset).dropout_after_norm is False


def test_label_smoothing_moves_the_given_share_of_the_target_onto_every_item(tiny_config):
    config, smoothed, train = build(tiny_config(label_smoothing=0.2))
    _, plain, _ = build(tiny_config())
    plain.load_state_dict(smoothed.state_dict())
    data = next(iter(train))
    smoothed.eval()
    plain.eval()
    with torch.no_grad():
        log_p = torch.log_softmax(
            smoothed.score_all_items(smoothed.forward(data[smoothed.ITEM_SEQ], data[smoothed.ITEM_SEQ_LEN])), -1
        )
        target = -log_p.gather(1, data[smoothed.POS_ITEM_ID].unsqueeze(1)).mean()
        uniform = -log_p.mean()  # over every item and every sequence
        torch.testing.assert_close(plain.calculate_loss(data), target)
        torch.testing.assert_close(smoothed.calculate_loss(data), 0.8 * target + 0.2 * uniform)


def test_a_config_saved_before_label_smoothing_existed_builds_plain_cross_entropy(tiny_config):
    config = Config(model="xLSTM4Rec", config_dict=tiny_config())
    del config.final_config_dict["label_smoothing"]  # as in a checkpoint written before the property
    config.model_class.check_config(config)
    dataset = create_dataset(config)
    train, _, _ = data_preparation(config, dataset)
    assert xLSTM4Rec(config, train._dataset).loss_fct.label_smoothing == 0.0


def test_the_recurrent_step_refuses_a_model_with_position_embeddings(tiny_config):
    _, model, _ = build(tiny_config(position_embedding=True))
    with pytest.raises(ValueError, match="position_embedding=True"):
        model.step(torch.tensor([3]))


def test_chunkwise_mlstm_kernel_matches_the_parallel_form():
    from xlstm.blocks.mlstm.backends import parallel_stabilized_simple

    torch.manual_seed(0)
    q, k, v = (torch.randn(2, 4, 50, 16) for _ in range(3))
    igate, fgate = torch.randn(2, 4, 50, 1), torch.randn(2, 4, 50, 1) + 3.0
    expected = parallel_stabilized_simple(q, k, v, igate, fgate)
    got = ChunkwiseMLSTM(NATIVE_CHUNKWISE_KERNEL, chunk_size=16)(q, k, v, igate, fgate)
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-3)


def test_compiled_training_blocks_give_the_eager_outputs(tiny_config):
    _, model, _ = build(tiny_config(xlstm_compile=True, xlstm_dropout=0.0))
    model.train()
    hidden = torch.randn(3, 10, model.hidden_size)
    torch.testing.assert_close(model._run_blocks(hidden), model.xlstm(hidden), atol=1e-4, rtol=1e-4)


def test_a_batch_smaller_than_the_compiled_one_is_padded_to_its_size_and_gets_its_own_rows(tiny_config):
    _, model, _ = build(tiny_config(xlstm_compile=True, xlstm_dropout=0.0))
    model.train()
    shapes = []

    def graph(hidden):  # stands for the compiled graph: records the shapes it is called with
        shapes.append(tuple(hidden.shape))
        return model.xlstm(hidden)

    model._train_blocks = graph
    full, last = torch.randn(8, 10, model.hidden_size), torch.randn(5, 10, model.hidden_size)
    model._run_blocks(full)
    out = model._run_blocks(last)
    assert shapes == [(8, 10, model.hidden_size)] * 2  # one shape: one compiled graph
    torch.testing.assert_close(out, model.xlstm(last), atol=1e-5, rtol=1e-5)


def test_a_copy_of_the_model_does_not_share_the_compiled_blocks(tiny_config):
    import copy

    _, model, _ = build(tiny_config(xlstm_compile=True))
    model._train_blocks = model.xlstm.forward  # as if compiled for this model's own blocks
    clone = copy.deepcopy(model)
    assert clone._train_blocks is None and model._train_blocks is not None
    for mine, theirs in zip(model.state_dict().values(), clone.state_dict().values()):
        torch.testing.assert_close(mine, theirs)


@pytest.mark.parametrize(
    ("max_length", "slstm_at", "expected"),
    [
        (10, [], "mLSTM parallel (xlstm pure torch)"),
        (127, [], "mLSTM parallel (xlstm pure torch)"),  # CPU switches at 128; a GPU at 200
        (128, [], f"mLSTM {NATIVE_CHUNKWISE_KERNEL} (chunk 16)"),  # mlstm_chunk_size null: the native kernel's 16
        (200, [], f"mLSTM {NATIVE_CHUNKWISE_KERNEL} (chunk 16)"),
        (10, [1], "mLSTM parallel (xlstm pure torch), sLSTM vanilla"),
        (10, [0, 1], "sLSTM vanilla"),
    ],
)
def test_auto_backend_on_cpu_goes_chunkwise_for_long_sequences_and_names_only_the_blocks_it_has(
    tiny_config, max_length, slstm_at, expected
):
    _, model, _ = build(tiny_config(MAX_ITEM_LIST_LENGTH=max_length, slstm_at=slstm_at, num_blocks=2))
    assert model.backend_used == expected
    kernels = {type(cell.backend_fn).__name__ for cell in model.xlstm.modules() if isinstance(cell, mLSTMCell)}
    assert kernels == (
        {"ChunkwiseMLSTM"} if "chunkwise" in expected else ({"function"} if slstm_at != [0, 1] else set())
    )


@pytest.mark.parametrize("device, seq_len, chunkwise", [("cpu", 128, True), ("cuda", 128, False), ("cuda", 199, False)])
def test_auto_switches_to_chunkwise_at_the_devices_own_length(device, seq_len, chunkwise):
    # An mLSTM-only stack builds without a GPU, and below the GPU's length auto returns before the Triton probe, so
    # the cuda threshold is testable here.
    def make_config(slstm_backend: str) -> xLSTMBlockStackConfig:
        return xLSTMBlockStackConfig(
            mlstm_block=mLSTMBlockConfig(mlstm=mLSTMLayerConfig(num_heads=2)),
            context_length=seq_len,
            num_blocks=1,
            embedding_dim=16,
        )

    _, description = build_block_stack(make_config, "auto", torch.device(device), None, seq_len)
    # exact: a GPU run past its threshold that fell back from Triton would read "mLSTM parallel (fallback)"
    assert description.split(", ")[0] == (
        f"mLSTM {NATIVE_CHUNKWISE_KERNEL} (chunk 16)" if chunkwise else PARALLEL_MLSTM
    )


def test_an_explicit_mlstm_chunk_size_overrides_the_kernels_default(tiny_config):
    _, model, _ = build(tiny_config(MAX_ITEM_LIST_LENGTH=200, mlstm_chunk_size=64))
    assert model.backend_used == f"mLSTM {NATIVE_CHUNKWISE_KERNEL} (chunk 64)"
    cells = [cell for cell in model.xlstm.modules() if isinstance(cell, mLSTMCell)]
    assert cells and all(cell.backend_fn.chunk_size == 64 for cell in cells)


def test_mlstm_feedforward_adds_the_packages_gated_feed_forward_to_each_mlstm_block_only(tiny_config):
    from xlstm.components.feedforward import GatedFeedForward

    _, plain, _ = build(tiny_config(slstm_at=[1]))
    _, with_ffn, _ = build(tiny_config(slstm_at=[1], mlstm_feedforward=2.0, xlstm_dropout=0.1))
    mlstm_block, slstm_block = with_ffn.xlstm.blocks
    assert isinstance(mlstm_block.ffn, GatedFeedForward) and mlstm_block.ffn.dropout.p == 0.1
    assert mlstm_block.ffn.config._proj_up_dim >= 2 * with_ffn.hidden_size
    assert plain.xlstm.blocks[0].ffn is None  # the package's mLSTM block has none
    # the sLSTM block keeps its own gated feed-forward, sized by slstm_proj_factor
    assert slstm_block.ffn.config.proj_factor == plain.xlstm.blocks[1].ffn.config.proj_factor
    # a model without it keeps the package's keys: earlier checkpoints load; the new one only adds the ffn's
    added = set(with_ffn.state_dict()) - set(plain.state_dict())
    assert added and all(key.startswith("xlstm.blocks.0.ffn") for key in added)
    assert set(plain.state_dict()) <= set(with_ffn.state_dict())


def test_mlstm_feedforward_changes_the_scores_and_a_zeroed_one_changes_nothing(tiny_config):
    config, plain, _ = build(tiny_config())
    _, with_ffn, _ = build(tiny_config(mlstm_feedforward=2.0))
    with_ffn.load_state_dict(plain.state_dict(), strict=False)
    plain.eval()
    with_ffn.eval()
    sequences = batch(plain, [[3, 7, 2, 9], [5]], config["MAX_ITEM_LIST_LENGTH"])
    with torch.no_grad():
        assert not torch.allclose(with_ffn.full_sort_predict(sequences), plain.full_sort_predict(sequences))
        for block in with_ffn.xlstm.blocks:
            block.ffn.proj_down.weight.zero_()  # the residual branch adds exactly nothing
        torch.testing.assert_close(with_ffn.full_sort_predict(sequences), plain.full_sort_predict(sequences))


@pytest.mark.parametrize("value", [-1.0, "big", True])
def test_an_impossible_mlstm_feedforward_is_refused_by_name(tiny_config, value):
    from recbole_xlstm.model.validation import InvalidPropertyError

    config = Config(model="xLSTM4Rec", config_dict=tiny_config(mlstm_feedforward=value))
    with pytest.raises(InvalidPropertyError, match="mlstm_feedforward"):
        config.model_class.check_config(config)
