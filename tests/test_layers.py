"""Properties of the layers beyond their gradients: dtypes, purity, masks, stability, bad input."""

import numpy as np
import pytest

from tinytransformer.models.block import block_forward, block_param_shapes
from tinytransformer.models.kv_cache import KVCache
from tinytransformer.op_cases import CASES, block_params
from tinytransformer.ops.attention import (
    attention_forward,
    blocked_positions,
    self_attention_backward,
    self_attention_forward,
)
from tinytransformer.ops.cross_entropy import cross_entropy_backward, cross_entropy_forward
from tinytransformer.ops.dropout import dropout_forward
from tinytransformer.ops.embedding import embedding_backward, embedding_forward
from tinytransformer.ops.gelu import gelu_forward
from tinytransformer.ops.layernorm import layernorm_backward, layernorm_forward
from tinytransformer.ops.linear import linear_forward
from tinytransformer.ops.softmax import softmax_forward


def _arrays(tree, prefix=""):
    """Yield (name, array) for every array in a value, a tuple or a dict of them."""
    if isinstance(tree, dict):
        for k, v in tree.items():
            yield from _arrays(v, f"{prefix}{k}.")
    elif isinstance(tree, tuple | list):
        for i, v in enumerate(tree):
            yield from _arrays(v, f"{prefix}{i}.")
    elif isinstance(tree, np.ndarray):
        yield prefix.rstrip("."), tree


def _run(op, dtype, seed=0):
    rng = np.random.default_rng(seed)
    forward, backward, inputs = CASES[op](rng, 2, 3, 6, dtype)
    out, cache = forward(**inputs)
    dout = rng.standard_normal(np.shape(out)).astype(dtype)
    return inputs, out, dout, backward(dout, cache)


@pytest.mark.parametrize("op", CASES)
def test_float32_stays_float32(op):
    """No op silently upcasts a float32 computation: output and every gradient stay float32."""
    _, out, _, grads = _run(op, np.float32)
    assert np.asarray(out).dtype == np.float32
    arrays = list(_arrays(grads))
    assert arrays
    for name, g in arrays:
        assert g.dtype == np.float32, f"{op}: gradient {name} is {g.dtype}"


@pytest.mark.parametrize("op", CASES)
def test_float64_stays_float64(op):
    _, out, _, grads = _run(op, np.float64)
    assert np.asarray(out).dtype == np.float64
    assert all(g.dtype == np.float64 for _, g in _arrays(grads))


@pytest.mark.parametrize("op", CASES)
def test_no_op_writes_into_its_inputs_or_upstream_gradient(op):
    rng = np.random.default_rng(3)
    forward, backward, inputs = CASES[op](rng, 2, 3, 6, np.float32)
    before = {n: a.copy() for n, a in _arrays(inputs)}
    out, cache = forward(**inputs)
    dout = rng.standard_normal(np.shape(out)).astype(np.float32)
    dout_before = dout.copy()
    backward(dout, cache)
    for name, a in _arrays(inputs):
        np.testing.assert_array_equal(a, before[name], err_msg=f"{op} changed input {name}")
    np.testing.assert_array_equal(dout, dout_before, err_msg=f"{op} changed its upstream gradient")


# --- masks ---------------------------------------------------------------------------------------


def test_causal_block_future_tokens_do_not_change_the_past():
    rng = np.random.default_rng(0)
    C, T, t = 6, 7, 3
    params = block_params(rng, C, np.float64)
    x = rng.standard_normal((2, T, C))
    y = x.copy()
    y[:, t + 1 :] = rng.standard_normal((2, T - t - 1, C))  # change every position after t
    out_x, _ = block_forward(x, params, n_head=2)
    out_y, _ = block_forward(y, params, n_head=2)
    np.testing.assert_array_equal(out_x[:, : t + 1], out_y[:, : t + 1])  # bit-identical
    assert not np.allclose(out_x[:, t + 1 :], out_y[:, t + 1 :])  # and the change did reach later


