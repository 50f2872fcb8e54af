"""Layer normalisation over the last axis:

    y = (x - mean) / sqrt(var + eps) * w + b,   var the biased variance (divide by C), eps 1e-5.

The cache keeps only the per-row statistics (mean, rstd); the normalised x is recomputed in
backward, which costs one subtraction and one multiplication and saves a (B, T, C) array.
Left out: RMSNorm and other variants.
"""

from tinytransformer.checks import check_float, check_same_dtype, check_shape

EPS = 1e-5


def layernorm_forward(x, w, b=None, eps=EPS):
    """x (..., C), w (C,), b (C,) or None -> y (..., C).

    >>> import numpy as np
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
    mean = x.mean(axis=-1, keepdims=True)  # (..., 1)
    xc = x - mean  # (..., C)
    var = (xc * xc).mean(axis=-1, keepdims=True)  # (..., 1) biased: divide by C, as GPT-2
    rstd = 1.0 / (var + eps) ** 0.5  # (..., 1); eps keeps a constant row finite
    y = xc * rstd * w  # (..., C)
    if b is not None:
        y += b
    return y, (x, w, mean, rstd, b is not None)


def layernorm_backward(dout, cache):
    """dout (..., C) -> (dx (..., C), dw (C,), db (C,) or None)."""
    x, w, mean, rstd, has_bias = cache
    norm = (x - mean) * rstd  # (..., C) recomputed, see the module docstring
    rows = tuple(range(dout.ndim - 1))
    db = dout.sum(axis=rows) if has_bias else None  # y = ... + b
    dw = (dout * norm).sum(axis=rows)  # y = norm * w + b
    dnorm = dout * w  # (..., C)
    # norm = (x - mean) * rstd, where mean and rstd depend on every x of the row. Differentiating
    # through both gives the two row-mean corrections below (llm.c derives the same formula).
    dx = (
        dnorm
        - dnorm.mean(axis=-1, keepdims=True)
        - norm * (dnorm * norm).mean(axis=-1, keepdims=True)
    ) * rstd  # (..., C)
    return dx, dw, db
