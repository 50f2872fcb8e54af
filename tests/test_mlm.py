"""The masked-LM encoder, BERT's masking rule, and the batch helpers.

Tolerances: the gradient check passes when the worst relative error (gradcheck.rel_error) of
every parameter is below 1e-6 in float64 (see test_gradients.py for why that is the bar). Exact
equalities are asserted where the computation is the same arithmetic (padding invariance, a
model against itself). The masking proportions are Bernoulli frequencies; each is allowed 5
standard errors, sqrt(p (1 - p) / n) for n draws, computed in the test: a correct implementation
fails such a check with probability below 1e-6.
"""

import numpy as np
import pytest

from tinytransformer.gradcheck import numerical_gradient, rel_error
from tinytransformer.models.config import TransformerConfig
from tinytransformer.models.gpt import GPT
from tinytransformer.models.transformer import MaskedLM
from tinytransformer.text.batching import TokenData, pad_batch
from tinytransformer.text.masking import mask_tokens, mlm_batch
from tinytransformer.text.tokenizers import CharTokenizer
from tinytransformer.training.checkpoint import load_checkpoint, save_checkpoint

TOL = 1e-6
TOK = CharTokenizer("abcdefghijklmnopqrst")  # 20 ordinary ids 0..19, then the five specials


def tiny_config(vocab_size=11, **kw):
    return TransformerConfig(
        vocab_size=vocab_size, block_size=8, n_layer=2, n_head=2, n_embd=4, dropout=0.0, **kw
    )


def randomise(model, rng, scale=0.3):
    """Move every parameter away from its symmetric initialisation (ln gains 1, biases 0), so
    that no gradient is zero by accident."""
    for name, p in model.params.items():
        base = 1.0 if ".ln_" in name and name.endswith("weight") else 0.0
        p[...] = base + scale * rng.standard_normal(p.shape)
    return model


def padded_batch():
    """B=2, T=6; row 1 has two padding positions at the end (id 10 plays [PAD] here)."""
    idx = np.array([[1, 4, 2, 7, 3, 9], [5, 0, 8, 6, 10, 10]])
    mask = np.array([[1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0]])
    targets = np.array([[-100, 3, -100, -100, 5, 2], [7, -100, -100, 1, -100, -100]])
    return idx, mask, targets


def test_gradient_check_every_parameter_with_padding():
    rng = np.random.default_rng(0)
    model = randomise(MaskedLM(tiny_config(), seed=1, dtype=np.float64), rng)
    idx, mask, targets = padded_batch()
    _, loss = model(idx, targets, attention_mask=mask)
    grads = dict(model.backward())
    assert set(grads) == set(model.params)

    def f():
        return model(idx, targets, attention_mask=mask)[1]

    errors = {
        n: rel_error(grads[n], numerical_gradient(f, p, 1.0)) for n, p in model.params.items()
    }
    worst = max(errors, key=errors.get)
    assert errors[worst] < TOL, f"{worst} has relative error {errors[worst]:.2e}"


def test_attention_is_bidirectional():
    """Changing token 4 changes the logits at position 0 in the encoder, not in the GPT."""
    rng = np.random.default_rng(1)
    idx = np.array([[1, 2, 3, 4, 5, 6]])
    changed = idx.copy()
    changed[0, 4] = 9
    for cls, sees_ahead in ((MaskedLM, True), (GPT, False)):
        model = randomise(cls(tiny_config(), dtype=np.float64), rng)
        before, _ = model(idx)
        after, _ = model(changed)
        moved = np.abs(after[0, 0] - before[0, 0]).max()
        assert (moved > 1e-3) == sees_ahead, f"{cls.__name__}: position 0 moved by {moved:.2e}"


