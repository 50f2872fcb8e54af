"""Linear layer y = x @ W + b, with W stored as (in, out): the layout of GPT-2's checkpoints
(its Conv1D), so a GPT-2 weight loads without a transpose.

Also the row and column sums the other ops need, written as products (see row_sums).
Left out: any initialisation (the model decides) and fused variants.
"""

import numpy as np

from tinytransformer.checks import check_float, check_same_dtype, check_shape


def row_sums(a):
    """a (..., K) -> (..., 1): the sum over the last axis, as the product a @ ones.

    Why a product: NumPy's a.sum(axis=-1) adds up a short last axis (K = 64 or 128 here) one
    row at a time, while BLAS computes the same sums as one matrix-vector product, several times
    faster (7x for (768, 128) float32 on the 2-core machine of benchmarks/train_step.py).

    >>> row_sums(np.array([[1.0, 2.0], [3.0, 4.0]])).tolist()
    [[3.0], [7.0]]
    """
    return (a @ np.ones(a.shape[-1], a.dtype))[..., None]


def column_sums(a):
    """a (N, K) -> (K,): the sum over the first axis, as the product ones @ a (see row_sums).

    >>> column_sums(np.array([[1.0, 2.0], [3.0, 4.0]])).tolist()
    [4.0, 6.0]
    """
    return np.ones(a.shape[0], a.dtype) @ a


def row_dots(a, b):
    """a, b (..., C) -> (..., 1): the dot product of each row of a with the same row of b.

    einsum multiplies and adds in one pass, without the (..., C) temporary of (a * b).sum(-1).

    >>> row_dots(np.array([[1.0, 2.0]]), np.array([[3.0, 4.0]])).tolist()
    [[11.0]]
    """
    return np.einsum("...c,...c->...", a, b)[..., None]


def linear_forward(x, w, b=None):
    """x (..., Cin), w (Cin, Cout), b (Cout,) or None -> y (..., Cout).

    >>> y, _ = linear_forward(np.ones((1, 2)), np.full((2, 3), 0.5), np.zeros(3))
    >>> y.tolist()
    [[1.0, 1.0, 1.0]]
    """
    check_float("x", x)
    check_float("w", w, ndim=2)
    if x.ndim < 1 or x.shape[-1] != w.shape[0]:
        raise ValueError(f"x: expected last dimension {w.shape[0]} (w is {w.shape}), got {x.shape}")
    if b is not None:
        check_float("b", b)
        check_shape("b", b, (w.shape[1],))
    check_same_dtype(x=x, w=w, b=b)
    x2 = x.reshape(-1, w.shape[0])  # (N, Cin): one large matrix product instead of B small ones
    y = x2 @ w  # (N, Cout)
    if b is not None:
        y += b  # y is our own new array, so adding in place is safe
    return y.reshape(*x.shape[:-1], w.shape[1]), (x, w, b is not None)


def linear_backward(dout, cache):
    """dout (..., Cout) -> (dx (..., Cin), dw (Cin, Cout), db (Cout,) or None)."""
    x, w, has_bias = cache
    x2 = x.reshape(-1, w.shape[0])  # (N, Cin)
    d2 = dout.reshape(-1, w.shape[1])  # (N, Cout)
    dx = (d2 @ w.T).reshape(x.shape)  # y = x @ W  ->  dx = dy @ W^T
    dw = x2.T @ d2  # (Cin, Cout)      y = x @ W  ->  dW = x^T @ dy
    db = column_sums(d2) if has_bias else None  # y = ... + b  ->  db = sum of dy over rows
    return dx, dw, db
