"""The exercises of chapter 1 (背景介绍, background): a bigram model's counts and its smoothed
loss, and the bag of words a classifier read before pretraining.

The references are the library's: text.ngram.bigram_counts and bigram_nll, and
text.features.bag_of_words. The counts are integers and checked exactly; the loss and the
features are float64, checked to the usual relative 1e-8.
"""

import math

import numpy as np

from tinytransformer.exercises.spec import Case, Exercise, Mistake, Property
from tinytransformer.text.features import bag_of_words
from tinytransformer.text.ngram import bigram_counts, bigram_nll

NGRAM_LIBRARY = (
    "tinytransformer.text.ngram.bigram_counts",
    "tinytransformer.text.ngram.bigram_log_probs",
    "tinytransformer.text.ngram.bigram_nll",
    "tinytransformer.text.ngram.unigram_counts",
)

# --- 1.1 bigram_counts ----------------------------------------------------------------------------


def _ids_case(name, ids, V):
    return Case(name, {"ids": np.asarray(ids, dtype=np.int64), "vocab_size": V})


def _counts_edge_cases():
    rng = np.random.default_rng(11)
    return [
        _ids_case("'abab' as [0, 1, 0, 1], V = 2", [0, 1, 0, 1], 2),
        _ids_case("one id: no transition at all", [3], 5),
        _ids_case("a run of one id [2, 2, 2, 2, 2]: the pair (2, 2) four times", [2] * 5, 3),
        _ids_case("V = 1", [0, 0, 0], 1),
        _ids_case("ids 0..3 only, V = 8: rows and columns 4..7 stay 0", [0, 3, 1, 3, 0, 2], 8),
        _ids_case("repeated pairs and self-pairs, V = 4", rng.integers(0, 4, size=40), 4),
        _ids_case("a long random text, V = 30", rng.integers(0, 30, size=500), 30),
    ]


def _counts_random_cases(rng):
    cases = []
    for _ in range(3):
        V = int(rng.integers(2, 40))
        n = int(rng.integers(2, 400))
        cases.append(_ids_case(f"random: {n} ids, V = {V}", rng.integers(0, V, size=n), V))
    return cases


def _counts_shape(inputs, got):
    V = inputs["vocab_size"]
    shape = np.shape(got[0])
    return None if shape == (V, V) else f"its shape is {shape}, not (V, V) = {(V, V)}"


def _counts_total(inputs, got):
    counts = np.asarray(got[0])
    want = len(inputs["ids"]) - 1
    if counts.dtype.kind not in "iuf" or counts.sum() == want:
        return None
    return f"the counts add up to {counts.sum()}, not to the {want} transitions of ids"


def _presence(ids, vocab_size):
    counts = np.zeros((vocab_size, vocab_size), dtype=np.int64)
    counts[ids[:-1], ids[1:]] += 1  # fancy indexing: a repeated pair is written once
    return counts


def _wrapped(ids, vocab_size):
    counts = np.zeros((vocab_size, vocab_size), dtype=np.int64)
    np.add.at(counts, (ids, np.roll(ids, -1)), 1)  # the last id "followed" by the first
    return counts


BIGRAM_COUNTS = Exercise(
    id="1.1",
    title="count how often each id follows each other id",
    signature="bigram_counts(ids, vocab_size)",
    outputs=("counts",),
    reference=bigram_counts,
    edge_cases=_counts_edge_cases,
    random_cases=_counts_random_cases,
    library=NGRAM_LIBRARY,
    mistakes=(
        Mistake(
            "transposed: counts[b, a] for a followed by b",
            lambda ids, vocab_size: bigram_counts(ids, vocab_size).T.copy(),
            "Row a is what comes after a: counts[a, b] += 1 for each transition a -> b, "
            "a = ids[i], b = ids[i + 1].",
        ),
        Mistake(
            "counts[ids[:-1], ids[1:]] += 1: a repeated pair counted once",
            _presence,
            "With fancy indexing, `+= 1` reads every entry once and writes it back once, so a "
            "pair that occurs five times gets 1. Use np.add.at, np.bincount on a * V + b, or a "
            "loop.",
        ),
        Mistake(
            "the last id counted as followed by the first (np.roll)",
            _wrapped,
            "A text of N ids has N - 1 transitions: the last id is followed by nothing.",
        ),
    ),
    properties=(
        Property("counts has shape (V, V)", _counts_shape),
        Property("the counts add up to len(ids) - 1, one per transition", _counts_total),
    ),
    formula="counts = zeros((V, V), int); for a, b in zip(ids[:-1], ids[1:]): counts[a, b] += 1 "
    "(or np.add.at(counts, (ids[:-1], ids[1:]), 1)).",
    tolerance=0.0,  # counts are exact
)


