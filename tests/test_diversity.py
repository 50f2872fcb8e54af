"""distinct-n and the repetition rate: worked examples by hand, n-grams never across two texts,
the empty cases, and bad input."""

import pytest

from tinytransformer.evaluation.diversity import distinct_n, ngram_counts, repetition_rate


def test_distinct_n_by_hand():
    texts = [["the", "cat", "the", "cat"], ["the", "cat", "sat"]]
    # unigrams: the x3, cat x3, sat x1 -> 3 distinct of 7
    assert distinct_n(texts, 1) == pytest.approx(3 / 7, abs=1e-15)
    # bigrams: (the cat) x3, (cat the) x1, (cat sat) x1 -> 3 distinct of 5
    assert distinct_n(texts, 2) == pytest.approx(3 / 5, abs=1e-15)
    assert distinct_n([["a", "b", "c"]], 3) == 1.0


def test_no_ngram_spans_two_texts():
    # joined, "a b" + "c" would have the bigram (b c); taken per text there is only (a b)
    assert distinct_n([["a", "b"], ["c"]], 2) == 1.0
    assert sum(ngram_counts(["a", "b"], 2).values()) + sum(ngram_counts(["c"], 2).values()) == 1
    # the same text twice: every n-gram occurs twice in the pool
    assert distinct_n([["a", "b", "c"], ["a", "b", "c"]], 2) == pytest.approx(0.5, abs=1e-15)


def test_no_ngrams_at_all_is_zero():
    assert distinct_n([], 1) == 0.0
    assert distinct_n([[], ["a"]], 2) == 0.0
    assert repetition_rate([["a", "b"]], 4) == 0.0


def test_repetition_rate_by_hand():
    # "a a a a a": 4 bigrams, all (a a): 1 - 1/4 = 0.75. "a b c": 0. Mean 0.375.
    assert repetition_rate([["a"] * 5, ["a", "b", "c"]], 2) == pytest.approx(0.375, abs=1e-15)
    # a text without an n-gram does not count in the mean
    assert repetition_rate([["a"] * 5, ["a"]], 2) == pytest.approx(0.75, abs=1e-15)


def test_characters_and_ids_work_as_tokens():
    assert distinct_n([list("abab")], 2) == pytest.approx(2 / 3, abs=1e-15)
    assert distinct_n([[1, 2, 1, 2]], 2) == pytest.approx(2 / 3, abs=1e-15)


@pytest.mark.parametrize(
    "call, error, words",
    [
        (lambda: distinct_n("a b", 1), TypeError, "texts: expected a list of token lists"),
        (lambda: distinct_n(["a b"], 1), TypeError, "texts[0]: expected a list of tokens"),
        (lambda: distinct_n([["a"]], 0), ValueError, "n: expected a whole number >= 1"),
        (lambda: repetition_rate([["a"]], 1.5), TypeError, "n: expected a whole number"),
    ],
)
def test_bad_input_names_the_argument(call, error, words):
    with pytest.raises(error) as info:
        call()
    assert words in str(info.value)
