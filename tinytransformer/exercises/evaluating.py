"""The exercises of chapter 9 (附录：常见问题与解答, evaluation and overfitting): BLEU's clipped
n-gram precision and its brevity penalty, inverted dropout from given uniform draws, and the
perplexity of a corpus scored in batches of different sizes.

References: evaluation.bleu's clipped_precision and brevity_penalty, evaluation.perplexity's
corpus_perplexity, and for 9.3 the formula of ops/dropout.py's dropout_forward with its random
draws passed in (tests/test_evaluating.py asserts the two agree when u is what the generator
would have drawn).
"""

import math
from collections import Counter

import numpy as np

from tinytransformer.evaluation.bleu import brevity_penalty, clipped_precision
from tinytransformer.evaluation.diversity import ngram_counts
from tinytransformer.evaluation.perplexity import corpus_perplexity
from tinytransformer.exercises.spec import Case, Exercise, Mistake, Property

# --- 9.1 clipped_precision ------------------------------------------------------------------------

WORDS = ("the", "cat", "sat", "on", "a", "mat", "dog", "is", "there")


def _clip_variant(candidate, references, n, *, clip="max", distinct=False):
    """A clipped precision with one piece changed (the mistakes below)."""
    counts = ngram_counts(candidate, n)
    if distinct:
        counts = Counter(dict.fromkeys(counts, 1))
    refs = [ngram_counts(r, n) for r in references]
    if clip == "first":
        refs = refs[:1]
    if clip == "none":
        present = set().union(*refs) if refs else set()
        matches = sum(c for g, c in counts.items() if g in present)
    else:
        limit = sum(refs, Counter()) if clip == "sum" else Counter()
        if clip != "sum":
            for r in refs:
                limit |= r
        matches = sum(min(c, limit[g]) for g, c in counts.items())
    return matches, sum(counts.values())


def _clip_case(name, candidate, references, n):
    return Case(name, {"candidate": candidate, "references": references, "n": n})


def _clip_edge_cases():
    s = str.split
    return [
        _clip_case(
            "Papineni's 'the' x7 against two references, n = 1",
            ["the"] * 7,
            [s("the cat is on the mat"), s("there is a cat on the mat")],
            1,
        ),
        _clip_case(
            "'the cat sat on the mat' against 'the cat sat on a mat', n = 2",
            s("the cat sat on the mat"),
            [s("the cat sat on a mat")],
            2,
        ),
        _clip_case(
            "the second reference has more 'the's than the first, n = 1",
            s("the the the cat"),
            [s("the cat"), s("the the dog")],
            1,
        ),
        _clip_case(
            "a repeated bigram, two references, n = 2",
            s("on the mat on the mat on the mat"),
            [s("a cat on the mat"), s("on the mat on the floor")],
            2,
        ),
        _clip_case("a candidate shorter than n = 4", s("the cat"), [s("the cat sat on")], 4),
        _clip_case("no reference at all, n = 1", s("a cat sat"), [], 1),
        _clip_case("an empty candidate, n = 1", [], [s("the cat")], 1),
        _clip_case(
            "n = 3, one matching trigram twice", s("a b c a b c"), [s("a b c d"), s("x")], 3
        ),
    ]


def _clip_random_cases(rng):
    cases = []
    for i in range(4):
        words = list(rng.choice(WORDS[: int(rng.integers(3, len(WORDS) + 1))], size=12))
        cand = [str(w) for w in rng.choice(words, size=int(rng.integers(1, 12)))]
        refs = [
            [str(w) for w in rng.choice(words, size=int(rng.integers(1, 12)))]
            for _ in range(int(rng.integers(1, 4)))
        ]
        n = int(rng.integers(1, 5))
        cases.append(
            _clip_case(f"random {i}: {len(cand)} tokens, {len(refs)} refs, n={n}", cand, refs, n)
        )
    return cases


def _two_whole_numbers(inputs, got):
    bad = [
        type(v).__name__ for v in got if isinstance(v, bool) or not isinstance(v, int | np.integer)
    ]
    return f"matches and total must be whole numbers; got a {bad[0]}" if bad else None


def _matches_within_total(inputs, got):
    matches, total = got
    if not isinstance(matches, int | np.integer | float) or 0 <= matches <= total:
        return None
    return f"matches = {matches} is not between 0 and total = {total}"


def _total_is_the_candidates_ngrams(inputs, got):
    want = max(len(inputs["candidate"]) - inputs["n"] + 1, 0)
    total = got[1]
    return None if total == want else f"total = {total}, but the candidate has {want} n-grams"