# --- 1.2 bigram_nll -------------------------------------------------------------------------------


def _nll_case(name, train, V, ids, alpha):
    counts = bigram_counts(np.asarray(train, dtype=np.int64), V)
    return Case(
        name, {"counts": counts, "ids": np.asarray(ids, dtype=np.int64), "alpha": float(alpha)}
    )


def _nll_edge_cases():
    rng = np.random.default_rng(12)
    text = rng.integers(0, 6, size=300)
    return [
        _nll_case("'abab' counts, ids [0, 1], alpha 1: -ln(3/4)", [0, 1, 0, 1], 2, [0, 1], 1.0),
        _nll_case("a pair never seen in training, alpha 0.1", [0, 1, 0, 1, 2], 3, [2, 2, 0], 0.1),
        _nll_case("an id never seen as a first id: its row is uniform", [0, 1, 0], 4, [3, 1], 0.5),
        _nll_case("small alpha 1e-3", text, 6, rng.integers(0, 6, size=50), 1e-3),
        _nll_case("large alpha 50: close to uniform, ln 6", text, 6, text[:80], 50.0),
        _nll_case("two ids: one transition", text, 6, [4, 5], 0.3),
        _nll_case("V = 1: every transition certain, loss 0", [0, 0, 0], 1, [0, 0, 0, 0], 1.0),
    ]


def _nll_random_cases(rng):
    cases = []
    for alpha in (float(rng.uniform(0.01, 0.2)), float(rng.uniform(0.5, 3.0))):
        V = int(rng.integers(2, 25))
        train = rng.integers(0, V, size=int(rng.integers(2, 500)))
        ids = rng.integers(0, V, size=int(rng.integers(2, 100)))
        cases.append(
            _nll_case(f"random: V = {V}, {len(ids)} ids, alpha {alpha:.3f}", train, V, ids, alpha)
        )
    return cases


def _nll_variant(counts, ids, alpha, denominator=True, mean_over=-1, log=np.log, transposed=False):
    c = np.asarray(counts, dtype=np.float64)
    if transposed:
        c = c.T
    V = c.shape[0]
    total = c.sum(axis=1, keepdims=True) + (alpha * V if denominator else alpha)
    log_p = log(c + alpha) - log(total)  # (V, V)
    nll = -log_p[ids[:-1], ids[1:]].sum()
    return float(nll / (len(ids) + mean_over)) if mean_over is not None else float(nll)


def _nll_mistake(name, advice, **variant):
    return Mistake(
        name, lambda counts, ids, alpha: _nll_variant(counts, ids, alpha, **variant), advice
    )


def _a_number(inputs, got):
    x = got[0]
    if isinstance(x, bool) or not isinstance(x, int | float | np.number | np.ndarray):
        return f"it is a {type(x).__name__}"
    if np.ndim(x) != 0:
        return f"it has shape {np.shape(x)}, not a single number"
    if not math.isfinite(float(x)) or float(x) < 0:
        return f"it is {float(x)}, not a finite number >= 0 (each -ln p is >= 0)"
    return None


BIGRAM_NLL = Exercise(
    id="1.2",
    title="the mean negative log-likelihood of a text under an add-alpha bigram model",
    signature="bigram_nll(counts, ids, alpha)",
    outputs=("nll",),
    reference=bigram_nll,
    edge_cases=_nll_edge_cases,
    random_cases=_nll_random_cases,
    library=NGRAM_LIBRARY,
    mistakes=(
        _nll_mistake(
            "alpha added once to the row's total instead of alpha * V",
            "Adding alpha to each of the V counts of row a adds alpha * V to its total: "
            "p(b | a) = (counts[a, b] + alpha) / (counts[a].sum() + alpha * V), so each row "
            "still sums to 1.",
            denominator=False,
        ),
        _nll_mistake(
            "summed over the transitions, not averaged",
            "The loss is a mean over the len(ids) - 1 transitions, so texts of any length compare.",
            mean_over=None,
        ),
        _nll_mistake(
            "divided by len(ids) instead of the len(ids) - 1 transitions",
            "N ids have N - 1 transitions a -> b; the first id is not predicted.",
            mean_over=0,
        ),
        _nll_mistake(
            "in bits (log base 2) instead of nats",
            "Use the natural log, as the GPT's cross-entropy does; bits are nats / ln 2.",
            log=np.log2,
        ),
        _nll_mistake(
            "the counts read as counts[b, a]",
            "counts[a, b] is how often b follows a: p(b | a) uses row a, counts[a, b] / row a's "
            "total.",
            transposed=True,
        ),
    ),
    properties=(Property("the loss is one finite number >= 0", _a_number),),
    formula="p = (counts + alpha) / (counts.sum(axis=1, keepdims=True) + alpha * V); "
    "nll = -mean(log(p[ids[:-1], ids[1:]])).",
)


