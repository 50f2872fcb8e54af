"""Layer normalisation over the last axis:

    mean = mean(x),  var = mean((x - mean)^2)        (biased: divide by C, as GPT-2)
    y = (x - mean) / sqrt(var + eps) * w + b,        eps = 1e-5

The cache is (norm, w, rstd, has_bias): the normalised x, norm = (x - mean) * rstd, which
backward needs and forward has just computed (keeping it instead of x costs no memory and saves
recomputing it), and the per-row statistic rstd = 1 / sqrt(var + eps), (..., 1).
Left out: RMSNorm and other variants.
"""

import numpy as np

from tinytransformer.checks import check_float, check_same_dtype, check_shape

EPS = 1e-5


def layernorm_forward(x, w, b=None, eps=EPS, *, check=True):
    """x (..., C), w (C,), b (C,) or None -> y (..., C).

    Checks (check=True): float arrays of one dtype, w and b (C,); the model's own calls pass
    check=False: it checked its inputs once, at its entry.

    >>> y, _ = layernorm_forward(np.array([[1.0, 3.0]]), np.ones(2), np.zeros(2))
    >>> np.round(y, 4).tolist()
    [[-1.0, 1.0]]
    """
    if check:
        _check_layernorm(x, w, b)
    mean = x.mean(axis=-1, keepdims=True)  # (..., 1)
    xc = x - mean  # (..., C) centred
    var = (xc * xc).mean(axis=-1, keepdims=True)  # (..., 1) biased: divide by C, as GPT-2
    rstd = 1.0 / np.sqrt(var + eps)  # (..., 1); eps keeps a constant row finite
    norm = np.multiply(xc, rstd, out=xc)  # (..., C) = (x - mean) / sqrt(var + eps), over xc
    y = norm * w  # (..., C)
    if b is not None:
        y += b  # in place: y is a new array of ours
    return y, (norm, w, rstd, b is not None)


def layernorm_backward(dout, cache):
    """dout (..., C) -> (dx (..., C), dw (C,), db (C,) or None). Checks: none."""
    norm, w, rstd, has_bias = cache
    C = norm.shape[-1]
    dout2, norm2 = dout.reshape(-1, C), norm.reshape(-1, C)  # (N, C): every row is one position
    # y = norm * w + b: w and b are shared by every row, so their gradients sum over rows
    db = dout2.sum(axis=0) if has_bias else None  # (C,)
    dw = (dout2 * norm2).sum(axis=0)  # (C,)
    dnorm = dout * w  # (..., C)
    # norm = (x - mean) * rstd, where mean and rstd depend on every x of the row. Differentiating
    # through both gives the two row-mean corrections (llm.c derives the same formula):
    #   dx = (dnorm - mean(dnorm) - norm * mean(dnorm * norm)) * rstd
    mean_dnorm = dnorm.mean(axis=-1, keepdims=True)  # (..., 1)
    t = dnorm * norm  # (..., C)
    mean_dnorm_norm = t.mean(axis=-1, keepdims=True)  # (..., 1)
    # the line above, in place over dnorm and t (the same operations in the same order)
    dx = np.subtract(dnorm, mean_dnorm, out=dnorm)  # (..., C) dnorm - mean(dnorm)
    dx -= np.multiply(norm, mean_dnorm_norm, out=t)  # - norm * mean(dnorm * norm)
    dx *= rstd  # (..., C)
    return dx, dw, db


def _check_layernorm(x, w, b):
    check_float("x", x)
    check_float("w", w)
    check_shape("w", w, (x.shape[-1],))
    if b is not None:
        check_float("b", b)
        check_shape("b", b, (x.shape[-1],))
    check_same_dtype(x=x, w=w, b=b)
