"""Perplexity: how well a language model predicts a held-out text.

`perplexity(model, ids)` is exp of the mean negative log-likelihood (NLL) of every token of a
split given the tokens before it (within a window of block_size). It is exp(mean NLL over all
tokens), not the mean of per-batch perplexities: exp is convex, so averaging after exp would
overstate it, and a short last batch would count as much as a full one.
`corpus_perplexity(batch_mean_nll, batch_token_counts)` is that last step on its own
(exercise 9.4): the batches' mean losses weighted by their token counts, then exp.
`token_logprobs(logits, ids)` is the step before: log p of each given token, in float64, for
scores that sum log-probabilities (cloze.scored_fill_in, memorisation.continuation_logprob).

The model contract: `logits, loss = model(idx, targets)` with idx, targets int (B, T), T at most
`model.config.block_size`, loss the mean cross-entropy over targets != -100; `model.training`,
`model.eval()`, `model.train()`.

Left out: sliding-window (strided) perplexity, where every window after the first re-reads
earlier context.
"""

import math
from dataclasses import asdict, dataclass

import numpy as np

from tinytransformer.checks import check_count
from tinytransformer.models.transformer import evaluating


def token_logprobs(logits, ids):
    """logits (..., V), ids (...) ints in [0, V) -> (...) float64: log softmax(logits)[ids], the
    log-probability each distribution gives its id. Computed in float64 after subtracting each
    row's max, so no exp overflows and a sum over many tokens keeps its digits.

    >>> token_logprobs(np.log(np.array([[0.25, 0.75], [0.5, 0.5]])), np.array([1, 0])).round(4)
    array([-0.2877, -0.6931])
    """
    z = np.asarray(logits, dtype=np.float64)  # (..., V)
    z = z - z.max(axis=-1, keepdims=True)  # each row's largest is 0
    log_p = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))  # (..., V) log-softmax
    return np.take_along_axis(log_p, np.asarray(ids)[..., None], axis=-1)[..., 0]  # (...)


@dataclass
class PerplexityResult:
    """perplexity = exp(nll); nll is the mean NLL in nats per predicted token; n_tokens counts
    the predicted tokens (len(ids) - 1)."""

    perplexity: float
    nll: float
    n_tokens: int

    def to_dict(self):
        return asdict(self)


def perplexity(model, ids, block_size=None, batch_size=8, progress=None):
    """Perplexity of `model` on the 1-D token array `ids` (a whole split).

    ids is cut into non-overlapping windows of block_size inputs (default
    model.config.block_size); a window's targets are its inputs shifted by one, so every token
    but the first is predicted exactly once and the last window may be shorter. Full windows go
    through the model batch_size at a time, the short one alone, so nothing is padded. The
    model is put in eval mode and given back in the mode it was in. progress: a wrapper of an
    iterable that shows progress (tqdm), or None.

    A model that gives every one of V tokens probability 1/V has perplexity exactly V.
    """
    if not isinstance(ids, np.ndarray) or not np.issubdtype(ids.dtype, np.integer):
        got = getattr(ids, "dtype", type(ids).__name__)
        raise TypeError(f"ids: expected a numpy array of integer token ids, got {got}")
    if ids.ndim != 1:
        raise ValueError(f"ids: expected a 1-d array (a whole split), got shape {ids.shape}")
    if len(ids) < 2:
        raise ValueError(
            f"ids: expected at least 2 tokens (one to read, one to predict), got {len(ids)}"
        )
    model_block = model.config.block_size
    T = model_block if block_size is None else block_size
    T = check_count("block_size", T, low=1, high=model_block)
    check_count("batch_size", batch_size, low=1)

    n_pred = len(ids) - 1  # tokens that have a token before them
    n_full = n_pred // T  # full windows; the rest, n_pred % T tokens, make one short window
    starts = [s * T for s in range(n_full)]
    batches = [starts[b : b + batch_size] for b in range(0, n_full, batch_size)]
    if n_pred % T:
        batches.append([n_full * T])

    batch_nll, batch_tokens = [], []
    with evaluating(model):
        for batch in batches if progress is None else progress(batches, desc="perplexity"):
            width = min(T, n_pred - batch[0])  # T, or less for the last window
            x = np.stack([ids[s : s + width] for s in batch])  # (B, width)
            y = np.stack([ids[s + 1 : s + 1 + width] for s in batch])  # (B, width)
            _, loss = model(x, y)
            batch_nll.append(float(loss))  # the mean over this batch's y.size tokens
            batch_tokens.append(y.size)
    nll = weighted_mean_nll(batch_nll, batch_tokens)
    return PerplexityResult(perplexity=_exp(nll), nll=nll, n_tokens=sum(batch_tokens))


def corpus_perplexity(batch_mean_nll, batch_token_counts):
    """exp of the token-weighted mean NLL of batches of different sizes -> float.

    batch_mean_nll: (N,) each batch's mean NLL in nats per token; batch_token_counts: (N,) the
    number of tokens each mean is over. A batch of 2 tokens must count 2/10 as much as one of
    10: the mean over every token is sum(nll_i * n_i) / sum(n_i), and only then exp. inf where
    that mean is past exp's float64 range (about 709.78).

    >>> round(corpus_perplexity([1.0, 2.0], [3, 1]), 6)  # exp((3 * 1 + 1 * 2) / 4)
    3.490343
    """
    return _exp(weighted_mean_nll(batch_mean_nll, batch_token_counts))


def weighted_mean_nll(batch_mean_nll, batch_token_counts):
    """The mean NLL per token over batches: sum(nll_i * n_i) / sum(n_i), in float64."""
    nll = np.asarray(batch_mean_nll, dtype=np.float64)  # (N,)
    counts = np.asarray(batch_token_counts)  # (N,)
    if nll.ndim != 1 or nll.shape != counts.shape or nll.size == 0:
        raise ValueError(
            "batch_mean_nll, batch_token_counts: expected two 1-d sequences of the same "
            f"non-zero length, got shapes {nll.shape} and {counts.shape}"
        )
    if not np.issubdtype(counts.dtype, np.integer) or counts.min() < 0 or counts.sum() == 0:
        raise ValueError(
            "batch_token_counts: expected token counts (integers >= 0, not all 0), "
            f"got {counts.tolist()}"
        )
    if not np.isfinite(nll).all():
        raise ValueError(f"batch_mean_nll: expected finite losses, got {nll.tolist()}")
    return float(np.dot(nll, counts) / counts.sum())


def _exp(nll):
    try:
        return math.exp(nll)
    except OverflowError:  # past ~709.78 nats, exp is beyond float64
        return math.inf
