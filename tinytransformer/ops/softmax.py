"""Softmax along the last axis, and its backward pass (a Jacobian-vector product).

    p_i = exp(x_i - m) / sum_j exp(x_j - m),   m = max_j x_j

Subtracting the row maximum changes nothing mathematically (it cancels between numerator and
denominator) but keeps exp from overflowing: logits of magnitude 1e4 give finite results.
-inf entries (masked attention scores) get probability 0, and a row that is entirely -inf gets
all zeros instead of NaN.
"""

import numpy as np

from tinytransformer.checks import check_float


def softmax_forward(x, *, check=True):
    """x (..., N) -> p (..., N), each row summing to 1 (or all 0 if the row is all -inf).

    The cache is p itself: the backward pass needs nothing else.
    Checks (check=True): x is a float array; the model's own calls pass check=False: it checked
    its inputs once, at its entry.

    >>> import numpy as np
    >>> p, _ = softmax_forward(np.array([0.0, np.log(3.0)]))
    >>> np.round(p, 4).tolist()
    [0.25, 0.75]
    """
    if check:
        check_float("x", x)
    m = x.max(axis=-1, keepdims=True)  # (..., 1)
    m = np.where(np.isfinite(m), m, 0.0).astype(x.dtype, copy=False)  # an all -inf row: no NaN
    e = x - m  # (..., N)
    np.exp(e, out=e)  # e = exp(x - m) in place; the largest of a row is exp(0) = 1: no overflow
    s = e.sum(axis=-1, keepdims=True)  # (..., 1)
    s[s == 0] = 1.0  # only an all -inf row sums to 0; its probabilities stay 0
    p = np.divide(e, s, out=e)  # (..., N) = e / s, written over e: no third (..., N) array
    return p, p


def softmax_backward(dout, cache):
    """dout (..., N) -> dx (..., N).

    p = softmax(x) has the Jacobian dp_i/dx_j = p_i (delta_ij - p_j), so
    dx_j = sum_i dout_i p_i (delta_ij - p_j) = p_j (dout_j - sum_i dout_i p_i). Checks: none.
    """
    p = cache
    t = dout * p  # (..., N)
    s = t.sum(axis=-1, keepdims=True)  # (..., 1) = sum_i dout_i p_i
    np.subtract(dout, s, out=t)  # t = dout - s, over dout * p (read already)
    return np.multiply(p, t, out=t)  # (..., N) = p * (dout - s)