def test_padding_mask_padded_keys_change_nothing():
    rng = np.random.default_rng(1)
    B, T, C = 2, 6, 6
    params = block_params(rng, C, np.float64)
    mask = np.array([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 0]])
    x = rng.standard_normal((B, T, C))
    y = np.where(mask[..., None] == 0, rng.standard_normal((B, T, C)), x)  # new values at padding
    out_x, _ = block_forward(x, params, 2, causal=False, attention_mask=mask)
    out_y, _ = block_forward(y, params, 2, causal=False, attention_mask=mask)
    real = mask.astype(bool)
    np.testing.assert_array_equal(out_x[real], out_y[real])
    # without the mask the same change does reach the real positions
    free_x, _ = block_forward(x, params, 2, causal=False)
    free_y, _ = block_forward(y, params, 2, causal=False)
    assert not np.allclose(free_x[real], free_y[real])


def test_attention_probabilities_respect_the_masks():
    rng = np.random.default_rng(2)
    q, k, v = (rng.standard_normal((2, 3, 5, 4)) for _ in range(3))
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    out, cache = attention_forward(q, k, v, causal=True, attention_mask=mask)
    att = cache["att"]  # (B, nh, T, T)
    assert att.shape == (2, 3, 5, 5)
    np.testing.assert_allclose(att.sum(-1), 1.0, atol=1e-12)
    assert np.all(np.triu(att[1, 0], k=1) == 0)  # nothing looks ahead
    assert np.all(att[0, :, :, 3:] == 0)  # nothing looks at padding
    # out is the probabilities applied to the values (the V the article's formula leaves out)
    np.testing.assert_allclose(out, att @ v, atol=1e-12)


def test_attention_matches_the_formula_written_out():
    rng = np.random.default_rng(4)
    q, k, v = (rng.standard_normal((1, 1, 4, 3)) for _ in range(3))
    out, _ = attention_forward(q, k, v, causal=True)
    s = q[0, 0] @ k[0, 0].T / np.sqrt(3) + np.triu(np.full((4, 4), -np.inf), k=1)
    p = np.exp(s - s.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    np.testing.assert_allclose(out[0, 0], p @ v[0, 0], rtol=1e-12)


def test_kv_cache_shaped_causal_attention_equals_the_last_rows_of_full_attention():
    rng = np.random.default_rng(5)
    q, k, v = (rng.standard_normal((2, 2, 6, 4)) for _ in range(3))
    full, _ = attention_forward(q, k, v, causal=True)
    last2, _ = attention_forward(q[:, :, 4:], k, v, causal=True)  # 2 new queries, 6 keys
    np.testing.assert_allclose(last2, full[:, :, 4:], rtol=1e-12)


# --- stability -----------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropy_is_finite_for_logits_of_magnitude_1e4(dtype):
    logits = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, 1e4]], dtype=dtype)
    loss, cache = cross_entropy_forward(logits, np.array([1, 2]))
    dlogits = cross_entropy_backward(np.asarray(1.0, dtype), cache)
    assert np.isfinite(loss) and np.all(np.isfinite(dlogits))
    # row 0 predicts class 0 with certainty, target 1: nll = 2e4; row 1 is right: nll = 0
    np.testing.assert_allclose(float(loss), 1e4, rtol=1e-6)
    p, _ = softmax_forward(logits)
    assert np.all(np.isfinite(p))


def test_cross_entropy_worked_example_and_ignore_index():
    logits = np.log(np.array([[0.5, 0.25, 0.25], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6]]))
    loss, cache = cross_entropy_forward(logits, np.array([0, -100, 2]))
    # mean over the two counted targets: (-ln 0.5 - ln 0.6) / 2
    np.testing.assert_allclose(float(loss), -(np.log(0.5) + np.log(0.6)) / 2, rtol=1e-12)
    d = cross_entropy_backward(np.asarray(1.0), cache)
    np.testing.assert_allclose(d[1], 0.0)  # ignored row: no gradient
    np.testing.assert_allclose(d[0], (np.array([0.5, 0.25, 0.25]) - [1, 0, 0]) / 2, rtol=1e-12)
    all_ignored, c = cross_entropy_forward(logits, np.full(3, -100))
    assert float(all_ignored) == 0.0 and not cross_entropy_backward(np.asarray(1.0), c).any()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_layernorm_of_a_constant_row_is_finite(dtype):
    x = np.full((2, 3, 8), 7.0, dtype=dtype)
    w, b = np.ones(8, dtype), np.zeros(8, dtype)
    y, cache = layernorm_forward(x, w, b)
    dx, dw, db = layernorm_backward(np.ones_like(x), cache)
    assert np.all(y == 0) and np.all(np.isfinite(dx)) and np.all(np.isfinite(dw))