def test_padding_changes_nothing_at_real_positions():
    rng = np.random.default_rng(2)
    model = randomise(MaskedLM(tiny_config(), dtype=np.float64), rng)
    idx, mask, targets = padded_batch()
    logits, loss = model(idx, targets, attention_mask=mask)
    other = idx.copy()
    other[1, 4:] = [3, 8]  # different ids where the mask says padding
    logits2, loss2 = model(other, targets, attention_mask=mask)
    real = mask.astype(bool)
    np.testing.assert_array_equal(logits2[real], logits[real])
    assert float(loss2) == float(loss)
    # no query gives any weight to a padded key
    for att in model.attention_maps():  # (B, nh, T, T)
        assert np.all(att[1, :, :, 4:] == 0.0)
    # and the real part of row 1 equals that row alone, without padding (max abs diff 1e-12)
    alone, _ = model(idx[1:, :4])
    np.testing.assert_allclose(logits[1, :4], alone[0], rtol=0, atol=1e-12)


def test_loss_averages_over_the_selected_positions_only():
    rng = np.random.default_rng(3)
    model = randomise(MaskedLM(tiny_config(), dtype=np.float64), rng)
    idx, mask, targets = padded_batch()
    logits, loss = model(idx, targets, attention_mask=mask)
    # by hand: -log softmax at the 5 positions whose target is not -100, and their plain mean
    z = logits - logits.max(axis=-1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))  # (B, T, V)
    b, t = np.nonzero(targets != -100)
    assert len(b) == 5
    expected = -logp[b, t, targets[b, t]].mean()
    assert float(loss) == pytest.approx(expected, rel=1e-12)


def test_masking_proportions_over_many_draws():
    rng = np.random.default_rng(4)
    special = TOK.special_ids
    n_ordinary = TOK.vocab_size - len(special)  # 20
    n_eligible = n_selected = n_mask = n_random = n_same = 0
    for _ in range(20):
        # ids over the whole vocabulary: a fifth of them are special tokens
        ids = rng.integers(0, TOK.vocab_size, size=(50, 100))
        inputs, targets = mask_tokens(ids, rng, TOK)
        is_special = np.isin(ids, special)
        selected = targets != -100
        assert not (selected & is_special).any(), "a special token was selected"
        np.testing.assert_array_equal(inputs[~selected], ids[~selected])  # untouched
        np.testing.assert_array_equal(targets[selected], ids[selected])  # the original id
        replaced = inputs[selected]
        original = ids[selected]
        n_eligible += int((~is_special).sum())
        n_selected += int(selected.sum())
        n_mask += int((replaced == TOK.mask_id).sum())
        changed = (replaced != TOK.mask_id) & (replaced != original)
        assert not np.isin(replaced[changed], special).any(), "a random token was special"
        n_random += int(changed.sum())
        n_same += int((replaced == original).sum())

    def within_5_standard_errors(count, n, p):
        se = np.sqrt(p * (1 - p) / n)
        assert abs(count / n - p) < 5 * se, f"{count}/{n} = {count / n:.4f}, expected {p:.4f}"

    within_5_standard_errors(n_selected, n_eligible, 0.15)
    # of the selected: 80% [MASK]; 10% random, which equals the original 1 time in 20
    within_5_standard_errors(n_mask, n_selected, 0.8)
    within_5_standard_errors(n_random, n_selected, 0.1 * (1 - 1 / n_ordinary))
    within_5_standard_errors(n_same, n_selected, 0.1 + 0.1 / n_ordinary)


def test_masking_is_seeded_and_leaves_its_input_alone():
    ids = np.random.default_rng(5).integers(0, 20, size=(4, 16))
    kept = ids.copy()
    a = mask_tokens(ids, np.random.default_rng(7), TOK)
    b = mask_tokens(ids, np.random.default_rng(7), TOK)
    c = mask_tokens(ids, np.random.default_rng(8), TOK)
    np.testing.assert_array_equal(ids, kept)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a[1], c[1])


def test_masking_edge_probabilities_and_errors():
    ids = np.array([[0, 1, TOK.cls_id, 2, TOK.sep_id, TOK.pad_id]])
    inputs, targets = mask_tokens(ids, np.random.default_rng(0), TOK, mask_prob=0.0)
    np.testing.assert_array_equal(inputs, ids)
    assert (targets == -100).all()
    _, targets = mask_tokens(ids, np.random.default_rng(0), TOK, mask_prob=1.0)
    np.testing.assert_array_equal(targets, [[0, 1, -100, 2, -100, -100]])  # every ordinary one
    with pytest.raises(TypeError, match="rng: expected a numpy.random.Generator"):
        mask_tokens(ids, 0, TOK)
    with pytest.raises(ValueError, match=r"mask_prob: expected a finite number >= 0.0 and <= 1.0"):
        mask_tokens(ids, np.random.default_rng(0), TOK, mask_prob=1.5)
    with pytest.raises(ValueError, match=r"ids: ids must lie in \[0, 25\), got 25"):
        mask_tokens(np.array([25]), np.random.default_rng(0), TOK)


