"""Sampling: turn the model's last logits into the next token.

    logits (B, V) -> / temperature -> keep top_k -> keep the top_p nucleus -> softmax -> draw

temperature=0 means greedy (the most likely token). Generation itself, with its KV cache, is
GPT.generate in models/gpt.py; this module decides which token to take.
Left out: beam search, repetition penalties, stop sequences.
"""

import numpy as np

from tinytransformer.ops.softmax import softmax_forward


def sample_next(logits, temperature=1.0, top_k=None, top_p=None, rng=None):
    """logits (B, V) -> next ids (B,).

    temperature: divides the logits; < 1 sharpens, > 1 flattens, 0 is greedy.
    top_k:       keep only the k most likely tokens.
    top_p:       keep the smallest set of most likely tokens whose probability reaches top_p
                 (nucleus sampling); the most likely token is always kept.

    >>> import numpy as np
    >>> sample_next(np.array([[0.0, 3.0, 1.0]]), temperature=0).tolist()
    [1]
    """
    if logits.ndim != 2:
        raise ValueError(f"logits: expected shape (B, V), got {logits.shape}")
    if not (isinstance(temperature, int | float | np.floating) and temperature >= 0):
        raise ValueError(f"temperature: expected a number >= 0, got {temperature!r}")
    is_int = isinstance(top_k, int | np.integer) and not isinstance(top_k, bool)
    if top_k is not None and not (is_int and top_k >= 1):
        raise ValueError(f"top_k: expected a positive integer, got {top_k!r}")
    if top_p is not None and not (isinstance(top_p, int | float) and 0.0 < top_p <= 1.0):
        raise ValueError(f"top_p: expected a probability in (0, 1], got {top_p!r}")
    if temperature == 0:
        return logits.argmax(axis=-1)
    if not hasattr(rng, "random"):
        raise TypeError(f"rng: expected a numpy.random.Generator, got {type(rng).__name__}")
    V = logits.shape[-1]
    z = logits / temperature  # (B, V)
    if top_k is not None and top_k < V:
        kth = np.partition(z, V - top_k, axis=-1)[:, V - top_k : V - top_k + 1]  # (B, 1)
        z = np.where(z < kth, -np.inf, z)  # ties with the k-th value are kept
    if top_p is not None and top_p < 1.0:
        z = top_p_filter(z, top_p)  # (B, V)
    probs, _ = softmax_forward(z)  # (B, V)
    # inverse-CDF draw, one uniform number per row
    u = rng.random((probs.shape[0], 1))  # (B, 1)
    cdf = np.cumsum(probs, axis=-1, dtype=np.float64)  # (B, V)
    cdf /= cdf[:, -1:]
    # the first id whose cdf exceeds u; `<=` skips leading ids of probability 0 even when u = 0
    return np.minimum((cdf <= u).sum(axis=-1), V - 1)


def top_p_filter(logits, p):
    """logits (B, V) -> the same logits with every token outside the nucleus set to -inf.

    The nucleus is the smallest set of most likely tokens whose probability reaches p (a token
    is kept while the probability of the tokens ahead of it is below p), so the most likely
    token is always kept. Ties in probability keep the lower id first.

    >>> top_p_filter(np.log(np.array([[0.5, 0.3, 0.2]])), 0.8).round(3).tolist()
    [[-0.693, -1.204, -inf]]
    """
    probs, _ = softmax_forward(logits)  # (B, V)
    order = np.argsort(-probs, axis=-1, kind="stable")  # (B, V) most likely first
    sorted_p = np.take_along_axis(probs, order, axis=-1).astype(np.float64)
    before = np.cumsum(sorted_p, axis=-1) - sorted_p  # probability of the tokens ahead
    # the tolerance makes a mass that reaches p up to rounding (0.5 + 0.3 against 0.8) count as
    # reached
    keep_sorted = before < p - 4 * np.finfo(probs.dtype).eps
    keep = np.zeros_like(keep_sorted)
    np.put_along_axis(keep, order, keep_sorted, axis=-1)
    return np.where(keep, logits, -np.inf)
