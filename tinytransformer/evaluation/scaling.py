"""Scaling laws at small scale: a power law fitted to losses, and the parameters they count.

    a, b = fit_power_law(n_params, val_losses)       # loss ~ a * n ** (-b)
    N = non_embedding_parameters(config)             # Kaplan et al.'s N

(The compute of a run, about 6 N D, is training/flops.py's six_n_flops.)

The fit is ordinary least squares of log(loss) on log(n): log(loss) = log(a) - b log(n), a
straight line on log-log axes. Left out: the irreducible term of Hoffmann et al. (2022),
loss = E + A / N^alpha + B / D^beta, which needs a non-linear fit and far more than five points;
over a tiny range the pure power law is the honest summary, and its exponent is not Kaplan's.
"""

import numpy as np

from tinytransformer.checks import check_float
from tinytransformer.models.memory import count_parameters


def fit_power_law(n, loss):
    """n (K,) sizes > 0, loss (K,) losses > 0 -> (a, b) floats with loss ~ a * n ** (-b), the
    least-squares line of log(loss) on log(n) (K >= 2 distinct sizes).

    >>> a, b = fit_power_law([10.0, 100.0, 1000.0], [4.0, 2.0, 1.0])
    >>> round(a, 6), round(b, 6)
    (8.0, 0.30103)
    """
    n = np.asarray(n, dtype=np.float64)
    loss = np.asarray(loss, dtype=np.float64)
    check_float("n", n, ndim=1)
    check_float("loss", loss, ndim=1)
    if n.shape != loss.shape:
        raise ValueError(f"loss: expected one per size, shape {n.shape}, got {loss.shape}")
    if not (
        np.isfinite(n).all() and (n > 0).all() and np.isfinite(loss).all() and (loss > 0).all()
    ):
        raise ValueError("n, loss: expected finite positive numbers (their logs are fitted)")
    x, y = np.log(n), np.log(loss)  # (K,), (K,)
    dx = x - x.mean()
    if not (dx != 0).any():
        raise ValueError("n: expected at least two different sizes to fit a slope")
    slope = float(dx @ (y - y.mean()) / (dx @ dx))  # d log(loss) / d log(n) = -b
    intercept = float(y.mean() - slope * x.mean())  # log(a)
    return float(np.exp(intercept)), -slope


def non_embedding_parameters(config):
    """The parameters outside the two embedding tables, (V + T) * C fewer than the model's:
    Kaplan et al.'s N, the count their laws are written in.

    >>> from tinytransformer.models.config import GPTConfig
    >>> non_embedding_parameters(GPTConfig(vocab_size=50257, block_size=1024, n_layer=12,
    ...                                    n_head=12, n_embd=768))
    85056000
    """
    return count_parameters(config) - (config.vocab_size + config.block_size) * config.n_embd
