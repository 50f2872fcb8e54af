"""Linear layer y = x @ W + b, with W stored as (in, out): the layout of GPT-2's checkpoints
(its Conv1D), so a GPT-2 weight loads without a transpose.

Left out: any initialisation (the model decides) and fused variants.
"""

from tinytransformer.checks import check_float, check_same_dtype, check_shape


def linear_forward(x, w, b=None, *, check=True):
    """x (..., Cin), w (Cin, Cout), b (Cout,) or None -> y (..., Cout).

    Checks (check=True): float arrays of one dtype, w 2-d, x's last axis Cin, b (Cout,); the
    model's own calls pass check=False: it checked its inputs once, at its entry.

    >>> import numpy as np
    >>> y, _ = linear_forward(np.ones((1, 2)), np.full((2, 3), 0.5), np.zeros(3))
    >>> y.tolist()
    [[1.0, 1.0, 1.0]]
    """
    if check:
        _check_linear(x, w, b)
    x2 = x.reshape(-1, w.shape[0])  # (N, Cin): one large matrix product instead of B small ones
    y = x2 @ w  # (N, Cout)
    if b is not None:
        y += b  # (N, Cout), in place: y is a new array of ours
    return y.reshape(*x.shape[:-1], w.shape[1]), (x, w, b is not None)


def linear_backward(dout, cache):
    """dout (..., Cout) -> (dx (..., Cin), dw (Cin, Cout), db (Cout,) or None). Checks: none."""
    x, w, has_bias = cache
    x2 = x.reshape(-1, w.shape[0])  # (N, Cin): every position is one row
    d2 = dout.reshape(-1, w.shape[1])  # (N, Cout)
    dx = (d2 @ w.T).reshape(x.shape)  # (..., Cin)  y = x @ W  ->  dx = dy @ W^T
    dw = x2.T @ d2  # (Cin, Cout)    y = x @ W  ->  dW = x^T @ dy
    db = d2.sum(axis=0) if has_bias else None  # (Cout,)  y = ... + b  ->  db = sum of dy over rows
    return dx, dw, db


def _check_linear(x, w, b):
    check_float("x", x)
    check_float("w", w, ndim=2)
    if x.ndim < 1 or x.shape[-1] != w.shape[0]:
        raise ValueError(f"x: expected last dimension {w.shape[0]} (w is {w.shape}), got {x.shape}")
    if b is not None:
        check_float("b", b)
        check_shape("b", b, (w.shape[1],))
    check_same_dtype(x=x, w=w, b=b)
