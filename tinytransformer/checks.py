"""Input checks shared by every op: a bad argument raises an error that names the argument,
says what was expected and what was given. Nothing here is clever; it exists so that no op
silently broadcasts a wrong shape or indexes with an id out of range.
"""

import math

import numpy as np


def check_float(name, x, ndim=None):
    """Check that `x` is a floating-point ndarray (of rank `ndim` when given)."""
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name}: expected a numpy array, got {type(x).__name__}")
    if x.dtype.kind != "f":  # float16/32/64; np.issubdtype agrees, ~10x slower
        raise TypeError(f"{name}: expected a floating-point array, got dtype {x.dtype}")
    if ndim is not None and x.ndim not in _as_tuple(ndim):
        raise ValueError(f"{name}: expected {_ranks(ndim)}, got shape {x.shape}")
    return x


def check_ids(name, idx, high, ndim=None):
    """Check that `idx` is an integer ndarray with every value in [0, high)."""
    if not isinstance(idx, np.ndarray):
        raise TypeError(f"{name}: expected a numpy array of token ids, got {type(idx).__name__}")
    if idx.dtype.kind not in "iu":  # signed or unsigned integers
        raise TypeError(f"{name}: expected integer token ids, got dtype {idx.dtype}")
    if ndim is not None and idx.ndim not in _as_tuple(ndim):
        raise ValueError(f"{name}: expected {_ranks(ndim)}, got shape {idx.shape}")
    if idx.size and (idx.min() < 0 or idx.max() >= high):
        bad = idx[(idx < 0) | (idx >= high)].flat[0]
        raise ValueError(f"{name}: ids must lie in [0, {high}), got {bad}")
    return idx


def check_shape(name, x, shape):
    """Check `x.shape` against `shape`, where None in `shape` matches any size."""
    ok = x.ndim == len(shape) and all(s is None or s == n for s, n in zip(shape, x.shape))
    if not ok:
        want = "(" + ", ".join("any" if s is None else str(s) for s in shape) + ")"
        raise ValueError(f"{name}: expected shape {want}, got {x.shape}")
    return x


def check_same_dtype(**arrays):
    """Check that every floating array given has one dtype: no op mixes float32 and float64."""
    dtypes = {name: a.dtype for name, a in arrays.items() if a is not None}
    if len(set(dtypes.values())) > 1:
        listed = ", ".join(f"{n}={d}" for n, d in dtypes.items())
        raise TypeError(f"expected one floating dtype for all of them, got {listed}")


def _as_tuple(ndim):
    """2 -> (2,); (2, 3) -> (2, 3)."""
    return tuple(ndim) if isinstance(ndim, (tuple, list)) else (ndim,)


def _ranks(ndim):
    ranks = [int(n) for n in _as_tuple(ndim)]
    return " or ".join(f"a {n}-d array" for n in ranks)


def check_number(name, x, low=None, below=None):
    """A finite real number (returned as a Python float) with low <= x (< below when given).

    >>> check_number("lr", 3e-4, low=0.0)
    0.0003
    """
    if isinstance(x, bool) or not isinstance(x, int | float | np.integer | np.floating):
        raise TypeError(f"{name}: expected a real number, got {type(x).__name__}")
    x = float(x)
    if not math.isfinite(x) or (low is not None and x < low) or (below is not None and x >= below):
        hi = f" and < {below}" if below is not None else ""
        raise ValueError(f"{name}: expected a finite number >= {low}{hi}, got {x}")
    return x
