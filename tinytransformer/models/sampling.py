"""Sampling: turn the model's last logits into the next token.

    logits (B, V) -> / temperature -> keep top_k -> keep the top_p nucleus -> softmax -> draw

The settings travel together as one small value, a Sampling; temperature 0 means greedy (the
most likely token). Generation itself, with its KV cache, is GPT.generate in models/gpt.py;
this module decides which token to take.

Sampling is defined for every temperature >= 0 and every logit that is finite or -inf (-inf: a
token that must never be drawn, such as a suppressed special token). The logits are shifted so
that each row's largest is 0 before they are divided by the temperature, so no temperature,
however small, and no logit, however large, can overflow: a tiny temperature is greedy.
Left out: beam search, repetition penalties, stop sequences.
"""

from dataclasses import dataclass

import numpy as np

from tinytransformer.checks import check_count, check_number
from tinytransformer.ops.softmax import softmax_forward


@dataclass(frozen=True)
class Sampling:
    """How the next token is chosen, checked once when made.

    temperature: divides the logits; < 1 sharpens, > 1 flattens, 0 is greedy.
    top_k:       keep only the k most likely tokens (None: all).
    top_p:       keep the smallest set of most likely tokens whose probability reaches top_p
                 (nucleus sampling; None: all); the most likely token is always kept.

    >>> Sampling(temperature=0.8, top_k=40)
    Sampling(temperature=0.8, top_k=40, top_p=None)
    """

    temperature: float = 1.0
    top_k: int = None
    top_p: float = None

    def __post_init__(self):
        object.__setattr__(self, "temperature", check_number("temperature", self.temperature, 0.0))
        object.__setattr__(self, "top_k", check_count("top_k", self.top_k, 1, allow_none=True))
        top_p = check_number("top_p", self.top_p, above=0.0, high=1.0, allow_none=True)
        object.__setattr__(self, "top_p", top_p)

    @property
    def greedy(self):
        return self.temperature == 0


GREEDY = Sampling(temperature=0.0)
DEFAULT_SAMPLING = Sampling()  # the model's own distribution: temperature 1, nothing cut


def sample_next(logits, sampling=DEFAULT_SAMPLING, rng=None):
    """logits (B, V) -> next ids (B,), as `sampling` says; rng draws (unused when greedy).

    >>> sample_next(np.array([[0.0, 3.0, 1.0]]), GREEDY).tolist()
    [1]
    """
    if not isinstance(logits, np.ndarray) or logits.ndim != 2 or logits.dtype.kind != "f":
        got = getattr(logits, "shape", type(logits).__name__)
        raise ValueError(f"logits: expected a float array of shape (B, V), got {got}")
    if not isinstance(sampling, Sampling):
        raise TypeError(f"sampling: expected a Sampling, got {type(sampling).__name__}")
    bad = np.isnan(logits) | (logits == np.inf)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise ValueError(
            f"logits: expected finite numbers (or -inf for a token never to draw), got "
            f"{logits[row, col]} at row {row}, token {col}; the model's weights may have blown up"
        )
    if (logits == -np.inf).all(axis=-1).any():
        raise ValueError("logits: expected a token left to draw in every row, got a row of -inf")
    if sampling.greedy:
        return logits.argmax(axis=-1)
    if not hasattr(rng, "random"):  # a Generator, or anything that draws like one
        raise TypeError(f"rng: expected a numpy.random.Generator, got {type(rng).__name__}")
    V = logits.shape[-1]
    # shift each row so that its largest logit is 0, then divide: every value is <= 0, so a tiny
    # temperature sends the others to -inf (greedy) instead of overflowing
    shifted = logits - logits.max(axis=-1, keepdims=True)  # (B, V), max 0 per row
    with np.errstate(over="ignore"):  # -1e30 / 1e-30 is -inf: probability 0, as it should be
        z = shifted / sampling.temperature  # (B, V)
    if sampling.top_k is not None and sampling.top_k < V:
        k = sampling.top_k
        kth = np.partition(z, V - k, axis=-1)[:, V - k : V - k + 1]  # (B, 1)
        z = np.where(z < kth, -np.inf, z)  # ties with the k-th value are kept
    if sampling.top_p is not None and sampling.top_p < 1.0:
        z = top_p_filter(z, sampling.top_p)  # (B, V)
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
    token is always kept, however small p is. Ties in probability keep the lower id first.

    >>> top_p_filter(np.log(np.array([[0.5, 0.3, 0.2]])), 0.8).round(3).tolist()
    [[-0.693, -1.204, -inf]]
    """
    probs, _ = softmax_forward(logits)  # (B, V)
    order = np.argsort(-probs, axis=-1, kind="stable")  # (B, V) most likely first
    sorted_p = np.take_along_axis(probs, order, axis=-1).astype(np.float64)
    before = np.cumsum(sorted_p, axis=-1) - sorted_p  # probability of the tokens ahead
    # a mass that reaches p up to rounding (0.5 + 0.3 against 0.8) counts as reached
    keep_sorted = before < p - 4 * np.finfo(probs.dtype).eps
    keep_sorted[:, 0] = True  # the most likely token, even for a p below that tolerance
    keep = np.zeros_like(keep_sorted)
    np.put_along_axis(keep, order, keep_sorted, axis=-1)
    return np.where(keep, logits, -np.inf)
