"""Answers to the exercises written the way students write them (full functions, their own
variable names): WRONG ones, each with the known mistake the check should name (or None where it
only has to reject it), and RIGHT ones that compute the same thing another way (loops, other
formulas, other rounding), which must pass. tests/test_exercises.py runs every one through
check(), on several seeds.
"""

import json
import math
import struct
from collections import Counter

import numpy as np

# --- helpers a student would write ---------------------------------------------------------------


def _softmax(s):
    e = np.exp(s - s.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _causal(T):
    return np.triu(np.ones((T, T), dtype=bool), k=1)  # True where the key is after the query


# --- 4.1.1 softmax(x) -----------------------------------------------------------------------------


def softmax_no_max(x):
    e = np.exp(x)
    return e / np.sum(e, axis=-1, keepdims=True)


def softmax_row_min(x):
    e = np.exp(x - x.min(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def softmax_row_mean(x):
    shifted = x - np.mean(x, axis=-1, keepdims=True)
    return np.exp(shifted) / np.exp(shifted).sum(axis=-1, keepdims=True)


def softmax_global_max(x):
    e = np.exp(x - np.max(x))
    return e / e.sum(axis=-1, keepdims=True)


def softmax_global_sum(x):
    e = np.exp(x - np.max(x))
    return e / e.sum()


def softmax_keepdims_forgotten(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1)  # broadcasts the wrong way on every non-square batch


def softmax_max_without_keepdims(x):
    e = np.exp(x - x.max(axis=-1))
    return e / e.sum(axis=-1, keepdims=True)


def softmax_first_axis(x):
    e = np.exp(x - x.max(axis=0))
    return e / e.sum(axis=0)


def softmax_in_float32(x):
    x = x.astype(np.float32)
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def softmax_unnormalised(x):
    return np.exp(x - x.max(axis=-1, keepdims=True))


def softmax_clipped(x):
    e = np.exp(np.clip(x, -700, 700))  # "avoids overflow"
    return e / e.sum(axis=-1, keepdims=True)


def softmax_log_space_unstable(x):
    log_z = np.log(np.exp(x).sum(axis=-1, keepdims=True))
    return np.exp(x - log_z)


def softmax_divided_by_max(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.max(axis=-1, keepdims=True)


def softmax_nan_to_num(x):
    e = np.exp(x)
    return np.nan_to_num(e / e.sum(axis=-1, keepdims=True))


def softmax_in_place(x):
    x -= x.max(axis=-1, keepdims=True)
    np.exp(x, out=x)
    x /= x.sum(axis=-1, keepdims=True)
    return x


def softmax_as_list(x):
    return _softmax(x).tolist()


def softmax_right_by_rows(x):
    out = np.empty_like(x)
    for i in np.ndindex(x.shape[:-1]):
        row = x[i]
        e = np.exp(row - row.max())
        out[i] = e / e.sum()
    return out


def softmax_right_logsumexp(x):
    m = x.max(axis=-1, keepdims=True)
    return np.exp(x - (m + np.log(np.exp(x - m).sum(axis=-1, keepdims=True))))


def softmax_right_flattened(x):
    rows = x.reshape(-1, x.shape[-1])
    e = np.exp(rows - rows.max(axis=1)[:, None])
    return (e / e.sum(axis=1)[:, None]).reshape(x.shape)


# --- 4.1.2 softmax_backward(dout, p) --------------------------------------------------------------


def softmax_backward_diagonal(dout, p):
    return dout * p * (1 - p)


def softmax_backward_no_sum(dout, probs):
    return probs * dout


def softmax_backward_sum_over_all(dout, p):
    return p * (dout - np.sum(dout * p))


def softmax_backward_not_times_p(dout, p):
    return dout - (dout * p).sum(axis=-1, keepdims=True)


def softmax_backward_first_axis(dout, p):
    return p * (dout - (dout * p).sum(axis=0, keepdims=True))


def softmax_backward_sign(dout, p):
    return p * ((dout * p).sum(axis=-1, keepdims=True) - dout)


def softmax_backward_plain_mean(dout, p):
    return p * (dout - dout.mean(axis=-1, keepdims=True))


def softmax_backward_keepdims_forgotten(dout, p):
    return p * (dout - (dout * p).sum(axis=-1))


def softmax_backward_outer_wrong(dout, p):
    out = np.empty_like(dout)
    for i in np.ndindex(p.shape[:-1]):
        jac = np.diag(p[i]) - p[i]  # the outer product p p^T forgotten: every row minus p
        out[i] = jac @ dout[i]
    return out


def softmax_backward_right_jacobian(dout, p):
    out = np.empty_like(dout)
    for i in np.ndindex(p.shape[:-1]):
        jacobian = np.diag(p[i]) - np.outer(p[i], p[i])
        out[i] = jacobian @ dout[i]
    return out


def softmax_backward_right_einsum(dout, p):
    return p * dout - p * np.einsum("...i,...i->...", dout, p)[..., None]


def softmax_backward_right_expanded(dout, p):
    s = (dout * p).sum(axis=-1, keepdims=True)
    return p * dout - p * s


# --- 4.1.3 attention(q, k, v, causal) -------------------------------------------------------------


def _attention_with(q, k, v, causal, scale, mask="before", stable=True, axis=-1, offset=1):
    scores = q @ np.swapaxes(k, -1, -2) * scale
    T = q.shape[-2]
    blocked = np.triu(np.ones((T, T), dtype=bool), k=offset)
    if causal and mask == "before":
        scores = np.where(blocked, -np.inf, scores)
    if stable:
        e = np.exp(scores - scores.max(axis=axis, keepdims=True))
    else:
        e = np.exp(scores)
    w = e / e.sum(axis=axis, keepdims=True)
    if causal and mask == "after":
        w = w * ~blocked
    return (np.nan_to_num(w) if offset == 0 else w) @ v  # a row with every key masked: NaN


def attention_unscaled(q, k, v, causal):
    return _attention_with(q, k, v, causal, 1.0)


def attention_weights_only(q, k, v, causal):  # the article's formula, without V
    scores = q @ np.swapaxes(k, -1, -2) / math.sqrt(q.shape[-1])
    if causal:
        T = q.shape[-2]
        scores = np.where(np.tril(np.ones((T, T))) == 1, scores, -np.inf)
    return _softmax(scores)


def attention_diagonal_masked(q, k, v, causal):
    return _attention_with(q, k, v, causal, 1 / math.sqrt(q.shape[-1]), offset=0)


def attention_sees_next(q, k, v, causal):
    return _attention_with(q, k, v, causal, 1 / math.sqrt(q.shape[-1]), offset=2)


def attention_mask_after_softmax(q, k, v, causal):
    return _attention_with(q, k, v, causal, 1 / math.sqrt(q.shape[-1]), mask="after")


def attention_sqrt_of_T(q, k, v, causal):
    return _attention_with(q, k, v, causal, 1 / math.sqrt(q.shape[-2]))


def attention_over_hs(q, k, v, causal):
    return _attention_with(q, k, v, causal, 1 / q.shape[-1])


def attention_no_max(q, k, v, causal):
    return _attention_with(q, k, v, causal, 1 / math.sqrt(q.shape[-1]), stable=False)


def attention_always_masked(q, k, v, causal):
    return _attention_with(q, k, v, True, 1 / math.sqrt(q.shape[-1]))


def attention_never_masked(q, k, v, causal):
    return _attention_with(q, k, v, False, 1 / math.sqrt(q.shape[-1]))


def attention_over_queries(q, k, v, causal):
    return _attention_with(q, k, v, causal, 1 / math.sqrt(q.shape[-1]), axis=-2)


def attention_k_not_transposed(q, k, v, causal):
    scores = q @ k / math.sqrt(q.shape[-1])  # shapes agree only when T = hs
    return _softmax(scores) @ v


def attention_right_loops(q, k, v, causal):
    B, nh, T, hs = q.shape
    out = np.zeros_like(v)
    for b in range(B):
        for h in range(nh):
            for i in range(T):
                keys = range(i + 1) if causal else range(T)
                s = np.array([q[b, h, i] @ k[b, h, j] for j in keys]) / np.sqrt(hs)
                w = np.exp(s - s.max())
                w /= w.sum()
                out[b, h, i] = sum(wj * v[b, h, j] for wj, j in zip(w, keys))
    return out


def attention_right_big_negative_mask(q, k, v, causal):
    s = np.einsum("bhqd,bhkd->bhqk", q, k) / np.sqrt(q.shape[-1])
    if causal:
        s = s + np.triu(np.full(s.shape[-2:], -1e30), k=1)
    return _softmax(s) @ v


def attention_right_library_softmax(q, k, v, causal):
    from tinytransformer.ops import softmax_forward  # allowed: the exercise asks for attention

    s = q @ k.swapaxes(-1, -2) / np.sqrt(q.shape[-1])
    if causal:
        s = np.where(_causal(q.shape[-2]), -np.inf, s)
    return softmax_forward(s)[0] @ v


# --- 4.1.4 attention_backward(dout, q, k, v, causal) ----------------------------------------------


def _weights(q, k, causal, stable=True):
    s = q @ np.swapaxes(k, -1, -2) / math.sqrt(q.shape[-1])
    if causal:
        s = np.where(_causal(q.shape[-2]), -np.inf, s)
    if stable:
        return _softmax(s)
    e = np.exp(s)
    return e / e.sum(axis=-1, keepdims=True)


def _backward(dout, q, k, v, a, scale, dv_t=True, dk_t=True, sum_term=True):
    da = dout @ np.swapaxes(v, -1, -2)
    ds = a * (da - (da * a).sum(-1, keepdims=True)) if sum_term else a * da
    ds = ds * scale
    dv = (np.swapaxes(a, -1, -2) if dv_t else a) @ dout
    dk = (np.swapaxes(ds, -1, -2) if dk_t else ds) @ q
    return ds @ k, dk, dv


def attention_backward_no_scale(dout, q, k, v, causal):
    return _backward(dout, q, k, v, _weights(q, k, causal), 1.0)


def attention_backward_dv_untransposed(dout, q, k, v, causal):
    a = _weights(q, k, causal)
    return _backward(dout, q, k, v, a, 1 / math.sqrt(q.shape[-1]), dv_t=False)


def attention_backward_dk_untransposed(dout, q, k, v, causal):
    a = _weights(q, k, causal)
    return _backward(dout, q, k, v, a, 1 / math.sqrt(q.shape[-1]), dk_t=False)


def attention_backward_no_sum_term(dout, q, k, v, causal):
    a = _weights(q, k, causal)
    return _backward(dout, q, k, v, a, 1 / math.sqrt(q.shape[-1]), sum_term=False)


def attention_backward_no_mask(dout, q, k, v, causal):
    a = _weights(q, k, False)  # the forward masked; the recomputed weights do not
    return _backward(dout, q, k, v, a, 1 / math.sqrt(q.shape[-1]))


def attention_backward_no_max(dout, q, k, v, causal):
    a = _weights(q, k, causal, stable=False)
    return _backward(dout, q, k, v, a, 1 / math.sqrt(q.shape[-1]))


def attention_backward_scale_twice(dout, q, k, v, causal):
    return _backward(dout, q, k, v, _weights(q, k, causal), 1 / q.shape[-1])


def attention_backward_swapped(dout, q, k, v, causal):
    dq, dk, dv = _backward(dout, q, k, v, _weights(q, k, causal), 1 / math.sqrt(q.shape[-1]))
    return dk, dq, dv


def attention_backward_two_outputs(dout, q, k, v, causal):
    dq, dk, _ = _backward(dout, q, k, v, _weights(q, k, causal), 1 / math.sqrt(q.shape[-1]))
    return dq, dk


def attention_backward_right_heads_loop(dout, q, k, v, causal):
    dq, dk, dv = np.zeros_like(q), np.zeros_like(k), np.zeros_like(v)
    T, hs = q.shape[-2], q.shape[-1]
    for b, h in np.ndindex(q.shape[:2]):
        s = q[b, h] @ k[b, h].T / np.sqrt(hs)
        if causal:
            s[np.triu_indices(T, 1)] = -np.inf
        a = np.exp(s - s.max(axis=1, keepdims=True))
        a /= a.sum(axis=1, keepdims=True)
        dv[b, h] = a.T @ dout[b, h]
        da = dout[b, h] @ v[b, h].T
        ds = (a * da - a * (a * da).sum(axis=1, keepdims=True)) / np.sqrt(hs)
        dq[b, h], dk[b, h] = ds @ k[b, h], ds.T @ q[b, h]
    return dq, dk, dv


def attention_backward_right_library_softmax(dout, q, k, v, causal):
    from tinytransformer.ops import softmax_backward, softmax_forward  # allowed here

    scale = 1 / np.sqrt(q.shape[-1])
    s = q @ k.swapaxes(-1, -2) * scale
    if causal:
        s = np.where(_causal(q.shape[-2]), -np.inf, s)
    a, cache = softmax_forward(s)
    ds = softmax_backward(dout @ v.swapaxes(-1, -2), cache) * scale
    return ds @ k, ds.swapaxes(-1, -2) @ q, a.swapaxes(-1, -2) @ dout


# --- 4.1.5 layernorm_backward(dout, x, w, eps=1e-5) -----------------------------------------------


def _ln(x, eps, ddof=0):
    mu = x.mean(-1, keepdims=True)
    var = x.var(-1, ddof=ddof, keepdims=True)
    return (x - mu) / np.sqrt(var + eps), 1 / np.sqrt(var + eps)


def _ln_grads(dout, x, w, xhat, rstd, mean_term=True, norm_term=True, dw_x=False):
    g = dout * w
    dx = g - (g.mean(-1, keepdims=True) if mean_term else 0)
    if norm_term:
        dx = dx - xhat * (g * xhat).mean(-1, keepdims=True)
    axes = tuple(range(x.ndim - 1))
    return dx * rstd, (dout * (x if dw_x else xhat)).sum(axes), dout.sum(axes)


def layernorm_backward_unbiased(dout, x, w, eps=1e-5):
    xhat, rstd = _ln(x, eps, ddof=1)
    return _ln_grads(dout, x, w, xhat, rstd)


def layernorm_backward_constant_stats(dout, x, w, eps=1e-5):
    xhat, rstd = _ln(x, eps)
    axes = tuple(range(x.ndim - 1))
    return dout * w * rstd, (dout * xhat).sum(axes), dout.sum(axes)


def layernorm_backward_dw_per_row(dout, x, w, eps=1e-5):
    xhat, rstd = _ln(x, eps)
    dx, _, _ = _ln_grads(dout, x, w, xhat, rstd)
    return dx, (dout * xhat).sum(axis=0), dout.sum(axis=0)  # wrong for three axes


def layernorm_backward_eps_fixed(dout, x, w, eps=1e-5):
    xhat, rstd = _ln(x, 1e-5)  # the argument eps ignored
    return _ln_grads(dout, x, w, xhat, rstd)


def layernorm_backward_no_eps(dout, x, w, eps=1e-5):
    xhat, rstd = _ln(x, 0.0)
    return _ln_grads(dout, x, w, xhat, rstd)


def layernorm_backward_dw_from_x(dout, x, w, eps=1e-5):
    xhat, rstd = _ln(x, eps)
    return _ln_grads(dout, x, w, xhat, rstd, dw_x=True)


def layernorm_backward_no_mean_term(dout, x, w, eps=1e-5):
    xhat, rstd = _ln(x, eps)
    return _ln_grads(dout, x, w, xhat, rstd, mean_term=False)


def layernorm_backward_no_norm_term(dout, x, w, eps=1e-5):
    xhat, rstd = _ln(x, eps)
    return _ln_grads(dout, x, w, xhat, rstd, norm_term=False)


def layernorm_backward_one_pass_variance(dout, x, w, eps=1e-5):
    mu = x.mean(-1, keepdims=True)
    var = (x**2).mean(-1, keepdims=True) - mu**2  # E[x^2] - E[x]^2: no digits left far from 0
    rstd = 1 / np.sqrt(var + eps)
    return _ln_grads(dout, x, w, (x - mu) * rstd, rstd)


def layernorm_backward_swapped(dout, x, w, eps=1e-5):
    xhat, rstd = _ln(x, eps)
    dx, dw, db = _ln_grads(dout, x, w, xhat, rstd)
    return dx, db, dw


def layernorm_backward_right_rows(dout, x, w, eps=1e-5):
    C = x.shape[-1]
    rows, grads = x.reshape(-1, C), dout.reshape(-1, C)
    dx, dw, db = np.zeros_like(rows), np.zeros(C), np.zeros(C)
    for r, g in zip(range(len(rows)), grads):
        mu, var = rows[r].mean(), rows[r].var()
        rstd = 1 / math.sqrt(var + eps)
        xhat = (rows[r] - mu) * rstd
        dxhat = g * w
        dx[r] = rstd / C * (C * dxhat - dxhat.sum() - xhat * (dxhat * xhat).sum())
        dw += g * xhat
        db += g
    return dx.reshape(x.shape), dw, db


def layernorm_backward_right_through_var(dout, x, w, eps=1e-5):
    # the chain rule through mean and variance, term by term, as a student derives it
    C = x.shape[-1]
    mu = x.mean(-1, keepdims=True)
    xc = x - mu
    var = (xc**2).mean(-1, keepdims=True)
    inv = (var + eps) ** -0.5
    dxhat = dout * w
    dvar = (dxhat * xc).sum(-1, keepdims=True) * -0.5 * inv**3
    dmu = -(dxhat * inv).sum(-1, keepdims=True) - 2 * dvar * xc.mean(-1, keepdims=True)
    dx = dxhat * inv + dvar * 2 * xc / C + dmu / C
    lead = tuple(range(x.ndim - 1))
    return dx, (dout * xc * inv).sum(lead), dout.sum(lead)


# --- 4.2.1 cross_entropy(logits, targets) ---------------------------------------------------------


def _log_softmax(z):
    m = z.max(axis=-1, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(axis=-1, keepdims=True))


def _picked(logits, targets, log_p):
    keep = targets != -100
    return log_p[np.arange(len(targets))[keep], targets[keep]]


def cross_entropy_summed(logits, targets):
    return -_picked(logits, targets, _log_softmax(logits)).sum()


def cross_entropy_divides_by_n(logits, targets):
    return -_picked(logits, targets, _log_softmax(logits)).sum() / len(targets)


def cross_entropy_naive(logits, targets):
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    keep = targets != -100
    return -np.mean(np.log(p[keep, targets[keep]]))


def cross_entropy_log_of_softmax(logits, targets):
    z = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    keep = targets != -100
    return -np.mean(np.log(p[keep, targets[keep]]))


def cross_entropy_row_min(logits, targets):
    m = logits.min(axis=1, keepdims=True)
    lse = m + np.log(np.exp(logits - m).sum(axis=1, keepdims=True))
    return -_picked(logits, targets, logits - lse).mean()


def cross_entropy_row_mean(logits, targets):
    m = logits.mean(axis=1, keepdims=True)
    lse = m + np.log(np.exp(logits - m).sum(axis=1, keepdims=True))
    return -_picked(logits, targets, logits - lse).mean()


def cross_entropy_ignore_forgotten(logits, targets):
    log_p = _log_softmax(logits)
    return -log_p[np.arange(len(targets)), targets].mean()  # -100 reads a class from the end


def cross_entropy_per_row(logits, targets):
    keep = targets != -100
    return -_log_softmax(logits)[keep, targets[keep]]  # the mean forgotten


def cross_entropy_float32(logits, targets):
    return np.float32(-_picked(logits, targets, _log_softmax(logits.astype(np.float32))).mean())


def cross_entropy_clipped_probabilities(logits, targets):
    z = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    keep = targets != -100
    return -np.log(np.maximum(p[keep, targets[keep]], 1e-12)).mean()  # "no log(0)"


def cross_entropy_all_entries(logits, targets):
    keep = targets != -100
    return -_log_softmax(logits)[keep].mean()  # every class, not the targets'


def cross_entropy_right_loop(logits, targets):
    total, count = 0.0, 0
    for row, t in zip(logits, targets):
        if t == -100:
            continue
        m = max(row)
        total += m + math.log(sum(math.exp(z - m) for z in row)) - row[t]
        count += 1
    return total / count


def cross_entropy_right_logaddexp(logits, targets):
    keep = targets != -100
    lse = np.logaddexp.reduce(logits[keep], axis=1)
    return np.mean(lse - logits[keep][np.arange(keep.sum()), targets[keep]])


def cross_entropy_right_onehot(logits, targets):
    keep = targets != -100
    onehot = np.eye(logits.shape[1])[targets[keep]]
    return -(onehot * _log_softmax(logits[keep])).sum() / keep.sum()


# --- 4.2.2 cross_entropy_backward(logits, targets) ------------------------------------------------


def _probs(logits):
    return _softmax(logits)


def _onehot_grad(logits, targets):
    g = _probs(logits)
    keep = targets != -100
    g[np.arange(len(targets))[keep], targets[keep]] -= 1
    return g, keep


def cross_entropy_backward_summed(logits, targets):
    g, keep = _onehot_grad(logits, targets)
    g[~keep] = 0
    return g


def cross_entropy_backward_ignored_kept(logits, targets):
    g, keep = _onehot_grad(logits, targets)
    return g / keep.sum()


def cross_entropy_backward_no_onehot(logits, targets):
    g, keep = _probs(logits), targets != -100
    g[~keep] = 0
    return g / keep.sum()


def cross_entropy_backward_divides_by_n(logits, targets):
    g, keep = _onehot_grad(logits, targets)
    g[~keep] = 0
    return g / len(targets)


def cross_entropy_backward_sign(logits, targets):
    g, keep = _onehot_grad(logits, targets)
    g[~keep] = 0
    return -g / keep.sum()


def cross_entropy_backward_no_max(logits, targets):
    e = np.exp(logits)
    g = e / e.sum(axis=1, keepdims=True)
    keep = targets != -100
    g[np.arange(len(targets))[keep], targets[keep]] -= 1
    g[~keep] = 0
    return g / keep.sum()


def cross_entropy_backward_ignored_indexed(logits, targets):
    g = _probs(logits)
    g[np.arange(len(targets)), targets] -= 1  # -100 subtracts 1 from a class at the end
    g[targets == -100] = 0
    return g / (targets != -100).sum()


def cross_entropy_backward_float32(logits, targets):
    g, keep = _onehot_grad(logits.astype(np.float32), targets)
    g[~keep] = 0
    return g / keep.sum()


def cross_entropy_backward_in_place(logits, targets):
    logits -= logits.max(axis=1, keepdims=True)
    np.exp(logits, out=logits)
    logits /= logits.sum(axis=1, keepdims=True)
    keep = targets != -100
    logits[np.arange(len(targets))[keep], targets[keep]] -= 1
    logits[~keep] = 0
    return logits / keep.sum()


def cross_entropy_backward_right_loop(logits, targets):
    n = int(np.sum(targets != -100))
    out = np.zeros_like(logits)
    for i, (row, t) in enumerate(zip(logits, targets)):
        if t != -100:
            e = np.exp(row - row.max())
            out[i] = e / e.sum()
            out[i, t] -= 1.0
    return out / n


def cross_entropy_backward_right_eye(logits, targets):
    keep = targets != -100
    onehot = np.where(keep[:, None], np.eye(logits.shape[1])[np.where(keep, targets, 0)], 0.0)
    return (_probs(logits) * keep[:, None] - onehot) / keep.sum()


# --- 5.1 greedy_decode(model, idx, max_new_tokens) ------------------------------------------------


def greedy_no_crop(model, idx, max_new_tokens):
    out = idx
    for _ in range(max_new_tokens):
        logits, _ = model(out)  # fails once the text outgrows block_size
        out = np.concatenate([out, logits[:, -1].argmax(-1)[:, None]], axis=1)
    return out


def greedy_first_position(model, idx, max_new_tokens):
    out = idx
    for _ in range(max_new_tokens):
        logits, _ = model(out[:, -model.config.block_size :])
        out = np.concatenate([out, logits[:, 0].argmax(-1)[:, None]], axis=1)
    return out


def greedy_new_tokens_only(model, idx, max_new_tokens):
    out, new = idx, []
    for _ in range(max_new_tokens):
        logits, _ = model(out[:, -model.config.block_size :])
        nxt = logits[:, -1].argmax(-1)[:, None]
        new.append(nxt)
        out = np.concatenate([out, nxt], axis=1)
    return np.concatenate(new, axis=1) if new else idx[:, :0]


def greedy_cropped_one_short(model, idx, max_new_tokens):
    out = idx
    for _ in range(max_new_tokens):
        logits, _ = model(out[:, -(model.config.block_size - 1) :])
        out = np.concatenate([out, logits[:, -1].argmax(-1)[:, None]], axis=1)
    return out


def greedy_cropped_from_the_front(model, idx, max_new_tokens):
    out = idx
    for _ in range(max_new_tokens):
        logits, _ = model(out[:, : model.config.block_size])  # the oldest tokens, not the newest
        out = np.concatenate([out, logits[:, -1].argmax(-1)[:, None]], axis=1)
    return out


def greedy_as_list(model, idx, max_new_tokens):
    out = [list(row) for row in idx]
    for _ in range(max_new_tokens):
        logits, _ = model(np.array(out)[:, -model.config.block_size :])
        for row, t in zip(out, logits[:, -1].argmax(-1)):
            row.append(int(t))
    return out


def greedy_uses_generate(model, idx, max_new_tokens):
    return model.generate(idx, max_new_tokens, temperature=0)  # the library's own loop


def greedy_right_preallocated(model, idx, max_new_tokens):
    B, T = idx.shape
    out = np.zeros((B, T + max_new_tokens), dtype=idx.dtype)
    out[:, :T] = idx
    for t in range(T, T + max_new_tokens):
        logits, _ = model.forward(out[:, max(0, t - model.config.block_size) : t])
        out[:, t] = np.argmax(logits[:, -1, :], axis=-1)
    return out


# --- 5.2 top_p_filter(logits, p) ------------------------------------------------------------------


def _sorted_probs(logits):
    probs = _softmax(logits)
    order = np.argsort(-probs, axis=-1, kind="stable")
    return probs, order, np.take_along_axis(probs, order, axis=-1)


def _scatter(order, keep_sorted, logits):
    keep = np.zeros(logits.shape, dtype=bool)
    np.put_along_axis(keep, order, keep_sorted, axis=-1)
    return np.where(keep, logits, -np.inf)


def top_p_exclusive(logits, p):
    probs, order, sp = _sorted_probs(logits)
    return _scatter(order, np.cumsum(sp, axis=-1) <= p, logits)  # drops the token that crosses p


def top_p_unsorted(logits, p):
    probs = _softmax(logits)
    before = np.cumsum(probs, axis=-1) - probs
    return np.where(before < p, logits, -np.inf)


def top_p_one_too_many(logits, p):
    probs, order, sp = _sorted_probs(logits)
    total = np.cumsum(sp, axis=-1)
    keep = np.concatenate([np.ones_like(total[:, :2], dtype=bool), total[:, :-2] < p], axis=-1)
    return _scatter(order, keep[:, : sp.shape[-1]], logits)


def top_p_probabilities_returned(logits, p):
    probs, order, sp = _sorted_probs(logits)
    keep = np.cumsum(sp, axis=-1) - sp < p
    return np.where(_scatter(order, keep, logits) > -np.inf, probs, 0.0)


def top_p_zeros_not_inf(logits, p):
    probs, order, sp = _sorted_probs(logits)
    out = _scatter(order, np.cumsum(sp, axis=-1) - sp < p, logits)
    return np.where(np.isinf(out), 0.0, out)  # "removed" tokens get logit 0, not -inf


def top_p_ascending(logits, p):
    probs = _softmax(logits)
    order = np.argsort(probs, axis=-1)  # least likely first
    sp = np.take_along_axis(probs, order, axis=-1)
    return _scatter(order, np.cumsum(sp, axis=-1) - sp < p, logits)


def top_p_renormalised(logits, p):
    probs, order, sp = _sorted_probs(logits)
    out = _scatter(order, np.cumsum(sp, axis=-1) - sp < p, logits)
    return out - np.log(np.exp(out).sum(axis=-1, keepdims=True))  # log-probabilities instead


def top_p_right_exact(logits, p):
    probs, order, sp = _sorted_probs(logits)
    return _scatter(order, np.cumsum(sp, axis=-1) - sp < p, logits)  # no rounding allowance


def top_p_right_shifted_cumsum(logits, p):
    probs, order, sp = _sorted_probs(logits)
    total = np.cumsum(sp, axis=-1)
    keep = np.concatenate([np.ones((len(sp), 1), bool), total[:, :-1] < p], axis=-1)
    return _scatter(order, keep, logits)


def top_p_right_at_most(logits, p):
    probs, order, sp = _sorted_probs(logits)
    return _scatter(order, np.cumsum(sp, axis=-1) - sp <= p, logits)


def top_p_right_rows(logits, p):
    out = np.full_like(logits, -np.inf)
    for r, row in enumerate(logits):
        probs = np.exp(row - row.max())
        probs /= probs.sum()
        total = 0.0
        for i in sorted(range(len(row)), key=lambda j: -probs[j]):
            if total >= p:
                break
            out[r, i] = row[i]
            total += probs[i]
    return out


# --- 5.3 bytes_to_unicode() -----------------------------------------------------------------------


def _table(printable, start=256, per_byte=False):
    table, n = {}, 0
    for b in range(256):
        if b in printable:
            table[b] = chr(b)
        else:
            table[b] = chr(start + (b if per_byte else n))
            n += 1
    return table


LATIN1 = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))


def table_from_255():
    return _table(LATIN1, start=255)


def table_identity():
    return {b: chr(b) for b in range(256)}


def table_ascii_only():
    return _table(range(33, 127))


def table_shifted_by_byte():
    return _table(LATIN1, per_byte=True)  # chr(256 + b), not the next free character


def table_tilde_forgotten():
    return _table(list(range(33, 126)) + list(range(161, 173)) + list(range(174, 256)))


def table_as_list():
    return list(_table(LATIN1).values())


def table_right_gpt2_style():
    bs = list(range(ord("!"), ord("~") + 1))
    bs += list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


# --- 5.4 generate_text(model, tokenizer, prompt, n) -----------------------------------------------


def generate_text_articles_bug(model, tokenizer, prompt, n):
    logits, _ = model(np.array([tokenizer.encode(prompt)]))
    return tokenizer.decode(logits[0].argmax(-1).tolist())  # decodes one forward pass


def generate_text_no_prompt(model, tokenizer, prompt, n):
    out = model.generate(np.array([tokenizer.encode(prompt)]), n, temperature=0)
    return tokenizer.decode(out[0, len(tokenizer.encode(prompt)) :].tolist())


def generate_text_decodes_logits(model, tokenizer, prompt, n):
    logits, _ = model(np.array([tokenizer.encode(prompt)]))
    return tokenizer.decode(logits[0])  # the article's outputs[0]: not ids at all


def generate_text_sampled(model, tokenizer, prompt, n):
    out = model.generate(np.array([tokenizer.encode(prompt)]), n)  # temperature 1: sampled
    return tokenizer.decode(out[0].tolist())


def generate_text_library(model, tokenizer, prompt, n):
    from tinytransformer import generate_text

    return generate_text(model, tokenizer, prompt, n, temperature=0, allow_special=True)


def generate_text_returns_ids(model, tokenizer, prompt, n):
    return model.generate(np.array([tokenizer.encode(prompt)]), n, temperature=0)[0]


def generate_text_right_loop(model, tokenizer, prompt, n):
    ids = tokenizer.encode(prompt)
    for _ in range(n):
        logits, _ = model(np.array([ids[-model.config.block_size :]]))
        ids.append(int(logits[0, -1].argmax()))
    return tokenizer.decode(ids)


# --- 6.1 rouge_n(candidate, reference, n) ---------------------------------------------------------


def _ngram_list(tokens, n):
    return [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]


def rouge_n_unclipped(candidate, reference, n):
    cand = _ngram_list(candidate, n)
    ref = _ngram_list(reference, n)
    hits = len([g for g in cand if g in ref])
    p = hits / len(cand) if cand else 0.0
    r = hits / len(ref) if ref else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def rouge_n_swapped(candidate, reference, n):
    c = Counter(_ngram_list(candidate, n))
    r = Counter(_ngram_list(reference, n))
    overlap = sum((c & r).values())
    precision = overlap / max(sum(r.values()), 1)
    recall = overlap / max(sum(c.values()), 1)
    f = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f


def rouge_n_sets(candidate, reference, n):
    c, r = set(_ngram_list(candidate, n)), set(_ngram_list(reference, n))
    both = len(c & r)
    p = both / len(c) if c else 0.0
    rec = both / len(r) if r else 0.0
    return p, rec, (2 * p * rec / (p + rec) if p + rec else 0.0)


def rouge_n_arithmetic_f(candidate, reference, n):
    c, r = Counter(_ngram_list(candidate, n)), Counter(_ngram_list(reference, n))
    overlap = sum(min(k, r[g]) for g, k in c.items())
    p = overlap / sum(c.values()) if c else 0.0
    rec = overlap / sum(r.values()) if r else 0.0
    return p, rec, (p + rec) / 2


def rouge_n_unigrams_always(candidate, reference, n):
    c, r = Counter(candidate), Counter(reference)  # forgot n
    overlap = sum((c & r).values())
    p = overlap / len(candidate) if candidate else 0.0
    rec = overlap / len(reference) if reference else 0.0
    return p, rec, (2 * p * rec / (p + rec) if p + rec else 0.0)


def rouge_n_off_by_one(candidate, reference, n):
    c = Counter(tuple(candidate[i : i + n]) for i in range(len(candidate) - n))
    r = Counter(tuple(reference[i : i + n]) for i in range(len(reference) - n))
    overlap = sum((c & r).values())
    p = overlap / max(sum(c.values()), 1)
    rec = overlap / max(sum(r.values()), 1)
    return p, rec, (2 * p * rec / (p + rec) if p + rec else 0.0)


def rouge_n_nan_when_empty(candidate, reference, n):
    c, r = Counter(_ngram_list(candidate, n)), Counter(_ngram_list(reference, n))
    overlap = sum((c & r).values())
    with np.errstate(all="ignore"):
        p = np.float64(overlap) / np.float64(sum(c.values()))
        rec = np.float64(overlap) / np.float64(sum(r.values()))
        return p, rec, 2 * p * rec / (p + rec)


def rouge_n_right_loops(candidate, reference, n):
    cand, ref = _ngram_list(candidate, n), _ngram_list(reference, n)
    left = list(ref)
    overlap = 0
    for g in cand:  # match each candidate n-gram to an unused reference one
        if g in left:
            left.remove(g)
            overlap += 1
    p = overlap / len(cand) if cand else 0.0
    r = overlap / len(ref) if ref else 0.0
    return p, r, (0.0 if p + r == 0 else 2 / (1 / p + 1 / r))


def rouge_n_right_counter(candidate, reference, n):
    c, r = Counter(_ngram_list(candidate, n)), Counter(_ngram_list(reference, n))
    overlap = sum(min(count, r[g]) for g, count in c.items())
    nc, nr = sum(c.values()), sum(r.values())
    p = overlap / nc if nc else 0.0
    rec = overlap / nr if nr else 0.0
    f = 2 * overlap / (nc + nr) if nc + nr else 0.0  # the same as 2PR/(P+R)
    return p, rec, f


# --- 6.2 distinct_n(texts, n) ---------------------------------------------------------------------


def distinct_joined(texts, n):
    tokens = [t for text in texts for t in text]
    grams = _ngram_list(tokens, n)
    return len(set(grams)) / len(grams) if grams else 0.0


def distinct_mean_per_text(texts, n):
    scores = []
    for text in texts:
        grams = _ngram_list(text, n)
        if grams:
            scores.append(len(set(grams)) / len(grams))
    return sum(scores) / len(scores) if scores else 0.0


def distinct_summed(texts, n):
    distinct = total = 0
    for text in texts:
        grams = _ngram_list(text, n)
        distinct += len(set(grams))
        total += len(grams)
    return distinct / total if total else 0.0


def distinct_over_tokens(texts, n):
    grams = [g for text in texts for g in _ngram_list(text, n)]
    tokens = sum(len(t) for t in texts)
    return len(set(grams)) / tokens if tokens else 0.0


def distinct_count_only(texts, n):
    return float(len({g for text in texts for g in _ngram_list(text, n)}))


def distinct_mean_with_empty(texts, n):
    scores = []
    for text in texts:
        grams = _ngram_list(text, n)
        scores.append(len(set(grams)) / len(grams) if grams else 0.0)
    return sum(scores) / len(scores) if scores else 0.0


def distinct_right_dict(texts, n):
    seen = {}
    for text in texts:
        for i in range(len(text) - n + 1):
            gram = tuple(text[i : i + n])
            seen[gram] = seen.get(gram, 0) + 1
    total = sum(seen.values())
    return len(seen) / total if total > 0 else 0.0


def distinct_right_counter(texts, n):
    pool = Counter()
    for text in texts:
        pool.update(zip(*(text[k:] for k in range(n))))
    return len(pool) / sum(pool.values()) if pool else 0.0


# --- 6.3 macro_f1(confusion) ----------------------------------------------------------------------


def macro_f1_skip_empty(confusion):
    scores = []
    for k in range(len(confusion)):
        tp = confusion[k, k]
        fp = confusion[:, k].sum() - tp
        fn = confusion[k, :].sum() - tp
        if 2 * tp + fp + fn > 0:
            scores.append(2 * tp / (2 * tp + fp + fn))
    return float(np.mean(scores)) if scores else 0.0


def macro_f1_micro(confusion):
    tp = np.trace(confusion)
    fp = confusion.sum() - tp
    fn = confusion.sum() - tp
    return float(2 * tp / (2 * tp + fp + fn))


def macro_f1_of_means(confusion):
    tp = np.diag(confusion)
    with np.errstate(all="ignore"):
        precision = np.nan_to_num(tp / confusion.sum(axis=0))
        recall = np.nan_to_num(tp / confusion.sum(axis=1))
    p, r = precision.mean(), recall.mean()
    return float(2 * p * r / (p + r)) if p + r else 0.0


def macro_f1_weighted(confusion):
    tp = np.diag(confusion)
    den = confusion.sum(axis=0) + confusion.sum(axis=1)
    f1 = np.divide(2 * tp, den, out=np.zeros(len(tp)), where=den > 0)
    support = confusion.sum(axis=1)
    return float((f1 * support).sum() / support.sum())


def macro_f1_no_factor_two(confusion):
    tp = np.diag(confusion)
    fp = confusion.sum(axis=0) - tp
    fn = confusion.sum(axis=1) - tp
    den = tp + fp + fn
    return float(np.mean(np.divide(tp, den, out=np.zeros(len(tp)), where=den > 0)))  # Jaccard


def macro_f1_nan(confusion):
    tp = np.diag(confusion)
    with np.errstate(all="ignore"):
        f1 = 2 * tp / (confusion.sum(axis=0) + confusion.sum(axis=1))
    return float(np.mean(f1))


def macro_f1_right_loop(confusion):
    K = confusion.shape[0]
    total = 0.0
    for k in range(K):
        tp = confusion[k, k]
        fp = sum(confusion[j, k] for j in range(K) if j != k)
        fn = sum(confusion[k, j] for j in range(K) if j != k)
        p = tp / (tp + fp) if tp + fp else 0.0
        r = tp / (tp + fn) if tp + fn else 0.0
        total += 2 * p * r / (p + r) if p + r else 0.0  # the harmonic mean of P and R
    return total / K


def macro_f1_right_vector(confusion):
    cm = np.asarray(confusion, dtype=float)
    tp = np.diag(cm)
    den = 2 * tp + (cm.sum(0) - tp) + (cm.sum(1) - tp)
    f1 = np.zeros_like(tp)
    f1[den > 0] = 2 * tp[den > 0] / den[den > 0]
    return float(f1.mean())


# --- 7.1 conv1d_to_linear(weight) -----------------------------------------------------------------


def conv1d_reshaped(weight):
    return weight.reshape(weight.shape[1], weight.shape[0])


def conv1d_transposed_view(weight):
    return weight.T  # right values, but a view: safetensors would write it permuted


def conv1d_fortran_copy(weight):
    return weight.T.copy(order="F")  # its own memory, but column-major


def conv1d_unchanged(weight):
    return weight


def conv1d_rotated(weight):
    return np.rot90(weight).copy()


def conv1d_right_copy(weight):
    return weight.T.copy()


def conv1d_right_loops(weight):
    n_in, n_out = weight.shape
    out = np.empty((n_out, n_in))
    for i in range(n_in):
        for o in range(n_out):
            out[o, i] = weight[i, o]
    return out


# --- 7.2 safetensors_header(path) -----------------------------------------------------------------


def _header(path, order="little", size=8):
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(size), order)
        return json.loads(f.read(n))


def header_with_metadata(path):
    header = _header(path)
    return {k: (v["dtype"], tuple(v["shape"])) if "dtype" in v else v for k, v in header.items()}


def header_big_endian(path):
    header = _header(path, order="big")  # the length is little-endian
    return {k: (v["dtype"], tuple(v["shape"])) for k, v in header.items() if k != "__metadata__"}


def header_list_shapes(path):
    header = _header(path)
    return {k: (v["dtype"], v["shape"]) for k, v in header.items() if k != "__metadata__"}


def header_with_offsets(path):
    header = _header(path)
    return {k: tuple(v.values()) for k, v in header.items() if k != "__metadata__"}


def header_names_only(path):
    return [k for k in _header(path) if k != "__metadata__"]


def header_right_struct(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        entries = json.loads(f.read(n).decode("utf-8"))
    entries.pop("__metadata__", None)
    return {name: (e["dtype"], tuple(e["shape"])) for name, e in entries.items()}


# --- 2.1.1 split_heads(x, n_head) -----------------------------------------------------------------


def split_heads_no_transpose(x, n_head):
    B, T, C = x.shape
    return x.reshape(B, n_head, T, C // n_head)


def split_heads_interleaved(x, n_head):
    B, T, C = x.shape
    return x.reshape(B, T, C // n_head, n_head).transpose(0, 3, 1, 2)


def split_heads_time_last(x, n_head):
    B, T, C = x.shape
    return np.transpose(x.reshape(B, T, n_head, C // n_head), (0, 2, 3, 1))


def split_heads_n_head_as_size(x, n_head):
    B, T, C = x.shape
    hs = n_head  # read n_head as the size of a head
    return x.reshape(B, T, C // hs, hs).transpose(0, 2, 1, 3)


def split_heads_heads_last(x, n_head):
    B, T, C = x.shape
    return x.reshape(B, T, n_head, C // n_head)  # (B, T, nh, hs): never moved the head axis


def split_heads_first_head_only(x, n_head):
    B, T, C = x.shape
    hs = C // n_head
    return np.stack([x[:, :, :hs]] * n_head, axis=1)


def split_heads_right_loop(x, n_head):
    B, T, C = x.shape
    hs = C // n_head
    out = np.empty((B, n_head, T, hs), dtype=x.dtype)
    for h in range(n_head):
        out[:, h] = x[:, :, h * hs : (h + 1) * hs]
    return out


def split_heads_right_stack(x, n_head):
    return np.stack(np.split(x, n_head, axis=-1), axis=1)


# --- 2.1.2 merge_heads(x) -------------------------------------------------------------------------


def merge_heads_no_transpose(x):
    B, nh, T, hs = x.shape
    return x.reshape(B, T, nh * hs)


def merge_heads_interleaved(x):
    B, nh, T, hs = x.shape
    return np.transpose(x, (0, 2, 3, 1)).reshape(B, T, nh * hs)


def merge_heads_summed(x):
    return x.sum(axis=1)  # (B, T, hs): the heads added instead of put side by side


def merge_heads_first_head(x):
    return x[:, 0]


def merge_heads_wrong_axis(x):
    B, nh, T, hs = x.shape
    return x.transpose(0, 2, 1, 3).reshape(B, nh * hs, T).transpose(0, 2, 1)


def merge_heads_as_list(x):
    B, nh, T, hs = x.shape
    return x.transpose(0, 2, 1, 3).reshape(B, T, nh * hs).tolist()


def merge_heads_right_concatenate(x):
    return np.concatenate([x[:, h] for h in range(x.shape[1])], axis=-1)


def merge_heads_right_einsum(x):
    B, nh, T, hs = x.shape
    return np.einsum("bhtd->bthd", x).reshape(B, T, nh * hs)


# --- 2.1.3 gpt_param_count(vocab_size, block_size, n_layer, n_embd) -------------------------------


def count_untied_head(vocab_size, block_size, n_layer, n_embd):
    C = n_embd
    block = 12 * C * C + 13 * C
    return 2 * vocab_size * C + block_size * C + n_layer * block + 2 * C


def count_no_positions(vocab_size, block_size, n_layer, n_embd):
    C = n_embd
    return vocab_size * C + n_layer * (12 * C * C + 13 * C) + 2 * C


def count_mlp_width_c(vocab_size, block_size, n_layer, n_embd):
    C = n_embd
    attn = 4 * C * C + 4 * C
    mlp = 2 * C * C + 2 * C  # C -> C -> C
    return vocab_size * C + block_size * C + n_layer * (attn + mlp + 4 * C) + 2 * C


def count_no_biases(vocab_size, block_size, n_layer, n_embd):
    C = n_embd
    return vocab_size * C + block_size * C + n_layer * (12 * C * C + 4 * C) + 2 * C


def count_no_final_norm(vocab_size, block_size, n_layer, n_embd):
    C = n_embd
    return vocab_size * C + block_size * C + n_layer * (12 * C * C + 13 * C)


def count_float(vocab_size, block_size, n_layer, n_embd):
    C = n_embd
    return float(vocab_size * C + block_size * C + n_layer * (12 * C**2 + 13 * C) + 2 * C)


def count_attention_c_squared(vocab_size, block_size, n_layer, n_embd):
    C = n_embd
    attn = C * C + C + C * C + C  # q, k and v counted as one C x C matrix
    mlp = 8 * C * C + 5 * C
    return vocab_size * C + block_size * C + n_layer * (attn + mlp + 4 * C) + 2 * C


def count_one_norm_per_block(vocab_size, block_size, n_layer, n_embd):
    C = n_embd
    return vocab_size * C + block_size * C + n_layer * (12 * C * C + 11 * C) + 2 * C


def count_right_by_pieces(vocab_size, block_size, n_layer, n_embd):
    C = n_embd
    pieces = {
        "wte": vocab_size * C,
        "wpe": block_size * C,
        "ln": 2 * (2 * C),
        "c_attn": C * 3 * C + 3 * C,
        "attn.c_proj": C * C + C,
        "c_fc": C * 4 * C + 4 * C,
        "mlp.c_proj": 4 * C * C + C,
        "ln_f": 2 * C,
    }
    per_block = sum(v for k, v in pieces.items() if k not in ("wte", "wpe", "ln_f"))
    return pieces["wte"] + pieces["wpe"] + n_layer * per_block + pieces["ln_f"]


def count_right_numpy_int(vocab_size, block_size, n_layer, n_embd):
    shapes = [(vocab_size, n_embd), (block_size, n_embd), (n_embd,), (n_embd,)]
    block = [(n_embd,)] * 4 + [(n_embd, 3 * n_embd), (3 * n_embd,), (n_embd, n_embd), (n_embd,)]
    block += [(n_embd, 4 * n_embd), (4 * n_embd,), (4 * n_embd, n_embd), (n_embd,)]
    total = sum(int(np.prod(s)) for s in shapes)
    return np.int64(total + n_layer * sum(int(np.prod(s)) for s in block))


# --- 2.1.4 mlp_forward(x, w_fc, b_fc, w_proj, b_proj) ---------------------------------------------


def _gelu_tanh(h):
    return 0.5 * h * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (h + 0.044715 * h**3)))


def mlp_exact_gelu(x, w_fc, b_fc, w_proj, b_proj):
    h = x @ w_fc + b_fc
    erf = np.vectorize(math.erf)
    return (0.5 * h * (1 + erf(h / math.sqrt(2)))) @ w_proj + b_proj


def mlp_relu(x, w_fc, b_fc, w_proj, b_proj):
    return np.maximum(x @ w_fc + b_fc, 0) @ w_proj + b_proj


def mlp_no_cube(x, w_fc, b_fc, w_proj, b_proj):
    h = x @ w_fc + b_fc
    return 0.5 * h * (1 + np.tanh(np.sqrt(2 / np.pi) * h)) @ w_proj + b_proj


def mlp_sigmoid_gelu(x, w_fc, b_fc, w_proj, b_proj):
    h = x @ w_fc + b_fc
    return (h / (1 + np.exp(-1.702 * h))) @ w_proj + b_proj


def mlp_bias_after_gelu(x, w_fc, b_fc, w_proj, b_proj):
    return (_gelu_tanh(x @ w_fc) + b_fc) @ w_proj + b_proj


def mlp_tanh_from_exp(x, w_fc, b_fc, w_proj, b_proj):
    h = x @ w_fc + b_fc
    u = math.sqrt(2 / math.pi) * (h + 0.044715 * h**3)
    tanh = (np.exp(2 * u) - 1) / (np.exp(2 * u) + 1)  # inf / inf for large u
    return 0.5 * h * (1 + tanh) @ w_proj + b_proj


def mlp_no_output_bias(x, w_fc, b_fc, w_proj, b_proj):
    return _gelu_tanh(x @ w_fc + b_fc) @ w_proj


def mlp_gelu_after_projection(x, w_fc, b_fc, w_proj, b_proj):
    return _gelu_tanh(_gelu_tanh(x @ w_fc + b_fc) @ w_proj + b_proj)


def mlp_in_float32(x, w_fc, b_fc, w_proj, b_proj):
    x, w_fc, w_proj = (a.astype(np.float32) for a in (x, w_fc, w_proj))
    return _gelu_tanh(x @ w_fc + b_fc.astype(np.float32)) @ w_proj + b_proj.astype(np.float32)


def mlp_right_einsum(x, w_fc, b_fc, w_proj, b_proj):
    h = np.einsum("btc,cf->btf", x, w_fc) + b_fc
    g = h * 0.5 * (1.0 + np.tanh(0.7978845608028654 * h * (1.0 + 0.044715 * h * h)))
    return np.einsum("btf,fc->btc", g, w_proj) + b_proj


def mlp_right_sigmoid_form(x, w_fc, b_fc, w_proj, b_proj):
    # 0.5 (1 + tanh(u)) = sigmoid(2u), written so that exp never overflows
    h = x @ w_fc + b_fc
    u2 = 2 * math.sqrt(2 / math.pi) * (h + 0.044715 * h**3)
    with np.errstate(over="ignore"):
        phi = np.where(u2 >= 0, 1 / (1 + np.exp(-np.abs(u2))), 1 - 1 / (1 + np.exp(-np.abs(u2))))
    return (h * phi) @ w_proj + b_proj


# --- 2.1.5 prenorm_block(x, ln_1, attn, ln_2, mlp) ------------------------------------------------


def block_post_ln(x, ln_1, attn, ln_2, mlp):
    x = ln_1(x + attn(x))
    return ln_2(x + mlp(x))


def block_no_residual(x, ln_1, attn, ln_2, mlp):
    h = attn(ln_1(x))
    return mlp(ln_2(h))


def block_residual_on_normalised(x, ln_1, attn, ln_2, mlp):
    x = ln_1(x)
    x = x + attn(x)
    x = ln_2(x)
    return x + mlp(x)


def block_parallel(x, ln_1, attn, ln_2, mlp):
    return x + attn(ln_1(x)) + mlp(ln_2(x))


def block_ln_1_twice(x, ln_1, attn, ln_2, mlp):
    x = x + attn(ln_1(x))
    return x + mlp(ln_1(x))


def block_no_norms(x, ln_1, attn, ln_2, mlp):
    x = x + attn(x)
    return x + mlp(x)


def block_second_add_to_x(x, ln_1, attn, ln_2, mlp):
    x1 = x + attn(ln_1(x))
    return x + mlp(ln_2(x1))


def block_mlp_first(x, ln_1, attn, ln_2, mlp):
    x = x + mlp(ln_2(x))
    return x + attn(ln_1(x))


def block_attention_only(x, ln_1, attn, ln_2, mlp):
    return x + attn(ln_1(x))


def block_in_place(x, ln_1, attn, ln_2, mlp):
    x += attn(ln_1(x))  # writes into the caller's array
    x += mlp(ln_2(x))
    return x


def block_right_reduce(x, ln_1, attn, ln_2, mlp):
    for norm, sub in ((ln_1, attn), (ln_2, mlp)):
        x = x + sub(norm(x))
    return x


def block_right_copy(x, ln_1, attn, ln_2, mlp):
    stream = x.copy()
    stream += attn(ln_1(stream))
    stream += mlp(ln_2(stream))
    return stream


# --- 8.1 fit_power_law(n, loss) -------------------------------------------------------------------


def law_sign_flipped(n, loss):
    slope, intercept = np.polyfit(np.log(n), np.log(loss), 1)
    return float(np.exp(intercept)), float(slope)


def law_log10_then_exp(n, loss):
    slope, intercept = np.polyfit(np.log10(n), np.log10(loss), 1)
    return float(np.exp(intercept)), float(-slope)


def law_returns_log_a(n, loss):
    slope, intercept = np.polyfit(np.log(n), np.log(loss), 1)
    return float(intercept), float(-slope)


def law_end_points(n, loss):
    i, j = np.argmin(n), np.argmax(n)
    b = -(math.log(loss[j]) - math.log(loss[i])) / (math.log(n[j]) - math.log(n[i]))
    return loss[i] * n[i] ** b, b


def law_linear_in_n(n, loss):
    slope, intercept = np.polyfit(n, np.log(loss), 1)  # n itself, not log n
    return float(np.exp(intercept)), float(-slope)


def law_mean_of_ratios(n, loss):
    x, y = np.log(n), np.log(loss)
    slope = np.mean((y - y.mean())[x != x.mean()] / (x - x.mean())[x != x.mean()])
    return float(np.exp(y.mean() - slope * x.mean())), float(-slope)


def law_right_polyfit(n, loss):
    slope, intercept = np.polyfit(np.log(n), np.log(loss), 1)
    return float(np.exp(intercept)), float(-slope)


def law_right_lstsq(n, loss):
    A = np.stack([np.ones(len(n)), -np.log(n)], axis=1)  # log loss = log a - b log n
    (log_a, b), *_ = np.linalg.lstsq(A, np.log(loss), rcond=None)
    return float(np.exp(log_a)), float(b)


# --- 8.2 exposure(canary_logprob, candidate_logprobs) ---------------------------------------------


def exposure_ties_above(canary_logprob, candidate_logprobs):
    rank = 1 + sum(1 for c in candidate_logprobs if c >= canary_logprob)
    return math.log2(len(candidate_logprobs)) - math.log2(rank)


def exposure_rank_from_zero(canary_logprob, candidate_logprobs):
    rank = int(np.sum(np.asarray(candidate_logprobs) > canary_logprob))
    return math.log2(len(candidate_logprobs)) - math.log2(max(rank, 1e-300))


def exposure_in_nats(canary_logprob, candidate_logprobs):
    rank = 1 + int(np.sum(np.asarray(candidate_logprobs) > canary_logprob))
    return math.log(len(candidate_logprobs)) - math.log(rank)


def exposure_from_the_bottom(canary_logprob, candidate_logprobs):
    rank = 1 + int(np.sum(np.asarray(candidate_logprobs) < canary_logprob))
    return math.log2(len(candidate_logprobs)) - math.log2(rank)


def exposure_r_minus_one(canary_logprob, candidate_logprobs):
    rank = 1 + int(np.sum(np.asarray(candidate_logprobs) > canary_logprob))
    return (
        math.log2(len(candidate_logprobs) - 1) - math.log2(rank)
        if len(candidate_logprobs) > 1
        else 0.0
    )


def exposure_sorted_index(canary_logprob, candidate_logprobs):
    order = sorted(candidate_logprobs, reverse=True)
    rank = order.index(canary_logprob) + 1 if canary_logprob in order else len(order)
    return math.log2(len(order)) - math.log2(rank + 1)  # one too many


def exposure_ratio(canary_logprob, candidate_logprobs):
    rank = 1 + int(np.sum(np.asarray(candidate_logprobs) > canary_logprob))
    return math.log2(len(candidate_logprobs) / rank) + 0.0 * rank + 1e-6  # off by a hair


def exposure_right_loop(canary_logprob, candidate_logprobs):
    higher = 0
    for c in candidate_logprobs:
        if c > canary_logprob:
            higher += 1
    return math.log2(len(candidate_logprobs) / (higher + 1))


def exposure_right_sorted(canary_logprob, candidate_logprobs):
    order = np.sort(np.asarray(candidate_logprobs))[::-1]  # most likely first
    rank = 1 + int(np.searchsorted(-order, -canary_logprob, side="left"))
    return float(np.log2(len(order)) - np.log2(rank))


# --- 8.3 sampling_entropy(logits, temperature) ----------------------------------------------------


def entropy_times_temperature(logits, temperature):
    z = logits * temperature
    z = z - z.max(axis=-1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
    return -(np.exp(logp) * logp).sum(axis=-1)


def entropy_in_bits(logits, temperature):
    z = logits / temperature
    z = z - z.max(axis=-1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(axis=-1, keepdims=True)
    logp2 = (z - np.log(np.exp(z).sum(axis=-1, keepdims=True))) / np.log(2)
    return -(p * logp2).sum(axis=-1)


def entropy_no_temperature(logits, temperature):
    z = logits - logits.max(axis=-1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
    return -(np.exp(logp) * logp).sum(axis=-1)


def entropy_no_minus(logits, temperature):
    z = (logits - logits.max(axis=-1, keepdims=True)) / temperature
    logp = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
    return (np.exp(logp) * logp).sum(axis=-1)


def entropy_naive(logits, temperature):
    e = np.exp(logits / temperature)
    p = e / e.sum(axis=-1, keepdims=True)
    return -np.sum(p * np.log(p), axis=-1)


def entropy_log_of_p(logits, temperature):
    z = (logits - logits.max(axis=-1, keepdims=True)) / temperature
    p = np.exp(z) / np.exp(z).sum(axis=-1, keepdims=True)
    return -np.sum(p * np.log(p), axis=-1)  # log(0) where p underflows: 0 * -inf = nan


def entropy_whole_batch(logits, temperature):
    z = logits / temperature
    z = z - z.max()
    logp = z - np.log(np.exp(z).sum())
    return -(np.exp(logp) * logp).sum(axis=-1)


def entropy_right_where(logits, temperature):
    z = (logits - logits.max(axis=-1, keepdims=True)) / temperature
    p = np.exp(z)
    p = p / p.sum(axis=-1, keepdims=True)
    plogp = np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0)
    return -plogp.sum(axis=-1)


def entropy_right_logsumexp(logits, temperature):
    out = np.empty(logits.shape[0])
    for i, row in enumerate(logits):
        z = (row - row.max()) / temperature
        lse = math.log(math.fsum(math.exp(v) for v in z))
        p = np.exp(z - lse)
        out[i] = lse - float(p @ z)  # H = logsumexp(z) - sum p z
    return out


# --- 3.1.1 pair_counts(ids) -----------------------------------------------------------------------


def pairs_stride_two(ids):
    counts = {}
    for i in range(0, len(ids) - 1, 2):
        counts[(ids[i], ids[i + 1])] = counts.get((ids[i], ids[i + 1]), 0) + 1
    return counts


def pairs_as_a_set(ids):
    return {pair: 1 for pair in set(zip(ids, ids[1:]))}


def pairs_wrapped(ids):
    counts = {}
    for i in range(len(ids)):
        pair = (ids[i], ids[(i + 1) % len(ids)])
        counts[pair] = counts.get(pair, 0) + 1
    return counts


def pairs_unordered(ids):
    counts = {}
    for a, b in zip(ids, ids[1:]):
        key = (min(a, b), max(a, b))
        counts[key] = counts.get(key, 0) + 1
    return counts


def pairs_counter(ids):
    from collections import Counter

    return Counter(zip(ids, ids[1:]))  # a Counter, not the dict asked for


def pairs_lists_as_keys(ids):
    counts = {}
    for i in range(len(ids) - 1):
        key = str([ids[i], ids[i + 1]])  # a list cannot be a key, so its text is
        counts[key] = counts.get(key, 0) + 1
    return counts


def pairs_one_short(ids):
    counts = {}
    for i in range(len(ids) - 2):  # off by one: the last pair is missed
        counts[(ids[i], ids[i + 1])] = counts.get((ids[i], ids[i + 1]), 0) + 1
    return counts


def pairs_right_counter(ids):
    from collections import Counter

    return dict(Counter(zip(ids, ids[1:])))


def pairs_right_index_loop(ids):
    counts = {}
    for i in range(1, len(ids)):
        if (ids[i - 1], ids[i]) in counts:
            counts[(ids[i - 1], ids[i])] += 1
        else:
            counts[(ids[i - 1], ids[i])] = 1
    return counts


# --- 3.1.2 merge_pair(ids, pair, new_id) ----------------------------------------------------------


def merge_step_one(ids, pair, new_id):
    out, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and ids[i] == pair[0] and ids[i + 1] == pair[1]:
            out.append(new_id)
        else:
            out.append(ids[i])
        i += 1
    return out


def merge_from_the_right(ids, pair, new_id):
    out, i = [], len(ids) - 1
    while i >= 0:
        if i > 0 and ids[i - 1] == pair[0] and ids[i] == pair[1]:
            out.insert(0, new_id)
            i -= 2
        else:
            out.insert(0, ids[i])
            i -= 1
    return out


def merge_first_only(ids, pair, new_id):
    for i in range(len(ids) - 1):
        if (ids[i], ids[i + 1]) == tuple(pair):
            return ids[:i] + [new_id] + ids[i + 2 :]
    return list(ids)


def merge_either_order(ids, pair, new_id):
    out, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and (ids[i], ids[i + 1]) in (tuple(pair), tuple(pair)[::-1]):
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def merge_drops_last(ids, pair, new_id):
    out, i = [], 0
    while i < len(ids) - 1:
        if ids[i] == pair[0] and ids[i + 1] == pair[1]:
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def merge_as_tuple(ids, pair, new_id):
    out, i = (), 0
    while i < len(ids):
        if ids[i : i + 2] == list(pair):
            out, i = out + (new_id,), i + 2
        else:
            out, i = out + (ids[i],), i + 1
    return out


def merge_as_array(ids, pair, new_id):
    out, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and ids[i] == pair[0] and ids[i + 1] == pair[1]:
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return np.array(out, dtype=np.int64)


def merge_right_for_loop(ids, pair, new_id):
    out, skip = [], False
    for i, x in enumerate(ids):
        if skip:
            skip = False
            continue
        if i + 1 < len(ids) and (x, ids[i + 1]) == tuple(pair):
            out.append(new_id)
            skip = True
        else:
            out.append(x)
    return out


def merge_right_recursive(ids, pair, new_id):
    if len(ids) < 2:
        return list(ids)
    if ids[0] == pair[0] and ids[1] == pair[1]:
        return [new_id] + merge_right_recursive(ids[2:], pair, new_id)
    return [ids[0]] + merge_right_recursive(ids[1:], pair, new_id)


# --- 3.1.3 get_lr(it, learning_rate, warmup_iters, lr_decay_iters, min_lr) ------------------------


def _cosine(it, warmup_iters, lr_decay_iters):
    ratio = (it - warmup_iters) / (lr_decay_iters - warmup_iters)
    return 0.5 * (1.0 + math.cos(math.pi * ratio))


def lr_warmup_from_zero(it, learning_rate, warmup_iters, lr_decay_iters, min_lr):
    if it < warmup_iters:
        return learning_rate * it / warmup_iters
    if it >= lr_decay_iters:
        return min_lr
    return min_lr + _cosine(it, warmup_iters, lr_decay_iters) * (learning_rate - min_lr)


def lr_warmup_peaks_early(it, learning_rate, warmup_iters, lr_decay_iters, min_lr):
    if it < warmup_iters:
        return learning_rate * (it + 1) / warmup_iters
    if it >= lr_decay_iters:
        return min_lr
    return min_lr + _cosine(it, warmup_iters, lr_decay_iters) * (learning_rate - min_lr)


def lr_decay_to_zero(it, learning_rate, warmup_iters, lr_decay_iters, min_lr):
    if it < warmup_iters:
        return learning_rate * (it + 1) / (warmup_iters + 1)
    if it >= lr_decay_iters:
        return 0.0
    return _cosine(it, warmup_iters, lr_decay_iters) * learning_rate


def lr_linear(it, learning_rate, warmup_iters, lr_decay_iters, min_lr):
    if it < warmup_iters:
        return learning_rate * (it + 1) / (warmup_iters + 1)
    if it >= lr_decay_iters:
        return min_lr
    ratio = (it - warmup_iters) / (lr_decay_iters - warmup_iters)
    return min_lr + (1 - ratio) * (learning_rate - min_lr)


def lr_ratio_from_zero(it, learning_rate, warmup_iters, lr_decay_iters, min_lr):
    if it < warmup_iters:
        return learning_rate * (it + 1) / (warmup_iters + 1)
    if it >= lr_decay_iters:
        return min_lr
    coeff = 0.5 * (1.0 + math.cos(math.pi * it / lr_decay_iters))
    return min_lr + coeff * (learning_rate - min_lr)


def lr_divides_first(it, learning_rate, warmup_iters, lr_decay_iters, min_lr):
    ratio = (it - warmup_iters) / (lr_decay_iters - warmup_iters)  # 0 / 0 when they are equal
    if it < warmup_iters:
        return learning_rate * (it + 1) / (warmup_iters + 1)
    if it > lr_decay_iters:
        return min_lr
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (learning_rate - min_lr)


def lr_cosine_of_a_quarter(it, learning_rate, warmup_iters, lr_decay_iters, min_lr):
    if it < warmup_iters:
        return learning_rate * (it + 1) / (warmup_iters + 1)
    if it >= lr_decay_iters:
        return min_lr
    ratio = (it - warmup_iters) / (lr_decay_iters - warmup_iters)
    return min_lr + math.cos(math.pi / 2 * ratio) * (learning_rate - min_lr)


def lr_right_sin_squared(it, learning_rate, warmup_iters, lr_decay_iters, min_lr):
    if it < warmup_iters:
        return learning_rate * (it + 1) / (warmup_iters + 1)
    if it >= lr_decay_iters:
        return min_lr
    ratio = (it - warmup_iters) / (lr_decay_iters - warmup_iters)
    # 0.5 (1 + cos(pi r)) = cos^2(pi r / 2)
    return min_lr + math.cos(math.pi * ratio / 2) ** 2 * (learning_rate - min_lr)


def lr_right_numpy(it, learning_rate, warmup_iters, lr_decay_iters, min_lr):
    if it < warmup_iters:
        return learning_rate * (it + 1) / (warmup_iters + 1)
    if it >= lr_decay_iters:
        return min_lr
    r = np.clip((it - warmup_iters) / (lr_decay_iters - warmup_iters), 0.0, 1.0)
    return float(min_lr + (learning_rate - min_lr) * (1 + np.cos(np.pi * r)) / 2)


# --- 9.1 clipped_precision(candidate, references, n) ---------------------------------------------


def _student_grams(tokens, n):
    grams = {}
    for i in range(len(tokens) - n + 1):
        g = tuple(tokens[i : i + n])
        grams[g] = grams.get(g, 0) + 1
    return grams


def clipped_no_clip(candidate, references, n):
    grams = _student_grams(candidate, n)
    ref_grams = set()
    for ref in references:
        ref_grams |= set(_student_grams(ref, n))
    return sum(c for g, c in grams.items() if g in ref_grams), sum(grams.values())


def clipped_sum_of_references(candidate, references, n):
    grams = _student_grams(candidate, n)
    limit = {}
    for ref in references:
        for g, c in _student_grams(ref, n).items():
            limit[g] = limit.get(g, 0) + c
    return sum(min(c, limit.get(g, 0)) for g, c in grams.items()), sum(grams.values())


def clipped_first_reference(candidate, references, n):
    grams = _student_grams(candidate, n)
    limit = _student_grams(references[0], n) if references else {}
    return sum(min(c, limit.get(g, 0)) for g, c in grams.items()), sum(grams.values())


def clipped_distinct(candidate, references, n):
    grams = set(_student_grams(candidate, n))
    refs = set()
    for ref in references:
        refs |= set(_student_grams(ref, n))
    return len(grams & refs), len(grams)


def clipped_total_as_length(candidate, references, n):
    grams = _student_grams(candidate, n)
    limit = {}
    for ref in references:
        for g, c in _student_grams(ref, n).items():
            limit[g] = max(limit.get(g, 0), c)
    return sum(min(c, limit.get(g, 0)) for g, c in grams.items()), len(candidate)


def clipped_precision_ratio(candidate, references, n):
    matches, total = clipped_right_loops(candidate, references, n)
    return matches / total if total else 0.0


def clipped_right_loops(candidate, references, n):
    grams = _student_grams(candidate, n)
    matches = 0
    for g, c in grams.items():
        best = 0
        for ref in references:
            best = max(best, _student_grams(ref, n).get(g, 0))
        matches += min(c, best)
    return matches, sum(grams.values())


def clipped_right_counter(candidate, references, n):
    cand = Counter(zip(*(candidate[i:] for i in range(n)), strict=False))
    best = Counter()
    for ref in references:
        best |= Counter(zip(*(ref[i:] for i in range(n)), strict=False))
    return sum((cand & best).values()), sum(cand.values())


# --- 9.2 brevity_penalty(c, r) --------------------------------------------------------------------


def bp_inverted(c, r):
    if c == 0:
        return 0.0
    return 1.0 if c > r else math.exp(1 - c / r)


def bp_always(c, r):
    if c == 0:
        return 0.0
    return math.exp(1 - r / c)


def bp_sacrebleu_empty(c, r):
    if c >= r:
        return 1.0
    return math.exp(1 - r / c) if c > 0 else 0.0


def bp_no_one(c, r):
    if c == 0:
        return 0.0
    return 1.0 if c > r else math.exp(-r / c)


def bp_linear(c, r):
    if c == 0:
        return 0.0
    return 1.0 if c > r else c / r


def bp_divides_by_zero(c, r):
    return 1.0 if c > r else math.exp(1 - r / c)


def bp_right_min(c, r):
    return math.exp(min(0.0, 1 - r / c)) if c else 0.0


def bp_right_numpy(c, r):
    if c <= 0:
        return 0.0
    return float(np.exp(1.0 - r / c)) if c <= r else 1.0


# --- 9.3 inverted_dropout(x, p, u) ----------------------------------------------------------------


def dropout_not_rescaled(x, p, u):
    return np.where(u >= p, x, 0.0)


def dropout_times_keep(x, p, u):
    return x * (u >= p) * (1 - p)


def dropout_kept_below(x, p, u):
    return x * (u < p) / (1 - p)


def dropout_strict(x, p, u):
    return np.where(u > p, x / (1 - p), 0.0)


def dropout_by_p(x, p, u):
    return x * (u >= p) / max(p, 1e-12)


def dropout_in_place(x, p, u):
    x[u < p] = 0.0
    x /= 1 - p
    return x


def dropout_right_where(x, p, u):
    return np.where(u >= p, x / (1.0 - p), 0.0)


def dropout_right_mask(x, p, u):
    mask = (u >= p).astype(x.dtype)
    return mask * x * (1.0 / (1.0 - p))


# --- 9.4 corpus_perplexity(batch_mean_nll, batch_token_counts) -----------------------------------


def ppl_unweighted(batch_mean_nll, batch_token_counts):
    return float(np.exp(np.mean(batch_mean_nll)))


def ppl_mean_of_perplexities(batch_mean_nll, batch_token_counts):
    return float(np.mean([math.exp(v) for v in batch_mean_nll]))


def ppl_weighted_perplexities(batch_mean_nll, batch_token_counts):
    total = sum(int(n) * math.exp(v) for v, n in zip(batch_mean_nll, batch_token_counts))
    return total / sum(int(n) for n in batch_token_counts)


def ppl_by_batches(batch_mean_nll, batch_token_counts):
    return float(np.exp(np.sum(batch_mean_nll * batch_token_counts) / len(batch_mean_nll)))


def ppl_nll_only(batch_mean_nll, batch_token_counts):
    return float(np.dot(batch_mean_nll, batch_token_counts) / np.sum(batch_token_counts))


def ppl_base_two(batch_mean_nll, batch_token_counts):
    return float(2 ** (np.dot(batch_mean_nll, batch_token_counts) / np.sum(batch_token_counts)))


def ppl_right_loop(batch_mean_nll, batch_token_counts):
    total, tokens = 0.0, 0
    for nll, n in zip(batch_mean_nll, batch_token_counts):
        total += float(nll) * int(n)
        tokens += int(n)
    return math.exp(total / tokens)


def ppl_right_average(batch_mean_nll, batch_token_counts):
    return float(np.exp(np.average(batch_mean_nll, weights=batch_token_counts)))


# --- 2.3.1 mean_pool(h, attention_mask) ----------------------------------------------------------


def mean_pool_all_positions(h, attention_mask):
    return h.mean(axis=1)


def mean_pool_over_t(h, attention_mask):
    m = attention_mask[:, :, None]
    return (h * m).sum(axis=1) / h.shape[1]


def mean_pool_masked_sum(h, attention_mask):
    return np.einsum("bt,btc->bc", attention_mask, h)


def mean_pool_whole_mask_count(h, attention_mask):
    return (h * attention_mask[..., None]).sum(axis=1) / attention_mask.sum()


def mean_pool_first_token(h, attention_mask):
    return h[:, 0, :]


def mean_pool_over_channels(h, attention_mask):
    m = attention_mask[:, :, None]
    return (h * m).sum(axis=2) / m.sum(axis=2)


def mean_pool_integer_division(h, attention_mask):
    total = (h * attention_mask[:, :, None]).sum(axis=1)
    return np.floor_divide(total, attention_mask.sum(axis=1, keepdims=True))


def mean_pool_right_loop(h, attention_mask):
    out = np.zeros((h.shape[0], h.shape[2]))
    for b in range(h.shape[0]):
        out[b] = h[b][attention_mask[b] == 1].mean(axis=0)
    return out


def mean_pool_right_weights(h, attention_mask):
    w = attention_mask / attention_mask.sum(axis=1, keepdims=True)  # (B, T)
    return np.einsum("bt,btc->bc", w, h)


# --- 2.3.2 mean_pool_backward(dpooled, attention_mask) -------------------------------------------


def pool_backward_copied(dpooled, attention_mask):
    T = attention_mask.shape[1]
    return np.stack([dpooled] * T, axis=1)


def pool_backward_not_divided(dpooled, attention_mask):
    return attention_mask[:, :, None] * dpooled[:, None, :]


def pool_backward_over_t(dpooled, attention_mask):
    T = attention_mask.shape[1]
    return attention_mask[:, :, None] * dpooled[:, None, :] / T


def pool_backward_padding_too(dpooled, attention_mask):
    n = attention_mask.sum(axis=1)
    return np.ones(attention_mask.shape)[:, :, None] * (dpooled / n[:, None])[:, None, :]


def pool_backward_first_position(dpooled, attention_mask):
    dh = np.zeros(attention_mask.shape + dpooled.shape[1:])
    dh[:, 0] = dpooled
    return dh


def pool_backward_times_n(dpooled, attention_mask):
    n = attention_mask.sum(axis=1, keepdims=True)[:, :, None]
    return attention_mask[:, :, None] * dpooled[:, None, :] * n


def pool_backward_sum_over_batch(dpooled, attention_mask):
    w = attention_mask / attention_mask.sum(axis=1, keepdims=True)
    return w[:, :, None] * dpooled.sum(axis=0)[None, None, :]


def pool_backward_right_loop(dpooled, attention_mask):
    B, T = attention_mask.shape
    dh = np.zeros((B, T, dpooled.shape[1]))
    for b in range(B):
        n = attention_mask[b].sum()
        for t in range(T):
            if attention_mask[b, t]:
                dh[b, t] = dpooled[b] / n
    return dh


def pool_backward_right_einsum(dpooled, attention_mask):
    w = attention_mask / attention_mask.sum(axis=1, keepdims=True)
    return np.einsum("bt,bc->btc", w, dpooled)


# --- 2.3.3 seed_summary(values) ------------------------------------------------------------------


def summary_ddof_0(values):
    x = np.asarray(values)
    return float(x.mean()), float(x.std()), float(x.std() / np.sqrt(len(x)))


def summary_stderr_over_n(values):
    x = np.asarray(values)
    sd = x.std(ddof=1)
    return float(x.mean()), float(sd), float(sd / len(x))


def summary_stderr_sqrt_n_minus_1(values):
    x = np.asarray(values)
    sd = x.std(ddof=1)
    return float(x.mean()), float(sd), float(sd / math.sqrt(len(x) - 1))


def summary_one_pass(values):
    n = len(values)
    s, s2 = sum(values), sum(v * v for v in values)
    var = (s2 - s * s / n) / (n - 1)
    sd = math.sqrt(max(var, 0.0))
    return s / n, sd, sd / math.sqrt(n)


def summary_variance_not_sd(values):
    x = np.asarray(values)
    var = x.var(ddof=1)
    return float(x.mean()), float(var), float(var / math.sqrt(len(x)))


def summary_median(values):
    x = np.asarray(values)
    sd = x.std(ddof=1)
    return float(np.median(x)), float(sd), float(sd / math.sqrt(len(x)))


def summary_range(values):
    x = np.asarray(values)
    spread = (x.max() - x.min()) / 2
    return float(x.mean()), float(spread), float(spread / math.sqrt(len(x)))


def summary_right_loop(values):
    n = len(values)
    mean = sum(values) / n
    ss = 0.0
    for v in values:
        ss += (v - mean) ** 2
    sd = (ss / (n - 1)) ** 0.5
    return mean, sd, sd / n**0.5


def summary_right_statistics(values):
    import statistics

    data = [float(v) for v in values]
    sd = statistics.stdev(data)
    return statistics.fmean(data), sd, sd / math.sqrt(len(data))


# --- 3.2.1 early_stopping(val_losses, patience) ---------------------------------------------------


def stopping_against_previous(val_losses, patience):
    bad = 0
    stop = len(val_losses) - 1
    for i in range(1, len(val_losses)):
        if val_losses[i] < val_losses[i - 1]:
            bad = 0
        else:
            bad += 1
        if bad >= patience:
            stop = i
            break
    seen = val_losses[: stop + 1]
    return seen.index(min(seen)), stop


def _stopping_loop(val_losses, patience, better, wait):
    best_i, bad = 0, 0
    for i in range(1, len(val_losses)):
        if better(val_losses[i], val_losses[best_i]):
            best_i, bad = i, 0
        else:
            bad += 1
            if bad >= wait:
                return best_i, i
    return best_i, len(val_losses) - 1


def stopping_equal_improves(val_losses, patience):
    return _stopping_loop(val_losses, patience, lambda a, b: a <= b, patience)


def stopping_one_late(val_losses, patience):
    return _stopping_loop(val_losses, patience, lambda a, b: a < b, patience + 1)


def stopping_best_of_all(val_losses, patience):
    _, stop = _stopping_loop(val_losses, patience, lambda a, b: a < b, patience)
    return int(np.argmin(val_losses)), stop


def stopping_last_of_lowest(val_losses, patience):
    _, stop = _stopping_loop(val_losses, patience, lambda a, b: a < b, patience)
    seen = val_losses[: stop + 1]
    low = min(seen)
    return max(i for i, x in enumerate(seen) if x == low), stop


def stopping_one_early(val_losses, patience):
    return _stopping_loop(val_losses, patience, lambda a, b: a < b, max(patience - 1, 1))


def stopping_stop_after(val_losses, patience):
    best, stop = _stopping_loop(val_losses, patience, lambda a, b: a < b, patience)
    return best, min(stop + 1, len(val_losses) - 1)


def stopping_never(val_losses, patience):
    return int(np.argmin(val_losses)), len(val_losses) - 1


def stopping_right_loop(val_losses, patience):
    return _stopping_loop(val_losses, patience, lambda a, b: a < b, patience)


def stopping_right_running_min(val_losses, patience):
    x = np.asarray(val_losses)
    before = np.minimum.accumulate(np.concatenate([[np.inf], x[:-1]]))  # best before each
    improved = x < before
    run = 0
    for i, ok in enumerate(improved):
        run = 0 if ok else run + 1
        if run >= patience:
            return int(np.argmin(x[: i + 1])), i
    return int(np.argmin(x)), len(x) - 1


# --- 3.2.2 adamw_step(p, g, m, v, t, lr, beta1, beta2, eps, weight_decay) -----------------------


def adamw_l2_term(p, g, m, v, t, lr, beta1, beta2, eps, weight_decay):
    g = g + weight_decay * p
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g**2
    m_hat, v_hat = m / (1 - beta1**t), v / (1 - beta2**t)
    return p - lr * m_hat / (np.sqrt(v_hat) + eps), m, v


def adamw_no_correction(p, g, m, v, t, lr, beta1, beta2, eps, weight_decay):
    p = p - lr * weight_decay * p
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g**2
    return p - lr * m / (np.sqrt(v) + eps), m, v


def adamw_eps_inside(p, g, m, v, t, lr, beta1, beta2, eps, weight_decay):
    p = p - lr * weight_decay * p
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g * g
    m_hat, v_hat = m / (1 - beta1**t), v / (1 - beta2**t)
    return p - lr * m_hat / np.sqrt(v_hat + eps), m, v


def adamw_decay_after(p, g, m, v, t, lr, beta1, beta2, eps, weight_decay):
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g * g
    m_hat, v_hat = m / (1 - beta1**t), v / (1 - beta2**t)
    p = p - lr * m_hat / (np.sqrt(v_hat) + eps)
    return p - lr * weight_decay * p, m, v


def adamw_decay_without_lr(p, g, m, v, t, lr, beta1, beta2, eps, weight_decay):
    p = p - weight_decay * p
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g * g
    m_hat, v_hat = m / (1 - beta1**t), v / (1 - beta2**t)
    return p - lr * m_hat / (np.sqrt(v_hat) + eps), m, v


def adamw_in_place(p, g, m, v, t, lr, beta1, beta2, eps, weight_decay):
    p -= lr * weight_decay * p  # modifies the caller's arrays
    m *= beta1
    m += (1 - beta1) * g
    v *= beta2
    v += (1 - beta2) * g * g
    p -= lr * (m / (1 - beta1**t)) / (np.sqrt(v / (1 - beta2**t)) + eps)
    return p, m, v


def adamw_v_from_abs(p, g, m, v, t, lr, beta1, beta2, eps, weight_decay):
    p = p - lr * weight_decay * p
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * np.abs(g)
    m_hat, v_hat = m / (1 - beta1**t), v / (1 - beta2**t)
    return p - lr * m_hat / (np.sqrt(v_hat) + eps), m, v


def adamw_swapped_betas(p, g, m, v, t, lr, beta1, beta2, eps, weight_decay):
    p = p - lr * weight_decay * p
    m = beta2 * m + (1 - beta2) * g
    v = beta1 * v + (1 - beta1) * g * g
    m_hat, v_hat = m / (1 - beta2**t), v / (1 - beta1**t)
    return p - lr * m_hat / (np.sqrt(v_hat) + eps), m, v


def adamw_right_torch_form(p, g, m, v, t, lr, beta1, beta2, eps, weight_decay):
    p = p * (1 - lr * weight_decay)  # torch's form of the same decay
    m = m + (1 - beta1) * (g - m)  # torch's lerp
    v = beta2 * v + (1 - beta2) * g * g
    step_size = lr / (1 - beta1**t)
    denom = np.sqrt(v) / np.sqrt(1 - beta2**t) + eps
    return p - step_size * m / denom, m, v


def adamw_right_loop(p, g, m, v, t, lr, beta1, beta2, eps, weight_decay):
    p, m, v = p.copy(), m.copy(), v.copy()
    for i in np.ndindex(p.shape):
        p[i] -= lr * weight_decay * p[i]
        m[i] = beta1 * m[i] + (1 - beta1) * g[i]
        v[i] = beta2 * v[i] + (1 - beta2) * g[i] ** 2
        p[i] -= lr * (m[i] / (1 - beta1**t)) / (math.sqrt(v[i] / (1 - beta2**t)) + eps)
    return p, m, v


# --- 2.2.1 next_token_pairs(ids, block_size, starts) ----------------------------------------------


def pairs_not_shifted(ids, block_size, starts):
    x = np.array([ids[s : s + block_size] for s in starts])
    return x, x.copy()


def pairs_from_zero(ids, block_size, starts):
    index = np.arange(len(starts))[:, None] + np.arange(block_size)
    return ids[index], ids[index + 1]


def pairs_x_shifted(ids, block_size, starts):
    x = np.stack([ids[s + 1 : s + 1 + block_size] for s in starts])
    y = np.stack([ids[s : s + block_size] for s in starts])
    return x, y


def pairs_y_too_long(ids, block_size, starts):
    x = [list(ids[s : s + block_size]) for s in starts]
    y = [list(ids[s + 1 : s + block_size + 2]) for s in starts]
    return np.array(x), np.array(y)


def pairs_y_wraps(ids, block_size, starts):
    index = np.asarray(starts)[:, None] + np.arange(block_size)
    return ids[index], np.roll(ids, -1)[index][:, ::-1]  # reversed by mistake


def pairs_last_target_repeated(ids, block_size, starts):
    x = np.array([ids[s : s + block_size] for s in starts])
    y = np.concatenate([x[:, 1:], x[:, -1:]], axis=1)  # the last target is not in the window
    return x, y


def pairs_sorted_starts(ids, block_size, starts):
    index = np.sort(starts)[:, None] + np.arange(block_size)
    return ids[index], ids[index + 1]


def pairs_right_loop(ids, block_size, starts):
    N = len(starts)
    x = np.zeros((N, block_size), dtype=np.int64)
    y = np.zeros((N, block_size), dtype=np.int64)
    for i in range(N):
        for t in range(block_size):
            x[i, t] = ids[starts[i] + t]
            y[i, t] = ids[starts[i] + t + 1]
    return x, y


def pairs_right_sliding(ids, block_size, starts):
    windows = np.lib.stride_tricks.sliding_window_view(ids, block_size + 1)  # (n - T, T + 1)
    chosen = windows[np.asarray(starts)]
    return chosen[:, :-1].copy(), chosen[:, 1:].copy()


# --- 2.2.2 mlm_targets(ids, positions, mask_id) ---------------------------------------------------


def targets_everywhere(ids, positions, mask_id):
    inputs = ids.copy()
    inputs[positions] = mask_id
    return inputs, ids.copy()


def targets_zero_elsewhere(ids, positions, mask_id):
    inputs = ids.copy()
    inputs[positions] = mask_id
    targets = np.zeros_like(ids)
    targets[positions] = ids[positions]
    return inputs, targets


def targets_after_masking(ids, positions, mask_id):
    inputs = ids.copy()
    inputs[positions] = mask_id
    targets = np.full(len(ids), -100)
    targets[positions] = inputs[positions]
    return inputs, targets


def targets_inverted(ids, positions, mask_id):
    inputs = ids.copy()
    inputs[positions] = mask_id
    targets = ids.copy()
    targets[positions] = -100
    return inputs, targets


def targets_in_place(ids, positions, mask_id):
    targets = np.full_like(ids, -100)
    targets[positions] = ids[positions]
    ids[positions] = mask_id  # writes into the caller's array
    return ids, targets


def targets_first_position_only(ids, positions, mask_id):
    inputs = ids.copy()
    targets = np.full_like(ids, -100)
    if len(positions):
        inputs[positions[0]] = mask_id
        targets[positions[0]] = ids[positions[0]]
    return inputs, targets


def targets_mask_everything(ids, positions, mask_id):
    targets = np.full_like(ids, -100)
    targets[positions] = ids[positions]
    return np.full_like(ids, mask_id), targets


def targets_right_loop(ids, positions, mask_id):
    chosen = set(int(p) for p in positions)
    inputs = [mask_id if i in chosen else int(t) for i, t in enumerate(ids)]
    targets = [int(t) if i in chosen else -100 for i, t in enumerate(ids)]
    return np.array(inputs, dtype=np.int64), np.array(targets, dtype=np.int64)


def targets_right_where(ids, positions, mask_id):
    hidden = np.zeros(ids.shape, dtype=bool)
    hidden[positions] = True
    return np.where(hidden, mask_id, ids), np.where(hidden, ids, -100)


# --- 2.2.3 mlm_corrupt(ids, positions, u, random_ids, mask_id) ------------------------------------


def corrupt_targets_at_mask_only(ids, positions, u, random_ids, mask_id):
    inputs = ids.copy()
    targets = np.full_like(ids, -100)
    for k, p in enumerate(positions):
        if u[k] < 0.8:
            inputs[p] = mask_id
            targets[p] = ids[p]
        elif u[k] < 0.9:
            inputs[p] = random_ids[k]
    return inputs, targets


def corrupt_sorted(ids, positions, u, random_ids, mask_id):
    inputs = ids.copy()
    targets = np.full_like(ids, -100)
    for k, p in enumerate(sorted(positions)):
        targets[p] = ids[p]
        if u[k] < 0.8:
            inputs[p] = mask_id
        elif u[k] < 0.9:
            inputs[p] = random_ids[k]
    return inputs, targets


def corrupt_swapped(ids, positions, u, random_ids, mask_id):
    inputs = ids.copy()
    targets = np.full_like(ids, -100)
    targets[positions] = ids[positions]
    for k, p in enumerate(positions):
        if u[k] < 0.8:
            inputs[p] = mask_id
        elif u[k] >= 0.9:
            inputs[p] = random_ids[k]
    return inputs, targets


def corrupt_all_mask(ids, positions, u, random_ids, mask_id):
    inputs = ids.copy()
    inputs[positions] = mask_id
    targets = np.full_like(ids, -100)
    targets[positions] = ids[positions]
    return inputs, targets


def corrupt_mask_above(ids, positions, u, random_ids, mask_id):
    inputs = ids.copy()
    targets = np.full_like(ids, -100)
    targets[positions] = ids[positions]
    for k, p in enumerate(positions):
        if u[k] > 0.2:  # 80% of the draws, but the wrong 80%
            inputs[p] = mask_id
        elif u[k] > 0.1:
            inputs[p] = random_ids[k]
    return inputs, targets


def corrupt_random_by_position(ids, positions, u, random_ids, mask_id):
    inputs = ids.copy()
    targets = np.full_like(ids, -100)
    targets[positions] = ids[positions]
    order = np.argsort(positions)
    for j, k in enumerate(order):  # random id j (by sorted position) instead of k
        p = positions[k]
        if u[k] < 0.8:
            inputs[p] = mask_id
        elif u[k] < 0.9:
            inputs[p] = random_ids[j]
    return inputs, targets


def corrupt_targets_from_inputs(ids, positions, u, random_ids, mask_id):
    inputs = ids.copy()
    for k, p in enumerate(positions):
        if u[k] < 0.8:
            inputs[p] = mask_id
        elif u[k] < 0.9:
            inputs[p] = random_ids[k]
    targets = np.full_like(ids, -100)
    targets[positions] = inputs[positions]
    return inputs, targets


def corrupt_right_masks(ids, positions, u, random_ids, mask_id):
    positions, u, random_ids = np.asarray(positions), np.asarray(u), np.asarray(random_ids)
    inputs = ids.copy()
    masked = u < 0.8
    randomised = (u >= 0.8) & (u < 0.9)
    inputs[positions[masked]] = mask_id
    inputs[positions[randomised]] = random_ids[randomised]
    targets = np.full_like(ids, -100)
    targets[positions] = ids[positions]
    return inputs, targets


def corrupt_right_select(ids, positions, u, random_ids, mask_id):
    inputs = ids.copy()
    targets = np.full_like(ids, -100)
    for p, draw, r in zip(positions, u, random_ids):
        targets[p] = ids[p]
        inputs[p] = np.select([draw < 0.8, draw < 0.9], [mask_id, r], ids[p])
    return inputs, targets


# --- 1.1 bigram_counts(ids, vocab_size) -----------------------------------------------------------


def bigram_counts_transposed(ids, vocab_size):
    counts = np.zeros((vocab_size, vocab_size), dtype=np.int64)
    for i in range(len(ids) - 1):
        counts[ids[i + 1], ids[i]] += 1
    return counts


def bigram_counts_fancy_index(ids, vocab_size):
    counts = np.zeros((vocab_size, vocab_size), dtype=int)
    counts[ids[:-1], ids[1:]] += 1
    return counts


def bigram_counts_wraps_around(ids, vocab_size):
    counts = np.zeros((vocab_size, vocab_size), dtype=np.int64)
    for a, b in zip(ids, np.roll(ids, -1)):
        counts[a, b] += 1
    return counts


def bigram_counts_same_position(ids, vocab_size):
    counts = np.zeros((vocab_size, vocab_size), dtype=np.int64)
    np.add.at(counts, (ids, ids), 1)
    return counts


def bigram_counts_as_floats(ids, vocab_size):
    counts = np.zeros((vocab_size, vocab_size))
    np.add.at(counts, (ids[:-1], ids[1:]), 1.0)
    return counts


def bigram_counts_skips_first(ids, vocab_size):
    counts = np.zeros((vocab_size, vocab_size), dtype=np.int64)
    for i in range(1, len(ids) - 1):
        counts[ids[i], ids[i + 1]] += 1
    return counts


def bigram_counts_right_loop(ids, vocab_size):
    counts = np.zeros((vocab_size, vocab_size), dtype=np.int64)
    for a, b in zip(ids[:-1].tolist(), ids[1:].tolist()):
        counts[a][b] += 1
    return counts


def bigram_counts_right_bincount(ids, vocab_size):
    flat = np.bincount(ids[:-1] * vocab_size + ids[1:], minlength=vocab_size**2)
    return flat.reshape(vocab_size, vocab_size)


# --- 1.2 bigram_nll(counts, ids, alpha) -----------------------------------------------------------


def bigram_nll_alpha_once(counts, ids, alpha):
    p = (counts + alpha) / (counts.sum(axis=1, keepdims=True) + alpha)
    return float(-np.mean(np.log(p[ids[:-1], ids[1:]])))


def bigram_nll_summed(counts, ids, alpha):
    V = counts.shape[0]
    p = (counts + alpha) / (counts.sum(axis=1, keepdims=True) + alpha * V)
    return float(-np.sum(np.log(p[ids[:-1], ids[1:]])))


def bigram_nll_over_n(counts, ids, alpha):
    V = counts.shape[0]
    p = (counts + alpha) / (counts.sum(axis=1, keepdims=True) + alpha * V)
    return float(-np.sum(np.log(p[ids[:-1], ids[1:]])) / len(ids))


def bigram_nll_bits(counts, ids, alpha):
    V = counts.shape[0]
    p = (counts + alpha) / (counts.sum(axis=1, keepdims=True) + alpha * V)
    return float(-np.mean(np.log2(p[ids[:-1], ids[1:]])))


def bigram_nll_transposed(counts, ids, alpha):
    V = counts.shape[0]
    c = counts.T
    p = (c + alpha) / (c.sum(axis=1, keepdims=True) + alpha * V)
    return float(-np.mean(np.log(p[ids[:-1], ids[1:]])))


def bigram_nll_column_totals(counts, ids, alpha):
    V = counts.shape[0]
    p = (counts + alpha) / (counts.sum(axis=0, keepdims=True) + alpha * V)
    return float(-np.mean(np.log(p[ids[:-1], ids[1:]])))


def bigram_nll_no_smoothing_on_top(counts, ids, alpha):
    V = counts.shape[0]
    p = (counts + 1e-12) / (counts.sum(axis=1, keepdims=True) + alpha * V)
    return float(-np.mean(np.log(p[ids[:-1], ids[1:]])))


def bigram_nll_right_loop(counts, ids, alpha):
    V = len(counts)
    total = 0.0
    for a, b in zip(ids[:-1], ids[1:]):
        total += -math.log((counts[a, b] + alpha) / (counts[a].sum() + alpha * V))
    return total / (len(ids) - 1)


def bigram_nll_right_log_difference(counts, ids, alpha):
    V = counts.shape[1]
    a, b = ids[:-1], ids[1:]
    rows = counts.sum(axis=1)
    return float(np.mean(np.log(rows[a] + alpha * V) - np.log(counts[a, b] + alpha)))


# --- 1.3 bag_of_words(docs, vocab_size) -----------------------------------------------------------


def bow_raw_counts(docs, vocab_size):
    out = np.zeros((len(docs), vocab_size))
    for i, doc in enumerate(docs):
        for t in doc:
            out[i, t] += 1
    return out


def bow_fancy_index(docs, vocab_size):
    out = np.zeros((len(docs), vocab_size))
    for i, doc in enumerate(docs):
        out[i, doc] += 1
    return out


def bow_distinct(docs, vocab_size):
    out = np.zeros((len(docs), vocab_size))
    for i, doc in enumerate(docs):
        if doc:
            out[i] = np.bincount(doc, minlength=vocab_size) / len(set(doc))
    return out


def bow_empty_is_nan(docs, vocab_size):
    out = np.zeros((len(docs), vocab_size))
    for i, doc in enumerate(docs):
        with np.errstate(invalid="ignore"):
            out[i] = np.bincount(np.array(doc, dtype=int), minlength=vocab_size) / len(doc)
    return out


def bow_divided_by_vocab(docs, vocab_size):
    out = np.zeros((len(docs), vocab_size))
    for i, doc in enumerate(docs):
        out[i] = np.bincount(np.array(doc, dtype=int), minlength=vocab_size) / vocab_size
    return out


def bow_presence(docs, vocab_size):
    out = np.zeros((len(docs), vocab_size))
    for i, doc in enumerate(docs):
        if doc:
            out[i, doc] = 1.0 / len(doc)
    return out


def bow_right_loop(docs, vocab_size):
    out = np.zeros((len(docs), vocab_size))
    for i, doc in enumerate(docs):
        for t in doc:
            out[i, t] += 1.0 / len(doc)
    return out


def bow_right_add_at(docs, vocab_size):
    out = np.zeros((len(docs), vocab_size))
    for i, doc in enumerate(docs):
        np.add.at(out[i], doc, 1.0)
    lengths = np.array([max(len(d), 1) for d in docs], dtype=float).reshape(-1, 1)
    return out / lengths


# exercise id -> [(wrong answer, the mistake the check names, or None)]
WRONG = {
    "1.1": [
        (bigram_counts_transposed, "transposed: counts[b, a] for a followed by b"),
        (bigram_counts_fancy_index, "counts[ids[:-1], ids[1:]] += 1: a repeated pair counted once"),
        (bigram_counts_wraps_around, "the last id counted as followed by the first (np.roll)"),
        (bigram_counts_same_position, None),
        (bigram_counts_as_floats, None),
        (bigram_counts_skips_first, None),
    ],
    "1.2": [
        (bigram_nll_alpha_once, "alpha added once to the row's total instead of alpha * V"),
        (bigram_nll_summed, "summed over the transitions, not averaged"),
        (bigram_nll_over_n, "divided by len(ids) instead of the len(ids) - 1 transitions"),
        (bigram_nll_bits, "in bits (log base 2) instead of nats"),
        (bigram_nll_transposed, "the counts read as counts[b, a]"),
        (bigram_nll_column_totals, None),
        (bigram_nll_no_smoothing_on_top, None),
    ],
    "1.3": [
        (bow_raw_counts, "raw counts, not divided by the doc's length"),
        (bow_fancy_index, "out[i, doc] += 1: a repeated id counted once"),
        (bow_distinct, "divided by the number of distinct ids, not the doc's length"),
        (bow_empty_is_nan, None),
        (bow_divided_by_vocab, None),
        (bow_presence, None),
    ],
    "4.1.1": [
        (softmax_no_max, "no max subtraction"),
        (softmax_row_min, "the row's minimum subtracted instead of its maximum"),
        (softmax_row_mean, "the row's mean subtracted instead of its maximum"),
        (softmax_global_max, "the maximum of the whole array subtracted"),
        (softmax_global_sum, "normalised over the whole array"),
        (softmax_keepdims_forgotten, None),
        (softmax_max_without_keepdims, None),
        (softmax_first_axis, "normalised along the first axis"),
        (softmax_in_float32, None),
        (softmax_unnormalised, "not normalised"),
        (softmax_clipped, None),
        (softmax_log_space_unstable, None),
        (softmax_divided_by_max, "not normalised"),
        (softmax_nan_to_num, None),
        (softmax_in_place, None),
        (softmax_as_list, None),
    ],
    "4.1.2": [
        (softmax_backward_diagonal, "only the diagonal of the Jacobian kept"),
        (softmax_backward_no_sum, "the sum term of the softmax Jacobian dropped"),
        (softmax_backward_sum_over_all, "the sum taken over the whole array"),
        (softmax_backward_not_times_p, "the result not multiplied by p"),
        (softmax_backward_first_axis, "the sum taken over the wrong axis"),
        (softmax_backward_sign, None),
        (softmax_backward_plain_mean, None),
        (softmax_backward_keepdims_forgotten, None),
        (softmax_backward_outer_wrong, None),
    ],
    "4.1.3": [
        (attention_unscaled, "no 1/sqrt(hs) scaling"),
        (attention_weights_only, "V left out"),
        (attention_diagonal_masked, "mask off by one: a position cannot see itself"),
        (attention_sees_next, "mask off by one: a position sees the next one"),
        (attention_mask_after_softmax, "the mask applied after the softmax"),
        (attention_sqrt_of_T, None),
        (attention_over_hs, "scaled by 1/hs instead of 1/sqrt(hs)"),
        (attention_no_max, "no max subtraction in the softmax"),
        (attention_always_masked, "the causal mask applied even with causal=False"),
        (attention_never_masked, "the causal flag ignored"),
        (attention_over_queries, "softmax over the queries instead of the keys"),
        (attention_k_not_transposed, None),
    ],
    "4.1.4": [
        (attention_backward_no_scale, "the 1/sqrt(hs) scale left out"),
        (attention_backward_dv_untransposed, "dv = att @ dout"),
        (attention_backward_dk_untransposed, "dk = dscores @ q"),
        (attention_backward_no_sum_term, "the sum term of the softmax Jacobian dropped"),
        (attention_backward_no_mask, None),
        (attention_backward_no_max, "no max subtraction when recomputing the weights"),
        (attention_backward_scale_twice, None),
        (attention_backward_swapped, None),
        (attention_backward_two_outputs, None),
    ],
    "4.1.5": [
        (layernorm_backward_unbiased, "unbiased variance"),
        (layernorm_backward_constant_stats, "treated as constants"),
        (layernorm_backward_dw_per_row, None),
        (layernorm_backward_eps_fixed, None),
        (layernorm_backward_no_eps, "eps left out"),
        (layernorm_backward_dw_from_x, "dw computed from x"),
        (layernorm_backward_no_mean_term, "the mean(dnorm) term dropped"),
        (layernorm_backward_no_norm_term, "the norm * mean(dnorm * norm) term dropped"),
        (layernorm_backward_one_pass_variance, None),
        (layernorm_backward_swapped, None),
    ],
    "4.2.1": [
        (cross_entropy_summed, "summed instead of averaged"),
        (cross_entropy_divides_by_n, "ignored targets included"),
        (cross_entropy_naive, "no max subtraction"),
        (cross_entropy_log_of_softmax, "log of the softmax instead of log-sum-exp"),
        (cross_entropy_row_min, "the row's minimum subtracted"),
        (cross_entropy_row_mean, "the row's mean subtracted"),
        (cross_entropy_ignore_forgotten, None),
        (cross_entropy_per_row, None),
        (cross_entropy_float32, None),
        (cross_entropy_clipped_probabilities, None),
        (cross_entropy_all_entries, None),
    ],
    "4.2.2": [
        (cross_entropy_backward_summed, "not divided by the number of counted targets"),
        (cross_entropy_backward_ignored_kept, "ignored rows not zeroed"),
        (cross_entropy_backward_no_onehot, "the one-hot not subtracted"),
        (cross_entropy_backward_divides_by_n, "divided by every row, ignored targets included"),
        (cross_entropy_backward_sign, "the sign flipped"),
        (cross_entropy_backward_no_max, "no max subtraction in the softmax"),
        (cross_entropy_backward_ignored_indexed, None),
        (cross_entropy_backward_float32, None),
        (cross_entropy_backward_in_place, None),
    ],
    "5.1": [
        (greedy_no_crop, None),
        (greedy_first_position, "the first position's logits used instead of the last"),
        (greedy_new_tokens_only, "only the new tokens returned"),
        (greedy_cropped_one_short, None),
        (greedy_cropped_from_the_front, None),
        (greedy_as_list, None),
        (greedy_uses_generate, None),
    ],
    "5.2": [
        (top_p_exclusive, "the token that crosses p left out"),
        (top_p_unsorted, "the cumulative sum taken before sorting"),
        (top_p_one_too_many, "one token past the nucleus kept"),
        (top_p_probabilities_returned, None),
        (top_p_zeros_not_inf, None),
        (top_p_ascending, None),
        (top_p_renormalised, None),
    ],
    "5.3": [
        (table_from_255, "the shifted bytes start at 255"),
        (table_identity, "every byte mapped to itself"),
        (table_ascii_only, "only ASCII's printable bytes kept as themselves"),
        (table_shifted_by_byte, None),
        (table_tilde_forgotten, None),
        (table_as_list, None),
    ],
    "5.4": [
        (generate_text_articles_bug, "one forward pass decoded, nothing generated"),
        (generate_text_no_prompt, "only the continuation returned"),
        (generate_text_decodes_logits, None),
        (generate_text_sampled, None),
        (generate_text_library, None),
        (generate_text_returns_ids, None),
    ],
    "6.1": [
        (rouge_n_unclipped, "no clipping"),
        (rouge_n_swapped, "precision and recall swapped"),
        (rouge_n_sets, "distinct n-grams (sets)"),
        (rouge_n_arithmetic_f, "F1 as the plain mean"),
        (rouge_n_unigrams_always, None),
        (rouge_n_off_by_one, None),
        (rouge_n_nan_when_empty, None),
    ],
    "6.2": [
        (distinct_joined, "the texts joined"),
        (distinct_mean_per_text, "averaged per text"),
        (distinct_summed, "counted in each text, then added"),
        (distinct_over_tokens, None),
        (distinct_count_only, None),
        (distinct_mean_with_empty, None),
    ],
    "6.3": [
        (macro_f1_skip_empty, "classes with 0/0 left out"),
        (macro_f1_micro, "micro F1"),
        (macro_f1_of_means, "F1 of the mean precision"),
        (macro_f1_weighted, "weighted by class support"),
        (macro_f1_no_factor_two, None),
        (macro_f1_nan, None),
    ],
    "7.1": [
        (conv1d_reshaped, "reshaped instead of transposed"),
        (conv1d_transposed_view, None),
        (conv1d_fortran_copy, None),
        (conv1d_unchanged, "returned unchanged"),
        (conv1d_rotated, None),
    ],
    "7.2": [
        (header_with_metadata, "__metadata__ listed as a tensor"),
        (header_big_endian, None),
        (header_list_shapes, "shapes as lists"),
        (header_with_offsets, None),
        (header_names_only, None),
    ],
    "2.1.1": [
        (split_heads_no_transpose, "reshaped to (B, nh, T, hs) without the transpose"),
        (split_heads_interleaved, "heads interleaved"),
        (split_heads_time_last, "the last two axes swapped"),
        (split_heads_n_head_as_size, None),
        (split_heads_heads_last, None),
        (split_heads_first_head_only, None),
    ],
    "2.1.2": [
        (merge_heads_no_transpose, "reshaped to (B, T, C) without the transpose"),
        (merge_heads_interleaved, "heads interleaved"),
        (merge_heads_summed, None),
        (merge_heads_first_head, None),
        (merge_heads_wrong_axis, None),
        (merge_heads_as_list, None),
    ],
    "2.1.3": [
        (count_untied_head, "the output head counted as a matrix of its own"),
        (count_no_positions, "the position embedding left out"),
        (count_mlp_width_c, "an MLP of width C instead of 4C"),
        (count_no_biases, "the linear layers' biases left out"),
        (count_no_final_norm, "the final layer norm left out"),
        (count_one_norm_per_block, "one layer norm per block instead of two"),
        (count_float, None),
        (count_attention_c_squared, None),
    ],
    "2.1.4": [
        (mlp_exact_gelu, "the exact (erf) GELU"),
        (mlp_relu, "ReLU instead of GELU"),
        (mlp_no_cube, "the 0.044715 h^3 term left out"),
        (mlp_sigmoid_gelu, "the sigmoid approximation"),
        (mlp_bias_after_gelu, "b_fc added after the GELU"),
        (mlp_tanh_from_exp, None),
        (mlp_no_output_bias, None),
        (mlp_gelu_after_projection, None),
        (mlp_in_float32, None),
    ],
    "2.1.5": [
        (block_post_ln, "post-LN"),
        (block_no_residual, "no residual connections"),
        (block_residual_on_normalised, "the normalised stream carried on"),
        (block_parallel, "both sublayers read x"),
        (block_ln_1_twice, "ln_1 used before the MLP too"),
        (block_no_norms, "the layer norms left out"),
        (block_second_add_to_x, "the MLP's output added to x instead of x1"),
        (block_mlp_first, None),
        (block_attention_only, None),
        (block_in_place, None),
    ],
    "8.1": [
        (law_log10_then_exp, "a fitted with log10"),
        (law_sign_flipped, "b with the wrong sign"),
        (law_returns_log_a, "log(a) returned instead of a"),
        (law_end_points, "the line through the smallest and largest size only"),
        (law_linear_in_n, None),
        (law_mean_of_ratios, None),
    ],
    "8.2": [
        (exposure_ties_above, "ties counted as ranked above"),
        (exposure_in_nats, "natural logarithms instead of log2"),
        (exposure_from_the_bottom, "ranked from the bottom"),
        (exposure_r_minus_one, None),  # crashes on the one-candidate case
        (exposure_rank_from_zero, None),
        (exposure_sorted_index, None),
        (exposure_ratio, None),
    ],
    "8.3": [
        (entropy_times_temperature, "the logits multiplied by the temperature"),
        (entropy_in_bits, "in bits"),
        (entropy_no_temperature, "the temperature left out"),
        (entropy_no_minus, "the minus sign left out"),
        (entropy_naive, "exp of the unshifted logits"),
        (entropy_log_of_p, None),
        (entropy_whole_batch, None),
    ],
    "3.1.1": [
        (pairs_stride_two, "pairs taken two at a time"),
        (pairs_as_a_set, "each distinct pair counted once"),
        (pairs_wrapped, "the last id paired with the first"),
        (pairs_unordered, "(a, b) and (b, a) counted as one pair"),
        (pairs_counter, None),
        (pairs_lists_as_keys, None),
        (pairs_one_short, None),
    ],
    "3.1.2": [
        (merge_step_one, "one step on after a merge"),
        (merge_from_the_right, "scanned from the right"),
        (merge_first_only, "only the first occurrence merged"),
        (merge_either_order, "the pair matched in either order"),
        (merge_drops_last, "the last id dropped"),
        (merge_as_tuple, None),
        (merge_as_array, None),
    ],
    "3.1.3": [
        (lr_warmup_from_zero, "the first step's rate is 0"),
        (lr_warmup_peaks_early, "the peak comes a step early"),
        (lr_decay_to_zero, "a cosine decay to 0"),
        (lr_linear, "a linear decay"),
        (lr_ratio_from_zero, "counted from step 0"),
        (lr_divides_first, None),
        (lr_cosine_of_a_quarter, None),
    ],
    "9.1": [
        (clipped_no_clip, "not clipped"),
        (clipped_sum_of_references, "clipped by the counts summed over the references"),
        (clipped_first_reference, "only the first reference used"),
        (clipped_distinct, "distinct n-grams counted"),
        (clipped_total_as_length, None),
        (clipped_precision_ratio, None),
    ],
    "9.2": [
        (bp_inverted, "the ratio inverted"),
        (bp_always, "long candidates penalised too"),
        (bp_sacrebleu_empty, "1.0 for c = r = 0"),
        (bp_no_one, "the 1 left out"),
        (bp_linear, None),
        (bp_divides_by_zero, None),
    ],
    "9.3": [
        (dropout_not_rescaled, "not rescaled"),
        (dropout_times_keep, "multiplied by 1 - p instead of divided by it"),
        (dropout_kept_below, "kept where u < p"),
        (dropout_strict, "a draw equal to p dropped"),
        (dropout_by_p, None),
        (dropout_in_place, None),
    ],
    "9.4": [
        (ppl_unweighted, "averaged without their token counts"),
        (ppl_mean_of_perplexities, "the mean of the batches' perplexities"),
        (ppl_weighted_perplexities, "the token-weighted mean of the batches' perplexities"),
        (ppl_by_batches, "divided by the number of batches"),
        (ppl_nll_only, None),
        (ppl_base_two, None),
    ],
    "2.3.1": [
        (mean_pool_all_positions, "averaged over all T positions, padding included"),
        (mean_pool_over_t, "the masked sum divided by T"),
        (mean_pool_masked_sum, "the masked sum, not divided"),
        (mean_pool_whole_mask_count, "divided by the total of the whole mask"),
        (mean_pool_first_token, None),
        (mean_pool_over_channels, None),
        (mean_pool_integer_division, None),
    ],
    "2.3.2": [
        (pool_backward_copied, "dpooled copied to every position"),
        (pool_backward_not_divided, "masked but not divided"),
        (pool_backward_over_t, "divided by T instead of the row's real tokens"),
        (pool_backward_padding_too, "padding gets a gradient too"),
        (pool_backward_first_position, None),
        (pool_backward_times_n, None),
        (pool_backward_sum_over_batch, None),
    ],
    "2.3.3": [
        (summary_ddof_0, "sd with ddof=0"),
        (summary_stderr_over_n, "stderr = sd / n"),
        (summary_stderr_sqrt_n_minus_1, "stderr = sd / sqrt(n - 1)"),
        (summary_one_pass, None),  # its rounding differs from the named one-pass variant
        (summary_variance_not_sd, None),
        (summary_median, None),
        (summary_range, None),
    ],
    "3.2.1": [
        (stopping_against_previous, "patience counted against the previous evaluation"),
        (stopping_equal_improves, "an equal loss counted as an improvement"),
        (stopping_one_late, "one evaluation too many before stopping"),
        (stopping_best_of_all, "the best looked for in the whole list"),
        (stopping_last_of_lowest, "the last index of the lowest loss"),
        (stopping_one_early, None),
        (stopping_stop_after, None),
        (stopping_never, None),
    ],
    "3.2.2": [
        (adamw_l2_term, "an L2 term"),
        (adamw_no_correction, "no bias corrections"),
        (adamw_eps_inside, "eps inside the square root"),
        (adamw_decay_after, "the decay applied after the Adam update"),
        (adamw_decay_without_lr, "the decay not multiplied by lr"),
        (adamw_in_place, None),
        (adamw_v_from_abs, None),
        (adamw_swapped_betas, None),
    ],
    "2.2.1": [
        (pairs_not_shifted, "y is x itself"),
        (pairs_from_zero, "the starts ignored"),
        (pairs_x_shifted, "x moved on instead of y"),
        (pairs_y_too_long, "y one id longer than x"),
        (pairs_y_wraps, None),
        (pairs_last_target_repeated, None),
        (pairs_sorted_starts, None),
    ],
    "2.2.2": [
        (targets_everywhere, "targets hold the ids everywhere"),
        (targets_zero_elsewhere, "0 instead of -100"),
        (targets_after_masking, "targets read after masking"),
        (targets_inverted, "targets the other way round"),
        (targets_in_place, None),
        (targets_first_position_only, None),
        (targets_mask_everything, None),
    ],
    "2.2.3": [
        (corrupt_targets_at_mask_only, "targets only at the [MASK]ed positions"),
        (corrupt_sorted, "the draws applied to the positions in sorted order"),
        (corrupt_swapped, "random and kept swapped"),
        (corrupt_all_mask, "every chosen position [MASK]ed"),
        (corrupt_mask_above, None),
        (corrupt_random_by_position, None),
        (corrupt_targets_from_inputs, None),
    ],
}

# exercise id -> [answers that are right another way than the notebook's]
RIGHT = {
    "1.1": [bigram_counts_right_loop, bigram_counts_right_bincount],
    "1.2": [bigram_nll_right_loop, bigram_nll_right_log_difference],
    "1.3": [bow_right_loop, bow_right_add_at],
    "4.1.1": [softmax_right_by_rows, softmax_right_logsumexp, softmax_right_flattened],
    "4.1.2": [
        softmax_backward_right_jacobian,
        softmax_backward_right_einsum,
        softmax_backward_right_expanded,
    ],
    "4.1.3": [
        attention_right_loops,
        attention_right_big_negative_mask,
        attention_right_library_softmax,
    ],
    "4.1.4": [attention_backward_right_heads_loop, attention_backward_right_library_softmax],
    "4.1.5": [layernorm_backward_right_rows, layernorm_backward_right_through_var],
    "4.2.1": [cross_entropy_right_loop, cross_entropy_right_logaddexp, cross_entropy_right_onehot],
    "4.2.2": [cross_entropy_backward_right_loop, cross_entropy_backward_right_eye],
    "5.1": [greedy_right_preallocated],
    "5.2": [top_p_right_exact, top_p_right_shifted_cumsum, top_p_right_at_most, top_p_right_rows],
    "5.3": [table_right_gpt2_style],
    "5.4": [generate_text_right_loop],
    "6.1": [rouge_n_right_loops, rouge_n_right_counter],
    "6.2": [distinct_right_dict, distinct_right_counter],
    "6.3": [macro_f1_right_loop, macro_f1_right_vector],
    "7.1": [conv1d_right_copy, conv1d_right_loops],
    "7.2": [header_right_struct],
    "2.1.1": [split_heads_right_loop, split_heads_right_stack],
    "2.1.2": [merge_heads_right_concatenate, merge_heads_right_einsum],
    "2.1.3": [count_right_by_pieces, count_right_numpy_int],
    "2.1.4": [mlp_right_einsum, mlp_right_sigmoid_form],
    "2.1.5": [block_right_reduce, block_right_copy],
    "8.1": [law_right_polyfit, law_right_lstsq],
    "8.2": [exposure_right_loop, exposure_right_sorted],
    "8.3": [entropy_right_where, entropy_right_logsumexp],
    "3.1.1": [pairs_right_counter, pairs_right_index_loop],
    "3.1.2": [merge_right_for_loop, merge_right_recursive],
    "3.1.3": [lr_right_sin_squared, lr_right_numpy],
    "9.1": [clipped_right_loops, clipped_right_counter],
    "9.2": [bp_right_min, bp_right_numpy],
    "9.3": [dropout_right_where, dropout_right_mask],
    "9.4": [ppl_right_loop, ppl_right_average],
    "2.3.1": [mean_pool_right_loop, mean_pool_right_weights],
    "2.3.2": [pool_backward_right_loop, pool_backward_right_einsum],
    "2.3.3": [summary_right_loop, summary_right_statistics],
    "3.2.1": [stopping_right_loop, stopping_right_running_min],
    "3.2.2": [adamw_right_torch_form, adamw_right_loop],
    "2.2.1": [pairs_right_loop, pairs_right_sliding],
    "2.2.2": [targets_right_loop, targets_right_where],
    "2.2.3": [corrupt_right_masks, corrupt_right_select],
}
