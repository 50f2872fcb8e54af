"""The ops that save passes over memory (in-place steps, `out=` arguments, a masked write instead
of an added mask, one copy instead of two) give the very bits of their formulas written out as
one expression: each formula below is the op's line before the rewrite, and the two are compared
byte for byte, in float32 and float64, on inputs with the awkward values (-inf rows, ignored
targets, large and tiny activations)."""

import math

import numpy as np
import pytest

from tinytransformer.ops.attention import (
    attention_backward,
    attention_forward,
    blocked_positions,
    merge_heads,
    self_attention_backward,
    self_attention_forward,
    split_heads,
)
from tinytransformer.ops.cross_entropy import cross_entropy_backward, cross_entropy_forward
from tinytransformer.ops.gelu import INV_SQRT_2PI, SQRT_2_OVER_PI, A, gelu_backward, gelu_forward
from tinytransformer.ops.layernorm import EPS, layernorm_backward, layernorm_forward
from tinytransformer.ops.linear import linear_backward
from tinytransformer.ops.softmax import softmax_backward, softmax_forward

DTYPES = [np.float32, np.float64]


def assert_same_bits(got, want):
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype and got.shape == want.shape
    assert got.tobytes() == want.tobytes(), f"max difference {np.abs(got - want).max()}"


def randn(rng, shape, dtype, scale=1.0):
    return (scale * rng.standard_normal(shape)).astype(dtype)


# --- the formulas, as one expression each ---------------------------------------------------------


def softmax_formula(x):
    m = x.max(axis=-1, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0).astype(x.dtype, copy=False)
    e = np.exp(x - m)
    s = e.sum(axis=-1, keepdims=True)
    s[s == 0] = 1.0
    return e / s


def softmax_backward_formula(dout, p):
    return p * (dout - (dout * p).sum(axis=-1, keepdims=True))


def gelu_formula(x):
    phi = 0.5 * (1.0 + np.tanh(SQRT_2_OVER_PI * (x + A * x * x * x)))
    return x * phi, phi


def gelu_backward_formula(dout, x, phi, approximate):
    if approximate == "tanh":
        dphi = 2.0 * phi * (1.0 - phi) * (SQRT_2_OVER_PI * (1.0 + 3.0 * A * x * x))
    else:
        dphi = INV_SQRT_2PI * np.exp(-0.5 * x * x)
    return dout * (phi + x * dphi)


def layernorm_formula(x, w, b):
    mean = x.mean(axis=-1, keepdims=True)
    xc = x - mean
    rstd = 1.0 / np.sqrt((xc * xc).mean(axis=-1, keepdims=True) + EPS)
    norm = xc * rstd
    return norm * w + b, norm, rstd


def layernorm_backward_formula(dout, norm, w, rstd):
    dnorm = dout * w
    mean_dnorm = dnorm.mean(axis=-1, keepdims=True)
    mean_dnorm_norm = (dnorm * norm).mean(axis=-1, keepdims=True)
    return (dnorm - mean_dnorm - norm * mean_dnorm_norm) * rstd


def attention_formula(q, k, v, causal, attention_mask):
    scores = (q @ k.swapaxes(-1, -2)) * (1.0 / math.sqrt(q.shape[-1]))
    Tq, Tk = q.shape[2], k.shape[2]
    blocked = (np.arange(Tk) > np.arange(Tk - Tq, Tk)[:, None])[None, None] if causal else None
    if attention_mask is not None:
        pad = ~attention_mask.astype(bool)[:, None, None, :]
        blocked = pad if blocked is None else blocked | pad
    if blocked is not None:
        scores = scores + np.where(blocked, -np.inf, 0.0).astype(scores.dtype)
    att = softmax_formula(scores)
    return att @ v, att


def cross_entropy_backward_formula(probs, safe_t, valid, count, dloss):
    V = probs.shape[-1]
    onehot = np.zeros_like(probs).reshape(-1, V)
    onehot[np.arange(onehot.shape[0]), safe_t.reshape(-1)] = 1.0
    weight = valid[..., None] * (float(dloss) / max(count, 1))
    return (probs - onehot.reshape(probs.shape)) * weight.astype(probs.dtype, copy=False)


# --- the ops against them -------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_forward_and_backward_give_the_formulas_bits(dtype):
    rng = np.random.default_rng(0)
    x = randn(rng, (4, 3, 7, 9), dtype, scale=5.0)
    x[0, 0, 0] = -np.inf  # an all -inf row: probabilities 0
    x[1, 2, 3, :4] = -np.inf  # a partly masked row
    p, cache = softmax_forward(x)
    assert_same_bits(p, softmax_formula(x))
    dout = randn(rng, x.shape, dtype)
    assert_same_bits(softmax_backward(dout, cache), softmax_backward_formula(dout, p))