def test_layernorm_uses_biased_variance():
    y, _ = layernorm_forward(np.array([[0.0, 2.0]]), np.ones(2), np.zeros(2), eps=0.0)
    np.testing.assert_allclose(y, [[-1.0, 1.0]])  # var = 1 (divide by C), not 2 (by C - 1)


def test_gelu_tanh_and_exact_agree_closely_and_match_known_values():
    x = np.linspace(-4, 4, 81)
    tanh, _ = gelu_forward(x)
    exact, _ = gelu_forward(x, approximate="exact")
    assert np.max(np.abs(tanh - exact)) < 1e-3  # the approximation's known error is ~3e-4
    np.testing.assert_allclose(gelu_forward(np.array([1.0]), "exact")[0], [0.8413447460685429])


def test_embedding_repeated_ids_accumulate():
    wte, wpe = np.zeros((3, 2)), np.zeros((4, 2))
    _, cache = embedding_forward(np.array([[1, 1, 1]]), wte, wpe)
    dwte, dwpe = embedding_backward(np.ones((1, 3, 2)), cache)
    np.testing.assert_array_equal(dwte, [[0, 0], [3, 3], [0, 0]])
    np.testing.assert_array_equal(dwpe, [[1, 1], [1, 1], [1, 1], [0, 0]])


def test_dropout_is_identity_in_eval_and_inverted_in_training():
    x = np.ones((200, 100), dtype=np.float32)
    y, _ = dropout_forward(x, 0.5, training=False)
    assert y is x
    y, _ = dropout_forward(x, 0.25, np.random.default_rng(0), training=True)
    assert set(np.unique(y).tolist()) == {0.0, np.float32(1 / 0.75)}
    # 20,000 Bernoulli(0.75) draws: mean 1 after scaling, standard error ~0.004
    assert abs(y.mean() - 1.0) < 0.02
    y2, _ = dropout_forward(x, 0.25, np.random.default_rng(0), training=True)
    np.testing.assert_array_equal(y, y2)  # same generator state, same mask


# --- bad input -----------------------------------------------------------------------------------


def test_bad_input_errors_name_the_argument():
    rng = np.random.default_rng(0)
    wte, wpe = rng.standard_normal((5, 4)), rng.standard_normal((8, 4))
    with pytest.raises(ValueError, match=r"idx: ids must lie in \[0, 5\), got 7"):
        embedding_forward(np.array([[1, 7]]), wte, wpe)
    with pytest.raises(ValueError, match=r"idx: ids must lie in \[0, 5\), got -1"):
        embedding_forward(np.array([[-1, 2]]), wte, wpe)
    with pytest.raises(TypeError, match="idx: expected integer token ids, got dtype float64"):
        embedding_forward(np.array([[1.0, 2.0]]), wte, wpe)
    with pytest.raises(ValueError, match=r"idx: expected a 2-d array, got shape \(3,\)"):
        embedding_forward(np.array([1, 2, 3]), wte, wpe)
    with pytest.raises(ValueError, match="wpe has 8"):
        embedding_forward(np.zeros((1, 9), dtype=np.int64), wte, wpe)
    with pytest.raises(ValueError, match=r"x: expected last dimension 4 .* got \(2, 3\)"):
        linear_forward(np.ones((2, 3)), np.ones((4, 5)))
    with pytest.raises(ValueError, match=r"b: expected shape \(5\), got \(4,\)"):
        linear_forward(np.ones((2, 4)), np.ones((4, 5)), np.ones(4))
    with pytest.raises(TypeError, match="float32.*float64|float64.*float32"):
        linear_forward(np.ones((2, 4), np.float32), np.ones((4, 5)))
    with pytest.raises(ValueError, match=r"w: expected shape \(3\), got \(4,\)"):
        layernorm_forward(np.ones((2, 3)), np.ones(4))
    with pytest.raises(ValueError, match=r"targets: expected shape \(2,\), got \(3,\)"):
        cross_entropy_forward(np.zeros((2, 4)), np.array([0, 1, 2]))
    with pytest.raises(ValueError, match=r"targets: ids must lie in \[0, 4\), got 4"):
        cross_entropy_forward(np.zeros((2, 4)), np.array([0, 4]))
    with pytest.raises(TypeError, match="targets: expected integer"):
        cross_entropy_forward(np.zeros((2, 4)), np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"p: expected a finite number >= 0.0 and < 1.0, got 1.5"):
        dropout_forward(np.ones(3), 1.5, np.random.default_rng(0))
    with pytest.raises(TypeError, match="rng: expected a numpy.random.Generator"):
        dropout_forward(np.ones(3), 0.5, rng=None, training=True)
    with pytest.raises(ValueError, match="approximate: expected 'tanh' or 'exact', got 'relu'"):
        gelu_forward(np.ones(3), approximate="relu")


