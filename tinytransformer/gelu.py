"""GELU activation, x * Phi(x), Phi the standard normal CDF.

Two forms:
- "tanh" (default): 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), GPT-2's `gelu_new`;
- "exact": 0.5 x (1 + erf(x / sqrt(2))). NumPy has no vectorised erf, so this form calls
  math.erf element by element: exact, but slow; fine for checking, not for training.
"""

import math

import numpy as np

from tinytransformer.checks import check_float

SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_erf = np.frompyfunc(math.erf, 1, 1)


def gelu_forward(x, approximate="tanh"):
    """x (...) -> y (...), same shape and dtype.

    >>> import numpy as np
    >>> y, _ = gelu_forward(np.array([0.0, 1.0]))
    >>> np.round(y, 4).tolist()
    [0.0, 0.8412]
    """
    check_float("x", x)
    if approximate == "tanh":
        u = SQRT_2_OVER_PI * (x + 0.044715 * (x * x * x))  # x*x*x: float32 pow is slow
        t = np.tanh(u)  # cached: backward needs it and tanh is the expensive part
        return 0.5 * x * (1.0 + t), (x, t, approximate)
    if approximate == "exact":
        phi2 = 1.0 + _erf(x * (1.0 / math.sqrt(2.0))).astype(x.dtype)  # 2 Phi(x)
        return 0.5 * x * phi2, (x, phi2, approximate)
    raise ValueError(f"approximate: expected 'tanh' or 'exact', got {approximate!r}")


def gelu_backward(dout, cache):
    """dout (...) -> dx (...)."""
    x, t, approximate = cache
    if approximate == "tanh":
        # y = 0.5 x (1 + tanh(u)), u = s (x + 0.044715 x^3):
        # dy/dx = 0.5 (1 + t) + 0.5 x (1 - t^2) s (1 + 3 * 0.044715 x^2)
        du = SQRT_2_OVER_PI * (1.0 + 3.0 * 0.044715 * x * x)
        return dout * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * du)
    # y = 0.5 x (1 + erf(x / sqrt 2)) = x Phi(x):  dy/dx = Phi(x) + x * pdf(x)
    pdf = INV_SQRT_2PI * np.exp(-0.5 * x * x)
    return dout * (0.5 * t + x * pdf)
