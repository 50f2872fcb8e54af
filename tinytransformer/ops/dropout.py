"""Inverted dropout: in training, zero each element with probability p and scale the survivors
by 1 / (1 - p), so the expected output equals the input and evaluation needs no rescaling.
In evaluation (or with p = 0) it is the identity.

Randomness comes only from the numpy.random.Generator passed in; there is no global seed.
"""

import numpy as np

from tinytransformer.checks import check_float, check_number


def dropout_forward(x, p, rng=None, training=True, *, check=True):
    """x (...) -> y (...). Returns x itself (no copy) when it is the identity.

    Checks (check=True): x is a float array, p a probability in [0, 1); in training, rng is a
    Generator (always). The model's own calls pass check=False: it checked its inputs once, at
    its entry.

    >>> import numpy as np
    >>> y, _ = dropout_forward(np.ones(4), 0.5, np.random.default_rng(0))
    >>> sorted(set(y.tolist())) in ([0.0, 2.0], [2.0], [0.0])
    True
    """
    if check:
        check_float("x", x)
        check_number("p", p, low=0.0, below=1.0)
    if not training or p == 0.0:
        return x, None
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng: expected a numpy.random.Generator in training, got {type(rng)}")
    # keep (...) holds 0 or 1/(1-p); drawing in x's dtype keeps a float32 run in float32
    keep = (rng.random(x.shape, dtype=x.dtype) >= p) * x.dtype.type(1.0 / (1.0 - p))
    return x * keep, keep


def dropout_backward(dout, cache):
    """dout (...) -> dx (...): the same mask and scale as forward. Checks: none."""
    keep = cache
    return dout if keep is None else dout * keep