CLIPPED_PRECISION = Exercise(
    id="9.1",
    title="BLEU's clipped (modified) n-gram precision of one candidate",
    signature="clipped_precision(candidate, references, n)",
    outputs=("matches", "total"),
    reference=clipped_precision,
    edge_cases=_clip_edge_cases,
    random_cases=_clip_random_cases,
    library=("tinytransformer.evaluation.bleu.clipped_precision",),
    mistakes=(
        Mistake(
            "not clipped: every candidate n-gram found in a reference matches",
            lambda candidate, references, n: _clip_variant(candidate, references, n, clip="none"),
            "'the the the the the the the' would then score 7/7 against 'the cat is on the mat'. "
            "An n-gram may match at most as many times as a reference contains it.",
        ),
        Mistake(
            "clipped by the counts summed over the references",
            lambda candidate, references, n: _clip_variant(candidate, references, n, clip="sum"),
            "The clip is the largest count in any ONE reference (the maximum over references), "
            "not their sum: two references with one 'the' each still allow one 'the'.",
        ),
        Mistake(
            "only the first reference used",
            lambda candidate, references, n: _clip_variant(candidate, references, n, clip="first"),
            "Every reference counts: an n-gram's clip is its largest count over all of them.",
        ),
        Mistake(
            "distinct n-grams counted, not their occurrences",
            lambda candidate, references, n: _clip_variant(candidate, references, n, distinct=True),
            "total is the number of the candidate's n-grams with repeats (len - n + 1), and a "
            "repeated n-gram matches up to its clip, not once.",
        ),
    ),
    properties=(
        Property("matches and total are whole numbers", _two_whole_numbers),
        Property("0 <= matches <= total", _matches_within_total),
        Property(
            "total is the number of the candidate's n-grams, max(len(candidate) - n + 1, 0)",
            _total_is_the_candidates_ngrams,
        ),
    ),
    formula="counts = Counter of the candidate's n-grams (tuples); for each reference its "
    "Counter, and max_ref[g] = the largest count of g in any one reference; "
    "matches = sum(min(count, max_ref[g]) for g, count in counts.items()), "
    "total = sum(counts.values()).",
)


# --- 9.2 brevity_penalty --------------------------------------------------------------------------


def _bp_case(name, c, r):
    return Case(name, {"c": c, "r": r})


def _bp_edge_cases():
    return [
        _bp_case("longer than the reference: c = 7, r = 6", 7, 6),
        _bp_case("as long as the reference: c = r = 6", 6, 6),
        _bp_case("half the reference: c = 3, r = 6", 3, 6),
        _bp_case("one token against two: c = 1, r = 2", 1, 2),
        _bp_case("nothing said: c = 0, r = 5", 0, 5),
        _bp_case("nothing against nothing: c = 0, r = 0", 0, 0),
        _bp_case("far too short: c = 1, r = 1000", 1, 1000),
        _bp_case("much longer: c = 40, r = 3", 40, 3),
    ]


def _bp_random_cases(rng):
    cases = []
    for _ in range(4):
        c, r = (int(v) for v in rng.integers(1, 60, size=2))
        cases.append(_bp_case(f"random: c = {c}, r = {r}", c, r))
    return cases


def _bp_in_range(inputs, got):
    bp = got[0]
    if isinstance(bp, int | float | np.number) and 0.0 <= bp <= 1.0:
        return None
    return f"it is {bp!r}; a penalty multiplies the score by a number in [0, 1]"


def _bp_one_when_longer(inputs, got):
    if inputs["c"] > inputs["r"] and got[0] != 1.0:
        return f"c = {inputs['c']} > r = {inputs['r']}, yet it is {got[0]!r}, not 1"
    return None


BREVITY_PENALTY = Exercise(
    id="9.2",
    title="BLEU's brevity penalty",
    signature="brevity_penalty(c, r)",
    outputs=("bp",),
    reference=brevity_penalty,
    edge_cases=_bp_edge_cases,
    random_cases=_bp_random_cases,
    # Not `library`: its three lines are exactly what a right answer writes, so a "copy" of them
    # cannot be told from an honest answer (as 2.1.1). Calling the reference is still refused.
    library=(),
    mistakes=(
        Mistake(
            "the ratio inverted: exp(1 - c / r)",
            lambda c, r: 0.0 if c == 0 else (1.0 if c > r else math.exp(1 - c / r)),
            "The shorter the candidate, the larger the penalty must be: r / c grows as c "
            "shrinks, c / r does not (at c = 1, r = 1000 yours is about e, ~1).",
        ),
        Mistake(
            "long candidates penalised too",
            lambda c, r: 0.0 if c == 0 else math.exp(1 - r / c),
            "Only a SHORT candidate is penalised; for c > r the penalty is 1 (a long candidate "
            "already pays through its lower precision).",
        ),
        Mistake(
            "1.0 for c = r = 0",
            lambda c, r: 1.0 if c >= r else (0.0 if c == 0 else math.exp(1 - r / c)),
            "That is the value sacrebleu reports, since its score is 0 there anyway; asked here: "
            "a candidate of 0 tokens gets 0.0, whatever r is. Test c == 0 first.",
        ),
        Mistake(
            "exp(-r / c): the 1 left out",
            lambda c, r: 0.0 if c == 0 else (1.0 if c > r else math.exp(-r / c)),
            "At c = r the penalty must be 1 (nothing too short), so the exponent is 1 - r / c.",
        ),
    ),
    properties=(
        Property("the penalty is a number in [0, 1]", _bp_in_range),
        Property("it is exactly 1 when c > r", _bp_one_when_longer),
    ),
    formula="1.0 if c > r, else exp(1 - r / c); 0.0 when c == 0 (test that first).",
)


