"""How varied generated text is: distinct-n (Li et al., 2016) and the repetition rate (Welleck
et al., 2019), both on lists of tokens (words, characters, ids: anything hashable).

distinct-n: the n-grams of every text are taken inside that text (none spans two texts) and
pooled; distinct-n = the number of different n-grams in the pool / the number of n-grams in it.
1.0 means no n-gram occurs twice anywhere; a model that says the same thing to every prompt
scores low even when each text on its own does not repeat itself.

repetition rate (Welleck et al.'s seq-rep-n): for each text, the share of its n-grams that are
repeats of an n-gram met earlier in the same text, 1 - distinct / total within the text; the
mean over the texts that have at least one n-gram. The loop "the the the ..." of a greedy
decoder scores near 1; real text near 0 for n = 4.

Both are 0.0 when there are no n-grams at all. Neither says whether a text is good: random
tokens are maximally diverse. They are read next to real text's values (what a model should
match), not maximised.

Left out: self-BLEU, entropy of the n-gram distribution, and model-based diversity measures.
"""

from collections import Counter

from tinytransformer.checks import check_count


def ngram_counts(tokens, n):
    """Counter of the n-grams (tuples) of one token list.

    >>> sorted(ngram_counts(["a", "b", "a", "b"], 2).items())
    [(('a', 'b'), 2), (('b', 'a'), 1)]
    """
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def distinct_n(texts, n):
    """Distinct n-grams / all n-grams over a list of token lists, pooled -> float in [0, 1].

    >>> distinct_n([["a", "b", "a", "b"], ["a", "b"]], 2)  # (a b) three times, (b a) once
    0.5
    >>> distinct_n([["a"], ["b"]], 2)  # no bigram inside either list
    0.0
    """
    pool = Counter()
    for tokens in _check_texts(texts, n):
        pool.update(ngram_counts(tokens, n))
    total = sum(pool.values())
    return len(pool) / total if total else 0.0


def repetition_rate(texts, n=4):
    """Mean over the texts with an n-gram of 1 - distinct/total n-grams in that text -> float.

    >>> round(repetition_rate([["a", "b", "a", "b"], ["c", "d", "e"]], 2), 4)  # (1 - 2/3 + 0) / 2
    0.1667
    """
    rates = []
    for tokens in _check_texts(texts, n):
        counts = ngram_counts(tokens, n)
        total = sum(counts.values())
        if total:
            rates.append(1.0 - len(counts) / total)
    return sum(rates) / len(rates) if rates else 0.0


def _check_texts(texts, n):
    check_count("n", n, low=1)
    if isinstance(texts, str) or not isinstance(texts, list | tuple):
        raise TypeError(f"texts: expected a list of token lists, got {type(texts).__name__}")
    for i, tokens in enumerate(texts):
        if isinstance(tokens, str) or not isinstance(tokens, list | tuple):
            raise TypeError(
                f"texts[{i}]: expected a list of tokens (split a string first), got "
                f"{type(tokens).__name__}"
            )
    return texts
