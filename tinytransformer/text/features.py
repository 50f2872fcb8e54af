"""Hand-made features of a text, the kind a classifier used before pretraining (chapter 1): a
word vocabulary and the bag of words.

    vocab = word_vocabulary(train_texts, min_count=2)       # word -> id, from training text only
    docs = [word_ids(text, vocab) for text in texts]         # lists of ids, unknown words dropped
    x = bag_of_words(docs, len(vocab))                       # (N, V) float64, rows sum to 1

A word is a run of letters, digits and underscores, lower-cased ("__len__", "str", "3"): Python's
documentation names things that way. The bag of words forgets the order of the words and keeps
how often each occurs, divided by the document's length, so a long and a short paragraph about
the same thing look alike.

Left out: stop words, stemming, n-grams of words, tf-idf weighting, and a feature for unknown
words (they are dropped).
"""

import re
from collections import Counter

import numpy as np

from tinytransformer.checks import check_count

_WORD = re.compile(r"\w+")


def words(text):
    """The lower-cased words of a text, in order -> list of str.

    >>> words("The __len__() of a str, 3 times.")
    ['the', '__len__', 'of', 'a', 'str', '3', 'times']
    """
    return _WORD.findall(text.lower())


def word_vocabulary(texts, min_count=1):
    """The words occurring at least min_count times in texts -> dict word -> id, ids 0..V-1 in
    order of decreasing count (ties alphabetical), so the vocabulary does not depend on the
    order of the texts."""
    check_count("min_count", min_count, low=1)
    counts = Counter(w for text in texts for w in words(text))
    kept = sorted((w for w, n in counts.items() if n >= min_count), key=lambda w: (-counts[w], w))
    return {w: i for i, w in enumerate(kept)}


def word_ids(text, vocab):
    """The ids of the text's words that are in vocab, in order (unknown words dropped)."""
    return [vocab[w] for w in words(text) if w in vocab]


def bag_of_words(docs, vocab_size):
    """docs, a list of N lists of ids in [0, V) -> (N, V) float64: row i holds the counts of each
    id in doc i divided by the doc's length, so it sums to 1; an empty doc is a row of zeros.

    >>> bag_of_words([[0, 2, 2, 1], []], 3).tolist()
    [[0.25, 0.25, 0.5], [0.0, 0.0, 0.0]]
    """
    check_count("vocab_size", vocab_size, low=1)
    if isinstance(docs, np.ndarray) or not isinstance(docs, list | tuple):
        raise TypeError(f"docs: expected a list of lists of ids, got {type(docs).__name__}")
    out = np.zeros((len(docs), vocab_size))  # (N, V)
    for i, doc in enumerate(docs):
        ids = np.asarray(doc, dtype=np.int64).reshape(-1)  # (L,)
        if ids.size == 0:
            continue  # an empty doc has no words to count: a row of zeros, not 0 / 0
        if ids.min() < 0 or ids.max() >= vocab_size:
            bad = ids[(ids < 0) | (ids >= vocab_size)][0]
            raise ValueError(f"docs[{i}]: ids must lie in [0, {vocab_size}), got {bad}")
        out[i] = np.bincount(ids, minlength=vocab_size) / ids.size  # (V,)
    return out
