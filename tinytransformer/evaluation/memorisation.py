"""Memorisation measured with canaries (Carlini et al., The Secret Sharer, 2019), and verbatim
reproduction of training text.

    text = insert_canaries(train_text, [(canary, repeats), ...], rng)   # before training
    logp = continuation_logprob(model, prefix_ids, candidates_ids)      # (R,) after training
    exposure(logp[0], logp)                                             # canary first
    matched = greedy_match_length(model, ids, starts, prefix_len, n_new)

A canary is a prefix and a random secret ("the code of alice is 482913") put into the training
text some number of times. After training, the model's log-probability of the true secret after
its prefix is ranked among R random candidate secrets of the same form: exposure =
log2(R) - log2(rank), rank = 1 + the number of candidates more likely than the canary. A secret
the model has not seen ranks about R / 2 (exposure ~1 bit); one it has memorised ranks first
(exposure log2(R), the largest R can show). Left out: exposure estimated past log2(R) by fitting
the candidates' distribution (the paper's extrapolation), and canaries in a tokenizer's merges.
"""

import math

import numpy as np

from tinytransformer.checks import check_count, check_ids
from tinytransformer.evaluation.perplexity import token_logprobs
from tinytransformer.models.transformer import evaluating


def random_secret(rng, length, alphabet="0123456789"):
    """A secret of `length` characters drawn uniformly from `alphabet` by `rng`.

    >>> random_secret(np.random.default_rng(0), 6)
    '865230'
    """
    check_count("length", length, low=1)
    return "".join(alphabet[i] for i in rng.integers(0, len(alphabet), size=length))


def insert_canaries(text, canaries, rng):
    """text, canaries [(string, repeats), ...] -> the text with `repeats` copies of each string
    inserted, each as a line of its own at a line start drawn by `rng` (so no word is cut).

    >>> insert_canaries("a\\nb\\n", [("X", 2)], np.random.default_rng(0)).count("X\\n")
    2
    """
    starts = [0] + [i + 1 for i, c in enumerate(text) if c == "\n"]  # positions a line begins
    inserts = []  # (position, string)
    for string, repeats in canaries:
        check_count("repeats", repeats, low=1)
        if "\n" in string:
            raise ValueError(f"canaries: expected one-line strings, got {string!r}")
        for position in rng.choice(starts, size=repeats, replace=True):
            inserts.append((int(position), string + "\n"))
    inserts.sort(key=lambda p: p[0])
    pieces, last = [], 0
    for position, line in inserts:
        pieces.append(text[last:position])
        pieces.append(line)
        last = position
    pieces.append(text[last:])
    return "".join(pieces)


def continuation_logprob(model, prefix, continuations, batch_size=256):
    """prefix (P,) ids, continuations (R, S) ids -> (R,) float64: log p(continuation | prefix)
    under the model, the sum over its S tokens, in eval mode (no dropout). P + S - 1 must fit
    in the model's block_size: the last token is predicted, never read."""
    prefix = check_ids("prefix", np.asarray(prefix), high=model.config.vocab_size, ndim=1)
    continuations = np.asarray(continuations)
    check_ids("continuations", continuations, high=model.config.vocab_size, ndim=2)
    R, S = continuations.shape
    P = len(prefix)
    if P == 0 or S == 0:
        raise ValueError(f"prefix, continuations: expected at least one token each, got {P}, {S}")
    idx = np.concatenate([np.broadcast_to(prefix, (R, P)), continuations], axis=1)  # (R, P + S)
    out = np.empty(R)
    with evaluating(model):
        for i in range(0, R, batch_size):
            rows = idx[i : i + batch_size, :-1]  # (b, P + S - 1): the last token is not read
            logits, _ = model(rows)  # (b, P + S - 1, V)
            # positions P-1 .. P+S-2 predict the S continuation ids: (b, S) log-probabilities
            logp = token_logprobs(logits[:, P - 1 :], idx[i : i + batch_size, P:])
            out[i : i + batch_size] = logp.sum(axis=-1)  # (b,)
    return out


def exposure(canary_logprob, candidate_logprobs):
    """log2(R) - log2(rank): R = len(candidate_logprobs) (the canary among them), rank = 1 +
    the number of candidates whose log-probability is strictly higher than the canary's.

    >>> exposure(-1.0, [-1.0, -2.0, -3.0, -0.5])
    1.0
    """
    candidates = np.asarray(candidate_logprobs, dtype=np.float64)
    if candidates.ndim != 1 or candidates.size == 0:
        raise ValueError(
            f"candidate_logprobs: expected a non-empty 1-d list, got {candidates.shape}"
        )
    rank = 1 + int(np.count_nonzero(candidates > canary_logprob))
    return math.log2(candidates.size) - math.log2(rank)


def greedy_match_length(model, ids, starts, prefix_len, n_new):
    """ids (N,) a token stream, starts (K,) offsets -> (K,) ints: after the prefix
    ids[s : s + prefix_len], how many of the next n_new tokens greedy decoding reproduces
    before its first miss (n_new: all of them, verbatim)."""
    ids = np.asarray(ids)
    check_count("prefix_len", prefix_len, low=1)
    check_count("n_new", n_new, low=1)
    starts = np.asarray(starts, dtype=np.int64)  # (K,)
    if starts.ndim != 1 or (starts < 0).any() or (starts + prefix_len + n_new > len(ids)).any():
        raise ValueError("starts: expected offsets with prefix_len + n_new tokens after them")
    window = starts[:, None] + np.arange(prefix_len + n_new)  # (K, P + n)
    truth = ids[window]  # (K, P + n)
    with evaluating(model):
        out = model.generate(truth[:, :prefix_len], n_new, temperature=0.0)  # (K, P + n)
    right = out[:, prefix_len:] == truth[:, prefix_len:]  # (K, n)
    return np.where(right.all(axis=1), n_new, np.argmin(right, axis=1))  # (K,)