def test_attention_bad_input_errors():
    rng = np.random.default_rng(0)
    q = rng.standard_normal((2, 2, 5, 3))
    with pytest.raises(ValueError, match=r"attention_mask: expected shape \(2, 5\), got \(2, 4\)"):
        attention_forward(q, q, q, attention_mask=np.ones((2, 4), dtype=int))
    with pytest.raises(ValueError, match=r"attention_mask: expected 1 \(real token\) / 0"):
        attention_forward(q, q, q, attention_mask=np.full((2, 5), 2))
    with pytest.raises(ValueError, match=r"k: expected shape \(2, 2, any, 3\), got \(2, 2, 5, 4\)"):
        attention_forward(q, rng.standard_normal((2, 2, 5, 4)), q)
    with pytest.raises(ValueError, match=r"q: expected a 4-d array, got shape \(2, 5, 3\)"):
        attention_forward(q[:, 0], q, q)
    x = rng.standard_normal((2, 5, 6))
    w_attn, w_proj = rng.standard_normal((6, 18)), rng.standard_normal((6, 6))
    with pytest.raises(ValueError, match="n_head: expected a positive divisor of C=6, got 4"):
        self_attention_forward(x, w_attn, None, w_proj, None, n_head=4)
    with pytest.raises(ValueError, match=r"w_attn: expected shape \(6, 18\), got \(6, 12\)"):
        self_attention_forward(x, w_attn[:, :12], None, w_proj, None, n_head=2)
    with pytest.raises(ValueError, match=r"x: expected a 3-d array, got shape \(5, 6\)"):
        block_forward(x[0], block_params(rng, 6, np.float64), n_head=2)
    with pytest.raises(ValueError, match="params: missing"):
        block_forward(x, {}, n_head=2)


# --- defaults, edge cases and messages the tests above leave open --------------------------------


def _self_attention_inputs(rng, C=6):
    x = rng.standard_normal((2, 5, C))
    return x, rng.standard_normal((C, 3 * C)), None, rng.standard_normal((C, C)), None


def test_self_attention_is_causal_and_deterministic_by_default():
    rng = np.random.default_rng(7)
    x, w_attn, b_attn, w_proj, b_proj = _self_attention_inputs(rng)
    y = x.copy()
    y[:, 3:] = rng.standard_normal((2, 2, 6))  # change the last two positions
    out_x, _ = self_attention_forward(x, w_attn, b_attn, w_proj, b_proj, 2)
    out_y, _ = self_attention_forward(y, w_attn, b_attn, w_proj, b_proj, 2)
    np.testing.assert_array_equal(out_x[:, :3], out_y[:, :3])  # the past does not see them
    # a dropout probability alone does not switch dropout on: training defaults to False
    dropped, _ = self_attention_forward(x, w_attn, b_attn, w_proj, b_proj, 2, dropout_p=0.5)
    np.testing.assert_array_equal(dropped, out_x)


