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
        # u = s (x + A x^3), then Phi = 0.5 (1 + tanh(u)), each step in place on one array (the
        # same operations in the same order as the formula: the same bits, one allocation)
        u = A * x  # (...); A x x x, not x ** 3: float32 pow is slow
        u *= x
        u *= x  # A x^3
        u += x  # x + A x^3
        u *= SQRT_2_OVER_PI  # u
        phi = np.tanh(u, out=u)  # (...) from here on, the array holds Phi
        phi += 1.0
        phi *= 0.5  # Phi = 0.5 (1 + tanh(u))
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
        # (in place on two arrays, the formula's operations in its order: the same bits)
        du = (3.0 * A) * x  # (...); then u' = s (1 + 3 A x^2)
        du *= x
        du += 1.0
        du *= SQRT_2_OVER_PI
        dphi = 2.0 * phi  # (...); then 2 Phi (1 - Phi) u'
        dphi *= 1.0 - phi
        dphi *= du
    else:
        # Phi'(x) is the standard normal density
        dphi = INV_SQRT_2PI * np.exp(-0.5 * x * x)  # (...)
    # dy/dx = Phi + x Phi', times the upstream gradient
    dx = np.multiply(x, dphi, out=dphi)  # (...) x Phi', over Phi'
    dx += phi
    dx *= dout
    return dx  # (...)
