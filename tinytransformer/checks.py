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


def check_count(name, value, low=0, high=None, allow_none=False):
    """A whole number >= low (and <= high when given), returned as a Python int: an int or a
    NumPy integer, never a bool (True is an int to Python, but nobody means 1 by it). None passes
    when allow_none.

    >>> check_count("batch_size", np.int64(12), low=1)
    12
    >>> check_count("batch_size", True, low=1)
    Traceback (most recent call last):
    TypeError: batch_size: expected a whole number >= 1, got True
    """
    if value is None and allow_none:
        return None
    at_most = "" if high is None else f" and <= {high}"
    wanted = f"{name}: expected a whole number >= {low}{at_most}, got {value!r}"
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | np.integer):
        raise TypeError(wanted)
    if value < low or (high is not None and value > high):
        raise ValueError(wanted)
    return int(value)


def check_number(name, value, low=None, high=None, *, above=None, below=None, allow_none=False):
    """A finite real number within the bounds, returned as a Python float: an int, a float or a
    NumPy scalar (np.float32(0.5) is a number), never a bool. low <= value <= high and
    above < value < below, each bound only when given; None passes when allow_none.

    >>> check_number("top_p", np.float32(0.5), above=0.0, high=1.0)
    0.5
    >>> check_number("beta1", 1.0, low=0.0, below=1.0)
    Traceback (most recent call last):
    ValueError: beta1: expected a finite number >= 0.0 and < 1.0, got 1.0
    """
    if value is None and allow_none:
        return None
    bounds = [f">= {low}" if low is not None else "", f"> {above}" if above is not None else ""]
    bounds += [f"<= {high}" if high is not None else "", f"< {below}" if below is not None else ""]
    wanted = " and ".join(b for b in bounds if b)
    wanted = f"{name}: expected a finite number{' ' + wanted if wanted else ''}, got {value!r}"
    real = int | float | np.integer | np.floating
    if isinstance(value, bool | np.bool_) or not isinstance(value, real):
        raise TypeError(wanted)
    x = float(value)
    if not math.isfinite(x):
        raise ValueError(wanted)
    too_low = (low is not None and x < low) or (above is not None and x <= above)
    too_high = (high is not None and x > high) or (below is not None and x >= below)
    if too_low or too_high:
        raise ValueError(wanted)
    return x