# --- 9.3 inverted_dropout -------------------------------------------------------------------------


def inverted_dropout(x, p, u):
    """x (...), p in [0, 1), u (...) uniform draws in [0, 1) -> (...): x where u >= p, scaled by
    1 / (1 - p), else 0. This is ops.dropout.dropout_forward with its draws u given: that
    function draws u = rng.random(x.shape, dtype=x.dtype) and keeps where u >= p."""
    keep = (u >= p) * x.dtype.type(1.0 / (1.0 - p))  # (...): 0 or 1 / (1 - p)
    return x * keep


def _drop_case(rng, name, shape, p, ties=False):
    x = rng.standard_normal(shape)  # (...)
    u = rng.random(shape)  # (...)
    if ties:  # some draws exactly p: kept (u >= p), never dropped
        u.flat[:: max(1, u.size // 4)] = p
    return Case(name, {"x": x, "p": p, "u": u})


def _drop_edge_cases():
    rng = np.random.default_rng(93)
    return [
        _drop_case(rng, "p = 0.5 on (4, 6)", (4, 6), 0.5),
        _drop_case(rng, "p = 0: the identity, some draws exactly 0", (3, 5), 0.0, ties=True),
        _drop_case(rng, "p = 0.25, some draws exactly 0.25", (2, 3, 4), 0.25, ties=True),
        _drop_case(rng, "p = 0.9: survivors scaled by 10", (50,), 0.9),
        _drop_case(rng, "one element, p = 0.1", (1,), 0.1),
        _drop_case(rng, "(B, T, C) = (2, 4, 8), p = 0.2", (2, 4, 8), 0.2),
    ]


def _drop_random_cases(rng):
    cases = []
    for _ in range(3):
        shape = tuple(int(n) for n in rng.integers(1, 7, size=int(rng.integers(1, 4))))
        p = float(rng.uniform(0.05, 0.9))
        cases.append(_drop_case(rng, f"random {shape}, p = {p:.3f}", shape, p))
    return cases


def _drop_shape(inputs, got):
    shape, want = np.shape(got[0]), inputs["x"].shape
    return None if shape == want else f"its shape is {shape}, not x's {want}"


def _zero_or_one_scale(inputs, got):
    y, x = np.asarray(got[0], dtype=float), inputs["x"]
    if y.shape != x.shape:
        return None
    kept = y != 0
    ratios = y[kept] / x[kept]
    if ratios.size and np.ptp(ratios) > 1e-9 * np.abs(ratios).max():
        return "the non-zero outputs are x times different factors: one factor serves every kept x"
    return None


INVERTED_DROPOUT = Exercise(
    id="9.3",
    title="inverted dropout from given uniform draws",
    signature="inverted_dropout(x, p, u)",
    outputs=("y",),
    reference=inverted_dropout,
    edge_cases=_drop_edge_cases,
    random_cases=_drop_random_cases,
    library=("tinytransformer.ops.dropout.dropout_forward",),
    mistakes=(
        Mistake(
            "not rescaled",
            lambda x, p, u: x * (u >= p),
            "Without the 1 / (1 - p) the expected output is (1 - p) x, so in evaluation (no "
            "dropout) every layer after it would see larger inputs than in training.",
        ),
        Mistake(
            "multiplied by 1 - p instead of divided by it",
            lambda x, p, u: x * (u >= p) * (1 - p),
            "A survivor stands in for the (1 - p) share kept: E[y] = (1 - p) * s * x = x needs "
            "s = 1 / (1 - p).",
        ),
        Mistake(
            "kept where u < p",
            lambda x, p, u: x * (u < p) / (1 - p),
            "p is the probability of DROPPING: an element is kept when u >= p, which happens "
            "with probability 1 - p.",
        ),
        Mistake(
            "a draw equal to p dropped (u > p)",
            lambda x, p, u: x * (u > p) / (1 - p),
            "Keep where u >= p: with p = 0 every element must be kept, even a draw of exactly 0.",
        ),
    ),
    properties=(
        Property("the result has x's shape", _drop_shape),
        Property("every output is 0 or x times one common factor", _zero_or_one_scale),
    ),
    formula="x * (u >= p) / (1 - p)",
)


# --- 9.4 corpus_perplexity ------------------------------------------------------------------------


def _ppl_case(name, nll, counts):
    return Case(
        name,
        {
            "batch_mean_nll": np.asarray(nll, dtype=np.float64),
            "batch_token_counts": np.asarray(counts, dtype=np.int64),
        },
    )


def _ppl_edge_cases():
    return [
        _ppl_case(
            "three full batches of 512 and a short last one of 37",
            [2.1, 2.3, 2.0, 3.4],
            [512, 512, 512, 37],
        ),
        _ppl_case("one batch", [1.7], [256]),
        _ppl_case("equal batches: the plain mean is right here", [1.0, 2.0, 3.0], [64, 64, 64]),
        _ppl_case("a batch of 0 tokens counts for nothing", [2.0, 9.0, 2.4], [100, 0, 50]),
        _ppl_case("an untrained model's 700-nat batch of 1 token", [700.0, 2.0], [1, 999]),
        _ppl_case("one token each", [0.3, 4.2, 1.1, 2.2, 0.9], [1, 1, 1, 1, 1]),
    ]


def _ppl_random_cases(rng):
    cases = []
    for _ in range(4):
        n = int(rng.integers(2, 9))
        counts = np.full(n, int(rng.integers(8, 513)))  # (N,) full batches ...
        counts[-1] = rng.integers(1, counts[0])  # ... and a short last one
        nll = rng.uniform(0.5, 6.0, size=n)  # (N,)
        cases.append(
            _ppl_case(f"random: {n} batches of {counts[0]}, the last {counts[-1]}", nll, counts)
        )
    return cases


def _ppl_within_range(inputs, got):
    nll, counts = inputs["batch_mean_nll"], inputs["batch_token_counts"]
    seen = nll[counts > 0]
    low, high = math.exp(seen.min()), math.exp(seen.max())
    value = got[0]
    if not isinstance(value, float | np.floating):
        return f"it is a {type(value).__name__}, not a float"
    if low * (1 - 1e-12) <= value <= high * (1 + 1e-12):
        return None
    span = f"[{low:.6g}, {high:.6g}]"
    return f"it is {value:.6g}, outside [exp(lowest batch loss), exp(highest)] = {span}"


CORPUS_PERPLEXITY = Exercise(
    id="9.4",
    title="the perplexity of a corpus scored in batches of different sizes",
    signature="corpus_perplexity(batch_mean_nll, batch_token_counts)",
    outputs=("perplexity",),
    reference=corpus_perplexity,
    edge_cases=_ppl_edge_cases,
    random_cases=_ppl_random_cases,
    library=(
        "tinytransformer.evaluation.perplexity.corpus_perplexity",
        "tinytransformer.evaluation.perplexity.weighted_mean_nll",
    ),
    mistakes=(
        Mistake(
            "the batches' means averaged without their token counts",
            lambda batch_mean_nll, batch_token_counts: float(np.exp(np.mean(batch_mean_nll))),
            "A short last batch of 37 tokens would count as much as one of 512. Weight each "
            "batch's mean by its token count: that is the mean over every token.",
        ),
        Mistake(
            "the mean of the batches' perplexities",
            lambda batch_mean_nll, batch_token_counts: float(np.mean(np.exp(batch_mean_nll))),
            "Average the losses, then take exp once. exp is convex, so the mean of exps is "
            "larger than the exp of the mean, and one bad batch dominates it.",
        ),
        Mistake(
            "the token-weighted mean of the batches' perplexities",
            lambda batch_mean_nll, batch_token_counts: float(
                np.dot(np.exp(batch_mean_nll), batch_token_counts) / np.sum(batch_token_counts)
            ),
            "The weights are right, the order is not: average the NLL over the tokens first, "
            "then exp.",
        ),
        Mistake(
            "the weighted sum divided by the number of batches",
            lambda batch_mean_nll, batch_token_counts: float(
                np.exp(np.dot(batch_mean_nll, batch_token_counts) / len(batch_token_counts))
            ),
            "sum(nll_i * n_i) is the total NLL of all the tokens: divide it by the number of "
            "tokens, sum(n_i), not by the number of batches.",
        ),
    ),
    properties=(
        Property(
            "a float between exp of the lowest and of the highest batch loss", _ppl_within_range
        ),
    ),
    formula="exp(sum(nll_i * n_i) / sum(n_i)): the token-weighted mean NLL, then exp once.",
)


EXERCISES = [CLIPPED_PRECISION, BREVITY_PENALTY, INVERTED_DROPOUT, CORPUS_PERPLEXITY]
