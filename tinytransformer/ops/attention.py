"""Multi-head scaled dot-product attention.

    Attention(Q, K, V) = softmax(Q K^T / sqrt(hs) + M) V

M is 0 where a query may look at a key and -inf where it may not: the causal mask (no looking
ahead) and the padding mask (no looking at padding; `attention_mask` (B, Tk) is 1 for a real
token and 0 for padding, here as everywhere in the package). Note the V: the article's formula (its
section 4.1) stops at the softmax, which only gives the weights; the output is those weights
applied to the values.

Two levels:
- attention_forward/backward: the core on q, k, v already split into heads (B, nh, T, hs);
- self_attention_forward/backward: x -> one (C, 3C) projection split into q, k, v (in that
  order, as GPT-2) -> heads -> attention -> merge heads -> (C, C) output projection.

Left out: fused or flash kernels, rotary/relative positions, cross-attention.
"""

import math

import numpy as np

from tinytransformer.checks import check_float, check_same_dtype, check_shape
from tinytransformer.ops.dropout import dropout_backward, dropout_forward
from tinytransformer.ops.linear import linear_backward, linear_forward
from tinytransformer.ops.softmax import softmax_backward, softmax_forward


def split_heads(x, n_head):
    """(B, T, C) -> (B, nh, T, hs) with hs = C // nh."""
    B, T, C = x.shape
    return x.reshape(B, T, n_head, C // n_head).transpose(0, 2, 1, 3)


def merge_heads(x):
    """(B, nh, T, hs) -> (B, T, C): the inverse of split_heads."""
    B, nh, T, hs = x.shape
    return x.transpose(0, 2, 1, 3).reshape(B, T, nh * hs)


def blocked_positions(Tq, Tk, causal=True, attention_mask=None):
    """Boolean array, True where a query may NOT attend a key; None when nothing is blocked.

    Shape (1, 1, Tq, Tk) for the causal mask alone, (B, 1, Tq, Tk) with padding.
    Causal: the Tq queries are the last Tq of the Tk positions (Tq < Tk when generating with a
    KV cache), so query i sits at position Tk - Tq + i and may see keys j <= Tk - Tq + i.
    attention_mask (B, Tk): 1 (or True) for a real token, 0 for padding, as everywhere in the
    package (Hugging Face's convention).
    A single causal query (a decode step) is the newest position: it sees every key, and nothing
    is blocked.
    """
    blocked = None
    if causal and Tq > 1:
        ahead = np.arange(Tk) > np.arange(Tk - Tq, Tk)[:, None]  # (Tq, Tk): key after query
        blocked = ahead[None, None]  # (1, 1, Tq, Tk)
    if attention_mask is not None:
        pad = ~attention_mask.astype(bool)[:, None, None, :]  # (B, 1, 1, Tk)
        blocked = pad if blocked is None else blocked | pad  # (B, 1, Tq, Tk)
    return blocked


def check_attention_mask(mask, B, Tk):
    """attention_mask (B, Tk) holds 1 (real token) / 0 (padding) or booleans, or is None."""
    if mask is None:
        return
    if not isinstance(mask, np.ndarray):
        raise TypeError(f"attention_mask: expected a numpy array, got {type(mask).__name__}")
    check_shape("attention_mask", mask, (B, Tk))
    if mask.dtype != bool and not (
        np.issubdtype(mask.dtype, np.integer) and np.isin(mask, (0, 1)).all()
    ):
        raise ValueError(
            f"attention_mask: expected 1 (real token) / 0 (padding) or booleans, got dtype "
            f"{mask.dtype} with values {np.unique(mask)[:5]}"
        )


def attention_forward(
    q,
    k,
    v,
    *,
    causal=True,
    attention_mask=None,
    dropout_p=0.0,
    rng=None,
    training=False,
    check=True,
):
    """q (B, nh, Tq, hs), k and v (B, nh, Tk, hs) -> out (B, nh, Tq, hs).

    out = softmax(q @ k^T / sqrt(hs) + M) @ v, M = -inf where blocked_positions says so, else 0.
    The cache is a dict; cache["att"] (B, nh, Tq, Tk) holds the attention probabilities
    (before dropout), one row per query; attention maps are read from it.

    Checks (check=True): q, k, v float 4-d of one dtype and matching shapes, the mask (B, Tk) of
    0/1, no causal query block longer than the keys; the model's own calls pass check=False: it
    checked its inputs once, at its entry.
    """
    if check:
        _check_attention(q, k, v, causal, attention_mask)
    hs = q.shape[-1]
    Tq, Tk = q.shape[2], k.shape[2]
    scale = 1.0 / math.sqrt(hs)  # a Python float: keeps float32 in float32
    scores = q @ k.swapaxes(-1, -2)  # (B, nh, Tq, Tk)
    scores *= scale  # in place: / sqrt(hs) keeps the scores' variance ~ 1
    blocked = blocked_positions(Tq, Tk, causal, attention_mask)  # (1 or B, 1, Tq, Tk) or None
    if blocked is not None:
        # + M, M = -inf where blocked and 0 elsewhere: written in place, one pass and no (Tq, Tk)
        # array of M; exp(-inf) = 0, so a blocked key gets probability 0
        np.copyto(scores, -np.inf, where=blocked)
    att, _ = softmax_forward(scores, check=False)  # (B, nh, Tq, Tk)
    att_drop, drop_cache = dropout_forward(att, dropout_p, rng, training, check=False)
    out = att_drop @ v  # (B, nh, Tq, hs)
    cache = {"q": q, "k": k, "v": v, "att": att, "att_drop": att_drop, "drop": drop_cache}
    return out, cache


def attention_backward(dout, cache):
    """dout (B, nh, Tq, hs) -> (dq, dk, dv) shaped like q, k, v. Checks: none."""
    q, k, v = cache["q"], cache["k"], cache["v"]
    scale = 1.0 / math.sqrt(q.shape[-1])
    # out = att_drop @ v
    datt_drop = dout @ v.swapaxes(-1, -2)  # (B, nh, Tq, Tk)
    dv = cache["att_drop"].swapaxes(-1, -2) @ dout  # (B, nh, Tk, hs)
    # att_drop = dropout(att)
    datt = dropout_backward(datt_drop, cache["drop"])  # (B, nh, Tq, Tk)
    # att = softmax(scores); blocked entries have att = 0, so their gradient is 0
    dscores = softmax_backward(datt, cache["att"])  # (B, nh, Tq, Tk)
    # scores = q @ k^T * scale + M  (M is a constant)
    dq = dscores @ k  # (B, nh, Tq, hs)
    dq *= scale  # in place, as each product below: the product is a new array of ours
    dk = dscores.swapaxes(-1, -2) @ q  # (B, nh, Tk, hs)
    dk *= scale
    return dq, dk, dv


def self_attention_forward(
    x,
    w_attn,
    b_attn,
    w_proj,
    b_proj,
    n_head,
    *,
    causal=True,
    attention_mask=None,
    dropout_p=0.0,
    rng=None,
    training=False,
    kv_cache=None,
    check=True,
):
    """x (B, T, C), w_attn (C, 3C), w_proj (C, C), biases or None -> y (B, T, C).

    cache["core"]["att"] (B, nh, T, Tk) holds the attention probabilities.
    kv_cache, for generating (inference only): a models.kv_cache.KVCache, preallocated, that this
    call appends the new positions' keys and values to (in place: the one input an op changes)
    and reads them all from, so the new T positions attend to the Tpast earlier ones and to
    themselves (Tk = Tpast + T).

    Checks (check=True): x float (B, T, C), n_head divides C, the weights' shapes, and the
    checks of the linear and attention ops; the model's own calls pass check=False.
    """
    if check:
        _check_self_attention(x, w_attn, b_attn, w_proj, b_proj, n_head)
    qkv, c_attn = linear_forward(x, w_attn, b_attn, check=check)  # (B, T, 3C)
    q, k, v = np.split(qkv, 3, axis=-1)  # 3 x (B, T, C), in GPT-2's order q, k, v
    q, k, v = (split_heads(a, n_head) for a in (q, k, v))  # 3 x (B, nh, T, hs)
    if kv_cache is not None:  # the earlier positions' keys and values are reused, not recomputed
        k, v = kv_cache.append(k, v)  # (B, nh, Tpast + T, hs) each, views of the cache
    y, c_core = attention_forward(
        q,
        k,
        v,
        causal=causal,
        attention_mask=attention_mask,
        dropout_p=dropout_p,
        rng=rng,
        training=training,
        check=check,
    )  # (B, nh, T, hs)
    y = merge_heads(y)  # (B, T, C): heads side by side
    out, c_proj = linear_forward(y, w_proj, b_proj, check=False)  # (B, T, C)
    cache = {"c_attn": c_attn, "core": c_core, "c_proj": c_proj, "n_head": n_head}
    cache["inference_only"] = kv_cache is not None
    return out, cache


def self_attention_backward(dout, cache):
    """dout (B, T, C) -> (dx, dw_attn, db_attn, dw_proj, db_proj); biases None if absent.
    Checks: that the forward was not an inference pass with a KV cache."""
    if cache["inference_only"]:
        raise ValueError("kv_cache: a forward pass with a KV cache is for inference, not backward")
    # out = y @ w_proj + b_proj
    dy, dw_proj, db_proj = linear_backward(dout, cache["c_proj"])  # (B, T, C)
    # y = merge_heads(attention(q, k, v))
    dq, dk, dv = attention_backward(split_heads(dy, cache["n_head"]), cache["core"])
    # q, k, v = split(qkv) into heads: their gradients merge and sit side by side again, each
    # written straight into its third of dqkv (one copy, where merge_heads + concatenate made two)
    B, nh, T, hs = dq.shape
    dqkv = np.empty((B, T, 3, nh, hs), dq.dtype)  # (B, T, 3C) once reshaped: q | k | v
    for i, d in enumerate((dq, dk, dv)):
        dqkv[:, :, i] = d.transpose(0, 2, 1, 3)  # (B, T, nh, hs) = merge_heads(d) before reshape
    dqkv = dqkv.reshape(B, T, 3 * nh * hs)  # (B, T, 3C)
    # qkv = x @ w_attn + b_attn
    dx, dw_attn, db_attn = linear_backward(dqkv, cache["c_attn"])  # (B, T, C)
    return dx, dw_attn, db_attn, dw_proj, db_proj


def _check_attention(q, k, v, causal, attention_mask):
    for name, a in (("q", q), ("k", k), ("v", v)):
        check_float(name, a, ndim=4)
    check_same_dtype(q=q, k=k, v=v)
    B, nh, Tq, hs = q.shape
    Tk = k.shape[2]
    check_shape("k", k, (B, nh, None, hs))
    check_shape("v", v, (B, nh, Tk, hs))
    check_attention_mask(attention_mask, B, Tk)
    if causal and Tq > Tk:
        raise ValueError(f"q: a causal query block cannot be longer than the keys, got {Tq} > {Tk}")


def _check_self_attention(x, w_attn, b_attn, w_proj, b_proj, n_head):
    check_float("x", x, ndim=3)
    C = x.shape[-1]
    if not isinstance(n_head, int) or n_head < 1 or C % n_head:
        raise ValueError(f"n_head: expected a positive divisor of C={C}, got {n_head}")
    check_shape("w_attn", w_attn, (C, 3 * C))
    check_shape("w_proj", w_proj, (C, C))
