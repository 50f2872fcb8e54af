"""Counting models of text: the unigram and the bigram, the baselines a transformer is measured
against (chapter 1).

A unigram model predicts every token from nothing: p(b) = (n(b) + alpha) / (N + alpha V), n(b)
the count of b in the training ids, N their number. A bigram model predicts a token from the one
before it: p(b | a) = (n(a, b) + alpha) / (n(a) + alpha V), n(a, b) how often b follows a and
n(a) = sum_b n(a, b). Add-alpha smoothing gives every pair some probability (alpha = 1 is
Laplace's rule), so a pair never seen in training does not make the loss infinite; alpha is
chosen on held-out text (choose_alpha).

    counts = bigram_counts(train_ids, V)                  # (V, V) int64
    alpha, nlls = choose_alpha(bigram_nll, counts, val_ids, ALPHAS)
    bigram_nll(counts, val_ids, alpha)                    # nats per token
    sample_bigram(counts, alpha, first, 200, rng)         # ids

The loss is the mean negative log-likelihood in nats per predicted token, as the GPT's
cross-entropy is, so the two compare directly; bits = nats / ln 2, perplexity = exp(nats).

Left out: longer contexts (trigrams and up, whose tables grow as V^n), backoff and interpolation
(Katz, Kneser-Ney), and document boundaries (the ids are one stream).
"""

import numpy as np

from tinytransformer.checks import check_count, check_ids, check_number


def unigram_counts(ids, vocab_size):
    """ids (N,) int in [0, V) -> (V,) int64: counts[b] = how often b occurs.

    >>> unigram_counts(np.array([0, 2, 2]), 3).tolist()
    [1, 0, 2]
    """
    ids = _ids(ids, vocab_size, least=0)
    return np.bincount(ids, minlength=vocab_size).astype(np.int64)  # (V,)


def bigram_counts(ids, vocab_size):
    """ids (N,) int in [0, V) -> (V, V) int64: counts[a, b] = how often b follows a.

    The N - 1 transitions ids[i] -> ids[i + 1] are counted as one bincount over the pair index
    a * V + b, which is unique for every pair (a, b).

    >>> bigram_counts(np.array([0, 1, 0, 1]), 2).tolist()
    [[0, 2], [1, 0]]
    """
    ids = _ids(ids, vocab_size, least=0)
    pairs = ids[:-1] * vocab_size + ids[1:]  # (N - 1,): one index per transition
    flat = np.bincount(pairs, minlength=vocab_size * vocab_size)  # (V * V,)
    return flat.reshape(vocab_size, vocab_size).astype(np.int64)  # (V, V)


def unigram_log_probs(counts, alpha):
    """counts (V,) -> (V,) float64: ln p(b) = ln((n(b) + alpha) / (N + alpha V))."""
    counts = np.asarray(counts, dtype=np.float64)  # (V,)
    alpha = _alpha(alpha, counts)
    with np.errstate(divide="ignore"):  # alpha = 0 leaves unseen ids at ln 0 = -inf
        return np.log(counts + alpha) - np.log(counts.sum() + alpha * counts.size)  # (V,)


def bigram_log_probs(counts, alpha):
    """counts (V, V) -> (V, V) float64: row a is ln p(. | a) = ln((n(a, .) + alpha) / (n(a) +
    alpha V)). A row never seen in training (n(a) = 0) is the uniform distribution when alpha > 0
    and undefined (nan) when alpha = 0.
    """
    counts = np.asarray(counts, dtype=np.float64)  # (V, V)
    alpha = _alpha(alpha, counts)
    row_totals = counts.sum(axis=1, keepdims=True)  # (V, 1): n(a)
    # alpha = 0 leaves unseen pairs at ln 0 = -inf, and a row never seen at all undefined (nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(counts + alpha) - np.log(row_totals + alpha * counts.shape[1])  # (V, V)


def unigram_nll(counts, ids, alpha):
    """Mean -ln p(b) over the tokens of ids (N >= 1) under the add-alpha unigram -> float."""
    counts = np.asarray(counts)
    ids = _ids(ids, counts.shape[0], least=1)
    return float(-unigram_log_probs(counts, alpha)[ids].mean())


def bigram_nll(counts, ids, alpha):
    """Mean -ln p(b | a) over the len(ids) - 1 transitions a -> b of ids (N >= 2) under the
    add-alpha bigram -> float, in nats per predicted token.

    >>> counts = bigram_counts(np.array([0, 1, 0, 1]), 2)
    >>> round(bigram_nll(counts, np.array([0, 1]), 1.0), 4)  # p(1 | 0) = (2 + 1) / (2 + 2)
    0.2877
    """
    counts = np.asarray(counts)
    ids = _ids(ids, counts.shape[0], least=2)
    log_p = bigram_log_probs(counts, alpha)  # (V, V)
    return float(-log_p[ids[:-1], ids[1:]].mean())


def choose_alpha(nll, counts, ids, alphas):
    """The alpha of `alphas` with the lowest nll(counts, ids, alpha) -> (alpha, {alpha: nll}).

    nll: unigram_nll or bigram_nll; ids: held-out text. Ties go to the first alpha listed."""
    if len(alphas) == 0:
        raise ValueError("alphas: expected at least one smoothing value, got none")
    scores = {float(a): nll(counts, ids, a) for a in alphas}
    best = min(scores, key=scores.get)
    return best, scores


def sample_unigram(counts, alpha, n, rng):
    """n ids drawn independently from the add-alpha unigram -> (n,) int64."""
    check_count("n", n)
    p = np.exp(unigram_log_probs(counts, alpha))  # (V,)
    return rng.choice(len(p), size=n, p=p / p.sum()).astype(np.int64)  # (n,)


def sample_bigram(counts, alpha, first, n, rng):
    """n ids after `first`, each drawn from p(. | the id before it) -> (n,) int64.

    Each step depends on the last one, so this is a loop; the cumulative sums of every row are
    computed once and a draw is one uniform number looked up in its row.
    """
    check_count("n", n)
    cdf = np.cumsum(np.exp(bigram_log_probs(counts, alpha)), axis=1)  # (V, V)
    out = np.empty(n, dtype=np.int64)
    a = int(first)
    for i, u in enumerate(rng.random(n)):
        a = min(int(np.searchsorted(cdf[a], u * cdf[a, -1], side="right")), cdf.shape[1] - 1)
        out[i] = a
    return out  # (n,)


def _ids(ids, vocab_size, least):
    check_count("vocab_size", vocab_size, low=1)
    ids = check_ids("ids", ids, vocab_size, ndim=1)
    if len(ids) < least:
        raise ValueError(f"ids: expected at least {least} ids, got {len(ids)}")
    return ids


def _alpha(alpha, counts):
    if counts.ndim not in (1, 2) or (counts.ndim == 2 and counts.shape[0] != counts.shape[1]):
        raise ValueError(f"counts: expected a (V,) or (V, V) table, got shape {counts.shape}")
    if counts.size and counts.min() < 0:
        raise ValueError(f"counts: expected counts >= 0, got {counts.min()}")
    return check_number("alpha", alpha, low=0.0)
