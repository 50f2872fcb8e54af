"""BPE training's two steps, bpe.pair_counts and bpe.merge_pair: worked examples with known
answers, and the trainer's merges built from them (the definition, re-counted every step)."""

import random

import pytest

from tinytransformer.text import tokenizers
from tinytransformer.text.bpe import merge_pair, pair_counts
from tinytransformer.text.tokenizers import BPETokenizer


def test_pair_counts_counts_overlapping_pairs():
    assert pair_counts([1, 1, 1]) == {(1, 1): 2}  # "aaa" holds two (a, a)
    assert pair_counts(list(b"abab")) == {(97, 98): 2, (98, 97): 1}
    assert pair_counts([5]) == {} and pair_counts([]) == {}
    counts = pair_counts([3, 1, 3, 1, 3])
    assert counts == {(3, 1): 2, (1, 3): 2} and type(counts) is dict


def test_merge_pair_goes_left_to_right_without_overlap():
    assert merge_pair([1, 1, 1], (1, 1), 9) == [9, 1]
    assert merge_pair([1, 1, 1, 1], (1, 1), 9) == [9, 9]
    assert merge_pair(list(b"aaabdaaabac"), (97, 97), 256) == [
        256,
        97,
        98,
        100,
        256,
        97,
        98,
        97,
        99,
    ]
    assert merge_pair([1, 2, 3], (2, 1), 9) == [1, 2, 3]  # the pair in the wrong order
    assert merge_pair([2], (2, 2), 9) == [2] and merge_pair([], (2, 2), 9) == []
    ids = [1, 2, 1, 2]
    assert merge_pair(ids, (1, 2), 7) == [7, 7] and ids == [1, 2, 1, 2]  # the input is kept


def test_merge_pair_keeps_the_count_of_everything_else():
    rng = random.Random(0)
    for _ in range(200):
        ids = [rng.randrange(3) for _ in range(rng.randrange(12))]
        pair = (rng.randrange(3), rng.randrange(3))
        out = merge_pair(ids, pair, 99)
        n = out.count(99)
        assert len(out) == len(ids) - n  # each merge turns two ids into one
        assert n <= pair_counts(ids).get(pair, 0)  # at most every occurrence, fewer if overlapping
        if pair[0] != pair[1]:
            assert n == pair_counts(ids).get(pair, 0)  # distinct ids cannot overlap


def definition_merges(text, n_merges):
    """BPE training as defined from the two steps: count every pair of every chunk, merge the
    most frequent (ties: the smallest pair), again."""
    words = [list(c.encode("utf-8")) for c in tokenizers._SPLIT.findall(text)]
    merges = []
    for new_id in range(256, 256 + n_merges):
        counts = {}
        for w in words:
            for pair, n in pair_counts(w).items():
                counts[pair] = counts.get(pair, 0) + n
        best = min(counts, key=lambda p: (-counts[p], p))
        merges.append(best)
        words = [merge_pair(w, best, new_id) for w in words]
    return merges


def test_the_trainer_learns_the_merges_of_the_two_steps():
    text = "the cat sat on the mat; the hat that sat on the cat. aaabdaaabac " * 3
    assert list(BPETokenizer.train(text, 256 + 5 + 20).merges) == definition_merges(text, 20)


def test_the_trainer_merges_with_merge_pair(monkeypatch):
    """The trainer calls bpe.merge_pair (not a copy of it): one that never merges stops it."""
    monkeypatch.setattr(tokenizers, "merge_pair", lambda ids, pair, new_id: list(ids))
    with pytest.warns(UserWarning, match="ran out of pairs"):
        tok = BPETokenizer.train("aaab aaab", 256 + 5 + 5)
    assert len(tok.merges) < 5
