"""The block taken apart (evaluation/anatomy.py) gives the model's own block, and head ablation
(evaluation/ablation.py) removes exactly one head: worked examples and the model compared."""

import math

import numpy as np
import pytest

from tinytransformer.evaluation.ablation import ablate_head, c_proj_name, head_importance
from tinytransformer.evaluation.anatomy import (
    block_sublayers,
    mlp_forward,
    prenorm_block,
    sublayer,
)
from tinytransformer.models.block import block_forward
from tinytransformer.models.config import GPTConfig
from tinytransformer.models.gpt import GPT
from tinytransformer.models.memory import count_parameters
from tinytransformer.ops.attention import merge_heads, split_heads


def trained_like_gpt(seed=0):
    """A small float64 GPT whose weights are far from their initial values (as after training)."""
    config = GPTConfig(vocab_size=11, block_size=8, n_layer=2, n_head=2, n_embd=8)
    model = GPT(config, seed=seed, dtype=np.float64)
    rng = np.random.default_rng(seed)
    for p in model.params.values():
        p += 0.3 * rng.standard_normal(p.shape)
    return model


def test_the_block_of_sublayers_is_the_models_block():
    model = trained_like_gpt()
    x = np.random.default_rng(1).standard_normal((2, 5, 8))  # (B, T, C)
    for i in range(model.config.n_layer):
        params = model.block_params(i)
        want, _ = block_forward(x, params, model.config.n_head)
        got = prenorm_block(x, *block_sublayers(params, model.config.n_head))
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_the_mlp_is_gelu_new_between_two_projections():
    # a worked example: one channel, width 4, every weight 1: 4 * gelu_new(1) = 3.3647...
    gelu_new_1 = 0.5 * (1 + math.tanh(math.sqrt(2 / math.pi) * (1 + 0.044715)))
    out = mlp_forward(np.ones((1, 1, 1)), np.ones((1, 4)), np.zeros(4), np.ones((4, 1)), np.ones(1))
    assert out.shape == (1, 1, 1)
    assert out[0, 0, 0] == pytest.approx(4 * gelu_new_1 + 1, rel=1e-14)
    # ... and the block's MLP: the second residual branch
    model = trained_like_gpt(2)
    p = model.block_params(0)
    h = np.random.default_rng(3).standard_normal((1, 4, 8))
    mlp = block_sublayers(p, 2)[3]
    want = mlp_forward(
        h, p["mlp.c_fc.weight"], p["mlp.c_fc.bias"], p["mlp.c_proj.weight"], p["mlp.c_proj.bias"]
    )
    np.testing.assert_array_equal(mlp(h), want)


def test_prenorm_block_adds_each_branch_to_the_un_normalised_stream():
    def ln(h):
        return h - 1.0

    def double(h):
        return 2.0 * h

    def square(h):
        return h * h

    x = np.full((1, 1, 1), 3.0)
    # x1 = 3 + 2 (3 - 1) = 7; out = 7 + (7 - 1)^2 = 43
    assert prenorm_block(x, ln, double, ln, square)[0, 0, 0] == 43.0


def test_sublayer_refuses_wrong_weights_with_their_names():
    with pytest.raises(ValueError, match="kind"):
        sublayer("conv", {})
    with pytest.raises(ValueError, match="missing"):
        sublayer("mlp", {"c_fc.weight": np.ones((2, 8))})
    with pytest.raises(TypeError, match="n_head"):
        sublayer("attention", {"c_attn.weight": np.ones((2, 6)), "c_proj.weight": np.ones((2, 2))})
    with pytest.raises(TypeError, match="weights\\['weight'\\]"):
        sublayer("layer norm", {"weight": np.ones(2, dtype=int)})


def test_split_and_merge_heads_are_public_and_inverse():
    x = np.arange(2 * 3 * 6).reshape(2, 3, 6)  # (B, T, C)
    heads = split_heads(x, 3)  # (B, nh, T, hs)
    assert heads.shape == (2, 3, 3, 2)
    assert np.array_equal(heads[1, 2, 0], x[1, 0, 4:6])  # head 2 owns channels 4 and 5
    assert np.array_equal(merge_heads(heads), x)


