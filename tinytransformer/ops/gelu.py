"""GELU activation, x * Phi(x), Phi the standard normal CDF.

Two forms:
- "tanh" (default): Phi(x) ~ 0.5 (1 + tanh(u)), u = s (x + A x^3), s = sqrt(2/pi), A = 0.044715:
  GPT-2's `gelu_new`;
- "exact": Phi(x) = 0.5 (1 + erf(x / sqrt(2))). NumPy has no vectorised erf, so this form calls
  math.erf element by element: exact, but slow; fine for checking, not for training.

Both cache Phi(x), from which backward gets dy/dx = Phi(x) + x Phi'(x).
"""

import math

import numpy as np

from tinytransformer.checks import check_float

SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
A = 0.044715  # the cubic coefficient of the tanh approximation
_erf = np.frompyfunc(math.erf, 1, 1)


def gelu_forward(x, approximate="tanh", *, check=True):
    """x (...) -> y (...), same shape and dtype.

    Checks (check=True): x is a float array; approximate is "tanh" or "exact" (always).

    >>> y, _ = gelu_forward(np.array([0.0, 1.0]))
    >>> np.round(y, 4).tolist()
    [0.0, 0.8412]
    """
    if check:
        check_float("x", x)
    if approximate == "tanh":
        u = SQRT_2_OVER_PI * (x + A * x * x * x)  # (...); x * x * x: float32 pow is slow
        phi = 0.5 * (1.0 + np.tanh(u))  # (...)
    elif approximate == "exact":
        phi = 0.5 * (1.0 + _erf(x / math.sqrt(2.0)).astype(x.dtype))  # (...)
    else:
        raise ValueError(f"approximate: expected 'tanh' or 'exact', got {approximate!r}")
    return x * phi, (x, phi, approximate)


def gelu_backward(dout, cache):
    """dout (...) -> dx (...).  y = x Phi(x):  dy/dx = Phi(x) + x Phi'(x). Checks: none."""
    x, phi, approximate = cache
    if approximate == "tanh":
        # Phi = 0.5 (1 + tanh(u)), u = s (x + A x^3), and 1 - tanh(u)^2 = 4 Phi (1 - Phi):
        #   Phi'(x) = 0.5 (1 - tanh(u)^2) u' = 2 Phi (1 - Phi) s (1 + 3 A x^2)
        dphi = 2.0 * phi * (1.0 - phi) * (SQRT_2_OVER_PI * (1.0 + 3.0 * A * x * x))  # (...)
    else:
        # Phi'(x) is the standard normal density
        dphi = INV_SQRT_2PI * np.exp(-0.5 * x * x)  # (...)
    return dout * (phi + x * dphi)  # (...)
