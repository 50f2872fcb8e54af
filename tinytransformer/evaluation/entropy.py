"""How sampling settings move the next-token distribution: its entropy in nats.

    H = sampling_entropy(logits, temperature)          # (N, V) -> (N,)
    H = sampling_entropy(top_p_filter(logits, p), t)   # the nucleus: -inf outside it counts 0

With z = (logits - max) / temperature and p = softmax(z), the entropy is
H = -sum_v p_v log p_v = logsumexp(z) - sum_v p_v z_v, since log p_v = z_v - logsumexp(z).
Shifting by each row's largest logit first keeps every exp <= 1, so no logit and no small
temperature overflows; a token whose probability underflows to 0 (or whose logit is -inf)
contributes 0, the limit of p log p. Left out: top-k (the same with the other tokens at -inf).
"""

import numpy as np

from tinytransformer.checks import check_float, check_number


def sampling_entropy(logits, temperature):
    """logits (N, V), temperature > 0 -> (N,) entropy in nats of softmax(logits / temperature).

    Finite for finite logits; -inf marks a token that is never drawn.

    >>> sampling_entropy(np.array([[0.0, 0.0], [1e4, 0.0]]), 1.0).round(4).tolist()
    [0.6931, 0.0]
    """
    check_float("logits", logits, ndim=2)
    temperature = check_number("temperature", temperature, above=0.0)
    x = np.asarray(logits, dtype=np.float64)  # (N, V)
    if np.isnan(x).any() or np.isposinf(x).any() or np.isneginf(x).all(axis=-1).any():
        raise ValueError("logits: expected finite values or -inf, with one finite in each row")
    # a gap of more than 1.8e308 overflows to -inf, and 0 * -inf is nan: both are p = 0, kept out
    # of the sum by the where below
    with np.errstate(over="ignore", invalid="ignore"):
        z = (x - x.max(axis=-1, keepdims=True)) / temperature  # (N, V), <= 0, max 0
        p = np.exp(z)  # (N, V), in [0, 1]
        total = p.sum(axis=-1, keepdims=True)  # (N, 1), >= 1: the largest is exp(0)
        log_p = z - np.log(total)  # (N, V)
        p = p / total
        return 0.0 - np.where(p > 0, p * log_p, 0.0).sum(axis=-1)  # (N,), never -0.0
