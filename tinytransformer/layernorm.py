"""Layer normalisation over the last axis:

    y = (x - mean) / sqrt(var + eps) * w + b,   var the biased variance (divide by C), eps 1e-5.

The cache is (norm, w, mean, rstd, has_bias): the normalised x, norm = (x - mean) * rstd, which
backward needs and forward has just computed (keeping it instead of x costs no memory and saves
recomputing it), and the per-row statistics mean and rstd, (..., 1) each.
Left out: RMSNorm and other variants.
"""

import numpy as np

from tinytransformer.checks import check_float, check_same_dtype, check_shape
from tinytransformer.linear import column_sums, row_dots, row_sums

EPS = 1e-5


def layernorm_forward(x, w, b=None, eps=EPS):
    """x (..., C), w (C,), b (C,) or None -> y (..., C).

    >>> y, _ = layernorm_forward(np.array([[1.0, 3.0]]), np.ones(2), np.zeros(2))
    >>> np.round(y, 4).tolist()
    [[-1.0, 1.0]]
    """
    check_float("x", x)
    check_float("w", w)
    check_shape("w", w, (x.shape[-1],))
    if b is not None:
        check_float("b", b)
        check_shape("b", b, (x.shape[-1],))
    check_same_dtype(x=x, w=w, b=b)
    C = x.shape[-1]
    mean = row_sums(x) / C  # (..., 1)
    norm = x - mean  # (..., C) a new array of ours: the steps below update it in place
    var = row_dots(norm, norm) / C  # (..., 1) biased: divide by C, as GPT-2
    rstd = 1.0 / (var + eps) ** 0.5  # (..., 1); eps keeps a constant row finite
    norm *= rstd  # (..., C) now (x - mean) / sqrt(var + eps)
    y = norm * w  # (..., C)
    if b is not None:
        y += b  # in place: y is ours
    return y, (norm, w, mean, rstd, b is not None)


def layernorm_backward(dout, cache):
    """dout (..., C) -> (dx (..., C), dw (C,), db (C,) or None)."""
    norm, w, _, rstd, has_bias = cache  # the mean is already subtracted out of norm
    C = norm.shape[-1]
    dout2, norm2 = dout.reshape(-1, C), norm.reshape(-1, C)  # (N, C): every row is one position
    db = column_sums(dout2) if has_bias else None  # y = ... + b
    dw = np.einsum("nc,nc->c", dout2, norm2)  # y = norm * w + b: sum over rows of dout * norm
    dnorm = dout * w  # (..., C)
    # norm = (x - mean) * rstd, where mean and rstd depend on every x of the row. Differentiating
    # through both gives the two row-mean corrections (llm.c derives the same formula):
    #   dx = (dnorm - mean(dnorm) - norm * mean(dnorm * norm)) * rstd
    mean_dnorm = row_sums(dnorm) / C  # (..., 1)
    mean_dnorm_norm = row_dots(dnorm, norm) / C  # (..., 1)
    dx = dnorm  # in place from here on: dnorm is our own new array and is not needed again
    dx -= mean_dnorm
    dx -= norm * mean_dnorm_norm
    dx *= rstd  # (..., C)
    return dx, dw, db
