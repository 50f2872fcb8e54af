"""A result over several seeds: its mean, its spread, and how well the mean is known.

    mean   = sum(x) / n
    sd     = sqrt(sum((x - mean)**2) / (n - 1))     the sample standard deviation (ddof=1)
    stderr = sd / sqrt(n)                           the standard error of the mean

The n - 1 (Bessel's correction) makes sd**2 an unbiased estimate of the variance from seed to
seed: the deviations are measured from the sample's own mean, which sits closer to the values
than the true mean does. Two means whose difference is many standard errors (sd_a^2/n_a +
sd_b^2/n_b under the square root) differ by more than the choice of seeds explains.

Left out: confidence intervals (with 3 to 5 seeds a t quantile is so wide that the number says
little more than the per-seed values do, which the chapters print beside it) and tests.
"""

import math

import numpy as np


def seed_summary(values):
    """values: n >= 2 numbers (one per seed) -> (mean, sd, stderr) as Python floats, sd with
    ddof=1.

    >>> seed_summary([1.0, 2.0, 3.0])
    (2.0, 1.0, 0.5773502691896258)
    """
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 1 or x.size < 2:
        raise ValueError(f"values: expected at least 2 numbers in a list, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError(f"values: expected finite numbers, got {x.tolist()}")
    mean = float(x.mean())
    sd = float(np.sqrt(np.sum((x - mean) ** 2) / (x.size - 1)))
    return mean, sd, sd / math.sqrt(x.size)