# --- 1.3 bag_of_words -----------------------------------------------------------------------------


def _docs_case(name, docs, V):
    return Case(name, {"docs": [[int(i) for i in doc] for doc in docs], "vocab_size": V})


def _docs_edge_cases():
    rng = np.random.default_rng(13)
    return [
        _docs_case("two docs [[0, 2, 2, 1], [1]], V = 3", [[0, 2, 2, 1], [1]], 3),
        _docs_case("an empty doc: a row of zeros", [[0, 1], [], [2]], 4),
        _docs_case("one id repeated: [[3, 3, 3, 3]]", [[3, 3, 3, 3]], 5),
        _docs_case("V = 1", [[0, 0], [0]], 1),
        _docs_case("docs of very different lengths", [list(rng.integers(0, 6, 200)), [5, 0]], 6),
        _docs_case("ids near V only", [[8, 9, 9], [9]], 10),
        _docs_case("no docs at all: (0, V)", [], 4),
    ]


def _docs_random_cases(rng):
    cases = []
    for _ in range(3):
        V, N = int(rng.integers(2, 50)), int(rng.integers(1, 8))
        docs = [list(rng.integers(0, V, size=int(rng.integers(0, 30)))) for _ in range(N)]
        cases.append(_docs_case(f"random: {N} docs, V = {V}", docs, V))
    return cases


def _bow_variant(docs, vocab_size, divide="length", presence=False):
    out = np.zeros((len(docs), vocab_size))
    for i, doc in enumerate(docs):
        if not doc:
            continue
        if presence:
            out[i, doc] += 1.0  # a repeated id written once
        else:
            out[i] = np.bincount(doc, minlength=vocab_size)
        if divide == "length":
            out[i] /= len(doc)
        elif divide == "distinct":
            out[i] /= len(set(doc))
    return out


def _bow_mistake(name, advice, **variant):
    return Mistake(name, lambda docs, vocab_size: _bow_variant(docs, vocab_size, **variant), advice)


def _bow_shape(inputs, got):
    want = (len(inputs["docs"]), inputs["vocab_size"])
    shape = np.shape(got[0])
    return None if shape == want else f"its shape is {shape}, not (N, V) = {want}"


def _bow_rows(inputs, got):
    x = np.asarray(got[0], dtype=np.float64)
    for i, doc in enumerate(inputs["docs"]):
        total = x[i].sum()
        want = 1.0 if doc else 0.0
        if not np.isfinite(total) or abs(total - want) > 1e-9:
            return f"row {i} sums to {total:.6g}, not {want:g} (doc {i} has {len(doc)} ids)"
    return None


BAG_OF_WORDS = Exercise(
    id="1.3",
    title="the bag of words: each doc's id counts divided by its length",
    signature="bag_of_words(docs, vocab_size)",
    outputs=("features",),
    reference=bag_of_words,
    edge_cases=_docs_edge_cases,
    random_cases=_docs_random_cases,
    library=("tinytransformer.text.features.bag_of_words",),
    mistakes=(
        _bow_mistake(
            "raw counts, not divided by the doc's length",
            "Divide each row by its doc's length, so that a long and a short doc on the same "
            "thing look alike (every row of a non-empty doc sums to 1).",
            divide=None,
        ),
        _bow_mistake(
            "out[i, doc] += 1: a repeated id counted once",
            "With fancy indexing `+= 1` writes each distinct id once. Count with np.bincount or "
            "np.add.at, or a loop over the doc.",
            presence=True,
            divide=None,
        ),
        _bow_mistake(
            "divided by the number of distinct ids, not the doc's length",
            "The length of a doc counts repeats: [3, 3, 1] has length 3, so its row holds 1/3 and "
            "2/3.",
            divide="distinct",
        ),
    ),
    properties=(
        Property("features has shape (len(docs), V)", _bow_shape),
        Property("each row sums to 1 (0 for an empty doc)", _bow_rows),
    ),
    formula="row i = np.bincount(docs[i], minlength=V) / len(docs[i]); an empty doc stays a row "
    "of zeros.",
)

EXERCISES = [BIGRAM_COUNTS, BIGRAM_NLL, BAG_OF_WORDS]
