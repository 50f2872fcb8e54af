"""Softmax, and the fused softmax + cross-entropy loss of a language model.

Both subtract the row maximum before exponentiating, so logits of magnitude 1e4 give finite
results. Softmax accepts -inf entries (masked attention scores): they get probability 0, and a
row that is entirely -inf gets all zeros instead of NaN.
"""

import numpy as np

from tinytransformer.checks import check_float, check_ids
from tinytransformer.linear import row_dots, row_sums

IGNORE_INDEX = -100


def softmax_forward(x):
    """x (..., N) -> p (..., N), each row summing to 1 (or all 0 if the row is all -inf).

    >>> import numpy as np
    >>> p, _ = softmax_forward(np.array([0.0, np.log(3.0)]))
    >>> np.round(p, 4).tolist()
    [0.25, 0.75]
    """
    check_float("x", x)
    m = x.max(axis=-1, keepdims=True)  # (..., 1)
    m = np.where(np.isfinite(m), m, 0.0).astype(x.dtype, copy=False)  # an all -inf row: no NaN
    p = x - m  # (..., N) a new array of ours, updated in place below
    np.exp(p, out=p)  # the largest entry of a row is exp(0) = 1: no overflow
    s = row_sums(p)  # (..., 1)
    s[s == 0] = 1.0  # only an all -inf row sums to 0; its probabilities stay 0
    p /= s
    return p, p


def softmax_backward(dout, cache):
    """dout (..., N) -> dx (..., N).  p = softmax(x): dx = p * (dout - sum(dout * p))."""
    p = cache
    dx = dout - row_dots(dout, p)  # (..., N) a new array of ours
    dx *= p
    return dx


def cross_entropy_forward(logits, targets, ignore_index=IGNORE_INDEX):
    """Mean negative log-likelihood of the targets under softmax(logits).

    logits (..., V) float, targets (...) int in [0, V) or ignore_index (skipped, not counted).
    Returns (loss, cache); loss is a 0-d array of logits' dtype. If every target is ignored
    the loss is 0 and so is its gradient: there is nothing to learn from.

    >>> import numpy as np
    >>> loss, _ = cross_entropy_forward(np.zeros((1, 4)), np.array([2]))
    >>> round(float(loss), 6) == round(float(np.log(4)), 6)
    True
    """
    check_float("logits", logits)
    if not isinstance(targets, np.ndarray) or targets.shape != logits.shape[:-1]:
        got = getattr(targets, "shape", type(targets).__name__)
        raise ValueError(f"targets: expected shape {logits.shape[:-1]}, got {got}")
    V = logits.shape[-1]
    valid = targets != ignore_index  # (...)
    check_ids("targets", targets[valid], high=V)
    safe_t = np.where(valid, targets, 0)  # ignored rows point at class 0, then get weight 0
    m = logits.max(axis=-1, keepdims=True)  # (..., 1)
    probs = logits - m  # (..., V) a new array of ours, updated in place below
    np.exp(probs, out=probs)
    s = row_sums(probs)  # (..., 1)
    probs /= s  # (..., V) cached: backward is probs - onehot
    # -log p[target] = log(sum exp(z - m)) - (z[target] - m), computed without forming log(probs)
    z_t = np.take_along_axis(logits, safe_t[..., None], axis=-1)[..., 0]  # (...)
    nll = np.log(s[..., 0]) - (z_t - m[..., 0])  # (...)
    count = int(valid.sum())
    loss = (nll * valid).sum() / max(count, 1)
    return np.asarray(loss, dtype=logits.dtype), (probs, safe_t, valid, count)


def cross_entropy_backward(dloss, cache):
    """dloss scalar -> dlogits (..., V).

    loss = mean(-log softmax(z)[t])  ->  dz = (softmax(z) - onehot(t)) / n, n the counted targets.
    """
    probs, safe_t, valid, count = cache
    V = probs.shape[-1]
    dlogits = probs.reshape(-1, V).copy()  # (N, V)
    dlogits[np.arange(dlogits.shape[0]), safe_t.reshape(-1)] -= 1.0  # p - onehot(t)
    # ignored targets contribute nothing; the mean divides by the number of counted targets
    weight = valid.reshape(-1, 1) * (np.asarray(dloss, dtype=probs.dtype) / max(count, 1))  # (N, 1)
    dlogits *= weight.astype(probs.dtype, copy=False)
    return dlogits.reshape(probs.shape)