def test_pad_batch_worked_example_and_errors():
    ids, mask = pad_batch([[5, 6, 7], [8], np.array([1, 2, 3, 4])], pad_id=0, block_size=3)
    np.testing.assert_array_equal(ids, [[5, 6, 7], [8, 0, 0], [1, 2, 3]])
    np.testing.assert_array_equal(mask, [[1, 1, 1], [1, 0, 0], [1, 1, 1]])
    assert ids.dtype == mask.dtype == np.int64
    with pytest.raises(ValueError, match="got an empty one at 1"):
        pad_batch([[1], []], pad_id=0, block_size=4)
    with pytest.raises(ValueError, match="sequences: expected at least one sequence"):
        pad_batch([], pad_id=0, block_size=4)
    with pytest.raises(TypeError, match=r"sequences\[0\]: expected integer token ids"):
        pad_batch([[1.5]], pad_id=0, block_size=4)
    with pytest.raises(ValueError, match="block_size: expected a whole number >= 1, got 0"):
        pad_batch([[1]], pad_id=0, block_size=0)


def test_mlm_batch_from_a_stream():
    stream = np.random.default_rng(6).integers(0, 20, size=500)
    data = TokenData(stream, stream[:50])
    inputs, targets, mask = mlm_batch(data, "train", 8, 16, np.random.default_rng(9), TOK)
    assert inputs.shape == targets.shape == (8, 16)
    assert mask is None  # windows of a stream: no padding
    again = mlm_batch(data, "train", 8, 16, np.random.default_rng(9), TOK)
    np.testing.assert_array_equal(again[0], inputs)
    # each row is a window of the stream where nothing was selected, and the target where it was
    original = np.where(targets != -100, targets, inputs)  # (B, T)
    windows = np.lib.stride_tricks.sliding_window_view(stream, 16)  # (N - 15, 16)
    for row in original:
        assert (windows == row).all(axis=1).any()


def test_float32_stays_float32_and_a_gpt_state_loads_into_the_encoder():
    gpt = GPT(tiny_config(), seed=3)
    mlm = MaskedLM(tiny_config(), seed=4)
    mlm.load_state_dict(gpt.state_dict())  # one set of names for both
    idx, mask, targets = padded_batch()
    logits, loss = mlm(idx, targets, attention_mask=mask)
    assert logits.dtype == np.float32 and loss.dtype == np.float32
    assert all(g.dtype == np.float32 for g in mlm.backward().values())


def test_checkpoint_rebuilds_a_masked_lm(tmp_path):

    model = MaskedLM(tiny_config(), seed=5)
    save_checkpoint(tmp_path / "mlm.npz", model)
    loaded = load_checkpoint(tmp_path / "mlm.npz").model
    assert type(loaded) is MaskedLM and loaded.causal is False
    for name, p in model.params.items():
        np.testing.assert_array_equal(loaded.params[name], p)


def test_hidden_states_honour_the_padding_mask():
    """Row 1's real positions, padded or alone, have the same residual stream at every layer
    (to 1e-12: a different T changes the order of some sums); without the mask they differ."""
    rng = np.random.default_rng(6)
    model = randomise(MaskedLM(tiny_config(), dtype=np.float64), rng).eval()
    idx, mask, _ = padded_batch()
    masked = model.hidden_states(idx, attention_mask=mask)
    alone = model.hidden_states(idx[1:, :4])
    assert len(masked) == len(alone) == 3  # the embedding and 2 blocks
    for a, b in zip(masked, alone):
        np.testing.assert_allclose(a[1, :4], b[0], rtol=0, atol=1e-12)
    unmasked = model.hidden_states(idx)
    assert np.abs(unmasked[-1][1, :4] - alone[-1][0]).max() > 1e-3
