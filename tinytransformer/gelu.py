"""GELU activation, x * Phi(x), Phi the standard normal CDF.

Two forms:
- "tanh" (default): Phi(x) ~ 0.5 (1 + tanh(u)), u = s (x + A x^3), s = sqrt(2/pi), A = 0.044715:
  GPT-2's `gelu_new`;
- "exact": Phi(x) = 0.5 (1 + erf(x / sqrt(2))). NumPy has no vectorised erf, so this form calls
  math.erf element by element: exact, but slow; fine for checking, not for training.

Both cache Phi(x), from which backward gets dy/dx = Phi(x) + x Phi'(x).
The tanh form is a chain of in-place updates of one new array: the arrays are (B, T, 4C), the
largest of the model, and every pass over one costs about as much as any other (memory, not
arithmetic, is the limit), so the code makes as few passes and temporaries as it can.
"""

import math

import numpy as np

from tinytransformer.checks import check_float

SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
A = 0.044715  # the cubic coefficient of the tanh approximation
_erf = np.frompyfunc(math.erf, 1, 1)


def gelu_forward(x, approximate="tanh"):
    """x (...) -> y (...), same shape and dtype.

    >>> y, _ = gelu_forward(np.array([0.0, 1.0]))
    >>> np.round(y, 4).tolist()
    [0.0, 0.8412]
    """
    check_float("x", x)
    if approximate == "tanh":
        phi = x * x  # (...) a new array of ours (and no x**3: float32 pow is slow)
        phi *= SQRT_2_OVER_PI * A
        phi += SQRT_2_OVER_PI  # s (1 + A x^2)
        phi *= x  # u = s (x + A x^3)
        np.tanh(phi, out=phi)
        phi += 1.0
        phi *= 0.5  # Phi(x) ~ 0.5 (1 + tanh(u))
    elif approximate == "exact":
        phi = _erf(x * (1.0 / math.sqrt(2.0))).astype(x.dtype)  # erf(x / sqrt 2)
        phi += 1.0
        phi *= 0.5  # Phi(x) = 0.5 (1 + erf(x / sqrt 2))
    else:
        raise ValueError(f"approximate: expected 'tanh' or 'exact', got {approximate!r}")
    return x * phi, (x, phi, approximate)


def gelu_backward(dout, cache):
    """dout (...) -> dx (...).  y = x Phi(x):  dy/dx = Phi(x) + x Phi'(x)."""
    x, phi, approximate = cache
    if approximate == "tanh":
        # Phi = 0.5 (1 + tanh(u)), u = s (x + A x^3), and 1 - tanh(u)^2 = 4 Phi (1 - Phi):
        #   x Phi'(x) = 0.5 (1 - tanh(u)^2) u' x = 2 Phi (1 - Phi) s (1 + 3 A x^2) x
        dx = 1.0 - phi  # (...) a new array of ours, updated in place below
        dx *= phi
        dx *= x  # x Phi (1 - Phi)
        du = x * x  # (...)
        du *= 2.0 * SQRT_2_OVER_PI * 3.0 * A
        du += 2.0 * SQRT_2_OVER_PI  # 2 s (1 + 3 A x^2)
        dx *= du
    else:
        # Phi'(x) is the standard normal density
        dx = np.exp(-0.5 * x * x)
        dx *= INV_SQRT_2PI
        dx *= x
    dx += phi  # Phi(x) + x Phi'(x)
    dx *= dout
    return dx