def test_self_attention_dropout_applies_in_training():
    """In training the attention probabilities are dropped with the given generator: the output
    changes, and the same seed gives the same output."""
    rng = np.random.default_rng(8)
    args = _self_attention_inputs(rng)
    plain, _ = self_attention_forward(*args, 2)
    a, cache = self_attention_forward(
        *args, 2, dropout_p=0.5, rng=np.random.default_rng(0), training=True
    )
    b, _ = self_attention_forward(
        *args, 2, dropout_p=0.5, rng=np.random.default_rng(0), training=True
    )
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - plain).max() > 1e-3
    keep = cache["core"]["drop"]  # (B, nh, T, T): 0 or 1 / (1 - p) = 2
    assert set(np.unique(keep).tolist()) == {0.0, 2.0}


def test_self_attention_errors_name_the_argument():
    rng = np.random.default_rng(9)
    x, w_attn, _, w_proj, _ = _self_attention_inputs(rng)
    with pytest.raises(ValueError, match=r"^x: expected a 3-d array, got shape \(5, 6\)$"):
        self_attention_forward(x[0], w_attn, None, w_proj, None, 2)
    with pytest.raises(TypeError, match="^x: expected a floating-point array, got dtype int64$"):
        self_attention_forward(x.astype(np.int64), w_attn, None, w_proj, None, 2)
    with pytest.raises(ValueError, match="^n_head: expected a positive divisor of C=6, got 2.0$"):
        self_attention_forward(x, w_attn, None, w_proj, None, 2.0)
    with pytest.raises(ValueError, match=r"^w_proj: expected shape \(6, 6\), got \(6, 5\)$"):
        self_attention_forward(x, w_attn, None, w_proj[:, :5], None, 2)


def test_a_kv_cache_forward_refuses_backward():
    rng = np.random.default_rng(10)
    x, w_attn, _, w_proj, _ = _self_attention_inputs(rng)
    out, cache = self_attention_forward(x, w_attn, None, w_proj, None, 2)
    kv = KVCache(2, 2, 6, 3, x.dtype)  # (B, nh, 6 positions, hs)
    self_attention_forward(x, w_attn, None, w_proj, None, 2, kv_cache=kv)  # the 5 earlier ones
    new, cache2 = self_attention_forward(x[:, :1], w_attn, None, w_proj, None, 2, kv_cache=kv)
    assert new.shape == (2, 1, 6)
    self_attention_backward(np.ones_like(out), cache)  # the plain forward: fine
    with pytest.raises(
        ValueError,
        match="^kv_cache: a forward pass with a KV cache is for inference, not backward$",
    ):
        self_attention_backward(np.ones_like(new), cache2)


def test_cross_entropy_rows_with_very_different_scales():
    """The shift is each row's own maximum: a row of logits near 1e4 next to a row near 0 must
    not push the second row's exponentials to 0. Row 0 predicts its target with certainty
    (nll 0); row 1 is [0, 1, 2] with target 2: nll = log(1 + e^-1 + e^-2) = 0.40760596."""
    logits = np.array([[1e4, 0.0, 0.0], [0.0, 1.0, 2.0]])
    loss, cache = cross_entropy_forward(logits, np.array([0, 2]))
    expected = np.log(1 + np.exp(-1) + np.exp(-2)) / 2
    np.testing.assert_allclose(float(loss), expected, rtol=1e-12)
    assert np.all(np.isfinite(cross_entropy_backward(np.asarray(1.0), cache)))


def test_cross_entropy_of_one_counted_target_is_its_negative_log_probability():
    """n = 1: the mean divides by 1. p = softmax([0, ln 3]) = [0.25, 0.75], target 1: -ln 0.75;
    dz = p - onehot = [0.25, -0.25]."""
    logits = np.array([[0.0, np.log(3.0)], [5.0, 0.0]])
    loss, cache = cross_entropy_forward(logits, np.array([1, -100]))
    np.testing.assert_allclose(float(loss), -np.log(0.75), rtol=1e-12)
    d = cross_entropy_backward(np.asarray(1.0), cache)
    np.testing.assert_allclose(d, [[0.25, -0.25], [0.0, 0.0]], rtol=0, atol=1e-15)


