"""The counting models of text/ngram.py against direct loops, and their known answers."""

import math

import numpy as np
import pytest

from tinytransformer.text.ngram import (
    bigram_counts,
    bigram_log_probs,
    bigram_nll,
    choose_alpha,
    sample_bigram,
    sample_unigram,
    unigram_counts,
    unigram_nll,
)


def _loop_bigram_counts(ids, V):
    counts = np.zeros((V, V), dtype=np.int64)
    for a, b in zip(ids[:-1], ids[1:]):
        counts[a, b] += 1
    return counts


def _loop_bigram_nll(counts, ids, alpha):
    V = counts.shape[0]
    total = 0.0
    for a, b in zip(ids[:-1], ids[1:]):
        total -= math.log((counts[a, b] + alpha) / (counts[a].sum() + alpha * V))
    return total / (len(ids) - 1)


@pytest.mark.parametrize("seed", range(5))
def test_counts_and_nll_equal_a_direct_loop(seed):
    rng = np.random.default_rng(seed)
    V = int(rng.integers(2, 12))
    ids = rng.integers(0, V, size=int(rng.integers(2, 300)))
    counts = bigram_counts(ids, V)
    assert counts.dtype == np.int64
    assert np.array_equal(counts, _loop_bigram_counts(ids, V))
    assert counts.sum() == len(ids) - 1
    assert np.array_equal(unigram_counts(ids, V), np.bincount(ids, minlength=V))
    held = rng.integers(0, V, size=50)
    for alpha in (0.01, 0.5, 1.0, 3.0):
        assert bigram_nll(counts, held, alpha) == pytest.approx(
            _loop_bigram_nll(counts, held, alpha), rel=1e-12
        )


def test_a_worked_example():
    # "abab": a->b twice, b->a once. With alpha = 1 and V = 2: p(b|a) = 3/4, p(a|b) = 2/3.
    ids = np.array([0, 1, 0, 1])
    counts = bigram_counts(ids, 2)
    assert counts.tolist() == [[0, 2], [1, 0]]
    assert bigram_nll(counts, ids, 1.0) == pytest.approx(
        -(2 * math.log(3 / 4) + math.log(2 / 3)) / 3
    )
    # unigram: two a, two b -> p = 1/2 whatever alpha
    assert unigram_nll(unigram_counts(ids, 2), ids, 0.7) == pytest.approx(math.log(2))


def test_rows_are_distributions_and_an_unseen_row_is_uniform():
    ids = np.array([0, 1, 1, 0, 2])  # id 3 never occurs
    p = np.exp(bigram_log_probs(bigram_counts(ids, 4), 0.5))  # (V, V)
    assert np.allclose(p.sum(axis=1), 1.0)
    assert np.allclose(p[3], 0.25)


def test_without_smoothing_an_unseen_pair_costs_infinity_and_alpha_fixes_it():
    counts = bigram_counts(np.array([0, 1, 0, 1]), 2)
    assert bigram_nll(counts, np.array([1, 1]), 0.0) == math.inf
    assert math.isfinite(bigram_nll(counts, np.array([1, 1]), 0.1))


def test_choose_alpha_takes_the_best_on_held_out_text():
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 20, size=400)
    counts, held = bigram_counts(ids[:300], 20), ids[300:]
    alphas = [0.01, 0.1, 1.0, 10.0]
    best, scores = choose_alpha(bigram_nll, counts, held, alphas)
    assert scores[best] == min(scores.values())
    assert set(scores) == set(alphas)
    # uniform random text: nothing to learn, so heavy smoothing (close to uniform) wins
    assert best == 10.0


def test_samples_follow_the_counts():
    # a deterministic chain 0 -> 1 -> 2 -> 0 with alpha 0: samples repeat it exactly
    counts = bigram_counts(np.array([0, 1, 2] * 5), 3)
    out = sample_bigram(counts, 0.0, 0, 9, np.random.default_rng(0))
    assert out.tolist() == [1, 2, 0] * 3
    draws = sample_unigram(np.array([1, 0, 3]), 0.0, 4000, np.random.default_rng(1))
    assert 1 not in draws
    assert abs((draws == 2).mean() - 0.75) < 0.03


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="ids must lie in"):
        bigram_counts(np.array([0, 3]), 3)
    with pytest.raises(ValueError, match="at least 2"):
        bigram_nll(np.zeros((2, 2)), np.array([0]), 1.0)
    with pytest.raises(ValueError, match="alpha"):
        bigram_nll(np.zeros((2, 2)), np.array([0, 1]), -1.0)
    with pytest.raises(ValueError, match="counts"):
        bigram_nll(np.zeros((2, 3)), np.array([0, 1]), 1.0)