@pytest.mark.parametrize("dtype", DTYPES)
def test_gelu_forward_and_backward_give_the_formulas_bits(dtype):
    rng = np.random.default_rng(1)
    x = randn(rng, (5, 6, 40), dtype, scale=4.0)
    x[0, 0, :4] = [0.0, -0.0, 30.0, -30.0]  # zero, and tanh saturated at either end
    y, cache = gelu_forward(x)
    want_y, phi = gelu_formula(x)
    assert_same_bits(y, want_y)
    assert_same_bits(cache[1], phi)
    dout = randn(rng, x.shape, dtype)
    assert_same_bits(gelu_backward(dout, cache), gelu_backward_formula(dout, x, phi, "tanh"))
    _, exact = gelu_forward(x, "exact")
    assert_same_bits(gelu_backward(dout, exact), gelu_backward_formula(dout, x, exact[1], "exact"))


@pytest.mark.parametrize("dtype", DTYPES)
def test_layernorm_forward_and_backward_give_the_formulas_bits(dtype):
    rng = np.random.default_rng(2)
    x = randn(rng, (3, 5, 24), dtype, scale=3.0)
    x[0, 0] = 2.5  # a constant row: var 0, eps keeps it finite
    w, b = randn(rng, (24,), dtype), randn(rng, (24,), dtype)
    y, cache = layernorm_forward(x, w, b)
    want_y, norm, rstd = layernorm_formula(x, w, b)
    assert_same_bits(y, want_y)
    assert_same_bits(cache[0], norm)
    dout = randn(rng, x.shape, dtype)
    dx, _, _ = layernorm_backward(dout, cache)
    assert_same_bits(dx, layernorm_backward_formula(dout, norm, w, rstd))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "causal, padded, Tq", [(True, False, 6), (True, True, 6), (False, True, 6), (True, False, 2)]
)
def test_attention_gives_the_formulas_bits(dtype, causal, padded, Tq):
    """Tq < Tk: the last Tq positions as queries, as a chunk of generation would be."""
    rng = np.random.default_rng(3)
    B, nh, Tk, hs = 2, 3, 6, 5  # hs = 5: 1 / sqrt(hs) is not a power of 2
    q, k, v = randn(rng, (B, nh, Tq, hs), dtype), *(randn(rng, (B, nh, Tk, hs), dtype),) * 2
    v = randn(rng, (B, nh, Tk, hs), dtype)
    mask = np.array([[0, 0, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1]]) if padded else None
    out, cache = attention_forward(q, k, v, causal=causal, attention_mask=mask)
    want_out, want_att = attention_formula(q, k, v, causal, mask)
    assert_same_bits(cache["att"], want_att)
    assert_same_bits(out, want_out)
    dout = randn(rng, out.shape, dtype)
    dq, dk, dv = attention_backward(dout, cache)
    scale = 1.0 / math.sqrt(hs)
    dscores = softmax_backward_formula(dout @ v.swapaxes(-1, -2), want_att)
    assert_same_bits(dq, (dscores @ k) * scale)
    assert_same_bits(dk, (dscores.swapaxes(-1, -2) @ q) * scale)
    assert_same_bits(dv, want_att.swapaxes(-1, -2) @ dout)


def test_a_single_causal_query_blocks_nothing_and_gives_the_masked_formulas_bits():
    """A decode step (one query, the newest position) needs no mask: with it or without, the
    same bits."""
    assert blocked_positions(1, 5) is None
    assert blocked_positions(1, 5, attention_mask=np.ones((2, 5))).shape == (2, 1, 1, 5)
    rng = np.random.default_rng(4)
    q, k, v = randn(rng, (2, 2, 1, 4), np.float32), *(randn(rng, (2, 2, 5, 4), np.float32),) * 2
    out, _ = attention_forward(q, k, v)
    assert_same_bits(out, attention_formula(q, k, v, True, None)[0])


@pytest.mark.parametrize("dtype", DTYPES)
def test_self_attention_backward_writes_dqkv_as_merge_and_concatenate_would(dtype):
    rng = np.random.default_rng(5)
    B, T, C, nh = 2, 5, 12, 3
    x = randn(rng, (B, T, C), dtype)
    w_attn, w_proj = randn(rng, (C, 3 * C), dtype), randn(rng, (C, C), dtype)
    b_attn, b_proj = randn(rng, (3 * C,), dtype), randn(rng, (C,), dtype)
    out, cache = self_attention_forward(x, w_attn, b_attn, w_proj, b_proj, nh)
    dout = randn(rng, out.shape, dtype)
    got = self_attention_backward(dout, cache)
    dy, _, _ = linear_backward(dout, cache["c_proj"])
    grads = attention_backward(split_heads(dy, nh), cache["core"])
    dqkv = np.concatenate([merge_heads(d) for d in grads], axis=-1)
    want_dx, want_dw, _ = linear_backward(dqkv, cache["c_attn"])
    assert_same_bits(got[0], want_dx)
    assert_same_bits(got[1], want_dw)


@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_gives_the_formulas_bits(dtype):
    rng = np.random.default_rng(6)
    logits = randn(rng, (3, 4, 11), dtype, scale=6.0)
    targets = rng.integers(0, 11, (3, 4))
    targets[0, :2] = -100  # ignored: weight 0
    loss, cache = cross_entropy_forward(logits, targets)
    probs, safe_t, valid, count = cache
    assert_same_bits(probs, softmax_formula(logits))
    dloss = np.asarray(0.7, dtype)
    assert_same_bits(
        cross_entropy_backward(dloss, cache),
        cross_entropy_backward_formula(probs, safe_t, valid, count, dloss),
    )