def test_cross_entropy_with_a_single_class():
    """V = 1: every counted target is certain (loss 0, gradient 0), and an ignored one is
    skipped without indexing a class that does not exist."""
    loss, cache = cross_entropy_forward(np.array([[2.0], [-1.0]]), np.array([0, -100]))
    assert float(loss) == 0.0
    np.testing.assert_array_equal(cross_entropy_backward(np.asarray(1.0), cache), [[0.0], [0.0]])


def test_cross_entropy_errors_name_the_argument():
    with pytest.raises(TypeError, match="^logits: expected a floating-point array, got dtype"):
        cross_entropy_forward(np.zeros((2, 4), dtype=np.int64), np.array([0, 1]))
    with pytest.raises(ValueError, match=r"^targets: expected shape \(2,\), got list$"):
        cross_entropy_forward(np.zeros((2, 4)), [0, 1])
    with pytest.raises(ValueError, match=r"^targets: expected shape \(2, 3\), got \(2, 4\)$"):
        cross_entropy_forward(np.zeros((2, 3, 5)), np.zeros((2, 4), dtype=np.int64))


def test_embedding_errors_name_the_argument():
    rng = np.random.default_rng(0)
    wte, wpe = rng.standard_normal((5, 4)), rng.standard_normal((8, 4))
    idx = np.array([[1, 2]])
    with pytest.raises(TypeError, match="^wte: expected a floating-point array, got dtype int64$"):
        embedding_forward(idx, wte.astype(np.int64), wpe)
    with pytest.raises(TypeError, match="^wpe: expected a floating-point array, got dtype int64$"):
        embedding_forward(idx, wte, wpe.astype(np.int64))
    with pytest.raises(ValueError, match=r"^wte: expected a 2-d array, got shape \(5,\)$"):
        embedding_forward(idx, wte[:, 0], wpe)
    with pytest.raises(ValueError, match=r"^wpe: expected a 2-d array, got shape \(8,\)$"):
        embedding_forward(idx, wte, wpe[:, 0])
    with pytest.raises(
        TypeError, match="^expected one floating dtype .* wte=float32, wpe=float64$"
    ):
        embedding_forward(idx, wte.astype(np.float32), wpe)
    with pytest.raises(ValueError, match=r"^wpe: expected 4 columns like wte, got shape \(8, 3\)$"):
        embedding_forward(idx, wte, wpe[:, :3])
    with pytest.raises(
        ValueError,
        match=r"^idx: positions 3\.\.8 need a position table of 9 rows, wpe has 8 \(the model's",
    ):
        embedding_forward(np.zeros((1, 6), dtype=np.int64), wte, wpe, pos0=3)


def test_layernorm_and_gelu_errors_name_the_argument():
    x, w, b = np.ones((2, 3)), np.ones(3), np.zeros(3)
    with pytest.raises(TypeError, match="^x: expected a floating-point array, got dtype int64$"):
        gelu_forward(np.ones(3, dtype=np.int64))
    with pytest.raises(TypeError, match="^x: expected a floating-point array, got dtype int64$"):
        layernorm_forward(x.astype(np.int64), w, b)
    with pytest.raises(TypeError, match="^w: expected a floating-point array, got dtype int64$"):
        layernorm_forward(x, w.astype(np.int64), b)
    with pytest.raises(TypeError, match="^b: expected a floating-point array, got dtype int64$"):
        layernorm_forward(x, w, b.astype(np.int64))
    with pytest.raises(ValueError, match=r"^b: expected shape \(3\), got \(4,\)$"):
        layernorm_forward(x, w, np.zeros(4))
    # one odd dtype out of three, in each position: named with its dtype
    f32 = np.float32
    for odd, args in (
        ("x=float32", (x.astype(f32), w, b)),
        ("w=float32", (x, w.astype(f32), b)),
        ("b=float32", (x, w, b.astype(f32))),
    ):
        with pytest.raises(TypeError, match=f"^expected one floating dtype .*{odd}"):
            layernorm_forward(*args)


def test_block_defaults_have_biases_and_no_dropout():
    assert len(block_param_shapes(4)) == 12 and "ln_1.bias" in block_param_shapes(4)
    rng = np.random.default_rng(11)
    params = block_params(rng, 6, np.float64)
    x = rng.standard_normal((2, 4, 6))
    plain, _ = block_forward(x, params, 2)
    # dropout alone does not drop: training defaults to False
    np.testing.assert_array_equal(block_forward(x, params, 2, dropout=0.5)[0], plain)
    with pytest.raises(ValueError, match=r"^x: expected a 3-d array, got shape \(4,\)$"):
        block_forward(x[0, 0, :4], params, 2)