def test_ablating_a_head_zeroes_exactly_its_rows_on_a_copy():
    model = trained_like_gpt()
    sd = model.state_dict()
    out = ablate_head(sd, 1, 1, n_head=2)
    w_before, w_after = sd[c_proj_name(1)], out[c_proj_name(1)]
    assert (w_after[4:] == 0).all() and np.array_equal(w_after[:4], w_before[:4])
    assert (w_before[4:] != 0).all()  # the input is unchanged
    assert all(out[n] is sd[n] for n in sd if n != c_proj_name(1))
    with pytest.raises(ValueError, match="head"):
        ablate_head(sd, 0, 2, n_head=2)
    with pytest.raises(ValueError, match="layer"):
        ablate_head(sd, 5, 0, n_head=2)


def test_an_ablated_head_is_a_head_whose_output_is_zero():
    # the ablated block equals the block computed by hand with that head's output set to 0
    model = trained_like_gpt(4)
    nh = model.config.n_head
    x = np.random.default_rng(5).standard_normal((2, 6, 8))  # (B, T, C)
    ablated = ablate_head(model.state_dict(), 0, 0, nh)
    p = {
        n[len("transformer.h.0.") :]: w
        for n, w in ablated.items()
        if n.startswith("transformer.h.0.")
    }
    got, _ = block_forward(x, p, nh)
    ln_1, _, ln_2, mlp = block_sublayers(model.block_params(0), nh)
    q = model.block_params(0)
    qkv = ln_1(x) @ q["attn.c_attn.weight"] + q["attn.c_attn.bias"]  # (B, T, 3C)
    qh, kh, vh = (split_heads(a, nh) for a in np.split(qkv, 3, axis=-1))  # (B, nh, T, hs)
    T, hs = x.shape[1], 8 // nh
    s = qh @ kh.swapaxes(-1, -2) / math.sqrt(hs) + np.triu(np.full((T, T), -np.inf), 1)
    a = np.exp(s - s.max(-1, keepdims=True))
    y = (a / a.sum(-1, keepdims=True)) @ vh  # (B, nh, T, hs)
    y[:, 0] = 0.0  # head 0 switched off
    x1 = x + merge_heads(y) @ q["attn.c_proj.weight"] + q["attn.c_proj.bias"]
    np.testing.assert_allclose(got, x1 + mlp(ln_2(x1)), rtol=1e-12, atol=1e-12)


def test_head_importance_measures_each_head_on_a_copy():
    model = trained_like_gpt(6)
    before = model.state_dict()
    idx = np.random.default_rng(7).integers(0, 11, (3, 8))
    loss = lambda m: float(m(idx[:, :-1], idx[:, 1:])[1])  # noqa: E731
    base, increase = head_importance(model, loss)
    assert increase.shape == (2, 2) and base == loss(model)
    assert all(np.array_equal(before[n], p) for n, p in model.state_dict().items())
    copy = GPT(model.config, dtype=np.float64)
    copy.load_state_dict(ablate_head(before, 1, 0, 2))
    assert increase[1, 0] == pytest.approx(loss(copy) - base, abs=1e-12)
    assert np.all(increase != 0)  # every head of these weights does something


def test_the_parameter_count_has_a_closed_form():
    # the formula chapter 2.1 derives (exercise 2.1.3) against the sizes of the model's arrays
    for V, T, L, C in [(65, 64, 4, 128), (50257, 1024, 12, 768), (3, 1, 1, 2)]:
        formula = V * C + T * C + L * (12 * C * C + 13 * C) + 2 * C
        config = GPTConfig(vocab_size=V, block_size=T, n_layer=L, n_head=1, n_embd=C)
        assert count_parameters(config) == formula
    assert (
        count_parameters(
            GPTConfig(vocab_size=50257, block_size=1024, n_layer=12, n_head=12, n_embd=768)
        )
        == 124_439_808
    )