def test_block_in_training_is_its_formula_written_out():
    """x + drop(attn(ln_1(x))), then + drop(mlp(ln_2(.))), with the exact GELU and dropout at
    its three places (attention probabilities, both residual branches) drawing from one
    generator in that order. Float64, to 1e-12."""
    rng = np.random.default_rng(12)
    p = block_params(rng, 6, np.float64)
    x = rng.standard_normal((2, 4, 6))
    out, _ = block_forward(
        x, p, 2, dropout=0.3, rng=np.random.default_rng(5), training=True, gelu="exact"
    )
    g = np.random.default_rng(5)
    h, _ = layernorm_forward(x, p["ln_1.weight"], p["ln_1.bias"])
    a, _ = self_attention_forward(
        h, p["attn.c_attn.weight"], p["attn.c_attn.bias"], p["attn.c_proj.weight"],
        p["attn.c_proj.bias"], 2, dropout_p=0.3, rng=g, training=True,
    )  # fmt: skip
    x1 = x + dropout_forward(a, 0.3, g)[0]
    h2, _ = layernorm_forward(x1, p["ln_2.weight"], p["ln_2.bias"])
    f = h2 @ p["mlp.c_fc.weight"] + p["mlp.c_fc.bias"]
    m = gelu_forward(f, "exact")[0] @ p["mlp.c_proj.weight"] + p["mlp.c_proj.bias"]
    expected = x1 + dropout_forward(m, 0.3, g)[0]
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-12)
    tanh, _ = block_forward(x, p, 2, dropout=0.3, rng=np.random.default_rng(5), training=True)
    assert np.abs(tanh - out).max() > 1e-6  # the GELU form reaches the block


def test_blocked_positions_is_causal_by_default():
    np.testing.assert_array_equal(
        blocked_positions(3, 3)[0, 0],
        [[False, True, True], [False, False, True], [False, False, False]],
    )
    assert blocked_positions(3, 3, causal=False) is None


def test_attention_mask_errors_say_what_was_given():
    q = np.random.default_rng(0).standard_normal((2, 2, 5, 3))
    with pytest.raises(TypeError, match="^attention_mask: expected a numpy array, got list$"):
        attention_forward(q, q, q, attention_mask=[[1] * 5] * 2)
    with pytest.raises(
        ValueError,
        match=r"^attention_mask: expected 1 \(real token\) / 0 \(padding\) or booleans, got "
        r"dtype int64 with values \[0 1 2 3 4\]$",  # the first five distinct values
    ):
        attention_forward(q, q, q, attention_mask=np.arange(10).reshape(2, 5))


def test_linear_of_a_single_vector():
    """x (Cin,) is one position: y = x @ W + b has shape (Cout,). [1, 2] @ [[1, 0, 1], [0, 1, 1]]
    + [0, 0, 1] = [1, 2, 4]."""
    y, _ = linear_forward(np.array([1.0, 2.0]), np.array([[1.0, 0, 1], [0, 1, 1]]), np.eye(3)[2])
    np.testing.assert_array_equal(y, [1.0, 2.0, 4.0])


def test_linear_errors_name_the_argument():
    x, w, b = np.ones((2, 4)), np.ones((4, 5)), np.ones(5)
    with pytest.raises(TypeError, match="^x: expected a floating-point array, got dtype int64$"):
        linear_forward(x.astype(np.int64), w, b)
    with pytest.raises(TypeError, match="^w: expected a floating-point array, got dtype int64$"):
        linear_forward(x, w.astype(np.int64), b)
    with pytest.raises(ValueError, match=r"^w: expected a 2-d array, got shape \(4,\)$"):
        linear_forward(x, w[:, 0], b)
    with pytest.raises(TypeError, match="^b: expected a floating-point array, got dtype int64$"):
        linear_forward(x, w, b.astype(np.int64))
    with pytest.raises(TypeError, match="^expected one floating dtype .*b=float64$"):
        linear_forward(x.astype(np.float32), w.astype(np.float32), b)


def test_attention_is_causal_and_deterministic_by_default():
    rng = np.random.default_rng(13)
    q, k, v = (rng.standard_normal((1, 2, 4, 3)) for _ in range(3))
    out, cache = attention_forward(q, k, v)
    assert np.all(np.triu(cache["att"][0, 0], k=1) == 0)  # nothing looks ahead
    np.testing.assert_array_equal(attention_forward(q, k, v, causal=True)[0], out)
    # a dropout probability alone does not switch dropout on: training defaults to False
    np.testing.assert_array_equal(attention_forward(q, k, v, dropout_p=0.5)[0], out)


def test_attention_input_errors_name_the_argument():
    rng = np.random.default_rng(14)
    q = rng.standard_normal((2, 2, 5, 3))
    i = q.astype(np.int64)
    with pytest.raises(TypeError, match="^k: expected a floating-point array, got dtype int64$"):
        attention_forward(q, i, q)
    with pytest.raises(TypeError, match="^v: expected a floating-point array, got dtype int64$"):
        attention_forward(q, q, i)
    with pytest.raises(ValueError, match=r"^v: expected shape \(2, 2, 5, 3\), got \(2, 2, 4, 3\)$"):
        attention_forward(q, q, q[:, :, :4])
    with pytest.raises(
        ValueError, match="^q: a causal query block cannot be longer than the keys, got 5 > 4$"
    ):
        attention_forward(q, q[:, :, :4], q[:, :, :4])
    f = q.astype(np.float32)
    for odd, args in (("q=float32", (f, q, q)), ("k=float32", (q, f, q)), ("v=float32", (q, q, f))):
        with pytest.raises(TypeError, match=f"^expected one floating dtype .*{odd}"):
            attention_forward(*args)


def test_dropout_draws_its_mask_in_the_dtype_of_x():
    """keep = (u >= p) / (1 - p) with u = rng.random(shape, dtype=x.dtype): the mask is a known
    function of the generator's state, and training is the default."""
    for dtype in (np.float32, np.float64):
        x = np.ones((4, 50), dtype)
        y, keep = dropout_forward(x, 0.25, np.random.default_rng(1))  # training by default
        u = np.random.default_rng(1).random((4, 50), dtype=dtype)
        expected = (u >= 0.25) * dtype(1 / 0.75)
        np.testing.assert_array_equal(keep, expected)
        np.testing.assert_array_equal(y, x * expected)
        assert y.dtype == keep.dtype == dtype


def test_dropout_keeps_an_element_whose_draw_equals_p():
    """Keep when u >= p, so P(keep) = 1 - p exactly: p set to the first draw itself keeps the
    first element."""
    p = float(np.random.default_rng(2).random(1, dtype=np.float32)[0])
    y, _ = dropout_forward(np.ones(3, np.float32), p, np.random.default_rng(2))
    assert y[0] == np.float32(1 / (1 - p))


def test_dropout_with_p_0_in_training_is_the_identity_and_draws_nothing():
    rng = np.random.default_rng(3)
    x = np.ones(5)
    y, cache = dropout_forward(x, 0.0, rng, training=True)
    assert y is x and cache is None
    assert rng.random() == np.random.default_rng(3).random()  # the generator was not used


def test_dropout_and_softmax_errors_name_the_argument():
    with pytest.raises(TypeError, match="^x: expected a floating-point array, got dtype int64$"):
        dropout_forward(np.ones(3, dtype=np.int64), 0.5, np.random.default_rng(0))
    with pytest.raises(
        ValueError, match=r"^p: expected a finite number >= 0.0 and < 1.0, got 1.0$"
    ):
        dropout_forward(np.ones(3), 1.0, np.random.default_rng(0))
    with pytest.raises(TypeError, match="^rng: expected .* in training, got <class 'int'>$"):
        dropout_forward(np.ones(3), 0.5, rng=0)
    with pytest.raises(TypeError, match="^x: expected a floating-point array, got dtype int64$"):
        softmax_forward(np.ones(3, dtype=np.int64))
